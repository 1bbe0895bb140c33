#pragma once
// The writer side of the engine: a queue of jobs drained by one thread, applied in groups.
// Private to engine/.
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "audit/audit.h"
#include "engine/engine.h"

namespace ablo::engine {

class AuditChain;

// Shared state the pipeline reads: the active schema (swapped under its mutex).
class SchemaHolder {
 public:
  std::shared_ptr<const schema::Schema> get() const {
    std::lock_guard lock(mutex_);
    return schema_;
  }
  void set(std::shared_ptr<const schema::Schema> schema) {
    std::lock_guard lock(mutex_);
    schema_ = std::move(schema);
  }

 private:
  mutable std::mutex mutex_;
  std::shared_ptr<const schema::Schema> schema_ = schema::Schema::empty();
};

// Commits are applied and made durable in two stages, each on its own thread:
//
//   writer thread  takes the queued commits as a group, applies them in one store transaction
//                  (a savepoint per commit) and commits it without waiting for the disk
//                  (Store::write_unsynced), then hands the group to the syncer and takes the
//                  next group at once;
//   syncer thread  takes every group handed over so far, makes them durable with one
//                  Store::sync() (one fsync), then, group by group in commit order, publishes
//                  the deltas to the hub and answers the committers.
//
// So the next group is applied while the previous group's fsync runs, and nothing is published
// or acknowledged before the fsync that covers it returned (acks in commit order). A failed
// sync answers every commit of the groups it covered with the store's error and publishes
// nothing; the store then refuses later writes (store.h), so they fail too.
//
// Audit rows of non-commit events (claim grants and releases) are queued by enqueue_audit and
// written by the writer into its next group transaction, before that group's commits (a group
// may hold audit rows only, coalesced for up to kAuditCoalesceDelay): the event's thread never
// waits for the store, and a claim costs no transaction of its own. A group that fails keeps
// its rows for the next group.
//
// Threads and locks: queue_mutex_ guards the commit queue, the audit queue, stopping_ and gate_
// (submitters, enqueuers + writer); handoff_mutex_ guards the applied groups (writer + syncer).
// Neither is held while the other is taken, nor across store calls or callbacks. Lock order:
// the coordinator's mutex, then queue_mutex_ (claim rows are enqueued under the former).
class CommitPipeline {
 public:
  CommitPipeline(store::Store& store, fanout::Hub& hub, SchemaHolder& schema, EngineOptions options);
  ~CommitPipeline();

  void start();
  void stop();
  void set_write_gate(std::shared_ptr<WriteGate> gate);

  void submit_commit(CommitRequest request, CommitCallback done);
  // Runs `install` alone in its own transaction on the writer thread; `after_commit` runs on the
  // writer thread once it committed (before later groups apply); returns its result once durable.
  Result<int64_t> run_exclusive(std::function<Result<int64_t>(store::WriteTransaction&)> install,
                                std::function<void()> after_commit);

  // Queues a non-commit audit row (any thread; never blocks, takes queue_mutex_ briefly, so a
  // caller may hold its own lock). Written by the next group in queue order. Beyond
  // EngineOptions::max_queued_audit_rows waiting rows it is dropped with an error log
  // (audit_rows_dropped()). Does nothing without an audit key.
  void enqueue_audit(audit::AuditRow row);
  // Rows dropped so far: the queue was full, the store refused them, or the server stopped
  // while their group kept failing.
  uint64_t audit_rows_dropped() const { return audit_dropped_.load(); }
  // A failed group's rows are tried again with the next group, or alone after this long.
  static constexpr std::chrono::milliseconds kAuditRetryDelay{1000};
  // Rows queued without commits are written together once the first waited this long, or
  // once this many wait (one transaction per burst of claim events, not one per event).
  static constexpr std::chrono::milliseconds kAuditCoalesceDelay{50};
  static constexpr std::size_t kAuditCoalesceRows = 1'024;

  // At most this many applied groups wait for the syncer: the writer pauses beyond it, which
  // bounds what is committed but not yet durable (memory, and reads that wait for it).
  static constexpr std::size_t kMaxUnsyncedGroups = 4;

 private:
  struct Job;
  using Group = std::vector<std::unique_ptr<Job>>;
  // A group the writer is done with: committed (maybe not yet durable) or failed as a whole.
  struct AppliedGroup {
    Group jobs;
    bool wrote = false;  // a store transaction committed: the group needs a sync before answers
  };

  void run_writer();
  void run_syncer();
  bool take_group(Group& group);
  AppliedGroup apply_group(Group& group);
  AppliedGroup run_exclusive_job(Group& group);
  void hand_to_syncer(AppliedGroup applied);
  void answer(AppliedGroup& applied, const Status& synced);
  void fail_group(Group& group, const Error& error);
  static std::vector<std::pair<std::string, std::string>> idempotency_keys(const Group& group);
  store::GroupReads group_reads(const Group& group, const schema::Schema& schema) const;
  Status record_usage(store::WriteTransaction& txn, const Group& group);
  void take_audit_rows_locked();
  Status append_audit_batch(store::WriteTransaction& txn, AuditChain& chain);

  store::Store& store_;
  fanout::Hub& hub_;
  SchemaHolder& schema_;
  EngineOptions options_;

  std::mutex queue_mutex_;  // guards queue_, stopping_, gate_, writer_idle_
  std::condition_variable queue_wake_;
  std::deque<std::unique_ptr<Job>> queue_;
  bool stopping_ = false;
  bool writer_idle_ = false;  // the writer waits for work: only then does a submit wake it
  std::shared_ptr<WriteGate> gate_;
  std::deque<audit::AuditRow> audit_queue_;  // enqueued, not yet taken by the writer
  std::chrono::steady_clock::time_point audit_first_queued_at_;  // when audit_queue_ last became non-empty
  std::atomic<uint64_t> audit_dropped_{0};

  std::mutex handoff_mutex_;  // guards applied_, writer_done_, syncer_idle_
  std::condition_variable syncer_wake_;   // groups to sync, or the writer finished
  std::condition_variable writer_room_;   // the syncer took groups
  std::deque<AppliedGroup> applied_;
  bool writer_done_ = false;
  bool syncer_idle_ = false;

  std::thread writer_;
  std::thread syncer_;
  int64_t meters_flushed_at_ms_ = 0;  // writer thread only
  // Writer thread only: audit rows taken from the queue for the next group; cleared once a
  // group wrote them, kept when it failed (at most options_.max_queued_audit_rows).
  std::deque<audit::AuditRow> audit_batch_;
  bool final_audit_try_ = false;  // stopping: a failing batch gets one last group
};

}  // namespace ablo::engine
