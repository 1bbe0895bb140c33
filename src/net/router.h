#pragma once
// HTTP routes of protocol.md §2 and the schema push of schema.md §2.6. Pure request ->
// response functions over the engine and auth service; no sockets here.
#include <functional>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <boost/json/array.hpp>

#include "auth/auth_service.h"
#include "coord/coordinator.h"
#include "engine/engine.h"
#include "net/account_routes.h"
#include "net/audit_routes.h"
#include "net/claim_routes.h"
#include "net/dialect.h"
#include "net/feed_routes.h"
#include "net/model_routes.h"
#include "net/source_routes.h"
#include "net/webhook_routes.h"
#include "net/http_types.h"

namespace ablo::net {

// The request id to use: a sane client-supplied x-request-id, else a fresh "req_…".
std::string request_id_for(const std::string& client_value);
// Repeated `syncGroups` query parameters of a target (percent-decoded).
std::vector<std::string> query_values(const std::string& target, const std::string& name);
// Every query parameter of a target, in order (percent-decoded; `a` without `=` gives "").
std::vector<std::pair<std::string, std::string>> query_pairs(const std::string& target);
// An error response with the envelope, status from the registry and, for 401s, X-Auth-Failure;
// the code as the client's error contract spells it.
HttpResponse error_response(const Error& error, const std::string& request_id,
                            errors::Contract contract = errors::Contract::k2026_06_02);
// The same for a request: its contract follows its dialect (net/dialect.h).
HttpResponse error_response(const Error& error, const HttpRequest& request);
// A streamed response (HttpResponse::stream) produced into `body` here, for callers that need it
// in one piece; any other response unchanged.
HttpResponse collected(HttpResponse response);

class Router {
 public:
  using Reply = std::function<void(HttpResponse)>;
  // Runs a task later on a thread that may block (the worker pool).
  using RunLater = std::function<void(std::function<void()>)>;

  // `webhooks`: the webhook endpoint registry (issue 13), or null to serve none.
  // `sources`: Data Source mode (issue 11), or null to serve none; `allow_private_sources`: a
  // source may be on a loopback or private address.
  Router(engine::Engine& engine, auth::AuthService& auth, coord::Coordinator& coordinator, RunLater run_later,
         webhooks::Registry* webhooks = nullptr, source::SourceService* sources = nullptr,
         bool allow_private_sources = false);
  // Answers through `reply`: at once, or — a claimed read that waits for a release (ifClaimed:
  // wait) — later from run_later, without holding the calling thread meanwhile. Never throws:
  // an exception from a handler becomes a 500 internal_error envelope.
  void handle(const HttpRequest& request, Reply reply) const;
  // GET /metrics then needs `Authorization: Bearer <token>` (empty: open). Before serving.
  void set_metrics_token(std::string token) { metrics_token_ = std::move(token); }
  using ReadinessChecks = std::vector<std::pair<std::string, std::function<std::string()>>>;
  // Before the server starts (read-only afterwards).
  void set_readiness_checks(ReadinessChecks checks) { readiness_checks_ = std::move(checks); }
  // Reported by GET /api/ready (`ablo status`). Before serving.
  void set_data_location(std::string where) { data_location_ = std::move(where); }

 private:
  void handle_routed(const HttpRequest& request, const Reply& reply) const;
  HttpResponse respond(const HttpRequest& request, Result<HttpResponse> routed) const;
  Result<HttpResponse> route(const HttpRequest& request) const;
  Result<HttpResponse> readiness(const HttpRequest& request) const;
  Result<HttpResponse> metrics_text(const HttpRequest& request) const;
  Result<auth::Principal> authenticate(const HttpRequest& request) const;
  // /api/sync/query with the claimed-read policy (ifClaimed: return | wait | fail); nullopt
  // when the answer comes later through `reply` (a wait was registered).
  std::optional<Result<HttpResponse>> sync_query(const HttpRequest& request, const auth::Principal& principal,
                                                 const Reply& reply) const;
  std::vector<std::pair<std::string, std::string>> returned_entities(const boost::json::object& body,
                                                                     const boost::json::object& answer) const;
  void answer_claimed_read(const HttpRequest& request, const auth::Principal& principal,
                           const std::vector<std::string>& groups, const coord::Participant& who,
                           const boost::json::object& body, int64_t timeout, const Reply& reply, bool free) const;
  boost::json::array foreign_claims(const coord::Participant& who,
                                    const std::vector<std::pair<std::string, std::string>>& entities) const;

  engine::Engine& engine_;
  auth::AuthService& auth_;
  coord::Coordinator& coordinator_;
  ClaimRoutes claim_routes_;
  ModelRoutes model_routes_;
  AccountRoutes account_routes_;
  FeedRoutes feed_routes_;
  AuditRoutes audit_routes_;  // issue 13
  WebhookRoutes webhook_routes_;
  SourceRoutes source_routes_;
  RunLater run_later_;
  std::string metrics_token_;
  ReadinessChecks readiness_checks_;
  std::string data_location_;
};

}  // namespace ablo::net
