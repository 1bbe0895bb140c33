#pragma once
// Feeds the hub from the shared delta log when several nodes write to one database: every
// node publishes every delta — its own and other nodes' — by reading the log in id order, so
// subscribers on any node see one gap-free, totally ordered stream. The store guarantees that
// ids are dense and become visible in id order (store/pg_store.cpp), so "read everything
// after the last published id" never skips a delta that commits later.
//
// Threading: catch_up may be called from any thread (the commit writer after its own commits,
// the cluster listener on a notification, a periodic safety poll); calls are serialized, and
// deltas reach the hub once each, in id order.
#include <atomic>
#include <cstdint>
#include <functional>
#include <mutex>
#include <vector>

#include "common/result.h"
#include "fanout/hub.h"
#include "store/store.h"

namespace ablo::fanout {

class LogFollower {
 public:
  using LogReader = std::function<Result<std::vector<store::Delta>>(int64_t after_id, int limit)>;

  LogFollower(Hub& hub, LogReader reader, int page_size = 500);

  // Everything up to `head` counts as published (it is history: subscribers catch up on it
  // through the hub's reader). Call once before the first catch_up.
  void start_at(int64_t head);
  // Publishes every committed delta after the last published one; returns once everything
  // up to `at_least` is published (when it is committed) or the log has nothing newer.
  // Callers that arrive together share reads: a call returns without reading when a read that
  // began after the call did has completed (it saw everything the call would), so a crowd of
  // resuming clients costs a few reads, not one each.
  Status catch_up(int64_t at_least = 0);
  // This node's own just-committed deltas (ascending, dense): published as they are when they
  // directly follow what was published, saving the read back; otherwise through catch_up.
  Status publish_committed(const std::vector<store::Delta>& deltas);
  int64_t published_through() const;

 private:
  // catch_up's read: pages through the log after published_. Needs mutex_.
  Status read_and_publish(int64_t at_least);

  Hub& hub_;
  LogReader reader_;
  int page_size_;
  mutable std::mutex mutex_;  // serializes catch_up; guards published_, reads_completed_
  int64_t published_ = 0;
  // Reads of the log are numbered from 1 as they begin; a call notes the number before it
  // waits for the mutex. The latest completed read's number: any above the noted one began
  // after the call.
  std::atomic<uint64_t> reads_begun_{0};
  uint64_t reads_completed_ = 0;
};

}  // namespace ablo::fanout
