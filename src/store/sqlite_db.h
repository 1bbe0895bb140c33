#pragma once
// A thin RAII layer over the SQLite C API: a connection, prepared statements cached per
// connection, and errors turned into ablo::Error. Private to store/.
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>

#include "common/result.h"

struct sqlite3;
struct sqlite3_stmt;

namespace ablo::store::sqlite {

class Statement {
 public:
  Statement(sqlite3* db, sqlite3_stmt* stmt) : db_(db), stmt_(stmt) {}
  ~Statement();
  Statement(const Statement&) = delete;
  Statement& operator=(const Statement&) = delete;

  Statement& bind(int index, std::string_view text);  // copied: the text may be a temporary
  // Not copied: `text` must stay valid until the statement has been stepped for the last time
  // with this binding (the hot writes of the commit path bind fields of records they hold).
  Statement& bind_static(int index, std::string_view text);
  Statement& bind(int index, int64_t value);
  Statement& bind(int index, double value);
  Statement& bind_null(int index);
  // Steps once: true when a row is available, false when done. Errors become Error.
  Result<bool> step();
  Status run();  // steps to completion, expecting no rows
  void reset();  // resets and clears bindings for reuse

  bool is_null(int column) const;
  int64_t int64(int column) const;
  double real(int column) const;
  std::string text(int column) const;
  std::string_view text_view(int column) const;  // valid until the next step; "" for NULL
  // The same with NULL told apart (one SQLite call for both where the cell is not NULL).
  std::optional<std::string_view> text_if_set(int column) const;
  bool boolean(int column) const { return int64(column) != 0; }  // SQLite keeps booleans as 0/1
  int column_type(int column) const;  // SQLITE_INTEGER, SQLITE_FLOAT, SQLITE_TEXT, SQLITE_NULL, ...

 private:
  sqlite3* db_;
  sqlite3_stmt* stmt_;
};

class Connection {
 public:
  static Result<std::unique_ptr<Connection>> open(const std::string& path);
  ~Connection();
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  Status exec(std::string_view sql);
  // Returns a cached prepared statement, reset and ready to bind. Valid until the next
  // call of cached() with the same SQL; callers use it immediately. Looked up by the text as
  // given (no std::string is built for a literal: the commit writer runs several per commit).
  Result<Statement*> cached(std::string_view sql);
  // Runs a cached statement without parameters to completion (BEGIN, COMMIT, SAVEPOINT...):
  // prepared once, not parsed again on every group as exec() would.
  Status run_cached(std::string_view sql);
  // A one-off statement (dynamic SQL such as row queries).
  Result<std::unique_ptr<Statement>> prepare(std::string_view sql);
  int64_t last_insert_rowid() const;
  int changes() const;  // rows changed by the last statement
  // False once an error (I/O, full disk, out of memory) made SQLite roll the transaction back.
  bool in_transaction() const;

  // Copies what the WAL holds into the database without waiting for anyone (a PASSIVE
  // checkpoint: it does not block writers or readers, and stops at a reader's snapshot). Also
  // answers SQLITE_BUSY (ok, nothing done) while another connection checkpoints.
  Status checkpoint_passive();
  // Calls `on_commit(pages now in the WAL)` after each transaction this connection commits,
  // instead of SQLite's automatic checkpoint (which would run here, on the committer's thread).
  // Empty: none (and no automatic checkpoint either).
  void on_wal_commit(std::function<void(int wal_pages)> on_commit);

 private:
  explicit Connection(sqlite3* db) : db_(db) {}
  sqlite3* db_;
  std::function<void(int)> on_wal_commit_;  // see on_wal_commit
  struct SqlHash {
    using is_transparent = void;
    std::size_t operator()(std::string_view sql) const { return std::hash<std::string_view>{}(sql); }
  };
  std::unordered_map<std::string, std::unique_ptr<Statement>, SqlHash, std::equal_to<>> cache_;
};

// Quotes an identifier for SQL ("name" with embedded quotes doubled).
std::string quote_identifier(std::string_view name);

}  // namespace ablo::store::sqlite
