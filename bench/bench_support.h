#pragma once
// What every benchmark shares: the one-model schema they run against, a microsecond clock, the
// sync_request a fresh socket sends, CPU accounting (a saturated generator measures itself) and
// percentiles.
#include <sys/resource.h>
#include <sys/types.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

namespace ablo::bench {

// `items {title, n?, sentAt?}`: sentAt carries a writer's send time for latency measurements.
inline constexpr const char* kItemsSchema = R"({"v":3,"models":{"items":{"fields":{
  "title":{"type":"string","isOptional":false,"isIndexed":false},
  "n":{"type":"number","isOptional":true,"isIndexed":false},
  "sentAt":{"type":"number","isOptional":true,"isIndexed":false}},
  "relations":{},"load":"instant","typename":"items","tenancy":{"kind":"column","column":"organization_id"},
  "plane":"tenant"}},"identityRoles":[]})";

// `tasks {title, status, position, assigneeId?, dueAt?, meta}` (~180 bytes of JSON a row): the
// client library's benchmark (design §15) and the bootstrap benchmark seed it.
inline constexpr const char* kTasksSchema = R"({"v":3,"models":{"tasks":{"fields":{
  "title":{"type":"string","isOptional":false,"isIndexed":false},
  "status":{"type":"enum","enumValues":["todo","in_progress","done"],"isOptional":false,"isIndexed":false},
  "position":{"type":"number","isOptional":false,"isIndexed":false},
  "assigneeId":{"type":"string","isOptional":true,"isIndexed":false},
  "dueAt":{"type":"date","isOptional":true,"isIndexed":false},
  "meta":{"type":"json","isOptional":false,"isIndexed":false}},
  "relations":{},"load":"instant","typename":"Task","tenancy":{"kind":"column","column":"organization_id"},
  "plane":"tenant","mutable":true}},"identityRoles":[]})";

// Steady-clock microseconds, comparable across the threads of one process — and across the
// processes of one host: on Linux steady_clock is CLOCK_MONOTONIC, one clock since boot.
inline int64_t now_us() {
  return std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

inline std::string sync_request() {
  return R"({"type":"sync_request","payload":{"cursor":null,"versions":{},"lastSyncId":0,"capabilities":[]}})";
}

// What the benchmarks read from a /proc stat file: the parent pid and utime+stime in seconds — a
// whole process's (all its threads, live and exited) for /proc/<pid>/stat, one thread's for
// /proc/<pid>/task/<tid>/stat.
struct ProcStat {
  pid_t parent = 0;
  double cpu_seconds = 0;
};
inline std::optional<ProcStat> read_proc_stat(const std::string& stat_path) {
  std::ifstream stat(stat_path);
  std::string text((std::istreambuf_iterator<char>(stat)), std::istreambuf_iterator<char>());
  const auto paren = text.rfind(')');  // the command name may contain spaces
  if (paren == std::string::npos) return std::nullopt;
  std::istringstream fields(text.substr(paren + 2));
  std::string field;
  ProcStat read;
  long long utime = 0;
  for (int index = 3; fields >> field; ++index) {  // field 3 is the state
    if (index == 4) read.parent = static_cast<pid_t>(std::stol(field));
    if (index == 14) utime = std::stoll(field);
    if (index == 15) {
      read.cpu_seconds = static_cast<double>(utime + std::stoll(field)) / static_cast<double>(sysconf(_SC_CLK_TCK));
      return read;
    }
  }
  return std::nullopt;
}

inline std::optional<double> process_cpu_seconds(pid_t pid) {
  auto read = read_proc_stat("/proc/" + std::to_string(pid) + "/stat");
  if (!read) return std::nullopt;
  return read->cpu_seconds;
}

// The CPU seconds of a process and all its descendants alive now (e.g. a postmaster and its
// backends), found by their parent pids in /proc (each stat file read once). A process that
// ended is not counted.
inline double process_tree_cpu_seconds(pid_t root) {
  std::map<pid_t, ProcStat> processes;
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator("/proc", ec)) {
    const std::string name = entry.path().filename().string();
    if (name.empty() || name.find_first_not_of("0123456789") != std::string::npos) continue;
    if (auto read = read_proc_stat((entry.path() / "stat").string())) processes[static_cast<pid_t>(std::stol(name))] = *read;
  }
  std::map<pid_t, std::vector<pid_t>> children;
  for (const auto& [pid, read] : processes) children[read.parent].push_back(pid);
  double total = 0;
  std::vector<pid_t> pending{root};
  while (!pending.empty()) {
    const pid_t pid = pending.back();
    pending.pop_back();
    if (auto it = processes.find(pid); it != processes.end()) total += it->second.cpu_seconds;
    if (auto it = children.find(pid); it != children.end()) pending.insert(pending.end(), it->second.begin(), it->second.end());
  }
  return total;
}

// Every live thread of a process: its name (the server names its own: ablo-writer, ablo-io-0…)
// and CPU seconds so far, by thread id.
struct ThreadCpu {
  std::string name;
  double seconds = 0;
};
inline std::map<pid_t, ThreadCpu> threads_cpu_seconds(pid_t pid) {
  std::map<pid_t, ThreadCpu> threads;
  const std::string tasks = "/proc/" + std::to_string(pid) + "/task";
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator(tasks, ec)) {
    const std::string dir = entry.path().string();
    auto read = read_proc_stat(dir + "/stat");
    if (!read) continue;  // the thread ended meanwhile
    std::ifstream comm(dir + "/comm");
    std::string name;
    std::getline(comm, name);
    threads[static_cast<pid_t>(std::stol(entry.path().filename().string()))] = {name, read->cpu_seconds};
  }
  return threads;
}

// This process's CPU (all its threads): user and system seconds.
struct OwnCpu {
  double user = 0, system = 0;
  double total() const { return user + system; }
};

inline OwnCpu own_cpu_seconds() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  auto seconds = [](const timeval& t) { return static_cast<double>(t.tv_sec) + static_cast<double>(t.tv_usec) / 1e6; };
  return {seconds(usage.ru_utime), seconds(usage.ru_stime)};
}

// Microsecond latencies; uint32 halves the memory of 10 million deliveries (71 minutes max).
using Latencies = std::vector<uint32_t>;

// `sorted` ascending; p in [0, 1].
inline double percentile_ms(const Latencies& sorted, double p) {
  if (sorted.empty()) return 0;
  const auto index = static_cast<std::size_t>(p * static_cast<double>(sorted.size() - 1));
  return sorted[index] / 1000.0;
}

}  // namespace ablo::bench
