#include "net/ws_protocol.h"

#include <algorithm>
#include <set>

#include <boost/json.hpp>
#include <spdlog/spdlog.h>

#include "authz/authorizer.h"
#include "common/exception_text.h"
#include "common/json_number.h"
#include "coord/wire.h"
#include "errors/registry.h"
#include "fanout/wire_delta.h"
#include "net/router.h"
#include "schema/sync_groups.h"

namespace ablo::net {

namespace json = boost::json;

namespace {

std::vector<std::string> split_subprotocols(const std::string& header) {
  std::vector<std::string> out;
  std::size_t start = 0;
  while (start <= header.size()) {
    const auto comma = header.find(',', start);
    auto item = header.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
    while (!item.empty() && item.front() == ' ') item.erase(0, 1);
    while (!item.empty() && item.back() == ' ') item.pop_back();
    if (!item.empty()) out.push_back(std::move(item));
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  return out;
}

constexpr std::size_t kMaxRelayedEventBytes = 64 * 1024;

// App collaboration events (`sheet_selection`, `slide_cursor`, …): a short snake_case type
// that is not a protocol frame. Relayed to peers as-is.
bool is_collaboration_event(std::string_view type) {
  static const std::set<std::string_view> kProtocolFrames = {
      "ping", "pong", "sync_request", "sync_response", "ack", "commit", "mutation", "mutation_result", "delta",
      "presence_update", "intent_begin", "intent_abandon", "intent_reorder", "claim", "release", "claim_ack",
      "bootstrap_request", "bootstrap_response", "intent_acquired", "intent_queued", "intent_granted",
      "intent_lost", "intent_rejected", "intent_queue", "claim_expired", "error", "session_error"};
  if (type.empty() || type.size() > 64 || kProtocolFrames.count(type)) return false;
  return std::all_of(type.begin(), type.end(), [](char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_'; });
}

// The read rule for this socket's deltas, live and in catch-up. The hub already routes by
// tenant and by the socket's groups (a subset of the allowed ones), which is the scope part of
// the rule; a principal with an operations allowlist also needs `<model>.read` per delta.
// Without an allowlist the filter would only repeat the hub's routing, so none is installed.
fanout::DeltaFilter delta_read_rule(engine::Engine& engine, const auth::Principal& principal) {
  if (principal.operations.empty()) return {};
  return [&engine, principal](const store::Delta& delta) {
    const auto schema = engine.schema();
    const auto* model = schema->resolve(delta.model_name);
    return model && authz::may_read(principal, *model, {delta.tenant, delta.sync_groups});
  };
}

// What the socket's subscription routes by: its sync groups, and its own credential's echo
// route, so the deltas of its own writes reach it whatever groups the rows are in.
std::vector<std::string> subscribed_routes(const UpgradeGrant& grant) {
  auto routes = grant.groups;
  const auto& principal = grant.principal;
  routes.push_back(fanout::echo_route(principal.participant_id, principal.credential_id()));
  return routes;
}

Result<UpgradeGrant> authorize_upgrade_unguarded(const auth::AuthService& auth, const std::string& subprotocols,
                                                 const std::string& target, const std::string& authorization);

}  // namespace

// The upgrade's exception boundary: a failure to authorize answers 500 internal_error.
Result<UpgradeGrant> authorize_upgrade(const auth::AuthService& auth, const std::string& subprotocols,
                                       const std::string& target, const std::string& authorization) {
  try {
    return authorize_upgrade_unguarded(auth, subprotocols, target, authorization);
  } catch (...) {
    spdlog::error("authorizing a WebSocket upgrade threw: {}", current_exception_text());
    return fail("internal_error", "the upgrade could not be authorized");
  }
}

namespace {

Result<UpgradeGrant> authorize_upgrade_unguarded(const auth::AuthService& auth, const std::string& subprotocols,
                                                 const std::string& target, const std::string& authorization) {
  UpgradeGrant grant;
  std::string token;
  for (const auto& offered : split_subprotocols(subprotocols)) {
    if (offered == kSyncSubprotocol) grant.offered_sync_subprotocol = true;
    if (offered.rfind(kBearerSubprotocolPrefix, 0) == 0) token = offered.substr(kBearerSubprotocolPrefix.size());
  }
  if (token.empty()) token = bearer_of(authorization);
  if (token.empty()) {
    auto legacy = query_values(target, "authorization");
    if (!legacy.empty()) token = bearer_of(legacy.front());
  }
  auto principal = auth.authenticate(token);
  if (!principal) return tl::unexpected(principal.error());
  grant.groups = schema::narrow_groups(query_values(target, "syncGroups"), principal->allowed_groups);
  grant.principal = std::move(*principal);
  return grant;
}

}  // namespace

SyncConnection::SyncConnection(engine::Engine& engine, coord::Coordinator& coordinator, UpgradeGrant grant,
                               std::weak_ptr<fanout::Outbox> socket, FencedOutbox::Schedule schedule)
    : engine_(engine),
      coordinator_(coordinator),
      grant_(std::move(grant)),
      outbox_(socket),
      fenced_(*socket.lock(), [&engine] { return engine.hub().head(); }, std::move(schedule)) {
  subscription_ = engine_.hub().subscribe(grant_.principal.tenant.key(), subscribed_routes(grant_), &fenced_,
                                          grant_.principal.key_id, delta_read_rule(engine_, grant_.principal));
  coord_session_ = coordinator_.attach(coord::participant_of(grant_.principal, grant_.groups), &fenced_);
}

SyncConnection::~SyncConnection() { on_close(); }

void SyncConnection::on_close() {
  if (coord_session_ != 0) {
    coordinator_.detach(coord_session_);
    coord_session_ = 0;
  }
  if (subscription_) {
    engine_.hub().unsubscribe(subscription_);
    subscription_.reset();
  }
}

void SyncConnection::send(std::string text) {
  if (auto outbox = outbox_.lock()) outbox->push_frame(std::move(text));
}

namespace {

// A commit's rejection: a mutation_result the client matches to the pending commit by clientTxId.
std::string rejected_commit(const std::string& client_tx_id, const Error& error) {
  return coord::ws_frame("mutation_result", json::object{{"object", "commit_receipt"},
                                                         {"clientTxId", client_tx_id},
                                                         {"success", false},
                                                         {"status", "rejected"},
                                                         {"error", errors::wire_error(error)}});
}

}  // namespace

// The exception boundary of every frame: a handler that throws is logged, the socket stays up,
// and a commit gets its rejection (internal_error) so the client's pending write settles.
void SyncConnection::on_text(std::string_view text) {
  try {
    dispatch(text);
  } catch (...) {
    spdlog::error("WebSocket frame handler ({} bytes) threw: {}", text.size(), current_exception_text());
    try {
      reject_failed_commit(text);
    } catch (...) {
      spdlog::error("could not answer the failed frame: {}", current_exception_text());
    }
  }
}

void SyncConnection::reject_failed_commit(std::string_view text) {
  boost::system::error_code ec;
  json::value parsed = json::parse(text, ec);
  if (ec || !parsed.is_object()) return;
  const auto* type = parsed.as_object().if_contains("type");
  const auto* payload = parsed.as_object().if_contains("payload");
  if (!type || *type != "commit" || !payload || !payload->is_object()) return;
  const auto* id = payload->as_object().if_contains("clientTxId");
  if (!id || !id->is_string()) return;
  send(rejected_commit(std::string(id->as_string()), Error("internal_error", "the commit failed unexpectedly; retry")));
}

void SyncConnection::dispatch(std::string_view text) {
  boost::system::error_code ec;
  json::value parsed = json::parse(text, ec);
  if (ec || !parsed.is_object()) return;  // the client never sends non-JSON; ignore noise
  const auto& message = parsed.as_object();
  const auto* type_value = message.if_contains("type");
  if (!type_value || !type_value->is_string()) return;
  const std::string_view type = type_value->as_string();
  static const json::object kEmpty;
  const auto* payload_value = message.if_contains("payload");
  const json::object& payload = payload_value && payload_value->is_object() ? payload_value->as_object() : kEmpty;

  if (type == "ping") {
    send(R"({"type":"pong"})");
  } else if (type == "sync_request") {
    // A lastSyncId that is not an exact non-negative integer cannot name a position: the frame is ignored.
    // Absent or null: a fresh client (cursor 0).
    const auto* v = payload.if_contains("lastSyncId");
    const auto last = v && !v->is_null() ? exact_int64_in(*v, 0, std::numeric_limits<int64_t>::max())
                                         : std::optional<int64_t>(0);
    if (!last) {
      spdlog::debug("sync_request ignored: lastSyncId {} is not a sync id", json::serialize(*v));
    } else if (subscription_) {
      if (auto ok = engine_.hub().catch_up(subscription_, *last); !ok) {
        spdlog::warn("catch-up failed: {}", ok.error().message);
      }
    }
  } else if (type == "ack") {
    if (const auto* v = payload.if_contains("lastSyncId")) {
      if (auto acknowledged = exact_int64_in(*v, 0, std::numeric_limits<int64_t>::max())) fenced_.acknowledged(*acknowledged);
    }
  } else if (type == "commit") {
    handle_commit(payload);
  } else if (type == "intent_begin") {
    if (authorize_intent(payload)) coordinator_.intent_begin(coord_session_, payload);
  } else if (type == "intent_abandon") {
    coordinator_.intent_abandon(coord_session_, payload);
  } else if (type == "intent_reorder") {
    coordinator_.intent_reorder(coord_session_, payload);
  } else if (type == "presence_update") {
    coordinator_.presence_update(coord_session_, payload);
  } else if (type == "claim") {
    handle_participant_claim(payload);
  } else if (is_collaboration_event(type) && payload_value && payload_value->is_object() &&
             text.size() <= kMaxRelayedEventBytes) {
    coordinator_.relay_event(coord_session_, type, payload);
  }
  // `release` (participant scope) and anything else: ignored, as the protocol allows.
}

// `claim` multiplexes more sync groups onto this socket (participants.join, protocol.md §3.3):
// the requested groups the credential allows are added to the subscription and presence scope.
void SyncConnection::handle_participant_claim(const json::object& payload) {
  std::string claim_id;
  if (const auto* v = payload.if_contains("claimId"); v && v->is_string()) claim_id = v->as_string();
  std::vector<std::string> requested;
  if (const auto* groups = payload.if_contains("syncGroups"); groups && groups->is_array()) {
    for (const auto& g : groups->as_array()) {
      if (g.is_string()) requested.emplace_back(g.as_string());
    }
  }
  const auto granted = schema::narrow_groups(requested, grant_.principal.allowed_groups);
  if (requested.empty() || granted.empty()) {
    send(coord::ws_frame("claim_ack", {{"claimId", claim_id},
                             {"success", false},
                             {"error", json::object{{"code", "capability_scope_denied"},
                                                    {"message", "this credential may not join those sync groups"}}}}));
    return;
  }
  if (subscription_) engine_.hub().add_groups(subscription_, granted);
  coordinator_.add_groups(coord_session_, granted);
  for (const auto& g : granted) {
    if (std::find(grant_.groups.begin(), grant_.groups.end(), g) == grant_.groups.end()) grant_.groups.push_back(g);
  }
  json::array groups;
  for (const auto& g : granted) groups.emplace_back(g);
  json::object ack{{"claimId", claim_id}, {"success", true}, {"syncGroups", std::move(groups)}};
  if (const auto* ttl = payload.if_contains("ttlSeconds"); ttl && ttl->is_number()) ack["ttlSeconds"] = *ttl;
  send(coord::ws_frame("claim_ack", std::move(ack)));
}

// A claim is a write lease: it needs the write rule for the target row (Engine::authorize_claim),
// or a team could lock another team's rows. Refused begins get the frame the client waits for:
// intent_rejected, or intent_lost for a queued begin (which never observes intent_rejected).
bool SyncConnection::authorize_intent(const json::object& payload) {
  auto request = coord::parse_intent_begin(payload);
  if (!request) return true;  // the coordinator ignores it the same way
  auto allowed = engine_.authorize_claim(grant_.principal, request->entity_type, request->entity_id);
  if (allowed) return true;
  json::object target{{"entityType", request->entity_type}, {"entityId", request->entity_id}};
  if (!request->field.empty()) target["field"] = request->field;
  json::object frame{{"intentId", request->intent_id},
                     {"reason", request->queue ? "preempted" : "conflict"},
                     {"target", std::move(target)},
                     {"error", errors::wire_error(allowed.error())}};
  send(coord::ws_frame(request->queue ? "intent_lost" : "intent_rejected", std::move(frame)));
  return false;
}

void SyncConnection::handle_commit(const json::object& payload) {
  std::string client_tx_id;
  if (const auto* v = payload.if_contains("clientTxId"); v && v->is_string()) client_tx_id = v->as_string();
  auto reject = [client_tx_id](const Error& error) { return rejected_commit(client_tx_id, error); };
  auto request = engine::parse_commit_payload(payload);
  if (!request) {
    send(reject(request.error()));
    return;
  }
  request->principal = grant_.principal;
  engine_.commit(std::move(*request), [outbox = outbox_, reject](Result<engine::CommitReceipt> result) {
    auto target = outbox.lock();
    if (!target) return;
    target->push_frame(result ? coord::ws_frame("mutation_result", result->to_json()) : reject(result.error()));
  });
}

}  // namespace ablo::net
