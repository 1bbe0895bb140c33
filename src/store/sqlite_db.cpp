#include "store/sqlite_db.h"

#include <sqlite3.h>

#include <fmt/format.h>

namespace ablo::store::sqlite {

namespace {

Error sqlite_error(sqlite3* db, std::string_view what) {
  return Error("internal_error", fmt::format("sqlite {}: {}", what, sqlite3_errmsg(db)));
}

}  // namespace

Statement::~Statement() { sqlite3_finalize(stmt_); }

Statement& Statement::bind(int index, std::string_view text) {
  sqlite3_bind_text(stmt_, index, text.data(), static_cast<int>(text.size()), SQLITE_TRANSIENT);
  return *this;
}
Statement& Statement::bind_static(int index, std::string_view text) {
  sqlite3_bind_text(stmt_, index, text.data(), static_cast<int>(text.size()), SQLITE_STATIC);
  return *this;
}
Statement& Statement::bind(int index, int64_t value) {
  sqlite3_bind_int64(stmt_, index, value);
  return *this;
}
Statement& Statement::bind(int index, double value) {
  sqlite3_bind_double(stmt_, index, value);
  return *this;
}
Statement& Statement::bind_null(int index) {
  sqlite3_bind_null(stmt_, index);
  return *this;
}

Result<bool> Statement::step() {
  const int rc = sqlite3_step(stmt_);
  if (rc == SQLITE_ROW) return true;
  if (rc == SQLITE_DONE) return false;
  Error error = sqlite_error(db_, "step");
  sqlite3_reset(stmt_);
  return tl::unexpected(std::move(error));
}

Status Statement::run() {
  auto stepped = step();
  if (!stepped) return tl::unexpected(stepped.error());
  sqlite3_reset(stmt_);
  return {};
}

void Statement::reset() {
  sqlite3_reset(stmt_);
  sqlite3_clear_bindings(stmt_);
}

bool Statement::is_null(int column) const { return sqlite3_column_type(stmt_, column) == SQLITE_NULL; }
int64_t Statement::int64(int column) const { return sqlite3_column_int64(stmt_, column); }
double Statement::real(int column) const { return sqlite3_column_double(stmt_, column); }
int Statement::column_type(int column) const { return sqlite3_column_type(stmt_, column); }
std::string Statement::text(int column) const { return std::string(text_view(column)); }

// A text cell read through its sqlite3_value: one column lookup for the pointer and the length
// (sqlite3_column_text + sqlite3_column_bytes look the column up twice, each with its API-exit
// bookkeeping — a tenth of the bootstrap's instructions). The value is what SQLite calls
// unprotected; these connections are opened SQLITE_OPEN_NOMUTEX, so the connection has no mutex
// and, as SQLite documents for that mode, protected and unprotected values are the same.
std::optional<std::string_view> Statement::text_if_set(int column) const {
  sqlite3_value* value = sqlite3_column_value(stmt_, column);
  const auto* data = reinterpret_cast<const char*>(sqlite3_value_text(value));
  // A NULL cell always reads as a null pointer; a null pointer for anything else (out of
  // memory) reads as "", as text_view does.
  if (!data) return sqlite3_value_type(value) == SQLITE_NULL ? std::nullopt : std::optional<std::string_view>(std::string_view());
  return std::string_view(data, static_cast<std::size_t>(sqlite3_value_bytes(value)));
}

std::string_view Statement::text_view(int column) const { return text_if_set(column).value_or(std::string_view()); }

Result<std::unique_ptr<Connection>> Connection::open(const std::string& path) {
  sqlite3* db = nullptr;
  const int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX;
  if (sqlite3_open_v2(path.c_str(), &db, flags, nullptr) != SQLITE_OK) {
    Error error = sqlite_error(db, "open " + path);
    sqlite3_close(db);
    return tl::unexpected(std::move(error));
  }
  sqlite3_busy_timeout(db, 10000);
  return std::unique_ptr<Connection>(new Connection(db));
}

Connection::~Connection() {
  cache_.clear();  // statements must be finalized before the connection closes
  sqlite3_close(db_);
}

Status Connection::exec(std::string_view sql) {
  char* message = nullptr;
  const std::string text(sql);
  if (sqlite3_exec(db_, text.c_str(), nullptr, nullptr, &message) != SQLITE_OK) {
    std::string detail = message ? message : "unknown error";
    sqlite3_free(message);
    return fail("internal_error", fmt::format("sqlite exec: {} (in: {:.200})", detail, text));
  }
  return {};
}

Result<Statement*> Connection::cached(std::string_view sql) {
  auto it = cache_.find(sql);
  if (it != cache_.end()) {
    it->second->reset();
    return it->second.get();
  }
  auto prepared = prepare(sql);
  if (!prepared) return tl::unexpected(prepared.error());
  Statement* raw = prepared->get();
  cache_.emplace(std::string(sql), std::move(*prepared));
  return raw;
}

Status Connection::run_cached(std::string_view sql) {
  auto stmt = cached(sql);
  if (!stmt) return tl::unexpected(stmt.error());
  return (*stmt)->run();
}

Result<std::unique_ptr<Statement>> Connection::prepare(std::string_view sql) {
  sqlite3_stmt* stmt = nullptr;
  if (sqlite3_prepare_v2(db_, sql.data(), static_cast<int>(sql.size()), &stmt, nullptr) != SQLITE_OK) {
    return tl::unexpected(sqlite_error(db_, fmt::format("prepare ({:.200})", sql)));
  }
  return std::make_unique<Statement>(db_, stmt);
}

int Connection::changes() const { return sqlite3_changes(db_); }

bool Connection::in_transaction() const { return sqlite3_get_autocommit(db_) == 0; }

Status Connection::checkpoint_passive() {
  const int rc = sqlite3_wal_checkpoint_v2(db_, nullptr, SQLITE_CHECKPOINT_PASSIVE, nullptr, nullptr);
  if (rc == SQLITE_OK || rc == SQLITE_BUSY) return {};
  return fail("internal_error", fmt::format("sqlite checkpoint: {}", sqlite3_errmsg(db_)));
}

void Connection::on_wal_commit(std::function<void(int wal_pages)> on_commit) {
  on_wal_commit_ = std::move(on_commit);
  if (!on_wal_commit_) {
    sqlite3_wal_hook(db_, nullptr, nullptr);
    return;
  }
  sqlite3_wal_hook(
      db_,
      [](void* self, sqlite3*, const char*, int pages) {
        try {  // called from SQLite's C code: nothing may propagate
          static_cast<Connection*>(self)->on_wal_commit_(pages);
        } catch (...) {
        }
        return SQLITE_OK;  // the commit itself succeeded either way
      },
      this);
}

int64_t Connection::last_insert_rowid() const { return sqlite3_last_insert_rowid(db_); }

std::string quote_identifier(std::string_view name) {
  std::string out = "\"";
  for (char c : name) {
    if (c == '"') out.push_back('"');
    out.push_back(c);
  }
  out.push_back('"');
  return out;
}

}  // namespace ablo::store::sqlite
