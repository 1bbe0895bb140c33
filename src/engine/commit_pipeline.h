#pragma once
// The writer side of the engine: a queue of jobs drained by one thread, applied in groups.
// Private to engine/.
#include <condition_variable>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "engine/engine.h"

namespace ablo::engine {

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

class CommitPipeline {
 public:
  CommitPipeline(store::Store& store, fanout::Hub& hub, SchemaHolder& schema, EngineOptions options);
  ~CommitPipeline();

  void start();
  void stop();
  void set_write_gate(std::shared_ptr<WriteGate> gate);

  void submit_commit(CommitRequest request, CommitCallback done);
  // Runs `install` alone in its own transaction on the writer thread; returns its result.
  Result<int64_t> run_exclusive(std::function<Result<int64_t>(store::WriteTransaction&)> install,
                                std::function<void()> after_commit);

 private:
  struct Job;
  void run();
  void apply_group(std::vector<std::unique_ptr<Job>>& group);
  void fail_group(std::vector<std::unique_ptr<Job>>& group, const Error& error);
  static std::vector<std::pair<std::string, std::string>> idempotency_keys(const std::vector<std::unique_ptr<Job>>& group);
  Status record_usage(store::WriteTransaction& txn, const std::vector<std::unique_ptr<Job>>& group);

  store::Store& store_;
  fanout::Hub& hub_;
  SchemaHolder& schema_;
  EngineOptions options_;

  std::mutex mutex_;  // guards queue_, stopping_, gate_
  std::condition_variable wake_;
  std::deque<std::unique_ptr<Job>> queue_;
  bool stopping_ = false;
  std::shared_ptr<WriteGate> gate_;
  std::thread thread_;
  int64_t meters_flushed_at_ms_ = 0;  // writer thread only
};

}  // namespace ablo::engine
