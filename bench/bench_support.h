#pragma once
// What every benchmark shares: the one-model schema they run against, a microsecond clock, the
// sync_request a fresh socket sends, CPU accounting (a saturated generator measures itself) and
// percentiles.
#include <sys/resource.h>
#include <sys/types.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <fstream>
#include <iterator>
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

// utime+stime of a whole process (all its threads, live and exited) in seconds.
inline std::optional<double> process_cpu_seconds(pid_t pid) {
  std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
  std::string text((std::istreambuf_iterator<char>(stat)), std::istreambuf_iterator<char>());
  const auto paren = text.rfind(')');  // the command name may contain spaces
  if (paren == std::string::npos) return std::nullopt;
  std::istringstream fields(text.substr(paren + 2));
  std::string field;
  long long utime = 0, stime = 0;
  for (int index = 3; fields >> field; ++index) {  // field 3 is the state
    if (index == 14) utime = std::stoll(field);
    if (index == 15) {
      stime = std::stoll(field);
      return static_cast<double>(utime + stime) / static_cast<double>(sysconf(_SC_CLK_TCK));
    }
  }
  return std::nullopt;
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
