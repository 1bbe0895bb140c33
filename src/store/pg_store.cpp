#include "store/webhook_sql.h"
#include "store/pg_store.h"

#include <cmath>
#include <mutex>
#include <set>

#include <boost/json.hpp>
#include <fmt/format.h>

#include "common/time.h"
#include "pg/connection.h"
#include "pg/pool.h"
#include "pg/wakeup_channels.h"
#include "store/audit_sql.h"
#include "store/migration_ddl.h"
#include "store/record_decoding.h"
#include "store/row_codec.h"

namespace ablo::store {

namespace json = boost::json;
using pg::Connection;
using pg::Params;
using pg::quote_identifier;
using pg::Rows;

namespace {

// The delta log and why its ids are safe to follow from any node
// ----------------------------------------------------------------
// Readers on every node follow `sync_deltas` by id ("everything after the last id I
// published"). That is only correct if a reader can never see id N+1 committed while N is still
// invisible, and if no id is skipped. A plain sequence gives neither: two transactions draw
// N and N+1, the one with N+1 commits first, a follower reads N+1 and moves past N for good; a
// rolled-back transaction burns its number.
//
// So ids come from one counter row, `_ablo_log_head.last_id`, and every write transaction locks
// that row first (SELECT … FOR UPDATE) and writes the new value back just before COMMIT:
//  * Commit order = id order. A transaction holds the lock from its first statement until
//    its commit is visible (PostgreSQL releases row locks only after the commit is recorded
//    in the proc array), and the next writer reads the counter only after getting the lock.
//    Any snapshot that sees a transaction's deltas therefore also sees every smaller id.
//  * Dense ids. A rolled-back transaction (or savepoint) rolls its counter back too, so ids
//    have no holes and a follower can check that each id it reads is the previous one + 1.
//  * It also serializes all write transactions of the cluster. That is the price of a
//    totally ordered log with cross-node stale checks (the `readAt` rule reads the log inside
//    the transaction, so two nodes may not interleave their checks), and it is cheap because
//    each node batches its commits into one transaction per group (engine/commit_pipeline).
//    Taking the lock first (not at the first delta) also means writers can never deadlock on
//    it against model-row locks.
// The transaction NOTIFYs `ablo_deltas` (payload-free: the table is the truth); PostgreSQL
// delivers notifications only at commit.
constexpr std::string_view kControlTables = R"sql(
CREATE TABLE IF NOT EXISTS _ablo_log_head (one BOOLEAN PRIMARY KEY DEFAULT TRUE CHECK (one), last_id BIGINT NOT NULL);
INSERT INTO _ablo_log_head (one, last_id) VALUES (TRUE, 0) ON CONFLICT DO NOTHING;
CREATE TABLE IF NOT EXISTS sync_deltas (
  id BIGINT PRIMARY KEY,
  tenant TEXT NOT NULL,
  action_type CHAR(1) NOT NULL,
  model_name TEXT NOT NULL,
  model_id TEXT NOT NULL,
  data JSONB,
  sync_groups TEXT[] NOT NULL,
  transaction_id TEXT,
  client_tx_id TEXT,
  actor_id TEXT,
  actor_kind TEXT,
  capability_id TEXT,
  caused_by_task_id TEXT,
  created_at_ms BIGINT NOT NULL
);
CREATE INDEX IF NOT EXISTS sync_deltas_tenant_id ON sync_deltas (tenant, id);
CREATE INDEX IF NOT EXISTS sync_deltas_entity ON sync_deltas (model_id, id);
CREATE TABLE IF NOT EXISTS idempotency (
  tenant TEXT NOT NULL, key TEXT NOT NULL, value TEXT NOT NULL, created_at_ms BIGINT NOT NULL,
  PRIMARY KEY (tenant, key)
);
CREATE TABLE IF NOT EXISTS api_keys (
  hash TEXT PRIMARY KEY, id TEXT NOT NULL, org TEXT NOT NULL, sandbox BOOLEAN NOT NULL,
  display_prefix TEXT NOT NULL, label TEXT, created_at_ms BIGINT NOT NULL, revoked BOOLEAN NOT NULL DEFAULT FALSE
);
CREATE TABLE IF NOT EXISTS capabilities (
  token_hash TEXT PRIMARY KEY, id TEXT NOT NULL, key_id TEXT, org TEXT NOT NULL, sandbox BOOLEAN NOT NULL,
  participant_kind TEXT NOT NULL, participant_id TEXT NOT NULL, sync_groups TEXT NOT NULL,
  operations TEXT NOT NULL, wide_scope BOOLEAN NOT NULL, label TEXT, user_meta TEXT NOT NULL,
  issued_at_ms BIGINT NOT NULL, expires_at_ms BIGINT NOT NULL, revoked BOOLEAN NOT NULL DEFAULT FALSE
);
ALTER TABLE capabilities ADD COLUMN IF NOT EXISTS revoked_at_ms BIGINT;
ALTER TABLE capabilities ADD COLUMN IF NOT EXISTS parent_id TEXT;
CREATE INDEX IF NOT EXISTS capabilities_by_parent ON capabilities (parent_id);
CREATE INDEX IF NOT EXISTS capabilities_by_id ON capabilities (id);
CREATE INDEX IF NOT EXISTS capabilities_by_tenant ON capabilities (org, sandbox, issued_at_ms, id);
CREATE TABLE IF NOT EXISTS schemas (
  version BIGSERIAL PRIMARY KEY, json TEXT NOT NULL, hash TEXT NOT NULL, created_at_ms BIGINT NOT NULL
);
CREATE TABLE IF NOT EXISTS settings (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS _ablo_tasks (
  tenant TEXT NOT NULL, id TEXT NOT NULL, capability_id TEXT NOT NULL, open BOOLEAN NOT NULL, data TEXT NOT NULL,
  PRIMARY KEY (tenant, id)
);
CREATE INDEX IF NOT EXISTS _ablo_tasks_by_capability ON _ablo_tasks (tenant, capability_id, open);
CREATE TABLE IF NOT EXISTS _ablo_usage (
  tenant TEXT NOT NULL, day TEXT NOT NULL, key_id TEXT NOT NULL, event_name TEXT NOT NULL,
  total DOUBLE PRECISION NOT NULL, count BIGINT NOT NULL, PRIMARY KEY (tenant, day, key_id, event_name)
);
)sql";

// Serializes creating the control tables when several nodes start at once (CREATE TABLE IF NOT
// EXISTS is not safe against a concurrent creator).
constexpr int64_t kBootstrapLockKey = 0x61626c6f;  // "ablo"

// A PostgreSQL array literal ({"a","b"}) for a TEXT[] parameter.
std::string text_array(const std::vector<std::string>& items) {
  std::string out = "{";
  for (std::size_t i = 0; i < items.size(); ++i) {
    if (i) out += ',';
    out += '"';
    for (char c : items[i]) {
      if (c == '"' || c == '\\') out += '\\';
      out += c;
    }
    out += '"';
  }
  return out + "}";
}

// The schema type map (schema.md §3.4).
std::string sql_type(schema::FieldType type) {
  switch (type) {
    case schema::FieldType::kNumber: return "DOUBLE PRECISION";
    case schema::FieldType::kBoolean: return "BOOLEAN";
    case schema::FieldType::kDate: return "TIMESTAMPTZ";
    case schema::FieldType::kJson: return "JSONB";
    default: return "TEXT";
  }
}

std::string number_text(double number) { return fmt::format("{}", number); }

// One JSON value as a text parameter for a column of the given type.
pg::Param param_value(const json::value& value, schema::FieldType type) {
  if (value.is_null()) return std::nullopt;
  if (type == schema::FieldType::kJson) return json_text(value);
  if (value.is_string()) return std::string(value.as_string());
  if (value.is_bool()) return std::string(value.as_bool() ? "true" : "false");
  if (value.is_int64()) return type == schema::FieldType::kNumber ? number_text(static_cast<double>(value.as_int64()))
                                                                  : std::to_string(value.as_int64());
  if (value.is_uint64()) return std::to_string(value.as_uint64());
  if (value.is_double()) return number_text(value.as_double());
  return json_text(value);
}

// Timestamps read back as the ISO-8601 text the rest of the server uses (ms, 'Z'; the
// session time zone is UTC).
std::string iso_select(const std::string& column) {
  return fmt::format(R"(to_char({}, 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'))", column);
}

std::string field_select(const schema::Field& field) {
  const auto column = quote_identifier(field.column);
  switch (field.type) {
    case schema::FieldType::kDate: return iso_select(column);
    case schema::FieldType::kJson: return column + "::text";
    default: return column;
  }
}

// The SELECT list shared by every row read, matching decode_row's column order.
std::string select_columns(const schema::Model& model) {
  std::string sql = "_tenant, id, " + iso_select("created_at") + ", " + iso_select("updated_at") + ", created_by, " +
                    iso_select("archived_at") + ", array_to_json(_groups)::text";
  for (const auto* field : column_fields(model)) sql += ", " + field_select(*field);
  return sql;
}

pg::Param text_or_null(const std::string& text) { return text.empty() ? pg::Param() : pg::Param(text); }

// A full row as parameters in table column order (base columns then field columns).
Params row_params(const schema::Model& model, const std::string& tenant, const StoredRow& row) {
  const auto& data = row.data;
  Params params{tenant, text_or_empty(data, "id"), text_or_empty(data, "createdAt"), text_or_empty(data, "updatedAt"),
                text_or_null(text_or_empty(data, "createdBy")), text_or_null(text_or_empty(data, "archivedAt")),
                text_array(row.groups)};
  for (const auto* field : column_fields(model)) {
    const auto* value = data.if_contains(field->name);
    params.push_back(param_value(value ? *value : json::value(nullptr), field->type));
  }
  return params;
}

std::string column_list(const schema::Model& model) {
  std::string sql = "_tenant, id, created_at, updated_at, created_by, archived_at, _groups";
  for (const auto* field : column_fields(model)) sql += ", " + quote_identifier(field->column);
  return sql;
}

std::string placeholders(std::size_t first, std::size_t count) {
  std::string out;
  for (std::size_t i = 0; i < count; ++i) out += fmt::format("{}${}", i ? ", " : "", first + i);
  return out;
}

// The columns decode_capability reads, in its order.
constexpr const char* kCapabilitySelect =
    "SELECT token_hash, id, key_id, org, sandbox, participant_kind, participant_id, sync_groups, operations, "
    "wide_scope, label, user_meta, issued_at_ms, expires_at_ms, revoked, revoked_at_ms, parent_id FROM capabilities ";

constexpr const char* kDeltaColumns =
    "id, tenant, action_type, model_name, model_id, data::text, array_to_json(sync_groups)::text, transaction_id, "
    "client_tx_id, actor_id, actor_kind, capability_id, caused_by_task_id, created_at_ms";

std::string bool_text(bool value) { return value ? "true" : "false"; }

// Runs a SELECT and turns each row into a T.
template <class T, class Read>
Result<std::vector<T>> query_all(Connection& conn, std::string_view sql, const Params& params, Read&& read) {
  auto rows = conn.exec(sql, params);
  if (!rows) return tl::unexpected(rows.error());
  std::vector<T> values;
  values.reserve(static_cast<std::size_t>(rows->size()));
  for (int r = 0; r < rows->size(); ++r) values.push_back(read(rows->row(r)));
  return values;
}

// Runs a single-row SELECT; nullopt when no row matches.
template <class T, class Read>
Result<std::optional<T>> query_one(Connection& conn, std::string_view sql, const Params& params, Read&& read) {
  auto rows = conn.exec(sql, params);
  if (!rows) return tl::unexpected(rows.error());
  if (rows->empty()) return std::optional<T>();
  return std::optional<T>(read(rows->row(0)));
}

Status done(const Result<Rows>& rows) {
  if (!rows) return tl::unexpected(rows.error());
  return {};
}

std::string select_row_sql(const schema::Model& model) {
  return fmt::format("SELECT {} FROM {} WHERE _tenant = $1 AND id = $2", select_columns(model),
                     quote_identifier(model.table));
}

Result<std::optional<StoredRow>> get_row_on(Connection& conn, const schema::Model& model, const std::string& tenant,
                                            const std::string& id) {
  return query_one<StoredRow>(conn, select_row_sql(model), {tenant, id},
                              [&](const Rows::Row& row) { return decode_row(row, model); });
}

class PgWriteTransaction final : public WriteTransaction, private MigrationDdl {
 public:
  // `notify`: announce through PostgreSQL NOTIFY inside the transaction; else the store
  // announces after COMMIT (PgOptions::announce).
  PgWriteTransaction(Connection& conn, int64_t head, bool notify) : conn_(conn), head_(head), notify_(notify) {}

  int64_t head() const { return head_; }
  bool appended() const { return appended_; }
  bool schema_installed() const { return schema_installed_; }

  // Round trips are what a commit costs here, so (1) a savepoint is sent with the next read
  // (a commit's first statement is the read of its row), and a release together with the next
  // savepoint (or made by COMMIT), and (2) writes nobody reads the result of are held back and
  // sent in one pipelined round trip at the next flush (store.h). Every write goes out after
  // the savepoint it belongs to: flush sends a pending savepoint first.
  Status savepoint() override {
    if (auto flushed = flush(); !flushed) return flushed;
    saved_head_ = head_;
    savepoint_pending_ = true;
    release_with_savepoint_ = std::exchange(release_pending_, false);
    return {};
  }
  Status release_savepoint() override {
    if (auto flushed = flush(); !flushed) return flushed;
    release_pending_ = true;
    return {};
  }
  Status rollback_to_savepoint() override {
    held_back_.clear();  // the rolled-back work's writes: never sent
    head_ = saved_head_;  // the ids drawn since the savepoint are free again
    // A round trip that carried the savepoint failed: whether it exists is unknown, so rolling
    // back to "op" could undo an earlier commit. The group fails as a whole instead.
    if (savepoint_lost_) return tl::unexpected(*savepoint_lost_);
    if (std::exchange(savepoint_pending_, false)) {
      // Never sent, and nothing after it was: the previous savepoint is still there, unreleased
      // when its release was to ride along.
      release_pending_ = release_with_savepoint_;
      return {};
    }
    release_pending_ = false;
    return conn_.exec_script("ROLLBACK TO op; RELEASE op");
  }
  Status flush() override {
    if (auto sent = send_savepoint(); !sent) return sent;
    if (held_back_.empty()) return {};
    std::vector<Connection::Statement> statements;
    statements.swap(held_back_);
    return conn_.exec_pipelined(statements);
  }

  Result<std::optional<StoredRow>> get_row(const schema::Model& model, const std::string& tenant,
                                           const std::string& id) override {
    if (!held_back_.empty() || !savepoint_pending_) {
      if (auto flushed = flush(); !flushed) return tl::unexpected(flushed.error());
      return get_row_on(conn_, model, tenant, id);
    }
    // The pending savepoint and the read in one round trip.
    savepoint_pending_ = false;
    auto rows = conn_.exec_after(savepoint_statements(), select_row_sql(model), {tenant, id});
    if (!rows) {
      savepoint_lost_ = rows.error();
      return tl::unexpected(rows.error());
    }
    if (rows->empty()) return std::optional<StoredRow>();
    return std::optional<StoredRow>(decode_row(rows->row(0), model));
  }

  Status insert_row(const schema::Model& model, const std::string& tenant, const StoredRow& row) override {
    auto params = row_params(model, tenant, row);
    auto sql = fmt::format("INSERT INTO {} ({}) VALUES ({})", quote_identifier(model.table), column_list(model),
                           placeholders(1, params.size()));
    return hold_back(std::move(sql), std::move(params));
  }

  Status update_row(const schema::Model& model, const std::string& tenant, const StoredRow& row) override {
    auto params = row_params(model, tenant, row);
    std::string assignments = "created_at = $3, updated_at = $4, created_by = $5, archived_at = $6, _groups = $7";
    std::size_t index = 8;
    for (const auto* field : column_fields(model)) {
      assignments += fmt::format(", {} = ${}", quote_identifier(field->column), index++);
    }
    return hold_back(fmt::format("UPDATE {} SET {} WHERE _tenant = $1 AND id = $2", quote_identifier(model.table),
                                 assignments),
                     std::move(params));
  }

  Status delete_row(const schema::Model& model, const std::string& tenant, const std::string& id) override {
    return hold_back(fmt::format("DELETE FROM {} WHERE _tenant = $1 AND id = $2", quote_identifier(model.table)),
                     {tenant, id});
  }

  Result<int64_t> append_delta(const Delta& d) override {
    const int64_t id = head_ + 1;  // the counter row is locked by this transaction (see top)
    auto held = hold_back(
        "INSERT INTO sync_deltas (id, tenant, action_type, model_name, model_id, data, sync_groups, transaction_id, "
        "client_tx_id, actor_id, actor_kind, capability_id, caused_by_task_id, created_at_ms) "
        "VALUES ($1, $2, $3, $4, $5, $6::jsonb, $7, $8, $9, $10, $11, $12, $13, $14)",
        {std::to_string(id), d.tenant, std::string(1, d.action), d.model_name, d.model_id,
         d.data ? pg::Param(json_text(*d.data)) : pg::Param(), text_array(d.sync_groups), d.transaction_id,
         d.client_tx_id, d.participant_id, d.participant_kind, d.capability_id, d.caused_by_task_id,
         std::to_string(d.created_at_ms)});
    if (!held) return tl::unexpected(held.error());
    head_ = id;
    appended_ = true;
    return id;
  }

  Result<bool> has_foreign_write_since(const std::string& tenant, const std::string& model_name,
                                       const std::string& model_id, int64_t after_id,
                                       const std::string& participant_id) override {
    if (auto flushed = flush(); !flushed) return tl::unexpected(flushed.error());
    auto rows = conn_.exec(
        "SELECT 1 FROM sync_deltas WHERE model_id = $1 AND id > $2 AND tenant = $3 AND model_name = $4 "
        "AND actor_id <> $5 LIMIT 1",
        {model_id, std::to_string(after_id), tenant, model_name, participant_id});
    if (!rows) return tl::unexpected(rows.error());
    return !rows->empty();
  }

  Status add_usage(const std::string& tenant, const std::string& day, const std::string& key_id,
                   const std::string& event_name, double quantity, int64_t count) override {
    return hold_back(
        "INSERT INTO _ablo_usage (tenant, day, key_id, event_name, total, count) VALUES ($1, $2, $3, $4, $5, $6) "
        "ON CONFLICT (tenant, day, key_id, event_name) DO UPDATE SET total = _ablo_usage.total + excluded.total, "
        "count = _ablo_usage.count + excluded.count",
        {tenant, day, key_id, event_name, number_text(quantity), std::to_string(count)});
  }

  Result<std::optional<std::string>> find_idempotency(const std::string& tenant, const std::string& key) override {
    if (auto flushed = flush(); !flushed) return tl::unexpected(flushed.error());
    return query_one<std::string>(conn_, "SELECT value FROM idempotency WHERE tenant = $1 AND key = $2", {tenant, key},
                                  [](const Rows::Row& row) { return row.text(0); });
  }

  Result<std::vector<std::optional<std::string>>> find_idempotency_many(
      const std::vector<std::pair<std::string, std::string>>& keys) override {
    if (auto flushed = flush(); !flushed) return tl::unexpected(flushed.error());
    std::vector<std::string> tenants, names;
    for (const auto& [tenant, key] : keys) {
      tenants.push_back(tenant);
      names.push_back(key);
    }
    auto rows = conn_.exec(
        "SELECT k.n, i.value FROM unnest($1::text[], $2::text[]) WITH ORDINALITY AS k(tenant, key, n) "
        "JOIN idempotency i ON i.tenant = k.tenant AND i.key = k.key",
        {text_array(tenants), text_array(names)});
    if (!rows) return tl::unexpected(rows.error());
    std::vector<std::optional<std::string>> values(keys.size());
    for (int r = 0; r < rows->size(); ++r) values[static_cast<std::size_t>(rows->int64(r, 0) - 1)] = rows->text(r, 1);
    return values;
  }

  Status put_idempotency(const std::string& tenant, const std::string& key, const std::string& value) override {
    return hold_back(
        "INSERT INTO idempotency (tenant, key, value, created_at_ms) VALUES ($1, $2, $3, $4) "
        "ON CONFLICT (tenant, key) DO UPDATE SET value = excluded.value, created_at_ms = excluded.created_at_ms",
        {tenant, key, value, std::to_string(now_ms())});
  }

  Result<std::vector<std::string>> open_task_ids_of_capability(const std::string& tenant,
                                                               const std::string& capability_id) override {
    if (auto flushed = flush(); !flushed) return tl::unexpected(flushed.error());
    return query_all<std::string>(conn_,
                                  "SELECT id FROM _ablo_tasks WHERE tenant = $1 AND capability_id = $2 AND open",
                                  {tenant, capability_id}, [](const Rows::Row& row) { return row.text(0); });
  }

  // --- audit (issue 13) ---
  Status append_audit(const AuditRecord& record) override {
    held_back_.push_back(audit_sql::pg_append(record));
    return {};
  }
  // Read after the log-head lock this transaction took first (PgStore::write): nodes append
  // to a tenant's chain one transaction at a time, so the link read here is the newest.
  Result<std::optional<std::pair<int64_t, std::string>>> last_audit_link(const std::string& tenant) override {
    if (auto flushed = flush(); !flushed) return tl::unexpected(flushed.error());
    return audit_sql::pg_last_link(conn_, tenant);
  }

  Result<int64_t> install_schema(const schema::Schema& schema) override {
    if (auto flushed = flush(); !flushed) return tl::unexpected(flushed.error());
    for (const auto& model : schema.models()) {
      if (model.control_plane) continue;
      if (auto created = create_or_extend_table(model); !created) return tl::unexpected(created.error());
    }
    auto rows = conn_.exec("INSERT INTO schemas (json, hash, created_at_ms) VALUES ($1, $2, $3) RETURNING version",
                           {schema.json_text(), schema.hash(), std::to_string(now_ms())});
    if (!rows) return tl::unexpected(rows.error());
    // Other nodes reload their schema when this commits.
    schema_installed_ = true;
    if (notify_) {
      if (auto notified = conn_.exec_script("NOTIFY " + std::string(pg::kSchemaChannel)); !notified) {
        return tl::unexpected(notified.error());
      }
    }
    return rows->int64(0, 0);
  }

  Status apply_migration(const schema::Schema& previous, const schema::Schema& next,
                         const schema::MigrationPlan& plan) override {
    if (auto flushed = flush(); !flushed) return flushed;
    return apply_migration_steps(previous, next, plan, *this);
  }

 private:
  Status exec(const std::string& sql) { return conn_.exec_script(sql); }

  Status hold_back(std::string sql, Params params) {
    held_back_.push_back({std::move(sql), std::move(params)});
    return {};
  }

  // MigrationDdl in PostgreSQL's terms.
  Status drop_table(const std::string& table) override {
    return exec(fmt::format("DROP TABLE IF EXISTS {}", quote_identifier(table)));
  }
  Status rename_table(const std::string& from, const std::string& to) override {
    return exec(fmt::format("ALTER TABLE {} RENAME TO {}", quote_identifier(from), quote_identifier(to)));
  }
  Status drop_column(const std::string& table, const std::string& column) override {
    return exec(
        fmt::format("ALTER TABLE {} DROP COLUMN IF EXISTS {}", quote_identifier(table), quote_identifier(column)));
  }

  // Converts in place (ALTER COLUMN … TYPE … USING): safe and risky casts keep the values (a
  // value that does not convert fails the whole migration, which rolls back), lossy ones reset
  // the column to NULL as the plan warned.
  Status change_type(const schema::Model& model, const schema::Field& field, const schema::Field* before,
                     schema::Cast cast) override {
    const auto column = quote_identifier(field.column);
    std::string conversion = fmt::format("{}::{}", column, sql_type(field.type));
    if (cast == schema::Cast::kLossy) {
      conversion = "NULL";
    } else if (before && before->type == schema::FieldType::kJson && field.type != schema::FieldType::kJson) {
      conversion = fmt::format("({} #>> '{{}}')::{}", column, sql_type(field.type));  // unwrap JSON scalars
    } else if (before && before->type == schema::FieldType::kDate && field.type == schema::FieldType::kString) {
      conversion = iso_select(column);
    }
    if (auto ok = exec(fmt::format("ALTER TABLE {} DROP CONSTRAINT IF EXISTS {}", quote_identifier(model.table),
                                   quote_identifier(enum_constraint(model, field))));
        !ok) {
      return ok;
    }
    return exec(fmt::format("ALTER TABLE {} ALTER COLUMN {} TYPE {} USING {}", quote_identifier(model.table), column,
                            sql_type(field.type), conversion));
  }

  Status rename_column(const std::string& table, const std::string& from, const std::string& to) override {
    return exec(fmt::format("ALTER TABLE {} RENAME COLUMN {} TO {}", quote_identifier(table), quote_identifier(from),
                            quote_identifier(to)));
  }

  Status add_column(const std::string& table, const schema::Field& field) override {
    return exec(fmt::format("ALTER TABLE {} ADD COLUMN IF NOT EXISTS {} {}", quote_identifier(table),
                            quote_identifier(field.column), sql_type(field.type)));
  }

  Status backfill(const std::string& table, const schema::Field& field, const json::value& value) override {
    return done(conn_.exec(fmt::format("UPDATE {0} SET {1} = $1 WHERE {1} IS NULL", quote_identifier(table),
                                       quote_identifier(field.column)),
                           {param_value(value, field.type)}));
  }

  static std::string enum_constraint(const schema::Model& model, const schema::Field& field) {
    return model.table + "_" + field.column + "_enum";
  }

  // The enum CHECK of schema.md §3.3, recreated on every push so it follows value changes.
  // NOT VALID: rows written before a value was removed stay readable (the push warned).
  Status enum_check(const schema::Model& model, const schema::Field& field) {
    const auto table = quote_identifier(model.table);
    const auto name = quote_identifier(enum_constraint(model, field));
    if (auto ok = exec(fmt::format("ALTER TABLE {} DROP CONSTRAINT IF EXISTS {}", table, name)); !ok) return ok;
    if (field.type != schema::FieldType::kEnum || field.enum_values.empty()) return {};
    std::string values;
    for (const auto& v : field.enum_values) values += (values.empty() ? "" : ", ") + pg::quote_literal(v);
    return exec(fmt::format("ALTER TABLE {} ADD CONSTRAINT {} CHECK ({} IN ({})) NOT VALID", table, name,
                            quote_identifier(field.column), values));
  }

  Status create_or_extend_table(const schema::Model& model) {
    const auto table = quote_identifier(model.table);
    auto created = exec(fmt::format(
        "CREATE TABLE IF NOT EXISTS {} (_tenant TEXT NOT NULL, id TEXT NOT NULL, created_at TIMESTAMPTZ NOT NULL, "
        "updated_at TIMESTAMPTZ NOT NULL, created_by TEXT, archived_at TIMESTAMPTZ, _groups TEXT[] NOT NULL, "
        "PRIMARY KEY (_tenant, id))",
        table));
    if (!created) return created;
    for (const auto* field : column_fields(model)) {
      if (auto added = add_column(model.table, *field); !added) return added;
      if (auto checked = enum_check(model, *field); !checked) return checked;
    }
    return {};
  }

  Connection& conn_;
  int64_t head_;
  int64_t saved_head_ = 0;
  bool appended_ = false;
  bool notify_;
  bool schema_installed_ = false;
  bool release_pending_ = false;
  std::vector<Connection::Statement> savepoint_statements() const {
    std::vector<Connection::Statement> statements;
    if (release_with_savepoint_) statements.push_back({"RELEASE op", {}});
    statements.push_back({"SAVEPOINT op", {}});
    return statements;
  }
  Status send_savepoint() {
    if (!std::exchange(savepoint_pending_, false)) return {};
    auto sent = conn_.exec_pipelined(savepoint_statements());
    if (!sent) savepoint_lost_ = sent.error();
    return sent;
  }

  std::vector<Connection::Statement> held_back_;  // writes not sent yet (flush)
  bool savepoint_pending_ = false;       // savepoint() was called; SAVEPOINT not sent yet
  bool release_with_savepoint_ = false;  // the pending SAVEPOINT releases the previous one first
  std::optional<Error> savepoint_lost_;  // a round trip carrying SAVEPOINT failed
};

class PgStore final : public Store {
 public:
  PgStore(std::string url, std::unique_ptr<Connection> writer, PgOptions options)
      : url_(url),
        options_(options),
        writer_(std::move(writer)),
        readers_(std::move(url), static_cast<std::size_t>(options.reader_connections)) {}

  Status write(const std::function<Status(WriteTransaction&)>& body) override {
    std::lock_guard lock(writer_mutex_);
    auto conn = writer_connection();
    if (!conn) return tl::unexpected(conn.error());
    if (auto begun = (*conn)->exec_script("BEGIN"); !begun) {
      // The writer died while idle (a database restart): nothing was sent, so start over on a
      // fresh connection.
      if (!pg::is_unavailable(begun.error())) return begun;
      writer_.reset();
      conn = writer_connection();
      if (!conn) return tl::unexpected(conn.error());
      if (auto again = (*conn)->exec_script("BEGIN"); !again) return again;
    }
    Connection& c = **conn;
    // Lock the log head first (see the top of this file): this orders and serializes writers.
    auto head = c.exec("SELECT last_id FROM _ablo_log_head FOR UPDATE");
    if (!head) return rollback(c, head.error());
    PgWriteTransaction txn(c, head->int64(0, 0), /*notify=*/!options_.announce);
    if (auto result = run_write_body(body, txn); !result) return rollback(c, result.error());
    if (auto flushed = txn.flush(); !flushed) return rollback(c, flushed.error());
    if (txn.appended()) {
      auto moved = c.exec("UPDATE _ablo_log_head SET last_id = $1", {std::to_string(txn.head())});
      if (!moved) return rollback(c, moved.error());
      if (!options_.announce) {
        if (auto notified = c.exec_script("NOTIFY " + std::string(pg::kDeltasChannel)); !notified) {
          return rollback(c, notified.error());
        }
      }
    }
    if (auto committed = c.exec_script("COMMIT"); !committed) return rollback(c, committed.error());
    if (options_.announce) {
      if (txn.appended()) options_.announce(pg::kDeltasChannel);
      if (txn.schema_installed()) options_.announce(pg::kSchemaChannel);
    }
    return {};
  }

  Result<std::optional<SchemaVersion>> active_schema() override {
    return with_reader([](Connection& conn) {
      return query_one<SchemaVersion>(
          conn, "SELECT version, json, hash, created_at_ms FROM schemas ORDER BY version DESC LIMIT 1", {},
          [](const Rows::Row& row) {
            return SchemaVersion{row.int64(0), row.text(1), row.text(2), row.int64(3)};
          });
    });
  }

  Result<std::vector<SchemaVersion>> schema_versions(int limit) override {
    return with_reader([limit](Connection& conn) {
      return query_all<SchemaVersion>(
          conn, "SELECT version, json, hash, created_at_ms FROM schemas ORDER BY version DESC LIMIT $1",
          {std::to_string(limit)}, [](const Rows::Row& row) {
            return SchemaVersion{row.int64(0), row.text(1), row.text(2), row.int64(3)};
          });
    });
  }

  Result<int64_t> head_sync_id() override {
    return with_reader([](Connection& conn) -> Result<int64_t> {
      auto rows = conn.exec("SELECT last_id FROM _ablo_log_head");
      if (!rows) return tl::unexpected(rows.error());
      return rows->empty() ? 0 : rows->int64(0, 0);
    });
  }

  Result<std::vector<Delta>> read_deltas(const std::string& tenant, int64_t after_id, int64_t up_to_id,
                                         int limit) override {
    return with_reader([&](Connection& conn) {
      return query_all<Delta>(
          conn,
          fmt::format("SELECT {} FROM sync_deltas WHERE tenant = $1 AND id > $2 AND id <= $3 ORDER BY id LIMIT $4",
                      kDeltaColumns),
          {tenant, std::to_string(after_id), std::to_string(up_to_id), std::to_string(limit)}, decode_delta<Rows::Row>);
    });
  }

  Result<std::vector<Delta>> read_log(int64_t after_id, int limit) override {
    return with_reader([&](Connection& conn) {
      return query_all<Delta>(conn, fmt::format("SELECT {} FROM sync_deltas WHERE id > $1 ORDER BY id LIMIT $2", kDeltaColumns),
                              {std::to_string(after_id), std::to_string(limit)}, decode_delta<Rows::Row>);
    });
  }

  Result<std::optional<StoredRow>> get_row(const schema::Model& model, const std::string& tenant,
                                           const std::string& id) override {
    return with_reader([&](Connection& conn) { return get_row_on(conn, model, tenant, id); });
  }

  // Streams through a cursor in pages, so a query that stops early (a page of a list) does
  // not pull the whole table.
  Status scan_rows(const RowQuery& query, const std::function<bool(StoredRow&&)>& visit) override {
    return with_reader([&](Connection& conn) -> Status {
      const auto& model = *query.model;
      Params params{query.tenant};
      std::string sql =
          fmt::format("SELECT {} FROM {} WHERE _tenant = $1", select_columns(model), quote_identifier(model.table));
      for (const auto& filter : query.where) {
        auto clause = filter_sql(model, filter, params);
        if (!clause) return tl::unexpected(clause.error());
        sql += " AND " + *clause;
      }
      auto order = column_for(model, query.order_by);
      if (!order) return fail("query_invalid_identifier", fmt::format("unknown orderBy column '{}'", query.order_by), "orderBy");
      sql += fmt::format(" ORDER BY {} {}, id", quote_identifier(order->column), query.descending ? "DESC" : "ASC");
      if (auto begun = conn.exec_script("BEGIN READ ONLY"); !begun) return begun;
      auto result = stream(conn, sql, params, model, visit);
      (void)conn.exec_script(result ? "COMMIT" : "ROLLBACK");
      return result;
    });
  }

  Status put_api_key(const ApiKeyRecord& key) override {
    return write_one(
        "INSERT INTO api_keys (hash, id, org, sandbox, display_prefix, label, created_at_ms, revoked) "
        "VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (hash) DO UPDATE SET id = excluded.id, org = excluded.org, "
        "sandbox = excluded.sandbox, display_prefix = excluded.display_prefix, label = excluded.label, "
        "created_at_ms = excluded.created_at_ms, revoked = excluded.revoked",
        {key.hash, key.id, key.org, bool_text(key.sandbox), key.display_prefix, key.label,
         std::to_string(key.created_at_ms), bool_text(key.revoked)});
  }

  Result<std::optional<ApiKeyRecord>> find_api_key(const std::string& hash) override {
    return with_reader([&](Connection& conn) {
      return query_one<ApiKeyRecord>(
          conn,
          "SELECT hash, id, org, sandbox, display_prefix, label, created_at_ms, revoked FROM api_keys WHERE hash = $1",
          {hash}, [](const Rows::Row& row) {
            return ApiKeyRecord{row.text(1), row.text(2), row.boolean(3), row.text(4),
                                row.text(0), row.text(5), row.int64(6), row.boolean(7)};
          });
    });
  }

  Status put_capability(const CapabilityRecord& c) override {
    return write_one(
        "INSERT INTO capabilities (token_hash, id, key_id, org, sandbox, participant_kind, participant_id, "
        "sync_groups, operations, wide_scope, label, user_meta, issued_at_ms, expires_at_ms, revoked, revoked_at_ms, "
        "parent_id) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17) "
        "ON CONFLICT (token_hash) DO UPDATE SET id = excluded.id, key_id = excluded.key_id, org = excluded.org, sandbox = excluded.sandbox, "
        "participant_kind = excluded.participant_kind, participant_id = excluded.participant_id, "
        "sync_groups = excluded.sync_groups, operations = excluded.operations, wide_scope = excluded.wide_scope, "
        "label = excluded.label, user_meta = excluded.user_meta, issued_at_ms = excluded.issued_at_ms, "
        "expires_at_ms = excluded.expires_at_ms, revoked = excluded.revoked, revoked_at_ms = excluded.revoked_at_ms, "
        "parent_id = excluded.parent_id",
        {c.token_hash, c.id, c.key_id, c.org, bool_text(c.sandbox), c.participant_kind, c.participant_id,
         json_text(to_json_array(c.sync_groups)), json_text(to_json_array(c.operations)), bool_text(c.wide_scope),
         c.label, json_text(c.user_meta), std::to_string(c.issued_at_ms), std::to_string(c.expires_at_ms),
         bool_text(c.revoked), c.revoked_at_ms > 0 ? pg::Param(std::to_string(c.revoked_at_ms)) : pg::Param(),
         c.parent_id.empty() ? pg::Param() : pg::Param(c.parent_id)});
  }

  Result<std::optional<CapabilityRecord>> find_capability(const std::string& token_hash) override {
    return capability_where("token_hash", token_hash);
  }

  Result<std::optional<CapabilityRecord>> find_capability_by_id(const std::string& id) override {
    return capability_where("id", id);
  }

  Result<std::vector<CapabilityRecord>> child_capabilities(const std::string& parent_id) override {
    return with_reader([&](Connection& conn) {
      return query_all<CapabilityRecord>(conn, std::string(kCapabilitySelect) + "WHERE parent_id = $1", {parent_id},
                                         decode_capability<Rows::Row>);
    });
  }

  // Walks capabilities_by_tenant (or capabilities_by_parent) newest first; the cursor is a
  // (issued_at_ms, id) bound so a page costs the same wherever it starts.
  Result<std::vector<CapabilityRecord>> list_capabilities(const CapabilityListQuery& query) override {
    Params params{query.org, bool_text(query.sandbox)};
    auto next = [&params](std::string value) {
      params.emplace_back(std::move(value));
      return fmt::format("${}", params.size());
    };
    std::string sql = std::string(kCapabilitySelect) + "WHERE org = $1 AND sandbox = $2";
    if (!query.parent_id.empty()) sql += " AND parent_id = " + next(query.parent_id);
    if (query.status == CapabilityListQuery::Status::kActive) {
      sql += " AND NOT revoked AND expires_at_ms > " + next(std::to_string(query.now_ms));
    }
    if (query.status == CapabilityListQuery::Status::kRevoked) sql += " AND revoked";
    if (const auto& after = query.after_issued_at_and_id) {
      sql += fmt::format(" AND (issued_at_ms, id) < ({}::bigint, {})", next(std::to_string(after->first)), next(after->second));
    }
    sql += " ORDER BY issued_at_ms DESC, id DESC LIMIT " + next(std::to_string(query.limit));
    return with_reader([&](Connection& conn) {
      return query_all<CapabilityRecord>(conn, sql, params, decode_capability<Rows::Row>);
    });
  }

  Status put_task(const TaskRecord& task) override {
    return write_one(
        "INSERT INTO _ablo_tasks (tenant, id, capability_id, open, data) VALUES ($1, $2, $3, $4, $5) "
        "ON CONFLICT (tenant, id) DO UPDATE SET capability_id = excluded.capability_id, open = excluded.open, "
        "data = excluded.data",
        {task.tenant, task.id, task.capability_id, bool_text(task.open), json_text(task.data)});
  }

  Result<std::optional<TaskRecord>> find_task(const std::string& tenant, const std::string& id) override {
    return with_reader([&](Connection& conn) {
      return query_one<TaskRecord>(
          conn, "SELECT tenant, id, capability_id, open, data FROM _ablo_tasks WHERE tenant = $1 AND id = $2",
          {tenant, id}, decode_task<Rows::Row>);
    });
  }

  Result<std::vector<TaskRecord>> open_tasks_of_capability(const std::string& tenant,
                                                           const std::string& capability_id) override {
    return with_reader([&](Connection& conn) {
      return query_all<TaskRecord>(conn,
                                   "SELECT tenant, id, capability_id, open, data FROM _ablo_tasks WHERE tenant = $1 "
                                   "AND capability_id = $2 AND open",
                                   {tenant, capability_id}, decode_task<Rows::Row>);
    });
  }

  Result<std::vector<UsageRow>> usage(const std::string& tenant, const std::string& from_day,
                                      const std::string& to_day) override {
    return with_reader([&](Connection& conn) {
      return query_all<UsageRow>(
          conn,
          "SELECT day, key_id, event_name, total, count FROM _ablo_usage WHERE tenant = $1 AND day >= $2 AND day <= $3 "
          "ORDER BY day, key_id, event_name",
          {tenant, from_day, to_day}, [](const Rows::Row& row) {
            return UsageRow{row.text(0), row.text(1), row.text(2), row.real(3), row.int64(4)};
          });
    });
  }

  Result<std::optional<std::string>> get_setting(const std::string& key) override {
    return with_reader([&](Connection& conn) {
      return query_one<std::string>(conn, "SELECT value FROM settings WHERE key = $1", {key},
                                    [](const Rows::Row& row) { return row.text(0); });
    });
  }

  // --- audit (issue 13) ---
  Result<std::vector<AuditRecord>> read_audit(const AuditQuery& query) override {
    return with_reader([&](Connection& conn) { return audit_sql::pg_read(conn, query); });
  }

  Status put_setting(const std::string& key, const std::string& value) override {
    return write_one(
        "INSERT INTO settings (key, value) VALUES ($1, $2) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        {key, value});
  }

  Result<bool> put_setting_if_absent(const std::string& key, const std::string& value) override {
    return with_reader([&](Connection& conn) -> Result<bool> {
      auto rows = conn.exec("INSERT INTO settings (key, value) VALUES ($1, $2) ON CONFLICT (key) DO NOTHING",
                            {key, value});
      if (!rows) return tl::unexpected(rows.error());
      return rows->affected() == 1;
    });
  }

  // --- webhooks (issue 13) --- (SQL in pg_webhooks.cpp; each call is one autocommit statement)
  Status put_webhook_endpoint(const WebhookEndpointRecord& e) override {
    return with_reader([&](Connection& conn) { return pg_webhooks::put(conn, e); });
  }
  Result<std::optional<WebhookEndpointRecord>> find_webhook_endpoint(const std::string& tenant,
                                                                     const std::string& id) override {
    return with_reader([&](Connection& conn) { return pg_webhooks::find(conn, tenant, id); });
  }
  Result<std::vector<WebhookEndpointRecord>> list_webhook_endpoints(const std::string& tenant) override {
    return with_reader([&](Connection& conn) { return pg_webhooks::list(conn, tenant); });
  }
  Result<bool> delete_webhook_endpoint(const std::string& tenant, const std::string& id) override {
    return with_reader([&](Connection& conn) { return pg_webhooks::remove(conn, tenant, id); });
  }
  Result<bool> update_webhook_endpoint_settings(const WebhookEndpointRecord& e) override {
    return with_reader([&](Connection& conn) { return pg_webhooks::update_settings(conn, e); });
  }
  Result<std::vector<WebhookEndpointRecord>> lease_webhook_endpoints(const std::string& owner, int64_t now,
                                                                     int64_t until, int limit) override {
    return with_reader([&](Connection& conn) { return pg_webhooks::lease(conn, owner, now, until, limit); });
  }
  Result<bool> record_webhook_attempt(const WebhookAttemptRecord& attempt) override {
    return with_reader([&](Connection& conn) { return pg_webhooks::record_attempt(conn, attempt); });
  }
  Status release_webhook_leases(const std::string& owner) override {
    return with_reader([&](Connection& conn) { return pg_webhooks::release(conn, owner); });
  }

 private:
  Status rollback(Connection& conn, Error error) {
    if (conn.healthy()) (void)conn.exec_script("ROLLBACK");
    return tl::unexpected(std::move(error));
  }

  // The writer connection, reopened when the server went away (a restarted PostgreSQL).
  Result<Connection*> writer_connection() {
    if (!writer_ || !writer_->healthy()) {
      auto opened = Connection::open(url_);
      if (!opened) return tl::unexpected(opened.error());
      writer_ = std::move(*opened);
    }
    return writer_.get();
  }

  Status stream(Connection& conn, const std::string& sql, const Params& params, const schema::Model& model,
                const std::function<bool(StoredRow&&)>& visit) {
    if (auto declared = conn.exec("DECLARE rows NO SCROLL CURSOR FOR " + sql, params); !declared) {
      return tl::unexpected(declared.error());
    }
    while (true) {
      auto page = conn.exec("FETCH 200 FROM rows");
      if (!page) return tl::unexpected(page.error());
      for (int r = 0; r < page->size(); ++r) {
        if (!visit(decode_row(page->row(r), model))) return {};
      }
      if (page->size() < 200) return {};
    }
  }

  Result<std::optional<CapabilityRecord>> capability_where(std::string_view column, const std::string& value) {
    return with_reader([&](Connection& conn) {
      return query_one<CapabilityRecord>(
          conn,
          fmt::format("{}WHERE {} = $1", kCapabilitySelect, column),
          {value}, decode_capability<Rows::Row>);
    });
  }

  // Lends a reader connection to `fn` (pg::Pool: self-healing after a database restart;
  // every use here is a read or a single idempotent statement).
  template <class Fn>
  auto with_reader(Fn&& fn) -> decltype(fn(std::declval<Connection&>())) {
    return readers_.with(std::forward<Fn>(fn));
  }

  // A small autocommit write outside the commit pipeline (keys, capabilities, settings).
  Status write_one(std::string_view sql, const Params& params) {
    return with_reader([&](Connection& conn) { return done(conn.exec(sql, params)); });
  }

  // One filter in PostgreSQL's dialect (resolve_filter did the checking).
  Result<std::string> filter_sql(const schema::Model& model, const RowFilter& filter, Params& params) {
    using Shape = ResolvedFilter::Shape;
    auto f = resolve_filter(model, filter);
    if (!f) return tl::unexpected(f.error());
    const std::string column = f->org ? std::string("left(_tenant, -5)") : quote_identifier(f->column.column);
    const auto first = params.size() + 1;
    for (const auto& value : f->values) params.push_back(param_value(value, f->column.type));
    const auto placeholder = fmt::format("${}", first);
    switch (f->shape) {
      case Shape::kList:
        if (f->values.empty()) return std::string(f->op == "IN" ? "FALSE" : "TRUE");
        return fmt::format("{} {} ({})", column, f->op, placeholders(first, f->values.size()));
      case Shape::kIsNull: return column + " IS NULL";
      case Shape::kIsNotNull: return column + " IS NOT NULL";
      case Shape::kCompare: return fmt::format("{} {} {}", column, f->op, placeholder);
      case Shape::kSame: return fmt::format("{} IS NOT DISTINCT FROM {}", column, placeholder);
      case Shape::kNotSame: return fmt::format("{} IS DISTINCT FROM {}", column, placeholder);
      case Shape::kPattern: return fmt::format("{}::text {} {}", column, f->op, placeholder);  // any column type
    }
    return fail("query_unsupported_operator", "unsupported operator '" + f->op + "'", "where");
  }

  std::string url_;
  PgOptions options_;
  std::mutex writer_mutex_;  // guards writer_ (one write transaction at a time per node)
  std::unique_ptr<Connection> writer_;
  pg::Pool readers_;
};

}  // namespace

Result<std::unique_ptr<Store>> open_pg_store(const std::string& url, PgOptions options) {
  auto conn = Connection::open(url);
  if (!conn) return tl::unexpected(conn.error());
  if (auto tables = pg::run_setup(**conn, kBootstrapLockKey, kControlTables); !tables) {
    return tl::unexpected(tables.error());
  }
  if (auto audit = pg::run_setup(**conn, kBootstrapLockKey, audit_sql::kPgTables); !audit) {
    return tl::unexpected(audit.error());
  }
  if (auto webhooks = pg::run_setup(**conn, kBootstrapLockKey, pg_webhooks::kTables); !webhooks) {
    return tl::unexpected(webhooks.error());
  }
  return std::unique_ptr<Store>(std::make_unique<PgStore>(url, std::move(*conn), options));
}

}  // namespace ablo::store
