// ablo_sdk_bench: the native client library's figures (issue 16, docs/client-library.md §15).
//
// It starts `ablo serve` (SQLite in a fresh data directory, or --postgres URL), seeds --rows
// `tasks` rows (~180 bytes of JSON each) through POST /v1/commits in batches of 500 (not timed),
// then measures, each figure beside its §15 target:
//   1. bootstrap: a cold client on a file store, Client() → ready() → the store thread idle
//      (rows persisted): rows/s; then warm start (reopening the file: Client() → ready()); and a
//      cold client on the ":memory:" store;
//   2. optimistic write → local observer latency (one observer on the written row's query), with
//      the inline executor and with the default callback thread;
//   3. write → another client's observer: A (this process) writes, B (this program re-executed
//      with --role observer) observes; both read CLOCK_MONOTONIC (steady_clock) of the one host;
//      at --remote-rate writes/s, then unpaced;
//   4. memory of the cold client's replica: RSS and mallinfo2().uordblks after ready() and the
//      store's idle, minus before Client();
//   5. extras: durable writes/s (--durable-threads threads calling create; each call returns
//      once its outbox record is committed) and the replay of --offline-writes writes made
//      while cut off from the server (a loopback proxy refuses, then forwards again).
//
// A latency figure is refused (printed as SATURATED, exit status 3) when the machine's CPUs were
// more than --saturation busy over its window (/proc/stat, every process: other builds on a
// shared VM included): such a latency measures the scheduler, not the library. The bench's own
// CPU, the server's and the observer process's are printed beside it.
#include <malloc.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <stdexcept>
#include <string>
#include <thread>
#include <unordered_set>
#include <utility>
#include <vector>

#include <CLI/CLI.hpp>
#include <boost/json.hpp>

#include "bench_support.h"
#include "seed_commits.h"
#include "client/transport.h"
#include "integration/server_fixture.h"
#include "sdk/client.h"
#include "sdk/core.h"
#include "support/tcp_proxy.h"

namespace {

namespace json = boost::json;
using namespace std::chrono_literals;
using ablo::bench::Latencies;
using ablo::bench::now_us;
using ablo::bench::kTasksSchema;
using ablo::bench::percentile_ms;
using SteadyClock = std::chrono::steady_clock;

constexpr int kExitFailed = 1;
constexpr int kExitSaturated = 3;

constexpr const char* kTasks = "tasks";

// Figure 3 writes these rows (seeded with assigneeId = kCrossProcessAssignee); B's query selects
// them. 64 rows written round-robin: a row is written again only 64 writes later, so B's
// observer (which coalesces while its executor lags) rarely folds two writes of one row.
constexpr const char* kCrossProcessAssignee = "xproc";
constexpr int kCrossProcessRows = 64;
// Figure 2 writes this row; figure 5's offline updates start at rows / 2 (rows nobody else writes).
constexpr int64_t kLocalProbeRow = kCrossProcessRows;

std::string task_id(int64_t index) {
  char id[32];
  std::snprintf(id, sizeof id, "task-%07lld", static_cast<long long>(index));
  return id;
}

// A seeded row's declared fields: ~180 bytes of JSON with the id.
json::object task_fields(int64_t index) {
  static constexpr const char* kStatuses[] = {"todo", "in_progress", "done"};
  char title[64];
  std::snprintf(title, sizeof title, "Benchmark task %07lld of the native client", static_cast<long long>(index));
  const bool cross_process = index < kCrossProcessRows;
  return json::object{
      {"title", title},
      {"status", kStatuses[index % 3]},
      {"position", index},
      {"assigneeId", cross_process ? std::string(kCrossProcessAssignee) : "user-" + std::to_string(index % 100)},
      {"dueAt", "2026-12-01T10:00:00.000Z"},
      {"meta", json::object{{"estimate", index % 13}, {"labels", json::array{"bench", "sdk"}}}}};
}

// ---------------------------------------------------------------------------------------------
// Options

struct BenchOptions {
  bool quick = false;
  std::string postgres_url;  // empty: SQLite
  std::string server_bin;
  int64_t rows = 100'000;
  int64_t local_writes = 10'000;
  int64_t remote_writes = 5'000;
  double remote_rate = 200;
  int64_t durable_writes = 20'000;
  int durable_threads = 8;
  int64_t offline_writes = 10'000;
  int offline_threads = 8;
  int batch_delay_ms = 0;  // figure 3's writer (Timing::batch_delay)
  int seed_threads = 2;
  double saturation = 0.85;
  // Which figures run: bootstrap (the :memory: store; the cold file store and the warm start
  // always run, the others need them), local, remote, durable, offline.
  std::set<std::string> figures = {"bootstrap", "local", "remote", "durable", "offline"};
  bool runs(const std::string& figure) const { return figures.count(figure) > 0; }
  // --role observer (figure 3's B)
  std::string role;
  std::string base_url, key;
};

// --quick: every count a tenth (10,000 rows), for a smoke run; explicit options still win.
void apply_quick(BenchOptions& o, const CLI::App& app) {
  if (!o.quick) return;
  auto unless_given = [&](const char* flag, auto& value, auto quick_value) {
    if (app.count(flag) == 0) value = quick_value;
  };
  unless_given("--rows", o.rows, int64_t{10'000});
  unless_given("--local-writes", o.local_writes, int64_t{1'000});
  unless_given("--remote-writes", o.remote_writes, int64_t{500});
  unless_given("--durable-writes", o.durable_writes, int64_t{2'000});
  unless_given("--offline-writes", o.offline_writes, int64_t{1'000});
}

ablo::Options client_options(const std::string& base_url, const std::string& key, std::string store_path) {
  ablo::Options options;
  options.base_url = base_url;
  options.api_key = key;
  options.schema = kTasksSchema;
  options.store_path = std::move(store_path);
  options.timing.bootstrap_timeout = 300s;  // 100,000 rows on a loaded 2-core VM
  // Quick reconnects: the offline figure measures the replay, not a backoff wait.
  options.timing.reconnect = ablo::Backoff{50ms, 500ms, 0.5};
  // The library's own log goes to stderr: stdout carries the figures (and B's samples).
  options.log = [](int level, std::string_view message) {
    if (level >= 2) std::fprintf(stderr, "client: %.*s\n", static_cast<int>(message.size()), message.data());
  };
  return options;
}

ablo::WriteOptions forced() {
  // No readAt: a row rewritten before its previous write is confirmed would otherwise be refused
  // as stale (the premise is the confirmed version); these figures time writes, not the guard.
  ablo::WriteOptions options;
  options.on_stale = ablo::OnStale::kForce;
  return options;
}

// ---------------------------------------------------------------------------------------------
// CPU windows: is the machine saturated?

// Jiffies of all CPUs from /proc/stat's first line.
struct MachineCpu {
  uint64_t busy = 0, total = 0;
};

MachineCpu machine_cpu() {
  std::ifstream stat("/proc/stat");
  std::string cpu;
  uint64_t user = 0, nice = 0, system = 0, idle = 0, iowait = 0, irq = 0, softirq = 0, steal = 0;
  stat >> cpu >> user >> nice >> system >> idle >> iowait >> irq >> softirq >> steal;
  const uint64_t busy = user + nice + system + irq + softirq + steal;
  return {busy, busy + idle + iowait};
}

int cores() { return std::max(1, static_cast<int>(std::thread::hardware_concurrency())); }

// One measured stretch: wall time, the machine's CPU, ours, the server's and B's.
class CpuWindow {
 public:
  explicit CpuWindow(std::vector<pid_t> others) : others_(std::move(others)) {}
  void begin() {
    started_ = SteadyClock::now();
    machine_begin_ = machine_cpu();
    own_begin_ = ablo::bench::own_cpu_seconds().total();
    others_begin_ = others_cpu();
  }
  void end() {
    ended_ = SteadyClock::now();
    machine_end_ = machine_cpu();
    own_end_ = ablo::bench::own_cpu_seconds().total();
    others_end_ = others_cpu();
  }
  double wall() const { return std::chrono::duration<double>(ended_ - started_).count(); }
  double machine_busy() const {
    const auto total = machine_end_.total - machine_begin_.total;
    return total == 0 ? 0 : static_cast<double>(machine_end_.busy - machine_begin_.busy) / static_cast<double>(total);
  }
  bool saturated(double limit) const { return machine_busy() > limit; }
  // "machine 63% busy (this bench 40%, server 12%, B 5% of 2 cores)"
  std::string describe() const {
    const double capacity = wall() * cores();
    std::string text = "machine " + percent(machine_busy()) + " busy (bench " + percent((own_end_ - own_begin_) / capacity);
    static constexpr const char* kNames[] = {"server", "observer B"};
    for (std::size_t i = 0; i < others_.size() && i < 2; ++i) {
      if (others_begin_[i] && others_end_[i]) text += ", " + std::string(kNames[i]) + " " + percent((*others_end_[i] - *others_begin_[i]) / capacity);
    }
    return text + " of " + std::to_string(cores()) + " cores)";
  }

 private:
  static std::string percent(double share) { return std::to_string(static_cast<int>(share * 100 + 0.5)) + "%"; }
  std::vector<std::optional<double>> others_cpu() const {
    std::vector<std::optional<double>> seconds;
    for (pid_t pid : others_) seconds.push_back(ablo::bench::process_cpu_seconds(pid));
    return seconds;
  }
  std::vector<pid_t> others_;
  SteadyClock::time_point started_, ended_;
  MachineCpu machine_begin_, machine_end_;
  double own_begin_ = 0, own_end_ = 0;
  std::vector<std::optional<double>> others_begin_, others_end_;
};

// ---------------------------------------------------------------------------------------------
// The report: every figure beside its target.

struct Figure {
  std::string name, value, target, met;  // met: yes | no | SATURATED | — (no target)
};

class Report {
 public:
  void add(Figure figure) {
    std::printf("  -> %s: %s (target %s)%s\n", figure.name.c_str(), figure.value.c_str(), figure.target.c_str(),
                figure.met == "no" ? " MISSED" : figure.met == "SATURATED" ? " NOT REPORTED (saturated)" : "");
    if (figure.met == "SATURATED") saturated_ = true;
    figures_.push_back(std::move(figure));
  }
  // A latency figure, refused when its window saturated the machine.
  void add_latency(const std::string& name, Latencies samples, double p50_target_ms, double p99_target_ms,
                   const CpuWindow& window, double saturation, const std::string& target_text) {
    std::sort(samples.begin(), samples.end());
    const double p50 = percentile_ms(samples, 0.50), p99 = percentile_ms(samples, 0.99);
    char value[160];
    std::snprintf(value, sizeof value, "p50 %.3f ms / p99 %.3f ms (max %.2f, n=%zu)", p50, p99,
                  samples.empty() ? 0.0 : samples.back() / 1000.0, samples.size());
    std::printf("  %s: %s; %s\n", name.c_str(), value, window.describe().c_str());
    std::string met = (p50_target_ms <= 0 || p50 < p50_target_ms) && p99 < p99_target_ms ? "yes" : "no";
    if (samples.empty()) met = "no";
    if (window.saturated(saturation)) {
      met = "SATURATED";
      std::snprintf(value, sizeof value, "— (%s; above %.0f%%)", window.describe().c_str(), saturation * 100);
    }
    add({name, value, target_text, met});
  }
  void fail(const std::string& what) {
    std::printf("FAILED: %s\n", what.c_str());
    failed_ = true;
  }
  void print() const {
    std::printf("\n| figure | measured | target | met? |\n|---|---|---|---|\n");
    for (const auto& f : figures_) std::printf("| %s | %s | %s | %s |\n", f.name.c_str(), f.value.c_str(), f.target.c_str(), f.met.c_str());
    std::printf("\n");
  }
  int exit_status() const { return failed_ ? kExitFailed : saturated_ ? kExitSaturated : 0; }

 private:
  std::vector<Figure> figures_;
  bool failed_ = false, saturated_ = false;
};

std::string fixed(double value, int decimals) {
  char text[64];
  std::snprintf(text, sizeof text, "%.*f", decimals, value);
  return text;
}

// ---------------------------------------------------------------------------------------------
// The server and its seed

class Server {
 public:
  explicit Server(const BenchOptions& o) {
    setenv("ABLO_BIN", o.server_bin.c_str(), 1);
    process_ = std::make_unique<ablo::testing::ServerProcess>(kTasksSchema, o.postgres_url);
  }
  std::string base_url() const { return "http://127.0.0.1:" + std::to_string(process_->port()); }
  uint16_t port() const { return process_->port(); }
  const std::string& key() const { return process_->api_key(); }
  pid_t pid() const { return process_->pid(); }
  const std::string& data_dir() const { return process_->data_dir(); }

  // Rows 0..rows-1 through POST /v1/commits, `threads` commits in flight.
  void seed(int64_t rows, int threads) const {
    ablo::bench::seed_through_commits(port(), key(), rows, threads, [](int64_t i) {
      return json::object{{"action", "create"}, {"model", kTasks}, {"id", task_id(i)}, {"data", task_fields(i)}};
    });
  }


 private:
  std::unique_ptr<ablo::testing::ServerProcess> process_;
};

// ---------------------------------------------------------------------------------------------
// Figure 1 (and 4): bootstrap into a cold store; warm start.

double seconds_since(SteadyClock::time_point start) { return std::chrono::duration<double>(SteadyClock::now() - start).count(); }

// Blocks until the client's store thread has run every job posted so far: the bootstrap's rows
// are in the file. (No public call says so; the benchmark reaches into the client's core.)
void wait_store_idle(ablo::Client& client) {
  if (auto ok = client.core()->store->flush(300s); !ok) throw std::runtime_error("store flush: " + ok.error().message);
}

struct HeapNow {
  int64_t rss_kib = 0;
  std::size_t heap_bytes = 0;  // mallinfo2().uordblks: bytes malloc has handed out and not got back
};

HeapNow heap_now() { return {ablo::testing::resident_kib(getpid()), mallinfo2().uordblks}; }

// The mean serialized size of the first rows of the replica (what one cached row carries).
double mean_row_bytes(const ablo::Client& client) {
  auto rows = client.model(kTasks).query().limit(200).list();
  if (!rows || rows->empty()) return 0;
  std::size_t bytes = 0;
  for (const auto& row : *rows) bytes += json::serialize(row.data).size();
  return static_cast<double>(bytes) / static_cast<double>(rows->size());
}

// Cold file store: rows/s to ready() + persisted, and the memory the replica takes. Returns the
// client (the next figures write through it).
std::unique_ptr<ablo::Client> measure_cold_bootstrap(const BenchOptions& o, const Server& server, const std::string& store,
                                                     Report& report) {
  std::printf("\n[1] cold bootstrap of %lld rows into a file store (%s)\n", static_cast<long long>(o.rows), store.c_str());
  const HeapNow before = heap_now();
  const auto start = SteadyClock::now();
  auto client = std::make_unique<ablo::Client>(client_options(server.base_url(), server.key(), store));
  client->ready().wait();
  const double ready_s = seconds_since(start);
  const HeapNow at_ready = heap_now();
  wait_store_idle(*client);
  const double persisted_s = seconds_since(start);
  const HeapNow after = heap_now();
  std::printf("  at ready(): RSS +%.1f MB, heap in use +%.1f MB (the bootstrap's rows still on their way to the file)\n",
              static_cast<double>(at_ready.rss_kib - before.rss_kib) / 1024.0,
              (static_cast<double>(at_ready.heap_bytes) - static_cast<double>(before.heap_bytes)) / (1024.0 * 1024.0));
  if (auto first = client->model(kTasks).get(task_id(kLocalProbeRow))) std::printf("  a cached row: %s\n", json::serialize(first->data).c_str());
  const auto count = client->model(kTasks).query().count();
  if (!count || static_cast<int64_t>(*count) != o.rows) {
    report.fail("the replica holds " + std::to_string(count ? static_cast<long long>(*count) : -1) + " rows, not " +
                std::to_string(o.rows));
  }
  const double rate = static_cast<double>(o.rows) / persisted_s;
  std::printf("  ready() after %.2f s, store idle after %.2f s; mean cached row %.0f bytes of JSON; file %.1f MB\n", ready_s,
              persisted_s, mean_row_bytes(*client), static_cast<double>(std::filesystem::file_size(store)) / 1e6);
  report.add({"1. cold bootstrap, file store (" + std::to_string(o.rows) + " rows, to ready() + persisted)",
              fixed(rate, 0) + " rows/s (" + fixed(persisted_s, 2) + " s; ready() at " + fixed(ready_s, 2) + " s)",
              "≥ 50,000 rows/s", rate >= 50'000 ? "yes" : "no"});

  // §15 scales memory to 100,000 rows.
  const double scale = 100'000.0 / static_cast<double>(o.rows);
  const double rss_mb = static_cast<double>(after.rss_kib - before.rss_kib) / 1024.0;
  const double heap_mb = (static_cast<double>(after.heap_bytes) - static_cast<double>(before.heap_bytes)) / (1024.0 * 1024.0);
  const double per_row_rss = rss_mb * 1024.0 * 1024.0 / static_cast<double>(o.rows);
  const double per_row_heap = heap_mb * 1024.0 * 1024.0 / static_cast<double>(o.rows);
  std::printf("  memory: RSS +%.1f MB, heap in use +%.1f MB (%.0f / %.0f bytes per row)\n", rss_mb, heap_mb, per_row_rss,
              per_row_heap);
  const std::string scaled = o.rows == 100'000 ? "" : ", scaled from " + std::to_string(o.rows) + " rows";
  report.add({"4. memory per 100k cached rows (RSS; heap in use" + scaled + ")",
              fixed(rss_mb * scale, 1) + " MB; " + fixed(heap_mb * scale, 1) + " MB (" + fixed(per_row_rss, 0) + " / " +
                  fixed(per_row_heap, 0) + " B/row)",
              "≤ 100 MB (≤ 1 KB/row)", rss_mb * scale <= 100 ? "yes" : "no"});
  return client;
}

// Warm start: the file's replica loaded, Client() → ready(). Returns the client.
std::unique_ptr<ablo::Client> measure_warm_start(const Server& server, const std::string& store, int batch_delay_ms,
                                                 Report& report) {
  std::printf("\n[1] warm start: reopening %s\n", store.c_str());
  auto options = client_options(server.base_url(), server.key(), store);
  options.timing.batch_delay = std::chrono::milliseconds(batch_delay_ms);  // figure 3's writer
  const auto start = SteadyClock::now();
  auto client = std::make_unique<ablo::Client>(std::move(options));
  client->ready().wait();
  const double warm_s = seconds_since(start);
  const auto count = client->model(kTasks).query().count();
  std::printf("  ready() after %.3f s with %lld rows loaded from the file\n", warm_s, count ? static_cast<long long>(*count) : -1LL);
  report.add({"1. warm start (reopen the file store, Client() → ready())", fixed(warm_s * 1000, 0) + " ms", "< 1 s",
              warm_s < 1 ? "yes" : "no"});
  return client;
}

void measure_memory_bootstrap(const BenchOptions& o, const Server& server, Report& report) {
  std::printf("\n[1] cold bootstrap of %lld rows into the :memory: store\n", static_cast<long long>(o.rows));
  const auto start = SteadyClock::now();
  ablo::Client client(client_options(server.base_url(), server.key(), ":memory:"));
  client.ready().wait();
  const double ready_s = seconds_since(start);
  wait_store_idle(client);
  const double stored_s = seconds_since(start);
  const double rate = static_cast<double>(o.rows) / stored_s;
  report.add({"1. cold bootstrap, :memory: store (to ready() + stored)",
              fixed(rate, 0) + " rows/s (" + fixed(stored_s, 2) + " s; ready() at " + fixed(ready_s, 2) + " s)",
              "≥ 50,000 rows/s", rate >= 50'000 ? "yes" : "no"});
}

// ---------------------------------------------------------------------------------------------
// Figure 2: optimistic write → local observer.

// Watches the probe row's `position`: the first callback showing the value the loop wrote
// records call → callback. Callbacks of one subscription never overlap, so `samples` has one
// writer at a time; the loop reads it after the observer is cancelled.
class LocalProbe {
 public:
  void expect(double value) {
    std::lock_guard lock(mutex_);
    expected_ = value;
    called_at_us_ = now_us();
  }
  void on_update(const ablo::QueryUpdate& update) {
    const int64_t arrived = now_us();
    for (const auto& row : update.rows) {
      const auto* position = row.data.if_contains("position");
      if (!position || !position->is_number()) continue;
      std::lock_guard lock(mutex_);
      if (seen_ == expected_ || position->to_number<double>() != expected_) continue;
      samples_.push_back(static_cast<uint32_t>(std::max<int64_t>(0, arrived - called_at_us_)));
      seen_ = expected_;
      arrived_.notify_one();
    }
  }
  bool wait_seen(std::chrono::milliseconds timeout) {
    std::unique_lock lock(mutex_);
    return arrived_.wait_for(lock, timeout, [&] { return seen_ == expected_; });
  }
  Latencies take() {
    std::lock_guard lock(mutex_);
    return std::move(samples_);
  }

 private:
  std::mutex mutex_;
  std::condition_variable arrived_;
  double expected_ = -1, seen_ = -2;
  int64_t called_at_us_ = 0;
  Latencies samples_;
};

void measure_local_latency(const BenchOptions& o, const Server& server, ablo::Client& client, Report& report) {
  const auto tasks = client.model(kTasks);
  const std::string id = task_id(kLocalProbeRow);
  struct Pass {
    const char* name;
    std::shared_ptr<ablo::Executor> executor;  // null: the client's default callback thread
    double p99_target_ms;
    const char* target;
  };
  const Pass passes[] = {{"inline executor", ablo::inline_executor(), 0.1, "p99 < 100 µs"},
                         {"default thread executor", nullptr, 1.0, "p99 < 1 ms"}};
  double base = 1e9;
  for (const auto& pass : passes) {
    std::printf("\n[2] optimistic update → local observer, %s, %lld updates of %s\n", pass.name,
                static_cast<long long>(o.local_writes), id.c_str());
    LocalProbe probe;
    auto observer = tasks.where("id", ablo::Op::kEq, json::string(id)).observe([&](const ablo::QueryUpdate& u) { probe.on_update(u); },
                                                                 pass.executor);
    CpuWindow window({server.pid()});
    window.begin();
    for (int64_t i = 0; i < o.local_writes; ++i) {
      const double value = base + static_cast<double>(i);
      probe.expect(value);
      (void)tasks.update(id, {{"position", value}}, forced());
      if (!probe.wait_seen(10s)) {
        report.fail(std::string("figure 2 (") + pass.name + "): no observer call for update " + std::to_string(i));
        break;
      }
    }
    window.end();
    observer.cancel();
    std::printf("  %lld updates in %.2f s (each call returns after its outbox record is committed)\n",
                static_cast<long long>(o.local_writes), window.wall());
    report.add_latency(std::string("2. optimistic write → local observer, ") + pass.name, probe.take(), 0, pass.p99_target_ms,
                       window, o.saturation, pass.target);
    base += 1e7;
    if (!client.wait_for_flush(120s).wait_result()) report.fail("figure 2: the writes were not all confirmed in 120 s");
  }
}

// ---------------------------------------------------------------------------------------------
// Figure 5a: durable writes/s from several threads.

void measure_durable_writes(const BenchOptions& o, ablo::Client& client, Report& report) {
  const int threads = o.durable_threads;
  const int64_t per_thread = o.durable_writes / threads;
  std::printf("\n[5] durable creates: %d threads x %lld\n", threads, static_cast<long long>(per_thread));
  const auto tasks = client.model(kTasks);
  std::vector<Latencies> call_us(static_cast<std::size_t>(threads));
  std::atomic<int> failures{0};
  const auto start = SteadyClock::now();
  std::vector<std::thread> workers;
  for (int t = 0; t < threads; ++t) {
    workers.emplace_back([&, t] {
      auto& mine = call_us[static_cast<std::size_t>(t)];
      for (int64_t i = 0; i < per_thread; ++i) {
        ablo::CreateOptions options;
        options.id = "dw-" + std::to_string(t) + "-" + std::to_string(i);
        const int64_t called = now_us();
        auto pending = tasks.create(task_fields(o.rows + i), std::move(options));
        mine.push_back(static_cast<uint32_t>(now_us() - called));
        if (pending.ready() && !pending.wait_result()) ++failures;  // refused at once (argument errors)
      }
    });
  }
  for (auto& w : workers) w.join();
  const double wall = seconds_since(start);
  const int64_t total = per_thread * threads;
  Latencies all;
  for (auto& list : call_us) all.insert(all.end(), list.begin(), list.end());
  std::sort(all.begin(), all.end());
  const double rate = static_cast<double>(total) / wall;
  std::printf("  %lld creates durable in %.2f s; create() call p50 %.2f ms, p99 %.2f ms\n", static_cast<long long>(total), wall,
              percentile_ms(all, 0.5), percentile_ms(all, 0.99));
  if (failures > 0) report.fail(std::to_string(failures.load()) + " creates refused");
  const auto confirm_start = SteadyClock::now();
  if (!client.wait_for_flush(300s).wait_result()) report.fail("figure 5: the creates were not all confirmed in 300 s");
  std::printf("  all confirmed by the server %.2f s later\n", seconds_since(confirm_start));
  report.add({"5. durable writes/s (" + std::to_string(threads) + " threads calling create)",
              fixed(rate, 0) + "/s (" + std::to_string(total) + " in " + fixed(wall, 2) + " s)", "≥ 20,000/s",
              rate >= 20'000 ? "yes" : "no"});
}

// ---------------------------------------------------------------------------------------------
// Figure 3: write → another process's observer.

// B's side: every row of the query carries meta {seq, sentAt}; the first callback showing a
// seq records now − sentAt (both steady_clock = CLOCK_MONOTONIC of this host).
class RemoteProbe {
 public:
  void on_update(const ablo::QueryUpdate& update) {
    const int64_t arrived = now_us();
    std::lock_guard lock(mutex_);
    for (const auto& row : update.rows) {
      const auto* meta = row.data.if_contains("meta");
      if (!meta || !meta->is_object()) continue;
      const auto* seq = meta->get_object().if_contains("seq");
      const auto* sent = meta->get_object().if_contains("sentAt");
      if (!seq || !sent || !seq->is_number() || !sent->is_number()) continue;
      const auto sequence = static_cast<int64_t>(seq->to_number<double>());
      if (!seen_.insert(sequence).second) continue;
      samples_.emplace_back(sequence, arrived - static_cast<int64_t>(sent->to_number<double>()));
    }
    initial_ = true;
    changed_.notify_all();
  }
  bool wait_initial(std::chrono::milliseconds timeout) {
    std::unique_lock lock(mutex_);
    return changed_.wait_for(lock, timeout, [&] { return initial_; });
  }
  std::vector<std::pair<int64_t, int64_t>> take() {
    std::lock_guard lock(mutex_);
    return std::exchange(samples_, {});
  }

 private:
  std::mutex mutex_;
  std::condition_variable changed_;
  bool initial_ = false;
  std::unordered_set<int64_t> seen_;
  std::vector<std::pair<int64_t, int64_t>> samples_;  // (seq, latency µs)
};

// `--role observer`: B. Prints "ready" once its observer has the rows, answers every "dump"
// line on stdin with "sample <seq> <µs>" lines and "end", and exits at EOF.
int run_observer(const BenchOptions& o) {
  ablo::Client client(client_options(o.base_url, o.key, ":memory:"));
  client.ready().wait();
  RemoteProbe probe;
  auto observer = client.model(kTasks)
                      .where("assigneeId", ablo::Op::kEq, kCrossProcessAssignee)
                      .observe([&](const ablo::QueryUpdate& u) { probe.on_update(u); });
  if (!probe.wait_initial(60s)) return kExitFailed;
  (void)probe.take();
  std::printf("ready\n");
  std::fflush(stdout);
  std::string line;
  while (std::getline(std::cin, line)) {
    if (line != "dump") continue;
    for (const auto& [seq, us] : probe.take()) std::printf("sample %lld %lld\n", static_cast<long long>(seq), static_cast<long long>(us));
    std::printf("end\n");
    std::fflush(stdout);
  }
  return 0;
}

// The observer process, as the parent sees it: pipes to its stdin and from its stdout.
class ObserverProcess {
 public:
  ObserverProcess(const std::string& base_url, const std::string& key) {
    int to_child[2], from_child[2];
    if (pipe(to_child) != 0 || pipe(from_child) != 0) throw std::runtime_error("pipe failed");
    const std::string self = std::filesystem::read_symlink("/proc/self/exe").string();
    pid_ = fork();
    if (pid_ < 0) throw std::runtime_error("fork failed");
    if (pid_ == 0) {
      dup2(to_child[0], STDIN_FILENO);
      dup2(from_child[1], STDOUT_FILENO);
      for (int fd : {to_child[0], to_child[1], from_child[0], from_child[1]}) close(fd);
      execl(self.c_str(), self.c_str(), "--role", "observer", "--base-url", base_url.c_str(), "--key", key.c_str(),
            static_cast<char*>(nullptr));
      _exit(127);
    }
    close(to_child[0]);
    close(from_child[1]);
    to_ = fdopen(to_child[1], "w");
    from_ = fdopen(from_child[0], "r");
  }
  ~ObserverProcess() {
    if (to_) std::fclose(to_);  // EOF: B exits
    if (from_) std::fclose(from_);
    if (pid_ > 0) {
      int status = 0;
      for (int i = 0; i < 100 && waitpid(pid_, &status, WNOHANG) == 0; ++i) std::this_thread::sleep_for(100ms);
      if (waitpid(pid_, &status, WNOHANG) == 0) {
        kill(pid_, SIGKILL);
        waitpid(pid_, &status, 0);
      }
    }
  }
  ObserverProcess(const ObserverProcess&) = delete;
  ObserverProcess& operator=(const ObserverProcess&) = delete;

  pid_t pid() const { return pid_; }
  void wait_ready() {
    if (read_line() != "ready") throw std::runtime_error("the observer process did not start");
  }
  // B's samples since the last dump, by seq.
  std::vector<std::pair<int64_t, int64_t>> dump() {
    std::fprintf(to_, "dump\n");
    std::fflush(to_);
    std::vector<std::pair<int64_t, int64_t>> samples;
    for (std::string line = read_line(); line != "end"; line = read_line()) {
      long long seq = 0, us = 0;
      if (std::sscanf(line.c_str(), "sample %lld %lld", &seq, &us) == 2) samples.emplace_back(seq, us);
    }
    return samples;
  }

 private:
  std::string read_line() {
    char* buffer = nullptr;
    std::size_t size = 0;
    const ssize_t length = getline(&buffer, &size, from_);
    std::string line = length > 0 ? std::string(buffer, static_cast<std::size_t>(length)) : std::string();
    std::free(buffer);
    if (length <= 0) throw std::runtime_error("the observer process ended");
    while (!line.empty() && (line.back() == '\n' || line.back() == '\r')) line.pop_back();
    return line;
  }
  pid_t pid_ = -1;
  FILE* to_ = nullptr;
  FILE* from_ = nullptr;
};

void measure_remote_latency(const BenchOptions& o, const Server& server, ablo::Client& writer, Report& report) {
  std::printf("\n[3] write → other process's observer: starting B (it bootstraps %lld rows)\n", static_cast<long long>(o.rows));
  ObserverProcess observer(server.base_url(), server.key());
  observer.wait_ready();
  const auto tasks = writer.model(kTasks);
  struct Pass {
    std::string name;
    double rate;  // writes/s; 0: unpaced
    double p50_target_ms, p99_target_ms;
    std::string target;
  };
  const std::string rate_name = fixed(o.remote_rate, 0) + "/s";
  const Pass passes[] = {{"at " + rate_name, o.remote_rate, 5, 20, "p50 < 5 ms, p99 < 20 ms"},
                         {"unpaced", 0, 5, 20, "(the " + rate_name + " target)"}};
  int64_t seq = 0;
  for (const auto& pass : passes) {
    std::printf("\n[3] %lld updates %s by A (batch_delay %d ms), observed by B\n", static_cast<long long>(o.remote_writes),
                pass.name.c_str(), o.batch_delay_ms);
    CpuWindow window({server.pid(), observer.pid()});
    // A's own write → confirmed (its Receipt): tells a slow B from a slow server or writer.
    struct Receipts {
      std::mutex mutex;
      Latencies us;
    };
    auto receipts = std::make_shared<Receipts>();  // shared: a confirmation after a timed-out wait still lands
    window.begin();
    const auto start = SteadyClock::now();
    for (int64_t i = 0; i < o.remote_writes; ++i, ++seq) {
      if (pass.rate > 0) std::this_thread::sleep_until(start + std::chrono::microseconds(static_cast<int64_t>(1e6 * i / pass.rate)));
      const int64_t row = seq % kCrossProcessRows;
      const int64_t sent = now_us();
      tasks.update(task_id(row), {{"position", seq}, {"meta", {{"seq", seq}, {"sentAt", sent}}}}, forced())
          .then(ablo::inline_executor(), [receipts, sent](const ablo::Result<ablo::Receipt>& receipt) {
            if (!receipt) return;
            std::lock_guard lock(receipts->mutex);
            receipts->us.push_back(static_cast<uint32_t>(now_us() - sent));
          });
    }
    const double written_s = seconds_since(start);
    if (!writer.wait_for_flush(120s).wait_result()) report.fail("figure 3: A's writes were not all confirmed in 120 s");
    {
      std::lock_guard lock(receipts->mutex);
      auto& us = receipts->us;
      std::sort(us.begin(), us.end());
      std::printf("  A's write → its own confirmation: p50 %.2f ms, p99 %.2f ms (n=%zu)\n", percentile_ms(us, 0.5),
                  percentile_ms(us, 0.99), us.size());
    }
    std::this_thread::sleep_for(300ms);  // B's last deltas are on their way
    window.end();
    auto samples = observer.dump();
    Latencies latencies;
    for (const auto& [sequence, us] : samples) latencies.push_back(static_cast<uint32_t>(std::max<int64_t>(0, us)));
    std::printf("  A wrote %lld in %.2f s (%.0f/s); B saw %zu of them (a row written twice within one of B's callbacks "
                "shows only its latest write)\n",
                static_cast<long long>(o.remote_writes), written_s, static_cast<double>(o.remote_writes) / written_s,
                samples.size());
    report.add_latency("3. write → other process's observer, " + pass.name, std::move(latencies), pass.p50_target_ms,
                       pass.p99_target_ms, window, o.saturation, pass.target);
  }
}

// ---------------------------------------------------------------------------------------------
// Figure 5b: replay of offline writes.

void measure_offline_replay(const BenchOptions& o, const Server& server, const std::string& store, Report& report) {
  std::printf("\n[5] offline writes: %lld made while the proxy refuses, then replayed\n", static_cast<long long>(o.offline_writes));
  ablo::testing::TcpProxy proxy(server.port());
  ablo::Client client(client_options("http://127.0.0.1:" + std::to_string(proxy.port()), server.key(), store));
  client.ready().wait();
  auto state = [&] { return client.status().state; };
  if (!ablo::testing::eventually([&] { return state() == ablo::ConnectionState::kConnected; }, 60s)) {
    return report.fail("figure 5: the client did not connect through the proxy");
  }
  proxy.refuse();
  if (!ablo::testing::eventually([&] { return state() != ablo::ConnectionState::kConnected; }, 30s)) {
    return report.fail("figure 5: the client did not notice the cut");
  }
  std::atomic<int64_t> failures{0};
  auto listener = client.on_mutation_failure([&](const ablo::MutationFailure&) { ++failures; });
  // A fifth creates, the rest updates of distinct seeded rows nobody else writes (stale guard on).
  const auto tasks = client.model(kTasks);
  const int threads = o.offline_threads;
  const int64_t per_thread = o.offline_writes / threads;
  const int64_t first_row = o.rows / 2;
  const auto start = SteadyClock::now();
  std::vector<std::thread> workers;
  for (int t = 0; t < threads; ++t) {
    workers.emplace_back([&, t] {
      for (int64_t i = 0; i < per_thread; ++i) {
        const int64_t n = t * per_thread + i;
        if (n % 5 == 0) {
          ablo::CreateOptions options;
          options.id = "off-" + std::to_string(n);
          (void)tasks.create(task_fields(o.rows + n), std::move(options));
        } else {
          (void)tasks.update(task_id(first_row + n), {{"status", "done"}, {"position", -n}});
        }
      }
    });
  }
  for (auto& w : workers) w.join();
  const double offline_s = seconds_since(start);
  const auto queued = client.status().pending_writes;
  std::printf("  %zu writes queued offline in %.2f s\n", queued, offline_s);
  proxy.restore();
  const auto reconnect = SteadyClock::now();
  client.reconnect_now();
  std::optional<double> connected_s;
  while (client.status().pending_writes > 0 && seconds_since(reconnect) < 300) {
    if (!connected_s && state() == ablo::ConnectionState::kConnected) connected_s = seconds_since(reconnect);
    std::this_thread::sleep_for(2ms);
  }
  const double replay_s = seconds_since(reconnect);
  const auto left = client.status().pending_writes;
  std::printf("  connected %.2f s after the proxy forwarded again; outbox empty after %.2f s (%zu left); %lld refused\n",
              connected_s.value_or(-1), replay_s, left, static_cast<long long>(failures.load()));
  if (left > 0 || failures > 0) report.fail("figure 5: offline writes not all confirmed");
  report.add({"5. replay of " + std::to_string(queued) + " offline writes (reconnect → pending_writes 0)",
              fixed(replay_s, 2) + " s", "< 10 s", replay_s < 10 ? "yes" : "no"});
}

// ---------------------------------------------------------------------------------------------

int run_bench(const BenchOptions& o) {
  Report report;
  double load[3] = {0, 0, 0};
  getloadavg(load, 3);
  std::printf("ablo_sdk_bench: %lld rows, store %s, %d cores, load average %.2f %.2f %.2f%s\n", static_cast<long long>(o.rows),
              o.postgres_url.empty() ? "sqlite" : "postgres", cores(), load[0], load[1], load[2], o.quick ? " (--quick)" : "");
  Server server(o);
  const auto seed_start = SteadyClock::now();
  server.seed(o.rows, o.seed_threads);
  std::printf("seeded %lld rows in %.1f s (not timed)\n", static_cast<long long>(o.rows), seconds_since(seed_start));
  // The client's file store on the same disk as the server's data (removed with it).
  const std::string store = server.data_dir() + "/sdk-bench-client.db";
  // Figures that add rows (5: creates) come last, so every bootstrap and the warm start load
  // exactly --rows rows.
  {
    auto client = measure_cold_bootstrap(o, server, store, report);
    if (o.runs("bootstrap")) measure_memory_bootstrap(o, server, report);
    if (o.runs("local")) measure_local_latency(o, server, *client, report);
  }
  {
    auto writer = measure_warm_start(server, store, o.batch_delay_ms, report);
    if (o.runs("remote")) measure_remote_latency(o, server, *writer, report);
    if (o.runs("durable")) measure_durable_writes(o, *writer, report);
  }
  if (o.runs("offline")) measure_offline_replay(o, server, store, report);
  getloadavg(load, 3);
  std::printf("\nload average at the end: %.2f %.2f %.2f\n", load[0], load[1], load[2]);
  report.print();
  return report.exit_status();
}

}  // namespace

int main(int argc, char** argv) {
  std::setvbuf(stdout, nullptr, _IOLBF, 0);  // progress lines show while a long run goes on
  CLI::App app{"ablo_sdk_bench: the native client library's figures (docs/client-library.md §15)"};
  BenchOptions o;
  o.server_bin = std::getenv("ABLO_BIN") ? std::getenv("ABLO_BIN") : ABLO_BIN_DEFAULT;
  app.add_flag("--quick", o.quick, "Smoke run: 10,000 rows and a tenth of every write count");
  app.add_option("--postgres", o.postgres_url, "Run the server on this PostgreSQL database URL (default: SQLite)");
  app.add_option("--server-bin", o.server_bin)->capture_default_str();
  app.add_option("--rows", o.rows, "Rows seeded and bootstrapped")->check(CLI::Range(int64_t{1000}, int64_t{10'000'000}))->capture_default_str();
  app.add_option("--local-writes", o.local_writes, "Figure 2: updates per executor")->capture_default_str();
  app.add_option("--remote-writes", o.remote_writes, "Figure 3: updates per pass")->capture_default_str();
  app.add_option("--remote-rate", o.remote_rate, "Figure 3: writes/s of the paced pass")->capture_default_str();
  app.add_option("--durable-writes", o.durable_writes, "Figure 5: creates in all")->capture_default_str();
  app.add_option("--durable-threads", o.durable_threads)->check(CLI::Range(1, 64))->capture_default_str();
  app.add_option("--offline-writes", o.offline_writes, "Figure 5: writes queued offline")->capture_default_str();
  app.add_option("--offline-threads", o.offline_threads)->check(CLI::Range(1, 64))->capture_default_str();
  app.add_option("--batch-delay", o.batch_delay_ms,
                 "Figure 3: the writer's Timing::batch_delay in ms (the library's default is 150)")
      ->capture_default_str();
  app.add_option("--seed-threads", o.seed_threads, "Seeding commits in flight")->check(CLI::Range(1, 16))->capture_default_str();
  app.add_option("--saturation", o.saturation, "Refuse a latency figure when the machine's CPUs were busier than this")
      ->capture_default_str();
  app.add_option("--figures", o.figures, "Only these: bootstrap,local,remote,durable,offline (the cold file store and the warm start always run)")
      ->delimiter(',')
      ->check(CLI::IsMember({"bootstrap", "local", "remote", "durable", "offline"}));
  app.add_option("--role", o.role)->group("");  // "observer": figure 3's B, started by the bench itself
  app.add_option("--base-url", o.base_url)->group("");
  app.add_option("--key", o.key)->group("");
  CLI11_PARSE(app, argc, argv);
  apply_quick(o, app);
  try {
    if (o.role == "observer") return run_observer(o);
    if (!o.role.empty()) throw std::runtime_error("unknown --role " + o.role);
    if (o.rows < 2 * (kLocalProbeRow + 1) || o.offline_writes > o.rows / 2) {
      throw std::runtime_error("--rows must hold the probe rows and --offline-writes updates (rows / 2)");
    }
    return run_bench(o);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "ablo_sdk_bench: %s\n", e.what());
    return 2;
  }
}
