#pragma once
// The MCP server's way into the REST API: each call becomes an in-process request to the
// router, run on the worker pool (a handler may block on a commit; the MCP actor never does).
#include <functional>
#include <string>

#include "engine/engine.h"
#include "mcp/mcp.h"
#include "net/router.h"

namespace ablo::net {

class RouterBackend : public mcp::Backend {
 public:
  RouterBackend(const Router& router, const engine::Engine& engine, Router::RunLater run_later);
  void call(mcp::RestCall call, std::function<void(mcp::RestAnswer)> done) override;
  std::string schema_fingerprint() const override;

 private:
  const Router& router_;
  const engine::Engine& engine_;
  Router::RunLater run_later_;
};

}  // namespace ablo::net
