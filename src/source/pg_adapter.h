#pragma once
// The direct PostgreSQL source (storage mode `selfHosted`, issue 11 item 2): the customer points
// Ablo at its existing database and a schema obtained with `ablo pull`; this adapter reads and
// writes the customer's own tables and reports every change to them, ours and anyone else's.
//
// Names (schema.md §3.2): table = model.table, column = field.column, `id` is the text key. The
// system columns created_at / updated_at / archived_at and the model's tenancy column are used
// when the table has them (looked up once per table, again after the schema changes). Rows leave
// field-keyed (datasource.md §3.1): field names, `id`, createdAt/updatedAt/archivedAt as ISO-8601
// 'Z' strings, booleans and numbers as JSON, json/jsonb parsed.
//
// Change capture: why triggers and not logical replication.
// - It works on managed databases (RDS, Cloud SQL, Supabase, ...) where Ablo's role cannot be
//   granted REPLICATION: a trigger needs only ownership of (or TRIGGER on) the model tables.
// - No replication slot: a slot retains WAL without bound while its consumer is away, so an
//   Ablo outage would fill the customer's disk (anchors.md, "slot"). The outbox is an ordinary
//   table the customer can inspect, trim or drop.
// - The event is written in the same transaction as the row: it exists exactly when the write
//   committed, with the committing transaction's `ablo.client_tx_id` (our own commits' echoes
//   carry their clientTxId; psql's writes carry none).
// - Restart-safe: the feed position is the outbox's numeric cursor, which Ablo persists.
// - Cost: one outbox insert per row written, and writers of captured tables commit one at a
//   time: each takes one advisory lock at its first statement on a captured table (a BEFORE
//   ... FOR EACH STATEMENT trigger, so before any row lock: no new deadlocks) and holds it until
//   it commits. Cursors therefore become visible in cursor order and a reader can never skip an
//   event that commits late (the discipline of the store's delta counter row,
//   store/pg_store.cpp). A long transaction on a captured table delays the others' commits.
// - Not captured: TRUNCATE, and writes by a role with session_replication_role = replica.
//   Trim the outbox below the cursor Ablo persisted; uninstall capture before dropping it (the
//   triggers would fail the customer's writes without it).
// - Poolers: the adapter uses prepared statements and LISTEN; point it at the database or a
//   session-mode pooler, not a transaction-mode PgBouncer.
//
// Threading: like every DataAdapter, one thread at a time. The helpers below take a connection
// the caller owns.
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "common/result.h"
#include "pg/connection.h"
#include "schema/schema.h"
#include "source/adapter.h"

namespace ablo::source {

struct PgSourceOptions {
  std::string url;                                                // the customer's database
  std::function<std::shared_ptr<const schema::Schema>()> schema;  // the active schema (may change)
  // Written into / filtered by a model's tenancy column when its table has one; "" = no filter.
  std::string organization_id;
};

// An adapter on `options.url` (mode() == kSelfHosted). Fails with source_network_error when the
// database cannot be reached. It does not install capture: call install_capture first (commit
// needs ablo_idempotency, events() needs ablo_outbox).
Result<std::unique_ptr<DataAdapter>> open_pg_source(PgSourceOptions options);

// Creates ablo_idempotency and ablo_outbox (datasource.md §3.5; the ledger also keeps a
// request_hash), the trigger function ablo_capture() and an `ablo_capture` trigger on every
// model table. Idempotent; one transaction. A model whose table does not exist fails it
// (invalid_request) and nothing is installed.
Status install_capture(pg::Connection& conn, const schema::Schema& schema);
// Drops the triggers and the function; keeps the two tables and their rows. Idempotent.
Status uninstall_capture(pg::Connection& conn, const schema::Schema& schema);

struct CaptureStatus {
  bool installed = false;                    // the function exists and every model table has the trigger
  std::vector<std::string> tables_captured;  // tables of the current schema with the trigger, sorted
  int64_t outbox_rows = 0;
  int64_t head_cursor = 0;  // the highest outbox cursor, 0 when empty
};
Result<CaptureStatus> capture_status(pg::Connection& conn, const schema::Schema& schema);

}  // namespace ablo::source
