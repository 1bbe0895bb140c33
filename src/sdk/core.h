#pragma once
// ClientCore: the shared state of one Client (design docs/client-library.md §2) and the wiring
// of its parts — the replica (replica.h), the outbox (outbox.h), the local store (local_store.h,
// its own thread) and the connection (connection.cpp, on the I/O thread).
//
// THREADS AND LOCKS
// * Caller threads: reads take `mutex` shared; writes take it exclusive for the optimistic apply,
//   then hand the outbox record to the store thread and wait for its commit (not on the I/O thread).
// * The I/O thread (io_thread, running `io`): every member marked (io) — the socket, HTTP
//   calls, timers, the connection state, the persist batch. Nothing on it blocks.
// * The store thread (inside LocalStore): SQLite only; its completions are posted to `io`.
// * Lock order: `mutex` (replica, outbox, write waiters, live queries) → a subscription's own
//   mutex → `status_mutex`; and `mutex` → `UndoRegistry::mutex` → an undo scope's mutex (undo.h).
//   No lock is held while a callback runs or an executor is posted to (except the inline
//   executor, whose tasks must not call back into the client).
#include <atomic>
#include <chrono>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <shared_mutex>
#include <string>
#include <thread>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>

#include "client/async_transport.h"
#include "schema/schema.h"
#include "sdk/client.h"
#include "sdk/local_store.h"
#include "sdk/outbox.h"
#include "sdk/pending_state.h"
#include "sdk/query_eval.h"
#include "sdk/replica.h"

namespace ablo {
// The clauses of a Query (client.h), shared by the local reads (client.cpp) and fetch (fetch.cpp).
struct Query::Spec {
  sdk_detail::QuerySpec spec;
};
namespace sdk_detail {
struct Subscription;
}
// What an Observer handle shares: a live query, or how to cancel a client-wide listener.
struct Observer::State {
  std::weak_ptr<sdk_detail::ClientCore> core;
  std::shared_ptr<sdk_detail::Subscription> query;  // a live query, or
  std::function<void()> cancel_listener;             // a client-wide listener
};
}  // namespace ablo

namespace ablo::sdk_detail {

struct UndoRegistry;  // undo.h

// Who made a write: the caller, or an undo/redo replay (never recorded again — §4.4 [REC]: an
// origin tag, not a timing-based "replaying" flag).
enum class WriteOrigin { kCaller, kUndoReplay };

// One observer's serial queue: callbacks never overlap, keep order, and coalesce while waiting.
// An update is queued under ClientCore::mutex, where it was computed, so updates queue in the
// order the live result moved: the caller's writes and the I/O thread's deltas both move it, and
// an update handed over after the lock was released could overtake a newer one (a merge keeps the
// later arrival's rows, so a list stayed stale). The drain is posted after the lock is released,
// since an inline executor runs the callback at once. Lock order: ClientCore::mutex, then
// Subscription::mutex (a leaf: nothing is called under it).
struct Subscription : std::enable_shared_from_this<Subscription> {
  Subscription(std::shared_ptr<Executor> executor, std::function<void(const QueryUpdate&)> callback, LiveResult live)
      : executor(std::move(executor)), callback(std::move(callback)), live(std::move(live)) {}
  // Under ClientCore::mutex. True when the caller must schedule() it once that lock is released.
  [[nodiscard]] bool enqueue(QueryUpdate update);
  void schedule();  // never under ClientCore::mutex
  void drain();

  const std::shared_ptr<Executor> executor;
  const std::function<void(const QueryUpdate&)> callback;
  LiveResult live;  // guarded by ClientCore::mutex

  std::mutex mutex;                     // guards the members below
  std::optional<QueryUpdate> waiting;   // not yet delivered (merged while the executor lags)
  bool scheduled = false;
  bool cancelled = false;
};

// A listener of client-wide events (status, mutation failures, store events), delivered in order.
template <class Event>
struct Listener : std::enable_shared_from_this<Listener<Event>> {
  std::shared_ptr<Executor> executor;
  std::function<void(const Event&)> callback;
  std::mutex mutex;
  std::vector<Event> waiting;
  bool scheduled = false;
  bool cancelled = false;
  void deliver(Event event);
};

// One claim this client asked for (design §9), from intent_begin until released or lost. (io)
struct ClaimRecord {
  std::shared_ptr<Claim::State> state;                 // what the Claim handle shares
  std::shared_ptr<PendingState<Claim>> waiter;         // until granted (then null)
  std::string begin_frame;                             // intent_begin, re-sent on every socket (T47)
  std::optional<int> max_queue_depth;
  std::shared_ptr<boost::asio::steady_timer> timeout;  // ClaimOptions::timeout, while waiting
  // The lease as the server clamps it (1 s … 10 min). The server renews a held claim while the
  // socket is open, so its lease ends at most this long after the socket went down.
  std::chrono::milliseconds lease{60000};
  std::shared_ptr<boost::asio::steady_timer> lapse;    // while held and disconnected (§9 "Held")
};

// What a caller waits for on one outbox entry.
struct WriteWaiter {
  std::shared_ptr<PendingState<Receipt>> state;
  bool replayed = false;
};

struct ClientCore : std::enable_shared_from_this<ClientCore> {
  explicit ClientCore(Options options);
  ~ClientCore();

  // --- set-up and teardown (client.cpp) ---
  void open_store_and_load();  // throws Exception
  void start();                // the I/O thread
  void shutdown();             // idempotent; see ~Client in client.h
  bool disposed() const { return disposed_.load(); }

  // --- writes (client.cpp), any thread ---
  Pending<Receipt> write(Action action, std::string_view model, std::string id, JsonObject data, WriteOptions options,
                         std::optional<int64_t> seen_version = std::nullopt, WriteOrigin origin = WriteOrigin::kCaller);
  Pending<CommitReceipt> commit(std::vector<Operation> operations, WriteOptions options);
  void persist_then_send(std::vector<StoredOutboxEntry> entries, std::chrono::milliseconds delay);
  Pending<Unit> ready();
  Pending<Unit> wait_for_flush(std::optional<std::chrono::milliseconds> timeout);

  // --- observers (client.cpp) ---
  Result<std::shared_ptr<Subscription>> subscribe(const std::string& model, QuerySpec spec,
                                                  std::function<void(const QueryUpdate&)> callback,
                                                  std::shared_ptr<Executor> executor);
  void unsubscribe(const std::shared_ptr<Subscription>& subscription);
  // Queues the row changes' updates on the live queries of their models (needs `mutex`
  // exclusive: the queue order is the replica's); the returned subscriptions are scheduled after
  // the lock is released (deliver_all).
  using Deliveries = std::vector<std::shared_ptr<Subscription>>;
  void route_changes(const std::vector<RowChange>& changes, ChangeCause cause, Deliveries& out);
  static void deliver_all(Deliveries& deliveries);

  // --- the connection (connection.cpp), I/O thread ---
  void connect_cycle();
  void on_frame(std::string&& text);
  void on_socket_closed(int code, const std::string& reason);
  void pump();                      // sends each lane's next frame when connected and none is in flight
  void pump_lane(Lane lane);
  void schedule_pump(std::chrono::milliseconds delay);
  void notify_status();
  ConnectionStatus status_snapshot() const;
  // This machine's wall clock in ms since the epoch: Options::clock when set (the clock-skew
  // tests' seam), else the system clock. Every wall-clock reading of the client goes through it.
  int64_t local_now_ms() const;

  // --- shared ---
  Options options;
  std::shared_ptr<const schema::Schema> schema;
  client::HttpTarget target;
  std::shared_ptr<Executor> executor;  // default for callbacks
  std::string bearer_key;              // the sk_/pk_ key or token given

  mutable std::shared_mutex mutex;
  Replica replica;                                                  // (mutex)
  Outbox outbox;                                                    // (mutex)
  std::map<int64_t, std::vector<WriteWaiter>> write_waiters;        // (mutex) by outbox seq
  std::set<int64_t> replayed_seqs;                                  // (mutex) entries restored from the file
  // (mutex) the commit lane's callers by clientTxId, with the row ids of their operations
  std::map<std::string, std::pair<std::shared_ptr<PendingState<CommitReceipt>>, std::vector<std::string>>> commit_waiters;
  std::set<int64_t> flagged_seqs;                                   // (mutex) applied with onStale flag over a moved premise
  std::map<std::string, std::vector<std::shared_ptr<Subscription>>> live_queries;  // (mutex) model key →
  std::vector<std::shared_ptr<PendingState<Unit>>> ready_waiters;   // (mutex)
  std::vector<std::shared_ptr<PendingState<Unit>>> flush_waiters;   // (mutex)
  bool replica_ready = false;                                       // (mutex) a bootstrap or a warm start
  int64_t applied_cursor = 0;                                       // (mutex) highest delta applied in memory
  std::optional<Error> blocking_error;                              // (mutex) why ready() cannot succeed

  std::unique_ptr<LocalStore> store;
  StoreMeta meta;  // as loaded; then (io)
  std::optional<StoreFileEvent> file_event;

  mutable std::mutex status_mutex;
  ConnectionStatus status;  // (status_mutex)
  std::vector<std::shared_ptr<Listener<ConnectionStatus>>> status_listeners;   // (status_mutex)
  std::vector<std::shared_ptr<Listener<MutationFailure>>> failure_listeners;   // (status_mutex)
  std::vector<std::shared_ptr<Listener<StoreEvent>>> store_listeners;          // (status_mutex)
  void report_failure(MutationFailure failure);
  void report_store_event(StoreEvent event);

  // (io) connection state
  std::shared_ptr<client::AsyncWs> ws;
  std::shared_ptr<client::Cancel> http_call;
  std::shared_ptr<client::Cancel> refresh_call;  // the token refresh's exchange
  int refresh_attempt = 0;                       // failed refreshes in a row (backoff exponent)
  std::string token;                      // bearer of the sync socket and HTTP calls
  int64_t token_expires_local_ms = 0;     // local clock
  std::string participant_id, organization_id;
  std::vector<std::string> sync_groups;
  bool caught_up = false;                 // the socket's first sync_response has been applied
  int attempt = 0;                        // reconnect attempt (backoff exponent)
  int64_t persisted_cursor = 0;           // meta.cursor as the store last committed it
  int64_t snapshot_cursor = 0;            // the last bootstrap's watermark (its rows are not deltas to re-fetch)
  int64_t accepted_cursor = 0;            // this socket's highest delta taken (§6.1: from the persisted cursor)
  int64_t persist_failed_epoch = -1;      // the socket during which a delta batch failed to persist
  DeltaBatch persist_batch;               // deltas applied in memory, not yet handed to the store
  bool flush_armed = false;
  std::chrono::steady_clock::time_point frame_sent_at{};
  std::string in_flight_frame;            // clientTxId of the model-lane frame on the socket
  std::string in_flight_commit;           // clientTxId of the commit-lane frame on the socket
  int64_t connection_epoch = 0;           // bumps on every socket: late callbacks of an old one are ignored
  std::chrono::steady_clock::time_point last_frame_at{};
  bool auth_blocked = false;

  std::atomic<bool> disposed_{false};
  std::thread::id io_thread_id;
  std::thread io_thread;
  // Declared after the state its handlers touch: pending handlers are destroyed while it exists.
  boost::asio::io_context io;
  std::optional<boost::asio::executor_work_guard<boost::asio::io_context::executor_type>> work;
  boost::asio::steady_timer reconnect_timer{io};
  boost::asio::steady_timer pump_timer{io};
  boost::asio::steady_timer flush_timer{io};
  boost::asio::steady_timer heartbeat_timer{io};
  boost::asio::steady_timer ack_timer{io};         // the model-lane frame's answer
  boost::asio::steady_timer commit_ack_timer{io};  // the commit-lane frame's answer
  boost::asio::steady_timer refresh_timer{io};     // the token refresh (design §4 step 2)
  bool pump_armed = false;
  std::map<std::string, ClaimRecord> claims;  // (io) by intent id

  // Undo scopes (undo.cpp); the write path records into them under `mutex`.
  const std::shared_ptr<UndoRegistry> undo_registry;

  // Presence (presence.cpp): the roster of others, this client's own status and activity.
  mutable std::mutex presence_mutex;                       // a leaf: taken with no other lock
  std::map<std::string, Participant> roster;               // (presence_mutex) by participant id
  std::string own_status = "online";                       // (presence_mutex)
  std::optional<Activity> own_activity;                    // (presence_mutex)
  std::vector<std::shared_ptr<Listener<std::vector<Participant>>>> presence_listeners;  // (presence_mutex)
  // The last intent_queue snapshot of each row, (schema key, id) → waiters head first.
  std::map<std::pair<std::string, std::string>, std::vector<ClaimInfo>> claim_queues;  // (presence_mutex)
};

// Claims (claims.cpp), on the I/O thread.
void on_claim_frame(ClientCore& core, std::string_view type, const boost::json::object& payload);
void reannounce_claims(ClientCore& core);  // a new socket: every waiting or held claim again
void start_claim_lapse(ClientCore& core);  // the socket closed: held claims lapse after their lease
void abandon_all_claims(ClientCore& core);  // the client closes

// Presence (presence.cpp), on the I/O thread.
void on_presence_frame(ClientCore& core, const boost::json::object& payload);
void announce_presence(ClientCore& core);  // a new socket: own status and activity
void clear_roster(ClientCore& core);       // the socket closed: the roster is rebuilt on reconnect
void on_claim_queue_frame(ClientCore& core, const boost::json::object& payload);  // intent_queue

// The wire helpers and the persist batch of connection.cpp, shared with fetch.cpp.
namespace wire {
std::optional<int64_t> int_of(const boost::json::object& object, std::string_view key);
Error error_of(const boost::json::value& envelope, std::string_view fallback_message);
std::optional<boost::json::object> parse_object(std::string_view text, boost::json::storage_ptr storage = {});
}  // namespace wire
namespace inbound {
void schedule_flush(ClientCore& core);  // hands persist_batch to the store (after delta_flush)
}  // namespace inbound

// Conversions between the outbox's entries and the store's rows.
StoredOutboxEntry to_stored(const OutboxEntry& entry);
Result<OutboxEntry> from_stored(const StoredOutboxEntry& stored);
StoredRow to_stored_row(const Row& row);

}  // namespace ablo::sdk_detail
