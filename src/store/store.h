#pragma once
// The storage interface the engine is written against. Implementations: SQLite (embedded
// default, sqlite_store.h) and PostgreSQL (production, several nodes; pg_store.h). No SQL
// leaves store/.
//
// Threading: `write`/`write_unsynced` are called by one thread at a time (the engine's commit
// writer); `sync` and every read method may be called concurrently from any thread.
//
// Durability and reads: a read never returns a transaction that is not on disk yet. A store
// whose write_unsynced returns before the fsync (SQLite) makes a read whose snapshot holds such
// a transaction wait for (or run) the fsync that covers it first.
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <boost/json/object.hpp>
#include <boost/json/value.hpp>

#include "common/exception_text.h"
#include "common/result.h"
#include "schema/diff.h"
#include "schema/schema.h"
#include "store/webhook_endpoint.h"

namespace ablo::store {

// The data partition a credential may touch: an organization and its live or test (sandbox)
// environment. Rows, deltas and idempotency records never cross tenants.
struct Tenant {
  std::string org;
  bool sandbox = false;
  std::string key() const { return org + (sandbox ? "/test" : "/live"); }
  bool operator==(const Tenant&) const = default;
};

// One entry of the totally ordered delta log (`sync_deltas`, protocol.md §4.1).
struct Delta {
  int64_t id = 0;  // assigned by append_delta
  char action = 'I';
  std::string tenant;      // Tenant::key(); never broadcast
  std::string model_name;  // the model's typename
  std::string model_id;
  std::optional<boost::json::object> data;  // full post-write row; nullopt for deletes
  std::vector<std::string> sync_groups;
  std::string transaction_id;
  std::string client_tx_id;
  std::string participant_id;
  std::string participant_kind;
  std::string capability_id;
  std::string caused_by_task_id;
  int64_t created_at_ms = 0;
};

// A model row: camelCase data (with id, createdAt, updatedAt, organizationId, createdBy,
// archivedAt) plus the sync groups it currently routes to.
struct StoredRow {
  boost::json::object data;
  std::vector<std::string> groups;
};

struct RowFilter {
  std::string field;  // camelCase field or base field name (already resolved)
  std::string op;     // = != < <= > >= IN, NOT IN, IS, IS NOT, LIKE, NOT LIKE, ILIKE, NOT ILIKE
  boost::json::value value;
};

// What scan_row_texts does with each row.
struct RowTextScan {
  std::string_view type_name;  // the value of the row's "__typename"
  // Whether a row of these sync groups is wanted; one that is not is skipped before it is encoded.
  // The answer must depend on the groups alone: a store may ask once for consecutive rows with
  // the same groups.
  std::function<bool(const std::vector<std::string>& groups)> wanted;
  // The row's JSON object text (valid during the call); false stops the scan.
  std::function<bool(std::string_view row_json)> take;
};

struct RowQuery {
  const schema::Model* model = nullptr;
  std::string tenant;
  std::vector<RowFilter> where;
  std::string order_by = "id";  // camelCase field or base field
  bool descending = false;
};

struct ApiKeyRecord {
  std::string id;
  std::string org;
  bool sandbox = true;
  std::string display_prefix;
  std::string hash;  // sha256 hex of the plaintext
  std::string label;
  int64_t created_at_ms = 0;
  bool revoked = false;
};

struct CapabilityRecord {
  std::string id;
  std::string token_hash;
  std::string key_id;  // the key that minted it
  std::string org;
  bool sandbox = true;
  std::string participant_kind;  // user | agent | system
  std::string participant_id;
  std::vector<std::string> sync_groups;
  std::vector<std::string> operations;
  bool wide_scope = false;
  std::string label;
  boost::json::object user_meta;
  int64_t issued_at_ms = 0;
  int64_t expires_at_ms = 0;
  bool revoked = false;
  int64_t revoked_at_ms = 0;  // when it was revoked; 0 if not, or if revoked before this was kept
  // The capability that exchanged itself for this one (empty when a secret key minted it):
  // revoking an ancestor revokes the whole chain below it.
  std::string parent_id;
};

// One page of a tenant's capabilities, newest first (issued_at, then id, descending).
struct CapabilityListQuery {
  enum class Status { kAny, kActive, kRevoked };
  std::string org;
  bool sandbox = true;
  std::string parent_id;  // non-empty: only the capabilities this one exchanged itself for
  Status status = Status::kAny;
  int64_t now_ms = 0;     // what "active" (not revoked, not expired) is measured against
  // The last capability of the previous page: this page starts strictly after it.
  std::optional<std::pair<int64_t, std::string>> after_issued_at_and_id;
  int limit = 0;
};

struct SchemaVersion {
  int64_t version = 0;
  std::string json_text;
  std::string hash;
  int64_t created_at_ms = 0;
};

// An agent task (http-api.md §6.2). The store indexes it by tenant, id and capability and keeps
// the rest as an opaque JSON document owned by the task service.
struct TaskRecord {
  std::string tenant;
  std::string id;
  std::string capability_id;
  bool open = true;
  boost::json::object data;
};

// One usage aggregate: the sum and number of `event_name` events of one key on one UTC day.
struct UsageRow {
  std::string day;  // YYYY-MM-DD
  std::string key_id;
  std::string event_name;
  double total = 0;
  int64_t count = 0;
};

// One row of the audit trail as stored (audit/audit.h owns its meaning): the columns the
// listing filters on, and the row itself as JSON text — the text the chain hash covers once
// parsed, so the columns are an index only.
struct AuditRecord {
  std::string tenant;
  int64_t chain_seq = 0;
  int64_t occurred_at_ms = 0;
  std::string actor_kind;
  std::string actor_id;
  std::string credential_id;
  std::string action_type;
  std::string model_name;  // "" when unknown
  std::string commit_id;   // "" for non-commit rows
  std::string row_json;
  std::string row_hash;
};

// A page of one tenant's audit rows. Ascending walks rows with seq > after_seq; descending
// (newest first) rows with seq < before_seq (0: from the newest).
struct AuditQuery {
  std::string tenant;
  std::optional<std::string> actor_kind;
  std::optional<std::string> actor_id;
  std::optional<std::string> credential_id;
  std::optional<std::string> action_type;
  std::optional<std::string> model_name;
  std::optional<std::string> commit_id;
  std::optional<int64_t> since_ms;  // occurred_at >= since
  std::optional<int64_t> until_ms;  // occurred_at < until
  bool descending = true;
  int64_t after_seq = 0;
  int64_t before_seq = 0;
  int limit = 50;
};

// What a commit group will read, announced before its first commit (WriteTransaction::
// begin_batch): a store may read it all in one round trip and answer the group's reads from it.
struct GroupReads {
  struct Row {
    const schema::Model* model = nullptr;
    std::string tenant;
    std::string id;
  };
  // has_foreign_write_since's arguments.
  struct ForeignWrite {
    std::string tenant;
    std::string model_name;
    std::string model_id;
    int64_t after_id = 0;
    std::string participant_id;
  };
  std::vector<Row> rows;
  std::vector<ForeignWrite> foreign_writes;
  std::vector<std::pair<std::string, std::string>> idempotency;  // (tenant, key)
  std::vector<std::string> audit_tenants;                        // last_audit_link
  std::vector<std::pair<std::string, std::string>> open_tasks;   // (tenant, capability id)
};

// Operations available inside Store::write. Savepoints let one failing commit of a grouped
// batch roll back alone.
class WriteTransaction {
 public:
  virtual ~WriteTransaction() = default;

  virtual Status savepoint() = 0;
  virtual Status release_savepoint() = 0;
  virtual Status rollback_to_savepoint() = 0;
  // True when a statement that fails changes nothing and leaves the transaction usable, so a
  // commit that fails before its first write needs no savepoint to leave nothing behind
  // (SQLite, asked again after a failure: some errors roll the whole transaction back). False
  // where a failed statement aborts the whole transaction (PostgreSQL): there every commit
  // keeps its savepoint.
  virtual bool failed_statement_keeps_transaction() const { return false; }

  // A store may hold back writes whose results nobody reads (rows, deltas, idempotency and
  // usage records) and send them together; flush sends them and reports their first error.
  // Reads and savepoint operations flush first, so they see the writes before them; callers
  // flush where a failure must be attributed (the end of each commit).
  virtual Status flush() { return {}; }

  // Batches a commit group (PostgreSQL: round trips per group, not per commit). Reads `reads`
  // at once, answers the transaction's reads from them (what was not announced is read when
  // asked), and holds every later write back until the transaction commits: savepoints become
  // marks in memory and flush() sends nothing. A write the database refuses then fails the
  // whole transaction, so the caller runs the group again without batching to find which
  // commit it belongs to. False (and nothing done) when the store does not batch (SQLite:
  // its statements cost no round trip).
  virtual Result<bool> begin_batch(const GroupReads& /*reads*/) { return false; }

  virtual Result<std::optional<StoredRow>> get_row(const schema::Model& model, const std::string& tenant,
                                                   const std::string& id) = 0;
  virtual Status insert_row(const schema::Model& model, const std::string& tenant, const StoredRow& row) = 0;
  virtual Status update_row(const schema::Model& model, const std::string& tenant, const StoredRow& row) = 0;
  virtual Status delete_row(const schema::Model& model, const std::string& tenant, const std::string& id) = 0;

  // Appends to the log; returns the assigned id (strictly greater than every earlier id).
  virtual Result<int64_t> append_delta(const Delta& delta) = 0;
  // True when a delta on (tenant, model_name, model_id) with id > after_id was written by a
  // participant other than `participant_id` (the stale-context rule, protocol.md §8.1).
  virtual Result<bool> has_foreign_write_since(const std::string& tenant, const std::string& model_name,
                                               const std::string& model_id, int64_t after_id,
                                               const std::string& participant_id) = 0;

  // Adds `quantity` (and `count` events) to the (tenant, day, key, event) usage aggregate.
  virtual Status add_usage(const std::string& tenant, const std::string& day, const std::string& key_id,
                           const std::string& event_name, double quantity, int64_t count) = 0;

  virtual Result<std::optional<std::string>> find_idempotency(const std::string& tenant, const std::string& key) = 0;
  // The records of several (tenant, key) pairs, in the order asked; one round trip where the
  // store can (a commit group looks up all its keys at once).
  virtual Result<std::vector<std::optional<std::string>>> find_idempotency_many(
      const std::vector<std::pair<std::string, std::string>>& keys) {
    std::vector<std::optional<std::string>> values;
    values.reserve(keys.size());
    for (const auto& [tenant, key] : keys) {
      auto value = find_idempotency(tenant, key);
      if (!value) return tl::unexpected(value.error());
      values.push_back(std::move(*value));
    }
    return values;
  }
  virtual Status put_idempotency(const std::string& tenant, const std::string& key, const std::string& value) = 0;
  // The ids of the open agent tasks of a capability, read inside the transaction: the commit
  // writer attributes a commit to its capability's only open task here, once per capability and
  // group, instead of a read per commit on the I/O thread before it queues.
  virtual Result<std::vector<std::string>> open_task_ids_of_capability(const std::string& tenant,
                                                                       const std::string& capability_id) = 0;

  // Creates/extends the tables of every model (additive only: never drops data) and records
  // the schema as the new active version, returning its version number.
  virtual Result<int64_t> install_schema(const schema::Schema& schema) = 0;
  // Runs the renames, drops, type changes and backfills of a migration plan (schema/diff.h)
  // against the tables of `previous`; install_schema then adds what is new and records `next`.
  virtual Status apply_migration(const schema::Schema& previous, const schema::Schema& next,
                                 const schema::MigrationPlan& plan) = 0;

  // --- audit (issue 13) ---
  // Appends a row of the audit trail (may be held back until flush like other writes).
  virtual Status append_audit(const AuditRecord& record) = 0;
  // The newest (chain_seq, row_hash) of a tenant's chain as this transaction sees it.
  virtual Result<std::optional<std::pair<int64_t, std::string>>> last_audit_link(const std::string& tenant) = 0;
};

// Runs a write transaction's body for a backend: an exception it throws becomes internal_error,
// so the backend rolls the transaction back instead of leaving it open for every later write.
inline Status run_write_body(const std::function<Status(WriteTransaction&)>& body, WriteTransaction& txn) {
  try {
    return body(txn);
  } catch (...) {
    return fail("internal_error", "the write failed unexpectedly: " + current_exception_text());
  }
}

class Store {
 public:
  virtual ~Store() = default;

  // Runs `body` in one durable transaction: committed when it returns success, rolled back
  // otherwise. Not reentrant; called from one thread at a time.
  virtual Status write(const std::function<Status(WriteTransaction&)>& body) = 0;
  // Like write, but may return once the transaction is committed (later writes build on it)
  // and before it is on disk; it is durable once a later sync() returns. The commit pipeline
  // applies the next group while the previous group's fsync runs this way. A store without the
  // distinction (PostgreSQL: its COMMIT waits for its WAL flush) makes it durable here.
  virtual Status write_unsynced(const std::function<Status(WriteTransaction&)>& body) { return write(body); }
  // Makes every transaction write_unsynced returned so far durable: one fsync covers them all.
  // May run while the writer applies the next transaction. A failure is permanent (the OS may
  // have dropped the pages it could not write, so what is on disk is unknown): every later
  // write, sync and read that would see an unsynced transaction fails with kStoreUnavailable
  // until the process restarts and recovers from what is on disk.
  virtual Status sync() { return {}; }

  virtual Result<std::optional<SchemaVersion>> active_schema() = 0;
  // The `limit` newest schema versions, newest first (the active one first).
  virtual Result<std::vector<SchemaVersion>> schema_versions(int limit) = 0;
  virtual Result<int64_t> head_sync_id() = 0;
  // Deltas of `tenant` with after_id < id <= up_to_id, ascending, at most `limit`.
  virtual Result<std::vector<Delta>> read_deltas(const std::string& tenant, int64_t after_id, int64_t up_to_id,
                                                 int limit) = 0;
  // The whole log after `after_id`, every tenant, ascending, at most `limit` (a node following
  // the log that other nodes append to).
  virtual Result<std::vector<Delta>> read_log(int64_t after_id, int limit) = 0;
  virtual Result<std::optional<StoredRow>> get_row(const schema::Model& model, const std::string& tenant,
                                                   const std::string& id) = 0;
  // Streams matching rows in order until `visit` returns false.
  virtual Status scan_rows(const RowQuery& query, const std::function<bool(StoredRow&&)>& visit) = 0;
  // The same rows as the JSON text of scan_rows' row.data with "__typename" added last (what
  // boost::json::serialize prints), for readers that only send rows on (the bootstrap): the SQL
  // stores write it from the columns without a JSON tree per row. This default serializes.
  virtual Status scan_row_texts(const RowQuery& query, const RowTextScan& scan);

  virtual Status put_api_key(const ApiKeyRecord& key) = 0;
  virtual Result<std::optional<ApiKeyRecord>> find_api_key(const std::string& hash) = 0;
  virtual Status put_capability(const CapabilityRecord& capability) = 0;
  virtual Result<std::optional<CapabilityRecord>> find_capability(const std::string& token_hash) = 0;
  virtual Result<std::optional<CapabilityRecord>> find_capability_by_id(const std::string& id) = 0;
  // The capabilities exchanged by `parent_id` itself (direct children only).
  virtual Result<std::vector<CapabilityRecord>> child_capabilities(const std::string& parent_id) = 0;
  // A page of capabilities matching `query`, at most query.limit of them.
  virtual Result<std::vector<CapabilityRecord>> list_capabilities(const CapabilityListQuery& query) = 0;

  virtual Status put_task(const TaskRecord& task) = 0;
  virtual Result<std::optional<TaskRecord>> find_task(const std::string& tenant, const std::string& id) = 0;
  virtual Result<std::vector<TaskRecord>> open_tasks_of_capability(const std::string& tenant,
                                                                   const std::string& capability_id) = 0;
  // Usage aggregates of a tenant with from_day <= day <= to_day (YYYY-MM-DD), by day.
  virtual Result<std::vector<UsageRow>> usage(const std::string& tenant, const std::string& from_day,
                                              const std::string& to_day) = 0;

  virtual Result<std::optional<std::string>> get_setting(const std::string& key) = 0;
  virtual Status put_setting(const std::string& key, const std::string& value) = 0;
  // Stores the setting unless it exists; true when this call stored it (nodes starting
  // together agree on one value: the loser reads the winner's).
  virtual Result<bool> put_setting_if_absent(const std::string& key, const std::string& value) = 0;

  // --- audit (issue 13) ---
  virtual Result<std::vector<AuditRecord>> read_audit(const AuditQuery& query) = 0;

  // --- webhooks (issue 13) ---
  // Endpoint records (store/webhook_endpoint.h). A store without them answers internal_error.
  virtual Status put_webhook_endpoint(const WebhookEndpointRecord& /*endpoint*/) { return no_webhooks(); }
  virtual Result<std::optional<WebhookEndpointRecord>> find_webhook_endpoint(const std::string& /*tenant*/,
                                                                             const std::string& /*id*/) {
    return no_webhooks();
  }
  virtual Result<std::vector<WebhookEndpointRecord>> list_webhook_endpoints(const std::string& /*tenant*/) {
    return no_webhooks();
  }
  // True when it existed.
  virtual Result<bool> delete_webhook_endpoint(const std::string& /*tenant*/, const std::string& /*id*/) {
    return no_webhooks();
  }
  // Writes the fields an operator changes (secrets, enabled, disabled_reason, retry_count,
  // next_attempt_at); never the cursor or the lease. True when the endpoint exists.
  virtual Result<bool> update_webhook_endpoint_settings(const WebhookEndpointRecord& /*endpoint*/) {
    return no_webhooks();
  }
  // Takes or renews, for `owner`, the leases of enabled endpoints that are free, lapsed or
  // already its own (at most `limit`), until `lease_until_ms`; returns the endpoints it now holds.
  virtual Result<std::vector<WebhookEndpointRecord>> lease_webhook_endpoints(const std::string& /*owner*/,
                                                                             int64_t /*now_ms*/,
                                                                             int64_t /*lease_until_ms*/,
                                                                             int /*limit*/) {
    return no_webhooks();
  }
  // Records a delivery attempt; false (nothing written) when `attempt.owner` no longer holds
  // the endpoint's lease, so a node that lost it can never move the cursor.
  virtual Result<bool> record_webhook_attempt(const WebhookAttemptRecord& /*attempt*/) { return no_webhooks(); }
  // Gives up `owner`'s leases (a node stopping): another node takes over at once.
  virtual Status release_webhook_leases(const std::string& /*owner*/) { return no_webhooks(); }

 private:
  static tl::unexpected<Error> no_webhooks() {
    return fail("internal_error", "this store does not keep webhook endpoints");
  }
};

}  // namespace ablo::store
