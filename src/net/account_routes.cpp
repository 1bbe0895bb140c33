#include "net/account_routes.h"

#include <map>
#include <set>
#include <tuple>

#include <boost/json.hpp>
#include <fmt/format.h>

#include "common/json_number.h"
#include "common/time.h"
#include "net/audit_routes.h"
#include "net/authority.h"
#include "net/dialect.h"
#include "net/http_json.h"
#include "net/router.h"

namespace ablo::net {

namespace json = boost::json;

namespace {

// WebSocket close code for a credential that stopped being valid (protocol.md §3.10).
constexpr int kCloseRevoked = 4003;
// GET /v1/capabilities page sizes.
constexpr int kDefaultCapabilityLimit = 20;
constexpr int kMaxCapabilityLimit = 100;

std::string_view status_of(const store::CapabilityRecord& c) {
  if (c.revoked) return "revoked";
  return c.expires_at_ms <= now_ms() ? "expired" : "active";
}

// The capability record in every spelling 0.9.1 and the OpenAPI read (http-api.md §6.1).
json::object capability_json(const store::CapabilityRecord& c) {
  json::array groups = string_array(c.sync_groups);
  json::array operations = string_array(c.operations);
  return json::object{{"object", "capability"},
                      {"id", c.id},
                      {"capabilityId", c.id},
                      {"organizationId", c.org},
                      {"participantKind", c.participant_kind},
                      {"participantId", c.participant_id},
                      {"syncGroups", groups},
                      {"allowedSyncGroups", groups},
                      {"operations", operations},
                      {"allowedOperations", operations},
                      {"scope", json::object{{"organizationId", c.org},
                                             {"syncGroups", groups},
                                             {"operations", operations},
                                             {"participantKind", c.participant_kind},
                                             {"participantId", c.participant_id}}},
                      {"label", c.label.empty() ? json::value(nullptr) : json::value(c.label)},
                      {"userMeta", c.user_meta},
                      {"status", status_of(c)},
                      {"issuedAt", iso8601_from_ms(c.issued_at_ms)},
                      {"expiresAt", iso8601_from_ms(c.expires_at_ms)},
                      {"revokedAt", c.revoked_at_ms > 0 ? json::value(iso8601_from_ms(c.revoked_at_ms)) : nullptr},
                      {"lastUsedAt", nullptr}};
}


}  // namespace

AccountRoutes::AccountRoutes(auth::AuthService& auth, coord::Coordinator& coordinator, engine::Engine& engine)
    : auth_(auth), coordinator_(coordinator), engine_(engine) {}

std::optional<Result<HttpResponse>> AccountRoutes::route(const HttpRequest& request,
                                                         const std::vector<std::string>& parts,
                                                         const auth::Principal& principal) const {
  const auto& method = request.method;
  // /v1/tasks and the schema client's older /api/agent/turn spelling of the same resource.
  const bool tasks = (parts.size() >= 2 && parts[0] == "v1" && parts[1] == "tasks") ||
                     (parts.size() >= 3 && parts[0] == "api" && parts[1] == "agent" && parts[2] == "turn");
  if (tasks) {
    const std::size_t base = parts[0] == "v1" ? 2 : 3;
    if (parts.size() == base && method == "POST") return open_task(request, principal);
    if (parts.size() == base + 2 && parts[base + 1] == "close" && method == "POST") {
      return close_task(request, parts[base], principal);
    }
    return std::nullopt;
  }
  if (parts.size() == 2 && parts[0] == "v1" && parts[1] == "usage" && method == "GET") return usage(request, principal);
  if (parts.size() == 2 && parts[0] == "v1" && parts[1] == "ephemeral_keys" && method == "POST") {
    return ephemeral_key(request, principal);
  }
  if (parts.size() == 4 && parts[1] == "capabilities" && parts[3] == "rotate" && method == "POST") {
    return rotate(request, parts[2], principal);
  }
  if (parts.size() < 2 || parts[1] != "capabilities") return std::nullopt;
  if (parts.size() == 2 && method == "POST") return mint(request, principal);
  if (parts.size() == 2 && method == "GET") return list(request, principal);
  if (parts.size() != 3) return std::nullopt;
  if (method == "GET") {
    auto record = auth_.find_capability(principal, parts[2]);
    if (!record) return Result<HttpResponse>(tl::unexpected(record.error()));
    return Result<HttpResponse>(json_response(200, capability_json(*record)));
  }
  if (method == "DELETE") return revoke(parts[2], principal);
  return std::nullopt;
}

Result<HttpResponse> AccountRoutes::mint(const HttpRequest& request, const auth::Principal& principal) const {
  auto body = parse_object_body(request.body);
  if (!body) return tl::unexpected(body.error());
  auto parsed = auth::parse_mint_request(*body);
  if (!parsed) return tl::unexpected(parsed.error());
  auto minted = auth_.mint(principal, *parsed);
  if (!minted) return tl::unexpected(minted.error());
  record_capability_event(engine_, principal, "capability.mint", minted->record);
  auto out = capability_json(minted->record);
  out["token"] = minted->token;  // shown once, never again
  // 0.49 reads this answer as a capability mint: `branchRoot` is required and `scope` is an
  // EffectiveAuthority with a project and branch. Its live client mints without announcing
  // its version, so every answer names them (0.9.1 ignores the extra keys); a request that
  // announces 0.49 also gets `<model>.<verb>` operations only.
  out["branchRoot"] = true;
  if (dialect_of(request).value_or(Dialect::kIntents) == Dialect::kClaims) {
    out["scope"] = authority_json(authority_of(minted->record, *engine_.schema()));
  } else {
    const auto where = project_branch_of(minted->record.org);
    auto& scope = out["scope"].as_object();
    scope["projectId"] = where.project_id;
    scope["branchId"] = where.branch_id;
    scope["deliveryPartition"] = nullptr;
  }
  return json_response(200, out);
}

// GET /v1/capabilities?limit=&starting_after=&status=active|revoked: newest first, each in the
// shape GET /v1/capabilities/{id} answers.
Result<HttpResponse> AccountRoutes::list(const HttpRequest& request, const auth::Principal& principal) const {
  int limit = kDefaultCapabilityLimit;
  std::string starting_after;
  auto status = store::CapabilityListQuery::Status::kAny;
  for (const auto& [name, value] : query_pairs(request.target)) {
    if (name == "limit") {
      auto parsed = parse_page_limit(value, kMaxCapabilityLimit);
      if (!parsed) return tl::unexpected(parsed.error());
      limit = *parsed;
    } else if (name == "starting_after") {
      starting_after = value;
    } else if (name == "status") {
      if (value == "active") status = store::CapabilityListQuery::Status::kActive;
      else if (value == "revoked") status = store::CapabilityListQuery::Status::kRevoked;
      else return fail("invalid_request", "status must be active or revoked", "status");
    }
  }
  auto page = auth_.list_capabilities(principal, status, starting_after, limit);
  if (!page) return tl::unexpected(page.error());
  json::array data;
  for (const auto& capability : page->capabilities) data.push_back(capability_json(capability));
  return json_response(200, json::object{{"object", "list"}, {"data", std::move(data)}, {"has_more", page->has_more}});
}

Result<HttpResponse> AccountRoutes::revoke(const std::string& id, const auth::Principal& principal) const {
  auto record = auth_.revoke_capability(principal, id);
  if (!record) return tl::unexpected(record.error());
  record_capability_event(engine_, principal, "capability.revoke", *record);
  // New requests and upgrades are refused by authentication; open sockets are closed here,
  // those of tokens exchanged from this one included.
  int closed = coordinator_.close_sessions(principal.tenant.key(), id, kCloseRevoked, "capability revoked");
  auto derived = auth_.descendants(id);
  if (!derived) return tl::unexpected(derived.error());
  for (const auto& child : *derived) {
    closed += coordinator_.close_sessions(principal.tenant.key(), child, kCloseRevoked, "capability revoked");
  }
  auto out = capability_json(*record);
  out["deleted"] = true;
  out["activeSessionsClosed"] = closed;
  return json_response(200, out);
}

Result<HttpResponse> AccountRoutes::ephemeral_key(const HttpRequest& request, const auth::Principal& principal) const {
  auto body = parse_object_body(request.body);
  if (!body) return tl::unexpected(body.error());
  auto parsed = auth::parse_ephemeral_key_request(*body, *engine_.schema());
  if (!parsed) return tl::unexpected(parsed.error());
  auto minted = auth_.mint_ephemeral(principal, *parsed);
  if (!minted) return tl::unexpected(minted.error());
  record_capability_event(engine_, principal, "capability.mint", minted->record);
  const auto& c = minted->record;
  return json_response(201, json::object{{"object", "ephemeral_key"},
                                         {"id", c.id},
                                         {"token", minted->token},
                                         {"expiresAt", iso8601_from_ms(c.expires_at_ms)},
                                         {"organizationId", c.org},
                                         {"participantId", c.participant_id},
                                         {"projectId", project_branch_of(c.org).project_id},
                                         {"branchId", project_branch_of(c.org).branch_id},
                                         {"branchRoot", true},
                                         {"syncGroups", string_array(c.sync_groups)},
                                         {"deliveryPartition", nullptr},
                                         {"operations", string_array(c.operations)}});
}

Result<HttpResponse> AccountRoutes::rotate(const HttpRequest& request, const std::string& id,
                                           const auth::Principal& principal) const {
  auto body = parse_object_body(request.body, true);
  if (!body) return tl::unexpected(body.error());
  std::optional<int64_t> grace, ttl;
  for (auto [name, slot] : {std::pair{"graceSeconds", &grace}, std::pair{"ttlSeconds", &ttl}}) {
    const auto* value = body->if_contains(name);
    if (!value || value->is_null()) continue;
    auto seconds = exact_int64_in(*value, 1, std::numeric_limits<int32_t>::max());
    if (!seconds) return fail("invalid_request", fmt::format("{} must be a positive integer", name), name);
    *slot = *seconds;
  }
  auto rotation = auth_.rotate(principal, id, grace, ttl);
  if (!rotation) return tl::unexpected(rotation.error());
  record_capability_event(engine_, principal, "capability.mint", rotation->replacement.record);
  if (rotation->previous.revoked) {
    auto closed = close_capability_sessions(principal.tenant.key(), id);
    if (!closed) return tl::unexpected(closed.error());
  }
  const auto& c = rotation->replacement.record;
  return json_response(201, json::object{{"capabilityId", c.id},
                                         {"token", rotation->replacement.token},
                                         {"expiresAt", iso8601_from_ms(c.expires_at_ms)},
                                         {"organizationId", c.org},
                                         {"branchRoot", true},
                                         {"scope", authority_json(authority_of(c, *engine_.schema()))},
                                         {"rotatedFrom", json::object{{"capabilityId", rotation->previous.id},
                                                                      {"expiresAt", iso8601_from_ms(
                                                                                        rotation->previous.expires_at_ms)}}}});
}

Result<int> AccountRoutes::close_capability_sessions(const std::string& tenant, const std::string& id) const {
  int closed = coordinator_.close_sessions(tenant, id, kCloseRevoked, "capability revoked");
  auto derived = auth_.descendants(id);
  if (!derived) return tl::unexpected(derived.error());
  for (const auto& child : *derived) closed += coordinator_.close_sessions(tenant, child, kCloseRevoked, "capability revoked");
  return closed;
}

Result<HttpResponse> AccountRoutes::open_task(const HttpRequest& request, const auth::Principal& principal) const {
  auto body = parse_object_body(request.body);
  if (!body) return tl::unexpected(body.error());
  auto task = engine_.tasks().open(principal, *body);
  if (!task) return tl::unexpected(task.error());
  return json_response(200, *task);
}

Result<HttpResponse> AccountRoutes::close_task(const HttpRequest& request, const std::string& id,
                                               const auth::Principal& principal) const {
  auto body = parse_object_body(request.body, true);
  if (!body) return tl::unexpected(body.error());
  auto closed = engine_.tasks().close(principal, id, *body);
  if (!closed) return tl::unexpected(closed.error());
  return json_response(200, *closed);
}

// GET /v1/usage?starting_at&ending_at[&event_name][&bucket_width=1d][&group_by[]=…]: daily
// aggregates of the caller's tenant (http-api.md §6.3). Without group_by rows are per day, key
// and event.
Result<HttpResponse> AccountRoutes::usage(const HttpRequest& request, const auth::Principal& principal) const {
  // Usage is metered per API key across the whole tenant: a capability would see what every
  // other capability of its key (in any sync group) did.
  if (!principal.secret_key) return fail("forbidden", "usage needs a secret (sk_) key");
  std::string starting, ending, event_filter;
  std::set<std::string> group_by;
  for (const auto& [name, value] : query_pairs(request.target)) {
    if (name == "starting_at") starting = value;
    else if (name == "ending_at") ending = value;
    else if (name == "event_name") event_filter = value;
    else if (name == "group_by" || name == "group_by[]") group_by.insert(value);
    else if (name == "bucket_width" && value != "1d") return fail("usage_invalid", "bucket_width must be 1d", "bucket_width");
  }
  const auto from = parse_iso8601_ms(starting);
  const auto to = parse_iso8601_ms(ending);
  if (!from || !to) return fail("usage_invalid", "starting_at and ending_at are required ISO-8601 times", "starting_at");
  constexpr int64_t kMaxWindowMs = 90LL * 24 * 3600 * 1000;
  if (*to <= *from || *to - *from > kMaxWindowMs) {
    return fail("usage_invalid", "ending_at must be after starting_at and at most 90 days later", "ending_at");
  }
  auto rows = engine_.usage(principal.tenant.key(), iso8601_from_ms(*from).substr(0, 10),
                            iso8601_from_ms(*to - 1).substr(0, 10));
  if (!rows) return tl::unexpected(rows.error());
  const bool by_key = group_by.empty() || group_by.count("api_key_id");
  const bool by_event = group_by.empty() || group_by.count("event_name");
  std::map<std::tuple<std::string, std::string, std::string>, std::pair<double, int64_t>> merged;
  for (const auto& row : *rows) {
    if (!event_filter.empty() && row.event_name != event_filter) continue;
    auto& bucket = merged[{row.day, by_key ? row.key_id : "", by_event ? row.event_name : ""}];
    bucket.first += row.total;
    bucket.second += row.count;
  }
  json::array data;
  for (const auto& [dims, amount] : merged) {
    const auto& [day, key, event] = dims;
    data.push_back(json::object{{"day", day},
                                {"total", fmt::format("{}", amount.first)},
                                {"count", amount.second},
                                {"api_key_id", key.empty() ? json::value(nullptr) : json::value(key)},
                                {"team_id", nullptr},
                                {"event_name", event.empty() ? json::value(nullptr) : json::value(event)},
                                {"line_item", nullptr}});
  }
  return json_response(200, json::object{{"object", "list"}, {"data", std::move(data)}, {"has_more", false},
                                         {"next_cursor", nullptr}});
}

}  // namespace ablo::net
