#include "store/webhook_sql.h"
#include "store/pg_store.h"

#include <algorithm>
#include <cmath>
#include <functional>
#include <map>
#include <mutex>
#include <set>
#include <tuple>

#include <boost/json.hpp>
#include <fmt/format.h>

#include "common/json_member.h"
#include "common/time.h"
#include "pg/connection.h"
#include "pg/pool.h"
#include "pg/wakeup_channels.h"
#include "store/audit_sql.h"
#include "store/migration_ddl.h"
#include "store/record_decoding.h"
#include "store/row_codec.h"
#include "store/row_text.h"

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
//
// Key columns (tenants, ids, idempotency keys, commit ids) are COLLATE "C": they are opaque
// identifiers, compared in every index lookup and insert of a commit, and a locale's collation
// (strcoll, ~10% of the backend's CPU in a commit load under C.UTF-8) buys nothing for them. Byte
// order is also SQLite's, so both stores order ids alike. Tables created before keep theirs.
constexpr std::string_view kControlTables = R"sql(
CREATE TABLE IF NOT EXISTS _ablo_log_head (one BOOLEAN PRIMARY KEY DEFAULT TRUE CHECK (one), last_id BIGINT NOT NULL);
INSERT INTO _ablo_log_head (one, last_id) VALUES (TRUE, 0) ON CONFLICT DO NOTHING;
CREATE TABLE IF NOT EXISTS sync_deltas (
  id BIGINT PRIMARY KEY,
  tenant TEXT COLLATE "C" NOT NULL,
  action_type CHAR(1) NOT NULL,
  model_name TEXT COLLATE "C" NOT NULL,
  model_id TEXT COLLATE "C" NOT NULL,
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
  tenant TEXT COLLATE "C" NOT NULL, key TEXT COLLATE "C" NOT NULL, value TEXT NOT NULL, created_at_ms BIGINT NOT NULL,
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

// The PostgreSQL type of each base column (table_layout.h kBaseColumns, same order), as
// create_or_extend_table declares them.
constexpr std::string_view kPgBaseColumnTypes[] = {"TEXT", "TEXT", "TIMESTAMPTZ", "TIMESTAMPTZ",
                                                   "TEXT", "TIMESTAMPTZ", "TEXT[]"};
static_assert(std::size(kPgBaseColumnTypes) == std::size(kBaseColumns));

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

// Text in a row query sorts and compares as the schema promises on every store: by code point
// (SQLite's BINARY, the client library's own order). PostgreSQL would use the column's
// collation, which for user fields is the database's locale (en_US or ICU "en": "apple" before
// "Banana"), so ORDER BY and range comparisons on text say COLLATE "C". Equality needs no
// COLLATE (every deterministic collation agrees on it) and keeps any index on the column usable.
bool holds_text(const ColumnRef& ref) {
  for (std::size_t i = 0; i < std::size(kBaseColumns); ++i) {
    if (kBaseColumns[i] == ref.column) return kPgBaseColumnTypes[i] == "TEXT";
  }
  return sql_type(ref.type) == "TEXT";
}

std::string in_code_point_order(std::string column_sql, bool text) {
  return text ? column_sql + R"( COLLATE "C")" : column_sql;
}

bool is_range_operator(std::string_view op) { return op == "<" || op == "<=" || op == ">" || op == ">="; }

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
  Params params{tenant, string_member(data, "id"), string_member(data, "createdAt"), string_member(data, "updatedAt"),
                text_or_null(string_member(data, "createdBy")), text_or_null(string_member(data, "archivedAt")),
                text_array(row.groups)};
  for (const auto* field : column_fields(model)) {
    const auto* value = data.if_contains(field->name);
    params.push_back(param_value(value ? *value : json::value(nullptr), field->type));
  }
  return params;
}

// kBaseColumns as an SQL list, joined once (it starts every row statement's column list).
const std::string& base_column_list() {
  static const std::string joined = [] {
    std::string list;
    for (const auto column : kBaseColumns) list.append(list.empty() ? "" : ", ").append(column);
    return list;
  }();
  return joined;
}

std::string column_list(const schema::Model& model) {
  std::string sql = base_column_list();
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

// Lookups of many keys at once are written as a LATERAL subquery with LIMIT 1 per key: the plan
// is then a per-key index lookup whatever the table's size. A plain join of unnest() with the
// table is planned (and, prepared, cached) as a hash join over a sequential scan while the table
// is small, which stays when it has grown: a cost per group that grows with the table.
constexpr std::string_view kIdempotencyLookup =
    "SELECT k.n, v.value FROM unnest($1::text[], $2::text[]) WITH ORDINALITY AS k(k_tenant, k_key, n) CROSS JOIN "
    "LATERAL (SELECT value FROM idempotency WHERE tenant = k.k_tenant AND key = k.k_key LIMIT 1) AS v";

// The single-row writes a commit group repeats, and each one's many-row form: the rows' values
// as one TEXT[] per column (binary_text_array), unnested and cast to the columns' types, one
// statement per group instead of one per commit.
constexpr std::string_view kInsertDelta =
    "INSERT INTO sync_deltas (id, tenant, action_type, model_name, model_id, data, sync_groups, transaction_id, "
    "client_tx_id, actor_id, actor_kind, capability_id, caused_by_task_id, created_at_ms) "
    "VALUES ($1, $2, $3, $4, $5, $6::jsonb, $7, $8, $9, $10, $11, $12, $13, $14)";
constexpr std::string_view kInsertDeltas =
    "INSERT INTO sync_deltas (id, tenant, action_type, model_name, model_id, data, sync_groups, transaction_id, "
    "client_tx_id, actor_id, actor_kind, capability_id, caused_by_task_id, created_at_ms) "
    "SELECT id::bigint, tenant, action_type, model_name, model_id, data::jsonb, sync_groups::text[], transaction_id, "
    "client_tx_id, actor_id, actor_kind, capability_id, caused_by_task_id, created_at_ms::bigint FROM unnest("
    "$1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[], $9::text[], "
    "$10::text[], $11::text[], $12::text[], $13::text[], $14::text[]) AS u(id, tenant, action_type, model_name, "
    "model_id, data, sync_groups, transaction_id, client_tx_id, actor_id, actor_kind, capability_id, "
    "caused_by_task_id, created_at_ms)";
constexpr std::string_view kPutIdempotency =
    "INSERT INTO idempotency (tenant, key, value, created_at_ms) VALUES ($1, $2, $3, $4) "
    "ON CONFLICT (tenant, key) DO UPDATE SET value = excluded.value, created_at_ms = excluded.created_at_ms";
constexpr std::string_view kPutIdempotencies =
    "INSERT INTO idempotency (tenant, key, value, created_at_ms) SELECT tenant, key, value, created_at_ms::bigint "
    "FROM unnest($1::text[], $2::text[], $3::text[], $4::text[]) AS u(tenant, key, value, created_at_ms) "
    "ON CONFLICT (tenant, key) DO UPDATE SET value = excluded.value, created_at_ms = excluded.created_at_ms";
constexpr std::string_view kInsertAudits =
    "INSERT INTO _ablo_audit (tenant, chain_seq, occurred_at_ms, actor_kind, actor_id, credential_id, action_type, "
    "model_name, commit_id, row_json, row_hash) SELECT tenant, chain_seq::bigint, occurred_at_ms::bigint, "
    "actor_kind, actor_id, credential_id, action_type, model_name, commit_id, row_json, row_hash FROM unnest("
    "$1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[], $9::text[], "
    "$10::text[], $11::text[]) AS u(tenant, chain_seq, occurred_at_ms, actor_kind, actor_id, credential_id, "
    "action_type, model_name, commit_id, row_json, row_hash)";

// One statement of the many-row form `many` for single-row statements of one shape: each
// parameter becomes the array of that parameter's values.
Connection::Statement many_rows(std::string_view many, const std::vector<const Connection::Statement*>& rows) {
  Connection::Statement statement{std::string(many), {}};
  const std::size_t columns = rows.front()->params.size();
  std::vector<const pg::Param*> values;
  for (std::size_t column = 0; column < columns; ++column) {
    values.clear();
    for (const auto* row : rows) values.push_back(&row->params[column]);
    statement.params.emplace_back(pg::binary_text_array(values));
  }
  statement.formats.assign(columns, Connection::kBinary);
  return statement;
}

// A model's row INSERT for many rows (row_params order): every value goes as text and is cast
// to its column's type, as the server does for a single row's parameters.
std::string many_row_insert(const schema::Model& model) {
  std::vector<std::string> types;
  for (const auto type : kPgBaseColumnTypes) types.emplace_back(type);
  for (const auto* field : column_fields(model)) types.push_back(sql_type(field->type));
  std::string select, arrays, names;
  for (std::size_t i = 0; i < types.size(); ++i) {
    const char* comma = i ? ", " : "";
    select += fmt::format("{}u.c{}{}", comma, i, types[i] == "TEXT" ? "" : "::" + types[i]);
    arrays += fmt::format("{}${}::text[]", comma, i + 1);
    names += fmt::format("{}c{}", comma, i);
  }
  return fmt::format("INSERT INTO {} ({}) SELECT {} FROM unnest({}) AS u({})", quote_identifier(model.table),
                     column_list(model), select, arrays, names);
}

// Replaces a batched group's single-row delta, idempotency and audit writes by one many-row
// statement each, after its other writes (no constraint links those tables, so their order
// among them does not matter). An idempotency key written twice keeps its last value, as the
// single-row upserts did. A group whose commits sent savepoints keeps its statements as they
// are: their order relative to ROLLBACK TO is the point.
// `row_inserts`: the many-row form of each model's row INSERT the group used (many_row_insert);
// consecutive inserts into one table become one statement, so the rows' order among the other
// row writes (an update or delete of the same row after it) stays as it was.
void coalesce_writes(std::vector<Connection::Statement>& statements,
                     const std::map<std::string, std::string>& row_inserts) {
  static const std::string audit_sql = audit_sql::pg_append(AuditRecord{}).sql;
  struct Merge {
    std::string_view single;
    std::string_view many;
    std::size_t key_columns;  // leading columns that identify a row (0: never repeated)
    std::vector<const Connection::Statement*> rows;
  };
  std::vector<Merge> merges{{kInsertDelta, kInsertDeltas, 0, {}},
                            {kPutIdempotency, kPutIdempotencies, 2, {}},
                            {audit_sql, kInsertAudits, 0, {}}};
  std::vector<Connection::Statement> kept;
  for (const auto& statement : statements) {
    if (statement.params.empty()) return;  // SAVEPOINT, RELEASE, ROLLBACK TO: leave as is
  }
  for (auto& statement : statements) {
    auto merge = std::find_if(merges.begin(), merges.end(), [&](const Merge& m) { return m.single == statement.sql; });
    if (merge == merges.end()) kept.push_back(std::move(statement));
    else merge->rows.push_back(&statement);
  }
  for (auto& merge : merges) {
    if (merge.rows.empty()) continue;
    if (merge.key_columns > 0) {  // the last write of each key
      std::set<std::vector<pg::Param>> seen;
      std::vector<const Connection::Statement*> last;
      for (auto it = merge.rows.rbegin(); it != merge.rows.rend(); ++it) {
        const auto& params = (*it)->params;
        std::vector<pg::Param> key(params.begin(), params.begin() + static_cast<std::ptrdiff_t>(merge.key_columns));
        if (seen.insert(std::move(key)).second) last.push_back(*it);
      }
      merge.rows.assign(last.rbegin(), last.rend());
    }
    if (merge.rows.size() == 1) {
      kept.push_back(*merge.rows.front());
      continue;
    }
    kept.push_back(many_rows(merge.many, merge.rows));
  }
  statements.clear();
  for (std::size_t i = 0; i < kept.size();) {
    const auto many = row_inserts.find(kept[i].sql);
    std::size_t end = i + 1;
    while (many != row_inserts.end() && end < kept.size() && kept[end].sql == kept[i].sql) ++end;
    if (end - i == 1) {
      statements.push_back(std::move(kept[i]));
    } else {
      std::vector<const Connection::Statement*> rows;
      for (std::size_t j = i; j < end; ++j) rows.push_back(&kept[j]);
      statements.push_back(many_rows(many->second, rows));
    }
    i = end;
  }
}

// A batched commit group (WriteTransaction::begin_batch): what the group reads, read in one
// round trip after the log-head lock, and the marks that stand for its commits' savepoints.
//
// Reads answered here are the state the group started from; a row, idempotency key or audit
// chain the group writes is forgotten, so a later read of it goes to the database (after the
// held writes) and sees the write exactly as stored. Reads made that way are not kept: a commit
// that rolls back could otherwise leave its own write behind in the answers.
//
// A savepoint is a mark in the held writes; rolling back drops the writes after it. Only when a
// read must go to the database in the middle of a commit is the mark sent as a real SAVEPOINT
// (with the writes before it), and a rollback becomes ROLLBACK TO it, held like the writes.
class PgGroupBatch {
 public:
  using Statements = std::vector<Connection::Statement>;

  // Sends `before` and the reads in one round trip; returns the rows of `before`.
  Result<std::vector<Rows>> read(Connection& conn, const GroupReads& reads, const Statements& before) {
    Statements statements = before;
    std::vector<std::function<void(const Rows&)>> decoders;
    read_idempotency(reads, statements, decoders);
    read_rows(reads, statements, decoders);
    read_foreign_writes(reads, statements, decoders);
    read_audit_links(reads, statements, decoders);
    read_open_tasks(reads, statements, decoders);
    auto results = conn.exec_batch(statements);
    if (!results) return tl::unexpected(results.error());
    for (std::size_t i = 0; i < decoders.size(); ++i) decoders[i]((*results)[before.size() + i]);
    results->erase(results->begin() + static_cast<std::ptrdiff_t>(before.size()), results->end());
    return results;
  }

  const std::optional<StoredRow>* row(const schema::Model& model, const std::string& tenant, const std::string& id) const {
    auto found = rows_.find({model.table, tenant, id});
    return found == rows_.end() ? nullptr : &found->second;
  }
  void forget_row(const schema::Model& model, const std::string& tenant, const std::string& id) {
    if (!rows_.empty()) rows_.erase({model.table, tenant, id});
  }

  const std::optional<std::string>* idempotency(const std::string& tenant, const std::string& key) const {
    auto found = idempotency_.find({tenant, key});
    return found == idempotency_.end() ? nullptr : &found->second;
  }
  std::optional<std::vector<std::optional<std::string>>> idempotency_many(
      const std::vector<std::pair<std::string, std::string>>& keys) const {
    std::vector<std::optional<std::string>> values;
    for (const auto& [tenant, key] : keys) {
      const auto* known = idempotency(tenant, key);
      if (!known) return std::nullopt;
      values.push_back(*known);
    }
    return values;
  }
  void forget_idempotency(const std::string& tenant, const std::string& key) {
    if (!idempotency_.empty()) idempotency_.erase({tenant, key});
  }

  const std::optional<std::pair<int64_t, std::string>>* audit_link(const std::string& tenant) const {
    auto found = audit_links_.find(tenant);
    return found == audit_links_.end() ? nullptr : &found->second;
  }
  void forget_audit_link(const std::string& tenant) {
    if (!audit_links_.empty()) audit_links_.erase(tenant);
  }

  const std::vector<std::string>* open_tasks(const std::string& tenant, const std::string& capability_id) const {
    auto found = open_tasks_.find({tenant, capability_id});
    return found == open_tasks_.end() ? nullptr : &found->second;
  }

  // has_foreign_write_since from what was read at the start and the deltas appended since;
  // nullopt when that question was not read.
  std::optional<bool> foreign_write(const std::string& tenant, const std::string& model_name,
                                    const std::string& model_id, int64_t after_id,
                                    const std::string& participant_id) const {
    for (const auto& d : appended_) {
      if (d.id > after_id && d.model_id == model_id && d.tenant == tenant && d.model_name == model_name &&
          d.participant_id != participant_id) {
        return true;
      }
    }
    auto found = foreign_.find({tenant, model_name, model_id, after_id, participant_id});
    if (found == foreign_.end()) return std::nullopt;
    return found->second;
  }
  void appended(const Delta& delta, int64_t id) {
    appended_.push_back({delta.tenant, delta.model_name, delta.model_id, delta.participant_id, id});
  }

  // Savepoint marks (the held writes are the transaction's `held`).
  Status mark(Statements& held, int64_t head) {
    if (std::exchange(mark_sent_, false)) held.push_back({"RELEASE op", {}});
    mark_ = held.size();
    marked_appended_ = appended_.size();
    marked_head_ = head;
    marked_ = true;
    return {};
  }
  Status release(Statements& held) {
    marked_ = false;
    if (std::exchange(mark_sent_, false)) held.push_back({"RELEASE op", {}});
    return {};
  }
  Status rollback(Statements& held, int64_t& head) {
    head = marked_head_;  // the ids drawn since the mark are free again
    appended_.resize(marked_appended_);
    marked_ = false;
    if (std::exchange(mark_sent_, false)) {
      held.clear();  // all of it came after the SAVEPOINT
      held.push_back({"ROLLBACK TO op", {}});
      held.push_back({"RELEASE op", {}});
    } else {
      held.resize(mark_);
    }
    return {};
  }
  // Sends the held writes (before a read that must see them).
  Status send(Connection& conn, Statements& held) {
    if (held.empty()) return {};
    if (marked_ && !mark_sent_) {
      held.insert(held.begin() + static_cast<std::ptrdiff_t>(mark_), Connection::Statement{"SAVEPOINT op", {}});
      mark_sent_ = true;
    }
    Statements statements;
    statements.swap(held);
    mark_ = 0;
    return conn.exec_pipelined(statements);
  }

 private:
  using Decoders = std::vector<std::function<void(const Rows&)>>;

  void read_idempotency(const GroupReads& reads, Statements& statements, Decoders& decoders) {
    if (reads.idempotency.empty()) return;
    std::vector<std::string> tenants, keys;
    for (const auto& [tenant, key] : reads.idempotency) {
      tenants.push_back(tenant);
      keys.push_back(key);
      idempotency_[{tenant, key}] = std::nullopt;
    }
    statements.push_back({std::string(kIdempotencyLookup), {text_array(tenants), text_array(keys)}});
    decoders.push_back([this, tenants, keys](const Rows& rows) {
      for (int r = 0; r < rows.size(); ++r) {
        const auto n = static_cast<std::size_t>(rows.int64(r, 0) - 1);
        idempotency_[{tenants.at(n), keys.at(n)}] = rows.text(r, 1);
      }
    });
  }

  // One statement per model table.
  void read_rows(const GroupReads& reads, Statements& statements, Decoders& decoders) {
    std::map<std::string, std::pair<const schema::Model*, std::set<std::pair<std::string, std::string>>>> by_table;
    for (const auto& row : reads.rows) {
      if (!row.model) continue;
      auto& entry = by_table[row.model->table];
      entry.first = row.model;
      entry.second.insert({row.tenant, row.id});
    }
    for (const auto& [table, entry] : by_table) {
      const schema::Model* model = entry.first;
      std::vector<std::string> tenants, ids;
      for (const auto& [tenant, id] : entry.second) {
        tenants.push_back(tenant);
        ids.push_back(id);
        rows_[{table, tenant, id}] = std::nullopt;
      }
      statements.push_back({fmt::format("SELECT r.* FROM unnest($1::text[], $2::text[]) AS k(k_tenant, k_id) CROSS JOIN "
                                        "LATERAL (SELECT {} FROM {} WHERE _tenant = k.k_tenant AND id = k.k_id "
                                        "LIMIT 1) AS r",
                                        select_columns(*model), quote_identifier(table)),
                            {text_array(tenants), text_array(ids)}});
      decoders.push_back([this, model, table = table](const Rows& rows) {
        for (int r = 0; r < rows.size(); ++r) {
          rows_[{table, rows.text(r, 0), rows.text(r, 1)}] = decode_row(rows.row(r), *model);
        }
      });
    }
  }

  void read_foreign_writes(const GroupReads& reads, Statements& statements, Decoders& decoders) {
    if (reads.foreign_writes.empty()) return;
    std::vector<std::string> tenants, names, ids, afters, participants;
    std::vector<ForeignKey> keys;
    for (const auto& f : reads.foreign_writes) {
      tenants.push_back(f.tenant);
      names.push_back(f.model_name);
      ids.push_back(f.model_id);
      afters.push_back(std::to_string(f.after_id));
      participants.push_back(f.participant_id);
      keys.push_back({f.tenant, f.model_name, f.model_id, f.after_id, f.participant_id});
      foreign_[keys.back()] = false;
    }
    statements.push_back(
        {"SELECT k.n FROM unnest($1::text[], $2::text[], $3::text[], $4::bigint[], $5::text[]) WITH ORDINALITY "
         "AS k(k_tenant, k_model_name, k_model_id, k_after_id, k_participant, n) CROSS JOIN LATERAL (SELECT 1 "
         "FROM sync_deltas d WHERE d.model_id = k.k_model_id AND d.id > k.k_after_id AND d.tenant = k.k_tenant "
         "AND d.model_name = k.k_model_name AND d.actor_id <> k.k_participant LIMIT 1) AS x",
         {text_array(tenants), text_array(names), text_array(ids), text_array(afters), text_array(participants)}});
    decoders.push_back([this, keys = std::move(keys)](const Rows& rows) {
      for (int r = 0; r < rows.size(); ++r) foreign_[keys.at(static_cast<std::size_t>(rows.int64(r, 0) - 1))] = true;
    });
  }

  void read_audit_links(const GroupReads& reads, Statements& statements, Decoders& decoders) {
    if (reads.audit_tenants.empty()) return;
    std::set<std::string> tenants(reads.audit_tenants.begin(), reads.audit_tenants.end());
    for (const auto& tenant : tenants) audit_links_[tenant] = std::nullopt;
    statements.push_back({"SELECT t.tenant, a.chain_seq, a.row_hash FROM unnest($1::text[]) AS t(tenant) "
                          "JOIN LATERAL (SELECT chain_seq, row_hash FROM _ablo_audit WHERE tenant = t.tenant "
                          "ORDER BY chain_seq DESC LIMIT 1) a ON TRUE",
                          {text_array(std::vector<std::string>(tenants.begin(), tenants.end()))}});
    decoders.push_back([this](const Rows& rows) {
      for (int r = 0; r < rows.size(); ++r) {
        audit_links_[rows.text(r, 0)] = std::make_pair(rows.int64(r, 1), rows.text(r, 2));
      }
    });
  }

  void read_open_tasks(const GroupReads& reads, Statements& statements, Decoders& decoders) {
    if (reads.open_tasks.empty()) return;
    std::vector<std::string> tenants, capabilities;
    for (const auto& [tenant, capability] : reads.open_tasks) {
      if (!open_tasks_.emplace(std::make_pair(tenant, capability), std::vector<std::string>()).second) continue;
      tenants.push_back(tenant);
      capabilities.push_back(capability);
    }
    statements.push_back({"SELECT k.tenant, k.capability_id, t.id FROM unnest($1::text[], $2::text[]) AS "
                          "k(tenant, capability_id) JOIN _ablo_tasks t ON t.tenant = k.tenant AND "
                          "t.capability_id = k.capability_id AND t.open",
                          {text_array(tenants), text_array(capabilities)}});
    decoders.push_back([this](const Rows& rows) {
      for (int r = 0; r < rows.size(); ++r) open_tasks_[{rows.text(r, 0), rows.text(r, 1)}].push_back(rows.text(r, 2));
    });
  }

  struct AppendedDelta {
    std::string tenant, model_name, model_id, participant_id;
    int64_t id = 0;
  };
  using ForeignKey = std::tuple<std::string, std::string, std::string, int64_t, std::string>;

  std::map<std::tuple<std::string, std::string, std::string>, std::optional<StoredRow>> rows_;  // (table, tenant, id)
  std::map<std::pair<std::string, std::string>, std::optional<std::string>> idempotency_;
  std::map<ForeignKey, bool> foreign_;
  std::map<std::string, std::optional<std::pair<int64_t, std::string>>> audit_links_;
  std::map<std::pair<std::string, std::string>, std::vector<std::string>> open_tasks_;
  std::vector<AppendedDelta> appended_;  // this transaction's deltas, sent or not
  bool marked_ = false;                  // a commit's savepoint is open
  bool mark_sent_ = false;               // … and went out as a real SAVEPOINT
  std::size_t mark_ = 0;                 // held writes before the mark
  std::size_t marked_appended_ = 0;
  int64_t marked_head_ = 0;
};

class PgWriteTransaction final : public WriteTransaction, private MigrationDdl {
 public:
  // `notify`: announce through PostgreSQL NOTIFY inside the transaction; else the store
  // announces after COMMIT (PgOptions::announce).
  // BEGIN and the log-head lock wait for the transaction's first statement (a batched group
  // sends them with its reads); `reopen` replaces a connection found dead then (nothing was
  // sent on it yet).
  PgWriteTransaction(Connection& conn, std::function<Result<Connection*>()> reopen, bool notify)
      : conn_(&conn), reopen_(std::move(reopen)), notify_(notify) {}

  Connection& connection() const { return *conn_; }
  bool begun() const { return begun_; }

  int64_t head() const { return head_; }
  bool appended() const { return appended_; }
  bool schema_installed() const { return schema_installed_; }

  // Round trips are what a commit costs here, so (1) a savepoint is sent with the next read
  // (a commit's first statement is the read of its row), and a release together with the next
  // savepoint (or made by COMMIT), and (2) writes nobody reads the result of are held back and
  // sent in one pipelined round trip at the next flush (store.h). Every write goes out after
  // the savepoint it belongs to: flush sends a pending savepoint first.
  Status savepoint() override {
    if (batched_) return batch_.mark(held_back_, head_);
    if (auto flushed = flush(); !flushed) return flushed;
    saved_head_ = head_;
    savepoint_pending_ = true;
    release_with_savepoint_ = std::exchange(release_pending_, false);
    return {};
  }
  Status release_savepoint() override {
    if (batched_) return batch_.release(held_back_);
    if (auto flushed = flush(); !flushed) return flushed;
    release_pending_ = true;
    return {};
  }
  Status rollback_to_savepoint() override {
    if (batched_) return batch_.rollback(held_back_, head_);
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
    return conn_->exec_script("ROLLBACK TO op; RELEASE op");
  }
  Status flush() override {
    if (batched_) return {};  // held until COMMIT (begin_batch)
    if (auto begun = begin(); !begun) return begun;
    if (auto sent = send_savepoint(); !sent) return sent;
    if (held_back_.empty()) return {};
    std::vector<Connection::Statement> statements;
    statements.swap(held_back_);
    return conn_->exec_pipelined(statements);
  }

  Result<std::optional<StoredRow>> get_row(const schema::Model& model, const std::string& tenant,
                                           const std::string& id) override {
    if (batched_) {
      if (const auto* known = batch_.row(model, tenant, id)) return *known;
      if (auto sent = before_read(); !sent) return tl::unexpected(sent.error());
      return get_row_on(*conn_, model, tenant, id);
    }
    if (auto begun = begin(); !begun) return tl::unexpected(begun.error());
    if (!held_back_.empty() || !savepoint_pending_) {
      if (auto flushed = flush(); !flushed) return tl::unexpected(flushed.error());
      return get_row_on(*conn_, model, tenant, id);
    }
    // The pending savepoint and the read in one round trip.
    savepoint_pending_ = false;
    auto rows = conn_->exec_after(savepoint_statements(), select_row_sql(model), {tenant, id});
    if (!rows) {
      savepoint_lost_ = rows.error();
      return tl::unexpected(rows.error());
    }
    if (rows->empty()) return std::optional<StoredRow>();
    return std::optional<StoredRow>(decode_row(rows->row(0), model));
  }

  Status insert_row(const schema::Model& model, const std::string& tenant, const StoredRow& row) override {
    batch_.forget_row(model, tenant, string_member(row.data, "id"));
    auto params = row_params(model, tenant, row);
    auto sql = fmt::format("INSERT INTO {} ({}) VALUES ({})", quote_identifier(model.table), column_list(model),
                           placeholders(1, params.size()));
    if (batched_ && !row_inserts_.contains(sql)) row_inserts_.emplace(sql, many_row_insert(model));
    return hold_back(std::move(sql), std::move(params));
  }

  Status update_row(const schema::Model& model, const std::string& tenant, const StoredRow& row) override {
    batch_.forget_row(model, tenant, string_member(row.data, "id"));
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
    batch_.forget_row(model, tenant, id);
    return hold_back(fmt::format("DELETE FROM {} WHERE _tenant = $1 AND id = $2", quote_identifier(model.table)),
                     {tenant, id});
  }

  Result<int64_t> append_delta(const Delta& d) override {
    if (auto begun = begin(); !begun) return tl::unexpected(begun.error());
    const int64_t id = head_ + 1;  // the counter row is locked by this transaction (see top)
    auto held = hold_back(
        std::string(kInsertDelta),
        {std::to_string(id), d.tenant, std::string(1, d.action), d.model_name, d.model_id,
         d.data ? pg::Param(json_text(*d.data)) : pg::Param(), text_array(d.sync_groups), d.transaction_id,
         d.client_tx_id, d.participant_id, d.participant_kind, d.capability_id, d.caused_by_task_id,
         std::to_string(d.created_at_ms)});
    if (!held) return tl::unexpected(held.error());
    if (batched_) batch_.appended(d, id);
    head_ = id;
    appended_ = true;
    return id;
  }

  Result<bool> has_foreign_write_since(const std::string& tenant, const std::string& model_name,
                                       const std::string& model_id, int64_t after_id,
                                       const std::string& participant_id) override {
    if (batched_) {
      if (auto known = batch_.foreign_write(tenant, model_name, model_id, after_id, participant_id)) return *known;
    }
    if (auto sent = before_read(); !sent) return tl::unexpected(sent.error());
    auto rows = conn_->exec(
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
    if (const auto* known = batch_.idempotency(tenant, key)) return *known;
    if (auto sent = before_read(); !sent) return tl::unexpected(sent.error());
    return query_one<std::string>(*conn_, "SELECT value FROM idempotency WHERE tenant = $1 AND key = $2", {tenant, key},
                                  [](const Rows::Row& row) { return row.text(0); });
  }

  Result<std::vector<std::optional<std::string>>> find_idempotency_many(
      const std::vector<std::pair<std::string, std::string>>& keys) override {
    if (auto known = batch_.idempotency_many(keys)) return std::move(*known);
    if (auto sent = before_read(); !sent) return tl::unexpected(sent.error());
    std::vector<std::string> tenants, names;
    for (const auto& [tenant, key] : keys) {
      tenants.push_back(tenant);
      names.push_back(key);
    }
    auto rows = conn_->exec(kIdempotencyLookup, {text_array(tenants), text_array(names)});
    if (!rows) return tl::unexpected(rows.error());
    std::vector<std::optional<std::string>> values(keys.size());
    for (int r = 0; r < rows->size(); ++r) values[static_cast<std::size_t>(rows->int64(r, 0) - 1)] = rows->text(r, 1);
    return values;
  }

  Status put_idempotency(const std::string& tenant, const std::string& key, const std::string& value) override {
    batch_.forget_idempotency(tenant, key);
    return hold_back(std::string(kPutIdempotency), {tenant, key, value, std::to_string(now_ms())});
  }

  Result<std::vector<std::string>> open_task_ids_of_capability(const std::string& tenant,
                                                               const std::string& capability_id) override {
    if (const auto* known = batch_.open_tasks(tenant, capability_id)) return *known;
    if (auto sent = before_read(); !sent) return tl::unexpected(sent.error());
    return query_all<std::string>(*conn_,
                                  "SELECT id FROM _ablo_tasks WHERE tenant = $1 AND capability_id = $2 AND open",
                                  {tenant, capability_id}, [](const Rows::Row& row) { return row.text(0); });
  }

  // --- audit (issue 13) ---
  Status append_audit(const AuditRecord& record) override {
    batch_.forget_audit_link(record.tenant);
    held_back_.push_back(audit_sql::pg_append(record));
    return {};
  }
  // Read after the log-head lock this transaction took first (PgStore::write): nodes append
  // to a tenant's chain one transaction at a time, so the link read here is the newest.
  Result<std::optional<std::pair<int64_t, std::string>>> last_audit_link(const std::string& tenant) override {
    if (const auto* known = batch_.audit_link(tenant)) return *known;
    if (auto sent = before_read(); !sent) return tl::unexpected(sent.error());
    return audit_sql::pg_last_link(*conn_, tenant);
  }

  Result<int64_t> install_schema(const schema::Schema& schema) override {
    if (auto sent = before_read(); !sent) return tl::unexpected(sent.error());
    for (const auto& model : schema.models()) {
      if (model.control_plane) continue;
      if (auto created = create_or_extend_table(model); !created) return tl::unexpected(created.error());
    }
    auto rows = conn_->exec("INSERT INTO schemas (json, hash, created_at_ms) VALUES ($1, $2, $3) RETURNING version",
                           {schema.json_text(), schema.hash(), std::to_string(now_ms())});
    if (!rows) return tl::unexpected(rows.error());
    // Other nodes reload their schema when this commits.
    schema_installed_ = true;
    if (notify_) {
      if (auto notified = conn_->exec_script("NOTIFY " + std::string(pg::kSchemaChannel)); !notified) {
        return tl::unexpected(notified.error());
      }
    }
    return rows->int64(0, 0);
  }

  Status apply_migration(const schema::Schema& previous, const schema::Schema& next,
                         const schema::MigrationPlan& plan) override {
    if (auto sent = before_read(); !sent) return sent;
    return apply_migration_steps(previous, next, plan, *this);
  }

  Result<bool> begin_batch(const GroupReads& reads) override {
    if (batched_) return true;
    if (begun_) {
      if (auto flushed = flush(); !flushed) return tl::unexpected(flushed.error());
      if (auto read = batch_.read(*conn_, reads, {}); !read) return tl::unexpected(read.error());
    } else {
      // BEGIN, the head lock and the reads in one round trip: the reads come after the lock, so
      // they see every group committed before this one on any node.
      auto read = batch_.read(*conn_, reads, begin_statements());
      if (!read && pg::is_unavailable(read.error())) {
        auto fresh = reopen_();
        if (!fresh) return tl::unexpected(fresh.error());
        conn_ = *fresh;
        read = batch_.read(*conn_, reads, begin_statements());
      }
      if (!read) return tl::unexpected(read.error());
      started((*read)[1].int64(0, 0));
    }
    batched_ = true;
    return true;
  }

  // What is still to be sent before COMMIT (the store sends it with COMMIT, in one round trip).
  // A transaction that never began begins here, unless it has nothing to send.
  std::vector<Connection::Statement> take_final() {
    std::vector<Connection::Statement> statements;
    if (!begun_ && held_back_.empty()) return statements;
    if (!begun_) statements = begin_statements();
    if (!batched_ && savepoint_pending_ && !held_back_.empty()) {
      for (auto& statement : savepoint_statements()) statements.push_back(std::move(statement));
    }
    savepoint_pending_ = false;
    if (batched_) coalesce_writes(held_back_, row_inserts_);
    for (auto& statement : held_back_) statements.push_back(std::move(statement));
    held_back_.clear();
    return statements;
  }

  static std::vector<Connection::Statement> begin_statements() {
    return {{"BEGIN", {}}, {"SELECT last_id FROM _ablo_log_head FOR UPDATE", {}}};
  }

 private:
  Status exec(const std::string& sql) { return conn_->exec_script(sql); }

  // Lock the log head first (see the top of this file): this orders and serializes writers.
  Status begin() {
    if (begun_) return {};
    const auto statements = begin_statements();
    const std::vector<Connection::Statement> before{statements.front()};
    auto head = conn_->exec_after(before, statements.back().sql);
    if (!head && pg::is_unavailable(head.error())) {
      // The writer died while idle (a database restart): nothing was applied, so start over
      // on a fresh connection.
      auto fresh = reopen_();
      if (!fresh) return tl::unexpected(fresh.error());
      conn_ = *fresh;
      head = conn_->exec_after(before, statements.back().sql);
    }
    if (!head) return tl::unexpected(head.error());
    started(head->int64(0, 0));
    return {};
  }
  void started(int64_t head) {
    begun_ = true;
    head_ = head;
  }

  // A read sees the writes before it: unbatched, flush; batched, the writes held so far go out
  // (batch_ turns the current commit's mark into a real SAVEPOINT first).
  Status before_read() {
    if (!batched_) return flush();
    return batch_.send(*conn_, held_back_);
  }

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
    return done(conn_->exec(fmt::format("UPDATE {0} SET {1} = $1 WHERE {1} IS NULL", quote_identifier(table),
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
        "CREATE TABLE IF NOT EXISTS {} (_tenant TEXT COLLATE \"C\" NOT NULL, id TEXT COLLATE \"C\" NOT NULL, "
        "created_at TIMESTAMPTZ NOT NULL, "
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

  Connection* conn_;
  std::function<Result<Connection*>()> reopen_;
  bool begun_ = false;
  int64_t head_ = 0;
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
    auto sent = conn_->exec_pipelined(savepoint_statements());
    if (!sent) savepoint_lost_ = sent.error();
    return sent;
  }

  std::vector<Connection::Statement> held_back_;  // writes not sent yet (flush)
  bool batched_ = false;                         // begin_batch was called
  std::map<std::string, std::string> row_inserts_;  // a model's row INSERT -> its many-row form
  PgGroupBatch batch_;
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

  // Two round trips for a batched group (WriteTransaction::begin_batch): BEGIN, the log-head
  // lock and the group's reads; then its writes, the head's new value and COMMIT.
  Status write(const std::function<Status(WriteTransaction&)>& body) override {
    std::lock_guard lock(writer_mutex_);
    auto conn = writer_connection();
    if (!conn) return tl::unexpected(conn.error());
    const auto reopen = [this] { return replace_writer(); };
    PgWriteTransaction txn(**conn, reopen, /*notify=*/!options_.announce);
    if (auto result = run_write_body(body, txn); !result) return rollback(txn, result.error());
    auto statements = txn.take_final();
    if (txn.appended()) {
      statements.push_back({"UPDATE _ablo_log_head SET last_id = $1", {std::to_string(txn.head())}});
      if (!options_.announce) statements.push_back({"NOTIFY " + std::string(pg::kDeltasChannel), {}});
    }
    if (!txn.begun() && statements.empty()) return {};  // nothing to write
    statements.push_back({"COMMIT", {}});
    if (auto committed = txn.connection().exec_pipelined(statements); !committed) {
      return rollback(txn, committed.error());
    }
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
    return each_scanned_row(query, [&](const Rows::Row& row) { return visit(decode_row(row, *query.model)); });
  }

  Status scan_row_texts(const RowQuery& query, const RowTextScan& scan) override {
    return encode_row_texts(query, scan, [&](auto&& visit) { return each_scanned_row(query, visit); });
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
         string_array_text(c.sync_groups), string_array_text(c.operations), bool_text(c.wide_scope),
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
  Status rollback(PgWriteTransaction& txn, Error error) {
    if (txn.connection().healthy()) (void)txn.connection().exec_script("ROLLBACK");
    return tl::unexpected(std::move(error));
  }

  // The writer connection, reopened when the server went away (a restarted PostgreSQL).
  Result<Connection*> writer_connection() {
    if (!writer_ || !writer_->healthy()) return replace_writer();
    return writer_.get();
  }
  // A fresh writer connection in place of the current one. A write transaction may point at the
  // current one: it is replaced only once the fresh one is open, so a failed reopen leaves the
  // transaction a (dead) connection, never a deleted one.
  Result<Connection*> replace_writer() {
    auto opened = Connection::open(url_);
    if (!opened) return tl::unexpected(opened.error());
    writer_ = std::move(*opened);
    return writer_.get();
  }

  // Runs a row query in a read-only transaction through a cursor, 200 rows a page, and hands
  // each result row (decode_row's columns) to `visit` until it returns false.
  template <class Visit>
  Status each_scanned_row(const RowQuery& query, Visit&& visit) {
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
      sql += fmt::format(" ORDER BY {} {}, id COLLATE \"C\"",
                         in_code_point_order(quote_identifier(order->column), holds_text(*order)),
                         query.descending ? "DESC" : "ASC");
      if (auto begun = conn.exec_script("BEGIN READ ONLY"); !begun) return begun;
      auto result = stream(conn, sql, params, visit);
      (void)conn.exec_script(result ? "COMMIT" : "ROLLBACK");
      return result;
    });
  }

  template <class Visit>
  Status stream(Connection& conn, const std::string& sql, const Params& params, Visit& visit) {
    if (auto declared = conn.exec("DECLARE rows NO SCROLL CURSOR FOR " + sql, params); !declared) {
      return tl::unexpected(declared.error());
    }
    while (true) {
      auto page = conn.exec("FETCH 200 FROM rows");
      if (!page) return tl::unexpected(page.error());
      for (int r = 0; r < page->size(); ++r) {
        if (!visit(page->row(r))) return {};
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
      case Shape::kCompare: {
        const bool text = f->org || holds_text(f->column);
        return fmt::format("{} {} {}", is_range_operator(f->op) ? in_code_point_order(column, text) : column, f->op,
                           placeholder);
      }
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
