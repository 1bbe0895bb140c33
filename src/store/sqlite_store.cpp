#include "store/sqlite_store.h"

#include <fcntl.h>
#include <sqlite3.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cmath>
#include <condition_variable>
#include <cstring>
#include <mutex>
#include <set>
#include <thread>
#include <unordered_map>

#include <boost/json.hpp>
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "common/thread_name.h"
#include "common/time.h"
#include "store/audit_sql.h"
#include "store/migration_ddl.h"
#include "store/record_decoding.h"
#include "store/row_codec.h"
#include "store/row_text.h"
#include "store/sqlite_db.h"
#include "store/webhook_sql.h"

namespace ablo::store {

namespace json = boost::json;
using sqlite::Connection;
using sqlite::quote_identifier;
using sqlite::Statement;

namespace {

constexpr std::string_view kControlTables = R"sql(
CREATE TABLE IF NOT EXISTS sync_deltas (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  tenant TEXT NOT NULL,
  action TEXT NOT NULL,
  model_name TEXT NOT NULL,
  model_id TEXT NOT NULL,
  data TEXT,
  sync_groups TEXT NOT NULL,
  transaction_id TEXT,
  client_tx_id TEXT,
  participant_id TEXT,
  participant_kind TEXT,
  capability_id TEXT,
  caused_by_task_id TEXT,
  created_at INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS sync_deltas_tenant_id ON sync_deltas(tenant, id);
CREATE INDEX IF NOT EXISTS sync_deltas_entity ON sync_deltas(model_id, id);
CREATE TABLE IF NOT EXISTS idempotency (
  tenant TEXT NOT NULL, key TEXT NOT NULL, value TEXT NOT NULL, created_at INTEGER NOT NULL,
  PRIMARY KEY (tenant, key)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS api_keys (
  hash TEXT PRIMARY KEY, id TEXT NOT NULL, org TEXT NOT NULL, sandbox INTEGER NOT NULL,
  display_prefix TEXT NOT NULL, label TEXT, created_at INTEGER NOT NULL, revoked INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS capabilities (
  token_hash TEXT PRIMARY KEY, id TEXT NOT NULL, key_id TEXT, org TEXT NOT NULL, sandbox INTEGER NOT NULL,
  participant_kind TEXT NOT NULL, participant_id TEXT NOT NULL, sync_groups TEXT NOT NULL,
  operations TEXT NOT NULL, wide_scope INTEGER NOT NULL, label TEXT, user_meta TEXT NOT NULL,
  issued_at INTEGER NOT NULL, expires_at INTEGER NOT NULL, revoked INTEGER NOT NULL DEFAULT 0, revoked_at INTEGER,
  parent_id TEXT
);
CREATE INDEX IF NOT EXISTS capabilities_by_id ON capabilities (id);
CREATE TABLE IF NOT EXISTS schemas (
  version INTEGER PRIMARY KEY AUTOINCREMENT, json TEXT NOT NULL, hash TEXT NOT NULL, created_at INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS settings (key TEXT PRIMARY KEY, value TEXT NOT NULL);
-- Newer internal tables carry an _ablo_ prefix so they can never collide with a model's table.
CREATE TABLE IF NOT EXISTS _ablo_tasks (
  tenant TEXT NOT NULL, id TEXT NOT NULL, capability_id TEXT NOT NULL, open INTEGER NOT NULL, data TEXT NOT NULL,
  PRIMARY KEY (tenant, id)
);
CREATE INDEX IF NOT EXISTS _ablo_tasks_by_capability ON _ablo_tasks (tenant, capability_id, open);
CREATE TABLE IF NOT EXISTS _ablo_usage (
  tenant TEXT NOT NULL, day TEXT NOT NULL, key_id TEXT NOT NULL, event_name TEXT NOT NULL,
  total REAL NOT NULL, count INTEGER NOT NULL, PRIMARY KEY (tenant, day, key_id, event_name)
);
)sql";

std::string sql_type(schema::FieldType type) {
  switch (type) {
    case schema::FieldType::kNumber: return "REAL";
    case schema::FieldType::kBoolean: return "INTEGER";
    default: return "TEXT";
  }
}

// Binds one JSON value to a column of the given field type. A string is bound without a copy:
// `value` outlives the statement's step (it is a field of the row being written).
void bind_value(Statement& stmt, int index, const json::value& value, schema::FieldType type) {
  if (value.is_null()) {
    stmt.bind_null(index);
  } else if (value.is_string()) {
    stmt.bind_static(index, std::string_view(value.as_string()));
  } else if (value.is_bool()) {
    stmt.bind(index, static_cast<int64_t>(value.as_bool() ? 1 : 0));
  } else if (value.is_int64() && type != schema::FieldType::kJson) {
    stmt.bind(index, static_cast<double>(value.as_int64()));
  } else if (value.is_uint64() && type != schema::FieldType::kJson) {
    stmt.bind(index, static_cast<double>(value.as_uint64()));
  } else if (value.is_double() && type != schema::FieldType::kJson) {
    stmt.bind(index, value.as_double());
  } else {
    stmt.bind(index, json_text(value));
  }
}

// The SELECT list shared by every row read, matching decode_row's column order.
std::string select_columns(const schema::Model& model) {
  std::string sql;
  for (auto column : kBaseColumns) {
    if (!sql.empty()) sql += ", ";
    sql += quote_identifier(column);
  }
  for (const auto* field : column_fields(model)) sql += ", " + quote_identifier(field->column);
  return sql;
}

// Binds a full row in table column order (base columns then field columns), from index 1.
// `tenant` and `row` must outlive the statement's step: their texts are bound without copies.
void bind_row(Statement& stmt, const schema::Model& model, const std::string& tenant, const StoredRow& row) {
  const auto& data = row.data;
  stmt.bind_static(1, tenant).bind_static(2, text_view_or_empty(data, "id"));
  stmt.bind_static(3, text_view_or_empty(data, "createdAt")).bind_static(4, text_view_or_empty(data, "updatedAt"));
  const auto created_by = text_view_or_empty(data, "createdBy");
  created_by.empty() ? stmt.bind_null(5) : stmt.bind_static(5, created_by);
  const auto archived_at = text_view_or_empty(data, "archivedAt");
  archived_at.empty() ? stmt.bind_null(6) : stmt.bind_static(6, archived_at);
  stmt.bind(7, string_array_text(row.groups));
  int index = 8;
  static const json::value kNull;
  for (const auto* field : column_fields(model)) {
    // Both arms are lvalues: a prvalue arm would make the value a copy, gone before the step.
    const auto* value = data.if_contains(field->name);
    bind_value(stmt, index++, value ? *value : kNull, field->type);
  }
}

std::string column_list(const schema::Model& model) { return select_columns(model); }

std::string placeholders(std::size_t count) {
  std::string out;
  for (std::size_t i = 0; i < count; ++i) out += i ? ", ?" : "?";
  return out;
}

Result<std::set<std::string>> column_names(Connection& conn, const std::string& table) {
  std::set<std::string> names;
  auto info = conn.prepare(fmt::format("PRAGMA table_info({})", quote_identifier(table)));
  if (!info) return tl::unexpected(info.error());
  while (true) {
    auto has = (*info)->step();
    if (!has) return tl::unexpected(has.error());
    if (!*has) break;
    names.insert((*info)->text(1));
  }
  return names;
}

// SQLite has no ADD COLUMN IF NOT EXISTS.
Status add_column_if_missing(Connection& conn, const std::string& table, const std::string& column,
                             std::string_view sql_type) {
  auto columns = column_names(conn, table);
  if (!columns) return tl::unexpected(columns.error());
  if (columns->count(column)) return {};
  return conn.exec(
      fmt::format("ALTER TABLE {} ADD COLUMN {} {}", quote_identifier(table), quote_identifier(column), sql_type));
}

// Columns added to the internal tables after data directories were first created with them:
// a data directory from before gets them on open.
Status add_later_columns(Connection& conn) {
  if (auto ok = add_column_if_missing(conn, "capabilities", "revoked_at", "INTEGER"); !ok) return ok;
  if (auto ok = add_column_if_missing(conn, "capabilities", "parent_id", "TEXT"); !ok) return ok;
  if (auto ok = conn.exec("CREATE INDEX IF NOT EXISTS capabilities_by_parent ON capabilities (parent_id)"); !ok) return ok;
  // GET /v1/capabilities pages a tenant's capabilities newest first.
  return conn.exec("CREATE INDEX IF NOT EXISTS capabilities_by_tenant ON capabilities (org, sandbox, issued_at, id)");
}

// The columns decode_capability reads, in its order.
constexpr const char* kCapabilitySelect =
    "SELECT token_hash, id, key_id, org, sandbox, participant_kind, participant_id, sync_groups, operations, "
    "wide_scope, label, user_meta, issued_at, expires_at, revoked, revoked_at, parent_id FROM capabilities ";

constexpr const char* kDeltaColumns =
    "id, tenant, action, model_name, model_id, data, sync_groups, transaction_id, client_tx_id, participant_id, "
    "participant_kind, capability_id, caused_by_task_id, created_at";

// Runs a cached single-row SELECT: `bind` sets its parameters, `read` turns the row into a T.
// nullopt when no row matches.
template <class T, class Bind, class Read>
Result<std::optional<T>> query_one(Connection& conn, std::string_view sql, Bind&& bind, Read&& read) {
  auto stmt = conn.cached(sql);
  if (!stmt) return tl::unexpected(stmt.error());
  bind(**stmt);
  auto has = (*stmt)->step();
  if (!has) return tl::unexpected(has.error());
  if (!*has) return std::optional<T>();
  std::optional<T> value(read(**stmt));
  (*stmt)->reset();
  return value;
}

// Runs a cached SELECT and turns every row into a T, in order.
template <class T, class Bind, class Read>
Result<std::vector<T>> query_all(Connection& conn, std::string_view sql, Bind&& bind, Read&& read) {
  auto stmt = conn.cached(sql);
  if (!stmt) return tl::unexpected(stmt.error());
  bind(**stmt);
  std::vector<T> values;
  while (true) {
    auto has = (*stmt)->step();
    if (!has) return tl::unexpected(has.error());
    if (!*has) return values;
    values.push_back(read(**stmt));
  }
}

std::string get_row_sql(const schema::Model& model) {
  return fmt::format("SELECT {} FROM {} WHERE _tenant = ? AND id = ?", select_columns(model),
                     quote_identifier(model.table));
}

Result<std::optional<StoredRow>> get_row_on(Connection& conn, const schema::Model& model, const std::string& tenant,
                                            const std::string& id, const std::string& sql) {
  return query_one<StoredRow>(
      conn, sql, [&](Statement& s) { s.bind_static(1, tenant).bind_static(2, id); },
      [&](const Statement& s) { return decode_row(s, model); });
}

Result<std::optional<StoredRow>> get_row_on(Connection& conn, const schema::Model& model, const std::string& tenant,
                                            const std::string& id) {
  return get_row_on(conn, model, tenant, id, get_row_sql(model));
}

// The SQL of a model's row statements, rendered once per model and write transaction: a group
// touches the same few models hundreds of times, and rendering the column lists with fmt for
// every row cost more than the statement cache lookup they key. Keyed by the Model's address,
// which is stable for the transaction (the commit pipeline holds the schema for the group).
struct ModelStatements {
  std::string get;
  std::string insert;
  std::string replace;
  std::string remove;
};

class SqliteWriteTransaction final : public WriteTransaction, private MigrationDdl {
 public:
  explicit SqliteWriteTransaction(Connection& conn) : conn_(conn) {}

  // A failing statement is rolled back alone (SQLite's statement journal) and the transaction
  // goes on, unless the error was one that rolled the whole transaction back.
  bool failed_statement_keeps_transaction() const override { return conn_.in_transaction(); }
  Status savepoint() override { return conn_.run_cached("SAVEPOINT op"); }
  Status release_savepoint() override { return conn_.run_cached("RELEASE op"); }
  Status rollback_to_savepoint() override {
    auto rolled = conn_.run_cached("ROLLBACK TO op");
    if (!rolled) return rolled;
    return conn_.run_cached("RELEASE op");
  }

  Result<std::optional<StoredRow>> get_row(const schema::Model& model, const std::string& tenant,
                                           const std::string& id) override {
    return get_row_on(conn_, model, tenant, id, statements_of(model).get);
  }

  Status insert_row(const schema::Model& model, const std::string& tenant, const StoredRow& row) override {
    return write_full_row(statements_of(model).insert, model, tenant, row);
  }

  // One REPLACE of the full row (the primary key is (_tenant, id)): the same effect as the
  // delete + insert it replaces, in one statement and one b-tree descent fewer.
  Status update_row(const schema::Model& model, const std::string& tenant, const StoredRow& row) override {
    return write_full_row(statements_of(model).replace, model, tenant, row);
  }

  Status delete_row(const schema::Model& model, const std::string& tenant, const std::string& id) override {
    auto stmt = conn_.cached(statements_of(model).remove);
    if (!stmt) return tl::unexpected(stmt.error());
    (*stmt)->bind_static(1, tenant).bind_static(2, id);
    return (*stmt)->run();
  }

  Result<int64_t> append_delta(const Delta& d) override {
    auto stmt = conn_.cached(
        "INSERT INTO sync_deltas (tenant, action, model_name, model_id, data, sync_groups, transaction_id, "
        "client_tx_id, participant_id, participant_kind, capability_id, caused_by_task_id, created_at) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)");
    if (!stmt) return tl::unexpected(stmt.error());
    auto& s = **stmt;
    // Bound without copies: `d` and the two texts outlive the statement's one step.
    const std::string data = d.data ? json_text(*d.data) : std::string();
    const std::string groups = string_array_text(d.sync_groups);
    s.bind_static(1, d.tenant).bind_static(2, std::string_view(&d.action, 1));
    s.bind_static(3, d.model_name).bind_static(4, d.model_id);
    d.data ? s.bind_static(5, data) : s.bind_null(5);
    s.bind_static(6, groups);
    s.bind_static(7, d.transaction_id).bind_static(8, d.client_tx_id);
    s.bind_static(9, d.participant_id).bind_static(10, d.participant_kind);
    s.bind_static(11, d.capability_id).bind_static(12, d.caused_by_task_id).bind(13, d.created_at_ms);
    auto ran = s.run();
    if (!ran) return tl::unexpected(ran.error());
    return conn_.last_insert_rowid();
  }

  Result<bool> has_foreign_write_since(const std::string& tenant, const std::string& model_name,
                                       const std::string& model_id, int64_t after_id,
                                       const std::string& participant_id) override {
    auto stmt = conn_.cached(
        "SELECT 1 FROM sync_deltas WHERE model_id = ? AND id > ? AND tenant = ? AND model_name = ? "
        "AND participant_id <> ? LIMIT 1");
    if (!stmt) return tl::unexpected(stmt.error());
    (*stmt)->bind_static(1, model_id).bind(2, after_id).bind_static(3, tenant).bind_static(4, model_name);
    (*stmt)->bind_static(5, participant_id);
    auto has = (*stmt)->step();
    (*stmt)->reset();
    return has;
  }

  Status add_usage(const std::string& tenant, const std::string& day, const std::string& key_id,
                   const std::string& event_name, double quantity, int64_t count) override {
    auto stmt = conn_.cached(
        "INSERT INTO _ablo_usage (tenant, day, key_id, event_name, total, count) VALUES (?, ?, ?, ?, ?, ?) "
        "ON CONFLICT (tenant, day, key_id, event_name) DO UPDATE SET total = total + excluded.total, "
        "count = count + excluded.count");
    if (!stmt) return tl::unexpected(stmt.error());
    (*stmt)->bind(1, tenant).bind(2, day).bind(3, key_id).bind(4, event_name).bind(5, quantity).bind(6, count);
    return (*stmt)->run();
  }

  Result<std::optional<std::string>> find_idempotency(const std::string& tenant, const std::string& key) override {
    return query_one<std::string>(
        conn_, "SELECT value FROM idempotency WHERE tenant = ? AND key = ?",
        [&](Statement& s) { s.bind_static(1, tenant).bind_static(2, key); }, [](const Statement& s) { return s.text(0); });
  }

  Status put_idempotency(const std::string& tenant, const std::string& key, const std::string& value) override {
    auto stmt = conn_.cached("INSERT OR REPLACE INTO idempotency (tenant, key, value, created_at) VALUES (?, ?, ?, ?)");
    if (!stmt) return tl::unexpected(stmt.error());
    (*stmt)->bind_static(1, tenant).bind_static(2, key).bind_static(3, value).bind(4, now_ms());
    return (*stmt)->run();
  }

  Result<std::vector<std::string>> open_task_ids_of_capability(const std::string& tenant,
                                                               const std::string& capability_id) override {
    return query_all<std::string>(
        conn_, "SELECT id FROM _ablo_tasks WHERE tenant = ? AND capability_id = ? AND open = 1",
        [&](Statement& s) { s.bind(1, tenant).bind(2, capability_id); }, [](const Statement& s) { return s.text(0); });
  }

  // --- audit (issue 13) ---
  Status append_audit(const AuditRecord& record) override { return audit_sql::sqlite_append(conn_, record); }
  Result<std::optional<std::pair<int64_t, std::string>>> last_audit_link(const std::string& tenant) override {
    return audit_sql::sqlite_last_link(conn_, tenant);
  }

  Result<int64_t> install_schema(const schema::Schema& schema) override {
    for (const auto& model : schema.models()) {
      if (model.control_plane) continue;
      auto created = create_or_extend_table(model);
      if (!created) return tl::unexpected(created.error());
    }
    auto stmt = conn_.cached("INSERT INTO schemas (json, hash, created_at) VALUES (?, ?, ?)");
    if (!stmt) return tl::unexpected(stmt.error());
    (*stmt)->bind(1, schema.json_text()).bind(2, schema.hash()).bind(3, now_ms());
    auto ran = (*stmt)->run();
    if (!ran) return tl::unexpected(ran.error());
    return conn_.last_insert_rowid();
  }

  Status apply_migration(const schema::Schema& previous, const schema::Schema& next,
                         const schema::MigrationPlan& plan) override {
    return apply_migration_steps(previous, next, plan, *this);
  }

 private:
  // MigrationDdl in SQLite's terms.
  Status drop_table(const std::string& table) override {
    return conn_.exec(fmt::format("DROP TABLE IF EXISTS {}", quote_identifier(table)));
  }
  Status rename_table(const std::string& from, const std::string& to) override {
    return conn_.exec(fmt::format("ALTER TABLE {} RENAME TO {}", quote_identifier(from), quote_identifier(to)));
  }
  Status drop_column(const std::string& table, const std::string& column) override {
    return conn_.exec(fmt::format("ALTER TABLE {} DROP COLUMN {}", quote_identifier(table), quote_identifier(column)));
  }
  Status add_column(const std::string& table, const schema::Field& field) override {
    return add_column_if_missing(table, field);
  }

  // SQLite cannot change a column's type: the column is rebuilt (parked under another name,
  // added again with the new declared type, values copied with casts where the plan allows).
  Status change_type(const schema::Model& model, const schema::Field& field, const schema::Field* before,
                     schema::Cast cast) override {
    const std::string table = quote_identifier(model.table);
    const std::string column = quote_identifier(field.column);
    const std::string parked = quote_identifier(field.column + "__before_migration");
    if (auto ok = rename_column(model.table, field.column, field.column + "__before_migration"); !ok) return ok;
    if (auto ok = conn_.exec(fmt::format("ALTER TABLE {} ADD COLUMN {} {}", table, column, sql_type(field.type))); !ok) {
      return ok;
    }
    if (cast != schema::Cast::kLossy) {
      const bool from_boolean = before && before->type == schema::FieldType::kBoolean;
      std::string value = parked;
      if (field.type == schema::FieldType::kString && from_boolean) {
        value = fmt::format("CASE WHEN {0} IS NULL THEN NULL WHEN {0} THEN 'true' ELSE 'false' END", parked);
      } else if (field.type != schema::FieldType::kString && sql_type(field.type) != "TEXT") {
        value = fmt::format("CAST({} AS {})", parked, sql_type(field.type));
      }
      if (auto ok = conn_.exec(fmt::format("UPDATE {} SET {} = {}", table, column, value)); !ok) return ok;
    }
    return conn_.exec(fmt::format("ALTER TABLE {} DROP COLUMN {}", table, parked));
  }

  Status rename_column(const std::string& table, const std::string& from, const std::string& to) override {
    return conn_.exec(fmt::format("ALTER TABLE {} RENAME COLUMN {} TO {}", quote_identifier(table),
                                  quote_identifier(from), quote_identifier(to)));
  }

  Status add_column_if_missing(const std::string& table, const schema::Field& field) {
    return store::add_column_if_missing(conn_, table, field.column, sql_type(field.type));
  }

  Status backfill(const std::string& table, const schema::Field& field, const json::value& value) override {
    auto stmt = conn_.prepare(fmt::format("UPDATE {0} SET {1} = ? WHERE {1} IS NULL", quote_identifier(table),
                                          quote_identifier(field.column)));
    if (!stmt) return tl::unexpected(stmt.error());
    bind_value(**stmt, 1, value, field.type);
    return (*stmt)->run();
  }

  const ModelStatements& statements_of(const schema::Model& model) {
    auto found = statements_.find(&model);
    if (found != statements_.end()) return found->second;
    const auto table = quote_identifier(model.table);
    const auto columns = column_list(model);
    const auto values = placeholders(std::size(kBaseColumns) + column_fields(model).size());
    ModelStatements rendered{get_row_sql(model), fmt::format("INSERT INTO {} ({}) VALUES ({})", table, columns, values),
                             fmt::format("REPLACE INTO {} ({}) VALUES ({})", table, columns, values),
                             fmt::format("DELETE FROM {} WHERE _tenant = ? AND id = ?", table)};
    return statements_.emplace(&model, std::move(rendered)).first->second;
  }

  Status write_full_row(const std::string& sql, const schema::Model& model, const std::string& tenant,
                        const StoredRow& row) {
    auto stmt = conn_.cached(sql);
    if (!stmt) return tl::unexpected(stmt.error());
    bind_row(**stmt, model, tenant, row);
    return (*stmt)->run();
  }

  Status create_or_extend_table(const schema::Model& model) {
    const auto table = quote_identifier(model.table);
    auto created = conn_.exec(fmt::format(
        "CREATE TABLE IF NOT EXISTS {} (_tenant TEXT NOT NULL, id TEXT NOT NULL, created_at TEXT NOT NULL, "
        "updated_at TEXT NOT NULL, created_by TEXT, archived_at TEXT, _groups TEXT NOT NULL, "
        "PRIMARY KEY (_tenant, id)) WITHOUT ROWID",
        table));
    if (!created) return created;
    for (const auto* field : column_fields(model)) {
      if (auto added = add_column_if_missing(model.table, *field); !added) return added;
    }
    return {};
  }

  Connection& conn_;
  std::unordered_map<const schema::Model*, ModelStatements> statements_;
};

// Durability of the writer connection's transactions (WAL, synchronous=NORMAL: COMMIT writes
// the WAL frames with no fsync). Transactions are numbered in commit order; sync() fsyncs the
// -wal file once for every transaction committed before it started. Acknowledging is the
// commit pipeline's business; this keeps the numbers and makes reads wait.
//
// Threads: the writer (under the store's writer_mutex_) bumps `committing` and `committed`;
// whoever calls sync() (the pipeline's syncer) and readers that must wait take sync_mutex, one
// fsync at a time. Applying a group does not wait for sync_mutex (only a broken store's error is
// read under it), so an fsync in progress does not stall the next group; only a read the writer
// makes itself mid-group (premises, store.h) may wait for it. Lock order: writer_mutex_ ->
// sync_mutex; sync_mutex is never held while writer_mutex_ is taken.
class WalDurability {
 public:
  // `wal_fd` < 0: relaxed durability, nothing is fsynced (the numbers still advance).
  explicit WalDurability(int wal_fd) : wal_fd_(wal_fd) {}
  ~WalDurability() {
    if (wal_fd_ >= 0) ::close(wal_fd_);
  }
  WalDurability(const WalDurability&) = delete;
  WalDurability& operator=(const WalDurability&) = delete;

  bool relaxed() const { return wal_fd_ < 0; }

  // Writer: a transaction's number is taken before its COMMIT (so a reader whose snapshot holds
  // it sees a number at least as high) and reported done after COMMIT returned.
  void begin_commit() { committing_.fetch_add(1); }
  void end_commit() { committed_.store(committing_.load()); }
  int64_t committing() const { return committing_.load(); }

  // Lock-free unless broken: the writer checks this before every group and must not wait for
  // an fsync in progress (which holds sync_mutex_) to do so.
  Status broken() {
    if (!is_broken_.load()) return {};
    std::lock_guard lock(sync_mutex_);
    return tl::unexpected(*broken_);
  }

  // Every transaction whose COMMIT returned before this call is on disk when it returns.
  Status sync() {
    const int64_t target = committed_.load();
    std::lock_guard lock(sync_mutex_);
    if (broken_) return tl::unexpected(*broken_);
    if (durable_.load() >= target) return {};
    return fsync_locked();
  }

  // Reader: a snapshot taken when `visible` was the newest committing number holds only
  // transactions that are on disk when this returns. An fsync begun after the snapshot covers
  // all of it, even a transaction whose COMMIT has not returned yet (its frames are written
  // before it becomes visible).
  Status await_visible(int64_t visible) {
    if (durable_.load() >= visible) return {};
    const uint64_t begun_before = fsyncs_begun_.load();
    std::lock_guard lock(sync_mutex_);
    if (broken_) return tl::unexpected(*broken_);
    if (durable_.load() >= visible || fsyncs_begun_.load() > begun_before) return {};
    return fsync_locked();
  }

 private:
  Status fsync_locked() {
    const int64_t covered = committed_.load();  // every one of these finished writing its frames
    fsyncs_begun_.fetch_add(1);
    if (!relaxed()) {
      struct stat st {};
      // The fd must still name the live -wal file: SQLite deletes it only when the last
      // connection closes, which this process never does while the store is open; a WAL
      // unlinked behind our back would make fsync silently useless.
      if (::fstat(wal_fd_, &st) != 0 || st.st_nlink == 0) {
        return fail_locked("the write-ahead log file was removed while the store was open");
      }
      if (::fdatasync(wal_fd_) != 0) return fail_locked(fmt::format("fsync of the write-ahead log failed: {}", std::strerror(errno)));
    }
    durable_.store(std::max(durable_.load(), covered));
    return {};
  }

  Status fail_locked(std::string why) {
    is_broken_.store(true);
    broken_ = Error(kStoreUnavailable,
                    why + "; commits after the last acknowledged one may not be on disk, so the store refuses "
                          "every write and unsynced read until the server restarts");
    return tl::unexpected(*broken_);
  }

  const int wal_fd_;
  std::atomic<int64_t> committing_{0};
  std::atomic<int64_t> committed_{0};
  std::atomic<int64_t> durable_{0};
  std::atomic<uint64_t> fsyncs_begun_{0};
  std::mutex sync_mutex_;  // one fsync at a time; guards broken_
  std::optional<Error> broken_;
  std::atomic<bool> is_broken_{false};  // set (under sync_mutex_) with broken_
};

// Copies the WAL into the database on a thread of its own (ablo-checkpoint), so the writer
// thread does not. SQLite's automatic checkpoint runs on the connection that committed: every
// `checkpoint_pages` pages the writer stopped to copy them and then fsync the database file
// (~5 ms here, far more on a cloud volume), and every commit behind it waited. Now the writer's
// commit hook only wakes this thread, whose PASSIVE checkpoints run beside the writer's
// transactions.
//
// Why the writer still checkpoints sometimes: the WAL starts over from its beginning only when a
// write transaction finds every frame copied, which a checkpoint running beside a busy writer
// rarely leaves behind (the writer appends while it copies). So past `writer_checkpoint_pages`
// the writer checkpoints itself once, right after its commit: that copies only what this thread
// has not, and lets the next transaction restart the WAL — the file stays bounded.
//
// Threads: request() comes from the writer thread, inside its COMMIT (under the store's
// writer_mutex_); mutex_ is a leaf taken after it, never held across a checkpoint. Only the
// checkpoint thread uses conn_.
class Checkpointer {
 public:
  explicit Checkpointer(std::unique_ptr<Connection> conn) : conn_(std::move(conn)) {
    thread_ = named_thread("ablo-checkpoint", [this] { run(); });
  }
  ~Checkpointer() {
    {
      std::lock_guard lock(mutex_);
      stopping_ = true;
    }
    wake_.notify_one();
    thread_.join();
  }
  Checkpointer(const Checkpointer&) = delete;
  Checkpointer& operator=(const Checkpointer&) = delete;

  // Never blocks on a checkpoint in progress: requests made meanwhile fold into one more run.
  void request() {
    {
      std::lock_guard lock(mutex_);
      requested_ = true;
    }
    wake_.notify_one();
  }

 private:
  void run() {
    std::unique_lock lock(mutex_);
    for (;;) {
      wake_.wait(lock, [this] { return requested_ || stopping_; });
      if (stopping_) return;
      requested_ = false;
      lock.unlock();
      if (auto done = conn_->checkpoint_passive(); !done) {
        spdlog::warn("background checkpoint failed (the writer checkpoints past its limit): {}", done.error().message);
      }
      lock.lock();
    }
  }

  std::unique_ptr<Connection> conn_;  // used by the checkpoint thread only
  std::mutex mutex_;
  std::condition_variable wake_;
  bool requested_ = false;  // guarded by mutex_
  bool stopping_ = false;   // guarded by mutex_
  std::thread thread_;
};

class SqliteStore final : public Store {
 public:
  SqliteStore(std::string path, std::unique_ptr<Connection> writer, std::vector<std::unique_ptr<Connection>> readers,
              int wal_fd, std::unique_ptr<Connection> checkpoint_connection, const SqliteOptions& options)
      : path_(std::move(path)),
        writer_(std::move(writer)),
        readers_(std::move(readers)),
        durability_(wal_fd),
        checkpointer_(std::move(checkpoint_connection)) {
    writer_->on_wal_commit([this, wake_at = options.checkpoint_pages,
                            writer_at = options.writer_checkpoint_pages](int wal_pages) {
      if (wal_pages >= writer_at) {  // bound the WAL (see Checkpointer)
        if (auto done = writer_->checkpoint_passive(); !done) spdlog::warn("checkpoint failed: {}", done.error().message);
      } else if (wal_pages >= wake_at) {
        checkpointer_.request();
      }
    });
  }
  ~SqliteStore() override { writer_->on_wal_commit(nullptr); }

  Status write(const std::function<Status(WriteTransaction&)>& body) override {
    if (auto ok = write_unsynced(body); !ok) return ok;
    return durability_.sync();
  }

  Status write_unsynced(const std::function<Status(WriteTransaction&)>& body) override {
    std::lock_guard lock(writer_mutex_);
    if (auto ok = durability_.broken(); !ok) return ok;
    auto begun = writer_->run_cached("BEGIN IMMEDIATE");
    if (!begun) return begun;
    SqliteWriteTransaction txn(*writer_);
    auto result = run_write_body(body, txn);
    if (!result) {
      (void)writer_->exec("ROLLBACK");
      return result;
    }
    durability_.begin_commit();
    auto committed = writer_->run_cached("COMMIT");
    durability_.end_commit();
    if (!committed) (void)writer_->exec("ROLLBACK");
    return committed;
  }

  Status sync() override { return durability_.sync(); }

  Result<std::optional<SchemaVersion>> active_schema() override {
    return with_reader([](Connection& conn) -> Result<std::optional<SchemaVersion>> {
      return query_one<SchemaVersion>(
          conn, "SELECT version, json, hash, created_at FROM schemas ORDER BY version DESC LIMIT 1", [](Statement&) {},
          [](const Statement& s) { return SchemaVersion{s.int64(0), s.text(1), s.text(2), s.int64(3)}; });
    });
  }

  Result<std::vector<SchemaVersion>> schema_versions(int limit) override {
    return with_reader([limit](Connection& conn) {
      return query_all<SchemaVersion>(
          conn, "SELECT version, json, hash, created_at FROM schemas ORDER BY version DESC LIMIT ?",
          [limit](Statement& s) { s.bind(1, static_cast<int64_t>(limit)); },
          [](const Statement& s) { return SchemaVersion{s.int64(0), s.text(1), s.text(2), s.int64(3)}; });
    });
  }

  Result<int64_t> head_sync_id() override {
    return with_reader([](Connection& conn) -> Result<int64_t> {
      auto head = query_one<int64_t>(conn, "SELECT COALESCE(MAX(id), 0) FROM sync_deltas", [](Statement&) {},
                                     [](const Statement& s) { return s.int64(0); });
      if (!head) return tl::unexpected(head.error());
      return head->value_or(0);
    });
  }

  Result<std::vector<Delta>> read_deltas(const std::string& tenant, int64_t after_id, int64_t up_to_id,
                                         int limit) override {
    return with_reader([&](Connection& conn) -> Result<std::vector<Delta>> {
      return query_all<Delta>(
          conn,
          fmt::format("SELECT {} FROM sync_deltas WHERE tenant = ? AND id > ? AND id <= ? ORDER BY id LIMIT ?",
                      kDeltaColumns),
          [&](Statement& s) { s.bind(1, tenant).bind(2, after_id).bind(3, up_to_id).bind(4, static_cast<int64_t>(limit)); },
          decode_delta<Statement>);
    });
  }

  Result<std::vector<Delta>> read_log(int64_t after_id, int limit) override {
    return with_reader([&](Connection& conn) -> Result<std::vector<Delta>> {
      return query_all<Delta>(
          conn, fmt::format("SELECT {} FROM sync_deltas WHERE id > ? ORDER BY id LIMIT ?", kDeltaColumns),
          [&](Statement& s) { s.bind(1, after_id).bind(2, static_cast<int64_t>(limit)); }, decode_delta<Statement>);
    });
  }

  Result<std::optional<StoredRow>> get_row(const schema::Model& model, const std::string& tenant,
                                           const std::string& id) override {
    return with_reader([&](Connection& conn) { return get_row_on(conn, model, tenant, id); });
  }

  Status scan_rows(const RowQuery& query, const std::function<bool(StoredRow&&)>& visit) override {
    return each_scanned_row(query, [&](const Statement& row) { return visit(decode_row(row, *query.model)); });
  }

  Status scan_row_texts(const RowQuery& query, const RowTextScan& scan) override {
    return encode_row_texts(query, scan, [&](auto&& visit) { return each_scanned_row(query, visit); });
  }

  // Runs a row query and hands each result row (decode_row's columns) to `visit` until it
  // returns false.
  template <class Visit>
  Status each_scanned_row(const RowQuery& query, Visit&& visit) {
    return with_reader([&](Connection& conn) -> Status {
      const auto& model = *query.model;
      std::string sql = fmt::format("SELECT {} FROM {} WHERE _tenant = ?", select_columns(model),
                                    quote_identifier(model.table));
      std::vector<std::pair<json::value, schema::FieldType>> binds;
      for (const auto& filter : query.where) {
        auto clause = filter_sql(model, filter, binds);
        if (!clause) return tl::unexpected(clause.error());
        sql += " AND " + *clause;
      }
      auto order = column_for(model, query.order_by);
      if (!order) return fail("query_invalid_identifier", fmt::format("unknown orderBy column '{}'", query.order_by), "orderBy");
      sql += fmt::format(" ORDER BY {} {}, id", quote_identifier(order->column), query.descending ? "DESC" : "ASC");
      auto stmt = conn.prepare(sql);
      if (!stmt) return tl::unexpected(stmt.error());
      (*stmt)->bind(1, query.tenant);
      int index = 2;
      for (const auto& [value, type] : binds) bind_value(**stmt, index++, value, type);
      while (true) {
        auto has = (*stmt)->step();
        if (!has) return tl::unexpected(has.error());
        if (!*has || !visit(**stmt)) break;
      }
      return {};
    });
  }

  Status put_api_key(const ApiKeyRecord& key) override {
    return write_one([&](Connection& conn) -> Status {
      auto stmt = conn.cached(
          "INSERT OR REPLACE INTO api_keys (hash, id, org, sandbox, display_prefix, label, created_at, revoked) "
          "VALUES (?, ?, ?, ?, ?, ?, ?, ?)");
      if (!stmt) return tl::unexpected(stmt.error());
      (*stmt)->bind(1, key.hash).bind(2, key.id).bind(3, key.org).bind(4, static_cast<int64_t>(key.sandbox));
      (*stmt)->bind(5, key.display_prefix).bind(6, key.label).bind(7, key.created_at_ms);
      (*stmt)->bind(8, static_cast<int64_t>(key.revoked));
      return (*stmt)->run();
    });
  }

  Result<std::optional<ApiKeyRecord>> find_api_key(const std::string& hash) override {
    return with_reader([&](Connection& conn) -> Result<std::optional<ApiKeyRecord>> {
      return query_one<ApiKeyRecord>(
          conn, "SELECT hash, id, org, sandbox, display_prefix, label, created_at, revoked FROM api_keys WHERE hash = ?",
          [&](Statement& s) { s.bind(1, hash); },
          [](const Statement& s) {
            return ApiKeyRecord{s.text(1), s.text(2), s.boolean(3), s.text(4), s.text(0), s.text(5), s.int64(6),
                                s.boolean(7)};
          });
    });
  }

  Status put_capability(const CapabilityRecord& c) override {
    return write_one([&](Connection& conn) -> Status {
      auto stmt = conn.cached(
          "INSERT OR REPLACE INTO capabilities (token_hash, id, key_id, org, sandbox, participant_kind, "
          "participant_id, sync_groups, operations, wide_scope, label, user_meta, issued_at, expires_at, revoked, "
          "revoked_at, parent_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)");
      if (!stmt) return tl::unexpected(stmt.error());
      auto& s = **stmt;
      s.bind(1, c.token_hash).bind(2, c.id).bind(3, c.key_id).bind(4, c.org).bind(5, static_cast<int64_t>(c.sandbox));
      s.bind(6, c.participant_kind).bind(7, c.participant_id);
      s.bind(8, string_array_text(c.sync_groups)).bind(9, string_array_text(c.operations));
      s.bind(10, static_cast<int64_t>(c.wide_scope)).bind(11, c.label).bind(12, json_text(c.user_meta));
      s.bind(13, c.issued_at_ms).bind(14, c.expires_at_ms).bind(15, static_cast<int64_t>(c.revoked));
      c.revoked_at_ms > 0 ? s.bind(16, c.revoked_at_ms) : s.bind_null(16);
      c.parent_id.empty() ? s.bind_null(17) : s.bind(17, c.parent_id);
      return s.run();
    });
  }

  Result<std::optional<CapabilityRecord>> find_capability(const std::string& token_hash) override {
    return capability_where("token_hash", token_hash);
  }

  Result<std::optional<CapabilityRecord>> find_capability_by_id(const std::string& id) override {
    return capability_where("id", id);
  }

  Result<std::vector<CapabilityRecord>> child_capabilities(const std::string& parent_id) override {
    return with_reader([&](Connection& conn) -> Result<std::vector<CapabilityRecord>> {
      return query_all<CapabilityRecord>(
          conn, std::string(kCapabilitySelect) + "WHERE parent_id = ?", [&](Statement& s) { s.bind(1, parent_id); },
          decode_capability<Statement>);
    });
  }

  // Walks capabilities_by_tenant (or capabilities_by_parent) newest first; the cursor is a
  // (issued_at, id) bound so a page costs the same wherever it starts.
  Result<std::vector<CapabilityRecord>> list_capabilities(const CapabilityListQuery& query) override {
    std::string sql = std::string(kCapabilitySelect) + "WHERE org = ? AND sandbox = ?";
    if (!query.parent_id.empty()) sql += " AND parent_id = ?";
    if (query.status == CapabilityListQuery::Status::kActive) sql += " AND revoked = 0 AND expires_at > ?";
    if (query.status == CapabilityListQuery::Status::kRevoked) sql += " AND revoked = 1";
    if (query.after_issued_at_and_id) sql += " AND (issued_at < ? OR (issued_at = ? AND id < ?))";
    sql += " ORDER BY issued_at DESC, id DESC LIMIT ?";
    auto bind = [&](Statement& s) {
      int i = 0;
      s.bind(++i, query.org);
      s.bind(++i, static_cast<int64_t>(query.sandbox ? 1 : 0));
      if (!query.parent_id.empty()) s.bind(++i, query.parent_id);
      if (query.status == CapabilityListQuery::Status::kActive) s.bind(++i, query.now_ms);
      if (const auto& after = query.after_issued_at_and_id) {
        s.bind(++i, after->first);
        s.bind(++i, after->first);
        s.bind(++i, after->second);
      }
      s.bind(++i, static_cast<int64_t>(query.limit));
    };
    return with_reader([&](Connection& conn) -> Result<std::vector<CapabilityRecord>> {
      return query_all<CapabilityRecord>(conn, sql, bind, decode_capability<Statement>);
    });
  }

  Status put_task(const TaskRecord& task) override {
    return write_one([&](Connection& conn) -> Status {
      auto stmt = conn.cached("INSERT OR REPLACE INTO _ablo_tasks (tenant, id, capability_id, open, data) VALUES (?, ?, ?, ?, ?)");
      if (!stmt) return tl::unexpected(stmt.error());
      (*stmt)->bind(1, task.tenant).bind(2, task.id).bind(3, task.capability_id);
      (*stmt)->bind(4, static_cast<int64_t>(task.open)).bind(5, json_text(task.data));
      return (*stmt)->run();
    });
  }

  Result<std::optional<TaskRecord>> find_task(const std::string& tenant, const std::string& id) override {
    return with_reader([&](Connection& conn) -> Result<std::optional<TaskRecord>> {
      return query_one<TaskRecord>(
          conn, "SELECT tenant, id, capability_id, open, data FROM _ablo_tasks WHERE tenant = ? AND id = ?",
          [&](Statement& s) { s.bind(1, tenant).bind(2, id); }, decode_task<Statement>);
    });
  }

  Result<std::vector<TaskRecord>> open_tasks_of_capability(const std::string& tenant,
                                                           const std::string& capability_id) override {
    return with_reader([&](Connection& conn) -> Result<std::vector<TaskRecord>> {
      return query_all<TaskRecord>(
          conn,
          "SELECT tenant, id, capability_id, open, data FROM _ablo_tasks WHERE tenant = ? AND capability_id = ? AND open = 1",
          [&](Statement& s) { s.bind(1, tenant).bind(2, capability_id); }, decode_task<Statement>);
    });
  }

  Result<std::vector<UsageRow>> usage(const std::string& tenant, const std::string& from_day,
                                      const std::string& to_day) override {
    return with_reader([&](Connection& conn) -> Result<std::vector<UsageRow>> {
      return query_all<UsageRow>(
          conn,
          "SELECT day, key_id, event_name, total, count FROM _ablo_usage WHERE tenant = ? AND day >= ? AND day <= ? "
          "ORDER BY day, key_id, event_name",
          [&](Statement& s) { s.bind(1, tenant).bind(2, from_day).bind(3, to_day); },
          [](const Statement& s) { return UsageRow{s.text(0), s.text(1), s.text(2), s.real(3), s.int64(4)}; });
    });
  }

  Result<std::optional<std::string>> get_setting(const std::string& key) override {
    return with_reader([&](Connection& conn) -> Result<std::optional<std::string>> {
      return query_one<std::string>(
          conn, "SELECT value FROM settings WHERE key = ?", [&](Statement& s) { s.bind(1, key); },
          [](const Statement& s) { return s.text(0); });
    });
  }

  // --- audit (issue 13) ---
  Result<std::vector<AuditRecord>> read_audit(const AuditQuery& query) override {
    return with_reader([&](Connection& conn) { return audit_sql::sqlite_read(conn, query); });
  }

  Status put_setting(const std::string& key, const std::string& value) override {
    return write_one([&](Connection& conn) -> Status {
      auto stmt = conn.cached("INSERT OR REPLACE INTO settings (key, value) VALUES (?, ?)");
      if (!stmt) return tl::unexpected(stmt.error());
      (*stmt)->bind(1, key).bind(2, value);
      return (*stmt)->run();
    });
  }

  Result<bool> put_setting_if_absent(const std::string& key, const std::string& value) override {
    return write_one([&](Connection& conn) -> Result<bool> {
      auto stmt = conn.cached("INSERT OR IGNORE INTO settings (key, value) VALUES (?, ?)");
      if (!stmt) return tl::unexpected(stmt.error());
      (*stmt)->bind(1, key).bind(2, value);
      if (auto ran = (*stmt)->run(); !ran) return tl::unexpected(ran.error());
      return conn.changes() == 1;
    });
  }

  // --- webhooks (issue 13) --- (SQL in sqlite_webhooks.cpp)
  Status put_webhook_endpoint(const WebhookEndpointRecord& e) override {
    return write_one([&](Connection& conn) { return sqlite_webhooks::put(conn, e); });
  }
  Result<std::optional<WebhookEndpointRecord>> find_webhook_endpoint(const std::string& tenant,
                                                                     const std::string& id) override {
    return with_reader([&](Connection& conn) { return sqlite_webhooks::find(conn, tenant, id); });
  }
  Result<std::vector<WebhookEndpointRecord>> list_webhook_endpoints(const std::string& tenant) override {
    return with_reader([&](Connection& conn) { return sqlite_webhooks::list(conn, tenant); });
  }
  Result<bool> delete_webhook_endpoint(const std::string& tenant, const std::string& id) override {
    return write_one([&](Connection& conn) { return sqlite_webhooks::remove(conn, tenant, id); });
  }
  Result<bool> update_webhook_endpoint_settings(const WebhookEndpointRecord& e) override {
    return write_one([&](Connection& conn) { return sqlite_webhooks::update_settings(conn, e); });
  }
  Result<std::vector<WebhookEndpointRecord>> lease_webhook_endpoints(const std::string& owner, int64_t now,
                                                                     int64_t until, int limit) override {
    return write_one([&](Connection& conn) { return sqlite_webhooks::lease(conn, owner, now, until, limit); });
  }
  Result<bool> record_webhook_attempt(const WebhookAttemptRecord& attempt) override {
    return write_one([&](Connection& conn) { return sqlite_webhooks::record_attempt(conn, attempt); });
  }
  Status release_webhook_leases(const std::string& owner) override {
    return write_one([&](Connection& conn) { return sqlite_webhooks::release(conn, owner); });
  }

 private:
  Result<std::optional<CapabilityRecord>> capability_where(std::string_view column, const std::string& value) {
    return with_reader([&](Connection& conn) -> Result<std::optional<CapabilityRecord>> {
      return query_one<CapabilityRecord>(
          conn,
          fmt::format("{}WHERE {} = ?", kCapabilitySelect, column),
          [&](Statement& s) { s.bind(1, value); }, decode_capability<Statement>);
    });
  }

  // Lends a reader connection to `fn`; readers run concurrently with the writer (WAL).
  //
  // Reads wait for the durable point. With the commit pipeline a group is committed (visible
  // to new snapshots) a little before its fsync; a bootstrap or query that returned such a
  // group's rows and then lost them to a power failure would hand a client rows the log never
  // had, under delta ids that get reused. So the read pins its snapshot first (BEGIN + a read
  // of the header), and if that snapshot may hold a transaction not yet fsynced it waits for
  // the fsync in progress or runs one itself (await_visible) before reading anything. Without
  // write load nothing is pending and this costs two cached statements; under load a read
  // waits at most about one fsync. Relaxed durability promises nothing on power loss: no wait.
  template <class Fn>
  auto with_reader(Fn&& fn) -> decltype(fn(std::declval<Connection&>())) {
    std::unique_ptr<Connection> conn;
    {
      std::lock_guard lock(readers_mutex_);
      if (!readers_.empty()) {
        conn = std::move(readers_.back());
        readers_.pop_back();
      }
    }
    if (!conn) {
      auto opened = Connection::open(path_);
      if (!opened) return tl::unexpected(opened.error());
      conn = std::move(*opened);
    }
    const bool pinned = !durability_.relaxed();
    if (pinned) {
      if (auto ok = pin_durable_snapshot(*conn); !ok) {
        (void)conn->exec("ROLLBACK");
        return_reader(std::move(conn));
        return tl::unexpected(ok.error());
      }
    }
    auto result = fn(*conn);
    // A statement left mid-scan would keep the read transaction open; such a connection is
    // dropped rather than pooled with a stale snapshot.
    if (pinned && !conn->run_cached("COMMIT")) return result;
    return_reader(std::move(conn));
    return result;
  }

  Status pin_durable_snapshot(Connection& conn) {
    if (auto ok = conn.run_cached("BEGIN"); !ok) return ok;
    // The snapshot starts at the first read of the database, not at BEGIN.
    auto stmt = conn.cached("PRAGMA schema_version");
    if (!stmt) return tl::unexpected(stmt.error());
    if (auto ok = (*stmt)->run(); !ok) return ok;
    return durability_.await_visible(durability_.committing());
  }

  void return_reader(std::unique_ptr<Connection> conn) {
    std::lock_guard lock(readers_mutex_);
    readers_.push_back(std::move(conn));
  }

  // A small autocommit write outside the commit pipeline (keys, capabilities, settings),
  // durable when it returns like write().
  template <class Fn>
  auto write_one(Fn&& fn) -> decltype(fn(std::declval<Connection&>())) {
    decltype(fn(std::declval<Connection&>())) result;
    {
      std::lock_guard lock(writer_mutex_);
      if (auto ok = durability_.broken(); !ok) return tl::unexpected(ok.error());
      durability_.begin_commit();
      result = fn(*writer_);
      durability_.end_commit();
    }
    if (!result) return result;
    if (auto ok = durability_.sync(); !ok) return tl::unexpected(ok.error());
    return result;
  }

  // One filter in SQLite's dialect (resolve_filter did the checking).
  Result<std::string> filter_sql(const schema::Model& model, const RowFilter& filter,
                                 std::vector<std::pair<json::value, schema::FieldType>>& binds) {
    using Shape = ResolvedFilter::Shape;
    auto f = resolve_filter(model, filter);
    if (!f) return tl::unexpected(f.error());
    const std::string column =
        f->org ? std::string("substr(_tenant, 1, length(_tenant) - 5)") : quote_identifier(f->column.column);
    for (const auto& value : f->values) binds.emplace_back(value, f->column.type);
    switch (f->shape) {
      case Shape::kList:
        if (f->values.empty()) return std::string(f->op == "IN" ? "0" : "1");
        return fmt::format("{} {} ({})", column, f->op, placeholders(f->values.size()));
      case Shape::kIsNull: return column + " IS NULL";
      case Shape::kIsNotNull: return column + " IS NOT NULL";
      case Shape::kCompare: return fmt::format("{} {} ?", column, f->op);
      case Shape::kSame: return column + " IS ?";
      case Shape::kNotSame: return column + " IS NOT ?";
      case Shape::kPattern: {
        // SQLite's LIKE already folds ASCII case.
        const bool negated = f->op.starts_with("NOT");
        return fmt::format("{} {} ?", column, negated ? "NOT LIKE" : "LIKE");
      }
    }
    return fail("query_unsupported_operator", "unsupported operator '" + f->op + "'", "where");
  }

  std::string path_;
  std::mutex writer_mutex_;  // guards writer_ (one write transaction at a time)
  std::unique_ptr<Connection> writer_;
  std::mutex readers_mutex_;  // guards the idle reader pool
  std::vector<std::unique_ptr<Connection>> readers_;
  WalDurability durability_;
  Checkpointer checkpointer_;  // last: stopped before the connections close
};

// The -wal file, opened once for fsync (any fd of a file flushes the file's pages) and its
// directory entry made durable: with synchronous=NORMAL SQLite itself syncs the WAL only at
// checkpoints, so it never syncs the directory of a WAL it just created.
Result<int> open_wal_for_sync(const std::string& db_path) {
  const std::string wal_path = db_path + "-wal";
  const int fd = ::open(wal_path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return fail("internal_error", fmt::format("cannot open {} for fsync: {}", wal_path, std::strerror(errno)));
  const std::string dir = std::filesystem::path(db_path).parent_path().string();
  const int dir_fd = ::open(dir.empty() ? "." : dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  const bool dir_synced = dir_fd >= 0 && ::fsync(dir_fd) == 0;
  if (dir_fd >= 0) ::close(dir_fd);
  if (!dir_synced) {
    ::close(fd);
    return fail("internal_error", fmt::format("cannot fsync the data directory {}: {}", dir, std::strerror(errno)));
  }
  return fd;
}

}  // namespace

Result<std::unique_ptr<Store>> open_sqlite_store(const std::filesystem::path& data_dir, SqliteOptions options) {
  std::error_code ec;
  std::filesystem::create_directories(data_dir, ec);
  if (ec) return fail("internal_error", fmt::format("cannot create data directory {}: {}", data_dir.string(), ec.message()));
  const std::string path = (data_dir / "ablo.db").string();
  auto writer = Connection::open(path);
  if (!writer) return tl::unexpected(writer.error());
  // The writer's page cache is 8 MiB instead of SQLite's 2 MiB: a commit group of a few hundred
  // commits can dirty more pages than 2 MiB hold, and SQLite then spills them to the WAL in the
  // middle of the transaction (writing some pages twice, a pwrite each); between groups the
  // cache also keeps the hot b-tree pages (delta log tail, indexes) instead of re-reading them.
  // Not more: the cache fills up to its size and counts in the server's resident memory.
  // The WAL is checkpointed every 4,000 pages (16 MiB) rather than 1,000 (SqliteOptions): a page
  // rewritten by many groups (an index leaf, the log tail) is copied to the database once per
  // checkpoint; and not by the writer (Checkpointer).
  // temp_store=MEMORY keeps the savepoint journal (the pages each commit's SAVEPOINT may roll
  // back) in memory: by default it spills to a temporary file past 64 KiB and then stays a file
  // for the rest of the transaction, which made ~90% of the writer's pwrites (a commit group's
  // savepoints journal each page they touch; its size is bounded by the group's pages).
  for (std::string_view pragma : {"PRAGMA journal_mode=WAL", "PRAGMA foreign_keys=OFF", "PRAGMA cache_size=-8192",
                                  "PRAGMA temp_store=MEMORY"}) {
    auto ok = (*writer)->exec(pragma);
    if (!ok) return tl::unexpected(ok.error());
  }
  // NORMAL in both modes: COMMIT writes the WAL without an fsync, and in durable mode the store
  // fsyncs the -wal file itself (sync()), once per commit group and off the writer thread, so
  // the next group is applied while the previous one is flushed. Checkpoints still fsync.
  auto sync = (*writer)->exec("PRAGMA synchronous=NORMAL");
  if (!sync) return tl::unexpected(sync.error());
  auto tables = (*writer)->exec(kControlTables);
  if (!tables) return tl::unexpected(tables.error());
  if (auto audit = (*writer)->exec(audit_sql::kSqliteTables); !audit) return tl::unexpected(audit.error());
  if (auto webhooks = (*writer)->exec(sqlite_webhooks::kTables); !webhooks) return tl::unexpected(webhooks.error());
  if (auto upgraded = add_later_columns(**writer); !upgraded) return tl::unexpected(upgraded.error());
  std::vector<std::unique_ptr<Connection>> readers;
  for (int i = 0; i < options.reader_connections; ++i) {
    auto reader = Connection::open(path);
    if (!reader) return tl::unexpected(reader.error());
    readers.push_back(std::move(*reader));
  }
  // The checkpoint connection syncs as the writer's would: the WAL before copying it, the
  // database after.
  auto checkpoint_connection = Connection::open(path);
  if (!checkpoint_connection) return tl::unexpected(checkpoint_connection.error());
  if (auto ok = (*checkpoint_connection)->exec("PRAGMA synchronous=NORMAL"); !ok) return tl::unexpected(ok.error());
  int wal_fd = -1;
  if (options.synchronous_full) {
    auto opened = open_wal_for_sync(path);
    if (!opened) return tl::unexpected(opened.error());
    wal_fd = *opened;
  }
  return std::unique_ptr<Store>(std::make_unique<SqliteStore>(path, std::move(*writer), std::move(readers), wal_fd,
                                                              std::move(*checkpoint_connection), options));
}

}  // namespace ablo::store
