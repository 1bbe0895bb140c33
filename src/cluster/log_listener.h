#pragma once
// Wakes this node when another node commits: a dedicated PostgreSQL connection LISTENs on
// `ablo_deltas` (payload-free: the log table is the truth), `ablo_schema` and `ablo_claims`
// (the coordinator's op log), and on each
// notification runs the callbacks. It also runs them every `poll_interval_ms` without a
// notification, and after every reconnect, so a notification lost while the connection was
// down (a PostgreSQL restart) only delays delivery, never loses it.
//
// Threading: one thread of its own; the callbacks run on it.
#include <atomic>
#include <functional>
#include <string>
#include <thread>

namespace ablo::cluster {

struct ListenerCallbacks {
  std::function<void()> deltas_committed;  // e.g. LogFollower::catch_up
  std::function<void()> schema_changed;    // e.g. Engine::reload_schema
  std::function<void()> claims_appended;   // e.g. Coordinator::catch_up
};

class LogListener {
 public:
  LogListener(std::string database_url, ListenerCallbacks callbacks, int poll_interval_ms = 1000);
  ~LogListener();
  LogListener(const LogListener&) = delete;
  LogListener& operator=(const LogListener&) = delete;

  void start();
  void stop();

 private:
  void run();
  void listen_once();  // one connection's lifetime

  std::string url_;
  ListenerCallbacks callbacks_;
  int poll_interval_ms_;
  std::atomic<bool> stopping_{false};
  std::thread thread_;
};

}  // namespace ablo::cluster
