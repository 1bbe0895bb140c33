#pragma once
// The HTTP + WebSocket server: one port, a pool of I/O threads.
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "auth/auth_service.h"
#include "common/result.h"
#include "coord/coordinator.h"
#include "engine/engine.h"
#include "fanout/hub.h"
#include "mcp/mcp.h"
#include "source/service.h"
#include "webhooks/registry.h"

namespace ablo::net {

// Close code for a socket dropped because it did not read its frames fast enough: 1013 "try
// again later" is not a session error (protocol.md §3.10), so the client reconnects and resumes
// from its cursor; 1008/4001/4003 would clear its local data.
inline constexpr int kSlowConsumerCloseCode = fanout::kSlowConsumerCloseCode;

// Per-connection and per-instance bounds (README "Limits and security").
struct ServerLimits {
  // Frames queued for one socket but not yet written (bytes); beyond it the socket is closed
  // with kSlowConsumerCloseCode and its queue freed.
  std::size_t max_send_queue_bytes = 32u << 20;
  std::size_t max_frame_bytes = 1u << 20;  // an inbound WebSocket message; larger: close 1009
  std::size_t max_body_bytes = 8u << 20;   // an HTTP request body; larger: 413
  int max_connections = 10'000;            // open WebSockets; beyond: 503 instance_at_capacity
  int max_connections_per_credential = 2'000;  // per API key / capability: 429 connection_limit_exceeded
  int bootstrap_threads = 4;  // bootstraps run on their own threads: at most this many at once
};

struct ServerOptions {
  std::string host = "127.0.0.1";
  uint16_t port = 8787;  // 0 = pick a free port
  int io_threads = 2;
  int worker_threads = 32;  // HTTP handlers (they may block on a commit)
  ServerLimits limits;
  webhooks::Registry* webhooks = nullptr;  // webhook endpoint routes (issue 13); null: none
  source::SourceService* sources = nullptr;  // Data Source mode (issue 11); null: none
  bool allow_private_sources = false;        // a source may be on a loopback/private address
  bool serve_mcp = true;  // the MCP server at /mcp (issue 14)
  std::string metrics_token;  // GET /metrics needs it as the bearer; empty: open
  // Extra checks of GET /api/ready beside the store and the schema, by name: each returns "ok"
  // or what is wrong (e.g. "cluster": the node's wake-up listener). Called on a worker thread.
  std::vector<std::pair<std::string, std::function<std::string()>>> readiness_checks;
  std::string data_location;  // where the data lives (a directory, or "PostgreSQL"): GET /api/ready says
  mcp::Options mcp;
};

class Server {
 public:
  Server(engine::Engine& engine, auth::AuthService& auth, coord::Coordinator& coordinator, ServerOptions options);
  ~Server();

  // Binds and starts serving on the I/O threads; returns the bound port.
  Result<uint16_t> start();
  // The delta log advanced (the hub published): wakes MCP waits and subscriptions. Any thread.
  void log_advanced();
  // Stops accepting, closes connections and joins the I/O threads.
  void stop();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace ablo::net
