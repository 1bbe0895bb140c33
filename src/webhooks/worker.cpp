#include "webhooks/worker.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <map>
#include <optional>
#include <thread>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "common/exception_text.h"
#include "common/thread_name.h"
#include "common/time.h"
#include "metrics/metrics.h"
#include "webhooks/http_post.h"
#include "webhooks/signing.h"

namespace ablo::webhooks {

namespace asio = boost::asio;

// What this node knows of one endpoint it holds the lease of.
struct HeldEndpoint {
  store::WebhookEndpointRecord record;
  int64_t scanned_to = 0;          // the log read up to here had nothing for it (not persisted)
  std::optional<Batch> pending;    // the batch being delivered or retried: same id and body
  bool in_flight = false;
  bool released = false;           // the lease went while a request was in flight
};

namespace {

// Delivery metrics (issue 15), registered at start. The gauges describe the endpoints this node
// delivers and are set by the worker thread at each tick.
struct WebhookMetrics {
  static metrics::Counter& deliveries(const char* result) {
    return metrics::global().counter("ablo_webhook_deliveries_total", "Webhook batch deliveries, by outcome",
                                     {{"result", result}});
  }
  metrics::Counter& delivered = deliveries("delivered");
  metrics::Counter& failed = deliveries("failed");
  metrics::Gauge& lag = metrics::global().gauge(
      "ablo_webhook_lag_deltas",
      "Log positions between the head and the slowest enabled endpoint this node delivers (0 when caught up)");
  metrics::Gauge& retrying = metrics::global().gauge(
      "ablo_webhook_endpoints_retrying", "Endpoints this node delivers whose last attempt failed");
};
WebhookMetrics& webhook_metrics() {
  static auto* instance = new WebhookMetrics();
  return *instance;
}
[[maybe_unused]] const WebhookMetrics& webhook_metrics_at_start = webhook_metrics();

std::string describe_failure(const PostOutcome& outcome) {
  if (!outcome.error.empty()) return outcome.error;
  if (outcome.status >= 300 && outcome.status < 400) {
    return fmt::format("HTTP {} redirect not followed{}", outcome.status,
                       outcome.location.empty() ? "" : " (to " + outcome.location + ")");
  }
  std::string body = outcome.body.substr(0, 200);
  return fmt::format("HTTP {}{}", outcome.status, body.empty() ? "" : ": " + body);
}

}  // namespace

// Handlers capture the Impl by pointer: the thread running them is joined before the Impl goes.
struct DeliveryWorker::Impl {
  Impl(store::Store& store, WorkerOptions options) : store(store), options(std::move(options)), timer(io) {
    std::string error;
    tls = make_tls_client_context(this->options.tls_ca_file, error);
    if (!tls) spdlog::error("webhooks: https deliveries will fail: {}", error);
  }

  store::Store& store;
  const WorkerOptions options;
  asio::io_context io;
  asio::steady_timer timer;
  std::unique_ptr<asio::ssl::context> tls;
  std::thread thread;
  std::atomic<bool> tick_posted{false};  // a log_advanced tick waits in `io`
  // Everything below is owned by the worker thread.
  std::map<std::string, HeldEndpoint> held;
  int in_flight = 0;
  int64_t next_lease_at_ms = 0;
  int64_t leases_valid_until_ms = 0;

  void schedule_tick(int64_t delay_ms) {
    timer.expires_after(std::chrono::milliseconds(delay_ms));
    timer.async_wait([self = this](boost::system::error_code ec) {
      if (ec) return;
      self->safe_tick();
      self->schedule_tick(self->options.poll_ms);
    });
  }

  // The worker's exception boundary: a failing tick is logged and the next one runs.
  void safe_tick() {
    try {
      tick();
    } catch (...) {
      spdlog::error("webhooks: delivery tick failed: {}", current_exception_text());
    }
  }

  void tick() {
    const int64_t now = now_ms();
    if (now >= next_lease_at_ms) renew_leases(now);
    if (now >= leases_valid_until_ms) drop_unrenewed();
    if (held.empty()) {
      report_lag(0);
      return;
    }
    auto head = options.head_source ? Result<int64_t>(options.head_source()) : store.head_sync_id();
    if (!head) {
      spdlog::warn("webhooks: cannot read the log head: {}", head.error().message);
      return;
    }
    report_lag(*head);
    for (auto& [id, endpoint] : held) {
      if (in_flight >= options.max_in_flight) break;
      if (endpoint.in_flight || endpoint.released || !endpoint.record.enabled) continue;
      if (endpoint.record.next_attempt_at_ms > now) continue;
      if (!endpoint.pending && endpoint.scanned_to >= *head) continue;
      deliver(endpoint, *head, now);
    }
  }

  // An endpoint with a batch out or waiting to be retried is behind from its cursor; one that is
  // idle, from how far its scan of the log got.
  void report_lag(int64_t head) {
    int64_t lag = 0;
    int64_t retrying = 0;
    for (const auto& [id, endpoint] : held) {
      if (!endpoint.record.enabled || endpoint.released) continue;
      const int64_t position = endpoint.pending ? endpoint.record.cursor : endpoint.scanned_to;
      lag = std::max(lag, head - position);
      if (endpoint.record.retry_count > 0) ++retrying;
    }
    webhook_metrics().lag.set(lag);
    webhook_metrics().retrying.set(retrying);
  }

  void renew_leases(int64_t now) {
    auto leased = store.lease_webhook_endpoints(options.node_id, now, now + options.lease_ms, options.max_endpoints);
    if (!leased) {
      spdlog::warn("webhooks: cannot renew endpoint leases: {}", leased.error().message);
      next_lease_at_ms = now + std::min<int64_t>(1000, options.lease_ms / 3);
      return;
    }
    next_lease_at_ms = now + options.lease_ms / 3;
    leases_valid_until_ms = now + options.lease_ms;
    std::map<std::string, HeldEndpoint> renewed;
    for (auto& record : *leased) {
      auto known = held.find(record.id);
      HeldEndpoint endpoint;
      if (known != held.end()) {
        endpoint = std::move(known->second);
        held.erase(known);
        if (endpoint.in_flight) {
          // Only what an operator may have changed meanwhile; the attempt writes the rest.
          endpoint.record.secret = record.secret;
          endpoint.record.previous_secret = record.previous_secret;
          endpoint.record.previous_secret_expires_at_ms = record.previous_secret_expires_at_ms;
        } else {
          endpoint.record = record;
        }
        endpoint.scanned_to = std::max(endpoint.scanned_to, record.cursor);
        endpoint.released = false;
      } else {
        endpoint.record = record;
        endpoint.scanned_to = record.cursor;
      }
      renewed.emplace(record.id, std::move(endpoint));
    }
    // Endpoints no longer ours (disabled, deleted, taken over): kept only until their request ends.
    for (auto& [id, endpoint] : held) {
      if (!endpoint.in_flight) continue;
      endpoint.released = true;
      renewed.emplace(id, std::move(endpoint));
    }
    held = std::move(renewed);
  }

  // The leases could not be renewed in time: another node may hold them now.
  void drop_unrenewed() {
    for (auto it = held.begin(); it != held.end();) {
      if (it->second.in_flight) {
        it->second.released = true;
        ++it;
      } else {
        it = held.erase(it);
      }
    }
  }

  // Builds the endpoint's next batch from the log (bounded pages) unless one is pending, and
  // sends it.
  void deliver(HeldEndpoint& endpoint, int64_t head, int64_t now) {
    if (!endpoint.pending) {
      auto batch = next_batch(endpoint, head);
      if (!batch) return;
      endpoint.pending = std::move(*batch);
    }
    const auto& batch = *endpoint.pending;
    std::vector<std::string> secrets{endpoint.record.secret};
    if (!endpoint.record.previous_secret.empty() && endpoint.record.previous_secret_expires_at_ms > now) {
      secrets.push_back(endpoint.record.previous_secret);
    }
    const int64_t timestamp = now / 1000;
    auto signature = signature_header(secrets, batch.id, timestamp, batch.body);
    if (!signature) {
      spdlog::error("webhooks: cannot sign for {}: {}", endpoint.record.id, signature.error().message);
      return;
    }
    PostRequest request{endpoint.record.url,
                        {{"webhook-id", batch.id},
                         {"webhook-timestamp", std::to_string(timestamp)},
                         {"webhook-signature", *signature}},
                        batch.body,
                        options.request_timeout_ms,
                        options.max_response_bytes};
    endpoint.in_flight = true;
    ++in_flight;
    post_async(io, tls.get(), std::move(request), [self = this, id = endpoint.record.id](PostOutcome outcome) {
      try {
        self->on_delivered(id, outcome);
      } catch (...) {
        spdlog::error("webhooks: recording a delivery failed: {}", current_exception_text());
      }
    });
  }

  // The events after the endpoint's scan position, up to one batch; nullopt when there is none
  // (the scan position then moves past what was read, persisted when the tenant had deltas).
  std::optional<Batch> next_batch(HeldEndpoint& endpoint, int64_t head) {
    const auto& record = endpoint.record;
    BatchBuilder builder(record.id, options.max_batch_events, options.max_batch_bytes);
    int64_t covered = endpoint.scanned_to;
    bool read_any = false;
    bool full = false;
    for (int page = 0; page < options.max_pages_per_batch && !full; ++page) {
      auto deltas = store.read_deltas(record.tenant, covered, head, options.read_page);
      if (!deltas) {
        spdlog::warn("webhooks: cannot read the log for {}: {}", record.id, deltas.error().message);
        return std::nullopt;
      }
      for (const auto& delta : *deltas) {
        read_any = true;
        auto type = event_type_of(delta);
        if (type && event_enabled(record.enabled_events, delta.model_name, *type)) {
          if (!builder.add(*event_of(delta), delta.id)) {
            full = true;
            break;
          }
        }
        covered = delta.id;
      }
      if (!full && static_cast<int>(deltas->size()) < options.read_page) {
        covered = head;  // the tenant has nothing more up to head
        break;
      }
    }
    if (builder.size() == 0) {
      endpoint.scanned_to = covered;
      if (read_any) record_skip(endpoint, covered);
      return std::nullopt;
    }
    auto batch = builder.finish();
    batch.last_sync_id = covered;
    return batch;
  }

  // Moves the cursor over deltas none of which the endpoint subscribed to.
  void record_skip(HeldEndpoint& endpoint, int64_t cursor) {
    auto& record = endpoint.record;
    store::WebhookAttemptRecord attempt{record.id, options.node_id, cursor, record.retry_count,
                                        record.next_attempt_at_ms, 0, record.last_error, false, {}};
    auto recorded = store.record_webhook_attempt(attempt);
    if (recorded && *recorded) record.cursor = std::max(record.cursor, cursor);
  }

  void on_delivered(const std::string& id, const PostOutcome& outcome) {
    --in_flight;
    auto found = held.find(id);
    if (found == held.end()) return;
    auto& endpoint = found->second;
    endpoint.in_flight = false;
    auto& record = endpoint.record;
    const auto& batch = *endpoint.pending;
    const int64_t now = now_ms();
    const bool delivered = outcome.error.empty() && outcome.status >= 200 && outcome.status < 300;
    (delivered ? webhook_metrics().delivered : webhook_metrics().failed).add();
    store::WebhookAttemptRecord attempt{record.id, options.node_id};
    if (delivered) {
      attempt.cursor = batch.last_sync_id;
      attempt.last_success_at_ms = now;
    } else {
      attempt.cursor = record.cursor;
      attempt.retry_count = record.retry_count + 1;
      attempt.last_error = describe_failure(outcome);
      if (auto delay = options.retries.delay_after(attempt.retry_count)) {
        attempt.next_attempt_at_ms = now + *delay;
      } else {
        attempt.disable = true;
        attempt.disabled_reason = fmt::format("{} delivery attempts failed; last error: {}", options.retries.attempts(),
                                              attempt.last_error);
      }
      spdlog::info("webhooks: delivery to {} failed (attempt {}): {}", record.id, attempt.retry_count,
                   attempt.last_error);
    }
    auto recorded = store.record_webhook_attempt(attempt);
    if (!recorded) {
      // The outcome is unknown to the store: the same batch goes again shortly (at least once).
      spdlog::warn("webhooks: cannot record a delivery to {}: {}", record.id, recorded.error().message);
      record.next_attempt_at_ms = now + 1000;
      return;
    }
    if (!*recorded || endpoint.released) {  // the lease is no longer ours: the next holder resumes
      held.erase(found);
      return;
    }
    record.cursor = std::max(record.cursor, attempt.cursor);
    record.retry_count = attempt.retry_count;
    record.next_attempt_at_ms = attempt.next_attempt_at_ms;
    record.last_error = attempt.last_error;
    if (delivered) {
      record.last_success_at_ms = now;
      endpoint.scanned_to = std::max(endpoint.scanned_to, attempt.cursor);
      endpoint.pending.reset();
      asio::post(io, [self = this] { self->safe_tick(); });  // drain what is pending at once
    } else if (attempt.disable) {
      held.erase(found);
    }
  }
};

DeliveryWorker::DeliveryWorker(store::Store& store, WorkerOptions options)
    : impl_(std::make_unique<Impl>(store, std::move(options))) {}

DeliveryWorker::~DeliveryWorker() { stop(); }

void DeliveryWorker::start() {
  if (impl_->thread.joinable()) return;
  impl_->schedule_tick(0);
  impl_->thread = named_thread("ablo-webhooks", [impl = impl_.get()] {
    try {
      impl->io.run();
    } catch (...) {
      spdlog::error("webhooks: the delivery thread stopped: {}", current_exception_text());
    }
  });
}

void DeliveryWorker::nudge() {
  asio::post(impl_->io, [impl = impl_.get()] {
    impl->next_lease_at_ms = 0;
    impl->safe_tick();
  });
}

void DeliveryWorker::log_advanced() {
  if (impl_->tick_posted.exchange(true, std::memory_order_acq_rel)) return;  // one tick covers every publish before it
  asio::post(impl_->io, [impl = impl_.get()] {
    impl->tick_posted.store(false, std::memory_order_release);
    impl->safe_tick();
  });
}

void DeliveryWorker::stop() {
  if (!impl_->thread.joinable()) return;
  impl_->io.stop();
  impl_->thread.join();
  if (auto released = impl_->store.release_webhook_leases(impl_->options.node_id); !released) {
    spdlog::warn("webhooks: cannot release the endpoint leases: {}", released.error().message);
  }
}

}  // namespace ablo::webhooks
