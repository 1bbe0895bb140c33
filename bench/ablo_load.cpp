// ablo_load: a load generator that is never the bottleneck (issue 17, item 1).
//
// One io_context per generator thread (--threads, default 1) drives every socket
// asynchronously: no thread per socket, so 10,000 subscribers cost the generator 10,000 pending
// reads, not 10,000 stacks and their scheduling. Sockets are spread round-robin over the
// threads ("lanes"); a socket lives on one lane for its whole life, so its state needs no lock
// and no strand. The main thread only orchestrates: it starts the server, posts work onto the
// lanes and polls relaxed atomic counters every few milliseconds.
//
// Modes (subcommands):
//   fanout   N synced subscribers, one writer making M sequential single-op commits; every
//            row carries its send time, every subscriber records write -> delivered latency.
//   floor    the same sockets and writer against a stand-in server (bench/load_floor.cpp)
//            that only sends one pre-encoded delta frame of ablo's size to every subscriber per
//            commit, one send() per socket, then acknowledges it: the kernel's floor under fanout.
//   commits  W writers x K commits in flight for S seconds: confirmed commits/s, ack latency,
//            then the raw SQLite ceiling (WAL, synchronous=FULL, batched inserts) in the same
//            run and our ratio to it.
//            --scrape-hz N scrapes /metrics N times a second during the window (a Prometheus
//            under load: does it slow commits?) and reports the scrapes' latency.
//   idle     N authenticated sockets that each sync once and then stay idle: server RSS per
//            connection.
//   bootstrap  one GET /api/sync/bootstrap of --rows seeded rows against the time to serialize
//            them in-process, and the server's RSS meanwhile (bench/load_bootstrap.cpp).
//   source   Data Source mode (issue 11), --mode endpoint (the reference endpoint of
//            examples/source-endpoint, registered with --poll-interval) or database (direct
//            PostgreSQL, `--source-database`): commits/s through the source with W writers x K
//            in flight and their ack latency; commit -> delta at one subscriber, under that load
//            and one commit at a time; external write -> delta for rows written straight into
//            the source's database, each carrying its write time.
//
// The server: started here (SQLite in a fresh data directory; --store postgres: a private
// durable PostgreSQL or --database, with --nodes N servers on it) or an existing one (--url,
// --key, --server-pid). --server-cpus / --load-cpus pin the server's threads and the generator
// to separate cores.
//
// Every mode reports the server's CPU over the measured window (utime+stime of all its threads
// from /proc/<pid>/stat) and the generator's own CPU (getrusage). If the generator used more
// than --saturation (85%) of threads x wall time, the figures are printed but marked SATURATED
// and the exit status is 3: a saturated generator measures itself, not the server.
#include <sched.h>
#include <sqlite3.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <charconv>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <filesystem>
#include <fstream>
#include <functional>
#include <memory>
#include <optional>
#include <sstream>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include <CLI/CLI.hpp>
#include <boost/asio.hpp>
#include <boost/json.hpp>

#include "bench_support.h"
#include "load_bootstrap.h"
#include "load_ceiling.h"
#include "load_floor.h"
#include "load_ws.h"
#include "client/transport.h"
#include "integration/server_fixture.h"
#include "integration/source_endpoint.h"
#include "pg/connection.h"
#include "support/pg_database.h"
#include "support/private_postgres.h"

namespace asio = boost::asio;
namespace json = boost::json;
using tcp = asio::ip::tcp;
using Clock = std::chrono::steady_clock;
using ablo::bench::Latencies;
using ablo::bench::now_us;
using ablo::bench::OwnCpu;
using ablo::bench::own_cpu_seconds;
using ablo::bench::percentile_ms;
using ablo::bench::process_cpu_seconds;
using ablo::bench::ThreadCpu;
using ablo::bench::threads_cpu_seconds;

namespace {

constexpr int kExitSaturated = 3;

// ---------------------------------------------------------------------------------------------
// Options

struct Options {
  std::string mode;
  int threads = 1;
  std::string server_cpus, load_cpus;
  double saturation = 0.85;
  int timeout_s = 300;
  // server
  std::string server_bin;
  std::string store = "sqlite";
  std::string database_url;
  std::vector<std::string> server_args;
  std::string url, key;
  int server_pid = 0;
  int nodes = 1;  // servers on one PostgreSQL database (--store postgres)
  int per_token = 500;  // sockets sharing one capability (the server allows 2,000 per credential)
  int connect_window = 256;  // handshakes in progress at once
  int source_ips = 0;        // 0: one loopback source address per 25,000 sockets
  // fanout
  int subscribers = 100;
  int64_t writes = 1000;
  int inflight = 1;
  // floor (fanout's options, against the stand-in server)
  bool floor = false;
  int frame_bytes = 629;  // ablo's delta payload at `fanout` (it prints "delta payload bytes per delivery")
  int frames_per_send = 1;
  bool header_apart = false;
  // commits
  int writers = 8;
  int commit_inflight = 8;
  double seconds = 20;
  double scrape_hz = 0;  // commits: /metrics scrapes per second during the window
  double warmup_s = 1;
  int ceiling_batch = 100;
  int ceiling_commit_batch = 32;
  double ceiling_seconds = 3;
  std::string ceiling_dir;
  // idle
  int connections = 5000;
  double settle_s = 3;
  // source
  std::string source_mode = "endpoint";
  std::string endpoint_db = "sqlite";  // the reference endpoint's backing
  int poll_interval_ms = 100;  // the smallest the server accepts
  int64_t sequential_commits = 200;
  int64_t external_writes = 200;
  int external_gap_ms = 20;
};

// "0,2-3" -> {0,2,3}
std::vector<int> parse_cpu_list(const std::string& text) {
  std::vector<int> cpus;
  std::stringstream in(text);
  std::string part;
  while (std::getline(in, part, ',')) {
    if (part.empty()) continue;
    const auto dash = part.find('-');
    const int first = std::stoi(part.substr(0, dash));
    const int last = dash == std::string::npos ? first : std::stoi(part.substr(dash + 1));
    for (int c = first; c <= last; ++c) cpus.push_back(c);
  }
  return cpus;
}

bool set_affinity(pid_t tid, const std::vector<int>& cpus) {
  cpu_set_t set;
  CPU_ZERO(&set);
  for (int c : cpus) CPU_SET(c, &set);
  return sched_setaffinity(tid, sizeof set, &set) == 0;
}

// Every thread of the server, including ones it started before we got here; threads it starts
// later inherit the mask from their parent thread.
void pin_process(pid_t pid, const std::vector<int>& cpus) {
  std::error_code ec;
  for (const auto& task : std::filesystem::directory_iterator("/proc/" + std::to_string(pid) + "/task", ec)) {
    const pid_t tid = std::stoi(task.path().filename().string());
    if (!set_affinity(tid, cpus)) std::fprintf(stderr, "warning: could not pin server thread %d\n", tid);
  }
}

// ---------------------------------------------------------------------------------------------
// CPU and memory accounting

// The summed utime+stime of several processes (the nodes of a cluster); nullopt if one is gone.
std::optional<double> processes_cpu_seconds(const std::vector<pid_t>& pids) {
  if (pids.empty()) return std::nullopt;
  double total = 0;
  for (pid_t pid : pids) {
    auto seconds = process_cpu_seconds(pid);
    if (!seconds) return std::nullopt;
    total += *seconds;
  }
  return total;
}

// Every live thread of several processes (the nodes of a cluster), by thread id.
std::map<pid_t, ThreadCpu> processes_threads_cpu_seconds(const std::vector<pid_t>& pids) {
  std::map<pid_t, ThreadCpu> threads;
  for (pid_t pid : pids) threads.merge(threads_cpu_seconds(pid));
  return threads;
}

// A measured window: wall time, server CPU (all nodes) and generator CPU between begin() and
// end().
struct Window {
  std::vector<pid_t> server_pids;
  Clock::time_point started, ended;
  std::optional<double> server_cpu_begin, server_cpu_end;
  OwnCpu own_cpu_begin, own_cpu_end;

  std::map<pid_t, ThreadCpu> threads_begin, threads_end;  // every server thread, by thread id
  pid_t database_root = 0;  // the private PostgreSQL's postmaster (0: none of ours)
  double database_cpu_begin = 0, database_cpu_end = 0;

  void begin() {
    started = Clock::now();
    own_cpu_begin = own_cpu_seconds();
    server_cpu_begin = processes_cpu_seconds(server_pids);
    threads_begin = processes_threads_cpu_seconds(server_pids);
    if (database_root) database_cpu_begin = ablo::bench::process_tree_cpu_seconds(database_root);
  }
  void end() {
    ended = Clock::now();
    own_cpu_end = own_cpu_seconds();
    server_cpu_end = processes_cpu_seconds(server_pids);
    threads_end = processes_threads_cpu_seconds(server_pids);
    if (database_root) database_cpu_end = ablo::bench::process_tree_cpu_seconds(database_root);
  }
  // PostgreSQL's CPU in the window (every process of the private server), when we started it.
  std::optional<double> database_cpu() const {
    if (!database_root) return std::nullopt;
    return database_cpu_end - database_cpu_begin;
  }
  // The server thread that used the most CPU in the window (with one writer thread per node, a
  // commit load is bound by it once it nears one core).
  std::optional<ThreadCpu> busiest_server_thread() const {
    std::optional<ThreadCpu> busiest;
    for (const auto& [tid, end_cpu] : threads_end) {
      auto begin_cpu = threads_begin.find(tid);
      const double used = end_cpu.seconds - (begin_cpu == threads_begin.end() ? 0 : begin_cpu->second.seconds);
      if (!busiest || used > busiest->seconds) busiest = ThreadCpu{end_cpu.name, used};
    }
    return busiest;
  }
  double wall() const { return std::chrono::duration<double>(ended - started).count(); }
  std::optional<double> server_cpu() const {
    if (!server_cpu_begin || !server_cpu_end) return std::nullopt;
    return *server_cpu_end - *server_cpu_begin;
  }
  double own_cpu() const { return own_cpu_end.total() - own_cpu_begin.total(); }
  double own_system_cpu() const { return own_cpu_end.system - own_cpu_begin.system; }
};

// Prints the CPU lines of a window; true when the generator was saturated.
// `cores`: what the generator could use — its threads, or fewer when pinned to fewer CPUs.
bool report_cpu(const Window& window, int cores, double saturation) {
  const double wall = window.wall();
  const double own_share = wall > 0 ? window.own_cpu() / (wall * cores) : 0;
  if (auto server = window.server_cpu()) {
    std::printf("server CPU: %.2f s over %.2f s wall (%.0f%% of one core)\n", *server, wall, 100 * *server / wall);
    if (auto busiest = window.busiest_server_thread(); busiest && wall > 0) {
      std::printf("busiest server thread: %s, %.0f%% of one core\n", busiest->name.c_str(), 100 * busiest->seconds / wall);
    }
  } else {
    std::printf("server CPU: n/a (pass --server-pid for a server this program did not start)\n");
  }
  std::printf("generator CPU: %.2f s (%.2f s in the kernel) over %.2f s wall on %d core(s) = %.0f%% of its capacity "
              "(limit %.0f%%)\n",
              window.own_cpu(), window.own_system_cpu(), wall, cores, 100 * own_share, 100 * saturation);
  if (own_share > saturation) {
    std::printf("SATURATED: the generator was busy for more than %.0f%% of its capacity; the figures above measure "
                "the generator, not the server: do not report them (give it more --threads or its own "
                "--load-cpus).\n",
                100 * saturation);
    return true;
  }
  return false;
}

// ---------------------------------------------------------------------------------------------
// Latencies

void print_latencies(const char* what, Latencies& all) {
  std::sort(all.begin(), all.end());
  std::printf("%s ms: p50=%.2f p99=%.2f max=%.2f (%zu samples)\n", what, percentile_ms(all, 0.50),
              percentile_ms(all, 0.99), all.empty() ? 0.0 : all.back() / 1000.0, all.size());
}

// ---------------------------------------------------------------------------------------------
// Lanes: one io_context and the one thread that runs it

// Counters are written by one lane thread and read by the main thread while it polls, hence
// atomics with relaxed order (a single uncontended writer: no lock, no cache-line ping-pong
// across writers). Latency vectors are read only after the lane thread has been joined.
struct LaneStats {
  std::atomic<int64_t> connected{0}, synced{0}, failed{0};
  std::atomic<int64_t> deliveries{0};        // deltas received by subscribers
  std::atomic<int64_t> delta_bytes{0};       // their frames' payload bytes (the floor copies the size)
  std::atomic<int64_t> echo_deliveries{0};   // deltas received by writer sockets
  std::atomic<int64_t> sent{0}, acked{0}, rejected{0};
  std::atomic<int64_t> acked_in_window{0};
  Latencies delivery_us;
  Latencies ack_us;
  // `source` only: its later measurements reuse the same subscriber.
  Latencies sequential_delivery_us;
  Latencies external_delivery_us;
};

// What a subscriber's deliveries measure right now: `source` runs three measurements over the
// same sockets one after another, and keeps their latencies apart.
enum class Measuring { commits, sequential_commits, external_writes };
std::atomic<Measuring> g_measuring{Measuring::commits};

Latencies& delivery_list(LaneStats& stats) {
  switch (g_measuring.load(std::memory_order_relaxed)) {
    case Measuring::sequential_commits: return stats.sequential_delivery_us;
    case Measuring::external_writes: return stats.external_delivery_us;
    case Measuring::commits: break;
  }
  return stats.delivery_us;
}

struct Lane {
  asio::io_context io{1};  // concurrency hint 1: one thread runs it, Asio may skip its locking
  asio::executor_work_guard<asio::io_context::executor_type> work = asio::make_work_guard(io);
  LaneStats stats;
  std::thread thread;
};

// 0: warm-up (acks not counted), 1: measuring, 2: draining (no new commits).
std::atomic<int> g_phase{0};

struct Target {
  tcp::endpoint server;
  std::string ws_path;  // /api/sync/ws?cursor=&syncGroups=...
  std::string host_header;
};

// ---------------------------------------------------------------------------------------------
// Frame scanning: the server's frames are JSON objects it serializes itself; the generator
// only needs the type, the send times of the rows and a commit's id. A full JSON parse costs
// ~1 us per frame; at 10 million deliveries that would be the generator's bottleneck, so we
// scan for the few keys instead.

bool has(std::string_view frame, std::string_view needle) { return frame.find(needle) != std::string_view::npos; }

// A frame's "type". The server writes it first ({"type":"delta",…}), so that is looked at before
// searching the frame: a search costs ~0.5 µs on a delta of ~700 bytes.
std::string_view frame_type(std::string_view frame) {
  static constexpr std::string_view kKey = "\"type\":\"";
  std::size_t at = frame.starts_with("{") && frame.substr(1).starts_with(kKey) ? 1 : frame.find(kKey);
  if (at == std::string_view::npos) return {};
  at += kKey.size();
  const auto end = frame.find('"', at);
  return end == std::string_view::npos ? std::string_view() : frame.substr(at, end - at);
}

// Calls fn(sentAt) for every row in a delta frame (one delta or a batch).
template <class Fn>
int for_each_sent_at(std::string_view frame, Fn&& fn) {
  static constexpr std::string_view kKey = "\"sentAt\":";
  // Horspool skips up to the key's length per step; find() stops at every '"' of the frame.
  static const std::boyer_moore_horspool_searcher search(kKey.begin(), kKey.end());
  int count = 0;
  for (auto from = frame.begin();;) {
    const auto found = std::search(from, frame.end(), search);
    if (found == frame.end()) break;
    const auto at = static_cast<std::size_t>(found - frame.begin()) + kKey.size();
    double value = 0;  // Boost.JSON writes a number it read as a double: 2.5e10 style is possible
    const auto [end, ec] = std::from_chars(frame.data() + at, frame.data() + frame.size(), value);
    if (ec == std::errc()) {
      fn(static_cast<int64_t>(value));
      ++count;
    }
    from = frame.begin() + (end - frame.data());
  }
  return count;
}

// The sequence number at the end of our clientTxId "<run>-w<writer>-<seq>".
std::optional<int64_t> commit_sequence(std::string_view frame) {
  static constexpr std::string_view kKey = "\"clientTxId\":\"";
  const auto at = frame.find(kKey);
  if (at == std::string_view::npos) return std::nullopt;
  const auto end = frame.find('"', at + kKey.size());
  const auto id = frame.substr(at + kKey.size(), end - at - kKey.size());
  const auto dash = id.rfind('-');
  if (dash == std::string_view::npos) return std::nullopt;
  int64_t seq = 0;
  if (std::from_chars(id.data() + dash + 1, id.data() + id.size(), seq).ec != std::errc()) return std::nullopt;
  return seq;
}

// ---------------------------------------------------------------------------------------------
// One WebSocket

enum class Role { subscriber, writer, idle };

class LoadSocket : public std::enable_shared_from_this<LoadSocket> {
 public:
  LoadSocket(Lane& lane, const Target& target, std::string token, Role role, asio::ip::address source)
      : lane_(lane), target_(target), socket_(lane.io), token_(std::move(token)), role_(role), source_(source) {}

  // Writers only: commits to make (-1: until the phase says drain) and how many in flight.
  void configure_writer(std::string id_prefix, int64_t budget, int inflight) {
    id_prefix_ = std::move(id_prefix);
    budget_ = budget;
    inflight_ = inflight;
  }

  // On the lane thread: connect from our source address, upgrade, sync.
  void start() {
    boost::system::error_code ec;
    socket_.open(tcp::v4(), ec);
    // IP_BIND_ADDRESS_NO_PORT: pick the port at connect time, so ports are only unique per
    // (source, destination) and 127.0.0.x sources multiply the ~28,000 ephemeral ports.
    if (!ec) {
      int one = 1;
      setsockopt(socket_.native_handle(), IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof one);
      socket_.bind(tcp::endpoint(source_, 0), ec);
    }
    if (ec) return fail("bind", ec);
    socket_.async_connect(target_.server, [self = shared_from_this()](boost::system::error_code ec) {
      if (ec) return self->fail("connect", ec);
      self->socket_.set_option(tcp::no_delay(true), ec);
      self->queue_bytes(ablo::bench::ws::upgrade_request(self->target_.host_header, self->target_.ws_path,
                                                         "ablo.bearer." + self->token_ + ", ablo.sync.v1"));
      self->read();
    });
  }

  // From any thread: the writer's first `inflight` commits, sent on its lane.
  void post_start_writing() {
    asio::post(lane_.io, [self = shared_from_this()] {
      for (int k = 0; k < self->inflight_ && self->can_send(); ++k) self->send_commit();
    });
  }

 private:
  using Opcode = ablo::bench::ws::Opcode;

  // One read in flight per socket, into the socket's own small buffer. (A lane-wide buffer
  // would need readiness waits, and every Asio wait re-arms the socket with an epoll_ctl.)
  void read() {
    socket_.async_read_some(asio::buffer(read_buffer_.get(), kReadBuffer),
                            [self = shared_from_this()](boost::system::error_code ec, std::size_t got) {
                              if (ec) {
                                if (!self->closed_) self->fail("read", ec);
                                return;
                              }
                              if (self->received(std::string_view(self->read_buffer_.get(), got))) self->read();
                            });
  }

  bool received(std::string_view bytes) {
    if (upgraded_) return feed(bytes);
    upgrade_reply_.append(bytes);
    const auto reply = ablo::bench::ws::parse_upgrade_reply(upgrade_reply_);
    if (reply.state == ablo::bench::ws::UpgradeReply::State::incomplete) return true;
    if (reply.state == ablo::bench::ws::UpgradeReply::State::refused) {
      fail("upgrade", asio::error::connection_refused);
      return false;
    }
    upgraded_ = true;
    lane_.stats.connected.fetch_add(1, std::memory_order_relaxed);
    // Writers sync too: the sync_request is what tells the server the socket speaks the 0.9.1
    // dialect, and until then it holds every answer (net/dialect_outbox.h). So writers also
    // receive the live deltas of their group (counted as echoes), as a real client would.
    send(ablo::bench::sync_request());
    const std::string frames = std::exchange(upgrade_reply_, std::string()).substr(reply.size);
    return feed(frames);  // what came with the answer's head
  }

  bool feed(std::string_view bytes) {
    const bool valid = reader_.feed(bytes, [this](Opcode opcode, std::string_view payload) {
      switch (opcode) {
        case Opcode::text: on_frame(payload); break;
        case Opcode::ping: queue_frame(Opcode::pong, payload); break;
        case Opcode::close: fail("read", asio::error::eof); break;  // the server closed: a failure in any phase
        default: break;
      }
    });
    if (!valid) fail("read", asio::error::invalid_argument);
    return valid && !closed_;
  }

  void on_frame(std::string_view frame) {
    auto& stats = lane_.stats;
    const std::string_view type = frame_type(frame);
    if (type == "delta") {
      if (role_ != Role::subscriber) {
        stats.echo_deliveries.fetch_add(for_each_sent_at(frame, [](int64_t) {}), std::memory_order_relaxed);
        return;
      }
      const int64_t arrived = now_us();
      Latencies& latencies = delivery_list(stats);
      const int rows = for_each_sent_at(frame, [&](int64_t sent) {
        latencies.push_back(static_cast<uint32_t>(std::max<int64_t>(0, arrived - sent)));
      });
      stats.deliveries.fetch_add(rows, std::memory_order_relaxed);
      stats.delta_bytes.fetch_add(static_cast<int64_t>(frame.size()), std::memory_order_relaxed);
    } else if (type == "mutation_result") {
      on_result(frame);
    } else if (!synced_ && type == "sync_response") {
      synced_ = true;
      stats.synced.fetch_add(1, std::memory_order_relaxed);
    }
  }

  void on_result(std::string_view frame) {
    auto& stats = lane_.stats;
    const int64_t arrived = now_us();
    const bool ok = has(frame, "\"success\":true");
    (ok ? stats.acked : stats.rejected).fetch_add(1, std::memory_order_relaxed);
    if (ok && g_phase.load(std::memory_order_relaxed) == 1) {
      stats.acked_in_window.fetch_add(1, std::memory_order_relaxed);
      if (auto seq = commit_sequence(frame); seq && *seq >= 0 && *seq < static_cast<int64_t>(sent_at_.size())) {
        stats.ack_us.push_back(static_cast<uint32_t>(std::max<int64_t>(0, arrived - sent_at_[*seq])));
      }
    }
    if (can_send()) send_commit();
  }

  bool can_send() const {
    if (budget_ >= 0) return static_cast<int64_t>(sent_at_.size()) < budget_;
    return g_phase.load(std::memory_order_relaxed) < 2;
  }

  void send_commit() {
    const int64_t seq = static_cast<int64_t>(sent_at_.size());
    const std::string id = id_prefix_ + std::to_string(seq);
    const int64_t sent = now_us();
    sent_at_.push_back(sent);
    lane_.stats.sent.fetch_add(1, std::memory_order_relaxed);
    std::string frame;
    frame.reserve(256);
    frame += R"({"type":"commit","payload":{"clientTxId":")";
    frame += id;
    frame += R"(","operations":[{"type":"CREATE","model":"items","id":")";
    frame += id;
    frame += R"(","input":{"title":"load","n":)";
    frame += std::to_string(seq);
    frame += R"(,"sentAt":)";
    frame += std::to_string(sent);
    frame += R"(},"transactionId":"tx_)";
    frame += id;
    frame += R"("}]}})";
    send(frame);
  }

  void send(std::string_view text) { queue_frame(Opcode::text, text); }

  void queue_frame(Opcode opcode, std::string_view payload) {
    std::string frame;
    frame.reserve(payload.size() + 14);
    ablo::bench::ws::append_client_frame(frame, opcode, payload, next_mask_key());
    queue_bytes(std::move(frame));
  }

  // One write in flight per socket; later frames wait in the outbox, which is bounded by the
  // writer's in-flight count (subscribers write once, plus a pong per ping).
  void queue_bytes(std::string bytes) {
    outbox_.push_back(std::move(bytes));
    if (outbox_.size() == 1) write_next();
  }

  void write_next() {
    asio::async_write(socket_, asio::buffer(outbox_.front()),
                      [self = shared_from_this()](boost::system::error_code ec, std::size_t) {
                        if (ec) return self->fail("write", ec);
                        self->outbox_.pop_front();
                        if (!self->outbox_.empty()) self->write_next();
                      });
  }

  // RFC 6455 wants client masks unpredictable to third parties (against proxy cache poisoning);
  // on loopback to our own server a per-socket xorshift is enough.
  uint32_t next_mask_key() {
    mask_state_ ^= mask_state_ << 13;
    mask_state_ ^= mask_state_ >> 17;
    mask_state_ ^= mask_state_ << 5;
    return mask_state_;
  }

  void fail(const char* step, boost::system::error_code ec) {
    if (closed_) return;
    closed_ = true;
    lane_.stats.failed.fetch_add(1, std::memory_order_relaxed);
    static std::atomic<int> reported{0};
    if (reported.fetch_add(1) < 5) std::fprintf(stderr, "socket failed at %s: %s\n", step, ec.message().c_str());
  }

  static constexpr std::size_t kMaxMessage = 64 << 20;
  static constexpr std::size_t kReadBuffer = 4096;  // a delta frame is ~0.7 KiB; more takes several reads

  Lane& lane_;
  const Target& target_;
  tcp::socket socket_;
  std::string token_;
  Role role_;
  asio::ip::address source_;
  std::unique_ptr<char[]> read_buffer_ = std::make_unique<char[]>(kReadBuffer);
  bool upgraded_ = false;
  std::string upgrade_reply_;  // the upgrade's answer until its head is complete
  ablo::bench::ws::MessageReader reader_{kMaxMessage};
  std::deque<std::string> outbox_;
  uint32_t mask_state_ = 0x9E3779B9u ^ static_cast<uint32_t>(reinterpret_cast<uintptr_t>(this));
  bool synced_ = false;
  bool closed_ = false;
  // writer state
  std::string id_prefix_;
  int64_t budget_ = 0;
  int inflight_ = 1;
  std::vector<int64_t> sent_at_;  // send time by sequence number
};

// ---------------------------------------------------------------------------------------------
// The run: server, credentials, lanes, sockets

// This process needs a descriptor per socket, and a server it starts inherits the limit (it
// needs one per socket too). Raising the hard limit needs CAP_SYS_RESOURCE (up to fs.nr_open).
// Returns the soft limit in force afterwards.
rlim_t raise_open_file_limit(rlim_t wanted) {
  rlimit limit{};
  getrlimit(RLIMIT_NOFILE, &limit);
  if (limit.rlim_cur >= wanted) return limit.rlim_cur;
  rlimit raised{wanted, std::max(wanted, limit.rlim_max)};
  if (setrlimit(RLIMIT_NOFILE, &raised) == 0) return wanted;
  raised = {limit.rlim_max, limit.rlim_max};
  setrlimit(RLIMIT_NOFILE, &raised);
  return limit.rlim_max;
}

class Run {
 public:
  explicit Run(Options options) : options_(std::move(options)) {}
  ~Run() {
    stop_lanes();  // before the lanes (and then the server) are destroyed
    ablo::bench::stop_floor_server(floor_pid_);
  }
  Run(const Run&) = delete;
  Run& operator=(const Run&) = delete;

  // Starts (or finds) the server, exchanges tokens, starts the lanes. `sockets` sizes the
  // open-file limit and the server's --max-connections.
  void setup(int sockets) {
    // Descriptors beyond the sockets: the server's store, listener and logs; our /proc reads.
    constexpr int kSpareDescriptors = 256;
    const rlim_t limit = raise_open_file_limit(static_cast<rlim_t>(sockets + kSpareDescriptors));
    if (static_cast<rlim_t>(sockets + kSpareDescriptors) > limit) {
      throw std::runtime_error("the open-file limit is " + std::to_string(limit) +
                               " and cannot be raised here (a hard limit; raising it needs CAP_SYS_RESOURCE): at most " +
                               std::to_string(static_cast<long long>(limit) - kSpareDescriptors) + " sockets");
    }
    if (options_.floor) {
      start_floor();
    } else if (options_.url.empty()) {
      start_server(sockets);
    } else {
      attach_server();
    }
    window_.server_pids = server_pids_;
    if (postgres_) window_.database_root = postgres_->postmaster_pid();
    if (!options_.server_cpus.empty()) {
      if (server_pids_.empty()) throw std::runtime_error("--server-cpus needs a server pid (--server-pid)");
      for (pid_t pid : server_pids_) pin_process(pid, parse_cpu_list(options_.server_cpus));
    }
    // Pinned after the server was forked, so it does not inherit the generator's cores.
    if (!options_.load_cpus.empty() && !set_affinity(0, parse_cpu_list(options_.load_cpus))) {
      throw std::runtime_error("could not pin the generator to --load-cpus " + options_.load_cpus);
    }
    lanes_.reserve(static_cast<std::size_t>(options_.threads));
    for (int t = 0; t < options_.threads; ++t) lanes_.push_back(std::make_unique<Lane>());
    for (auto& lane : lanes_) lane->thread = std::thread([l = lane.get()] { l->io.run(); });
    int ips = options_.source_ips > 0 ? options_.source_ips : std::max(1, (sockets + 24999) / 25000);
    for (int i = 0; i < ips; ++i) {
      sources_.push_back(asio::ip::make_address_v4(asio::ip::address_v4::uint_type{0x7F000001u + static_cast<uint32_t>(i)}));
    }
  }

  // Opens `count` sockets of `role`, at most --connect-window handshakes at a time, and waits
  // until all are ready (synced) or failed. Returns the sockets.
  std::vector<std::shared_ptr<LoadSocket>> open(int count, Role role) {
    std::vector<std::shared_ptr<LoadSocket>> sockets;
    const int64_t base = ready() + failed();
    const auto deadline = Clock::now() + std::chrono::seconds(options_.timeout_s);
    for (int i = 0; i < count; ++i) {
      while (i - (ready() + failed() - base) >= options_.connect_window && Clock::now() < deadline) {
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
      }
      Lane& lane = *lanes_[static_cast<std::size_t>(next_lane_++ % lanes_.size())];
      // Sockets are spread round-robin over the nodes of a cluster.
      const Target& target = targets_[static_cast<std::size_t>(opened_total_) % targets_.size()];
      auto socket = std::make_shared<LoadSocket>(lane, target, token_for(opened_total_), role,
                                                 sources_[static_cast<std::size_t>(opened_total_) % sources_.size()]);
      asio::post(lane.io, [socket] { socket->start(); });
      sockets.push_back(std::move(socket));
      ++opened_total_;
    }
    while (ready() + failed() - base < count && Clock::now() < deadline) {
      std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }
    return sockets;
  }

  // Stops every lane and joins its thread: afterwards the lanes' vectors may be read.
  void stop_lanes() {
    for (auto& lane : lanes_) lane->io.stop();
    for (auto& lane : lanes_) {
      if (lane->thread.joinable()) lane->thread.join();
    }
  }

  int64_t sum(std::atomic<int64_t> LaneStats::*counter) const {
    int64_t total = 0;
    for (const auto& lane : lanes_) total += (lane->stats.*counter).load(std::memory_order_relaxed);
    return total;
  }
  Latencies gather(Latencies LaneStats::*samples) const {
    Latencies all;
    for (const auto& lane : lanes_) all.insert(all.end(), (lane->stats.*samples).begin(), (lane->stats.*samples).end());
    return all;
  }
  int64_t ready() const { return sum(&LaneStats::synced); }
  // Exchanges the tokens `sockets` sockets will use now, so no exchange runs while measuring.
  void prepare_tokens(int sockets) {
    if (sockets > 0) token_for(sockets - 1);
  }
  int64_t failed() const { return sum(&LaneStats::failed); }

  int generator_cores() const {
    if (options_.load_cpus.empty()) return options_.threads;
    return std::min(options_.threads, static_cast<int>(parse_cpu_list(options_.load_cpus).size()));
  }
  Options& options() { return options_; }
  Window& window() { return window_; }
  bool knows_server() const { return !server_pids_.empty(); }
  // VmRSS of the server (summed over the nodes); 0 when one is unreadable.
  int64_t server_rss_kib() const {
    int64_t total = 0;
    for (pid_t pid : server_pids_) {
      const int64_t kib = ablo::testing::resident_kib(pid);
      if (kib == 0) return 0;
      total += kib;
    }
    return total;
  }
  const std::string& data_dir() const { return data_dir_; }
  const std::string& api_key() const { return key_; }
  const std::string& host() const { return host_; }
  uint16_t port() const { return port_; }
  std::string run_tag() const { return run_tag_; }
  void describe() const {
    std::string pids;
    for (pid_t pid : server_pids_) pids += (pids.empty() ? "" : ",") + std::to_string(pid);
    std::printf("server: %s store=%s nodes=%zu pid=%s%s%s; generator: %d thread(s)%s%s\n",
                options_.url.empty() ? "started" : options_.url.c_str(), options_.url.empty() ? options_.store.c_str() : "?",
                targets_.size(), pids.empty() ? "?" : pids.c_str(),
                options_.server_cpus.empty() ? "" : " cpus=", options_.server_cpus.c_str(), options_.threads,
                options_.load_cpus.empty() ? "" : " cpus=", options_.load_cpus.c_str());
  }

 private:
  void start_server(int sockets) {
    setenv("ABLO_BIN", options_.server_bin.c_str(), 1);
    std::vector<std::string> args = options_.server_args;
    // The server refuses sockets beyond --max-connections (default 10,000) with 503.
    if (sockets + 100 > 10'000) args.insert(args.end(), {"--max-connections", std::to_string(sockets + 100)});
    if (options_.store == "postgres" && options_.database_url.empty()) {
      postgres_ = std::make_unique<ablo::testing::PrivatePostgres>(/*durable=*/true);
      options_.database_url = postgres_->url();
    } else if (options_.store != "postgres" && options_.store != "sqlite") {
      throw std::runtime_error("--store is sqlite or postgres");
    }
    if (options_.nodes > 1 && options_.store != "postgres") throw std::runtime_error("--nodes needs --store postgres");
    for (int n = 0; n < options_.nodes; ++n) {
      servers_.push_back(std::make_unique<ablo::testing::ServerProcess>(
          ablo::bench::kItemsSchema, options_.store == "postgres" ? options_.database_url : "", args));
      server_pids_.push_back(servers_.back()->pid());
    }
    data_dir_ = servers_.front()->data_dir();
    host_ = "127.0.0.1";
    port_ = servers_.front()->port();
    key_ = servers_.front()->api_key();
    std::vector<uint16_t> ports;
    for (const auto& server : servers_) ports.push_back(server->port());
    finish_targets(ports);
  }

  // The stand-in server of `floor`: forked before any thread starts; it checks no token.
  void start_floor() {
    const auto stand_in = ablo::bench::fork_floor_server(
        {options_.subscribers, options_.frame_bytes, options_.frames_per_send, options_.header_apart});
    floor_pid_ = stand_in.pid;
    server_pids_.push_back(stand_in.pid);
    host_ = "127.0.0.1";
    port_ = stand_in.port;
    tokens_.emplace_back("floor");
    Target target;
    target.server = tcp::endpoint(asio::ip::make_address_v4(host_), port_);
    target.host_header = host_ + ":" + std::to_string(port_);
    target.ws_path = "/floor";
    targets_.push_back(std::move(target));
    run_tag_ = "floor" + std::to_string(getpid());
  }

  void attach_server() {
    std::string rest = options_.url;
    if (auto scheme = rest.find("://"); scheme != std::string::npos) rest = rest.substr(scheme + 3);
    rest = rest.substr(0, rest.find('/'));
    const auto colon = rest.rfind(':');
    host_ = rest.substr(0, colon);
    port_ = colon == std::string::npos ? 80 : static_cast<uint16_t>(std::stoi(rest.substr(colon + 1)));
    key_ = options_.key;
    if (key_.empty()) throw std::runtime_error("--url needs --key (a secret API key of that server)");
    if (options_.server_pid > 0) server_pids_.push_back(options_.server_pid);
    finish_targets({port_});
  }

  // One target per node; tokens are exchanged at the first node and valid on all of them (the
  // nodes share the database).
  void finish_targets(const std::vector<uint16_t>& ports) {
    auto first = exchange();
    std::string ws_path = "/api/sync/ws?cursor=";
    for (const auto& group : first.at("scope").at("syncGroups").as_array()) {
      ws_path += "&syncGroups=" + ablo::testing::url_encode(group.as_string());
    }
    tokens_.emplace_back(first.at("token").as_string());
    asio::io_context resolver_io;
    tcp::resolver resolver(resolver_io);
    for (uint16_t port : ports) {
      Target target;
      target.server = *resolver.resolve(host_, std::to_string(port), tcp::resolver::numeric_service).begin();
      target.host_header = host_ + ":" + std::to_string(port);
      target.ws_path = ws_path;
      targets_.push_back(std::move(target));  // complete before any socket refers to it
    }
    run_tag_ = "r" + std::to_string(getpid()) + "x" + std::to_string(now_us() % 1000000007);
  }

  // POST /api/auth/capability as the 0.9.1 quickstart does.
  json::object exchange() const {
    auto response = ablo::client::http_request(host_, port_, "POST", "/api/auth/capability",
                                               R"({"participantKind":"system","wideScope":true,"ttlSeconds":3600})",
                                               {{"Authorization", "Bearer " + key_}});
    if (!response || response->status != 200) {
      throw std::runtime_error("token exchange failed: " + (response ? response->body : response.error().message));
    }
    return json::parse(response->body).as_object();
  }

  // One capability per --per-token sockets: the server caps sockets per credential.
  const std::string& token_for(int64_t socket_index) {
    if (options_.floor) return tokens_.front();
    const auto wanted = static_cast<std::size_t>(socket_index / options_.per_token);
    while (tokens_.size() <= wanted) tokens_.emplace_back(exchange().at("token").as_string());
    return tokens_[wanted];
  }

  Options options_;
  std::unique_ptr<ablo::testing::PrivatePostgres> postgres_;
  std::vector<std::unique_ptr<ablo::testing::ServerProcess>> servers_;
  std::vector<pid_t> server_pids_;
  pid_t floor_pid_ = 0;
  std::string data_dir_;
  std::string host_, key_, run_tag_;
  uint16_t port_ = 0;
  std::vector<Target> targets_;  // one per node; sockets hold references, so filled once
  std::vector<std::string> tokens_;
  std::vector<std::unique_ptr<Lane>> lanes_;
  std::vector<asio::ip::address> sources_;
  Window window_;
  int64_t opened_total_ = 0;
  std::size_t next_lane_ = 0;
};

bool all_ready(Run& run, int count, const char* what) {
  const int64_t failed = run.failed();
  std::printf("%s: %lld of %d ready, %lld failed\n", what, static_cast<long long>(run.ready()), count,
              static_cast<long long>(failed));
  return failed == 0;
}

// Waits until `done` or the timeout; true if done.
template <class Done>
bool wait_until(Done&& done, std::chrono::seconds timeout) {
  const auto deadline = Clock::now() + timeout;
  while (!done()) {
    if (Clock::now() >= deadline) return false;
    // 5 ms: a window of seconds ends at most 5 ms late, and the main thread's wake-ups stay
    // well under 1% of the generator's CPU.
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return true;
}

// ---------------------------------------------------------------------------------------------
// fanout

int run_fanout(Options options) {
  Run run(std::move(options));
  auto& o = run.options();
  run.setup(o.subscribers + 1);
  run.describe();
  auto subscribers = run.open(o.subscribers, Role::subscriber);
  if (!all_ready(run, o.subscribers, "subscribers")) return 1;
  auto writers = run.open(1, Role::writer);
  if (!all_ready(run, o.subscribers + 1, "subscribers + writer")) return 1;
  writers.front()->configure_writer(run.run_tag() + "-w0-", o.writes, o.inflight);

  const int64_t expected = static_cast<int64_t>(o.subscribers) * o.writes;
  std::this_thread::sleep_for(std::chrono::milliseconds(300));  // the server settles after the connect storm
  g_phase = 1;
  run.window().begin();
  // The writer's socket lives on lane 0 (it was opened last, round-robin): post its start there.
  writers.front()->post_start_writing();
  const bool complete = wait_until(
      [&] {
        return run.sum(&LaneStats::acked) + run.sum(&LaneStats::rejected) >= o.writes &&
               run.sum(&LaneStats::deliveries) >= expected;
      },
      std::chrono::seconds(o.timeout_s));
  run.window().end();
  g_phase = 2;
  run.stop_lanes();

  const int64_t delivered = run.sum(&LaneStats::deliveries);
  std::printf("%s: %d subscribers, %lld writes (%d in flight)%s\n", o.floor ? "floor" : "fanout", o.subscribers,
              static_cast<long long>(o.writes), o.inflight, complete ? "" : " -- TIMED OUT");
  if (o.floor) {
    std::printf("floor server: one %s of %d pre-encoded frame(s) of %d payload bytes per subscriber per %d write(s)\n",
                o.header_apart ? "sendmsg (header and payload apart)" : "send()", o.frames_per_send, o.frame_bytes,
                o.frames_per_send);
  }
  std::printf("writes acked=%lld rejected=%lld\n", static_cast<long long>(run.sum(&LaneStats::acked)),
              static_cast<long long>(run.sum(&LaneStats::rejected)));
  std::printf("deliveries=%lld of %lld expected", static_cast<long long>(delivered), static_cast<long long>(expected));
  if (delivered < expected) std::printf(" -- SHORT by %lld", static_cast<long long>(expected - delivered));
  std::printf(" (+%lld echoes to the writer)\n", static_cast<long long>(run.sum(&LaneStats::echo_deliveries)));
  if (delivered > 0) {
    std::printf("delta payload bytes per delivery: %.0f\n",
                static_cast<double>(run.sum(&LaneStats::delta_bytes)) / static_cast<double>(delivered));
  }
  auto latencies = run.gather(&LaneStats::delivery_us);
  print_latencies("write -> delivered latency", latencies);
  if (auto server = run.window().server_cpu(); server && delivered > 0) {
    std::printf("server CPU per delivered delta: %.2f us\n", *server * 1e6 / static_cast<double>(delivered));
  }
  if (delivered > 0) {
    // Every delivery costs the generator at least one recv (each subscriber is its own socket),
    // so reading one write's N deliveries takes N x this / cores: a floor under the
    // write -> delivered latency this machine can show, whatever the server does.
    const double per_delivery_us = run.window().own_cpu() * 1e6 / static_cast<double>(delivered);
    std::printf("generator CPU per delivery: %.2f us -> reading one write's %d deliveries takes ~%.2f ms on %d core(s)\n",
                per_delivery_us, o.subscribers, per_delivery_us * o.subscribers / 1000.0 / run.generator_cores(),
                run.generator_cores());
  }
  const bool saturated = report_cpu(run.window(), run.generator_cores(), o.saturation);
  if (saturated) return kExitSaturated;
  return complete && delivered == expected && run.sum(&LaneStats::rejected) == 0 ? 0 : 1;
}


// ---------------------------------------------------------------------------------------------
// commits

// Every writer keeps --inflight commits outstanding through the warm-up and the measured window
// (acks counted only inside it), then stops sending; true when every commit sent was answered
// within 30 s. `around_window(true/false)` runs as the window opens and closes.
bool drive_commits(Run& run, const std::vector<std::shared_ptr<LoadSocket>>& writers,
                   const std::function<void(bool opening)>& around_window = {}) {
  auto& o = run.options();
  for (std::size_t i = 0; i < writers.size(); ++i) {
    writers[i]->configure_writer(run.run_tag() + "-w" + std::to_string(i) + "-", /*budget=*/-1, o.commit_inflight);
  }
  g_phase = 0;
  for (auto& w : writers) w->post_start_writing();
  std::this_thread::sleep_for(std::chrono::duration<double>(o.warmup_s));
  g_phase = 1;
  if (around_window) around_window(true);
  run.window().begin();
  std::this_thread::sleep_for(std::chrono::duration<double>(o.seconds));
  run.window().end();
  if (around_window) around_window(false);
  g_phase = 2;
  return wait_until(
      [&] { return run.sum(&LaneStats::acked) + run.sum(&LaneStats::rejected) >= run.sum(&LaneStats::sent); },
      std::chrono::seconds(30));
}

int run_commits(Options options) {
  Run run(std::move(options));
  auto& o = run.options();
  run.setup(o.writers);
  run.describe();
  auto writers = run.open(o.writers, Role::writer);
  if (!all_ready(run, o.writers, "writers")) return 1;
  std::atomic<bool> scraping{false};
  Latencies scrapes;
  std::thread scraper;
  auto scrape_during_window = [&](bool opening) {
    if (!opening) {
      scraping = false;
      if (scraper.joinable()) scraper.join();
      return;
    }
    if (o.scrape_hz <= 0) return;
    scraping = true;
    scraper = std::thread([&] {
      const auto period = std::chrono::duration<double>(1.0 / o.scrape_hz);
      while (scraping.load()) {
        const auto started = Clock::now();
        auto text = ablo::client::http_request(run.host(), run.port(), "GET", "/metrics", {}, {});
        if (text && text->status == 200) {
          scrapes.push_back(static_cast<uint32_t>(
              std::chrono::duration_cast<std::chrono::microseconds>(Clock::now() - started).count()));
        }
        std::this_thread::sleep_until(started + std::chrono::duration_cast<Clock::duration>(period));
      }
    });
  };
  const bool drained = drive_commits(run, writers, scrape_during_window);
  run.stop_lanes();

  const int64_t confirmed = run.sum(&LaneStats::acked_in_window);
  const double wall = run.window().wall();
  const double rate = static_cast<double>(confirmed) / wall;
  std::printf("commits: %d writers x %d in flight = %d, %.1f s measured after %.1f s warm-up\n", o.writers,
              o.commit_inflight, o.writers * o.commit_inflight, wall, o.warmup_s);
  std::printf("confirmed commits in window=%lld -> %.0f commits/s; total sent=%lld acked=%lld rejected=%lld%s\n",
              static_cast<long long>(confirmed), rate, static_cast<long long>(run.sum(&LaneStats::sent)),
              static_cast<long long>(run.sum(&LaneStats::acked)), static_cast<long long>(run.sum(&LaneStats::rejected)),
              drained ? "" : " -- NOT DRAINED in 30 s");
  std::printf("echo deltas to the writers=%lld\n", static_cast<long long>(run.sum(&LaneStats::echo_deliveries)));
  auto acks = run.gather(&LaneStats::ack_us);
  print_latencies("commit -> ack latency", acks);
  if (o.scrape_hz > 0) print_latencies("GET /metrics latency", scrapes);
  if (auto server = run.window().server_cpu(); server && confirmed > 0) {
    std::printf("server CPU per confirmed commit: %.1f us\n", *server * 1e6 / static_cast<double>(confirmed));
    if (auto busiest = run.window().busiest_server_thread()) {
      std::printf("busiest server thread's CPU per confirmed commit: %.1f us (%s)\n",
                  busiest->seconds * 1e6 / static_cast<double>(confirmed), busiest->name.c_str());
    }
  }
  if (auto database = run.window().database_cpu(); database && confirmed > 0) {
    std::printf("PostgreSQL CPU per confirmed commit: %.1f us (all its processes: %.0f%% of one core)\n",
                *database * 1e6 / static_cast<double>(confirmed), 100 * *database / run.window().wall());
  }
  const bool saturated = report_cpu(run.window(), run.generator_cores(), o.saturation);

  if (o.store == "sqlite" || !o.ceiling_dir.empty()) {
    const std::string dir = !o.ceiling_dir.empty() ? o.ceiling_dir : !run.data_dir().empty() ? run.data_dir() : "/tmp";
    // The ceiling stands in for the server's writer thread: run it on the server's cores.
    if (!o.server_cpus.empty()) set_affinity(0, parse_cpu_list(o.server_cpus));
    for (int batch : {1, o.ceiling_batch}) {
      auto ceiling = ablo::bench::row_ceiling(dir, batch, batch == 1 ? std::min(1.0, o.ceiling_seconds) : o.ceiling_seconds);
      if (!ceiling) continue;
      std::printf("SQLite ceiling (WAL, synchronous=FULL, %d rows per transaction, in %s): %.0f rows/s", batch,
                  dir.c_str(), ceiling->per_second());
      if (batch == o.ceiling_batch && rate > 0) std::printf(" -> ceiling / ours = %.2fx", ceiling->per_second() / rate);
      std::printf("\n");
    }
    // The same for the rows one of our commits writes, copied from the server's own database.
    if (!run.data_dir().empty() && o.store == "sqlite") {
      for (bool full : {true, false}) {
        auto ceiling = ablo::bench::commit_shaped_ceiling(dir, run.data_dir() + "/ablo.db", o.ceiling_commit_batch,
                                                          o.ceiling_seconds, full);
        if (!ceiling) continue;
        std::printf("SQLite ceiling for our commits' rows (1 model row, 1 delta, 2 idempotency records, 1 audit row and "
                    "3 point reads per commit, the server's tables and row sizes; %d commits per transaction, "
                    "synchronous=%s): %.0f commits/s -> ceiling / ours = %.2fx\n",
                    o.ceiling_commit_batch, full ? "FULL" : "NORMAL, no fsync", ceiling->per_second(),
                    rate > 0 ? ceiling->per_second() / rate : 0.0);
      }
    }
  }
  if (saturated) return kExitSaturated;
  return drained && run.sum(&LaneStats::rejected) == 0 && confirmed > 0 ? 0 : 1;
}

// ---------------------------------------------------------------------------------------------
// source

// The customer's own table for `--mode database`, shaped as `ablo pull` would find it: the
// columns of kItemsSchema (camelCase fields become snake_case columns) plus the system ones.
constexpr const char* kCustomerItemsTable =
    "CREATE TABLE items (id text PRIMARY KEY, title text NOT NULL, n double precision, sent_at double precision, "
    "organization_id text, created_at timestamptz NOT NULL DEFAULT now(), "
    "updated_at timestamptz NOT NULL DEFAULT now(), archived_at timestamptz)";

// Writes rows straight into a source's database, as a cron job or psql would. One connection
// stays open, so a write's latency starts at its INSERT, not at a connection's setup.
class ExternalWriter {
 public:
  explicit ExternalWriter(const std::string& url) {
    constexpr std::string_view kSqlite = "sqlite:";
    if (url.starts_with(kSqlite)) {
      if (sqlite3_open(url.substr(kSqlite.size()).c_str(), &sqlite_) != SQLITE_OK) {
        throw std::runtime_error("cannot open the source's SQLite file " + url);
      }
      sqlite3_busy_timeout(sqlite_, 5000);  // the endpoint writes the same file
      return;
    }
    auto connection = ablo::pg::Connection::open(url);
    if (!connection) throw std::runtime_error("cannot reach the source's PostgreSQL: " + connection.error().message);
    pg_ = std::move(*connection);
  }
  ~ExternalWriter() { sqlite3_close(sqlite_); }
  ExternalWriter(const ExternalWriter&) = delete;
  ExternalWriter& operator=(const ExternalWriter&) = delete;

  void exec(const std::string& sql) {
    if (pg_) {
      if (auto done = pg_->exec_script(sql); !done) throw std::runtime_error(done.error().message);
      return;
    }
    char* message = nullptr;
    const int rc = sqlite3_exec(sqlite_, sql.c_str(), nullptr, nullptr, &message);
    const std::string error = message ? message : "";
    sqlite3_free(message);
    if (rc != SQLITE_OK) throw std::runtime_error("sqlite: " + error);
  }

 private:
  sqlite3* sqlite_ = nullptr;
  std::unique_ptr<ablo::pg::Connection> pg_;
};

json::object call_json(Run& run, const std::string& method, const std::string& path, const std::string& body,
                       int* status = nullptr) {
  auto response = ablo::client::http_request(run.host(), run.port(), method, path, body,
                                             {{"Authorization", "Bearer " + run.api_key()},
                                              {"Content-Type", "application/json"}});
  if (!response) throw std::runtime_error(method + " " + path + ": " + response.error().message);
  if (status) *status = response->status;
  boost::system::error_code ec;
  auto value = json::parse(response->body, ec);
  return !ec && value.is_object() ? value.as_object() : json::object{{"body", response->body}};
}

// POST /v1/datasources, then waits until the source has hydrated and is live.
void register_endpoint(Run& run, const std::string& endpoint_url, int poll_interval_ms) {
  int status = 0;
  auto source = call_json(run, "POST", "/v1/datasources",
                          json::serialize(json::object{{"endpoint", endpoint_url}, {"pollIntervalMs", poll_interval_ms}}),
                          &status);
  if (status != 201) throw std::runtime_error("registering the endpoint: " + json::serialize(source));
  const std::string path = "/v1/datasources/" + std::string(source.at("id").as_string());
  const bool live = wait_until(
      [&] {
        auto view = call_json(run, "GET", path, "");
        const auto* state = view.contains("status") ? view.at("status").as_object().if_contains("state") : nullptr;
        return state && *state == "live";
      },
      std::chrono::seconds(30));
  if (!live) throw std::runtime_error("the source did not become live: " + json::serialize(call_json(run, "GET", path, "")));
}

void wait_ready(Run& run) {
  const bool ready = wait_until(
      [&] {
        auto response = ablo::client::http_request(run.host(), run.port(), "GET", "/api/ready", {}, {});
        return response && response->status == 200;
      },
      std::chrono::seconds(30));
  if (!ready) throw std::runtime_error("the server did not become ready");
}

// Waits until the subscriber has received `expected` rows in all; prints a shortfall.
bool await_deliveries(Run& run, int64_t expected, const char* what) {
  const bool complete = wait_until([&] { return run.sum(&LaneStats::deliveries) >= expected; }, std::chrono::seconds(30));
  if (!complete) {
    std::printf("%s: SHORT by %lld deliveries after 30 s\n", what,
                static_cast<long long>(expected - run.sum(&LaneStats::deliveries)));
  }
  return complete;
}

// "p50 / p99 (max, n)" in ms, for the table.
std::string latency_cell(Latencies& all) {
  std::sort(all.begin(), all.end());
  char cell[96];
  std::snprintf(cell, sizeof cell, "%.1f / %.1f ms (max %.1f, n=%zu)", percentile_ms(all, 0.50),
                percentile_ms(all, 0.99), all.empty() ? 0.0 : all.back() / 1000.0, all.size());
  return cell;
}

// 2. commit -> delta, one commit at a time: a fresh writer with --inflight 1 and a budget.
bool measure_sequential_commits(Run& run, int64_t delivered_before) {
  auto& o = run.options();
  auto writer = run.open(1, Role::writer);
  if (run.failed() > 0) return false;
  g_measuring = Measuring::sequential_commits;
  writer.front()->configure_writer(run.run_tag() + "-seq-", o.sequential_commits, /*inflight=*/1);
  writer.front()->post_start_writing();
  return await_deliveries(run, delivered_before + o.sequential_commits, "sequential commits");
}

// 3. external write -> delta: rows inserted straight into the source's database, --gap apart,
// each carrying the steady clock (same process as the subscriber) read just before its INSERT.
bool measure_external_writes(Run& run, const std::string& database_url, int64_t delivered_before) {
  auto& o = run.options();
  ExternalWriter writer(database_url);
  g_measuring = Measuring::external_writes;
  const auto started = Clock::now();
  for (int64_t i = 0; i < o.external_writes; ++i) {
    std::this_thread::sleep_until(started + std::chrono::milliseconds(o.external_gap_ms) * i);
    writer.exec("INSERT INTO items (id, title, n, sent_at) VALUES ('" + run.run_tag() + "-ext-" + std::to_string(i) +
                "', 'external', " + std::to_string(i) + ", " + std::to_string(now_us()) + ")");
  }
  return await_deliveries(run, delivered_before + o.external_writes, "external writes");
}

// The fixture backs the endpoint as the test suite runs (ABLO_TEST_STORE=postgres: a fresh
// database on $ABLO_TEST_DATABASE_URL); set for its construction only, as the server we
// started already chose its own store from --store.
std::unique_ptr<ablo::testing::SourceEndpointProcess> start_endpoint(const std::string& key, const std::string& db) {
  if (db != "sqlite" && db != "postgres") throw std::runtime_error("--endpoint-db is sqlite or postgres");
  const char* previous = std::getenv("ABLO_TEST_STORE");
  const std::string saved = previous ? previous : "";
  setenv("ABLO_TEST_STORE", db.c_str(), 1);
  auto endpoint = std::make_unique<ablo::testing::SourceEndpointProcess>(ablo::bench::kItemsSchema, key);
  if (previous) {
    setenv("ABLO_TEST_STORE", saved.c_str(), 1);
  } else {
    unsetenv("ABLO_TEST_STORE");
  }
  return endpoint;
}

int run_source(Options options) {
  const bool direct = options.source_mode == "database";
  if (!direct && options.source_mode != "endpoint") throw std::runtime_error("--mode is endpoint or database");
  // The customer's PostgreSQL (direct mode) exists, with its table, before the server opens it.
  std::unique_ptr<ablo::testing::TempPgDatabase> customer;
  options.server_args.push_back("--allow-private-sources");  // the source listens on loopback
  if (direct) {
    customer = std::make_unique<ablo::testing::TempPgDatabase>();  // on $ABLO_TEST_DATABASE_URL
    ExternalWriter(customer->url()).exec(kCustomerItemsTable);
    options.server_args.insert(options.server_args.end(), {"--source-database", customer->url()});
  }
  Run run(std::move(options));
  auto& o = run.options();
  run.setup(o.writers + 2);
  run.describe();
  std::unique_ptr<ablo::testing::SourceEndpointProcess> endpoint;
  std::string source_database;
  if (direct) {
    wait_ready(run);
    source_database = customer->url();
  } else {
    endpoint = start_endpoint(run.api_key(), o.endpoint_db);
    register_endpoint(run, endpoint->url(), o.poll_interval_ms);
    source_database = endpoint->database_url();
  }
  const std::string backing = source_database.starts_with("sqlite:") ? "SQLite" : "PostgreSQL";
  std::printf("source: %s\n", direct ? "direct PostgreSQL (--source-database), LISTEN/NOTIFY wake-ups"
                                     : ("reference endpoint on " + backing + ", pollIntervalMs=" +
                                        std::to_string(o.poll_interval_ms)).c_str());

  auto subscriber = run.open(1, Role::subscriber);
  auto writers = run.open(o.writers, Role::writer);
  if (!all_ready(run, o.writers + 1, "subscriber + writers")) return 1;

  // 1. commits/s through the source, and commit -> delta under that load. The endpoint is a
  // process of its own: its CPU over the window says whether it was the bottleneck.
  g_measuring = Measuring::commits;
  Window endpoint_window;
  if (endpoint) endpoint_window.server_pids = {endpoint->pid()};
  const bool drained = drive_commits(run, writers, [&](bool opening) {
    if (opening) {
      endpoint_window.begin();
    } else {
      endpoint_window.end();
    }
  });
  const int64_t load_sent = run.sum(&LaneStats::sent), load_acked = run.sum(&LaneStats::acked),
                load_rejected = run.sum(&LaneStats::rejected);
  bool complete = drained && await_deliveries(run, load_acked, "commits under load");
  const Window load_window = run.window();
  complete = measure_sequential_commits(run, run.sum(&LaneStats::deliveries)) && complete;
  complete = measure_external_writes(run, source_database, run.sum(&LaneStats::deliveries)) && complete;
  run.stop_lanes();

  const int64_t confirmed = run.sum(&LaneStats::acked_in_window);
  const double rate = static_cast<double>(confirmed) / load_window.wall();
  auto acks = run.gather(&LaneStats::ack_us);
  auto loaded = run.gather(&LaneStats::delivery_us);
  auto sequential = run.gather(&LaneStats::sequential_delivery_us);
  auto external = run.gather(&LaneStats::external_delivery_us);
  std::printf("commits: %d writers x %d in flight, %.1f s measured after %.1f s warm-up; sent=%lld acked=%lld "
              "rejected=%lld (warm-up included)%s\n",
              o.writers, o.commit_inflight, load_window.wall(), o.warmup_s, static_cast<long long>(load_sent),
              static_cast<long long>(load_acked), static_cast<long long>(load_rejected),
              drained ? "" : " -- NOT DRAINED in 30 s");
  const std::string mode_cell = direct ? "database (direct PostgreSQL)"
                                       : "endpoint (" + backing + ", poll " + std::to_string(o.poll_interval_ms) + " ms)";
  std::printf("\n| %s | figure |\n|---|---|\n", mode_cell.c_str());
  std::printf("| confirmed commits/s (%d x %d in flight, %.0f s) | %.0f |\n", o.writers, o.commit_inflight, o.seconds, rate);
  std::printf("| commit -> ack p50 / p99 | %s |\n", latency_cell(acks).c_str());
  std::printf("| commit -> delta p50 / p99, under that load | %s |\n", latency_cell(loaded).c_str());
  std::printf("| commit -> delta p50 / p99, one at a time | %s |\n", latency_cell(sequential).c_str());
  std::printf("| external write -> delta p50 / p99 (%lld writes, %d ms apart) | %s |\n\n",
              static_cast<long long>(o.external_writes), o.external_gap_ms, latency_cell(external).c_str());
  if (auto server = load_window.server_cpu(); server && confirmed > 0) {
    std::printf("server CPU per confirmed commit: %.1f us (PostgreSQL's own CPU not included)\n",
                *server * 1e6 / static_cast<double>(confirmed));
  }
  if (auto endpoint_cpu = endpoint_window.server_cpu()) {
    std::printf("endpoint CPU (the Python reference endpoint): %.2f s over %.2f s wall (%.0f%% of one core)\n",
                *endpoint_cpu, endpoint_window.wall(), 100 * *endpoint_cpu / endpoint_window.wall());
  }
  if (report_cpu(load_window, run.generator_cores(), o.saturation)) return kExitSaturated;
  return complete && run.sum(&LaneStats::rejected) == 0 && confirmed > 0 ? 0 : 1;
}

// ---------------------------------------------------------------------------------------------
// idle

int run_idle(Options options) {
  Run run(std::move(options));
  auto& o = run.options();
  run.setup(o.connections);
  run.describe();
  run.prepare_tokens(o.connections);
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  const bool known = run.knows_server();
  const int64_t before = run.server_rss_kib();
  run.window().begin();
  auto sockets = run.open(o.connections, Role::idle);
  run.window().end();
  const double opened_in = run.window().wall();
  std::this_thread::sleep_for(std::chrono::duration<double>(o.settle_s));  // let the server settle
  const int64_t after = run.server_rss_kib();
  const int64_t ready = run.ready(), failed = run.failed();
  std::printf("idle: %lld of %d sockets connected and synced, %lld failed, in %.1f s\n", static_cast<long long>(ready),
              o.connections, static_cast<long long>(failed), opened_in);
  if (known && after == 0) {
    std::printf("server RSS: n/a -- the server process is gone\n");
    return 1;
  }
  if (known) {
    std::printf("server RSS: %lld KiB before, %lld KiB with the sockets open\n", static_cast<long long>(before),
                static_cast<long long>(after));
    if (ready > 0) std::printf("server RSS per idle connection: %.2f KiB\n", static_cast<double>(after - before) / ready);
  } else {
    std::printf("server RSS: n/a (pass --server-pid)\n");
  }
  // RSS is not a rate: a busy generator only opens the sockets more slowly, so the guard only
  // informs here.
  report_cpu(run.window(), run.generator_cores(), 1.01);
  run.stop_lanes();
  return failed == 0 && ready == o.connections ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  std::setvbuf(stdout, nullptr, _IOLBF, 0);  // progress lines show while a long run goes on, even into a file
  CLI::App app{"ablo_load: a load generator for `ablo serve` that is never the bottleneck"};
  app.require_subcommand(1);
  app.fallthrough();  // the shared options may follow the subcommand
  Options o;
  o.server_bin = std::getenv("ABLO_BIN") ? std::getenv("ABLO_BIN") : ABLO_BIN_DEFAULT;
  app.add_option("--threads", o.threads, "Generator threads (one io_context each)")->check(CLI::Range(1, 64))->capture_default_str();
  app.add_option("--server-cpus", o.server_cpus, "Pin every server thread to these CPUs (e.g. 1 or 2-3)");
  app.add_option("--load-cpus", o.load_cpus, "Pin the generator to these CPUs");
  app.add_option("--saturation", o.saturation, "Refuse to report when the generator's CPU exceeds this share of threads x wall")
      ->capture_default_str();
  app.add_option("--timeout", o.timeout_s, "Give up waiting after this many seconds")->capture_default_str();
  app.add_option("--server-bin", o.server_bin)->capture_default_str();
  app.add_option("--store", o.store, "sqlite | postgres (a private durable PostgreSQL unless --database)")->capture_default_str();
  app.add_option("--database", o.database_url, "PostgreSQL URL for --store postgres");
  app.add_option("--nodes", o.nodes, "Server nodes on one PostgreSQL (--store postgres); sockets spread round-robin")
      ->check(CLI::Range(1, 16))
      ->capture_default_str();
  app.add_option("--server-arg", o.server_args, "Extra argument for `ablo serve` (repeatable, e.g. --server-arg=--relaxed-durability)");
  app.add_option("--url", o.url, "Drive an existing server (http://host:port) instead of starting one");
  app.add_option("--key", o.key, "Secret API key of the --url server");
  app.add_option("--server-pid", o.server_pid, "Pid of the --url server, for its CPU and RSS");
  app.add_option("--per-token", o.per_token, "Sockets sharing one exchanged capability")->capture_default_str();
  app.add_option("--connect-window", o.connect_window, "Handshakes in progress at once")->capture_default_str();
  app.add_option("--source-ips", o.source_ips, "Loopback source addresses 127.0.0.1.. (0: one per 25,000 sockets)");

  auto* fanout = app.add_subcommand("fanout", "N subscribers, one writer: write -> delivered latency, server CPU per delta");
  fanout->add_option("--subscribers", o.subscribers)->capture_default_str();
  fanout->add_option("--writes", o.writes, "Sequential single-op commits")->capture_default_str();
  fanout->add_option("--inflight", o.inflight, "Commits in flight")->capture_default_str();
  auto* floor_mode = app.add_subcommand(
      "floor", "fanout against a stand-in server that only sends a pre-encoded frame per socket: the kernel's floor");
  floor_mode->add_option("--subscribers", o.subscribers)->capture_default_str();
  floor_mode->add_option("--writes", o.writes, "Sequential commits, each acknowledged and fanned out")->capture_default_str();
  floor_mode->add_option("--inflight", o.inflight, "Commits in flight")->capture_default_str();
  floor_mode->add_option("--frame-bytes", o.frame_bytes, "Payload bytes of a delta frame (default: ablo's at fanout)")
      ->check(CLI::Range(64, 65535))  // the stand-in writes 7- and 16-bit frame lengths only
      ->capture_default_str();
  floor_mode->add_option("--frames-per-send", o.frames_per_send, "Delta frames per send() to a socket (2: batching)")
      ->check(CLI::Range(1, 64))
      ->capture_default_str();
  floor_mode->add_flag("--header-apart", o.header_apart,
                       "Send each frame's header and payload as two buffers of one sendmsg, as Beast does");
  auto* commits = app.add_subcommand("commits", "W writers x K in flight: confirmed commits/s, ack latency, SQLite ceiling");
  commits->add_option("--writers", o.writers)->capture_default_str();
  commits->add_option("--inflight", o.commit_inflight, "Commits in flight per writer")->capture_default_str();
  commits->add_option("--seconds", o.seconds, "Measured window")->capture_default_str();
  commits->add_option("--scrape-hz", o.scrape_hz, "Scrape /metrics this often during the window (0: never)")
      ->capture_default_str();
  commits->add_option("--warmup", o.warmup_s, "Seconds of load before the window")->capture_default_str();
  commits->add_option("--ceiling-batch", o.ceiling_batch, "Rows per transaction in the SQLite ceiling")->capture_default_str();
  commits->add_option("--ceiling-seconds", o.ceiling_seconds)->capture_default_str();
  commits->add_option("--ceiling-commit-batch", o.ceiling_commit_batch,
                      "Commits per transaction in the commit-shaped SQLite ceiling (about a commit group)")
      ->capture_default_str();
  commits->add_option("--ceiling-dir", o.ceiling_dir, "Where the ceiling's database goes (default: the server's data directory)");
  auto* idle = app.add_subcommand("idle", "N idle synced sockets: server RSS per connection");
  idle->add_option("--connections", o.connections)->capture_default_str();
  idle->add_option("--settle", o.settle_s, "Seconds to wait before reading RSS")->capture_default_str();
  auto* source = app.add_subcommand(
      "source", "Data Source mode: commits/s through the source, commit -> delta, external write -> delta");
  source->add_option("--mode", o.source_mode, "endpoint (the reference endpoint) | database (--source-database)")
      ->capture_default_str();
  source->add_option("--endpoint-db", o.endpoint_db, "The endpoint's database: sqlite | postgres ($ABLO_TEST_DATABASE_URL)")
      ->capture_default_str();
  source->add_option("--poll-interval", o.poll_interval_ms, "pollIntervalMs the endpoint is registered with")
      ->capture_default_str();
  source->add_option("--writers", o.writers)->capture_default_str();
  source->add_option("--inflight", o.commit_inflight, "Commits in flight per writer")->capture_default_str();
  source->add_option("--seconds", o.seconds, "Measured window of the commit load")->capture_default_str();
  source->add_option("--warmup", o.warmup_s, "Seconds of load before the window")->capture_default_str();
  source->add_option("--sequential", o.sequential_commits, "Commits made one at a time for commit -> delta")
      ->capture_default_str();
  source->add_option("--external-writes", o.external_writes, "Rows written straight into the source's database")
      ->capture_default_str();
  source->add_option("--gap", o.external_gap_ms, "Milliseconds between external writes")->capture_default_str();
  ablo::bench::BootstrapLoadOptions bootstrap_options;
  auto* bootstrap = app.add_subcommand(
      "bootstrap", "One streamed bootstrap of N rows: first/last byte vs in-process JSON serialization, server RSS");
  bootstrap->add_option("--rows", bootstrap_options.rows)->capture_default_str();
  bootstrap->add_option("--repeats", bootstrap_options.repeats, "GETs and baseline runs; the best is kept")
      ->capture_default_str();
  bootstrap->add_option("--seed-threads", bootstrap_options.seed_threads)->capture_default_str();
  CLI11_PARSE(app, argc, argv);

  try {
    if (fanout->parsed()) return run_fanout(o);
    if (floor_mode->parsed()) {
      if (o.writes % o.frames_per_send != 0) throw std::runtime_error("--writes must be a multiple of --frames-per-send");
      o.floor = true;
      return run_fanout(o);
    }
    if (commits->parsed()) return run_commits(o);
    if (idle->parsed()) return run_idle(o);
    if (source->parsed()) return run_source(o);
    if (bootstrap->parsed()) {
      bootstrap_options.server_bin = o.server_bin;
      bootstrap_options.server_args = o.server_args;
      return ablo::bench::run_bootstrap_load(bootstrap_options);
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "ablo_load: %s\n", e.what());
    return 2;
  }
  return 2;
}
