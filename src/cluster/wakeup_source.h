#pragma once
// Where a node hears that another node changed something: a connection subscribed to the
// wake-up channels (pg/wakeup_channels.h). PostgreSQL LISTEN (PgWakeups, the default) or
// Redis SUBSCRIBE (cluster/redis_wakeups.h). LogListener drives one of these on its thread.
#include <memory>
#include <string>
#include <vector>

#include "common/result.h"

namespace ablo::cluster {

class WakeupSource {
 public:
  virtual ~WakeupSource() = default;
  virtual std::string describe() const = 0;  // for log lines: "PostgreSQL LISTEN", "Redis …"
  // Opens a new connection (dropping the old one) and subscribes to every channel.
  virtual Status connect() = 0;
  // Waits up to `timeout_ms` and returns the channels woken meanwhile (possibly none); an
  // error when the connection is lost (the listener then reconnects and catches up).
  virtual Result<std::vector<std::string>> wait(int timeout_ms) = 0;
};

// LISTEN on a PostgreSQL connection of its own.
std::unique_ptr<WakeupSource> pg_wakeups(std::string database_url);

}  // namespace ablo::cluster
