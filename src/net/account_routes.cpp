#include "net/account_routes.h"

#include <boost/json.hpp>

#include "common/time.h"
#include "net/http_json.h"

namespace ablo::net {

namespace json = boost::json;

namespace {

// WebSocket close code for a credential that stopped being valid (protocol.md §3.10).
constexpr int kCloseRevoked = 4003;

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
                      {"revokedAt", nullptr},
                      {"lastUsedAt", nullptr}};
}

}  // namespace

AccountRoutes::AccountRoutes(auth::AuthService& auth, coord::Coordinator& coordinator)
    : auth_(auth), coordinator_(coordinator) {}

std::optional<Result<HttpResponse>> AccountRoutes::route(const HttpRequest& request,
                                                         const std::vector<std::string>& parts,
                                                         const auth::Principal& principal) const {
  if (parts.size() < 2 || parts[1] != "capabilities") return std::nullopt;
  if (parts.size() == 2 && request.method == "POST") return mint(request, principal);
  if (parts.size() != 3) return std::nullopt;
  if (request.method == "GET") {
    auto record = auth_.find_capability(principal, parts[2]);
    if (!record) return Result<HttpResponse>(tl::unexpected(record.error()));
    return Result<HttpResponse>(json_response(200, capability_json(*record)));
  }
  if (request.method == "DELETE") return revoke(parts[2], principal);
  return std::nullopt;
}

Result<HttpResponse> AccountRoutes::mint(const HttpRequest& request, const auth::Principal& principal) const {
  auto body = parse_object_body(request.body);
  if (!body) return tl::unexpected(body.error());
  auto parsed = auth::parse_mint_request(*body);
  if (!parsed) return tl::unexpected(parsed.error());
  auto minted = auth_.mint(principal, *parsed);
  if (!minted) return tl::unexpected(minted.error());
  auto out = capability_json(minted->record);
  out["token"] = minted->token;  // shown once, never again
  return json_response(200, out);
}

Result<HttpResponse> AccountRoutes::revoke(const std::string& id, const auth::Principal& principal) const {
  auto record = auth_.revoke_capability(principal, id);
  if (!record) return tl::unexpected(record.error());
  // New requests and upgrades are refused by authentication; open sockets are closed here.
  const int closed = coordinator_.close_sessions(principal.tenant.key(), id, kCloseRevoked, "capability revoked");
  auto out = capability_json(*record);
  out["deleted"] = true;
  out["revokedAt"] = iso8601_from_ms(now_ms());
  out["activeSessionsClosed"] = closed;
  return json_response(200, out);
}

}  // namespace ablo::net
