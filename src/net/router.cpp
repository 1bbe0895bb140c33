#include "net/router.h"

#include "net/authority.h"
#include "net/console_route.h"
#include "net/http_json.h"

#include <algorithm>

#include <boost/json.hpp>
#include <boost/url/parse.hpp>
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "common/exception_text.h"
#include "common/json_number.h"
#include "metrics/metrics.h"
#include "common/random.h"
#include "common/time.h"
#include "common/version.h"
#include "errors/registry.h"
#include "coord/wire.h"
#include "schema/sync_groups.h"

namespace ablo::net {

namespace json = boost::json;


std::string request_id_for(const std::string& client_value) {
  const bool sane = !client_value.empty() && client_value.size() <= 128 &&
                    std::all_of(client_value.begin(), client_value.end(), [](char c) {
                      return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-' || c == '.' || c == ':';
                    });
  return sane ? client_value : random_id("req", 24);
}

std::vector<std::string> query_values(const std::string& target, const std::string& name) {
  std::vector<std::string> values;
  auto url = boost::urls::parse_origin_form(target);
  if (!url) return values;
  for (const auto& param : url->params()) {
    if (param.key == name && param.has_value) values.emplace_back(param.value);
  }
  return values;
}

std::vector<std::pair<std::string, std::string>> query_pairs(const std::string& target) {
  std::vector<std::pair<std::string, std::string>> pairs;
  auto url = boost::urls::parse_origin_form(target);
  if (!url) return pairs;
  for (const auto& param : url->params()) pairs.emplace_back(param.key, param.has_value ? param.value : "");
  return pairs;
}

HttpResponse error_response(const Error& error, const std::string& request_id, errors::Contract contract) {
  // The status is the error's own (request_too_large stays a 413 for a 0.9.1 client that is
  // told invalid_body); the code is the one the client's contract knows.
  HttpResponse response =
      json_response(errors::http_status(error.code), errors::envelope(error, request_id, contract));
  if (response.status == 401 || response.status == 403) {
    response.headers.emplace_back("X-Auth-Failure", std::string(errors::code_for(error.code, contract)));
  }
  return response;
}

HttpResponse error_response(const Error& error, const HttpRequest& request) {
  // A request that announced a version we do not speak is still a 0.49-era client.
  const auto dialect = dialect_of(request);
  return error_response(error, request.request_id, contract_of(dialect ? *dialect : Dialect::kClaims));
}

HttpResponse collected(HttpResponse response) {
  if (!response.stream) return response;
  auto produce = std::move(response.stream);
  response.stream = nullptr;
  auto failed = produce([&response](std::string_view piece) {
    response.body.append(piece);
    return true;
  });
  return failed ? std::move(*failed) : std::move(response);
}

Router::Router(engine::Engine& engine, auth::AuthService& auth, coord::Coordinator& coordinator,
               RunLater run_later, webhooks::Registry* webhooks, source::SourceService* sources,
               bool allow_private_sources)
    : engine_(engine),
      auth_(auth),
      coordinator_(coordinator),
      claim_routes_(engine, coordinator, run_later),
      model_routes_(engine, coordinator),
      account_routes_(auth, coordinator, engine),
      feed_routes_(engine),
      audit_routes_(engine, auth),
      webhook_routes_(webhooks),
      source_routes_(sources, allow_private_sources),
      run_later_(std::move(run_later)) {}

// The exception boundary of every HTTP request: a handler that throws answers 500 internal_error.
void Router::handle(const HttpRequest& request, Reply reply) const {
  try {
    handle_routed(request, reply);
  } catch (...) {
    spdlog::error("{} {} {} threw: {}", request.request_id, request.method, request.target, current_exception_text());
    reply(error_response(Error("internal_error", "the request failed unexpectedly"), request));
  }
}

void Router::handle_routed(const HttpRequest& request, const Reply& reply) const {
  if (auto dialect = dialect_of(request); !dialect) {
    reply(error_response(dialect.error(), request));
    return;
  }
  if (path_of(request.target) == "/api/sync/query" && request.method == "POST") {
    auto principal = authenticate(request);
    if (!principal) {
      reply(respond(request, tl::unexpected(principal.error())));
      return;
    }
    auto answered = sync_query(request, *principal, reply);
    if (answered) reply(respond(request, std::move(*answered)));
    return;
  }
  if (auto parts = claim_routes_.waiting_claim(request)) {  // a 0.49 claim with waitTimeoutMs
    auto principal = authenticate(request);
    if (!principal) {
      reply(respond(request, tl::unexpected(principal.error())));
      return;
    }
    auto answer = [this, request, reply](Result<HttpResponse> later) {
      // Answered later, outside handle(): its own exception boundary.
      try {
        reply(respond(request, std::move(later)));
      } catch (...) {
        spdlog::error("{} {} {} threw: {}", request.request_id, request.method, request.target, current_exception_text());
        reply(error_response(Error("internal_error", "the request failed unexpectedly"), request));
      }
    };
    auto answered = claim_routes_.claim_and_wait(request, *parts, *principal, std::move(answer));
    if (answered) reply(respond(request, std::move(*answered)));
    return;
  }
  reply(respond(request, route(request)));
}

HttpResponse Router::respond(const HttpRequest& request, Result<HttpResponse> routed) const {
  if (!routed) {
    if (errors::http_status(routed.error().code) >= 500) {
      spdlog::error("{} {} {} failed: {} {}", request.request_id, request.method, request.target, routed.error().code,
                    routed.error().message);
    }
    return error_response(routed.error(), request);
  }
  return std::move(*routed);
}

Result<auth::Principal> Router::authenticate(const HttpRequest& request) const {
  return auth_.authenticate(bearer_of(request.header("authorization")));
}

// Ready when the store answers a read, a schema is loaded and every check the server was given
// (a cluster node: it hears the other nodes) passes; the checks are listed either way. Also the
// server's version and clock (`ablo doctor` compares it with its own); where the data lives (a
// directory path) only to a caller presenting a secret key — the route itself is open to load
// balancers.
Result<HttpResponse> Router::readiness(const HttpRequest& request) const {
  const auto stored = engine_.active_schema_version();
  json::object checks{{"store", stored ? "ok" : stored.error().message},
                      {"schema", engine_.schema() != nullptr ? "ok" : "none loaded"}};
  for (const auto& [name, check] : readiness_checks_) checks[name] = check();
  const bool ready =
      std::all_of(checks.begin(), checks.end(), [](const auto& check) { return check.value() == "ok"; });
  json::object body{{"status", ready ? "ready" : "not_ready"},
                    {"checks", checks},
                    {"version", kAbloVersion},
                    {"serverTime", iso8601_from_ms(now_ms())}};
  if (!request.header("authorization").empty()) {
    if (auto principal = authenticate(request); principal && principal->secret_key) body["dataLocation"] = data_location_;
  }
  return json_response(ready ? 200 : 503, body);
}

// Prometheus text. Aggregates of this process only — no tenant's rows, ids or keys — so it is
// open unless the server was given a metrics token (then `Authorization: Bearer <token>`).
Result<HttpResponse> Router::metrics_text(const HttpRequest& request) const {
  if (!metrics_token_.empty() && bearer_of(request.header("authorization")) != metrics_token_) {
    return fail("auth_no_credentials", "GET /metrics needs the server's metrics token as the bearer");
  }
  return HttpResponse{200, {{"Content-Type", "text/plain; version=0.0.4; charset=utf-8"}}, metrics::global().render()};
}

Result<HttpResponse> Router::route(const HttpRequest& request) const {
  const std::string path = path_of(request.target);
  const auto& method = request.method;

  if (path == "/api/health" && (method == "GET" || method == "HEAD")) {  // liveness
    return json_response(200, json::object{{"status", "healthy"}});
  }
  if (path == "/api/ready" && (method == "GET" || method == "HEAD")) return readiness(request);
  // The console's static files are public (before authentication); the data it shows is not.
  if (auto console = console_response(request, path)) return std::move(*console);
  if (path == "/metrics" && (method == "GET" || method == "HEAD")) return metrics_text(request);
  if (path == "/api/auth/check" && (method == "HEAD" || method == "GET")) {
    auto principal = authenticate(request);
    if (!principal) return tl::unexpected(principal.error());
    return HttpResponse{204, {}, {}};
  }
  // Signed by a data source's key, not authenticated by a bearer (datasource.md §1.9).
  if (path == "/api/source/events" && method == "POST") return source_routes_.push(request);

  auto principal = authenticate(request);
  if (!principal) return tl::unexpected(principal.error());
  const auto groups_for = [&](const std::vector<std::string>& requested) {
    return schema::narrow_groups(requested, principal->allowed_groups);
  };

  if (path == "/api/auth/capability" && method == "POST") {
    auto body = parse_object_body(request.body, true);
    if (!body) return tl::unexpected(body.error());
    auto exchange = auth::parse_exchange_request(*body);
    if (!exchange) return tl::unexpected(exchange.error());
    auto minted = auth_.exchange(*principal, *exchange);
    if (!minted) return tl::unexpected(minted.error());
    record_capability_event(engine_, *principal, "capability.mint", minted->record);
    const auto& c = minted->record;
    json::object scope{{"organizationId", c.org},
                       {"syncGroups", string_array(c.sync_groups)},
                       {"operations", string_array(c.operations)},
                       {"participantKind", c.participant_kind},
                       {"participantId", c.participant_id}};
    json::object out{{"capabilityId", c.id},
                     {"token", minted->token},
                     {"expiresAt", iso8601_from_ms(c.expires_at_ms)},
                     {"organizationId", c.org},
                     {"branchRoot", true},
                     {"scope", std::move(scope)},
                     {"userMeta", c.user_meta}};
    // A 0.49 client's scope is an EffectiveAuthority (`<model>.<verb>` operations only).
    if (dialect_of(request).value_or(Dialect::kIntents) == Dialect::kClaims) {
      out["scope"] = authority_json(authority_of(c, *engine_.schema()));
    }
    return json_response(200, out);
  }
  if (path == "/api/auth/identity" && method == "GET") {
    // One shape for both clients (each strips what it does not read): 0.49 requires projectId
    // and authority, and its live client a branchId; this server has one project and one
    // (root) branch per organization.
    const auto where = project_branch_of(principal->tenant.org);
    return json_response(200, json::object{{"participantKind", principal->participant_kind},
                                           {"participantId", principal->participant_id},
                                           {"accountScope", principal->tenant.org},
                                           {"organizationId", principal->tenant.org},
                                           {"projectId", where.project_id},
                                           {"branchId", where.branch_id},
                                           {"branchRoot", true},
                                           {"syncGroups", string_array(principal->allowed_groups)},
                                           {"authority", authority_json(authority_of(*principal, *engine_.schema()))},
                                           {"userMeta", json::object{}}});
  }
  if (path == "/api/sync/bootstrap" && method == "GET") {
    std::vector<std::string> models;
    for (const auto& list : query_values(request.target, "models")) {
      std::size_t start = 0;
      while (start <= list.size()) {
        const auto comma = list.find(',', start);
        auto name = list.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
        if (!name.empty()) models.push_back(std::move(name));
        if (comma == std::string::npos) break;
        start = comma + 1;
      }
    }
    // Produced by the server as it writes (HttpResponse::stream), on the bootstrap pool's thread,
    // when its tenant's turn comes (stream_owner).
    HttpResponse response{200, {}, {}};
    response.stream = [this, request, principal = *principal,
                       groups = groups_for(query_values(request.target, "syncGroups")),
                       models = std::move(models)](const BodySink& sink) -> std::optional<HttpResponse> {
      // Runs after handle() returned: its own exception boundary.
      try {
        auto written = engine_.write_bootstrap(principal, groups, models, sink);
        if (!written) return respond(request, tl::unexpected(written.error()));
        return std::nullopt;
      } catch (...) {
        spdlog::error("{} {} {} threw: {}", request.request_id, request.method, request.target, current_exception_text());
        return error_response(Error("internal_error", "the request failed unexpectedly"), request);
      }
    };
    response.stream_owner = principal->tenant.key();
    return response;
  }
  auto parts = split_path(path);
  if (parts.size() >= 2 && parts[0] == "api" && parts[1] == "v1") parts.erase(parts.begin());  // §8.6: both prefixes
  if (!parts.empty() && parts[0] == "v1" && !request.body.empty()) {
    // JSON is the only body the public API reads; anything else is refused before parsing.
    const auto type = request.header("content-type");
    if (!type.empty() && type.rfind("application/json", 0) != 0) {
      return fail("invalid_request", fmt::format("Content-Type must be application/json, not '{}'", type),
                  "Content-Type");
    }
  }
  if (auto routed = audit_routes_.route(request, parts, *principal)) return std::move(*routed);
  if (auto routed = account_routes_.route(request, parts, *principal)) return std::move(*routed);
  if (!parts.empty() && parts[0] == "v1") {
    if (auto routed = feed_routes_.route(request, parts, *principal)) return std::move(*routed);
    if (auto routed = webhook_routes_.route(request, parts, *principal)) return std::move(*routed);
    if (auto routed = source_routes_.route(request, parts, *principal)) return std::move(*routed);
    if (auto routed = claim_routes_.route(request, parts, *principal)) return std::move(*routed);
    if (auto routed = model_routes_.route(request, parts, *principal)) return std::move(*routed);
  }
  if (parts.size() == 5 && parts[0] == "api" && parts[1] == "sync" && parts[2] == "entity" && method == "GET") {
    auto row = engine_.entity(*principal, groups_for({}), parts[3], parts[4]);
    if (!row) return tl::unexpected(row.error());
    return json_response(200, *row);
  }
  if (path == "/api/schema" && method == "POST") {
    if (!principal->secret_key) return fail("forbidden", "pushing a schema needs a secret (sk_) key");
    auto body = parse_object_body(request.body);
    if (!body) return tl::unexpected(body.error());
    // The CLI wraps the schema as {schema, force, renames, backfills}; a bare envelope works too.
    const json::value schema_json = body->contains("schema") ? body->at("schema") : json::value(*body);
    auto hints = schema::parse_migration_hints(*body);
    if (!hints) return tl::unexpected(hints.error());
    const auto* force = body->if_contains("force");
    auto pushed = engine_.push_schema(schema_json, *hints, force && force->is_bool() && force->as_bool(), &*principal);
    if (!pushed) return tl::unexpected(pushed.error());
    auto schema = engine_.schema();
    return json_response(200, json::object{{"version", pushed->version},
                                           {"hash", schema->hash()},
                                           {"active", true},
                                           {"migration", pushed->plan.to_json()}});
  }
  if (path == "/api/schema" && method == "GET") {
    // 0.49's schemaReadResponseSchema (its CLI's `status` and push preview read it), plus the
    // pushed JSON as `schema`. No 0.9.1 client reads this route.
    return feed_routes_.schema(*principal, true);
  }
  // The registry has no route code; entity_not_found is a 404 the client types like any unknown resource.
  return fail("entity_not_found", fmt::format("no route for {} {}", method, path));
}

}  // namespace ablo::net

namespace ablo::net {

namespace {

constexpr int64_t kDefaultClaimedTimeoutMs = 30'000;
constexpr int64_t kMaxClaimedTimeoutMs = 120'000;

}  // namespace

// ifClaimed (http-api.md §5.8), on the server side: `return` answers with the rows and the
// foreign claims on them, `fail` refuses with model_claimed while any returned row is held by
// someone else, `wait` waits until those claims end (then reads again, so the answer holds
// the holder's writes) or fails with model_claimed_timeout after claimedTimeout ms. A wait
// holds no thread: the coordinator calls back when the rows are free or the time is up, and the
// second read runs on the worker pool. Waits are bounded (CoordinatorOptions::
// max_claimed_waits); beyond the bound the read is refused with queue_too_deep (503, retryable).
std::optional<Result<HttpResponse>> Router::sync_query(const HttpRequest& request, const auth::Principal& principal,
                                                       const Reply& reply) const {
  auto body = parse_object_body(request.body);
  if (!body) return tl::unexpected(body.error());
  const auto groups = schema::narrow_groups({}, principal.allowed_groups);
  auto result = engine_.query(principal, groups, *body);
  if (!result) return tl::unexpected(result.error());
  const auto* policy_value = body->if_contains("ifClaimed");
  if (!policy_value) return json_response(200, *result);
  const std::string policy = policy_value->is_string() ? std::string(policy_value->as_string()) : "";
  if (policy != "return" && policy != "wait" && policy != "fail") {
    return tl::unexpected(Error("invalid_request", "ifClaimed must be one of return, wait, fail", "ifClaimed"));
  }
  const auto who = coord::participant_of(principal, {});
  auto entities = returned_entities(*body, *result);
  auto claims = foreign_claims(who, entities);
  if (policy == "wait" && !claims.empty()) {
    int64_t timeout = kDefaultClaimedTimeoutMs;
    if (const auto* t = body->if_contains("claimedTimeout"); t && t->is_number()) {
      timeout = clamped_int64(*t, 0, kMaxClaimedTimeoutMs).value_or(timeout);
    }
    auto on_free = [this, request, principal, groups, who, body = std::move(*body), timeout, reply](bool free) {
      run_later_([this, request, principal, groups, who, body, timeout, reply, free] {
        // Answered later, outside handle(): its own exception boundary.
        try {
          answer_claimed_read(request, principal, groups, who, body, timeout, reply, free);
        } catch (...) {
          spdlog::error("{} {} {} threw: {}", request.request_id, request.method, request.target, current_exception_text());
          reply(error_response(Error("internal_error", "the request failed unexpectedly"), request));
        }
      });
    };
    if (!coordinator_.when_free(who, std::move(entities), now_ms() + timeout, std::move(on_free))) {
      return tl::unexpected(Error("queue_too_deep", "too many claimed reads are waiting; retry shortly"));
    }
    return std::nullopt;
  }
  if (policy == "fail" && !claims.empty()) {
    Error error("model_claimed", "a returned row is claimed by another participant");
    error.details = {{"claims", std::move(claims)}};
    return tl::unexpected(std::move(error));
  }
  (*result)["claims"] = std::move(claims);
  return json_response(200, *result);
}

// The second read of a claimed read that waited (ifClaimed: wait), once the rows are free or
// the wait timed out.
void Router::answer_claimed_read(const HttpRequest& request, const auth::Principal& principal,
                                 const std::vector<std::string>& groups, const coord::Participant& who,
                                 const json::object& body, int64_t timeout, const Reply& reply, bool free) const {
  if (!free) {
    reply(respond(request, tl::unexpected(Error("model_claimed_timeout",
                                                fmt::format("the rows stayed claimed for {} ms", timeout)))));
    return;
  }
  auto again = engine_.query(principal, groups, body);
  if (!again) {
    reply(respond(request, tl::unexpected(again.error())));
    return;
  }
  (*again)["claims"] = foreign_claims(who, returned_entities(body, *again));
  reply(respond(request, json_response(200, *again)));
}

// The (model, id) of every row a query answer returned.
std::vector<std::pair<std::string, std::string>> Router::returned_entities(const json::object& body,
                                                                          const json::object& answer) const {
  std::vector<std::pair<std::string, std::string>> entities;
  const auto& queries = body.at("queries").as_array();
  const auto& results = answer.at("results").as_array();
  for (std::size_t i = 0; i < results.size() && i < queries.size(); ++i) {
    const auto model = coordinator_.model_key(queries[i].as_object().at("model").as_string());
    for (const auto& row : results[i].as_array()) {
      if (const auto* id = row.as_object().if_contains("id"); id && id->is_string()) {
        entities.emplace_back(model, std::string(id->as_string()));
      }
    }
  }
  return entities;
}

json::array Router::foreign_claims(const coord::Participant& who,
                                   const std::vector<std::pair<std::string, std::string>>& entities) const {
  json::array claims;
  for (const auto& [model, id] : entities) {
    for (const auto& claim : coordinator_.foreign_holders(who, model, id)) claims.push_back(coord::http_record(claim, -1));
  }
  return claims;
}

}  // namespace ablo::net
