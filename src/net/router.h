#pragma once
// HTTP routes of protocol.md §2 and the schema push of schema.md §2.6. Pure request ->
// response functions over the engine and auth service; no sockets here.
#include <optional>
#include <string>
#include <vector>

#include "auth/auth_service.h"
#include "coord/coordinator.h"
#include "engine/engine.h"
#include "net/account_routes.h"
#include "net/claim_routes.h"
#include "net/model_routes.h"
#include "net/http_types.h"

namespace ablo::net {

// The request id to use: a sane client-supplied x-request-id, else a fresh "req_…".
std::string request_id_for(const std::string& client_value);
// The bearer of an Authorization header ("Bearer x" -> "x"; empty when absent).
std::string bearer_of(const std::string& authorization);
// Repeated `syncGroups` query parameters of a target (percent-decoded).
std::vector<std::string> query_values(const std::string& target, const std::string& name);
// Every query parameter of a target, in order (percent-decoded; `a` without `=` gives "").
std::vector<std::pair<std::string, std::string>> query_pairs(const std::string& target);
// An error response with the envelope, status from the registry and, for 401s, X-Auth-Failure.
HttpResponse error_response(const Error& error, const std::string& request_id);

class Router {
 public:
  Router(engine::Engine& engine, auth::AuthService& auth, coord::Coordinator& coordinator);
  // Never throws: an exception from a handler becomes a 500 internal_error envelope.
  HttpResponse handle(const HttpRequest& request) const;

 private:
  HttpResponse handle_routed(const HttpRequest& request) const;
  Result<HttpResponse> route(const HttpRequest& request) const;
  Result<auth::Principal> authenticate(const HttpRequest& request) const;
  // /api/sync/query with the claimed-read policy (ifClaimed: return | wait | fail).
  Result<HttpResponse> sync_query(const HttpRequest& request, const auth::Principal& principal) const;

  engine::Engine& engine_;
  auth::AuthService& auth_;
  coord::Coordinator& coordinator_;
  ClaimRoutes claim_routes_;
  ModelRoutes model_routes_;
  AccountRoutes account_routes_;
};

}  // namespace ablo::net
