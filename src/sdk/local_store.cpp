// The client's local SQLite store: file checks, the store thread, group commit (design §3).
#include "sdk/local_store.h"

#include <fcntl.h>
#include <sqlite3.h>
#include <sys/file.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <charconv>
#include <cerrno>
#include <condition_variable>
#include <cstring>
#include <ctime>
#include <deque>
#include <filesystem>
#include <future>
#include <mutex>
#include <thread>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "sdk/sdk_error_code.h"

namespace ablo::sdk_detail {

namespace local_store_impl {

namespace fs = std::filesystem;

bool is_memory_path(const std::string& path) { return path.empty() || path == ":memory:"; }

// A number stored as text (meta values, pragma results); 0 when it is not one — a damaged file
// must not throw out of open().
int64_t integer_from_text(const std::string& text) {
  int64_t value = 0;
  const auto parsed = std::from_chars(text.data(), text.data() + text.size(), value);
  return parsed.ec == std::errc() ? value : 0;
}

int64_t now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// Disk-level failures make the store unusable (db_not_opened); anything else (a constraint, a
// misuse) is a bug of ours (internal_error).
Error sqlite_failure(sqlite3* db, int rc, std::string_view what) {
  const std::string reason = db != nullptr ? sqlite3_errmsg(db) : sqlite3_errstr(rc);
  std::string message = fmt::format("local store: {}: {}", what, reason);
  switch (rc & 0xff) {
    case SQLITE_FULL:
    case SQLITE_IOERR:
    case SQLITE_CORRUPT:
    case SQLITE_NOTADB:
    case SQLITE_CANTOPEN:
    case SQLITE_READONLY:
    case SQLITE_PERM:
      return sdk_error("db_not_opened", std::move(message));
    default:
      return sdk_error("internal_error", std::move(message));
  }
}

// One prepared statement; bind/step/read helpers. Reset (and unbound) before each use.
class Statement {
 public:
  Statement(sqlite3* db, sqlite3_stmt* stmt) : db_(db), stmt_(stmt) {}
  ~Statement() { sqlite3_finalize(stmt_); }
  Statement(const Statement&) = delete;
  Statement& operator=(const Statement&) = delete;

  void reset() {
    sqlite3_reset(stmt_);
    sqlite3_clear_bindings(stmt_);
  }
  void bind(int index, const std::string& text) {
    sqlite3_bind_text(stmt_, index, text.data(), static_cast<int>(text.size()), SQLITE_TRANSIENT);
  }
  void bind(int index, int64_t value) { sqlite3_bind_int64(stmt_, index, value); }
  void bind(int index, const std::optional<std::string>& text) {
    if (text) bind(index, *text); else sqlite3_bind_null(stmt_, index);
  }
  void bind(int index, const std::optional<int64_t>& value) {
    if (value) bind(index, *value); else sqlite3_bind_null(stmt_, index);
  }

  // true: a row is ready; false: done.
  Result<bool> step(std::string_view what) {
    const int rc = sqlite3_step(stmt_);
    if (rc == SQLITE_ROW) return true;
    if (rc == SQLITE_DONE) return false;
    return tl::unexpected(sqlite_failure(db_, rc, what));
  }
  Status run(std::string_view what) {
    auto stepped = step(what);
    reset();
    if (!stepped) return tl::unexpected(stepped.error());
    return {};
  }

  std::string text(int column) const {
    const auto* data = reinterpret_cast<const char*>(sqlite3_column_text(stmt_, column));
    return data == nullptr ? std::string() : std::string(data, static_cast<std::size_t>(sqlite3_column_bytes(stmt_, column)));
  }
  std::optional<std::string> optional_text(int column) const {
    if (sqlite3_column_type(stmt_, column) == SQLITE_NULL) return std::nullopt;
    return text(column);
  }
  int64_t integer(int column) const { return sqlite3_column_int64(stmt_, column); }
  std::optional<int64_t> optional_integer(int column) const {
    if (sqlite3_column_type(stmt_, column) == SQLITE_NULL) return std::nullopt;
    return integer(column);
  }

 private:
  sqlite3* db_;
  sqlite3_stmt* stmt_;
};

// One SQLite connection with a cache of prepared statements.
class Connection {
 public:
  static Result<std::unique_ptr<Connection>> open(const std::string& path, int flags) {
    sqlite3* db = nullptr;
    const int rc = sqlite3_open_v2(path.c_str(), &db, flags, nullptr);
    if (rc != SQLITE_OK) {
      Error error = sdk_error("db_not_opened", sqlite_failure(db, rc, "open " + path).message);
      sqlite3_close_v2(db);
      return tl::unexpected(std::move(error));
    }
    sqlite3_extended_result_codes(db, 1);
    return std::unique_ptr<Connection>(new Connection(db));
  }
  ~Connection() {
    cache_.clear();
    sqlite3_close_v2(db_);
  }
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  sqlite3* db() const { return db_; }

  Status exec(const std::string& sql) {
    char* message = nullptr;
    const int rc = sqlite3_exec(db_, sql.c_str(), nullptr, nullptr, &message);
    sqlite3_free(message);
    if (rc != SQLITE_OK) return tl::unexpected(sqlite_failure(db_, rc, sql.substr(0, 60)));
    return {};
  }

  // A cached statement, reset and unbound.
  Result<Statement*> statement(const std::string& sql) {
    auto found = cache_.find(sql);
    if (found == cache_.end()) {
      sqlite3_stmt* raw = nullptr;
      const int rc = sqlite3_prepare_v2(db_, sql.c_str(), static_cast<int>(sql.size()), &raw, nullptr);
      if (rc != SQLITE_OK) return tl::unexpected(sqlite_failure(db_, rc, "prepare " + sql.substr(0, 60)));
      found = cache_.emplace(sql, std::make_unique<Statement>(db_, raw)).first;
    }
    found->second->reset();
    return found->second.get();
  }

  // The first column of the first row of `sql` as text ("" when no row).
  Result<std::string> scalar_text(const std::string& sql) {
    auto stmt = statement(sql);
    if (!stmt) return tl::unexpected(stmt.error());
    auto row = (*stmt)->step(sql);
    if (!row) return tl::unexpected(row.error());
    std::string value = *row ? (*stmt)->text(0) : std::string();
    (*stmt)->reset();
    return value;
  }

 private:
  explicit Connection(sqlite3* db) : db_(db) {}
  sqlite3* db_;
  std::map<std::string, std::unique_ptr<Statement>> cache_;
};

Status run_in_transaction(Connection& connection, const std::function<Status()>& body) {
  if (auto begun = connection.exec("BEGIN IMMEDIATE"); !begun) return begun;
  Status result = body();
  if (result) result = connection.exec("COMMIT");
  if (!result) (void)connection.exec("ROLLBACK");
  return result;
}

// An exclusive flock on <path>.lock held for the store's lifetime: two clients never share a file.
class LockFile {
 public:
  LockFile() = default;
  explicit LockFile(int fd) : fd_(fd) {}
  LockFile(LockFile&& other) noexcept : fd_(std::exchange(other.fd_, -1)) {}
  LockFile& operator=(LockFile&& other) noexcept {
    std::swap(fd_, other.fd_);
    return *this;
  }
  ~LockFile() {
    if (fd_ >= 0) ::close(fd_);  // releases the flock
  }

  static Result<LockFile> acquire(const std::string& store_path) {
    const std::string lock_path = store_path + ".lock";
    const int fd = ::open(lock_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0) {
      return sdk_fail("db_not_opened", fmt::format("local store {}: cannot create lock file: {}", store_path,
                                                   std::strerror(errno)));
    }
    LockFile lock(fd);
    if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
      return sdk_fail("db_not_opened", fmt::format("local store {}: store in use by another client", store_path));
    }
    return lock;
  }

 private:
  int fd_ = -1;
};

constexpr const char* kCreateTables = R"sql(
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;
CREATE TABLE rows (
  model    TEXT    NOT NULL,
  id       TEXT    NOT NULL,
  data     TEXT    NOT NULL,
  version  INTEGER NOT NULL,
  archived INTEGER NOT NULL DEFAULT 0,
  PRIMARY KEY (model, id)
) WITHOUT ROWID;
CREATE TABLE outbox (
  seq            INTEGER PRIMARY KEY,
  lane           TEXT NOT NULL,
  transaction_id TEXT NOT NULL UNIQUE,
  frame_id       TEXT,
  action         TEXT NOT NULL,
  model          TEXT NOT NULL,
  row_id         TEXT NOT NULL,
  data           TEXT,
  previous       TEXT,
  read_at        INTEGER,
  on_stale       TEXT,
  attempts       INTEGER NOT NULL DEFAULT 0,
  retry_spent_ms INTEGER NOT NULL DEFAULT 0,
  acked_sync_id  INTEGER,
  undo_scope     TEXT,
  created_at     INTEGER NOT NULL
);
CREATE INDEX outbox_row ON outbox (model, row_id);
)sql";

constexpr const char* kSelectOutbox =
    "SELECT seq, lane, transaction_id, frame_id, action, model, row_id, data, previous, read_at, on_stale, "
    "attempts, retry_spent_ms, acked_sync_id, undo_scope, created_at FROM outbox ORDER BY seq";

constexpr const char* kInsertOutbox =
    "INSERT INTO outbox (seq, lane, transaction_id, frame_id, action, model, row_id, data, previous, read_at, "
    "on_stale, attempts, retry_spent_ms, acked_sync_id, undo_scope, created_at) "
    "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16) "
    // The same seq again is an outbox merge (§5.7): the entry takes the merged payload. Another
    // entry's transaction_id is still refused (UNIQUE), never replaced.
    "ON CONFLICT (seq) DO UPDATE SET lane = excluded.lane, transaction_id = excluded.transaction_id, "
    "frame_id = excluded.frame_id, action = excluded.action, model = excluded.model, row_id = excluded.row_id, "
    "data = excluded.data, previous = excluded.previous, read_at = excluded.read_at, on_stale = excluded.on_stale, "
    "attempts = excluded.attempts, retry_spent_ms = excluded.retry_spent_ms, acked_sync_id = excluded.acked_sync_id, "
    "undo_scope = excluded.undo_scope, created_at = excluded.created_at";

constexpr const char* kUpsertMeta =
    "INSERT INTO meta (key, value) VALUES (?1, ?2) ON CONFLICT (key) DO UPDATE SET value = excluded.value";

// meta.last_seq only grows.
constexpr const char* kRaiseLastSeq =
    "INSERT INTO meta (key, value) VALUES ('last_seq', ?1) ON CONFLICT (key) DO UPDATE SET value = excluded.value "
    "WHERE CAST(meta.value AS INTEGER) < CAST(excluded.value AS INTEGER)";

constexpr const char* kUpsertRow =
    "INSERT INTO rows (model, id, data, version, archived) VALUES (?1, ?2, ?3, ?4, ?5) "
    "ON CONFLICT (model, id) DO UPDATE SET data = excluded.data, version = excluded.version, "
    "archived = excluded.archived";

constexpr const char* kCreateRebuildTable =
    "CREATE TEMP TABLE IF NOT EXISTS rows_rebuild (model TEXT NOT NULL, id TEXT NOT NULL, data TEXT NOT NULL, "
    "version INTEGER NOT NULL, archived INTEGER NOT NULL DEFAULT 0, PRIMARY KEY (model, id)) WITHOUT ROWID";

StoredOutboxEntry outbox_entry_from(const Statement& row) {
  StoredOutboxEntry entry;
  entry.seq = row.integer(0);
  entry.lane = row.text(1);
  entry.transaction_id = row.text(2);
  entry.frame_id = row.optional_text(3);
  entry.action = row.text(4);
  entry.model = row.text(5);
  entry.row_id = row.text(6);
  entry.data = row.optional_text(7);
  entry.previous = row.optional_text(8);
  entry.read_at = row.optional_integer(9);
  entry.on_stale = row.optional_text(10);
  entry.attempts = row.integer(11);
  entry.retry_spent_ms = row.integer(12);
  entry.acked_sync_id = row.optional_integer(13);
  entry.undo_scope = row.optional_text(14);
  entry.created_at = row.integer(15);
  return entry;
}

// Reads the outbox in seq order; stops at the first unreadable row (what was read is kept).
Status read_outbox(Connection& connection, std::vector<StoredOutboxEntry>& out) {
  auto stmt = connection.statement(kSelectOutbox);
  if (!stmt) return tl::unexpected(stmt.error());
  for (;;) {
    auto row = (*stmt)->step("read outbox");
    if (!row) return tl::unexpected(row.error());
    if (!*row) break;
    out.push_back(outbox_entry_from(**stmt));
  }
  (*stmt)->reset();
  return {};
}

Status read_meta(Connection& connection, StoreMeta& out) {
  auto stmt = connection.statement("SELECT key, value FROM meta");
  if (!stmt) return tl::unexpected(stmt.error());
  for (;;) {
    auto row = (*stmt)->step("read meta");
    if (!row) return tl::unexpected(row.error());
    if (!*row) break;
    out[(*stmt)->text(0)] = (*stmt)->text(1);
  }
  (*stmt)->reset();
  return {};
}

Status read_rows(Connection& connection, std::vector<StoredRow>& out) {
  auto stmt = connection.statement("SELECT model, id, data, version, archived FROM rows ORDER BY model, id");
  if (!stmt) return tl::unexpected(stmt.error());
  for (;;) {
    auto row = (*stmt)->step("read rows");
    if (!row) return tl::unexpected(row.error());
    if (!*row) break;
    out.push_back(StoredRow{(*stmt)->text(0), (*stmt)->text(1), (*stmt)->text(2), (*stmt)->integer(3),
                            (*stmt)->integer(4) != 0});
  }
  (*stmt)->reset();
  return {};
}

Status insert_outbox(Connection& connection, const StoredOutboxEntry& entry) {
  auto stmt = connection.statement(kInsertOutbox);
  if (!stmt) return tl::unexpected(stmt.error());
  Statement& s = **stmt;
  s.bind(1, entry.seq);
  s.bind(2, entry.lane);
  s.bind(3, entry.transaction_id);
  s.bind(4, entry.frame_id);
  s.bind(5, entry.action);
  s.bind(6, entry.model);
  s.bind(7, entry.row_id);
  s.bind(8, entry.data);
  s.bind(9, entry.previous);
  s.bind(10, entry.read_at);
  s.bind(11, entry.on_stale);
  s.bind(12, entry.attempts);
  s.bind(13, entry.retry_spent_ms);
  s.bind(14, entry.acked_sync_id);
  s.bind(15, entry.undo_scope);
  s.bind(16, entry.created_at);
  if (auto inserted = s.run("append outbox"); !inserted) return inserted;
  auto raise = connection.statement(kRaiseLastSeq);
  if (!raise) return tl::unexpected(raise.error());
  (*raise)->bind(1, std::to_string(entry.seq));
  return (*raise)->run("raise last_seq");
}

Status upsert_meta(Connection& connection, const std::string& key, const std::string& value) {
  auto stmt = connection.statement(kUpsertMeta);
  if (!stmt) return tl::unexpected(stmt.error());
  (*stmt)->bind(1, key);
  (*stmt)->bind(2, value);
  return (*stmt)->run("set meta");
}

Status delete_outbox_seqs(Connection& connection, const std::vector<int64_t>& seqs) {
  auto stmt = connection.statement("DELETE FROM outbox WHERE seq = ?1");
  if (!stmt) return tl::unexpected(stmt.error());
  for (int64_t seq : seqs) {
    (*stmt)->bind(1, seq);
    if (auto removed = (*stmt)->run("remove outbox"); !removed) return removed;
  }
  return {};
}

// ---- §3.6: what open() finds in an existing file ------------------------------------------

struct FileVerdict {
  enum class Kind { kNew, kGood, kCorrupt, kForeign, kNewerFormat } kind = Kind::kNew;
  std::string detail;
  // Corrupt files of ours: what could still be read (only when the identity meta was readable).
  std::vector<StoredOutboxEntry> carried_outbox;
  StoreMeta carried_meta;
  std::size_t outbox_lost = 0;
};

bool has_table(Connection& connection, const std::string& name) {
  auto found = connection.scalar_text("SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = '" + name + "'");
  return found && *found == "1";
}

// A damaged file that is still ours: carry the outbox into the new file when it and the identity
// meta can be read (the writes must not be replayed under another identity, §3.6 row 4).
void salvage_outbox(Connection& connection, FileVerdict& verdict) {
  auto total_text = connection.scalar_text("SELECT count(*) FROM outbox");
  const std::size_t total = total_text ? static_cast<std::size_t>(std::max<int64_t>(0, integer_from_text(*total_text))) : 0;
  StoreMeta meta;
  std::vector<StoredOutboxEntry> outbox;
  const bool meta_read = static_cast<bool>(read_meta(connection, meta));
  (void)read_outbox(connection, outbox);  // keeps the rows read before a damaged page
  if (!meta_read) {
    verdict.outbox_lost = std::max(total, outbox.size());
    return;
  }
  for (const char* key : {"base_url", "organization_id", "participant_id", "last_seq"}) {
    if (auto found = meta.find(key); found != meta.end()) verdict.carried_meta[key] = found->second;
  }
  verdict.outbox_lost = total > outbox.size() ? total - outbox.size() : 0;
  verdict.carried_outbox = std::move(outbox);
}

// One short line of what SQLite reported: quick_check lists every damaged page, and our own
// failure messages carry a "local store: <statement>: " prefix before SQLite's reason.
std::string corruption_summary(const std::string& report) {
  std::string text = report;
  const std::string banner = "*** in database main ***\n";
  if (text.rfind(banner, 0) == 0) text.erase(0, banner.size());
  text = text.substr(0, text.find('\n'));
  if (const auto reason = text.rfind(": "); text.rfind("local store: ", 0) == 0 && reason != std::string::npos) {
    text.erase(0, reason + 2);
  }
  return text.size() > 200 ? text.substr(0, 200) + "…" : text;
}

FileVerdict check_existing_file(const std::string& path) {
  FileVerdict verdict;
  std::error_code ec;
  if (!fs::exists(path, ec) || fs::file_size(path, ec) == 0) return verdict;  // a new store

  auto opened = Connection::open(path, SQLITE_OPEN_READONLY);
  if (!opened) {
    verdict.kind = FileVerdict::Kind::kCorrupt;
    verdict.detail = "corrupt: " + opened.error().message;
    return verdict;
  }
  Connection& connection = **opened;
  const auto application_id = connection.scalar_text("PRAGMA application_id");
  const auto format = connection.scalar_text("PRAGMA user_version");
  const bool ours_by_header = application_id && *application_id == std::to_string(LocalStore::kApplicationId);

  auto check = connection.scalar_text("PRAGMA quick_check");
  if (!check || *check != "ok") {
    verdict.kind = FileVerdict::Kind::kCorrupt;
    verdict.detail = "corrupt: " + corruption_summary(check ? *check : check.error().message);
    if (ours_by_header && format && *format == std::to_string(LocalStore::kFormat) && has_table(connection, "outbox")) {
      salvage_outbox(connection, verdict);
    }
    return verdict;
  }
  auto tables = connection.scalar_text("SELECT count(*) FROM sqlite_master");
  if (application_id && *application_id == "0" && format && *format == "0" && tables && *tables == "0") {
    return verdict;  // an empty SQLite file: start a new store in it
  }
  if (!ours_by_header) {
    verdict.kind = FileVerdict::Kind::kForeign;
    verdict.detail = "foreign: not an Ablo client store";
    return verdict;
  }
  const int64_t version = format ? integer_from_text(*format) : 0;
  if (version > LocalStore::kFormat) {
    verdict.kind = FileVerdict::Kind::kNewerFormat;
    verdict.detail = fmt::format("written by a newer library (format {})", version);
    return verdict;
  }
  if (version < LocalStore::kFormat || !has_table(connection, "meta") || !has_table(connection, "rows") ||
      !has_table(connection, "outbox")) {
    verdict.kind = FileVerdict::Kind::kForeign;
    verdict.detail = "foreign: not an Ablo client store (tables missing)";
    return verdict;
  }
  verdict.kind = FileVerdict::Kind::kGood;
  return verdict;
}

std::string utc_stamp() {
  const std::time_t now = std::time(nullptr);
  std::tm parts{};
  gmtime_r(&now, &parts);
  char text[32];
  std::strftime(text, sizeof text, "%Y%m%dT%H%M%SZ", &parts);
  return text;
}

// Renames the file aside (never deletes it). The -wal/-shm go first: a stale WAL left next to a
// new file would be replayed into it.
Result<std::string> move_aside(const std::string& path) {
  const std::string base = path + ".bad-" + utc_stamp();
  std::string target = base;
  std::error_code ec;
  for (int n = 1; fs::exists(target, ec) || fs::exists(target + "-wal", ec); ++n) target = fmt::format("{}-{}", base, n);
  for (const char* suffix : {"-wal", "-shm"}) {
    if (!fs::exists(path + suffix, ec)) continue;
    fs::rename(path + suffix, target + suffix, ec);
    if (ec) return sdk_fail("db_not_opened", fmt::format("local store {}: cannot move {} aside: {}", path, suffix, ec.message()));
  }
  fs::rename(path, target, ec);
  if (ec) return sdk_fail("db_not_opened", fmt::format("local store {}: cannot move it aside: {}", path, ec.message()));
  return target;
}

StoreFileEvent::Kind event_kind_of(FileVerdict::Kind kind) {
  switch (kind) {
    case FileVerdict::Kind::kForeign: return StoreFileEvent::Kind::kForeign;
    case FileVerdict::Kind::kNewerFormat: return StoreFileEvent::Kind::kNewerFormat;
    default: return StoreFileEvent::Kind::kCorrupt;
  }
}

Status apply_connection_settings(Connection& connection, bool in_memory) {
  sqlite3_busy_timeout(connection.db(), 0);  // the flock already excludes other clients
  for (const char* pragma : {"PRAGMA foreign_keys = OFF", "PRAGMA synchronous = NORMAL"}) {
    if (auto set = connection.exec(pragma); !set) return set;
  }
  auto mode = connection.scalar_text("PRAGMA journal_mode = WAL");
  if (!mode) return tl::unexpected(mode.error());
  if (*mode != (in_memory ? "memory" : "wal")) {
    return sdk_fail("db_not_opened", "local store: cannot switch to WAL (journal_mode " + *mode + ")");
  }
  return {};
}

Status create_format_1(Connection& connection, const LocalStoreOptions& options, const FileVerdict& carried) {
  return run_in_transaction(connection, [&]() -> Status {
    if (auto created = connection.exec(kCreateTables); !created) return created;
    if (auto set = connection.exec(fmt::format("PRAGMA application_id = {}", LocalStore::kApplicationId)); !set) return set;
    if (auto set = connection.exec(fmt::format("PRAGMA user_version = {}", LocalStore::kFormat)); !set) return set;
    StoreMeta meta = carried.carried_meta;
    meta["format"] = std::to_string(LocalStore::kFormat);
    meta["library_version"] = options.library_version;
    meta["created_at"] = std::to_string(now_ms());
    for (const auto& [key, value] : meta) {
      if (auto set = upsert_meta(connection, key, value); !set) return set;
    }
    for (const auto& entry : carried.carried_outbox) {
      if (auto inserted = insert_outbox(connection, entry); !inserted) return inserted;
    }
    return {};
  });
}

// The highest seq ever issued (meta.last_seq survives the removal of its row).
Result<int64_t> last_issued_seq(Connection& connection) {
  auto from_meta = connection.scalar_text("SELECT value FROM meta WHERE key = 'last_seq'");
  if (!from_meta) return tl::unexpected(from_meta.error());
  auto from_rows = connection.scalar_text("SELECT coalesce(max(seq), 0) FROM outbox");
  if (!from_rows) return tl::unexpected(from_rows.error());
  return std::max(integer_from_text(*from_meta), integer_from_text(*from_rows));
}

struct Job {
  bool is_append = false;                        // consecutive appends share one transaction
  std::function<Status(Connection&)> work;       // runs inside the job's transaction
  LocalStore::Completion done;
};

void complete(const LocalStore::Completion& done, const Status& status) {
  if (!done) return;
  try {
    done(status);
  } catch (const std::exception& e) {
    spdlog::error("local store: a completion callback threw: {}", e.what());
  } catch (...) {
    spdlog::error("local store: a completion callback threw");
  }
}

}  // namespace local_store_impl

IdentityVerdict judge_identity(const StoreMeta& stored, const StoreIdentity& current) {
  const auto differs = [&stored](const char* key, const std::string& now) {
    const auto found = stored.find(key);
    return found != stored.end() && !found->second.empty() && !now.empty() && found->second != now;
  };
  const bool participant_changed = differs("participant_id", current.participant_id);
  if (participant_changed) return IdentityVerdict::kServerChangedDropOutbox;
  if (differs("base_url", current.base_url) || differs("organization_id", current.organization_id)) {
    return IdentityVerdict::kServerChangedKeepOutbox;
  }
  return IdentityVerdict::kSame;
}

struct LocalStore::Impl {
  // Declared first, destroyed last: the flock outlives the connection.
  local_store_impl::LockFile lock;
  std::unique_ptr<local_store_impl::Connection> connection;  // the store thread's alone once started
  LocalStoreOptions options;
  std::atomic<int64_t> last_seq{0};
  std::atomic<uint64_t> committed_transactions{0};
  bool rebuild_active = false;  // store thread only

  std::mutex mutex;
  std::condition_variable not_empty;
  std::condition_variable not_full;
  std::deque<local_store_impl::Job> queue;
  bool closing = false;
  std::thread thread;

  Status fault(std::string_view point) const {
    return options.fault_for_test ? options.fault_for_test(point) : Status{};
  }

  Status post(local_store_impl::Job job) {
    std::unique_lock lock_queue(mutex);
    const bool has_room = not_full.wait_for(lock_queue, options.enqueue_timeout,
                                            [this] { return closing || queue.size() < options.max_queued_jobs; });
    if (closing) return sdk_fail("model_disposed", "local store is closing");
    if (!has_room) {
      return sdk_fail("internal_error", fmt::format("local store queue stayed full ({} jobs) for {} ms",
                                                    options.max_queued_jobs, options.enqueue_timeout.count()));
    }
    queue.push_back(std::move(job));
    lock_queue.unlock();
    not_empty.notify_one();
    return {};
  }

  void run() {
    for (;;) {
      std::vector<local_store_impl::Job> group;
      {
        std::unique_lock lock_queue(mutex);
        not_empty.wait(lock_queue, [this] { return closing || !queue.empty(); });
        if (queue.empty()) return;  // closing, and drained
        group.push_back(std::move(queue.front()));
        queue.pop_front();
        while (group.front().is_append && !queue.empty() && queue.front().is_append &&
               group.size() < options.max_group_commit) {
          group.push_back(std::move(queue.front()));
          queue.pop_front();
        }
      }
      not_full.notify_all();
      execute(group);
    }
  }

  // No exception leaves the store thread: one (bad_alloc, say) fails the job's transaction.
  static Status run_guarded(const local_store_impl::Job& job, local_store_impl::Connection& connection) {
    try {
      return job.work(connection);
    } catch (const std::exception& e) {
      return sdk_fail("internal_error", std::string("local store job failed: ") + e.what());
    } catch (...) {
      return sdk_fail("internal_error", "local store job failed");
    }
  }

  Status run_jobs(const std::vector<local_store_impl::Job>& jobs) {
    Status outcome = local_store_impl::run_in_transaction(*connection, [&]() -> Status {
      for (const auto& job : jobs) {
        if (auto done = run_guarded(job, *connection); !done) return done;
      }
      return {};
    });
    if (outcome) committed_transactions.fetch_add(1, std::memory_order_relaxed);
    return outcome;
  }

  // One transaction for the group; if it fails and holds several appends, each runs alone so
  // one bad entry (say a duplicate transaction_id) fails only its own caller.
  void execute(std::vector<local_store_impl::Job>& group) {
    const Status together = run_jobs(group);
    if (together || group.size() == 1) {
      for (const auto& job : group) local_store_impl::complete(job.done, together);
      return;
    }
    for (auto& job : group) {
      std::vector<local_store_impl::Job> alone;
      alone.push_back(std::move(job));
      local_store_impl::complete(alone.front().done, run_jobs(alone));
    }
  }

  // Posts `work` and waits (bounded) for its outcome.
  Status run_and_wait(std::function<Status(local_store_impl::Connection&)> work, std::chrono::milliseconds timeout) {
    if (std::this_thread::get_id() == thread.get_id()) {
      return sdk_fail("internal_error", "a blocking local store call from a completion callback would deadlock");
    }
    auto outcome = std::make_shared<std::promise<Status>>();
    auto future = outcome->get_future();
    local_store_impl::Job job;
    job.work = std::move(work);
    job.done = [outcome](Status status) { outcome->set_value(std::move(status)); };
    if (auto posted = post(std::move(job)); !posted) return posted;
    if (future.wait_for(timeout) != std::future_status::ready) {
      return sdk_fail("internal_error", fmt::format("local store did not answer within {} ms", timeout.count()));
    }
    return future.get();
  }
};

LocalStore::LocalStore(std::unique_ptr<Impl> impl, std::string path, std::optional<StoreFileEvent> event)
    : impl_(std::move(impl)), path_(std::move(path)), file_event_(std::move(event)) {}

LocalStore::~LocalStore() {
  {
    std::lock_guard lock_queue(impl_->mutex);
    impl_->closing = true;
  }
  impl_->not_empty.notify_all();
  impl_->not_full.notify_all();
  if (impl_->thread.joinable()) impl_->thread.join();  // the run loop drains the queue first
}

Result<std::unique_ptr<LocalStore>> LocalStore::open(const std::string& path, StoreRecovery recovery,
                                                     LocalStoreOptions options) {
  namespace impl = local_store_impl;
  const bool in_memory = impl::is_memory_path(path);
  auto state = std::make_unique<Impl>();
  state->options = std::move(options);

  impl::FileVerdict verdict;
  std::optional<StoreFileEvent> event;
  if (!in_memory) {
    auto lock = impl::LockFile::acquire(path);  // before looking at the file: it may be in use
    if (!lock) return tl::unexpected(lock.error());
    state->lock = std::move(*lock);
    verdict = impl::check_existing_file(path);
    const bool bad = verdict.kind != impl::FileVerdict::Kind::kNew && verdict.kind != impl::FileVerdict::Kind::kGood;
    if (bad && recovery == StoreRecovery::kFail) {
      return sdk_fail("db_not_opened", fmt::format("local store {}: {}", path, verdict.detail));
    }
    if (bad) {
      auto moved = impl::move_aside(path);
      if (!moved) return tl::unexpected(moved.error());
      event = StoreFileEvent{impl::event_kind_of(verdict.kind), verdict.detail, *moved, verdict.outbox_lost,
                             verdict.carried_outbox.size()};
      spdlog::warn("local store {}: {}; moved to {}", path, verdict.detail, *moved);
    }
  }

  auto connection = impl::Connection::open(in_memory ? ":memory:" : path,
                                           SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX);
  if (!connection) return tl::unexpected(connection.error());
  state->connection = std::move(*connection);
  if (auto set = impl::apply_connection_settings(*state->connection, in_memory); !set) return tl::unexpected(set.error());
  if (verdict.kind != impl::FileVerdict::Kind::kGood) {
    if (auto created = impl::create_format_1(*state->connection, state->options, verdict); !created) {
      return tl::unexpected(sdk_error("db_not_opened", created.error().message));
    }
  }
  auto last_seq = impl::last_issued_seq(*state->connection);
  if (!last_seq) return tl::unexpected(last_seq.error());
  state->last_seq = *last_seq;

  Impl* running = state.get();
  state->thread = std::thread([running] { running->run(); });
  return std::unique_ptr<LocalStore>(new LocalStore(std::move(state), path, std::move(event)));
}

Result<LoadedState> LocalStore::load(std::chrono::milliseconds timeout) {
  auto loaded = std::make_shared<LoadedState>();
  auto read = impl_->run_and_wait(
      [loaded](local_store_impl::Connection& connection) -> Status {
        if (auto meta = local_store_impl::read_meta(connection, loaded->meta); !meta) return meta;
        if (auto rows = local_store_impl::read_rows(connection, loaded->rows); !rows) return rows;
        return local_store_impl::read_outbox(connection, loaded->outbox);
      },
      timeout);
  if (!read) return tl::unexpected(read.error());
  return std::move(*loaded);
}

int64_t LocalStore::allocate_outbox_seq() { return ++impl_->last_seq; }

Status LocalStore::append_outbox(std::vector<StoredOutboxEntry> entries, Completion done) {
  for (auto& entry : entries) {
    if (entry.seq == 0) {
      entry.seq = allocate_outbox_seq();
      continue;
    }
    int64_t seen = impl_->last_seq.load();  // a caller-chosen seq still moves the counter past it
    while (seen < entry.seq && !impl_->last_seq.compare_exchange_weak(seen, entry.seq)) {
    }
  }
  local_store_impl::Job job;
  job.is_append = true;
  job.done = std::move(done);
  Impl* state = impl_.get();
  job.work = [state, entries = std::move(entries)](local_store_impl::Connection& connection) -> Status {
    for (const auto& entry : entries) {
      if (auto inserted = local_store_impl::insert_outbox(connection, entry); !inserted) return inserted;
    }
    return state->fault("append_outbox");
  };
  return impl_->post(std::move(job));
}

Status LocalStore::mark_sent(std::vector<int64_t> seqs, std::string frame_id, Completion done) {
  local_store_impl::Job job;
  job.done = std::move(done);
  job.work = [seqs = std::move(seqs), frame_id = std::move(frame_id)](local_store_impl::Connection& connection) -> Status {
    auto stmt = connection.statement("UPDATE outbox SET frame_id = ?1 WHERE seq = ?2");
    if (!stmt) return tl::unexpected(stmt.error());
    for (int64_t seq : seqs) {
      (*stmt)->bind(1, frame_id);
      (*stmt)->bind(2, seq);
      if (auto updated = (*stmt)->run("mark sent"); !updated) return updated;
    }
    return {};
  };
  return impl_->post(std::move(job));
}

Status LocalStore::update_outbox_attempts(int64_t seq, int64_t attempts, int64_t retry_spent_ms,
                                          std::optional<int64_t> acked_sync_id, Completion done) {
  local_store_impl::Job job;
  job.done = std::move(done);
  job.work = [=](local_store_impl::Connection& connection) -> Status {
    auto stmt = connection.statement(
        "UPDATE outbox SET attempts = ?1, retry_spent_ms = ?2, acked_sync_id = ?3 WHERE seq = ?4");
    if (!stmt) return tl::unexpected(stmt.error());
    (*stmt)->bind(1, attempts);
    (*stmt)->bind(2, retry_spent_ms);
    (*stmt)->bind(3, acked_sync_id);
    (*stmt)->bind(4, seq);
    return (*stmt)->run("update outbox attempts");
  };
  return impl_->post(std::move(job));
}

Status LocalStore::remove_outbox(std::vector<int64_t> seqs, Completion done) {
  local_store_impl::Job job;
  job.done = std::move(done);
  job.work = [seqs = std::move(seqs)](local_store_impl::Connection& connection) {
    return local_store_impl::delete_outbox_seqs(connection, seqs);
  };
  return impl_->post(std::move(job));
}

Status LocalStore::apply_delta_batch(DeltaBatch batch, Completion done) {
  local_store_impl::Job job;
  job.done = std::move(done);
  Impl* state = impl_.get();
  job.work = [state, batch = std::move(batch)](local_store_impl::Connection& connection) -> Status {
    auto upsert = connection.statement(local_store_impl::kUpsertRow);
    if (!upsert) return tl::unexpected(upsert.error());
    for (const auto& row : batch.upserts) {
      (*upsert)->bind(1, row.model);
      (*upsert)->bind(2, row.id);
      (*upsert)->bind(3, row.data_json);
      (*upsert)->bind(4, row.version);
      (*upsert)->bind(5, int64_t{row.archived ? 1 : 0});
      if (auto written = (*upsert)->run("upsert row"); !written) return written;
    }
    auto remove = connection.statement("DELETE FROM rows WHERE model = ?1 AND id = ?2");
    if (!remove) return tl::unexpected(remove.error());
    for (const auto& key : batch.deletes) {
      (*remove)->bind(1, key.first);
      (*remove)->bind(2, key.second);
      if (auto removed = (*remove)->run("delete row"); !removed) return removed;
    }
    if (auto injected = state->fault("apply_delta_batch:rows"); !injected) return injected;
    if (batch.cursor) {
      if (auto set = local_store_impl::upsert_meta(connection, "cursor", std::to_string(*batch.cursor)); !set) return set;
    }
    if (batch.ws_cursor) {
      if (auto set = local_store_impl::upsert_meta(connection, "ws_cursor", *batch.ws_cursor); !set) return set;
    }
    if (auto injected = state->fault("apply_delta_batch:cursor"); !injected) return injected;
    return local_store_impl::delete_outbox_seqs(connection, batch.remove_outbox);
  };
  return impl_->post(std::move(job));
}

uint64_t LocalStore::committed_transactions() const { return impl_->committed_transactions.load(); }

Status LocalStore::set_meta(StoreMeta entries, Completion done) {
  local_store_impl::Job job;
  job.done = std::move(done);
  Impl* state = impl_.get();
  job.work = [state, entries = std::move(entries)](local_store_impl::Connection& connection) -> Status {
    if (auto injected = state->fault("set_meta"); !injected) return injected;
    for (const auto& entry : entries) {
      if (auto set = local_store_impl::upsert_meta(connection, entry.first, entry.second); !set) return set;
    }
    return {};
  };
  return impl_->post(std::move(job));
}

Status LocalStore::clear_for_server_change(bool keep_outbox, Completion done) {
  local_store_impl::Job job;
  job.done = std::move(done);
  Impl* state = impl_.get();
  job.work = [state, keep_outbox](local_store_impl::Connection& connection) -> Status {
    if (auto cleared = connection.exec("DELETE FROM rows"); !cleared) return cleared;
    if (auto cleared = connection.exec(
            "DELETE FROM meta WHERE key IN ('cursor', 'ws_cursor', 'bootstrapped_at', 'store_id')");
        !cleared) {
      return cleared;
    }
    if (auto injected = state->fault("clear_for_server_change"); !injected) return injected;
    if (keep_outbox) return {};
    return connection.exec("DELETE FROM outbox");
  };
  return impl_->post(std::move(job));
}

Status LocalStore::begin_rebuild(Completion done) {
  local_store_impl::Job job;
  job.done = std::move(done);
  Impl* state = impl_.get();
  job.work = [state](local_store_impl::Connection& connection) -> Status {
    if (auto created = connection.exec(local_store_impl::kCreateRebuildTable); !created) return created;
    if (auto cleared = connection.exec("DELETE FROM temp.rows_rebuild"); !cleared) return cleared;
    state->rebuild_active = true;  // store thread only; a rollback leaves nothing staged anyway
    return {};
  };
  return impl_->post(std::move(job));
}

Status LocalStore::add_rebuild_rows(std::vector<StoredRow> rows, Completion done) {
  if (rows.size() > kRebuildBatchRows) {
    return sdk_fail("invalid_request", fmt::format("add_rebuild_rows: {} rows, at most {} per batch", rows.size(),
                                                   kRebuildBatchRows));
  }
  local_store_impl::Job job;
  job.done = std::move(done);
  Impl* state = impl_.get();
  job.work = [state, rows = std::move(rows)](local_store_impl::Connection& connection) -> Status {
    if (!state->rebuild_active) return sdk_fail("internal_error", "add_rebuild_rows without begin_rebuild");
    auto stmt = connection.statement(
        "INSERT OR REPLACE INTO temp.rows_rebuild (model, id, data, version, archived) VALUES (?1, ?2, ?3, ?4, ?5)");
    if (!stmt) return tl::unexpected(stmt.error());
    for (const auto& row : rows) {
      (*stmt)->bind(1, row.model);
      (*stmt)->bind(2, row.id);
      (*stmt)->bind(3, row.data_json);
      (*stmt)->bind(4, row.version);
      (*stmt)->bind(5, int64_t{row.archived ? 1 : 0});
      if (auto staged = (*stmt)->run("stage rebuild row"); !staged) return staged;
    }
    return {};
  };
  return impl_->post(std::move(job));
}

Status LocalStore::finish_rebuild(int64_t cursor, Completion done) {
  local_store_impl::Job job;
  job.done = std::move(done);
  Impl* state = impl_.get();
  job.work = [state, cursor](local_store_impl::Connection& connection) -> Status {
    if (!state->rebuild_active) return sdk_fail("internal_error", "finish_rebuild without begin_rebuild");
    if (auto cleared = connection.exec("DELETE FROM rows"); !cleared) return cleared;
    if (auto copied = connection.exec("INSERT INTO rows (model, id, data, version, archived) "
                                      "SELECT model, id, data, version, archived FROM temp.rows_rebuild");
        !copied) {
      return copied;
    }
    if (auto injected = state->fault("finish_rebuild"); !injected) return injected;
    for (const char* key : {"cursor", "bootstrapped_at"}) {
      if (auto set = local_store_impl::upsert_meta(connection, key, std::to_string(cursor)); !set) return set;
    }
    if (auto cleared = connection.exec("DELETE FROM temp.rows_rebuild"); !cleared) return cleared;
    state->rebuild_active = false;
    return {};
  };
  return impl_->post(std::move(job));
}

Status LocalStore::abort_rebuild(Completion done) {
  local_store_impl::Job job;
  job.done = std::move(done);
  Impl* state = impl_.get();
  job.work = [state](local_store_impl::Connection& connection) -> Status {
    state->rebuild_active = false;
    if (auto created = connection.exec(local_store_impl::kCreateRebuildTable); !created) return created;
    return connection.exec("DELETE FROM temp.rows_rebuild");
  };
  return impl_->post(std::move(job));
}

Status LocalStore::flush(std::chrono::milliseconds timeout) {
  return impl_->run_and_wait([](local_store_impl::Connection&) -> Status { return {}; }, timeout);
}

Result<std::string> LocalStore::read_pragma(const std::string& name, std::chrono::milliseconds timeout) {
  auto value = std::make_shared<std::string>();
  auto read = impl_->run_and_wait(
      [name, value](local_store_impl::Connection& connection) -> Status {
        auto text = connection.scalar_text("PRAGMA " + name);
        if (!text) return tl::unexpected(text.error());
        *value = *text;
        return {};
      },
      timeout);
  if (!read) return tl::unexpected(read.error());
  return *value;
}

}  // namespace ablo::sdk_detail
