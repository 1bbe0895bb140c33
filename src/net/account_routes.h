#pragma once
// Credentials on the public API (http-api.md §6.1): POST /v1/capabilities mints a scoped,
// expiring token; GET /v1/capabilities/{id} inspects one (never its token); DELETE revokes
// it, after which it is refused everywhere and its open sockets are closed.
#include <optional>
#include <string>
#include <vector>

#include "auth/auth_service.h"
#include "coord/coordinator.h"
#include "net/http_types.h"

namespace ablo::net {

class AccountRoutes {
 public:
  AccountRoutes(auth::AuthService& auth, coord::Coordinator& coordinator);

  // `parts` start at "v1". nullopt when the request is not one of these routes.
  std::optional<Result<HttpResponse>> route(const HttpRequest& request, const std::vector<std::string>& parts,
                                            const auth::Principal& principal) const;

 private:
  Result<HttpResponse> mint(const HttpRequest& request, const auth::Principal& principal) const;
  Result<HttpResponse> revoke(const std::string& id, const auth::Principal& principal) const;

  auth::AuthService& auth_;
  coord::Coordinator& coordinator_;
};

}  // namespace ablo::net
