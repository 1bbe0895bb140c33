#pragma once
// ablo_sdk — the native C++ client library (issue 16). Design: docs/client-library.md.
//
// THREAD MODEL (§2 of the design; it holds for every type in this header)
// * One Client owns one I/O thread running a boost::asio::io_context: the socket, timers,
//   the connection state machine, the delta pipeline and the send queue live there. It also owns
//   one store thread, the only writer of the local SQLite file. Neither ever blocks on the
//   caller, on a callback or on the network.
// * Every public member function of Client, ModelHandle, Query, TypedModel, Claim, UndoScope and
//   Presence is thread-safe and may be called from any thread, including from inside a callback.
//   Handles (ModelHandle, Query, Presence, UndoScope) are cheap value types sharing the client's
//   state; they stay valid after the Client is destroyed, and then every call fails with
//   `model_disposed` (reads return empty).
// * Reads (get/list/count/status) never touch the network or the disk: they read the in-memory
//   replica under a shared lock and return values (snapshots), never live objects.
// * Writes apply optimistically before they return and append to the durable outbox. On a
//   non-I/O thread the call returns after the outbox record is committed (group commit, ≈ 1 ms),
//   so a write whose call has returned survives a process crash. On the I/O thread (inline
//   executor callbacks) the call does not wait; the record is still committed before the write is
//   sent.
// * Callbacks (Pending::then, observers, on_lost, status, failures) run on an Executor the caller
//   chooses (Options::executor by default: one dedicated callback thread per client). Callbacks of
//   one subscription never run concurrently with each other and arrive in event order. With
//   inline_executor() they run on the I/O thread: they must be short, must not block, and must
//   not call Pending::wait() (that fails with `invalid_request` instead of deadlocking).
// * Destroying a Client: stops accepting calls, cancels observers, releases held claims
//   (best-effort intent_abandon), closes the socket (1000), joins its threads. Outbox entries
//   not yet confirmed stay in the local store file and are replayed by the next Client opened on
//   it. Pending results still outstanding fail with `model_disposed`.
//
// ERRORS: every failure is an ablo::Error (sdk/error.h) carrying a 0.9.1 registry code.
// Synchronous calls return Result<T>/std::optional; asynchronous ones a Pending<T>.
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <boost/json/object.hpp>
#include <boost/json/value.hpp>
#include <boost/json/value_from.hpp>
#include <boost/json/value_to.hpp>

#include "common/result.h"
#include "sdk/error.h"

namespace ablo {

using Json = boost::json::value;
using JsonObject = boost::json::object;
using Clock = std::chrono::system_clock;
// A schema `date` field in typed code (generated structs); JSON: ISO-8601 UTC out, ISO-8601 or epoch ms in.
using Timestamp = std::chrono::sys_time<std::chrono::milliseconds>;

class Client;
namespace sdk_detail {
struct ClientCore;  // the shared state of one client (replica, outbox, connection)
template <class T>
struct PendingState;
}  // namespace sdk_detail

// ---------------------------------------------------------------------------------------------
// Executors: where callbacks run.

class Executor {
 public:
  virtual ~Executor() = default;
  // Schedules `task`; must not run it inline when called from the I/O thread unless the executor
  // is the inline one. Thread-safe. Must not throw.
  virtual void post(std::function<void()> task) = 0;
};

// Runs each task on the thread that produced it (usually the client's I/O thread). Tasks must
// not block. Cheapest; used by benchmarks and by bindings that re-dispatch themselves.
std::shared_ptr<Executor> inline_executor();

// One dedicated thread draining a FIFO queue (the default executor of a Client is one of these).
std::shared_ptr<Executor> make_thread_executor(std::string thread_name = "ablo-callbacks");

// A queue the application drains itself (a game loop's tick, a UI event loop, the C API's
// ablo_client_run_pending). Thread-safe; tasks run on the thread calling run_pending().
class ManualExecutor : public Executor {
 public:
  ManualExecutor();
  ~ManualExecutor() override;
  void post(std::function<void()> task) override;
  // Runs up to `max_tasks` queued tasks in FIFO order; returns how many ran. Never blocks.
  std::size_t run_pending(std::size_t max_tasks = SIZE_MAX);
  // Waits up to `timeout` for at least one task, then behaves as run_pending().
  std::size_t run_pending_for(std::chrono::milliseconds timeout, std::size_t max_tasks = SIZE_MAX);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// ---------------------------------------------------------------------------------------------
// Pending<T>: the result of an asynchronous call, std::future-like.

struct Unit {};  // Pending<Unit>: an operation with no value

// Single-consumer: exactly one of wait(), wait_result(), wait_for() (once it returns a value) or
// then() takes the result; a second take fails with `invalid_request`. Move-only. Dropping an
// untaken Pending is fine: the operation goes on, its result is discarded (a write still
// replays and still reports a rejection through Client::on_mutation_failure).
// Available for T in {Unit, Receipt, CommitReceipt, Row, std::optional<Row>, std::vector<Row>,
// Claim, UndoResult} (explicitly instantiated in the library).
template <class T>
class Pending {
 public:
  Pending() = default;  // an invalid Pending: every take fails with `invalid_request`
  Pending(Pending&&) noexcept = default;
  Pending& operator=(Pending&&) noexcept = default;
  Pending(const Pending&) = delete;
  Pending& operator=(const Pending&) = delete;
  ~Pending();

  bool valid() const noexcept;  // holds an untaken result slot
  bool ready() const;           // the result is available (wait() would not block)

  // Blocks until the result is available and returns it; throws ablo::Exception with the Error.
  // Called on the client's I/O thread it does not block: throws `invalid_request`.
  T wait();
  // As wait(), without throwing.
  Result<T> wait_result();
  // Waits at most `timeout`: nullopt when the result is not there yet (the Pending stays valid
  // and the operation goes on); else the result, taken.
  std::optional<Result<T>> wait_for(std::chrono::milliseconds timeout);
  // Delivers the result to `callback` on `executor` (immediately posted if already ready).
  // Takes the result. `executor` null = the client's default executor.
  void then(std::shared_ptr<Executor> executor, std::function<void(Result<T>)> callback) &&;

  explicit Pending(std::shared_ptr<sdk_detail::PendingState<T>> state) : state_(std::move(state)) {}

 private:
  std::shared_ptr<sdk_detail::PendingState<T>> state_;
};

// ---------------------------------------------------------------------------------------------
// Values.

enum class OnStale { kReject, kForce, kFlag };  // wire `onStale` (protocol.md §3.7)
enum class Scope { kLive, kArchived, kAll };    // which rows a read sees (archivedAt)

// A row as the replica shows it: the confirmed server state with this client's unconfirmed
// writes applied on top. A value: it never changes after it is returned.
struct Row {
  std::string model;  // schema key
  std::string id;
  JsonObject data;    // declared fields + id, createdAt, updatedAt, archivedAt (camelCase, wire form)
  // The delta id of the confirmed version under `data` (the last delta that touched the row, or
  // the bootstrap watermark it was loaded at). An update made from this Row sends readAt = version.
  int64_t version = 0;
  bool pending = false;   // has writes of this client not yet confirmed
  bool archived = false;

  // Typed view through the generated JSON mapping (boost::json::value_to<T>).
  template <class T>
  T as() const {
    return boost::json::value_to<T>(Json(data));
  }
};

// What a confirmed write returns. Confirmed = the server accepted it AND this client's replica
// has applied the deltas up to `last_sync_id` (read-your-writes, client.md §3.4).
struct Receipt {
  std::string transaction_id;  // the operation's stable id (wire transactionId), kept across retries and restarts
  std::string client_tx_id;    // the commit frame's id (stable per outbox batch, kept across retries)
  int64_t last_sync_id = 0;    // highest delta id the commit produced
  std::optional<Row> row;      // the confirmed row after the write (nullopt for remove)
  bool flagged_stale = false;  // on_stale = kFlag and the premise had moved: applied, marked for review
  bool replayed = false;       // the write was made by an earlier Client on the same store (offline replay)
};

// Commit lane (client.md §2.6/§3.7): several operations applied atomically, not optimistic.
enum class Action { kCreate, kUpdate, kDelete, kArchive, kUnarchive };
struct Operation {
  Action action = Action::kUpdate;
  std::string model;  // schema key (or any wire form; resolved through the schema)
  std::string id;     // required except for kCreate (generated UUID v4 when empty)
  JsonObject data;    // kCreate/kUpdate
  std::optional<int64_t> read_at;
  std::optional<OnStale> on_stale;
};
struct CommitReceipt {
  std::string client_tx_id;
  int64_t last_sync_id = 0;
  bool flagged_stale = false;
  std::vector<std::string> ids;  // the row id of each operation, in order
};

// A claim as observed (others' claims from presence, the wait line from intent_queue).
struct ClaimInfo {
  std::string intent_id;
  std::string model;  // schema key
  std::string id;
  std::optional<std::string> field;
  std::string action;            // "editing" by default
  std::string description;
  std::string held_by;           // participant id
  std::string participant_kind;  // "human" | "agent"
  bool mine = false;             // held or queued by this client
  int position = -1;             // in the wait line: 0 = next; -1 for the holder
  Clock::time_point expires_at;  // server time corrected by the measured clock offset (design §8.5)
};

// A write the server refused, or one the library gave up on, after its optimistic change was
// rolled back. Delivered to Client::on_mutation_failure whoever made the write (also when its
// Pending was dropped, and for writes replayed from a previous run).
struct MutationFailure {
  std::string model, id;
  Action action = Action::kUpdate;
  std::string transaction_id;
  Error error;
  bool rolled_back = true;  // false only when the row was already gone on both sides
  bool replayed = false;    // made by an earlier Client on the same store file
};

// ---------------------------------------------------------------------------------------------
// Options.

enum class ParticipantKind { kSystem, kAgent, kUser };  // capability exchange participantKind

// What to do when the local store file is unreadable (corrupt), not an Ablo client store (foreign),
// or written by a newer library version (design §3.6). A valid store of another server or
// organization is not a file error: its rows are rebuilt and its outbox kept for the same
// participant (StoreEvent::kServerChanged).
enum class StoreRecovery {
  kRecreate,  // move the file aside (<path>.bad-<utc>), start empty, report via on_store_event
  kFail,      // the constructor throws Exception(db_not_opened); the file is left untouched
};

struct Backoff {
  std::chrono::milliseconds initial{1000};
  std::chrono::milliseconds max{30000};
  // Each delay is uniform in [d·(1−jitter), d] with d = min(max, initial·2^attempt) ("equal
  // jitter"); attempts never stop (no give-up count, unlike 0.9.1 — defect D12).
  double jitter = 0.5;
};

struct Timing {
  std::chrono::milliseconds batch_delay{150};      // writes of normal priority wait this long to share a frame
  std::size_t max_batch_ops = 50;                  // operations per commit frame
  std::chrono::milliseconds commit_ack_timeout{15000};
  std::chrono::milliseconds heartbeat{30000};      // ping interval
  std::chrono::milliseconds silence_timeout{10000};  // no frame after a ping → reconnect
  std::chrono::milliseconds catch_up_poll{30000};  // periodic sync_request
  std::chrono::milliseconds delta_flush{20};       // inbound deltas are applied in batches this old at most
  std::chrono::milliseconds bootstrap_timeout{30000};
  // Transient failures (transport, 5xx, 429, commit_no_result) of a write are retried while the
  // client is connected for at most this much connected time, then the write is rolled back with
  // the last error. Time spent disconnected does not count: offline writes wait indefinitely.
  std::chrono::milliseconds transient_retry_window{120000};
  Backoff reconnect{};
  Backoff commit_retry{std::chrono::milliseconds{200}, std::chrono::milliseconds{5000}, 0.5};
};

struct Options {
  // http://host:port (ws:// is derived). https/wss are refused with invalid_options until
  // src/client gains TLS.
  std::string base_url = "http://127.0.0.1:8787";
  // sk_… (exchanged at POST /api/auth/capability) or pk_… (used as the bearer). Empty: the
  // ABLO_API_KEY environment variable, else get_token must be set.
  std::string api_key;
  // Alternative credential source: returns a bearer token, or nullopt when the login is gone
  // (→ session_expired). Called on a library worker (never the I/O thread); may block.
  std::function<std::optional<std::string>()> get_token;
  // Schema JSON v3 text (schema.md §2), e.g. the kSchemaJson constant of an `ablo generate
  // --lang cpp` header. Required.
  std::string schema;
  // Local store: a file path (created if missing), or ":memory:" / "" for a volatile store.
  std::string store_path = ":memory:";
  StoreRecovery on_bad_store = StoreRecovery::kRecreate;
  ParticipantKind participant_kind = ParticipantKind::kSystem;
  std::vector<std::string> sync_groups;  // empty: the groups the credential grants
  // Default for writes that name none. Every update/remove sends readAt (the stale guard is on by
  // default); kReject refuses a write whose row changed since the version it was made from.
  OnStale default_on_stale = OnStale::kReject;
  // Where callbacks run when a subscription names no executor. Null: a dedicated thread.
  std::shared_ptr<Executor> executor;
  Timing timing{};
  // Test seam: the wall clock (clock-skew tests). Null: std::chrono::system_clock::now.
  std::function<Clock::time_point()> clock;
  // Test seam: called on the store thread at named points inside its transactions
  // ("apply_delta_batch:rows", … — LocalStoreOptions::fault_for_test); an error aborts that
  // transaction (fault tests: a failed persist must not lose deltas). Null: no faults.
  std::function<Status(std::string_view point)> store_fault_for_test;
  // Log sink (level: 0 debug … 3 error). Null: spdlog's default logger at warn.
  std::function<void(int level, std::string_view message)> log;
};

// ---------------------------------------------------------------------------------------------
// Write options.

struct WriteOptions {
  // readAt: default = the version of the row in the replica when the call is made (or the
  // Row's version for the update(const Row&, …) overloads). Set it to send another premise.
  std::optional<int64_t> read_at;
  // Default Options::default_on_stale. kForce sends no readAt at all.
  std::optional<OnStale> on_stale;
  // Becomes the operation's transactionId (retry-stable; the server applies it at most once).
  // Empty: a generated "tx_<uuid>". Reusing a key with a different operation fails with
  // idempotency_conflict.
  std::string idempotency_key;
  // Caller timeout for the Pending only: it fails with wait_for_timeout; the write itself goes on
  // (it is in the outbox) and its final outcome still reaches on_mutation_failure/observers.
  std::optional<std::chrono::milliseconds> timeout;
  // Record this write in the named undo scope (UndoManager). Empty: not recorded, unless a scope
  // records every write (UndoScopeOptions::record_all). An open UndoGroup only groups what is recorded.
  std::string undo_scope;
};

struct CreateOptions : WriteOptions {
  std::string id;  // the new row's id; empty = a UUID v4
};

struct ClaimOptions {
  std::chrono::milliseconds ttl{60000};  // lease (estimatedMs); the server clamps to 1 s … 10 min
  std::string action = "editing";
  std::string description;
  std::optional<std::string> field;
  bool wait = true;                       // false: fail fast with entity_claimed if someone holds it
  std::optional<int> max_queue_depth;     // queue_too_deep when more waiters are ahead
  std::optional<std::chrono::milliseconds> timeout;  // grant_timeout (the place in line is given up)
};

// ---------------------------------------------------------------------------------------------
// Queries and observers.

enum class Op { kEq, kNe, kLt, kLe, kGt, kGe, kIn, kNotIn, kIsNull, kIsNotNull, kLike, kNotLike, kILike, kNotILike };
enum class Direction { kAsc, kDesc };

// Why an observer was called.
enum class ChangeCause {
  kInitial,      // the first call, with the current result
  kOptimistic,   // a local write applied (before the server answered)
  kConfirmed,    // a local write confirmed (the row may differ: server-side values)
  kRolledBack,   // a local write refused or given up; its change undone
  kRemote,       // deltas of other participants
  kRebootstrap,  // the replica was rebuilt (gap too old, wiped server, group removed)
  kSchema,       // the schema changed (a field added: rows now carry it)
};

struct QueryUpdate {
  std::vector<Row> rows;  // the full result, in query order
  std::vector<std::string> added, removed, changed;  // ids relative to the previous call
  ChangeCause cause = ChangeCause::kInitial;
  int64_t cursor = 0;  // the replica's confirmed cursor when evaluated
};

// A subscription. Move-only; destroying or cancel()ling it stops further callbacks (a callback
// already running finishes; none starts after cancel() returns, unless cancel() is called from
// inside that subscription's own callback).
class Observer {
 public:
  Observer() = default;
  Observer(Observer&&) noexcept = default;
  Observer& operator=(Observer&&) noexcept;
  Observer(const Observer&) = delete;
  Observer& operator=(const Observer&) = delete;
  ~Observer();
  void cancel();
  bool active() const;

  struct State;
  explicit Observer(std::shared_ptr<State> state) : state_(std::move(state)) {}

 private:
  std::shared_ptr<State> state_;
};

// A query over one model, evaluated on the replica by the one evaluator of design §12 (typed
// comparisons, IN for arrays, SQL null rules, nulls last, ties by id, limit 0 honoured).
// Immutable builder: each call returns a new Query.
class Query {
 public:
  Query where(std::string field, Op op, Json value = nullptr) const;
  Query where_eq(std::string field, Json value) const { return where(std::move(field), Op::kEq, std::move(value)); }
  Query order_by(std::string field, Direction direction = Direction::kAsc) const;  // several: lexicographic
  Query limit(std::size_t n) const;
  Query offset(std::size_t n) const;
  Query scope(Scope scope) const;                 // default kLive
  Query include_pending(bool include) const;      // default true: optimistic state; false: confirmed only

  // Local evaluation, never the network. Unknown field → Error invalid_request.
  Result<std::vector<Row>> list() const;
  Result<std::size_t> count() const;
  Result<std::optional<Row>> first() const;
  // Calls `callback` with the current result (cause kInitial), then after every change that can
  // alter the result — optimistic, confirmed, rolled back, remote — with the new result. If the
  // executor lags, pending updates coalesce into one (latest rows, merged id lists, the latest
  // cause). `executor` null = the client's default.
  Observer observe(std::function<void(const QueryUpdate&)> callback, std::shared_ptr<Executor> executor = nullptr) const;

  const std::string& model() const { return model_; }

  struct Spec;  // the clauses (defined in the library)
  Query(std::shared_ptr<sdk_detail::ClientCore> core, std::string model, std::shared_ptr<const Spec> spec)
      : core_(std::move(core)), model_(std::move(model)), spec_(std::move(spec)) {}

 private:
  friend class ModelHandle;  // fetch(const Query&) sends the clauses
  std::shared_ptr<sdk_detail::ClientCore> core_;
  std::string model_;
  std::shared_ptr<const Spec> spec_;
};

// ---------------------------------------------------------------------------------------------
// Claims.

// A held claim (RAII). Obtained granted: the row it carries is the fresh row at the grant.
// While alive the library keeps the lease: the server renews it while the socket is open; after
// a reconnect the library re-announces it with the same intent id. Destroying or release()ing it
// sends intent_abandon (asynchronously, never blocks). Move-only.
class Claim {
 public:
  Claim() = default;
  Claim(Claim&&) noexcept;
  Claim& operator=(Claim&&) noexcept;  // releases the claim held before
  Claim(const Claim&) = delete;
  Claim& operator=(const Claim&) = delete;
  ~Claim();

  const std::string& intent_id() const;
  const std::string& model() const;
  const std::string& id() const;
  // The row as it was when granted (after the previous holder's writes were applied).
  const Row& row() const;
  // readAt of writes made under this claim: the replica cursor at the grant.
  int64_t read_at() const;
  // False once released, lost, or the client closed.
  bool held() const;

  // Update under the claim: readAt = read_at(), onStale reject, resolves when confirmed.
  // Fails with claim_lost at once (nothing sent) when !held().
  Pending<Receipt> update(JsonObject patch, WriteOptions options = {});
  Pending<Receipt> remove(WriteOptions options = {});

  // Called once if the lease is lost while held: intent_lost (expired | preempted), or the
  // client stayed disconnected past expires_at so the server let it lapse. The error has code
  // claim_lost. Registering after the loss calls it at once. Null executor = client default.
  void on_lost(std::function<void(const Error&)> callback, std::shared_ptr<Executor> executor = nullptr);

  // Ends the claim now (intent_abandon). Idempotent. The Pending resolves once the frame is
  // handed to the socket (or at once when offline: the server lets it lapse).
  Pending<Unit> release();

  struct State;
  explicit Claim(std::shared_ptr<State> state) : state_(std::move(state)) {}

 private:
  std::shared_ptr<State> state_;
};

// ---------------------------------------------------------------------------------------------
// The untyped model client: client.model("tasks").

class ModelHandle {
 public:
  const std::string& key() const { return key_; }  // schema key

  // Replica lookups; never the network.
  std::optional<Row> get(std::string_view id) const;
  Query query() const;
  Query where(std::string field, Op op, Json value = nullptr) const { return query().where(std::move(field), op, std::move(value)); }

  // Network read for rows the replica lacks (lazy/manual models, rows outside the bootstrap):
  // POST /api/sync/query; the rows found are added to the replica. nullopt when absent.
  Pending<std::optional<Row>> fetch(std::string id) const;
  Pending<std::vector<Row>> fetch(const Query& query) const;

  // Writes. Each applies to the replica before returning (observers fire with kOptimistic),
  // enters the durable outbox, and resolves when confirmed (Receipt) or rejected (the optimistic
  // change is rolled back first; the Error carries the server's code). Argument errors (unknown
  // field, wrong type for the schema, read-only model, update/remove of a row the replica lacks:
  // entity_not_found) fail the Pending at once and change nothing.
  Pending<Receipt> create(JsonObject data, CreateOptions options = {}) const;
  Pending<Receipt> update(std::string_view id, JsonObject patch, WriteOptions options = {}) const;
  // As above with readAt = seen.version: "I decided this from that version".
  Pending<Receipt> update(const Row& seen, JsonObject patch, WriteOptions options = {}) const;
  Pending<Receipt> remove(std::string_view id, WriteOptions options = {}) const;
  Pending<Receipt> archive(std::string_view id, WriteOptions options = {}) const;
  Pending<Receipt> unarchive(std::string_view id, WriteOptions options = {}) const;

  // Takes a claim: queues fairly (FIFO) behind the holder, resolves when granted with the fresh
  // row. Fails with entity_claimed (wait = false and held), queue_too_deep, grant_timeout,
  // claim_lost (lost while waiting), entity_not_found, or ws_not_ready only for wait = false
  // while offline (a waiting claim waits through disconnections).
  Pending<Claim> claim(std::string id, ClaimOptions options = {}) const;
  // Others' claim on the row (from presence), nullopt when free or held by this client.
  std::optional<ClaimInfo> claim_state(std::string_view id) const;
  // The wait line behind the holder, head first.
  std::vector<ClaimInfo> claim_queue(std::string_view id) const;

  ModelHandle(std::shared_ptr<sdk_detail::ClientCore> core, std::string key)
      : core_(std::move(core)), key_(std::move(key)) {}

 private:
  std::shared_ptr<sdk_detail::ClientCore> core_;
  std::string key_;
};

// ---------------------------------------------------------------------------------------------
// Typed models. A generated struct T (ablo generate --lang cpp) provides
//   static constexpr std::string_view kModel;   // schema key
//   std::string id; …fields…;
// and the boost::json mapping (tag_invoke value_from / value_to). TypedModel<T> forwards to
// ModelHandle and converts; the generated client class returns one per model (client.tasks()).

template <class T>
class TypedModel {
 public:
  explicit TypedModel(ModelHandle handle) : handle_(std::move(handle)) {}
  const ModelHandle& untyped() const { return handle_; }

  std::optional<T> get(std::string_view id) const {
    auto row = handle_.get(id);
    if (!row) return std::nullopt;
    return row->template as<T>();
  }
  Query query() const { return handle_.query(); }
  Query where(std::string field, Op op, Json value = nullptr) const { return handle_.where(std::move(field), op, std::move(value)); }
  Pending<Receipt> create(const T& value, CreateOptions options = {}) const {
    if (options.id.empty()) options.id = value.id;
    return handle_.create(to_object(value), std::move(options));
  }
  // Sends every declared field of `value` that differs from the replica's row (a diff, not a
  // blind overwrite), with readAt = the replica's version unless options say otherwise.
  Pending<Receipt> update(const T& value, WriteOptions options = {}) const {
    return handle_.update(value.id, to_object(value), std::move(options));
  }
  Pending<Receipt> update(std::string_view id, JsonObject patch, WriteOptions options = {}) const {
    return handle_.update(id, std::move(patch), std::move(options));
  }
  Pending<Receipt> remove(std::string_view id, WriteOptions options = {}) const { return handle_.remove(id, std::move(options)); }
  Pending<Receipt> archive(std::string_view id, WriteOptions options = {}) const { return handle_.archive(id, std::move(options)); }
  Pending<Claim> claim(std::string id, ClaimOptions options = {}) const { return handle_.claim(std::move(id), std::move(options)); }
  std::optional<ClaimInfo> claim_state(std::string_view id) const { return handle_.claim_state(id); }

 private:
  static JsonObject to_object(const T& value) { return boost::json::value_from(value).as_object(); }
  ModelHandle handle_;
};

// ---------------------------------------------------------------------------------------------
// Undo / redo (client.md §4, native contract of §4.4; design §10).

enum class ConflictPolicy {
  kSkipStale,       // per field: undo only fields still holding the value this client set
  kLastWriterWins,  // apply the inverse verbatim (still stale-guarded on the server: readAt)
};

struct UndoScopeOptions {
  std::size_t max_history = 100;  // per stack; the oldest entry is dropped
  ConflictPolicy conflict_policy = ConflictPolicy::kSkipStale;
  // Record every local write of this client (not only those naming the scope), except writes
  // made by undo/redo themselves. A write recorded by such a scope and by its own undo_scope is
  // recorded once, in the named scope.
  bool record_all = false;
  std::vector<std::string> models;  // only these schema keys (empty: all)
};

// What one undo()/redo() did.
struct UndoResult {
  std::string label;
  std::size_t applied = 0;                 // operations sent
  std::vector<std::string> skipped_fields;  // "model/id.field" left alone under kSkipStale
  std::vector<Receipt> receipts;
};

class UndoScope;

// Groups the writes recorded into `scope` while it is alive — on any thread — into one entry
// (one user gesture). Nested groups join the outermost. Move-only.
class UndoGroup {
 public:
  UndoGroup(UndoGroup&&) noexcept;
  UndoGroup& operator=(UndoGroup&&) = delete;
  UndoGroup(const UndoGroup&) = delete;
  ~UndoGroup();  // closes the group: the entry is pushed (if it recorded anything)
  void cancel();  // closes the group without recording it (a nested one: drops the whole gesture)

  struct State;
  explicit UndoGroup(std::shared_ptr<State> state) : state_(std::move(state)) {}

 private:
  std::shared_ptr<State> state_;
};

// One named history of this client's own writes (remote changes are never recorded). Entries
// hold the forward ops and their inverses, taken from the replica value just before each write
// (not the session's first value — defect D16). History is in memory only.
class UndoScope {
 public:
  const std::string& name() const;
  bool can_undo() const;
  bool can_redo() const;
  std::size_t undo_size() const;
  std::size_t redo_size() const;

  UndoGroup begin_group(std::string label = {});

  // Applies the newest entry's inverses as ordinary writes (optimistic, outbox, replayed) in
  // reverse order, each with readAt = the row's current replica version and onStale reject, so a
  // concurrent change the replica had not seen yet is refused by the server, never clobbered.
  // Resolves when all are confirmed; the entry then moves to the redo stack. If one is refused,
  // the ones applied stay applied, the others are not sent, the entry stays on the undo stack
  // (not lost), and the Pending fails with that error. Undo of a create removes the row; undo of
  // a remove re-creates it with the same id and fields. Calls are serialized with recording:
  // an undo() issued while another runs starts after it.
  Pending<UndoResult> undo();
  Pending<UndoResult> redo();
  void clear();  // drops both stacks

  // Called after every change of the stacks (record, undo, redo, clear) on `executor`.
  Observer on_change(std::function<void(const UndoScope&)> callback, std::shared_ptr<Executor> executor = nullptr) const;

  struct State;
  explicit UndoScope(std::shared_ptr<State> state) : state_(std::move(state)) {}

 private:
  std::shared_ptr<State> state_;
};

class UndoManager {
 public:
  // The scope `name`, created with `options` on first use (options of later calls are ignored,
  // as in 0.9.1).
  UndoScope scope(std::string name, UndoScopeOptions options = {});

  explicit UndoManager(std::shared_ptr<sdk_detail::ClientCore> core) : core_(std::move(core)) {}

 private:
  std::shared_ptr<sdk_detail::ClientCore> core_;
};

// ---------------------------------------------------------------------------------------------
// Presence (client.md §2.7, protocol.md §3.8).

struct Activity {
  std::string model;   // entityType (schema key)
  std::string id;      // entityId
  std::string action = "viewing";  // editing | reading | viewing | …
  std::optional<std::string> field;
  JsonObject meta;
};

struct Participant {
  std::string id;                // participant id (server-resolved)
  std::string kind;              // "human" | "agent"
  std::string status;            // online | away | …
  std::optional<Activity> activity;
  std::vector<ClaimInfo> claims;  // its active claims (from activeIntents)
  std::vector<std::string> sync_groups;
  Clock::time_point last_seen;
};

class Presence {
 public:
  // This client's participant (id from the credential exchange), with its own activity and claims.
  Participant self() const;
  // Everyone else currently connected in a shared sync group (own echoes filtered by the
  // server-resolved participant id). Cleared on disconnect, rebuilt from the server's roster
  // on reconnect.
  std::vector<Participant> others() const;
  // Sets this client's activity (presence_update); kept and re-sent after every reconnect.
  void set_activity(Activity activity);
  void clear_activity();
  void set_status(std::string status);  // "online", "away", …
  // Called with the full roster (others()) after every change.
  Observer observe(std::function<void(const std::vector<Participant>&)> callback,
                   std::shared_ptr<Executor> executor = nullptr) const;

  explicit Presence(std::shared_ptr<sdk_detail::ClientCore> core) : core_(std::move(core)) {}

 private:
  std::shared_ptr<sdk_detail::ClientCore> core_;
};

// ---------------------------------------------------------------------------------------------
// Connection status.

enum class ConnectionState {
  kStarting,        // constructed; opening the store, exchanging the key
  kBootstrapping,   // HTTP bootstrap in progress (first start, or a re-bootstrap)
  kConnected,       // socket open and caught up
  kReconnecting,    // socket down; retrying with backoff (writes queue in the outbox)
  kAuthBlocked,     // credential refused in a way retrying cannot fix; waits for set_auth_token()
  kSessionExpired,  // session ended (close 1008/4001/4003, get_token returned nullopt); terminal.
                    // The outbox is kept in the store; its Pendings stay pending (model_disposed when
                    // the Client is destroyed); a later Client with valid credentials replays it.
  kClosed,          // the Client is being destroyed
};
std::string_view to_string(ConnectionState state);

struct ConnectionStatus {
  ConnectionState state = ConnectionState::kStarting;
  int64_t cursor = 0;               // confirmed replica cursor (last applied and persisted delta id)
  std::size_t pending_writes = 0;   // outbox entries not yet confirmed
  std::optional<Clock::time_point> offline_since;
  std::optional<Clock::time_point> next_attempt_at;  // when kReconnecting
  std::optional<Error> last_error;
  std::chrono::milliseconds clock_offset{0};  // server clock − local clock, measured (design §8.5)
};

// Local-store events worth telling the application about.
struct StoreEvent {
  enum class Kind {
    kRecreated,      // the file was bad (corrupt/foreign/newer format) and was moved aside
    kServerChanged,  // the server's store identity changed (wiped or another server): replica rebuilt
    kRebootstrapped, // the replica was rebuilt for another reason (gap too old, group removed)
  } kind = Kind::kRebootstrapped;
  std::string detail;           // what was found ("not a database", "storeId a1… → b2…", …)
  std::string moved_to;         // kRecreated: where the old file went
  std::size_t outbox_kept = 0;  // unsent writes carried over (kServerChanged, kRebootstrapped)
  std::size_t outbox_lost = 0;  // kRecreated: writes of the unreadable file (0 if it could be read)
};

// ---------------------------------------------------------------------------------------------
// The client.

class Client {
 public:
  // Validates the options (invalid_options, invalid_schema), opens or creates the local store
  // (db_not_opened with StoreRecovery::kFail), loads the replica and the outbox from it, starts the
  // I/O thread, and begins connecting in the background. Never waits for the network. Throws
  // ablo::Exception.
  explicit Client(Options options);
  ~Client();  // see THREAD MODEL above
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  // Resolves when the replica is usable: at once on a warm start (the store holds a replica of
  // this server), else after the first bootstrap. Fails with auth errors (apikey_invalid, …),
  // session_expired, bootstrap_fetch_timeout after Timing::bootstrap_timeout. Repeatable.
  Pending<Unit> ready();

  // Untyped model access. Throws nothing: an unknown name yields a handle whose calls fail with
  // model_not_found (reads return empty).
  ModelHandle model(std::string_view name) const;
  // Typed access: T::kModel names the schema key.
  template <class T>
  TypedModel<T> models() const {
    return TypedModel<T>(model(T::kModel));
  }

  // The commit lane: the operations applied atomically, not optimistic, replayed from the outbox
  // with the same clientTxId. Resolves on mutation_result success (client.md §3.7).
  Pending<CommitReceipt> commit(std::vector<Operation> operations, WriteOptions options = {});

  // Resolves when the outbox is empty (every write confirmed or rolled back). flush_timeout
  // after `timeout`.
  Pending<Unit> wait_for_flush(std::optional<std::chrono::milliseconds> timeout = std::nullopt);

  UndoManager& undo();
  Presence presence() const;

  ConnectionStatus status() const;
  Observer on_status(std::function<void(const ConnectionStatus&)> callback, std::shared_ptr<Executor> executor = nullptr);
  // Every write refused or given up, with its rollback done (see MutationFailure).
  Observer on_mutation_failure(std::function<void(const MutationFailure&)> callback,
                               std::shared_ptr<Executor> executor = nullptr);
  Observer on_store_event(std::function<void(const StoreEvent&)> callback, std::shared_ptr<Executor> executor = nullptr);

  // Replaces the bearer (new sk_/pk_ key or token) and reconnects; leaves kAuthBlocked.
  void set_auth_token(std::string token);
  // Skips the current backoff wait and reconnects now (the OS network monitor calls this too).
  void reconnect_now();

  // The server-resolved identity (after the exchange), the schema hash in use.
  std::string participant_id() const;
  std::string organization_id() const;
  std::string schema_hash() const;

  // The shared state (for the generated client class and the C API); not for applications.
  const std::shared_ptr<sdk_detail::ClientCore>& core() const { return core_; }

 private:
  std::shared_ptr<sdk_detail::ClientCore> core_;
  std::unique_ptr<UndoManager> undo_;
};

// Explicit instantiations live in the library (pending.cpp).
extern template class Pending<Unit>;
extern template class Pending<Receipt>;
extern template class Pending<CommitReceipt>;
extern template class Pending<Row>;
extern template class Pending<std::optional<Row>>;
extern template class Pending<std::vector<Row>>;
extern template class Pending<Claim>;
extern template class Pending<UndoResult>;

}  // namespace ablo
