#include "cluster/redis_wakeups.h"

#include <chrono>
#include <optional>
#include <vector>

#include <spdlog/spdlog.h>

#include "common/exception_text.h"
#include "common/thread_name.h"
#include "redis/connection.h"

namespace ablo::cluster {

namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

constexpr auto kConnectTimeout = 1000ms;
constexpr auto kCommandTimeout = 1000ms;
constexpr auto kRetryDelay = 250ms;
constexpr auto kPingEvery = 5s;        // an idle subscriber asks whether Redis is still there…
constexpr auto kPongDeadline = 5s;     // …and reconnects when no answer comes

const std::vector<std::string>& all_channels() {
  static const std::vector<std::string> channels = {std::string(pg::kDeltasChannel), std::string(pg::kSchemaChannel),
                                                    std::string(pg::kClaimsChannel)};
  return channels;
}

bool is_array_of(const redis::Reply& reply, std::string_view kind) {
  return reply.type == redis::Reply::Type::array && !reply.elements.empty() &&
         reply.elements[0].type == redis::Reply::Type::bulk && reply.elements[0].text == kind;
}

class RedisWakeups final : public WakeupSource {
 public:
  explicit RedisWakeups(std::string url) : url_(std::move(url)) {}

  std::string describe() const override { return "Redis SUBSCRIBE"; }

  Status connect() override {
    conn_.reset();
    auto conn = redis::Connection::open(url_, kConnectTimeout);
    if (!conn) return tl::unexpected(conn.error());
    std::vector<std::string> subscribe = {"SUBSCRIBE"};
    subscribe.insert(subscribe.end(), all_channels().begin(), all_channels().end());
    if (auto sent = (*conn)->send(subscribe); !sent) return sent;
    // Wake-ups published before the confirmations arrive are covered by the catch-up the
    // listener runs after connecting.
    std::size_t confirmed = 0;
    const auto deadline = Clock::now() + kConnectTimeout;
    while (confirmed < all_channels().size()) {
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
      if (left.count() <= 0) return fail("internal_error", "redis: SUBSCRIBE was not confirmed");
      auto replies = (*conn)->receive(left);
      if (!replies) return tl::unexpected(replies.error());
      for (const auto& reply : *replies) {
        if (reply.type == redis::Reply::Type::error) return fail("internal_error", "redis: SUBSCRIBE: " + reply.text);
        if (is_array_of(reply, "subscribe")) ++confirmed;
      }
    }
    conn_ = std::move(*conn);
    last_heard_ = Clock::now();
    ping_sent_.reset();
    return {};
  }

  Result<std::vector<std::string>> wait(int timeout_ms) override {
    auto replies = conn_->receive(std::chrono::milliseconds(timeout_ms));
    if (!replies) return tl::unexpected(replies.error());
    const auto now = Clock::now();
    std::vector<std::string> channels;
    for (const auto& reply : *replies) {
      last_heard_ = now;
      if (is_array_of(reply, "message") && reply.elements.size() >= 2) channels.push_back(reply.elements[1].text);
      if (is_array_of(reply, "pong")) ping_sent_.reset();
    }
    if (auto alive = keep_alive(now); !alive) return tl::unexpected(alive.error());
    return channels;
  }

 private:
  Status keep_alive(Clock::time_point now) {
    if (ping_sent_) {
      if (now - *ping_sent_ > kPongDeadline) return fail("internal_error", "redis: no answer to PING");
      return {};
    }
    if (now - last_heard_ < kPingEvery) return {};
    ping_sent_ = now;
    return conn_->send({"PING"});
  }

  std::string url_;
  std::unique_ptr<redis::Connection> conn_;
  Clock::time_point last_heard_{};
  std::optional<Clock::time_point> ping_sent_;
};

}  // namespace

RedisPublisher::RedisPublisher(std::string url) : url_(std::move(url)) {
  thread_ = named_thread("ablo-redis-pub", [this] {
    run_restarting([this] { run(); }, [](const std::string& what) { spdlog::error("Redis publisher threw: {}", what); });
  });
}

RedisPublisher::~RedisPublisher() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_one();
  thread_.join();
}

void RedisPublisher::announce(std::string_view channel) {
  {
    std::lock_guard lock(mutex_);
    if (!pending_.emplace(channel).second) return;  // already on its way
  }
  wake_.notify_one();
}

void RedisPublisher::run() {
  std::unique_lock lock(mutex_);
  while (true) {
    wake_.wait(lock, [this] { return stopping_ || !pending_.empty(); });
    if (stopping_) return;
    std::set<std::string> channels;
    channels.swap(pending_);
    lock.unlock();
    const bool sent = publish(channels);
    lock.lock();
    if (!sent) {
      pending_.merge(channels);
      wake_.wait_for(lock, kRetryDelay, [this] { return stopping_; });
    }
  }
}

bool RedisPublisher::publish(const std::set<std::string>& channels) {
  auto failed = [this](const Error& error) {
    if (reachable_) spdlog::warn("redis wake-ups paused (the safety poll delivers meanwhile): {}", error.message);
    reachable_ = false;
    conn_.reset();
    return false;
  };
  if (!conn_) {
    auto conn = redis::Connection::open(url_, kConnectTimeout);
    if (!conn) return failed(conn.error());
    conn_ = std::move(*conn);
  }
  std::vector<std::vector<std::string>> commands;
  for (const auto& channel : channels) commands.push_back({"PUBLISH", channel, ""});
  auto replies = conn_->pipeline(commands, kCommandTimeout);
  if (!replies) return failed(replies.error());
  for (const auto& reply : *replies) {
    if (reply.type == redis::Reply::Type::error) return failed(Error("internal_error", "redis: PUBLISH: " + reply.text));
  }
  if (!reachable_) spdlog::info("redis wake-ups resumed");
  reachable_ = true;
  return true;
}

std::unique_ptr<WakeupSource> redis_wakeups(std::string url) { return std::make_unique<RedisWakeups>(std::move(url)); }

}  // namespace ablo::cluster
