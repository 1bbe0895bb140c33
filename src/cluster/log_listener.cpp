#include "cluster/log_listener.h"

#include <chrono>

#include <spdlog/spdlog.h>

#include "common/exception_text.h"
#include "common/thread_name.h"
#include "pg/wakeup_channels.h"

namespace ablo::cluster {

namespace {
constexpr int kTickMs = 100;  // how often the loop looks at stopping_
constexpr int kReconnectDelayMs = 250;
}  // namespace

LogListener::LogListener(std::unique_ptr<WakeupSource> source, ListenerCallbacks callbacks, int poll_interval_ms)
    : source_(std::move(source)), callbacks_(std::move(callbacks)), poll_interval_ms_(poll_interval_ms) {}

LogListener::~LogListener() { stop(); }

void LogListener::start() {
  thread_ = named_thread("ablo-log-listen", [this] {
    run_restarting([this] { run(); },
                   [this](const std::string& what) { spdlog::error("log listener ({}) threw: {}", source_->describe(), what); });
  });
}

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
  if (auto connected = source_->connect(); !connected) {
    spdlog::warn("log listener ({}): {}", source_->describe(), connected.error().message);
    return;
  }
  // Whatever was committed while we were not listening.
  callbacks_.schema_changed();
  callbacks_.deltas_committed();
  callbacks_.claims_appended();
  listening_ = true;
  struct NotListening {  // however this connection ends
    std::atomic<bool>& flag;
    ~NotListening() { flag = false; }
  } not_listening{listening_};
  auto last_poll = std::chrono::steady_clock::now();
  while (!stopping_) {
    auto channels = source_->wait(kTickMs);
    if (!channels) {
      spdlog::warn("log listener lost {}: {}", source_->describe(), channels.error().message);
      return;
    }
    bool deltas = false, schema = false, claims = false;
    for (const auto& channel : *channels) {
      deltas |= channel == pg::kDeltasChannel;
      schema |= channel == pg::kSchemaChannel;
      claims |= channel == pg::kClaimsChannel;
    }
    const auto now = std::chrono::steady_clock::now();
    if (now - last_poll >= std::chrono::milliseconds(poll_interval_ms_)) {
      deltas = claims = true;  // the safety poll
      last_poll = now;
    }
    if (schema) callbacks_.schema_changed();
    if (claims) callbacks_.claims_appended();
    if (deltas) callbacks_.deltas_committed();
  }
}

}  // namespace ablo::cluster
