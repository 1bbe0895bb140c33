// The only server translation unit that includes Beast: accepts connections, speaks
// HTTP/1.1 and upgrades /api/sync/ws to WebSocket. Routing and protocol logic live in
// router.cpp and ws_protocol.cpp.
//
// Threading: `io_threads` event loops (IoLoop: an io_context and its one thread) do only
// socket I/O; each connection stays on one loop, which is its strand. Anything that may wait on the store or the database — HTTP
// handlers, upgrade authentication, WebSocket frame handlers — runs on the worker pool (a
// WebSocket's frames on a strand of it, in order), so a slow database never stalls the
// network threads. Bootstraps (large reads) run on a small pool of their own, which bounds how
// many are built at once; their bodies are streamed as the rows are read (StreamedBody), and a
// bootstrap's pool thread waits for its socket to drain, never an I/O thread; one tenant's bootstraps
// take at most half that pool (StreamTurns), so its stalled readers cannot hold the rest. A WsSession's send queue is guarded by its mutex because fan-out and
// commit results push into it from other threads; its size in bytes is bounded (slow consumers
// are dropped with kSlowConsumerCloseCode).
#include "net/server.h"

#include <array>
#include <atomic>
#include <cerrno>
#include <condition_variable>
#include <cstddef>
#include <deque>
#include <map>
#include <mutex>
#include <optional>
#include <span>
#include <thread>
#include <vector>

#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/websocket.hpp>
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "common/thread_name.h"
#include "common/time.h"
#include "common/exception_text.h"
#include "errors/registry.h"
#include "mcp/mcp.h"
#include "metrics/metrics.h"
#include "net/dialect.h"
#include "net/frame_batcher.h"
#include "net/gated_socket.h"
#include "net/http_json.h"
#include "net/mcp_backend.h"
#include "net/read_buffer.h"
#include "net/router.h"
#include "net/ws_protocol.h"

namespace ablo::net {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace websocket = beast::websocket;
using tcp = asio::ip::tcp;

namespace {

// The slowest reader a reply is written to before the connection is dropped (beyond a minute).
constexpr std::size_t kWriteBytesPerSecondFloor = 256 * 1024;

// The exception boundary of work posted to the I/O threads and the worker pool: an exception
// must not unwind out of io_context::run (that is std::terminate); it is logged and the work dropped.
template <class Work>
auto guarded(const char* what, Work work) {
  return [what, work = std::move(work)]() mutable {
    try {
      work();
    } catch (...) {
      spdlog::error("{} threw: {}", what, current_exception_text());
    }
  };
}
constexpr std::string_view kContractVersion = "2026-06-02";
// A dropped slow consumer gets this long to take its close frame before its TCP connection is
// cut (it may not be reading at all).
constexpr auto kSlowConsumerGrace = std::chrono::seconds(10);
// Writes one socket makes before its event loop serves the others (WsSession::write_next).
constexpr std::size_t kWritesPerTurn = 16;
// At the open-file limit accept() fails at once; retrying at once would spin. Wait, and warn
// once per kAcceptWarningInterval rather than per attempt.
constexpr auto kAcceptBackoff = std::chrono::milliseconds(100);
constexpr auto kAcceptWarningInterval = std::chrono::seconds(10);
// After refusing a body that is too large, its remaining bytes are read and discarded this long
// so closing the connection does not reset it before the client has read the 413.
constexpr auto kDiscardBodyFor = std::chrono::seconds(5);
// A streamed body (GET /api/sync/bootstrap) goes out in chunks of about this size: a reply in
// flight holds two (one on the wire, one filling), and a body shorter than one is sent whole.
constexpr std::size_t kStreamChunkBytes = 64 * 1024;
// What a bootstrap refused because its tenant has too many waiting is told to wait (Retry-After).
constexpr int kStreamRetryAfterSeconds = 1;
// How often a producer waiting for its socket looks whether the server is stopping.
constexpr auto kStreamStopPoll = std::chrono::milliseconds(200);

// Process metrics of the socket layer (issue 15), registered at start so a scrape lists them
// before the first connection.
struct SocketMetrics {
  static metrics::Gauge& connections(std::string_view kind) {
    return metrics::global().gauge("ablo_websocket_connections", "Open WebSocket connections, by participant kind",
                                   {{"kind", std::string(kind)}});
  }
  metrics::Gauge& users = connections("user");
  metrics::Gauge& agents = connections("agent");
  metrics::Gauge& systems = connections("system");
  metrics::Histogram& send_queue = metrics::global().histogram(
      "ablo_websocket_send_queue_bytes", "A connection's send queue right after frames joined it",
      metrics::byte_buckets());
  metrics::Counter& slow_consumers = metrics::global().counter(
      "ablo_websocket_slow_consumers_closed_total", "Connections closed because their send queue hit its bound");
  metrics::Histogram& fanout_latency = metrics::global().histogram(
      "ablo_fanout_latency_seconds",
      "A delta's encoding for fan-out to the completed socket write carrying it (oldest delta per write)",
      metrics::latency_buckets());

  metrics::Gauge& connections_of(std::string_view kind) {
    if (kind == "user") return users;
    if (kind == "agent") return agents;
    return systems;
  }
};
SocketMetrics& socket_metrics() {
  static auto* instance = new SocketMetrics();
  return *instance;
}
[[maybe_unused]] const SocketMetrics& socket_metrics_at_start = socket_metrics();

// Open WebSockets, in total and per credential (a capability, or the API key used directly).
class ConnectionCounts {
 public:
  explicit ConnectionCounts(const ServerLimits& limits) : limits_(limits) {}

  // Holds one counted connection until destroyed.
  class Slot {
   public:
    Slot(ConnectionCounts& counts, std::string credential, metrics::Gauge& open)
        : counts_(counts), credential_(std::move(credential)), open_(open) {
      open_.add(1);
    }
    ~Slot() {
      open_.add(-1);
      counts_.release(credential_);
    }
    Slot(const Slot&) = delete;
    Slot& operator=(const Slot&) = delete;

   private:
    ConnectionCounts& counts_;
    std::string credential_;
    metrics::Gauge& open_;  // ablo_websocket_connections of its participant kind
  };

  Result<std::unique_ptr<Slot>> acquire(const std::string& credential, std::string_view participant_kind) {
    std::lock_guard lock(mutex_);
    if (total_ >= limits_.max_connections) {
      return fail("instance_at_capacity", fmt::format("the server holds its limit of {} connections", total_));
    }
    auto& count = per_credential_[credential];
    if (count >= limits_.max_connections_per_credential) {
      if (count == 0) per_credential_.erase(credential);
      return fail("connection_limit_exceeded",
                  fmt::format("this credential already holds {} open connections", count));
    }
    ++count;
    ++total_;
    return std::make_unique<Slot>(*this, credential, socket_metrics().connections_of(participant_kind));
  }

 private:
  void release(const std::string& credential) {
    std::lock_guard lock(mutex_);
    --total_;
    auto it = per_credential_.find(credential);
    if (it != per_credential_.end() && --it->second <= 0) per_credential_.erase(it);
  }

  const ServerLimits limits_;
  std::mutex mutex_;
  int total_ = 0;
  std::map<std::string, int> per_credential_;
};

class WsSession;

// Starts the writes of one event loop's sockets whose send queue has just become non-empty.
// Why: a delta reaches every subscriber from the commit syncer thread (it publishes once a
// group is durable); an asio::post per socket from that thread costs allocations (Asio
// recycles handler memory only on its own threads) and a scheduler hand-off each. Instead that
// thread appends the socket here, and the first
// append of a burst posts one drain, which starts every socket's write in place on the loop's
// thread (the loop has one thread, so that is the socket's own context; see IoLoop).
// Threading: wake from any thread; the mutex is a leaf (taken under the hub's and outboxes' locks).
class WriteWakeups {
 public:
  explicit WriteWakeups(asio::io_context& io) : io_(io) {}
  void wake(std::shared_ptr<WsSession> session);
  // Drops sockets still waiting for a drain (the server stops).
  void clear() {
    std::lock_guard lock(mutex_);
    ready_.clear();
    spare_.clear();
  }

 private:
  void drain();

  asio::io_context& io_;
  std::mutex mutex_;
  std::vector<std::shared_ptr<WsSession>> ready_;  // woken since the last drain began
  std::vector<std::shared_ptr<WsSession>> spare_;  // storage a drain gives back, reused by ready_
};

// Turns on the bootstrap pool per owner (the tenant: HttpResponse::stream_owner). A streamed
// reply holds its pool thread while its reader drains it, up to the write deadline for a reader
// that stopped, so without turns a few stalled readers of one tenant would hold every thread and
// every other tenant's bootstrap would wait for them. At most `per_owner` streams of one owner
// run at once; the owner's further ones wait here in arrival order, holding no thread, and each
// is posted to the pool when one of the owner's running streams ends. At most
// kWaitingStreamsPerOwner wait per owner: beyond, submit refuses (the caller answers 429).
class StreamTurns {
 public:
  using Job = std::function<void()>;
  static constexpr std::size_t kWaitingStreamsPerOwner = 64;

  StreamTurns(asio::thread_pool& pool, std::size_t per_owner) : pool_(pool), per_owner_(std::max<std::size_t>(1, per_owner)) {}

  // Runs `job` on the pool now, or after the owner's earlier streams; false when the owner
  // already has kWaitingStreamsPerOwner waiting (the job is dropped).
  bool submit(const std::string& owner, Job job) {
    std::lock_guard lock(mutex_);
    if (stopped_) return true;  // the server stops: nothing starts any more
    auto& turns = owners_[owner];
    if (turns.running < per_owner_) {
      ++turns.running;
      start(owner, std::move(job));
      return true;
    }
    if (turns.waiting.size() >= kWaitingStreamsPerOwner) return false;
    turns.waiting.push_back(std::move(job));
    return true;
  }

  // The server stops: waiting streams never start (their connections are closing).
  void stop() {
    std::vector<Job> dropped;  // destroyed outside the lock: they hold sessions
    std::lock_guard lock(mutex_);
    stopped_ = true;
    for (auto& [owner, turns] : owners_) {
      for (auto& job : turns.waiting) dropped.push_back(std::move(job));
      turns.waiting.clear();
    }
  }

 private:
  struct Turns {
    std::size_t running = 0;
    std::deque<Job> waiting;
  };

  // Called with mutex_ held; posting to the pool never runs the job in place.
  void start(const std::string& owner, Job job) {
    asio::post(pool_, [this, owner, job = std::move(job)]() mutable {
      guarded("a streamed reply", std::move(job))();
      finished(owner);
    });
  }

  void finished(const std::string& owner) {
    std::lock_guard lock(mutex_);
    auto it = owners_.find(owner);
    auto& turns = it->second;
    if (!turns.waiting.empty()) {  // the freed turn passes to the owner's oldest waiting stream
      auto next = std::move(turns.waiting.front());
      turns.waiting.pop_front();
      start(owner, std::move(next));
      return;
    }
    if (--turns.running == 0) owners_.erase(it);
  }

  asio::thread_pool& pool_;
  const std::size_t per_owner_;
  std::mutex mutex_;
  bool stopped_ = false;
  std::map<std::string, Turns> owners_;
};

struct Services {
  engine::Engine& engine;
  auth::AuthService& auth;
  coord::Coordinator& coordinator;
  Router router;
  asio::thread_pool& workers;     // runs HTTP handlers, which may block
  asio::thread_pool& bootstraps;  // runs bootstraps only: bounds how many are built at once
  StreamTurns& stream_turns;      // a tenant's turns on `bootstraps`
  const ServerLimits& limits;
  ConnectionCounts connections;
  mcp::Service* mcp = nullptr;  // /mcp (issue 14); set once the service exists
  std::size_t mcp_stream_events = 1'024;  // events queued on one MCP event stream
  // Set by Server::stop before the event loops stop: a streamed reply waiting for its socket
  // then gives up, as no write of it will complete any more.
  std::atomic<bool> stopping{false};
};

template <class Body>
void add_common_headers(http::response<Body>& res, const std::string& request_id) {
  res.set("x-request-id", request_id);
  res.set("Ablo-Version", kContractVersion);
  res.set(http::field::access_control_allow_origin, "*");
  res.set(http::field::access_control_expose_headers, "x-request-id, X-Auth-Failure, Ablo-Version, Mcp-Session-Id");
  res.set(http::field::cache_control, "no-store");
  res.set(http::field::date, http_date_from_ms(now_ms()));  // RFC 9110: an origin server with a clock sends it
}

http::response<http::string_body> to_beast(HttpResponse&& response, const std::string& request_id, unsigned version,
                                           bool keep_alive, bool head) {
  http::response<http::string_body> res{static_cast<http::status>(response.status), version};
  add_common_headers(res, request_id);
  // JSON unless the route named another type (the audit CSV export).
  if (!response.body.empty()) res.set(http::field::content_type, "application/json");
  for (auto& [name, value] : response.headers) res.set(name, value);
  const auto size = response.body.size();
  if (!head) res.body() = std::move(response.body);
  res.keep_alive(keep_alive);
  res.content_length(size);
  if (head) res.body().clear();
  return res;
}

// ---------------------------------------------------------------- WebSocket session

// Write-operation memory blocks an event loop's sockets share (see WriteSlot). Why: a block
// (~1.3 KiB: the Beast and Asio write operation chain) kept by every socket for its whole life
// was the largest part of an idle connection's memory after Beast's own state. A socket holds a
// block only while it writes and gives it back when its queue runs dry, so an event loop keeps
// as many blocks as it has sockets writing at once — during a fan-out burst, every subscriber,
// as before; while the sockets idle, only spares, which the next burst reuses without malloc.
// Threading: the loop's thread only.
class WriteBlocks {
 public:
  struct Free {
    void operator()(std::byte* memory) const { ::operator delete(memory); }
  };
  struct Block {
    std::unique_ptr<std::byte, Free> memory;
    std::size_t size = 0;
  };

  // A block of at least `bytes`: a spare one, or a new one.
  Block take(std::size_t bytes) {
    if (!spare_.empty() && spare_.back().size >= bytes) {
      Block block = std::move(spare_.back());
      spare_.pop_back();
      return block;
    }
    return Block{std::unique_ptr<std::byte, Free>(static_cast<std::byte*>(::operator new(bytes))), bytes};
  }
  void give_back(Block block) { spare_.push_back(std::move(block)); }

 private:
  std::vector<Block> spare_;
};

// Memory for a session's one write in flight. Why: Asio allocates each write operation (the
// Beast and Asio operation chain, a few hundred bytes) through its handler's allocator; the
// default recycles only a couple of blocks per thread, and the fan-out starts a write on every
// subscriber at once — so each burst allocated one block per socket before any was freed, and
// the heap grew and was trimmed again every burst (sysmalloc and madvise were 12% of the
// fan-out's CPU). A session writes one message at a time, so one block, taken from its event
// loop's WriteBlocks at its first write and given back when it goes idle (release), serves all
// the writes of a burst; anything else (a larger or a second operation) falls back to the
// heap. Used on the session's event loop thread only; the destructor (any thread) frees a
// block still held rather than touching the loop's pool.
class WriteSlot {
 public:
  explicit WriteSlot(WriteBlocks& blocks) : blocks_(blocks) {}

  void* allocate(std::size_t bytes) {
    if (!in_use_) {
      if (!block_.memory) block_ = blocks_.take(bytes);
      if (bytes <= block_.size) {
        in_use_ = true;
        return block_.memory.get();
      }
    }
    return ::operator new(bytes);
  }
  void deallocate(void* memory) {
    if (memory == block_.memory.get()) {
      in_use_ = false;
    } else {
      ::operator delete(memory);
    }
  }
  // The session has nothing more to write: its block serves the loop's other sockets.
  void release() {
    if (!block_.memory || in_use_) return;
    blocks_.give_back(std::move(block_));
    block_ = {};
  }

 private:
  WriteBlocks& blocks_;
  WriteBlocks::Block block_;
  bool in_use_ = false;
};

// The allocator a session's write handler carries (asio::bind_allocator) so that Asio takes
// the operation's memory from the session's WriteSlot. The session outlives the operation: the
// handler holds it, and Asio frees the operation before it invokes or drops the handler.
template <class T>
class WriteSlotAllocator {
 public:
  using value_type = T;
  explicit WriteSlotAllocator(WriteSlot& slot) : slot_(&slot) {}
  template <class U>
  WriteSlotAllocator(const WriteSlotAllocator<U>& other) : slot_(other.slot_) {}
  T* allocate(std::size_t n) { return static_cast<T*>(slot_->allocate(n * sizeof(T))); }
  void deallocate(T* memory, std::size_t) { slot_->deallocate(memory); }
  template <class U>
  bool operator==(const WriteSlotAllocator<U>& other) const { return slot_ == other.slot_; }

 private:
  template <class U>
  friend class WriteSlotAllocator;
  WriteSlot* slot_;
};

class WsSession : public fanout::Outbox, public std::enable_shared_from_this<WsSession> {
 public:
  // `wakeups`: those of the event loop that runs `socket`.
  WsSession(tcp::socket&& socket, Services& services, WriteWakeups& wakeups, WriteBlocks& write_blocks,
            std::unique_ptr<ConnectionCounts::Slot> slot)
      : ws_(std::move(socket)),
        services_(services),
        wakeups_(wakeups),
        handlers_(asio::make_strand(services.workers)),
        write_slot_(write_blocks),
        slot_(std::move(slot)) {}
  // Unsubscribe while every member is still alive: the hub may be pushing into this outbox.
  ~WsSession() override {
    if (connection_) connection_->on_close();
  }

  void start(http::request<http::string_body> request, UpgradeGrant grant) {
    // A socket that stays silent is pinged at half the idle timeout and closed at the full
    // one, so a hung claim holder counts as gone (coord/coordinator.h lease policy).
    websocket::stream_base::timeout timeouts = websocket::stream_base::timeout::suggested(beast::role_type::server);
    timeouts.idle_timeout = std::chrono::seconds(coord::kIdleSocketTimeoutSeconds);
    timeouts.keep_alive_pings = true;
    ws_.set_option(timeouts);
    ws_.read_message_max(services_.limits.max_frame_bytes);  // Beast closes with 1009 beyond it
    // One message, one frame: with auto-fragmentation Beast splits a message into frames of its
    // write buffer size (4 KiB), each written on its own — a batched delta frame would cost a
    // sendmsg per 4 KiB. The text type is set once: the server sends text frames only.
    ws_.auto_fragment(false);
    ws_.text(true);
    const bool select_sync = grant.offered_sync_subprotocol;
    ws_.set_option(websocket::stream_base::decorator([select_sync](websocket::response_type& res) {
      // Select only ablo.sync.v1; never echo the token-bearing entry (protocol.md §1.2).
      if (select_sync) res.set(http::field::sec_websocket_protocol, kSyncSubprotocol);
      res.set(http::field::server, "ablo");
    }));
    // The connection joins the hub and the coordinator before the 101 goes out, so once a client
    // sees its socket open, a revocation or a claim sweep already knows about it. Joining may wait
    // on the database, so it runs on the worker pool; frames it produces wait in pending_ (writing_
    // starts true) until the handshake is done.
    auto shared_request = std::make_shared<http::request<http::string_body>>(std::move(request));
    asio::post(handlers_, guarded("joining a WebSocket", [self = shared_from_this(), shared_request,
                                                          grant = std::move(grant)]() mutable {
      self->connection_ = std::make_unique<SyncConnection>(self->services_.engine, self->services_.coordinator,
                                                           std::move(grant), self->weak_from_this(), self->scheduler());
      asio::post(self->ws_.get_executor(), guarded("accepting a WebSocket", [self, shared_request] {
        self->ws_.async_accept(*shared_request,
                               [self, shared_request](beast::error_code ec) { self->on_accept(ec); });
      }));
    }));
  }

  void push_frame(std::string frame) override {
    const std::size_t bytes = frame.size();
    enqueue(bytes, [&](std::vector<OutgoingItem>& queue) { queue.push_back(OutgoingItem{std::move(frame), nullptr}); });
  }
  void push_delta(std::shared_ptr<const fanout::EncodedDelta> delta) override { push_deltas({&delta, 1}); }
  // The deltas are queued as shared pointers: the socket writes their one shared encoding
  // (net/frame_batcher.h).
  void push_deltas(std::span<const std::shared_ptr<const fanout::EncodedDelta>> deltas) override {
    std::size_t bytes = 0;
    for (const auto& delta : deltas) bytes += delta->frame().size();
    enqueue(bytes, [&](std::vector<OutgoingItem>& queue) {
      for (const auto& delta : deltas) queue.push_back(OutgoingItem{{}, delta});
    });
  }
  // The close frame goes out after the frames already queued: write_next sends it once the
  // queue is empty (Beast allows no close while a write is in flight).
  void close(int code, std::string reason) override {
    {
      std::lock_guard lock(mutex_);
      if (closed_ || close_reason_) return;
      close_reason_ = websocket::close_reason(static_cast<websocket::close_code>(code), reason);
      if (writing_) return;
      writing_ = true;
    }
    asio::post(ws_.get_executor(), [self = shared_from_this()] { self->write_next(); });
  }

  // Called by WriteWakeups on the socket's event loop thread: the queue has frames and
  // writing_ is set, so no write is in flight.
  void start_writing() { write_next(); }

 private:
  // Runs a task of the connection later on its handler strand, unless the session is gone
  // (connection_ lives as long as the session).
  FencedOutbox::Schedule scheduler() {
    return [weak = weak_from_this()](std::chrono::milliseconds delay, std::function<void()> task) {
      auto self = weak.lock();
      if (!self) return;
      auto timer = std::make_shared<asio::steady_timer>(self->handlers_, delay);
      timer->async_wait([timer, weak, task = std::move(task)](beast::error_code ec) {
        if (auto alive = weak.lock(); alive && !ec) task();
      });
    };
  }

  void on_accept(beast::error_code ec) {
    if (!ec) ws_.next_layer().next_layer().non_blocking(true, ec);  // write_next's send() must not block the loop
    if (ec) {
      close_connection();
      return;
    }
    read();
    write_next();  // what was queued during the handshake, or clears writing_
  }

  // A message's first bytes (all of a short one) into a small buffer: an idle socket waits
  // here (net/read_buffer.h); the rest of a longer message follows in on_read_start.
  void read() {
    ws_.async_read_some(read_buffer_.buffer(), MessageReadBuffer::kFirstReadBytes,
                        beast::bind_front_handler(&WsSession::on_read_start, shared_from_this()));
  }

  void on_read_start(beast::error_code ec, std::size_t bytes) {
    if (!ec && !ws_.is_message_done()) {
      ws_.async_read(read_buffer_.buffer(), beast::bind_front_handler(&WsSession::on_read, shared_from_this()));
      return;
    }
    on_read(ec, bytes);
  }

  void on_read(beast::error_code ec, std::size_t) {
    if (ec) {
      close_connection();
      return;
    }
    if (ws_.got_text()) {
      // Frame handlers may wait on the database (catch-up reads, cluster claim ops), so they run
      // on the worker pool, one at a time per socket and in arrival order (a strand).
      asio::post(handlers_, guarded("a WebSocket frame", [self = shared_from_this(), text = beast::buffers_to_string(read_buffer_.buffer().data())] {
        if (self->connection_) self->connection_->on_text(text);
      }));
    }
    read_buffer_.finish_message();
    read();
  }

  void close_connection() {
    asio::post(handlers_, guarded("closing a WebSocket", [self = shared_from_this()] {
      if (self->connection_) self->connection_->on_close();
    }));
    std::lock_guard lock(mutex_);
    closed_ = true;
    pending_.clear();
    pending_bytes_ = 0;
  }

  // Queues `bytes` worth of items (`append` adds them under the lock) and, when no write is
  // under way, wakes the socket's writer — once per burst: while writing_ is set the items
  // just wait for the write in progress to take them.
  template <class Append>
  void enqueue(std::size_t bytes, Append&& append) {
    {
      std::lock_guard lock(mutex_);
      if (closed_ || dropped_) return;
      if (pending_bytes_ + batched_bytes_ + bytes > services_.limits.max_send_queue_bytes) {
        drop_slow_consumer_locked();
        return;
      }
      pending_bytes_ += bytes;
      socket_metrics().send_queue.observe(static_cast<double>(pending_bytes_ + batched_bytes_));
      append(pending_);
      if (writing_) return;
      writing_ = true;
    }
    // Not shared_from_this: the hub may push while the last owner is letting go (the
    // destructor then unsubscribes); such a session has nothing more to write.
    if (auto self = weak_from_this().lock()) wakeups_.wake(std::move(self));
  }

  // The client does not read as fast as its frames are produced: queue nothing more, free what
  // waits, send the close frame after the frame being written, and cut the connection if even
  // that does not go out within kSlowConsumerGrace. The client resumes from its cursor.
  void drop_slow_consumer_locked() {
    dropped_ = true;
    pending_.clear();
    pending_bytes_ = 0;
    if (!close_reason_) {
      close_reason_ = websocket::close_reason(static_cast<websocket::close_code>(kSlowConsumerCloseCode),
                                              "send queue limit exceeded");
    }
    socket_metrics().slow_consumers.add();
    spdlog::warn("closing a WebSocket that does not read its frames (send queue over {} bytes)",
                 services_.limits.max_send_queue_bytes);
    asio::post(ws_.get_executor(), [self = shared_from_this()] { self->abandon_backlog(); });
  }

  void abandon_backlog() {  // socket strand
    // The write out keeps its buffers until it completes.
    const std::size_t freed = batcher_.drop_unsent();
    bool idle = false;
    {
      std::lock_guard lock(mutex_);
      batched_bytes_ -= freed;
      if (!writing_) writing_ = idle = true;
    }
    if (idle) write_next();  // nothing in flight: the close frame goes now
    auto timer = std::make_shared<asio::steady_timer>(ws_.get_executor(), kSlowConsumerGrace);
    timer->async_wait([self = shared_from_this(), timer](beast::error_code ec) {
      if (ec) return;
      self->ws_.next_layer().next_layer().close(ec);  // the pending write and read fail
    });
  }

  // Socket strand; called with no write out. Writes what is queued — each message one frame,
  // several frames per write (net/frame_batcher.h) — by non-blocking send()s straight from
  // their buffers; what the kernel does not take at once goes out asynchronously. Then the
  // close frame once everything queued is out; or goes idle. Why not Beast's async_write: its
  // per-write machinery (and the completion Asio posts back even when the send finished at
  // once) was most of the fan-out's user-space CPU. Beast's own writes (pongs, pings, the
  // close) share the socket through the gate (net/gated_socket.h). A turn makes at most
  // kWritesPerTurn writes, then lets the loop's other sockets have theirs.
  void write_next() {
    for (std::size_t write = 0; write < kWritesPerTurn; ++write) {
      if (!batcher_.has_unsent() && !take_queued()) return;
      if (!ws_.is_open()) return;  // a close frame went out or came in: no frame may follow it; writing_ stays set
      GatedSocket& gate = ws_.next_layer();
      if (!gate.can_write_own()) {  // Beast is writing a control frame
        gate.resume_own_when_free([weak = weak_from_this()] {
          if (auto self = weak.lock()) self->write_next();
        });
        return;
      }
      const auto frames = batcher_.next_write();
      const std::size_t bytes = asio::buffer_size(frames);
      beast::error_code ec;
      const std::size_t sent = send_now(frames, bytes, ec);
      if (!ec && sent < bytes) {
        write_rest(frames, sent);
        return;
      }
      if (!finish_write(ec)) return;
    }
    asio::post(ws_.get_executor(), [self = shared_from_this()] { self->write_next(); });
  }

  // Nothing unsent: takes what the producers queued, in one swap. False when there was nothing;
  // then the close frame goes out if one was asked for (writing_ stays set: nothing is written
  // after it), else the session goes idle.
  bool take_queued() {
    std::lock_guard lock(mutex_);
    batcher_.take(pending_);
    batched_bytes_ += pending_bytes_;
    pending_bytes_ = 0;
    if (batcher_.has_unsent()) return true;
    if (close_reason_ && !closed_) {
      ws_.async_close(*close_reason_, [self = shared_from_this()](beast::error_code) { self->close_connection(); });
      return false;
    }
    writing_ = false;
    write_slot_.release();  // idle: no write operation is out
    return false;
  }

  // Sends what the kernel takes now, without waiting (one send() takes at most 64 buffers, so a
  // large write may need several); returns the bytes sent. `ec` only for a failed socket.
  std::size_t send_now(std::span<const asio::const_buffer> frames, std::size_t bytes, beast::error_code& ec) {
    tcp::socket& socket = ws_.next_layer().next_layer();
    std::size_t sent = socket.write_some(frames, ec);
    if (sent < bytes && !ec) {
      beast::buffers_suffix<std::span<const asio::const_buffer>> rest(frames);
      rest.consume(sent);
      while (sent < bytes && !ec) {
        const std::size_t more = socket.write_some(rest, ec);
        if (more == 0) break;  // would_block (or nothing taken): the rest goes asynchronously
        rest.consume(more);
        sent += more;
      }
    }
    if (ec == asio::error::would_block || ec == asio::error::try_again) ec = {};
    return sent;
  }

  // The kernel took the first `sent` bytes of the write: the rest goes out asynchronously, the
  // gate held meanwhile so that no control frame of Beast's lands inside it.
  void write_rest(std::span<const asio::const_buffer> frames, std::size_t sent) {
    beast::buffers_suffix<std::span<const asio::const_buffer>> rest(frames);
    rest.consume(sent);
    ws_.next_layer().begin_own();
    asio::async_write(ws_.next_layer().next_layer(), rest,
                      asio::bind_allocator(WriteSlotAllocator<void>(write_slot_),
                                           [self = shared_from_this()](beast::error_code ec, std::size_t) {
                                             self->ws_.next_layer().end_own();
                                             if (self->finish_write(ec)) self->write_next();
                                           }));
  }

  // The write out is done (or failed): releases its items. False when it failed, which ends the
  // connection.
  bool finish_write(beast::error_code ec) {
    if (const auto encoded_at = batcher_.write_encoded_at(); encoded_at && !ec) {
      socket_metrics().fanout_latency.observe_seconds_since(*encoded_at);
    }
    const std::size_t written = batcher_.release_written();
    if (ec) {
      const std::size_t dropped = batcher_.drop_unsent();
      close_connection();
      std::lock_guard lock(mutex_);
      batched_bytes_ -= written + dropped;
      writing_ = false;
      return false;
    }
    std::lock_guard lock(mutex_);
    batched_bytes_ -= written;
    return true;
  }

  // Over a plain socket (behind the write gate), not beast::tcp_stream: the WebSocket's own timer does the idle ping and
  // timeout (set in start) and the tcp_stream's two timers went unused (expires_never), yet
  // cost every connection ~0.5 KiB.
  websocket::stream<GatedSocket> ws_;  // runs on one event loop's thread (IoLoop)
  Services& services_;
  WriteWakeups& wakeups_;
  asio::strand<asio::thread_pool::executor_type> handlers_;  // runs connection_'s frame handlers
  std::unique_ptr<SyncConnection> connection_;  // handlers_ only (and the destructor)
  MessageReadBuffer read_buffer_;               // socket strand only
  FrameBatcher batcher_;                        // socket strand only: what is being written
  WriteSlot write_slot_;                        // socket strand only: the write operation's memory (held while writing)

  std::unique_ptr<ConnectionCounts::Slot> slot_;  // counted until the session is gone

  std::mutex mutex_;  // guards pending_, the byte counts, writing_, closed_, dropped_, close_reason_
  std::vector<OutgoingItem> pending_;  // queued, not yet taken by the batcher (storage reused)
  std::size_t pending_bytes_ = 0;  // of pending_
  std::size_t batched_bytes_ = 0;  // of the items in batcher_ (being written or next)
  bool writing_ = true;  // until the handshake completes (on_accept)
  bool closed_ = false;
  bool dropped_ = false;  // a slow consumer: nothing more is queued
  std::optional<websocket::close_reason> close_reason_;  // a close was requested
};

void WriteWakeups::wake(std::shared_ptr<WsSession> session) {
  {
    std::lock_guard lock(mutex_);
    ready_.push_back(std::move(session));
    if (ready_.size() > 1) return;  // a drain is already posted for this burst
  }
  asio::post(io_, guarded("starting WebSocket writes", [this] { drain(); }));
}

void WriteWakeups::drain() {
  std::vector<std::shared_ptr<WsSession>> burst;
  {
    std::lock_guard lock(mutex_);
    burst.swap(ready_);
    ready_.swap(spare_);  // the next burst fills storage an earlier drain gave back
  }
  for (const auto& session : burst) session->start_writing();
  burst.clear();
  std::lock_guard lock(mutex_);
  if (spare_.capacity() < burst.capacity()) spare_.swap(burst);
}

// ---------------------------------------------------------------- HTTP session

// ablo_http_responses_total{class="2xx"|…}: one relaxed add per response; registered at start.
metrics::Counter& responses_of_class(const char* status_class) {
  return metrics::global().counter("ablo_http_responses_total", "HTTP responses, by status class",
                                   {{"class", status_class}});
}
metrics::Counter* const responses_by_class[] = {&responses_of_class("1xx"), &responses_of_class("2xx"),
                                                &responses_of_class("3xx"), &responses_of_class("4xx"),
                                                &responses_of_class("5xx")};

void count_response(int status) {
  const int index = std::clamp(status / 100, 1, 5) - 1;
  responses_by_class[index]->add();
}

class HttpSession : public std::enable_shared_from_this<HttpSession> {
 public:
  HttpSession(tcp::socket&& socket, Services& services, WriteWakeups& wakeups, WriteBlocks& write_blocks)
      : stream_(std::move(socket)), services_(services), wakeups_(wakeups), write_blocks_(write_blocks) {}

  void start() { read(); }

 private:
  void read() {
    parser_.emplace();
    parser_->body_limit(services_.limits.max_body_bytes);
    stream_.expires_after(std::chrono::seconds(60));
    http::async_read(stream_, buffer_, *parser_, beast::bind_front_handler(&HttpSession::on_read, shared_from_this()));
  }

  void on_read(beast::error_code ec, std::size_t) {
    if (ec == http::error::body_limit) {
      // Answer, then close: after_write shuts the connection down once the reply is out. A 0.9.1
      // client (no Ablo-Protocol-Version header) knows no payload-size code: it reads invalid_body.
      const bool announced_version = !parser_->get()[std::string(kProtocolVersionHeader)].empty();
      auto response = error_response(
          Error("request_too_large",
                fmt::format("the request body is larger than the limit of {} bytes", services_.limits.max_body_bytes)),
          request_id_for(""), announced_version ? errors::Contract::k2026_08_04 : errors::Contract::k2026_06_02);
      discard_after_reply_ = true;
      reply(std::move(response), 11, false, false);
      return;
    }
    if (ec) {
      stream_.socket().shutdown(tcp::socket::shutdown_send, ec);
      return;
    }
    auto request = parser_->release();
    const std::string request_id = request_id_for(std::string(request[("x-request-id")]));
    if (websocket::is_upgrade(request)) {
      upgrade(std::move(request), request_id);
      return;
    }
    const bool head = request.method() == http::verb::head;
    if (request.method() == http::verb::options) {
      HttpResponse preflight{204, {{"Access-Control-Allow-Methods", "GET, POST, PUT, PATCH, DELETE, HEAD, OPTIONS"},
                                   {"Access-Control-Allow-Headers", "*"}, {"Access-Control-Max-Age", "600"}}, {}};
      reply(std::move(preflight), request.version(), request.keep_alive(), false);
      return;
    }
    if (path_of(std::string(request.target())) == "/mcp" && services_.mcp) {
      serve_mcp(std::move(request), request_id);
      return;
    }
    HttpRequest plain;
    plain.method = std::string(request.method_string());
    plain.target = std::string(request.target());
    for (const auto& field : request) {
      std::string name(field.name_string());
      for (auto& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      plain.headers[name] = std::string(field.value());
    }
    plain.body = std::move(request.body());
    plain.request_id = request_id;
    // Handlers may block (a durable commit, a store read), so they run on the worker pool —
    // bootstraps on their own pool; the reply is written back on this connection's strand. A
    // claimed read that waits for a release holds no thread: the router answers it later.
    // A bootstrap is authenticated there too, and its body produced on the bootstrap pool when
    // its tenant's turn comes (StreamTurns).
    auto run = [self = shared_from_this(), plain = std::move(plain), version = request.version(),
                keep_alive = request.keep_alive(), head]() mutable {
      auto reply = [self, version, keep_alive, head, request_id = plain.request_id,
                    contract = contract_of(dialect_of(plain).value_or(Dialect::kClaims))](HttpResponse response) mutable {
        if (response.stream) {
          self->queue_stream(std::move(response), version, keep_alive, request_id, contract);
          return;
        }
        asio::post(self->stream_.get_executor(), [self, response = std::move(response), version, keep_alive, head,
                                                  request_id = std::move(request_id)]() mutable {
          self->reply(std::move(response), version, keep_alive, head, request_id);
        });
      };
      self->services_.router.handle(plain, std::move(reply));
    };
    asio::post(services_.workers, guarded("an HTTP request", std::move(run)));
  }

  // Hands a streamed reply to its owner's turns on the bootstrap pool (StreamTurns), or answers
  // 429 when too many of the owner's streams already wait.
  void queue_stream(HttpResponse response, unsigned version, bool keep_alive, const std::string& request_id,
                    errors::Contract contract) {
    const auto owner = response.stream_owner;
    const bool queued = services_.stream_turns.submit(
        owner, [self = shared_from_this(), response = std::move(response), version, keep_alive, request_id]() mutable {
          // Produced here, on the pool thread that got the turn: it may wait for the socket.
          self->stream_reply(std::move(response), version, keep_alive, request_id);
        });
    if (queued) return;
    Error busy("connection_limit_exceeded",
               fmt::format("this tenant already has {} bootstraps waiting for their turn; retry after a delay",
                           StreamTurns::kWaitingStreamsPerOwner));
    busy.details["retryAfterMs"] = kStreamRetryAfterSeconds * 1000;
    auto refused = error_response(busy, request_id, contract);
    refused.headers.emplace_back("Retry-After", std::to_string(kStreamRetryAfterSeconds));
    asio::post(stream_.get_executor(), [self = shared_from_this(), refused = std::move(refused), version, keep_alive,
                                        request_id]() mutable {
      self->reply(std::move(refused), version, keep_alive, false, request_id);
    });
  }

  // Runs a streamed response's producer on the calling thread (HttpResponse::stream).
  void stream_reply(HttpResponse response, unsigned version, bool keep_alive, const std::string& request_id) {
    if (version < 11) {  // HTTP/1.0 has no chunked encoding: the whole body, as before
      asio::post(stream_.get_executor(), [self = shared_from_this(), response = collected(std::move(response)), version,
                                          keep_alive, request_id]() mutable {
        self->reply(std::move(response), version, keep_alive, false, request_id);
      });
      return;
    }
    auto produce = std::move(response.stream);
    response.stream = nullptr;
    auto body = std::make_shared<StreamedBody>(shared_from_this(), std::move(response), version, keep_alive, request_id);
    auto failed = produce([&body](std::string_view piece) { return body->write(piece); });
    if (failed) {
      body->fail(std::move(*failed));
    } else {
      body->finish();
    }
  }

  // A response whose body is produced on a pool thread and written as it comes. The producer
  // fills one chunk while the previous one is on the wire and waits for that write before it
  // hands over the next, so a reply in flight holds two chunks whatever its size, and a slow
  // reader slows the producer (never an I/O thread) instead of growing a buffer; the write
  // deadline is reply()'s rule over the bytes sent so far, so a reader that stops is cut and
  // the producer freed. A body that ends within its first chunk goes out whole with a
  // Content-Length, exactly as a plain reply; a longer one in HTTP/1.1 chunked encoding. A
  // failure before the first byte is answered with its error response; after it the
  // connection is cut (no terminating chunk), so a truncated body never reads as complete.
  // Threading: write/finish/fail on the producer's thread (filling_, started_); the writes on
  // the connection's loop (in_flight_ while writing_, the header, sent_); writing_ and gone_
  // under mutex_.
  class StreamedBody : public std::enable_shared_from_this<StreamedBody> {
   public:
    StreamedBody(std::shared_ptr<HttpSession> session, HttpResponse head, unsigned version, bool keep_alive,
                 std::string request_id)
        : session_(std::move(session)),
          head_(std::move(head)),
          version_(version),
          keep_alive_(keep_alive),
          request_id_(std::move(request_id)) {}

    bool write(std::string_view piece) {
      filling_.append(piece);
      return filling_.size() < kStreamChunkBytes || hand_over(false);
    }

    void finish() {
      if (!started_) {
        head_.body = std::move(filling_);
        reply_whole(std::move(head_));
        return;
      }
      (void)hand_over(true);
    }

    void fail(HttpResponse error) {
      if (!started_) {
        reply_whole(std::move(error));
        return;
      }
      {
        std::lock_guard lock(mutex_);
        gone_ = true;
      }
      asio::post(session_->stream_.get_executor(), [self = shared_from_this()] { self->cut(); });
    }

   private:
    void reply_whole(HttpResponse response) {
      asio::post(session_->stream_.get_executor(), [session = session_, response = std::move(response),
                                                    version = version_, keep_alive = keep_alive_,
                                                    request_id = request_id_]() mutable {
        session->reply(std::move(response), version, keep_alive, false, request_id);
      });
    }

    // Waits until the previous chunk is written, then hands filling_ to the loop (with the
    // terminating chunk when `last`). False when the connection is gone.
    bool hand_over(bool last) {
      {
        std::unique_lock lock(mutex_);
        while (writing_ && !gone_) {
          if (session_->services_.stopping.load()) gone_ = true;
          else cv_.wait_for(lock, kStreamStopPoll);
        }
        if (gone_) return false;
        writing_ = true;
      }
      in_flight_.swap(filling_);
      filling_.clear();  // keeps the capacity the other chunk had
      const bool first = !std::exchange(started_, true);
      asio::post(session_->stream_.get_executor(), [self = shared_from_this(), first, last] {
        if (first) {
          self->write_header(last);
        } else {
          self->write_chunk(last);
        }
      });
      return true;
    }

    void write_header(bool last) {
      header_.emplace(static_cast<http::status>(head_.status), version_);
      add_common_headers(*header_, request_id_);
      header_->set(http::field::content_type, "application/json");
      for (auto& [name, value] : head_.headers) header_->set(name, value);
      header_->chunked(true);
      header_->keep_alive(keep_alive_);
      count_response(head_.status);
      started_at_ = std::chrono::steady_clock::now();
      session_->stream_.expires_at(started_at_ + std::chrono::seconds(60));
      serializer_.emplace(*header_);
      http::async_write_header(session_->stream_, *serializer_,
                               [self = shared_from_this(), last](beast::error_code ec, std::size_t) {
                                 if (ec) return self->written(ec, false);
                                 self->write_chunk(last);
                               });
    }

    void write_chunk(bool last) {
      static constexpr std::string_view kCrlf = "\r\n";
      static constexpr std::string_view kTerminator = "0\r\n\r\n";
      std::size_t count = 0;
      if (!in_flight_.empty()) {
        size_line_ = fmt::format("{:x}\r\n", in_flight_.size());
        buffers_[count++] = asio::buffer(size_line_);
        buffers_[count++] = asio::buffer(in_flight_);
        buffers_[count++] = asio::buffer(kCrlf.data(), kCrlf.size());
      }
      if (last) buffers_[count++] = asio::buffer(kTerminator.data(), kTerminator.size());
      sent_ += in_flight_.size();
      // reply()'s deadline over what has been sent so far: 60 s, plus one per 256 KiB.
      session_->stream_.expires_at(started_at_ + std::chrono::seconds(60) +
                                   std::chrono::seconds(sent_ / kWriteBytesPerSecondFloor));
      // The span is copied into the operation, the array it points to is not: a member.
      asio::async_write(session_->stream_, std::span(buffers_.data(), count),
                        [self = shared_from_this(), last](beast::error_code ec, std::size_t) {
                          self->written(ec, last);
                        });
    }

    void written(beast::error_code ec, bool last) {
      if (last && !ec) {
        session_->after_write(ec, keep_alive_);
        return;
      }
      {
        std::lock_guard lock(mutex_);
        writing_ = false;
        if (ec) gone_ = true;
      }
      cv_.notify_one();
      if (ec) cut();
    }

    // Ends the connection without the terminating chunk: the client sees a truncated body.
    void cut() {
      beast::error_code ec;
      session_->stream_.socket().shutdown(tcp::socket::shutdown_both, ec);
      session_->stream_.close();
    }

    std::shared_ptr<HttpSession> session_;
    HttpResponse head_;  // status and headers (and, sent whole, the body)
    const unsigned version_;
    const bool keep_alive_;
    const std::string request_id_;
    std::mutex mutex_;
    std::condition_variable cv_;
    bool writing_ = false;  // GUARDED_BY(mutex_): a chunk is on the wire
    bool gone_ = false;     // GUARDED_BY(mutex_): the connection failed or was cut
    // The producer's thread only:
    std::string filling_;
    bool started_ = false;  // the header has been handed to the loop
    // The connection's loop only (in_flight_ also while writing_ is set):
    std::string in_flight_;
    std::string size_line_;
    std::array<asio::const_buffer, 4> buffers_;  // of the chunk being written
    std::optional<http::response<http::empty_body>> header_;
    std::optional<http::response_serializer<http::empty_body>> serializer_;
    std::chrono::steady_clock::time_point started_at_;
    std::size_t sent_ = 0;
  };

  // /mcp: the MCP service answers through a Responder (mcp/mcp.h), with one response or a
  // text/event-stream.
  void serve_mcp(http::request<http::string_body> request, const std::string& request_id) {
    mcp::HttpExchange exchange;
    exchange.method = std::string(request.method_string());
    exchange.body = std::move(request.body());
    exchange.authorization = std::string(request[http::field::authorization]);
    exchange.session_id = std::string(request["Mcp-Session-Id"]);
    exchange.protocol_version = std::string(request["MCP-Protocol-Version"]);
    exchange.accept = std::string(request[http::field::accept]);
    exchange.origin = std::string(request[http::field::origin]);
    exchange.host = std::string(request[http::field::host]);
    services_.mcp->handle(std::move(exchange), std::make_shared<McpResponder>(shared_from_this(), request.version(),
                                                                              request.keep_alive(), request_id));
  }

  // Answers one /mcp request on this connection. Any thread: everything is posted to the
  // connection's loop.
  class McpResponder : public mcp::Responder {
   public:
    McpResponder(std::shared_ptr<HttpSession> session, unsigned version, bool keep_alive, std::string request_id)
        : session_(std::move(session)), version_(version), keep_alive_(keep_alive), request_id_(std::move(request_id)) {}

    void respond(int status, mcp::Headers headers, std::string body) override {
      asio::post(session_->stream_.get_executor(), [session = session_, status, headers = std::move(headers),
                                                    body = std::move(body), version = version_,
                                                    keep_alive = keep_alive_, request_id = request_id_]() mutable {
        session->reply(HttpResponse{status, std::move(headers), std::move(body)}, version, keep_alive, false, request_id);
      });
    }

    std::shared_ptr<mcp::EventStream> open_stream(mcp::Headers headers, std::function<void()> gone) override {
      auto stream = std::make_shared<SseStream>(session_, session_->services_.mcp_stream_events, std::move(gone));
      asio::post(session_->stream_.get_executor(), [stream, headers = std::move(headers), version = version_,
                                                    request_id = request_id_]() mutable {
        stream->begin(std::move(headers), version, request_id);
      });
      return stream;
    }

   private:
    std::shared_ptr<HttpSession> session_;
    unsigned version_;
    bool keep_alive_;
    std::string request_id_;
  };

  // A text/event-stream response in chunked encoding; the connection closes after it (so
  // watching for the client's going away can read the socket without stealing a next
  // request). Threading: send/finish from any thread (counters under mutex_); the rest runs on
  // the connection's loop. A client that does not read costs at most max_events queued events:
  // beyond them the stream is cut.
  class SseStream : public mcp::EventStream, public std::enable_shared_from_this<SseStream> {
   public:
    SseStream(std::shared_ptr<HttpSession> session, std::size_t max_events, std::function<void()> gone)
        : session_(std::move(session)), max_events_(max_events), gone_(std::move(gone)) {}

    bool send(std::string data) override {
      {
        std::lock_guard lock(mutex_);
        if (ended_) return false;
        if (queued_ >= max_events_) {
          ended_ = true;
          asio::post(session_->stream_.get_executor(), [self = shared_from_this()] { self->lost(); });
          return false;
        }
        ++queued_;
      }
      asio::post(session_->stream_.get_executor(), [self = shared_from_this(), data = std::move(data)]() mutable {
        self->queue_.push_back(fmt::format("{:x}\r\ndata: {}\n\n\r\n", data.size() + 8, data));
        self->write_next();
      });
      return true;
    }

    void finish() override {
      {
        std::lock_guard lock(mutex_);
        if (ended_) return;
        ended_ = true;
      }
      asio::post(session_->stream_.get_executor(), [self = shared_from_this()] {
        self->finishing_ = true;
        self->write_next();
      });
    }

    void begin(mcp::Headers headers, unsigned version, const std::string& request_id) {
      auto& stream = session_->stream_;
      stream.expires_never();  // an event stream lasts as long as the client wants it
      header_ = std::make_shared<http::response<http::empty_body>>(http::status::ok, version);
      add_common_headers(*header_, request_id);
      for (auto& [name, value] : headers) header_->set(name, value);
      header_->chunked(true);
      header_->keep_alive(false);
      serializer_ = std::make_shared<http::response_serializer<http::empty_body>>(*header_);
      http::async_write_header(stream, *serializer_, [self = shared_from_this()](beast::error_code ec, std::size_t) {
        if (ec) return self->lost();
        self->header_written_ = true;
        self->watch();
        self->write_next();
      });
    }

   private:
    // A read that completes only when the client closes (or sends what it must not).
    void watch() {
      session_->stream_.async_read_some(asio::buffer(scratch_), [self = shared_from_this()](beast::error_code ec,
                                                                                           std::size_t) {
        if (ec) return self->lost();
        self->watch();
      });
    }

    void write_next() {
      if (writing_ || !header_written_ || closed_) return;
      if (queue_.empty()) {
        if (!finishing_) return;
        queue_.push_back("0\r\n\r\n");
        finishing_ = false;
        last_ = true;
      }
      writing_ = true;
      asio::async_write(session_->stream_, asio::buffer(queue_.front()),
                        [self = shared_from_this()](beast::error_code ec, std::size_t) {
                          self->writing_ = false;
                          self->queue_.pop_front();
                          if (ec) return self->lost();
                          if (self->last_ && self->queue_.empty()) return self->close();
                          {
                            std::lock_guard lock(self->mutex_);
                            if (self->queued_ > 0) --self->queued_;
                          }
                          self->write_next();
                        });
    }

    // The client went away (or fell too far behind) before the end.
    void lost() {
      if (closed_) return;
      {
        std::lock_guard lock(mutex_);
        ended_ = true;
      }
      if (gone_) std::exchange(gone_, nullptr)();
      close();
    }

    void close() {
      if (closed_) return;
      closed_ = true;
      gone_ = nullptr;
      beast::error_code ec;
      session_->stream_.socket().shutdown(tcp::socket::shutdown_both, ec);
      session_->stream_.close();
    }

    std::shared_ptr<HttpSession> session_;
    const std::size_t max_events_;
    std::mutex mutex_;
    std::size_t queued_ = 0;  // GUARDED_BY(mutex_): events sent but not yet written
    bool ended_ = false;      // GUARDED_BY(mutex_): finish() called or the stream lost
    // The connection's loop only:
    std::function<void()> gone_;
    std::shared_ptr<http::response<http::empty_body>> header_;
    std::shared_ptr<http::response_serializer<http::empty_body>> serializer_;
    std::deque<std::string> queue_;
    std::array<char, 512> scratch_{};
    bool header_written_ = false;
    bool writing_ = false;
    bool finishing_ = false;
    bool last_ = false;
    bool closed_ = false;
  };

  void upgrade(http::request<http::string_body> request, const std::string& request_id) {
    const std::string target(request.target());
    if (target.substr(0, target.find('?')) != "/api/sync/ws") {
      reply(error_response(Error("entity_not_found", "WebSocket upgrades are served at /api/sync/ws"), request_id),
            request.version(), false, false, request_id);
      return;
    }
    // Authentication reads the store: on the worker pool, then back on this strand.
    auto upgrade_request = std::make_shared<http::request<http::string_body>>(std::move(request));
    asio::post(services_.workers, guarded("a WebSocket upgrade", [self = shared_from_this(), upgrade_request, target,
                                                               request_id] {
      auto grant = authorize_upgrade(self->services_.auth,
                                     std::string((*upgrade_request)[http::field::sec_websocket_protocol]), target,
                                     std::string((*upgrade_request)[http::field::authorization]));
      asio::post(self->stream_.get_executor(), [self, upgrade_request, request_id, grant = std::move(grant)]() mutable {
        if (!grant) {
          self->reply(error_response(grant.error(), request_id), upgrade_request->version(), false, false, request_id);
          return;
        }
        const auto& principal = grant->principal;
        auto slot = self->services_.connections.acquire(principal.tenant.key() + "/" + principal.credential_id(),
                                                        principal.participant_kind);
        if (!slot) {
          self->reply(error_response(slot.error(), request_id), upgrade_request->version(), false, false, request_id);
          return;
        }
        self->stream_.expires_never();
        std::make_shared<WsSession>(self->stream_.release_socket(), self->services_, self->wakeups_,
                                    self->write_blocks_, std::move(*slot))
            ->start(std::move(*upgrade_request), std::move(*grant));
      });
    }));
  }

  void reply(HttpResponse&& response, unsigned version, bool keep_alive, bool head, std::string request_id = {}) {
    if (request_id.empty()) request_id = request_id_for("");
    count_response(response.status);
    // The request's read deadline does not carry over: the time the handler took (a claimed
    // read's wait, a bootstrap's turn on its pool) is not the client's. The write gets its
    // own, longer for a larger body, so a client that stops reading is still cut off.
    stream_.expires_after(std::chrono::seconds(60) +
                          std::chrono::seconds(response.body.size() / kWriteBytesPerSecondFloor));
    auto res = std::make_shared<http::response<http::string_body>>(
        to_beast(std::move(response), request_id, version, keep_alive, head));
    if (head) {
      auto serializer = std::make_shared<http::response_serializer<http::string_body>>(*res);
      serializer->split(true);
      http::async_write_header(stream_, *serializer,
                               [self = shared_from_this(), res, serializer](beast::error_code ec, std::size_t) {
                                 self->after_write(ec, res->keep_alive());
                               });
      return;
    }
    http::async_write(stream_, *res, [self = shared_from_this(), res](beast::error_code ec, std::size_t) {
      self->after_write(ec, res->keep_alive());
    });
  }

  void after_write(beast::error_code ec, bool keep_alive) {
    if (ec || !keep_alive) {
      stream_.socket().shutdown(tcp::socket::shutdown_send, ec);
      if (!ec && discard_after_reply_) {
        stream_.expires_after(kDiscardBodyFor);
        discard_rest();
      }
      return;
    }
    read();
  }

  // Reads and drops what the client still sends (a refused body) until it stops or time is up.
  void discard_rest() {
    auto scratch = std::make_shared<std::array<char, 16 * 1024>>();
    stream_.async_read_some(asio::buffer(*scratch), [self = shared_from_this(), scratch](beast::error_code ec,
                                                                                         std::size_t) {
      if (!ec) self->discard_rest();
    });
  }

  beast::tcp_stream stream_;
  Services& services_;
  WriteWakeups& wakeups_;  // of the event loop running stream_, for a WebSocket it upgrades to
  WriteBlocks& write_blocks_;  // likewise
  beast::flat_buffer buffer_;
  std::optional<http::request_parser<http::string_body>> parser_;
  bool discard_after_reply_ = false;
};

}  // namespace

// ---------------------------------------------------------------- server

// One event loop per I/O thread; each accepted socket stays on one loop (round robin). Why
// not one io_context run by every I/O thread: a socket's handlers would then need a strand,
// and starting a socket's write from the fan-out would cost a strand post (allocations and a
// hand-off) per socket and delta. A loop run by one thread is every one of its sockets' strand,
// so its WriteWakeups drain starts their writes in place.
struct IoLoop {
  WriteBlocks write_blocks;  // before io: destroying io destroys sessions, which may hold a block
  asio::io_context io{1};  // concurrency hint: one thread runs it
  asio::executor_work_guard<asio::io_context::executor_type> keep_running = asio::make_work_guard(io);
  WriteWakeups wakeups{io};  // after io: the sessions it holds go before their loop
  std::thread thread;
};

struct Server::Impl {
  Impl(engine::Engine& engine, auth::AuthService& auth, coord::Coordinator& coordinator, ServerOptions opts)
      : options(std::move(opts)),
        workers(static_cast<std::size_t>(std::max(1, options.worker_threads))),
        // Half the bootstrap threads per tenant: one tenant's stalled readers leave the others room.
        stream_turns(bootstraps, static_cast<std::size_t>(std::max(1, options.limits.bootstrap_threads / 2))),
        bootstraps(static_cast<std::size_t>(std::max(1, options.limits.bootstrap_threads))),
        services{engine,
                 auth,
                 coordinator,
                 Router(engine, auth, coordinator,
                        [this](std::function<void()> task) { asio::post(workers, std::move(task)); },
                        options.webhooks, options.sources, options.allow_private_sources),
                 workers,
                 bootstraps,
                 stream_turns,
                 options.limits,
                 ConnectionCounts(options.limits)},
        loops(make_loops(options.io_threads)),
        acceptor(loops.front()->io),
        accept_backoff(loops.front()->io),
        mcp_backend(services.router, engine,
                    [this](std::function<void()> task) { asio::post(workers, guarded("an MCP call", std::move(task))); }),
        mcp(mcp_backend, options.mcp) {
    services.mcp_stream_events = options.mcp.max_stream_events;
    services.router.set_metrics_token(options.metrics_token);
    services.router.set_readiness_checks(options.readiness_checks);
    services.router.set_data_location(options.data_location);
    if (options.serve_mcp) services.mcp = &mcp;
  }

  static std::vector<std::unique_ptr<IoLoop>> make_loops(int count) {
    std::vector<std::unique_ptr<IoLoop>> made;
    for (int i = 0; i < std::max(1, count); ++i) made.push_back(std::make_unique<IoLoop>());
    return made;
  }

  void accept() {
    IoLoop& loop = *loops[next_loop++ % loops.size()];
    acceptor.async_accept(asio::any_io_executor(loop.io.get_executor()), [this, &loop](beast::error_code ec,
                                                                                      tcp::socket socket) {
      if (!ec) {
        socket.set_option(tcp::no_delay(true), ec);
        std::make_shared<HttpSession>(std::move(socket), services, loop.wakeups, loop.write_blocks)->start();
        accept();
        return;
      }
      if (ec == asio::error::operation_aborted || !acceptor.is_open()) return;
      if (out_of_descriptors(ec)) {
        back_off(ec);
        return;
      }
      spdlog::warn("accept failed: {}", ec.message());
      accept();
    });
  }

  static bool out_of_descriptors(const beast::error_code& ec) {
    return ec == asio::error::no_descriptors || ec == asio::error::no_buffer_space ||
           ec == asio::error::no_memory || ec == beast::error_code(ENFILE, boost::system::system_category());
  }

  // The connection stays in the listen backlog; try again after kAcceptBackoff.
  void back_off(const beast::error_code& ec) {
    ++refused_accepts;
    const auto now = std::chrono::steady_clock::now();
    if (now >= next_accept_warning) {
      spdlog::warn("accept failed: {} ({} attempts since the last warning); retrying every {} ms", ec.message(),
                   refused_accepts, kAcceptBackoff.count());
      refused_accepts = 0;
      next_accept_warning = now + kAcceptWarningInterval;
    }
    accept_backoff.expires_after(kAcceptBackoff);
    accept_backoff.async_wait([this](beast::error_code wait_ec) {
      if (!wait_ec) accept();
    });
  }

  ServerOptions options;
  asio::thread_pool workers;
  StreamTurns stream_turns;  // before bootstraps: outlives the pool's jobs, which call it
  asio::thread_pool bootstraps;
  Services services;
  std::vector<std::unique_ptr<IoLoop>> loops;
  std::size_t next_loop = 0;  // accept handler only
  tcp::acceptor acceptor;
  asio::steady_timer accept_backoff;                           // accept handler only
  std::chrono::steady_clock::time_point next_accept_warning;  // accept handler only
  int64_t refused_accepts = 0;                                // accept handler only
  RouterBackend mcp_backend;
  mcp::Service mcp;
  bool running = false;
};

Server::Server(engine::Engine& engine, auth::AuthService& auth, coord::Coordinator& coordinator, ServerOptions options)
    : impl_(std::make_unique<Impl>(engine, auth, coordinator, std::move(options))) {}

Server::~Server() { stop(); }

Result<uint16_t> Server::start() {
  beast::error_code ec;
  const auto address = asio::ip::make_address(impl_->options.host, ec);
  if (ec) return fail("invalid_request", "invalid listen address " + impl_->options.host);
  tcp::endpoint endpoint(address, impl_->options.port);
  auto& acceptor = impl_->acceptor;
  acceptor.open(endpoint.protocol(), ec);
  if (!ec) acceptor.set_option(asio::socket_base::reuse_address(true), ec);
  if (!ec) acceptor.bind(endpoint, ec);
  if (!ec) acceptor.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) return fail("internal_error", "cannot listen on " + impl_->options.host + ": " + ec.message());
  const uint16_t port = acceptor.local_endpoint().port();
  impl_->accept();
  if (impl_->services.mcp) impl_->mcp.start();
  for (std::size_t i = 0; i < impl_->loops.size(); ++i) {
    impl_->loops[i]->thread = named_thread("ablo-io-" + std::to_string(i), [&io = impl_->loops[i]->io] { io.run(); });
  }
  impl_->running = true;
  return port;
}

void Server::log_advanced() {
  if (impl_->services.mcp) impl_->mcp.log_advanced();
}

void Server::stop() {
  if (!impl_->running) return;
  impl_->running = false;
  impl_->services.stopping = true;
  asio::post(impl_->loops.front()->io, [this] {
    beast::error_code ec;
    impl_->acceptor.close(ec);
  });
  for (auto& loop : impl_->loops) loop->io.stop();
  for (auto& loop : impl_->loops) loop->thread.join();
  for (auto& loop : impl_->loops) loop->wakeups.clear();
  impl_->mcp.stop();
  impl_->stream_turns.stop();
  impl_->workers.join();
  impl_->bootstraps.join();
}

}  // namespace ablo::net
