#pragma once
// Redis pub/sub for the wake-ups between nodes (`ablo serve --redis redis://…`), instead of
// PostgreSQL NOTIFY. Why: every NOTIFY takes a cluster-wide lock in PostgreSQL's commit path;
// with Redis the database only does the writes. Same channels, same meaning
// (pg/wakeup_channels.h): a wake-up says "look at the table"; the tables stay the truth, so
// Redis being down only delays delivery to the listener's safety poll, and nothing a client
// was told is ever lost or reordered by it.
#include <condition_variable>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <string_view>
#include <thread>

#include "cluster/wakeup_source.h"
#include "pg/wakeup_channels.h"

namespace ablo::redis {
class Connection;
}

namespace ablo::cluster {

// Publishes wake-ups on a connection of its own.
//
// Threading: announce() may be called from any thread (the store's writer, coordinator op
// appenders) and only records the channel; one thread of its own connects and PUBLISHes,
// several announcements of a channel made meanwhile going out as one. While Redis is
// unreachable the channels stay pending and it retries every kRetryDelay.
class RedisPublisher {
 public:
  explicit RedisPublisher(std::string url);
  ~RedisPublisher();
  RedisPublisher(const RedisPublisher&) = delete;
  RedisPublisher& operator=(const RedisPublisher&) = delete;

  void announce(std::string_view channel);
  pg::Announce announcer() {
    return [this](std::string_view channel) { announce(channel); };
  }

 private:
  void run();
  bool publish(const std::set<std::string>& channels);  // publisher thread only

  std::string url_;
  std::unique_ptr<redis::Connection> conn_;  // publisher thread only
  bool reachable_ = true;                    // publisher thread only: for one log line per outage

  std::mutex mutex_;  // guards pending_, stopping_
  std::condition_variable wake_;
  std::set<std::string> pending_;
  bool stopping_ = false;
  std::thread thread_;
};

// SUBSCRIBE to the wake-up channels on a connection of its own. A connection that answers no
// PING for a while counts as lost (a vanished host sends no FIN).
std::unique_ptr<WakeupSource> redis_wakeups(std::string url);

}  // namespace ablo::cluster
