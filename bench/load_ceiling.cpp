#include "load_ceiling.h"

#include <sqlite3.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "bench_support.h"

namespace ablo::bench {
namespace {

using Clock = std::chrono::steady_clock;

// A scratch database in `dir` (WAL; synchronous=FULL or NORMAL), removed with its -wal and -shm files.
class ScratchDb {
 public:
  ScratchDb(const std::string& dir, const char* name, bool synchronous_full) : path_(dir + "/" + name) {
    remove_files();
    if (sqlite3_open(path_.c_str(), &db_) != SQLITE_OK) {
      std::fprintf(stderr, "ceiling: cannot open %s\n", path_.c_str());
      return;
    }
    ok_ = exec("PRAGMA journal_mode=WAL") && exec(synchronous_full ? "PRAGMA synchronous=FULL" : "PRAGMA synchronous=NORMAL");
  }
  ~ScratchDb() {
    sqlite3_close(db_);
    remove_files();
  }
  ScratchDb(const ScratchDb&) = delete;
  ScratchDb& operator=(const ScratchDb&) = delete;

  sqlite3* get() const { return db_; }
  bool ok() const { return ok_; }
  bool exec(const std::string& sql) {
    return sqlite3_exec(db_, sql.c_str(), nullptr, nullptr, nullptr) == SQLITE_OK || fail();
  }
  // Steps `stmt` to its end (no row expected) and resets it; false (said why) when it failed.
  bool run(sqlite3_stmt* stmt) {
    const bool done = sqlite3_step(stmt) == SQLITE_DONE || fail();
    sqlite3_reset(stmt);
    return done;
  }
  // Says why the last statement failed; always false.
  bool fail() {
    if (ok_) std::fprintf(stderr, "ceiling: %s\n", sqlite3_errmsg(db_));
    ok_ = false;
    return false;
  }

 private:
  void remove_files() {
    std::error_code ec;
    for (const char* suffix : {"", "-wal", "-shm"}) std::filesystem::remove(path_ + suffix, ec);
  }
  std::string path_;
  sqlite3* db_ = nullptr;
  bool ok_ = false;
};

struct StatementDeleter {
  void operator()(sqlite3_stmt* stmt) const { sqlite3_finalize(stmt); }
};
using Statement = std::unique_ptr<sqlite3_stmt, StatementDeleter>;

Statement prepare(sqlite3* db, const std::string& sql) {
  sqlite3_stmt* stmt = nullptr;
  if (sqlite3_prepare_v2(db, sql.c_str(), -1, &stmt, nullptr) != SQLITE_OK) {
    std::fprintf(stderr, "ceiling: %s (in: %s)\n", sqlite3_errmsg(db), sql.c_str());
  }
  return Statement(stmt);
}

struct ValueDeleter {
  void operator()(sqlite3_value* value) const { sqlite3_value_free(value); }
};

// One row a commit writes: a copy of the latest matching row of the server's table, with the
// `varying` columns made unique per commit (in increasing order, as the server's keys grow).
struct RowShape {
  const char* table;
  const char* sample;  // WHERE … ORDER BY … that picks the row to copy
  std::set<std::string> varying;
  bool read_first;  // the server reads this key before writing it
};

const std::vector<RowShape>& commit_rows() {
  static const std::vector<RowShape> rows = {
      {"items", "1", {"id"}, true},
      {"sync_deltas", "1 ORDER BY id DESC", {"id", "model_id", "transaction_id", "client_tx_id"}, false},
      {"idempotency", "key LIKE 'ctx:%'", {"key"}, true},
      {"idempotency", "key LIKE 'op:%'", {"key"}, true},
      {"_ablo_audit", "action_type = 'commit' ORDER BY chain_seq DESC", {"chain_seq", "commit_id"}, false},
  };
  return rows;
}

// A row shape made ready in the scratch database: its INSERT, its point read and the sample.
struct PreparedRow {
  Statement insert, read;
  std::vector<std::unique_ptr<sqlite3_value, ValueDeleter>> values;
  std::vector<bool> varies;  // per column: made unique per commit
};

std::optional<PreparedRow> prepare_row(sqlite3* server, ScratchDb& scratch, const RowShape& shape,
                                       std::set<std::string>& created) {
  const std::string table = shape.table;
  if (created.insert(table).second) {  // the table and its indexes, as the server made them
    auto ddl = prepare(server, "SELECT sql FROM sqlite_master WHERE tbl_name = ?1 AND sql IS NOT NULL ORDER BY type DESC");
    if (!ddl) return std::nullopt;
    sqlite3_bind_text(ddl.get(), 1, table.c_str(), -1, SQLITE_TRANSIENT);
    while (sqlite3_step(ddl.get()) == SQLITE_ROW) {
      if (!scratch.exec(reinterpret_cast<const char*>(sqlite3_column_text(ddl.get(), 0)))) return std::nullopt;
    }
  }
  auto sample = prepare(server, "SELECT * FROM \"" + table + "\" WHERE " + shape.sample + " LIMIT 1");
  if (!sample || sqlite3_step(sample.get()) != SQLITE_ROW) {
    std::fprintf(stderr, "ceiling: the server's %s has no row to copy\n", table.c_str());
    return std::nullopt;
  }
  auto key_info = prepare(server, "SELECT name FROM pragma_table_info(?1) WHERE pk > 0 ORDER BY pk");
  if (!key_info) return std::nullopt;
  std::set<std::string> keys;
  sqlite3_bind_text(key_info.get(), 1, table.c_str(), -1, SQLITE_TRANSIENT);
  while (sqlite3_step(key_info.get()) == SQLITE_ROW) {
    keys.insert(reinterpret_cast<const char*>(sqlite3_column_text(key_info.get(), 0)));
  }
  // Parameter ?N is column N of the sample in both statements, so one bind_row serves both (the
  // read names only the key columns; binding the others there is a no-op).
  PreparedRow row;
  std::string columns, params, key_match;
  for (int i = 0; i < sqlite3_column_count(sample.get()); ++i) {
    const std::string name = sqlite3_column_name(sample.get(), i);
    columns += (i ? ", \"" : "\"") + name + "\"";
    params += (i ? ", ?" : "?") + std::to_string(i + 1);
    row.values.emplace_back(sqlite3_value_dup(sqlite3_column_value(sample.get(), i)));
    row.varies.push_back(shape.varying.contains(name));
    if (keys.contains(name)) key_match += (key_match.empty() ? "\"" : " AND \"") + name + "\" = ?" + std::to_string(i + 1);
  }
  row.insert = prepare(scratch.get(), "INSERT INTO \"" + table + "\" (" + columns + ") VALUES (" + params + ")");
  if (shape.read_first) row.read = prepare(scratch.get(), "SELECT * FROM \"" + table + "\" WHERE " + key_match);
  if (!row.insert || (shape.read_first && !row.read)) return std::nullopt;
  return row;
}

// Binds the row of commit `n` (its varying columns unique, in increasing order) to `stmt`.
void bind_row(sqlite3_stmt* stmt, const PreparedRow& row, int64_t n, std::string& scratch_text) {
  for (std::size_t i = 0; i < row.values.size(); ++i) {
    const int index = static_cast<int>(i) + 1;
    sqlite3_value* value = row.values[i].get();
    if (!row.varies[i]) {
      sqlite3_bind_value(stmt, index, value);
    } else if (sqlite3_value_type(value) == SQLITE_INTEGER) {
      sqlite3_bind_int64(stmt, index, 1'000'000'000 + n);
    } else {
      char suffix[24];
      std::snprintf(suffix, sizeof suffix, "~%012lld", static_cast<long long>(n));
      scratch_text.assign(reinterpret_cast<const char*>(sqlite3_value_text(value)));
      scratch_text += suffix;
      sqlite3_bind_text(stmt, index, scratch_text.data(), static_cast<int>(scratch_text.size()), SQLITE_TRANSIENT);
    }
  }
}

// Transactions of `batch` units for `seconds`: `write_unit(n)` writes unit n and says whether it
// succeeded. Only the units of committed transactions count.
template <class WriteUnit>
std::optional<Ceiling> run_batches(ScratchDb& db, int batch, double seconds, WriteUnit&& write_unit) {
  Ceiling result{batch};
  const auto started = Clock::now();
  const auto until = started + std::chrono::duration<double>(seconds);
  while (db.ok() && Clock::now() < until) {
    bool ok = db.exec("BEGIN");
    for (int b = 0; ok && b < batch; ++b) ok = write_unit(result.units + b);
    if (ok && db.exec("COMMIT")) result.units += batch;
  }
  result.seconds = std::chrono::duration<double>(Clock::now() - started).count();
  if (!db.ok()) return std::nullopt;
  return result;
}

}  // namespace

std::optional<Ceiling> row_ceiling(const std::string& dir, int batch, double seconds) {
  ScratchDb db(dir, "ablo_load_ceiling.db", /*synchronous_full=*/true);
  if (!db.ok() ||
      !db.exec("CREATE TABLE rows(id TEXT PRIMARY KEY, organization_id TEXT NOT NULL, data TEXT NOT NULL)")) {
    return std::nullopt;
  }
  auto insert = prepare(db.get(), "INSERT INTO rows(id, organization_id, data) VALUES(?1, ?2, ?3)");
  if (!insert) return std::nullopt;
  std::string id, data;
  return run_batches(db, batch, seconds, [&](int64_t n) {
    id = "c" + std::to_string(n);
    data = R"({"title":"load","n":)" + std::to_string(n) + R"(,"sentAt":)" + std::to_string(now_us()) +
           R"(,"organization_id":"org_ceiling_0000000000"})";
    sqlite3_bind_text(insert.get(), 1, id.data(), static_cast<int>(id.size()), SQLITE_TRANSIENT);
    sqlite3_bind_text(insert.get(), 2, "org_ceiling_0000000000", -1, SQLITE_STATIC);
    sqlite3_bind_text(insert.get(), 3, data.data(), static_cast<int>(data.size()), SQLITE_TRANSIENT);
    return db.run(insert.get());
  });
}

std::optional<Ceiling> commit_shaped_ceiling(const std::string& dir, const std::string& server_db, int batch,
                                             double seconds, bool synchronous_full) {
  sqlite3* server = nullptr;
  if (sqlite3_open_v2(server_db.c_str(), &server, SQLITE_OPEN_READONLY, nullptr) != SQLITE_OK) {
    std::fprintf(stderr, "ceiling: cannot open the server's database %s\n", server_db.c_str());
    sqlite3_close(server);
    return std::nullopt;
  }
  ScratchDb db(dir, "ablo_load_commit_ceiling.db", synchronous_full);
  std::vector<PreparedRow> rows;
  std::set<std::string> created;
  for (const auto& shape : commit_rows()) {
    if (!db.ok()) break;
    auto row = prepare_row(server, db, shape, created);
    if (!row) break;
    rows.push_back(std::move(*row));
  }
  sqlite3_close(server);
  if (!db.ok() || rows.size() != commit_rows().size()) return std::nullopt;

  std::string text;
  return run_batches(db, batch, seconds, [&](int64_t n) {
    for (auto& row : rows) {
      if (row.read) {  // a new key: never found
        bind_row(row.read.get(), row, n, text);
        if (!db.run(row.read.get())) return false;
      }
      bind_row(row.insert.get(), row, n, text);
      if (!db.run(row.insert.get())) return false;
    }
    return true;
  });
}

}  // namespace ablo::bench
