#include "cluster/log_listener.h"

#include <poll.h>

#include <chrono>

#include <spdlog/spdlog.h>

#include "pg/connection.h"

namespace ablo::cluster {

namespace {
constexpr int kTickMs = 100;        // how often the loop looks at stopping_
constexpr int kReconnectDelayMs = 250;
}  // namespace

LogListener::LogListener(std::string database_url, ListenerCallbacks callbacks, int poll_interval_ms)
    : url_(std::move(database_url)), callbacks_(std::move(callbacks)), poll_interval_ms_(poll_interval_ms) {}

LogListener::~LogListener() { stop(); }

void LogListener::start() { thread_ = std::thread([this] { run(); }); }

void LogListener::stop() {
  stopping_ = true;
  if (thread_.joinable()) thread_.join();
}

void LogListener::run() {
  while (!stopping_) {
    listen_once();
    for (int waited = 0; waited < kReconnectDelayMs && !stopping_; waited += kTickMs) {
      std::this_thread::sleep_for(std::chrono::milliseconds(kTickMs));
    }
  }
}

void LogListener::listen_once() {
  auto conn = pg::Connection::open(url_);
  if (!conn) {
    spdlog::warn("log listener: {}", conn.error().message);
    return;
  }
  if (auto ok = (*conn)->exec_script("LISTEN ablo_deltas; LISTEN ablo_schema; LISTEN ablo_claims"); !ok) {
    spdlog::warn("log listener: {}", ok.error().message);
    return;
  }
  // Whatever was committed while we were not listening.
  callbacks_.schema_changed();
  callbacks_.deltas_committed();
  callbacks_.claims_appended();
  auto last_poll = std::chrono::steady_clock::now();
  while (!stopping_) {
    pollfd fd{(*conn)->socket(), POLLIN, 0};
    const int ready = ::poll(&fd, 1, kTickMs);
    if (ready < 0) return;
    bool deltas = false, schema = false, claims = false;
    if (ready > 0) {
      auto channels = (*conn)->take_notifications();
      if (!channels) {
        spdlog::warn("log listener lost the database: {}", channels.error().message);
        return;
      }
      for (const auto& channel : *channels) {
        deltas |= channel == "ablo_deltas";
        schema |= channel == "ablo_schema";
        claims |= channel == "ablo_claims";
      }
    }
    const auto now = std::chrono::steady_clock::now();
    if (now - last_poll >= std::chrono::milliseconds(poll_interval_ms_)) {
      deltas = claims = true;  // the safety poll
      last_poll = now;
    }
    if (schema) callbacks_.schema_changed();
    if (claims) callbacks_.claims_appended();
    if (deltas) callbacks_.deltas_committed();
    if (!(*conn)->healthy()) return;
  }
}

}  // namespace ablo::cluster
