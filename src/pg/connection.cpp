#include "pg/connection.h"

#include <libpq-fe.h>
#include <poll.h>

#include <cstdlib>
#include <optional>
#include <set>

#include <fmt/format.h>

namespace ablo::pg {

namespace {

// SQLSTATEs that mean "the input was wrong", reported as validation errors instead of 500s.
const std::set<std::string, std::less<>> kInputErrors = {
    "22P02",  // invalid_text_representation ('abc' for a number column)
    "22007",  // invalid_datetime_format
    "22008",  // datetime_field_overflow
    "22003",  // numeric_value_out_of_range
    "42883",  // undefined_function (operator on mismatched types)
};

Error error_from(pg_conn* conn, pg_result* result) {
  const char* state = result ? PQresultErrorField(result, PG_DIAG_SQLSTATE) : nullptr;
  std::string message = result ? PQresultErrorMessage(result) : PQerrorMessage(conn);
  while (!message.empty() && (message.back() == '\n' || message.back() == ' ')) message.pop_back();
  const std::string sqlstate = state ? state : "";
  Error error;
  if (PQstatus(conn) != CONNECTION_OK || sqlstate.starts_with("08") || sqlstate == "57P01" ||
      sqlstate == "57P02" || sqlstate == "57P03") {
    // "network error" also makes 0.9.1 clients, which do not know this code, treat it as transient.
    error = Error(kStoreUnavailable, "database network error, nothing was applied (retry): " + message);
  } else if (sqlstate == "40001" || sqlstate == "40P01") {
    error = Error(kStoreConflict, "the database aborted the transaction to keep it consistent: " + message);
  } else if (sqlstate == "23505") {
    error = Error("unique_violation", message);
  } else if (sqlstate == "23514") {
    error = Error("check_violation", message);
  } else if (kInputErrors.count(sqlstate)) {
    error = Error("invalid_request", message);
  } else {
    error = Error("internal_error", "database error: " + message);
  }
  if (!sqlstate.empty()) error.details["sqlstate"] = sqlstate;
  return error;
}

// libpq's view of a statement's parameters: value pointers, and when any is binary their
// lengths and formats (a binary value may hold NUL bytes; a text one ends at its NUL).
class ParamPointers {
 public:
  ParamPointers(const Params& params, const std::vector<int>& formats) {
    values_.reserve(params.size());
    for (const auto& p : params) values_.push_back(p ? p->c_str() : nullptr);
    if (formats.empty()) return;
    formats_.assign(formats.begin(), formats.end());
    formats_.resize(params.size(), Connection::kText);
    lengths_.reserve(params.size());
    for (const auto& p : params) lengths_.push_back(p ? static_cast<int>(p->size()) : 0);
  }
  int count() const { return static_cast<int>(values_.size()); }
  const char* const* values() const { return values_.data(); }
  const int* lengths() const { return lengths_.empty() ? nullptr : lengths_.data(); }
  const int* formats() const { return formats_.empty() ? nullptr : formats_.data(); }

 private:
  std::vector<const char*> values_;
  std::vector<int> lengths_, formats_;
};

void append_int32(std::string& out, int32_t value) {
  const auto bits = static_cast<uint32_t>(value);
  for (int shift = 24; shift >= 0; shift -= 8) out.push_back(static_cast<char>((bits >> shift) & 0xFF));
}

}  // namespace

std::string binary_text_array(const std::vector<const Param*>& items) {
  constexpr int32_t kTextOid = 25;
  std::size_t bytes = 20;
  bool has_null = false;
  for (const auto* item : items) {
    bytes += 4 + (*item ? (*item)->size() : 0);
    has_null = has_null || !*item;
  }
  std::string out;
  out.reserve(bytes);
  append_int32(out, 1);                  // dimensions
  append_int32(out, has_null ? 1 : 0);   // flags: has nulls
  append_int32(out, kTextOid);           // element type
  append_int32(out, static_cast<int32_t>(items.size()));
  append_int32(out, 1);                  // lower bound
  for (const auto* item : items) {
    if (!*item) {
      append_int32(out, -1);
      continue;
    }
    append_int32(out, static_cast<int32_t>((*item)->size()));
    out.append(**item);
  }
  return out;
}

Rows::Rows(pg_result* result) : result_(result) {}
Rows::~Rows() {
  if (result_) PQclear(result_);
}
Rows::Rows(Rows&& other) noexcept : result_(other.result_) { other.result_ = nullptr; }
Rows& Rows::operator=(Rows&& other) noexcept {
  if (this != &other) {
    if (result_) PQclear(result_);
    result_ = other.result_;
    other.result_ = nullptr;
  }
  return *this;
}

int Rows::size() const { return result_ ? PQntuples(result_) : 0; }
bool Rows::is_null(int row, int column) const { return PQgetisnull(result_, row, column) != 0; }
std::string Rows::text(int row, int column) const { return std::string(text_view(row, column)); }
std::string_view Rows::text_view(int row, int column) const {
  if (is_null(row, column)) return {};
  return std::string_view(PQgetvalue(result_, row, column), static_cast<std::size_t>(PQgetlength(result_, row, column)));
}
int64_t Rows::int64(int row, int column) const {
  return is_null(row, column) ? 0 : std::strtoll(PQgetvalue(result_, row, column), nullptr, 10);
}
double Rows::real(int row, int column) const {
  return is_null(row, column) ? 0.0 : std::strtod(PQgetvalue(result_, row, column), nullptr);
}
bool Rows::boolean(int row, int column) const {
  return !is_null(row, column) && PQgetvalue(result_, row, column)[0] == 't';
}
int64_t Rows::affected() const {
  const char* count = result_ ? PQcmdTuples(result_) : "";
  return *count ? std::strtoll(count, nullptr, 10) : 0;
}

Result<std::unique_ptr<Connection>> Connection::open(const std::string& url) {
  pg_conn* conn = PQconnectdb(url.c_str());
  if (!conn) return fail(kStoreUnavailable, "out of memory opening a database connection");
  if (PQstatus(conn) != CONNECTION_OK) {
    Error error(kStoreUnavailable, fmt::format("cannot connect to the database: {}", PQerrorMessage(conn)));
    while (!error.message.empty() && error.message.back() == '\n') error.message.pop_back();
    PQfinish(conn);
    return tl::unexpected(error);
  }
  std::unique_ptr<Connection> connection(new Connection(conn));
  // Quiet NOTICEs (e.g. "relation already exists, skipping") instead of printing them to stderr.
  PQsetNoticeProcessor(conn, [](void*, const char*) {}, nullptr);
  auto set = connection->exec_script("SET TIME ZONE 'UTC'; SET client_min_messages = warning");
  if (!set) return tl::unexpected(set.error());
  return connection;
}

Connection::~Connection() { PQfinish(conn_); }

Result<std::string> Connection::prepared(const std::string& sql, int parameters) {
  constexpr std::size_t kMaxPrepared = 512;  // dynamic queries (IN lists, filters) vary; bound them
  if (auto found = prepared_.find(sql); found != prepared_.end()) return found->second;
  if (prepared_.size() >= kMaxPrepared) return std::string();
  std::string name = "ablo_" + std::to_string(next_statement_++);
  pg_result* result = PQprepare(conn_, name.c_str(), sql.c_str(), parameters, nullptr);
  const auto status = result ? PQresultStatus(result) : PGRES_FATAL_ERROR;
  if (status != PGRES_COMMAND_OK) {
    Error error = error_from(conn_, result);
    if (result) PQclear(result);
    return tl::unexpected(error);
  }
  PQclear(result);
  prepared_.emplace(sql, name);
  return name;
}

Result<Rows> Connection::exec(std::string_view sql, const Params& params, const std::vector<int>& formats) {
  const ParamPointers pointers(params, formats);
  const std::string statement(sql);
  const int count = pointers.count();
  auto name = prepared(statement, count);
  if (!name) return tl::unexpected(name.error());
  pg_result* result =
      name->empty() ? PQexecParams(conn_, statement.c_str(), count, nullptr, pointers.values(), pointers.lengths(),
                                   pointers.formats(), 0)
                    : PQexecPrepared(conn_, name->c_str(), count, pointers.values(), pointers.lengths(),
                                     pointers.formats(), 0);
  const auto status = result ? PQresultStatus(result) : PGRES_FATAL_ERROR;
  if (status != PGRES_COMMAND_OK && status != PGRES_TUPLES_OK) {
    Error error = error_from(conn_, result);
    if (result) PQclear(result);
    // A migration changed a column's type under a prepared statement ("cached plan must not
    // change result type"): forget it, and outside a transaction run the statement again.
    if (!name->empty() && error.details.contains("sqlstate") && error.details.at("sqlstate") == "0A000") {
      prepared_.erase(statement);
      (void)exec_script("DEALLOCATE " + *name);
      if (PQtransactionStatus(conn_) == PQTRANS_IDLE) return exec(sql, params, formats);
    }
    return tl::unexpected(error);
  }
  return Rows(result);
}

Status Connection::exec_pipelined(const std::vector<Statement>& statements) {
  if (statements.empty()) return {};
  auto done = run_pipeline(statements, Keep::kNone);
  if (!done) return tl::unexpected(done.error());
  return {};
}

Result<Rows> Connection::exec_after(const std::vector<Statement>& before, std::string_view sql, const Params& params) {
  if (before.empty()) return exec(sql, params);
  std::vector<Statement> statements = before;
  statements.push_back({std::string(sql), params});
  auto rows = run_pipeline(statements, Keep::kLast);
  if (!rows) return tl::unexpected(rows.error());
  return std::move(rows->back());
}

Result<std::vector<Rows>> Connection::exec_batch(const std::vector<Statement>& statements) {
  if (statements.empty()) return std::vector<Rows>();
  return run_pipeline(statements, Keep::kAll);
}

Result<std::vector<Rows>> Connection::run_pipeline(const std::vector<Statement>& statements, Keep keep) {
  std::vector<Rows> kept;
  if (statements.size() == 1) {
    auto rows = exec(statements.front().sql, statements.front().params, statements.front().formats);
    if (!rows) return tl::unexpected(rows.error());
    if (keep != Keep::kNone) kept.push_back(std::move(*rows));
    return kept;
  }
  // Prepare first (synchronously, cached): pipeline mode then only sends executions.
  std::vector<std::string> names;
  for (const auto& statement : statements) {
    auto name = prepared(statement.sql, static_cast<int>(statement.params.size()));
    if (!name) return tl::unexpected(name.error());
    names.push_back(std::move(*name));
  }
  if (PQenterPipelineMode(conn_) != 1) return tl::unexpected(error_from(conn_, nullptr));
  std::optional<Error> failure;
  for (std::size_t i = 0; i < statements.size() && !failure; ++i) {
    const auto& statement = statements[i];
    const ParamPointers pointers(statement.params, statement.formats);
    const int count = pointers.count();
    const int sent =
        names[i].empty() ? PQsendQueryParams(conn_, statement.sql.c_str(), count, nullptr, pointers.values(),
                                             pointers.lengths(), pointers.formats(), 0)
                         : PQsendQueryPrepared(conn_, names[i].c_str(), count, pointers.values(), pointers.lengths(),
                                               pointers.formats(), 0);
    if (sent != 1) failure = error_from(conn_, nullptr);
  }
  // The sync point goes out even after a failed send, so the results up to it can be read.
  const bool synced = PQpipelineSync(conn_) == 1;
  if (!synced && !failure) failure = error_from(conn_, nullptr);
  // Read every result up to the sync point (or until the connection is gone). Each statement's
  // results end with a null (`ends` is the index of the statement being read); more nulls than
  // statements means nothing else is coming.
  const auto wanted = [&](std::size_t index) {
    return keep == Keep::kAll || (keep == Keep::kLast && index + 1 == statements.size());
  };
  std::size_t ends = 0;
  std::string stale;  // a prepared statement to deallocate once out of pipeline mode
  while (synced && PQstatus(conn_) == CONNECTION_OK && ends <= statements.size()) {
    pg_result* result = PQgetResult(conn_);
    if (!result) {
      ++ends;
      continue;
    }
    const auto status = PQresultStatus(result);
    if (status == PGRES_FATAL_ERROR && !failure) {
      failure = error_from(conn_, result);
      // A migration changed a column's type under a prepared statement (see exec): forget it,
      // so the next use prepares it again.
      if (ends < statements.size() && !names[ends].empty() && failure->details.contains("sqlstate") &&
          failure->details.at("sqlstate") == "0A000") {
        prepared_.erase(statements[ends].sql);
        stale = names[ends];
      }
    }
    if (ends < statements.size() && wanted(ends) && (status == PGRES_TUPLES_OK || status == PGRES_COMMAND_OK)) {
      kept.emplace_back(result);  // the Rows owns it now
      continue;
    }
    PQclear(result);
    if (status == PGRES_PIPELINE_SYNC) break;
  }
  if (PQstatus(conn_) != CONNECTION_OK && !failure) failure = error_from(conn_, nullptr);
  (void)PQexitPipelineMode(conn_);
  if (!stale.empty()) (void)exec_script("DEALLOCATE " + stale);
  if (failure) return tl::unexpected(*failure);
  const std::size_t expected = keep == Keep::kAll ? statements.size() : keep == Keep::kLast ? 1 : 0;
  if (kept.size() != expected) return tl::unexpected(Error("internal_error", "a pipelined statement returned no rows"));
  return kept;
}

Status Connection::exec_script(std::string_view sql) {
  const std::string script(sql);
  pg_result* result = PQexec(conn_, script.c_str());
  const auto status = result ? PQresultStatus(result) : PGRES_FATAL_ERROR;
  if (status != PGRES_COMMAND_OK && status != PGRES_TUPLES_OK) {
    Error error = error_from(conn_, result);
    if (result) PQclear(result);
    return tl::unexpected(error);
  }
  PQclear(result);
  return {};
}

bool Connection::healthy() {
  if (PQstatus(conn_) != CONNECTION_OK) return false;
  // A server that restarted or terminated us has closed the socket (after a FATAL message):
  // it reads as ready. Reading it lets libpq notice, so a pooled connection that died while
  // idle is dropped before use instead of failing the next request.
  pollfd ready{PQsocket(conn_), POLLIN, 0};
  if (::poll(&ready, 1, 0) > 0 && PQconsumeInput(conn_) == 0) return false;
  return PQstatus(conn_) == CONNECTION_OK;
}

int Connection::socket() const { return PQsocket(conn_); }

Result<std::vector<std::string>> Connection::take_notifications() {
  if (PQconsumeInput(conn_) == 0) return tl::unexpected(error_from(conn_, nullptr));
  std::vector<std::string> channels;
  while (PGnotify* notify = PQnotifies(conn_)) {
    channels.emplace_back(notify->relname);
    PQfreemem(notify);
  }
  return channels;
}

std::string quote_identifier(std::string_view name) {
  std::string out = "\"";
  for (char c : name) {
    if (c == '"') out += '"';
    out += c;
  }
  return out + "\"";
}

std::string quote_literal(std::string_view text) {
  std::string out = "'";
  for (char c : text) {
    if (c == '\'') out += '\'';
    out += c;
  }
  return out + "'";
}

bool is_unavailable(const Error& error) { return error.code == kStoreUnavailable.view(); }

}  // namespace ablo::pg
