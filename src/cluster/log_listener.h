#pragma once
// Wakes this node when another node commits: a WakeupSource (PostgreSQL LISTEN, or Redis
// SUBSCRIBE) hears `ablo_deltas`, `ablo_schema` and `ablo_claims` (the coordinator's op log),
// and on each wake-up the listener runs the matching callbacks. It also runs them every
// `poll_interval_ms` without a wake-up, and after every reconnect, so a wake-up lost while the
// connection was down (a database or Redis restart) only delays delivery, never loses it.
//
// Threading: one thread of its own; the source and the callbacks run on it.
#include <atomic>
#include <functional>
#include <memory>
#include <string>
#include <thread>

#include "cluster/wakeup_source.h"

namespace ablo::cluster {

struct ListenerCallbacks {
  std::function<void()> deltas_committed;  // e.g. LogFollower::catch_up
  std::function<void()> schema_changed;    // e.g. Engine::reload_schema
  std::function<void()> claims_appended;   // e.g. Coordinator::catch_up
};

inline constexpr int kDefaultPollIntervalMs = 1000;

class LogListener {
 public:
  LogListener(std::unique_ptr<WakeupSource> source, ListenerCallbacks callbacks,
              int poll_interval_ms = kDefaultPollIntervalMs);
  ~LogListener();
  LogListener(const LogListener&) = delete;
  LogListener& operator=(const LogListener&) = delete;

  void start();
  void stop();
  // True while connected to its wake-up source (after the catch-up that follows each connect):
  // the node hears the others. Readiness (/api/ready "cluster") reports it. Any thread.
  bool listening() const { return listening_.load(std::memory_order_relaxed); }

 private:
  void run();
  void listen_once();  // one connection's lifetime

  std::unique_ptr<WakeupSource> source_;
  ListenerCallbacks callbacks_;
  int poll_interval_ms_;
  std::atomic<bool> stopping_{false};
  std::atomic<bool> listening_{false};
  std::thread thread_;
};

}  // namespace ablo::cluster
