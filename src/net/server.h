#pragma once
// The HTTP + WebSocket server: one port, a pool of I/O threads.
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "auth/auth_service.h"
#include "common/result.h"
#include "coord/coordinator.h"
#include "engine/engine.h"

namespace ablo::net {

struct ServerOptions {
  std::string host = "127.0.0.1";
  uint16_t port = 8787;  // 0 = pick a free port
  int io_threads = 2;
  int worker_threads = 32;  // HTTP handlers (they may block on a commit or a claimed read)
};

class Server {
 public:
  Server(engine::Engine& engine, auth::AuthService& auth, coord::Coordinator& coordinator, ServerOptions options);
  ~Server();

  // Binds and starts serving on the I/O threads; returns the bound port.
  Result<uint16_t> start();
  // Stops accepting, closes connections and joins the I/O threads.
  void stop();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace ablo::net
