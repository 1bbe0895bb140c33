#pragma once
// HTTP routes of the claim plane: GET/POST /v1/intents, DELETE /v1/intents/{id},
// POST/DELETE /v1/models/{model}/{id}/claim and POST …/claim/reorder (http-api.md §4.6, §5).
#include <optional>
#include <string>
#include <vector>

#include "auth/auth_service.h"
#include "coord/coordinator.h"
#include "engine/engine.h"
#include "net/http_types.h"

namespace ablo::net {

class ClaimRoutes {
 public:
  ClaimRoutes(engine::Engine& engine, coord::Coordinator& coordinator);

  // `parts` are the path segments after the optional "api" prefix, starting at "v1".
  // nullopt when the request is not a claim route.
  std::optional<Result<HttpResponse>> route(const HttpRequest& request, const std::vector<std::string>& parts,
                                            const auth::Principal& principal) const;

 private:
  // Only claims on rows the principal may read (and its own) are listed.
  Result<HttpResponse> list_intents(const HttpRequest& request, const auth::Principal& principal,
                                    const coord::Participant& who) const;
  // Claiming needs the write rule for the target row (Engine::authorize_claim).
  Result<HttpResponse> create_intent(const HttpRequest& request, const auth::Principal& principal,
                                     const coord::Participant& who) const;
  Result<HttpResponse> release_intent(const std::string& intent_id, const coord::Participant& who) const;
  Result<HttpResponse> claim_model(const HttpRequest& request, const std::string& model, const std::string& id,
                                   const auth::Principal& principal, const coord::Participant& who) const;
  Result<HttpResponse> release_model(const std::string& model, const std::string& id,
                                     const coord::Participant& who) const;
  Result<HttpResponse> reorder_model(const HttpRequest& request, const std::string& model, const std::string& id,
                                     const coord::Participant& who) const;
  Result<const schema::Model*> model_of(const std::string& name) const;

  engine::Engine& engine_;
  coord::Coordinator& coordinator_;
};

}  // namespace ablo::net
