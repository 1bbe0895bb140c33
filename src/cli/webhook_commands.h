#pragma once
// Webhooks in the `ablo` command (issue 13): the server side of `ablo serve` (the endpoint
// registry and the delivery worker, with their options) and the client commands
// `ablo webhooks create|list|roll|enable|disable|rm|listen`.
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "store/store.h"
#include "webhooks/registry.h"
#include "webhooks/worker.h"

namespace CLI {
class App;
}

namespace ablo::cli {

struct WebhookServeOptions {
  webhooks::WorkerOptions worker;
  int64_t roll_grace_seconds = 24 * 3600;
  std::string retry_delays_ms;  // hidden: a shorter retry schedule for tests ("100,100,100")
};

// The `ablo serve` flags of webhook delivery (the test-only ones hidden).
void add_webhook_serve_options(CLI::App& serve_cmd, WebhookServeOptions& options);

// The registry the routes use and the worker that delivers, for one server process.
class WebhookService {
 public:
  // `node_id`: this node's lease owner id (unique per node on a shared database); `head`: the
  // log head this node has published (the fan-out hub's).
  static Result<std::unique_ptr<WebhookService>> create(store::Store& store, const WebhookServeOptions& options,
                                                        std::string node_id, std::function<int64_t()> head);
  webhooks::Registry& registry() { return registry_; }
  // Once the server listens: the self-delivery check learns its port; delivery starts.
  void start(uint16_t own_port);
  void stop() { worker_.stop(); }
  // The fan-out hub's publish listener: new deltas wake delivery at once.
  void log_advanced() { worker_.log_advanced(); }

 private:
  WebhookService(store::Store& store, webhooks::RegistryOptions registry_options, webhooks::WorkerOptions worker_options)
      : registry_(store, registry_options), worker_(store, std::move(worker_options)) {
    // Set before any request can reach the registry (the callback is not synchronized).
    registry_.on_change([this] { worker_.nudge(); });
  }
  webhooks::Registry registry_;
  webhooks::DeliveryWorker worker_;
};

// Registers `webhooks create|list|roll|enable|disable|rm|listen` on `app` (run from callbacks).
void add_webhook_commands(CLI::App& app);

}  // namespace ablo::cli
