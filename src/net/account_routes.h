#pragma once
// Accounts on the public API (http-api.md §6): 0.49's session routes (POST /v1/ephemeral_keys
// mints a user session, an ek_ token; POST /v1/capabilities/{id}/rotate replaces a token and
// keeps its grant), capabilities (POST /v1/capabilities mints a
// scoped, expiring token; GET lists them or inspects one, never a token; DELETE revokes it everywhere and
// closes its open sockets), agent tasks (POST /v1/tasks, POST /v1/tasks/{id}/close, and the
// older /api/agent/turn spellings) and usage aggregates (GET /v1/usage).
#include <optional>
#include <string>
#include <vector>

#include "auth/auth_service.h"
#include "coord/coordinator.h"
#include "engine/engine.h"
#include "net/http_types.h"

namespace ablo::net {

class AccountRoutes {
 public:
  AccountRoutes(auth::AuthService& auth, coord::Coordinator& coordinator, engine::Engine& engine);

  // `parts` start at "v1". nullopt when the request is not one of these routes.
  std::optional<Result<HttpResponse>> route(const HttpRequest& request, const std::vector<std::string>& parts,
                                            const auth::Principal& principal) const;

 private:
  Result<HttpResponse> mint(const HttpRequest& request, const auth::Principal& principal) const;
  Result<HttpResponse> list(const HttpRequest& request, const auth::Principal& principal) const;
  Result<HttpResponse> revoke(const std::string& id, const auth::Principal& principal) const;
  // POST /v1/ephemeral_keys (0.49 EphemeralKeyResponseSchema, 201).
  Result<HttpResponse> ephemeral_key(const HttpRequest& request, const auth::Principal& principal) const;
  // POST /v1/capabilities/{id}/rotate {graceSeconds?, ttlSeconds?} (0.49
  // capabilityRotationResponseSchema, 201). Without a grace the old token's sockets close now.
  Result<HttpResponse> rotate(const HttpRequest& request, const std::string& id,
                              const auth::Principal& principal) const;
  // Closes the open sockets of a capability and of every token exchanged from it (4003).
  Result<int> close_capability_sessions(const std::string& tenant, const std::string& id) const;
  Result<HttpResponse> open_task(const HttpRequest& request, const auth::Principal& principal) const;
  Result<HttpResponse> close_task(const HttpRequest& request, const std::string& id,
                                  const auth::Principal& principal) const;
  Result<HttpResponse> usage(const HttpRequest& request, const auth::Principal& principal) const;

  auth::AuthService& auth_;
  coord::Coordinator& coordinator_;
  engine::Engine& engine_;
};

}  // namespace ablo::net
