// PostgreSQL LISTEN as a WakeupSource: the default, nothing to run besides the database.
#include <poll.h>

#include "cluster/wakeup_source.h"
#include "pg/connection.h"
#include "pg/wakeup_channels.h"

namespace ablo::cluster {

namespace {

class PgWakeups final : public WakeupSource {
 public:
  explicit PgWakeups(std::string url) : url_(std::move(url)) {}

  std::string describe() const override { return "PostgreSQL LISTEN"; }

  Status connect() override {
    conn_.reset();
    auto conn = pg::Connection::open(url_);
    if (!conn) return tl::unexpected(conn.error());
    std::string listen;
    for (auto channel : {pg::kDeltasChannel, pg::kSchemaChannel, pg::kClaimsChannel}) {
      listen += "LISTEN " + std::string(channel) + ";";
    }
    if (auto ok = (*conn)->exec_script(listen); !ok) return ok;
    conn_ = std::move(*conn);
    return {};
  }

  Result<std::vector<std::string>> wait(int timeout_ms) override {
    pollfd fd{conn_->socket(), POLLIN, 0};
    const int ready = ::poll(&fd, 1, timeout_ms);
    if (ready < 0) return fail(kStoreUnavailable, "poll on the LISTEN connection failed");
    std::vector<std::string> channels;
    if (ready > 0) {
      auto taken = conn_->take_notifications();
      if (!taken) return tl::unexpected(taken.error());
      channels = std::move(*taken);
    }
    // A server that went away while we were idle shows up only here.
    if (!conn_->healthy()) return fail(kStoreUnavailable, "the LISTEN connection was lost");
    return channels;
  }

 private:
  std::string url_;
  std::unique_ptr<pg::Connection> conn_;
};

}  // namespace

std::unique_ptr<WakeupSource> pg_wakeups(std::string database_url) {
  return std::make_unique<PgWakeups>(std::move(database_url));
}

}  // namespace ablo::cluster
