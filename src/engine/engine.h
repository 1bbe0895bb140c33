#pragma once
// The sync engine: the one place where writes are validated, stale-checked, made durable in
// the delta log and handed to fan-out, and where reads (bootstrap, query, entity) are scoped
// to the caller's tenant and sync groups. Knows nothing about HTTP or WebSocket framing.
//
// Threading: commit() and push_schema() enqueue work for one writer thread, which applies
// queued commits in groups (one transaction per group, a savepoint per commit); a syncer thread
// makes the groups durable (one fsync for all groups committed meanwhile, while the writer
// applies the next), then publishes their deltas to the hub in id order and runs the callbacks
// on that thread (engine/commit_pipeline.h).
// Everything else runs on the caller's thread. The active schema is swapped atomically.
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include <boost/json/object.hpp>

#include "audit/audit.h"
#include "auth/auth_service.h"
#include "common/result.h"
#include "fanout/hub.h"
#include "schema/diff.h"
#include "schema/schema.h"
#include "engine/audit_log.h"
#include "engine/tasks.h"
#include "store/store.h"

namespace ablo::engine {

enum class OpType { kCreate, kUpdate, kDelete, kArchive, kUnarchive };
// What a stale write does. 0.9.1 spells them reject|force|flag|merge; 0.49 spells them
// reject|overwrite|notify, where overwrite is kForce and notify is kFlag (both parse).
enum class OnStale { kReject, kForce, kFlag, kMerge };

struct Operation {
  OpType type = OpType::kCreate;
  std::string model;  // any wire form; resolved against the schema
  std::string id;
  boost::json::object input;
  std::string transaction_id;
  std::optional<int64_t> read_at;
  std::optional<OnStale> on_stale;
  // The claim the write is made under (0.49 `claimId`/`claim`, 0.9.1 `intent`) and the fence
  // token its grant carried. Carried for the write gate; fences are not enforced yet.
  std::string claim_id;
  std::optional<int64_t> fence_token;
};

// A premise of a commit (0.49 `reads[]`): the commit holds only if what it read has not been
// changed by another participant after `read_at`. A row premise names one row (it need not be
// written by the commit); a group premise covers every row routed to a sync group.
struct RowPremise {
  std::string model;  // any wire form; resolved against the schema
  std::string id;
  std::vector<std::string> fields;  // informational: any change of the row counts
  int64_t read_at = 0;
  std::optional<OnStale> on_stale;  // default reject
};
struct GroupPremise {
  std::string group;
  int64_t read_at = 0;
  std::optional<OnStale> on_stale;
};
using ReadPremise = std::variant<RowPremise, GroupPremise>;

// How a commit is applied. Data Source mode (source/service.h) splits one client commit in two:
// kCheckOnly before the commit goes to the canonical source, kCanonical with what it answered.
enum class CommitMode {
  kApply,      // check, apply, record: our store is the database
  // Every check of kApply (schema, authorization, claims, readAt premises), then rolled back:
  // nothing is written or published. A clientTxId already committed answers its receipt
  // (receipt.replayed) as kApply would.
  kCheckOnly,
  // The operations carry the canonical rows a source confirmed (`input` = the row,
  // field-keyed): applied as they are, as upserts (an update of a row we do not have inserts
  // it), without the authorization, claim and stale checks the source's commit passed already.
  // A row equal to ours writes no delta, so a row arriving twice (a commit's answer and its
  // outbox echo, an event re-delivered) is published once. Fields a row leaves out keep ours.
  kCanonical,
};

struct CommitRequest {
  CommitMode mode = CommitMode::kApply;
  // kCanonical, for an event of the source's feed that names the commit it came from: when a
  // commit with this clientTxId is recorded, apply nothing (the echo of a commit we published
  // from the source's answer). Otherwise the event repairs that commit (its answer was lost):
  // it is applied and remembered, so a retry of the commit skips the checks of kCheckOnly —
  // its write is already here — and goes to the source, whose ledger answers it again.
  std::string skip_if_committed;
  auth::Principal principal;
  std::string client_tx_id;
  // Set for HTTP commits: a fingerprint of the request body. A later commit with the same
  // clientTxId (Idempotency-Key) and another fingerprint fails with idempotency_conflict
  // instead of replaying the receipt.
  std::string request_fingerprint;
  std::string caused_by_task_id;
  // Set by Engine::commit for a capability's commit that names no task: the writer attributes
  // it to the capability's only open task, if it has exactly one (one read per capability and
  // group, inside the group's transaction, instead of a store read per commit before it queues).
  bool attribute_to_open_task = false;
  std::vector<Operation> operations;
  std::vector<ReadPremise> reads;  // checked before any operation applies
};

// A premise or readAt that went stale under onStale notify (flag): the commit applied anyway
// and tells the committer what moved (0.49 StaleNotification). `group` is set for a group
// premise (scope 'group'), `current_values` for a row (scope 'row').
struct StaleNotice {
  std::string model;  // the schema key of the row that moved
  std::string id;
  std::optional<std::string> group;
  int64_t read_at = 0;
  int64_t observed_sync_id = 0;  // the newest foreign delta seen on the premise
  std::string written_by_kind;   // user | agent | system
  std::string written_by_id;
  std::optional<boost::json::object> current_values;
};

struct CommitReceipt {
  std::string client_tx_id;
  int64_t last_sync_id = 0;
  int ops = 0;
  bool flagged_stale = false;  // an onStale:'flag' op or premise was applied over a foreign change
  bool replayed = false;       // the answer of an earlier commit with the same clientTxId
  int64_t created_at_ms = 0;   // when the commit was applied (a replay keeps the first time)
  int64_t status_at_ms = 0;    // when this answer was made (>= created_at_ms)
  std::vector<StaleNotice> stale_notices;  // not kept for replays
  // The 0.9.1 wire form {object:'commit_receipt', clientTxId, serverTxId, success, status, ...};
  // the 0.49 form is encoded at the edge (net/receipt_codec.h).
  boost::json::object to_json() const;
  // serialize(to_json()), written without the tree: the writer stores one per commit (a test
  // holds the two equal).
  std::string to_json_text() const;
};

using CommitCallback = std::function<void(Result<CommitReceipt>)>;

// What a reused clientTxId is compared with: the request's body fingerprint (HTTP), else one
// of its operations (WebSocket commits); "" without a clientTxId.
std::string commit_fingerprint(const CommitRequest& request);

struct StaleGuard {
  std::optional<int64_t> read_at;
  std::optional<OnStale> on_stale;
};
// The readAt/onStale members of an operation or request body; `where` prefixes error params.
Result<StaleGuard> parse_stale_guard(const boost::json::object& object, std::string_view where = {});

// Fills the onStale of operations that carry none from their model's declared `conflict`
// policy for the committer's participant kind (Engine::commit does this for every commit).
void apply_conflict_defaults(const schema::Schema& schema, CommitRequest& request);

// Parses a WS `commit` payload (protocol.md §3.7) into operations and premises.
Result<CommitRequest> parse_commit_payload(const boost::json::object& payload);

// At most this many `reads` + `track` entries per commit (0.49 frames.ts).
inline constexpr std::size_t kMaxReadDependencies = 500;
// The `reads` (premises) and `track` members of a commit or model-write body. `track` entries
// are validated and counted but ignored: nothing is watched. commit_operation_invalid when
// there are more than kMaxReadDependencies or an entry is malformed.
Result<std::vector<ReadPremise>> parse_read_premises(const boost::json::object& body);

// Vetoes writes to rows claimed by someone else (the coordination plane implements it; the
// engine does not know about claims). Called on the writer thread for each operation, before
// the stale check. Without a gate every write passes.
class WriteGate {
 public:
  virtual ~WriteGate() = default;
  // Called on the writer thread before each commit group. A gate that reads a replica of
  // state kept elsewhere (a cluster's claims) brings it up to date here, so a claim granted on
  // any node before the group starts is honoured, as on a single node.
  virtual Status before_group() { return {}; }
  virtual Status check_write(const auth::Principal& principal, const schema::Model& model, const Operation& op) = 0;
};

// Takes over the commits of tenants whose rows are canonical elsewhere (source/service.h): it
// checks them here (CommitMode::kCheckOnly), sends them to the source, and applies what the
// source confirmed (kCanonical) through Engine::commit_here.
class CommitForwarder {
 public:
  virtual ~CommitForwarder() = default;
  // True when it took the commit; it then answers `done` once, from its own thread.
  virtual bool forward(CommitRequest& request, CommitCallback& done) = 0;
};

// Non-commit audit rows (Engine::record_audit_later) waiting for the commit writer, at most, by
// default (EngineOptions::max_queued_audit_rows); beyond it a row is dropped with an error log
// and counted (Engine::audit_rows_dropped).
inline constexpr std::size_t kMaxQueuedAuditRows = 65'536;

struct EngineOptions {
  int max_group = 512;  // commits per durable transaction
  // Publishes a committed group's deltas (ascending ids) before the commit callbacks run.
  // Default: straight to the hub. Several nodes on one database publish through a
  // fanout::LogFollower instead, which also carries the other nodes' deltas.
  std::function<void(const std::vector<store::Delta>&)> publish;
  // The audit trail's HMAC key (audit/audit.h). Every applied commit writes its audit row in
  // its own transaction when set; empty writes no audit rows (unit tests of other things).
  std::string audit_key;
  // The bound of the non-commit audit rows waiting for the writer (kMaxQueuedAuditRows).
  std::size_t max_queued_audit_rows = kMaxQueuedAuditRows;
};

// One page of GET /v1/models/{model} (http-api.md §4.2), in (order_by, id) order.
struct ListRequest {
  const schema::Model* model = nullptr;
  std::vector<store::RowFilter> where;
  std::string order_by = "id";  // a field name or base field
  bool descending = false;
  int limit = 20;
  enum class Archived { kExclude, kOnly, kInclude };
  Archived archived = Archived::kExclude;
  // Keyset cursor: the (order_by value, id) of the last row of the previous page.
  std::optional<std::pair<boost::json::value, std::string>> after;
};

struct ListPage {
  std::vector<boost::json::object> rows;  // row data without __typename
  bool has_more = false;
  int64_t stamp = 0;  // the log head read before the rows: a safe readAt for all of them
};

// One page of the delta log as GET /v1/logs reads it: the caller's tenant, only deltas the
// caller may read (authz/authorizer.h), optionally one model / action / from a time on.
struct LogRequest {
  std::optional<int64_t> after;  // walk forward from this delta id; nullopt = the tail
  int limit = 50;
  const schema::Model* model = nullptr;  // only this model's deltas
  std::optional<char> action;            // only this action letter (I U D A V C G S)
  std::optional<int64_t> since_ms;       // only deltas created at or after this time
  std::string record_id;                 // only this row's deltas (empty = every row)
};

struct LogPage {
  std::vector<store::Delta> deltas;  // ascending ids
  int64_t position = 0;              // the log position the page covers: the next page's `after`
  bool has_more = false;             // deltas after `position` exist
};

struct SchemaPush {
  int64_t version = 0;
  schema::MigrationPlan plan;
};

class Engine {
 public:
  Engine(store::Store& store, fanout::Hub& hub, EngineOptions options = {});
  ~Engine();
  Engine(const Engine&) = delete;
  Engine& operator=(const Engine&) = delete;

  // Loads the active schema and the log head from the store and starts the writer thread.
  Status start();
  // Drains queued work and joins the writer thread.
  void stop();

  std::shared_ptr<const schema::Schema> schema() const;
  // Activates the store's active schema if it differs from ours (another node pushed one).
  Status reload_schema();
  void set_write_gate(std::shared_ptr<WriteGate> gate);

  // Validates a schema, plans the migration from the active one (schema/diff.h) and, when it is
  // applicable (no blockers left by the backfills; warnings only with `force`), applies it and
  // activates the new version in one transaction. Errors: invalid_schema, incompatible_change
  // (409, the plan in the details), migration_failed.
  // `pushed_by`: who pushed it; its `schema.push` audit row is written in the push's own
  // transaction (none when null: a schema loaded at start).
  Result<SchemaPush> push_schema(const boost::json::value& schema_json, const schema::MigrationHints& hints = {},
                                 bool force = false, const auth::Principal* pushed_by = nullptr);
  Result<std::optional<store::SchemaVersion>> active_schema_version() const;
  // The `limit` newest schema versions, newest first.
  Result<std::vector<store::SchemaVersion>> schema_versions(int limit) const;

  // Applies a commit atomically; `done` runs on the pipeline's syncer thread after the deltas
  // are durable and published, in commit order. A tenant whose rows are canonical in a data
  // source has its commits taken over by the forwarder (set_commit_forwarder).
  void commit(CommitRequest request, CommitCallback done);
  // Applies a commit here, never forwarded: what the forwarder itself calls.
  void commit_here(CommitRequest request, CommitCallback done);
  void set_commit_forwarder(std::shared_ptr<CommitForwarder> forwarder);
  // Blocking convenience wrapper for HTTP callers and tests.
  Result<CommitReceipt> commit_sync(CommitRequest request);

  // Takes a response's text piece by piece, in order; returns false when its reader is gone
  // (the writer then stops).
  using TextSink = std::function<bool(std::string_view piece)>;
  // GET /api/sync/bootstrap: rows of the requested models (typenames; empty = all instant
  // models) visible to `groups`, as the response's JSON text {type, lastSyncId, models,
  // timestamp}, handed to `sink` as the store yields the rows, so a bootstrap in flight holds one
  // row and whatever the sink buffers, not the whole text. When the sink refuses a piece it
  // stops early and returns success (there is nobody left to answer).
  Status write_bootstrap(const auth::Principal& principal, const std::vector<std::string>& groups,
                         const std::vector<std::string>& models, const TextSink& sink) const;
  // The same text in one string.
  Result<std::string> bootstrap(const auth::Principal& principal, const std::vector<std::string>& groups,
                                const std::vector<std::string>& models) const;
  // POST /api/sync/query body -> {results, lastSyncId}.
  Result<boost::json::object> query(const auth::Principal& principal, const std::vector<std::string>& groups,
                                    const boost::json::object& body) const;
  // GET /api/sync/entity/{model}/{id}: the row, or entity_not_found.
  Result<boost::json::object> entity(const auth::Principal& principal, const std::vector<std::string>& groups,
                                     const std::string& model, const std::string& id) const;

  Result<ListPage> list(const auth::Principal& principal, const std::vector<std::string>& groups,
                        const ListRequest& request) const;
  // One row and the log head read before it (its `stamp`), or model_not_found when the row is
  // missing or outside `groups`.
  Result<std::pair<boost::json::object, int64_t>> read_row(const auth::Principal& principal,
                                                            const std::vector<std::string>& groups,
                                                            const schema::Model& model, const std::string& id) const;
  // GET /v1/logs. Walking forward reads at most a bounded stretch of the log per call (the page
  // may then be short, with has_more); the tail (no `after`) reads back from the head in
  // growing windows, also bounded, and ends at the head.
  Result<LogPage> log(const auth::Principal& principal, const LogRequest& request) const;

  // Whether the principal may claim (take a write lease on) a row: the write rule for an
  // update of it (authz/authorizer.h). A row that does not exist yet needs only the operation.
  // Errors: capability_scope_denied, entity_not_found (a row outside the caller's scope).
  // Unknown models pass: they name no row.
  Status authorize_claim(const auth::Principal& principal, const std::string& entity_type,
                         const std::string& id) const;
  // Whether the principal may read the row (claim listings show only those); a row that does
  // not exist is visible to secret keys only.
  Result<bool> may_read_entity(const auth::Principal& principal, const std::string& entity_type,
                               const std::string& id) const;

  // The log head (highest committed delta id).
  int64_t head() const { return hub_.head(); }

  fanout::Hub& hub() { return hub_; }
  const TaskService& tasks() const { return tasks_; }
  // Usage aggregates of a tenant between two UTC days (YYYY-MM-DD), inclusive.
  Result<std::vector<store::UsageRow>> usage(const std::string& tenant, const std::string& from_day,
                                             const std::string& to_day) const;

  // --- audit (issue 13) ---
  const AuditLog& audit() const { return audit_; }
  // Appends a non-commit row by `by` (capability.mint, capability.revoke, ...) to its tenant's
  // chain through the commit writer, so the chain has one order; returns once it is durable.
  // `summary` names ids and kinds, never secrets or field values. Does nothing without an
  // audit key.
  Status record_audit(const auth::Principal& by, std::string action_type, boost::json::value summary);
  // Queues a complete row (tenant, attribution, action, summary; its chain fields are set when
  // written) for the commit writer's next group transaction and returns at once: for frequent
  // events whose thread must not wait for the store (claim grants and releases). Bounded
  // (kMaxQueuedAuditRows; beyond it rows are dropped with an error log); a
  // group that fails keeps its rows for the next one. Any thread; never blocks. Does nothing
  // without an audit key.
  void record_audit_later(audit::AuditRow row);
  // Queued rows dropped so far (queue full, refused by the store, or lost at stop).
  uint64_t audit_rows_dropped() const;

 private:
  Result<int64_t> read_stamp() const;

  struct Impl;
  std::unique_ptr<Impl> impl_;
  fanout::Hub& hub_;
  TaskService tasks_;
  AuditLog audit_;
};

}  // namespace ablo::engine
