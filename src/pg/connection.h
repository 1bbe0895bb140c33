#pragma once
// A thin RAII layer over libpq: one connection, parameterized statements with text
// parameters, results as rows of text, and errors turned into ablo::Error. Used by the
// PostgreSQL store, the cluster link and the schema introspection commands.
//
// Threading: a Connection is used by one thread at a time (libpq's rule); pools hand them out.
//
// Errors: a lost connection or a server shutting down becomes kStoreUnavailable (a retryable
// 503; nothing of the failed transaction was applied); serialization failures and deadlocks
// become kStoreConflict (a retryable 500); everything else keeps its SQLSTATE in
// details.sqlstate under `internal_error`, except the input errors listed in connection.cpp.
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "common/result.h"

struct pg_conn;
struct pg_result;

namespace ablo::pg {

// A statement parameter in text form; nullopt is SQL NULL. The server infers each
// parameter's type from the statement ($1::jsonb where inference needs help).
using Param = std::optional<std::string>;
using Params = std::vector<Param>;

class Rows {
 public:
  explicit Rows(pg_result* result);
  ~Rows();
  Rows(Rows&& other) noexcept;
  Rows& operator=(Rows&& other) noexcept;
  Rows(const Rows&) = delete;
  Rows& operator=(const Rows&) = delete;

  int size() const;
  bool empty() const { return size() == 0; }
  bool is_null(int row, int column) const;
  std::string text(int row, int column) const;  // "" for NULL
  std::string_view text_view(int row, int column) const;  // valid while the Rows live; "" for NULL
  int64_t int64(int row, int column) const;     // 0 for NULL
  double real(int row, int column) const;
  bool boolean(int row, int column) const;      // 't' / 'f'
  int64_t affected() const;                     // rows touched by INSERT/UPDATE/DELETE

  // One row of the result, read by column alone (the Rows must outlive it).
  class Row {
   public:
    Row(const Rows& rows, int row) : rows_(rows), row_(row) {}
    bool is_null(int column) const { return rows_.is_null(row_, column); }
    std::string text(int column) const { return rows_.text(row_, column); }
    std::string_view text_view(int column) const { return rows_.text_view(row_, column); }
    std::optional<std::string_view> text_if_set(int column) const {
      if (is_null(column)) return std::nullopt;
      return text_view(column);
    }
    int64_t int64(int column) const { return rows_.int64(row_, column); }
    double real(int column) const { return rows_.real(row_, column); }
    bool boolean(int column) const { return rows_.boolean(row_, column); }

   private:
    const Rows& rows_;
    int row_;
  };
  Row row(int index) const { return Row(*this, index); }

 private:
  pg_result* result_;
};

class Connection {
 public:
  // `url`: postgres://user@host:port/db or a libpq keyword string. The session time zone is
  // UTC so timestamps read back as ISO-8601 'Z' text.
  static Result<std::unique_ptr<Connection>> open(const std::string& url);
  ~Connection();
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  // Runs one statement. Statements are prepared on first use and reused by their text (a
  // bounded cache per connection), so the server parses and plans each shape once. `formats`:
  // as Statement::formats.
  Result<Rows> exec(std::string_view sql, const Params& params = {}, const std::vector<int>& formats = {});
  // Several statements without parameters (DDL scripts).
  Status exec_script(std::string_view sql);

  // Runs the statements in order in one round trip (libpq pipeline mode) and reports the
  // first failure; the statements after a failed one are not run. For statements whose rows
  // nobody reads (INSERT/UPDATE/DELETE).
  struct Statement {
    std::string sql;
    Params params;
    // Per parameter: kBinary for a value in PostgreSQL's binary format (binary_text_array),
    // else text. Empty: every parameter is text.
    std::vector<int> formats = {};
  };
  static constexpr int kText = 0;
  static constexpr int kBinary = 1;
  Status exec_pipelined(const std::vector<Statement>& statements);
  // Runs `before` and then one statement whose rows are read, all in one round trip (a
  // transaction's deferred SAVEPOINT goes out with its next read). A failure in `before` fails
  // the whole call; the statement is then not run.
  Result<Rows> exec_after(const std::vector<Statement>& before, std::string_view sql, const Params& params = {});
  // Runs the statements in order in one round trip and returns every statement's rows (a commit
  // group's reads, all at once). The first failure fails the call.
  Result<std::vector<Rows>> exec_batch(const std::vector<Statement>& statements);

  // False once the server went away (checked without blocking); the owner reopens (pools
  // drop broken connections).
  bool healthy();
  int socket() const;
  // Reads what arrived on the socket and returns the channels of pending NOTIFY messages.
  Result<std::vector<std::string>> take_notifications();

 private:
  explicit Connection(pg_conn* conn) : conn_(conn) {}
  // The name of the prepared statement for `sql`, preparing it first; "" when the cache is
  // full (run unprepared).
  Result<std::string> prepared(const std::string& sql, int parameters);
  // The pipeline of exec_pipelined / exec_after / exec_batch: which statements' rows are kept.
  enum class Keep { kNone, kLast, kAll };
  Result<std::vector<Rows>> run_pipeline(const std::vector<Statement>& statements, Keep keep);

  pg_conn* conn_;
  std::unordered_map<std::string, std::string> prepared_;  // statement text -> name
  uint64_t next_statement_ = 0;
};

// A TEXT[] parameter in PostgreSQL's binary format (what array_recv reads): one dimension,
// each element's length and bytes (-1 for an absent one). Why not the text literal
// ({"a","b"}): the server's array_in scans every character of it for quotes and escapes, which
// for a commit group's JSON texts was a fifth of the backend's CPU; array_recv copies.
// Send it with Connection::kBinary.
std::string binary_text_array(const std::vector<const Param*>& items);

// "name" with embedded quotes doubled.
std::string quote_identifier(std::string_view name);
// 'text' with embedded quotes doubled (standard_conforming_strings is on since PostgreSQL 9.1).
std::string quote_literal(std::string_view text);

// True when an error means the database could not be reached (retry later / elsewhere).
bool is_unavailable(const Error& error);

}  // namespace ablo::pg
