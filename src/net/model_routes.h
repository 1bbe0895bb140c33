#pragma once
// The public REST write and read surface (http-api.md §3, §4): POST /v1/commits, the per-model
// routes GET/POST /v1/models/{model}, GET/PATCH/DELETE /v1/models/{model}/{id}, and
// GET /v1/openapi.json generated from the live schema.
// Writes go through the same engine pipeline as WebSocket commits, so their deltas fan out to
// subscribers exactly the same way.
#include <optional>
#include <string>
#include <vector>

#include "auth/auth_service.h"
#include "coord/coordinator.h"
#include "engine/engine.h"
#include "net/dialect.h"
#include "net/http_types.h"

namespace ablo::net {

class ModelRoutes {
 public:
  ModelRoutes(engine::Engine& engine, coord::Coordinator& coordinator);

  // `parts` start at "v1". nullopt when the request is not one of these routes.
  std::optional<Result<HttpResponse>> route(const HttpRequest& request, const std::vector<std::string>& parts,
                                            const auth::Principal& principal) const;

 private:
  Result<HttpResponse> create_commit(const HttpRequest& request, const auth::Principal& principal) const;
  Result<HttpResponse> list(const HttpRequest& request, const schema::Model& model,
                            const auth::Principal& principal) const;
  // kIntents: 404 model_not_found for a missing or out-of-scope row, 0.9.1 claim records.
  // kClaims: that row answers 200 with `data: null` (0.49 reads a miss as absent data, with
  // the stamp it was absent at), and `claims` are ModelClaims (net/model_claim.h).
  Result<HttpResponse> retrieve(const HttpRequest& request, const schema::Model& model, const std::string& id,
                                const auth::Principal& principal) const;
  // POST/PATCH/DELETE on a model: a one-operation commit.
  Result<HttpResponse> write(const HttpRequest& request, engine::OpType type, const schema::Model& model,
                             std::optional<std::string> id, const auth::Principal& principal) const;
  Status check_claims_held(const std::vector<engine::Operation>& operations, const auth::Principal& principal) const;
  // Runs a commit and answers with its receipt in the request's dialect (net/receipt_codec.h);
  // a rejection is the error envelope (0.9.1: merged with a rejected receipt).
  HttpResponse run_commit(engine::CommitRequest commit, const HttpRequest& request) const;

  engine::Engine& engine_;
  coord::Coordinator& coordinator_;
};

}  // namespace ablo::net
