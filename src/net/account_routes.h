#pragma once
// Accounts on the public API (http-api.md §6): capabilities (POST /v1/capabilities mints a
// scoped, expiring token; GET inspects one, never its token; DELETE revokes it everywhere and
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
  Result<HttpResponse> revoke(const std::string& id, const auth::Principal& principal) const;
  Result<HttpResponse> open_task(const HttpRequest& request, const auth::Principal& principal) const;
  Result<HttpResponse> close_task(const HttpRequest& request, const std::string& id,
                                  const auth::Principal& principal) const;
  Result<HttpResponse> usage(const HttpRequest& request, const auth::Principal& principal) const;

  auth::AuthService& auth_;
  coord::Coordinator& coordinator_;
  engine::Engine& engine_;
};

}  // namespace ablo::net
