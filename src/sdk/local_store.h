#pragma once
// The client's local SQLite store (internal; docs/client-library.md §3.1–§3.6, §6.2).
//
// This is the ONLY code of the client library that touches SQLite. It persists plain records of
// its own (StoredRow, StoredOutboxEntry, the meta key/value map); the replica and the outbox
// modules map them to their in-memory types.
//
// Threads (design §2):
// * open() runs on the caller's thread: it takes the `<path>.lock` flock, checks the file
//   (§3.6) through a read-only connection, moves a bad file aside or fails, opens the one write
//   connection, creates the format-1 tables, then starts the store thread. From that moment the
//   write connection belongs to the store thread alone: every later access to SQLite — load(),
//   the write jobs, flush(), read_pragma() — runs there.
// * The write jobs are queued in a bounded FIFO and run in order, each in one transaction;
//   consecutive outbox appends are group-committed in one transaction (§3.4). Each job's
//   completion callback runs on the store thread after its transaction committed or rolled
//   back: callers re-post it to their own thread/strand and never block in it (load(), flush()
//   and read_pragma() called there fail with internal_error instead of deadlocking).
// * The posting functions are thread-safe. They fail (the callback is then never called) when
//   the queue stays full for LocalStoreOptions::enqueue_timeout or the store is closing.
// * The destructor drains the queue (every queued job runs and completes), then joins the
//   store thread and releases the lock file.
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/result.h"
#include "sdk/client.h"  // StoreRecovery

namespace ablo::sdk_detail {

// The `meta` table (§3.2): format, library_version, base_url, organization_id, participant_id,
// store_id, schema_hash, sync_groups, cursor, ws_cursor, bootstrapped_at, created_at, and
// last_seq (the highest outbox seq ever issued, so a seq is never reused after its row is gone).
using StoreMeta = std::map<std::string, std::string>;

// One confirmed server row (table `rows`).
struct StoredRow {
  std::string model;      // schema key
  std::string id;
  std::string data_json;  // the row as JSON, wire form
  int64_t version = 0;    // id of the last delta applied (or the bootstrap watermark)
  bool archived = false;

  bool operator==(const StoredRow&) const = default;
};

// One unconfirmed local write (table `outbox`), one field per column.
struct StoredOutboxEntry {
  int64_t seq = 0;                      // issue order; 0 on append = allocate one
  std::string lane = "model";           // "model" | "commit"
  std::string transaction_id;           // unique
  std::optional<std::string> frame_id;  // clientTxId of the first send; nullopt = not sent yet
  std::string action;                   // CREATE | UPDATE | DELETE | ARCHIVE | UNARCHIVE
  std::string model;
  std::string row_id;
  std::optional<std::string> data;      // frozen JSON payload
  std::optional<std::string> previous;  // JSON: the values before
  std::optional<int64_t> read_at;
  std::optional<std::string> on_stale;  // "reject" | "flag" | nullopt
  int64_t attempts = 0;
  int64_t retry_spent_ms = 0;
  std::optional<int64_t> acked_sync_id;
  std::optional<std::string> undo_scope;
  int64_t created_at = 0;  // ms, local clock

  bool operator==(const StoredOutboxEntry&) const = default;
};

// What start-up reads (§3.5): rows ordered by (model, id), the outbox in seq order.
struct LoadedState {
  StoreMeta meta;
  std::vector<StoredRow> rows;
  std::vector<StoredOutboxEntry> outbox;
};

// A bad file found by open() and recovered with StoreRecovery::kRecreate (the client turns it
// into StoreEvent{kRecreated, …}).
struct StoreFileEvent {
  enum class Kind { kCorrupt, kForeign, kNewerFormat } kind = Kind::kCorrupt;
  std::string detail;            // "corrupt: …", "foreign: not an Ablo client store", "written by a newer library (format 2)"
  std::string moved_to;          // <path>.bad-<UTC time> (its -wal/-shm moved alongside)
  std::size_t outbox_lost = 0;   // outbox entries of the bad file not carried into the new one
  std::size_t outbox_carried = 0;
};

// An atomic inbound batch (§6.1/§6.2): rows + cursor + confirmed outbox entries in ONE transaction.
struct DeltaBatch {
  std::vector<StoredRow> upserts;
  std::vector<std::pair<std::string, std::string>> deletes;  // (model, id)
  std::optional<int64_t> cursor;                             // meta.cursor
  std::optional<std::string> ws_cursor;                      // meta.ws_cursor
  std::vector<int64_t> remove_outbox;                        // seqs confirmed by this batch
};

// The store's identity against the client's (§3.6 row 4), decided after the exchange.
struct StoreIdentity {
  std::string base_url;
  std::string organization_id;
  std::string participant_id;
};
enum class IdentityVerdict {
  kSame,                    // nothing stored yet, or the same server and organization
  kServerChangedKeepOutbox, // another server/organization, same participant: rows rebuilt, outbox replayed
  kServerChangedDropOutbox, // another participant too: never replay one identity's writes as another
};
IdentityVerdict judge_identity(const StoreMeta& stored, const StoreIdentity& current);

struct LocalStoreOptions {
  std::size_t max_queued_jobs = 4096;                         // the FIFO bound
  std::size_t max_group_commit = 512;                         // appends folded into one transaction
  std::chrono::milliseconds enqueue_timeout{5000};            // a full queue fails a post after this
  std::string library_version = "0.1.0";                      // meta.library_version on creation
  // Test hook: called on the store thread at named points inside a job's transaction
  // ("append_outbox", "apply_delta_batch:rows", "apply_delta_batch:cursor", "set_meta",
  // "clear_for_server_change", "finish_rebuild"); a failure aborts that transaction.
  std::function<Status(std::string_view point)> fault_for_test;
};

class LocalStore {
 public:
  using Completion = std::function<void(Status)>;
  static constexpr int64_t kApplicationId = 0x41424C4F;  // "ABLO"
  static constexpr int kFormat = 1;
  static constexpr std::size_t kRebuildBatchRows = 5000;  // rows per add_rebuild_rows job (§4.1)

  // ":memory:" or "" = an in-memory database (no lock file, no file checks), same code path.
  // Errors: db_not_opened (store in use by another client, bad file with kFail, cannot create).
  static Result<std::unique_ptr<LocalStore>> open(const std::string& path, StoreRecovery recovery,
                                                  LocalStoreOptions options = {});
  ~LocalStore();
  LocalStore(const LocalStore&) = delete;
  LocalStore& operator=(const LocalStore&) = delete;

  // Set when open() recovered a bad file (kRecreate).
  const std::optional<StoreFileEvent>& file_event() const { return file_event_; }
  const std::string& path() const { return path_; }

  // Start-up read (§3.5); blocks the caller until the store thread has read everything.
  Result<LoadedState> load(std::chrono::milliseconds timeout = std::chrono::seconds(60));

  // A fresh outbox seq (thread-safe, monotonic, never reused across restarts).
  int64_t allocate_outbox_seq();

  // Write jobs. Each returns the enqueue result; `done` runs on the store thread with the
  // transaction's outcome (only when the post succeeded).
  // An entry whose seq is already stored replaces it (an outbox merge, design §5.7).
  Status append_outbox(std::vector<StoredOutboxEntry> entries, Completion done);
  Status mark_sent(std::vector<int64_t> seqs, std::string frame_id, Completion done);
  Status update_outbox_attempts(int64_t seq, int64_t attempts, int64_t retry_spent_ms,
                                std::optional<int64_t> acked_sync_id, Completion done);
  Status remove_outbox(std::vector<int64_t> seqs, Completion done);
  Status apply_delta_batch(DeltaBatch batch, Completion done);
  Status set_meta(StoreMeta entries, Completion done);
  // §6.5: rows and the cursor keys (cursor, ws_cursor, bootstrapped_at, store_id) cleared; the
  // outbox kept or dropped in the same transaction.
  Status clear_for_server_change(bool keep_outbox, Completion done);

  // Full bootstrap (§4.1), streamed: begin clears a staging table, add stages up to
  // kRebuildBatchRows rows per call, finish replaces `rows` with the staged rows and sets
  // meta.cursor = meta.bootstrapped_at = cursor in ONE transaction (a crash or abort before it
  // leaves the old rows). Other jobs may run between the steps.
  Status begin_rebuild(Completion done);
  Status add_rebuild_rows(std::vector<StoredRow> rows, Completion done);
  Status finish_rebuild(int64_t cursor, Completion done);
  Status abort_rebuild(Completion done);

  // Blocks until every job posted before it has completed (tests, shutdown paths).
  Status flush(std::chrono::milliseconds timeout = std::chrono::seconds(30));

  // Diagnostics/tests: transactions committed so far (group commit folds appends into one).
  uint64_t committed_transactions() const;

  // Diagnostics/tests: `PRAGMA <name>` on the write connection, as text.
  Result<std::string> read_pragma(const std::string& name, std::chrono::milliseconds timeout = std::chrono::seconds(10));

 private:
  struct Impl;
  explicit LocalStore(std::unique_ptr<Impl> impl, std::string path, std::optional<StoreFileEvent> event);

  std::unique_ptr<Impl> impl_;
  std::string path_;
  std::optional<StoreFileEvent> file_event_;
};

}  // namespace ablo::sdk_detail
