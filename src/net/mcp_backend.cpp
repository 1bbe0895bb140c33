#include "net/mcp_backend.h"

#include "net/dialect.h"

namespace ablo::net {

RouterBackend::RouterBackend(const Router& router, const engine::Engine& engine, Router::RunLater run_later)
    : router_(router), engine_(engine), run_later_(std::move(run_later)) {}

void RouterBackend::call(mcp::RestCall call, std::function<void(mcp::RestAnswer)> done) {
  run_later_([this, call = std::move(call), done = std::move(done)] {
    HttpRequest request;
    request.method = call.method;
    request.target = call.target;
    request.body = call.body;
    request.request_id = request_id_for("");
    request.headers["authorization"] = "Bearer " + call.bearer;
    // The current REST dialect: stamps and claims on reads, claims as tickets, strict receipts.
    request.headers[std::string(kProtocolVersionHeader)] = "1";
    if (!call.body.empty()) request.headers["content-type"] = "application/json";
    if (!call.idempotency_key.empty()) request.headers["idempotency-key"] = call.idempotency_key;
    router_.handle(request, [done](HttpResponse response) {
      response = collected(std::move(response));
      done({response.status, std::move(response.body)});
    });
  });
}

std::string RouterBackend::schema_fingerprint() const {
  auto schema = engine_.schema();
  return schema ? schema->hash() : std::string();
}

}  // namespace ablo::net
