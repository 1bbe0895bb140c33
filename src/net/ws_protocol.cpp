#include "net/ws_protocol.h"

#include <algorithm>
#include <set>

#include <boost/json.hpp>
#include <spdlog/spdlog.h>

#include "authz/authorizer.h"
#include "common/exception_text.h"
#include "common/json_member.h"
#include "common/json_number.h"
#include "common/time.h"
#include "coord/requests.h"
#include "coord/wire.h"
#include "errors/registry.h"
#include "fanout/wire_delta.h"
#include "net/authority.h"
#include "net/receipt_codec.h"
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
      "intent_lost", "intent_rejected", "intent_queue", "claim_expired", "error", "session_error",
      // The claims dialect's frames, both ways: a client must not forge them to its peers.
      "claim_begin", "claim_abandon", "claim_reorder", "claim_heartbeat", "claim_heartbeat_ack",
      "update_subscription", "subscription_ack", "claim_acquired", "claim_queued", "claim_granted", "claim_lost",
      "claim_rejected", "claim_queue", "hello"};
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
      fenced_(*socket.lock(), [&engine] { return engine.hub().head(); }, std::move(schedule)),
      dialect_(std::make_shared<DialectOutbox>(fenced_, socket)) {
  subscription_ = engine_.hub().subscribe(grant_.principal.tenant.key(), subscribed_routes(grant_), &fenced_,
                                          grant_.principal.key_id, delta_read_rule(engine_, grant_.principal));
  coord_session_ = coordinator_.attach(coord::participant_of(grant_.principal, grant_.groups), dialect_.get());
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

// A commit's answer in `dialect`: the loose 0.9.1 receipt, or the strict 0.49 one
// (net/receipt_codec.h); the client matches it to the pending commit by clientTxId.
std::string commit_answer(engine::Engine& engine, const auth::Principal& principal, const std::string& client_tx_id,
                          const Result<engine::CommitReceipt>& result, int64_t answered_at_ms, Dialect dialect) {
  const json::object authority =
      dialect == Dialect::kClaims ? authority_json(authority_of(principal, *engine.schema())) : json::object{};
  return coord::ws_frame("mutation_result",
                         result ? receipt_json(*result, dialect, authority)
                                : rejected_receipt_json(client_tx_id, result.error(), dialect, authority, answered_at_ms));
}

// Hands a commit's answer to the socket's DialectOutbox, which renders it for the dialect
// (now, or once the dialect is known).
void push_commit_answer(DialectOutbox& dialect, engine::Engine& engine, const auth::Principal& principal,
                        std::string client_tx_id, Result<engine::CommitReceipt> result) {
  dialect.push_reply([&engine, principal, client_tx_id = std::move(client_tx_id), result = std::move(result),
                      at = now_ms()](Dialect d) { return commit_answer(engine, principal, client_tx_id, result, at, d); });
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
  answer_commit(std::string(id->as_string()), tl::unexpected(Error("internal_error", "the commit failed unexpectedly; retry")));
}

void SyncConnection::answer_commit(std::string client_tx_id, Result<engine::CommitReceipt> result) {
  push_commit_answer(*dialect_, engine_, grant_.principal, std::move(client_tx_id), std::move(result));
}

const std::unordered_map<std::string_view, SyncConnection::Handler>& SyncConnection::handlers() {
  static const std::unordered_map<std::string_view, Handler> kHandlers = {
      {"ping", &SyncConnection::on_ping},
      {"sync_request", &SyncConnection::on_sync_request},
      {"ack", &SyncConnection::on_ack},
      {"commit", &SyncConnection::handle_commit},
      {"presence_update", &SyncConnection::on_presence_update},
      {"claim", &SyncConnection::handle_participant_claim},
      {"intent_begin", &SyncConnection::on_intent_begin},
      {"intent_abandon", &SyncConnection::on_intent_abandon},
      {"intent_reorder", &SyncConnection::on_intent_reorder},
      {"claim_begin", &SyncConnection::on_claim_begin},
      {"claim_abandon", &SyncConnection::on_claim_abandon},
      {"claim_reorder", &SyncConnection::on_claim_reorder},
      {"claim_heartbeat", &SyncConnection::on_claim_heartbeat},
      {"update_subscription", &SyncConnection::on_update_subscription},
  };
  return kHandlers;
}

void SyncConnection::dispatch(std::string_view text) {
  if (refused_) return;
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

  if (!admit(type, payload)) return;
  if (const auto it = handlers().find(type); it != handlers().end()) {
    (this->*(it->second))(payload);
  } else if (is_collaboration_event(type) && payload_value && payload_value->is_object() &&
             text.size() <= kMaxRelayedEventBytes) {
    coordinator_.relay_event(coord_session_, type, payload);
  }
  // `release` (participant scope) and anything else: ignored, as the protocol allows.
}

bool SyncConnection::admit(std::string_view type, const json::object& payload) {
  auto revealed = dialect_revealed_by(type, payload);
  if (!revealed) {
    // Before any delta: the hub holds live deltas until the first catch-up, which never runs.
    spdlog::info("closing a WebSocket: {}", revealed.error().message);
    refused_ = true;
    dialect_->refuse(kCloseProtocolVersionUnsupported, std::string(revealed.error().code));
    return false;
  }
  if (!*revealed) return true;  // a frame both dialects send
  const auto current = dialect_->dialect();
  if (!current) {
    dialect_->decide(**revealed);
    return true;
  }
  if (*current == **revealed) return true;
  // Refused without effect; warned once per socket (a confused client would flood the log).
  if (!warned_mixed_) {
    warned_mixed_ = true;
    spdlog::warn("WebSocket of the {} dialect sent a '{}' frame of the other dialect; refused (later ones at debug)",
                 *current == Dialect::kClaims ? "claims (0.49)" : "intents (0.9.1)", type);
  } else {
    spdlog::debug("refused a '{}' frame of the other dialect", type);
  }
  return false;
}

void SyncConnection::on_ping(const json::object&) { send(R"({"type":"pong"})"); }

namespace sync_request {
// True when the sync_request's `capabilities` array names `capability` (the native client lists
// "requiresBootstrap": it can re-bootstrap when told its gap is too old; 0.9.1 cannot).
bool lists_capability(const json::object& payload, std::string_view capability) {
  const auto* listed = payload.if_contains("capabilities");
  if (!listed || !listed->is_array()) return false;
  const auto& array = listed->get_array();
  return std::any_of(array.begin(), array.end(), [&](const json::value& v) { return v.is_string() && v.get_string() == capability; });
}
}  // namespace sync_request
using sync_request::lists_capability;

void SyncConnection::on_sync_request(const json::object& payload) {
  // A lastSyncId that is not an exact non-negative integer cannot name a position: the frame is ignored.
  // Absent or null: a fresh client (cursor 0).
  const auto* v = payload.if_contains("lastSyncId");
  const auto last = v && !v->is_null() ? exact_int64_in(*v, 0, std::numeric_limits<int64_t>::max())
                                       : std::optional<int64_t>(0);
  if (!last) {
    spdlog::debug("sync_request ignored: lastSyncId {} is not a sync id", json::serialize(*v));
  } else if (subscription_) {
    // A fresh client (0) that has just bootstrapped starts where its bootstrap ended.
    const auto bootstrapped_at =
        *last > 0 ? std::nullopt : engine_.hub().bootstrap_mark(grant_.principal.credential_id());
    if (auto ok = engine_.hub().catch_up(subscription_, *last, bootstrapped_at, lists_capability(payload, "requiresBootstrap"));
        !ok) {
      spdlog::warn("catch-up failed: {}", ok.error().message);
    }
  }
}

void SyncConnection::on_ack(const json::object& payload) {
  if (const auto* v = payload.if_contains("lastSyncId")) {
    if (auto acknowledged = exact_int64_in(*v, 0, std::numeric_limits<int64_t>::max())) fenced_.acknowledged(*acknowledged);
  }
}

void SyncConnection::on_presence_update(const json::object& payload) { coordinator_.presence_update(coord_session_, payload); }

void SyncConnection::on_intent_begin(const json::object& payload) {
  auto request = coord::parse_intent_begin(payload);
  if (!request) return;  // the coordinator ignores it the same way
  if (authorize_claim(*request, Dialect::kIntents)) coordinator_.intent_begin(coord_session_, std::move(*request));
}

void SyncConnection::on_intent_abandon(const json::object& payload) { coordinator_.intent_abandon(coord_session_, payload); }

void SyncConnection::on_intent_reorder(const json::object& payload) { coordinator_.intent_reorder(coord_session_, payload); }

void SyncConnection::on_claim_begin(const json::object& payload) {
  auto request = parse_claim_begin(payload);
  if (!request) {
    // Addressable refusals are answered (the client waits for its claimId); others dropped.
    const auto* id = payload.if_contains("claimId");
    if (id && id->is_string() && !id->as_string().empty()) {
      coord::ClaimRequest asked;
      asked.entity_type = string_member(payload, "entityType");
      asked.entity_id = string_member(payload, "entityId");
      send(claim_rejected_frame(std::string(id->as_string()), asked, request.error()));
    }
    return;
  }
  if (authorize_claim(*request, Dialect::kClaims)) coordinator_.intent_begin(coord_session_, std::move(*request));
}

void SyncConnection::on_claim_abandon(const json::object& payload) {
  if (auto id = parse_claim_abandon(payload); !id.empty()) coordinator_.intent_abandon(coord_session_, std::move(id));
}

void SyncConnection::on_claim_reorder(const json::object& payload) {
  coordinator_.intent_reorder(coord_session_, parse_claim_reorder(payload));
}

void SyncConnection::on_claim_heartbeat(const json::object& payload) {
  auto request = parse_claim_heartbeat(payload);
  if (!request) {
    spdlog::debug("claim_heartbeat ignored: {}", request.error().message);
    return;
  }
  send(heartbeat_claim(*request));
}

// A heartbeat names its claim, or only its target (the caller's claim on that row).
std::string SyncConnection::heartbeat_claim(const HeartbeatRequest& request) {
  std::string claim_id = request.claim_id;
  if (claim_id.empty()) {
    const auto who = coord::participant_of(grant_.principal, grant_.groups);
    for (const auto& c : coordinator_.list(who.tenant, request.entity_type, request.entity_id, "")) {
      if (c.owner == who.owner) {
        claim_id = c.intent_id;
        break;
      }
    }
  }
  if (claim_id.empty()) return claim_heartbeat_ack_frame(request.claim_id, coord::HeartbeatResult{});
  return claim_heartbeat_ack_frame(claim_id, coordinator_.heartbeat(coord_session_, claim_id, request.ttl_ms));
}

// update_subscription replaces the socket's read set (what its subscription routes and its
// presence audience), narrowed to the principal's allowed groups as the upgrade's syncGroups
// are (schema::narrow_groups). Answered with the effective set; a malformed request changes
// nothing. The coordinator can only widen a presence audience: a narrowed socket keeps
// hearing the presence of the groups it left (all of which its principal may read).
void SyncConnection::on_update_subscription(const json::object& payload) {
  auto requested = parse_update_subscription(payload);
  if (!requested) {
    send(subscription_ack_frame(grant_.groups, &requested.error()));
    return;
  }
  const auto granted = schema::narrow_groups(*requested, grant_.principal.allowed_groups);
  const auto missing_from = [](const std::vector<std::string>& groups, const std::vector<std::string>& from) {
    std::vector<std::string> out;
    for (const auto& g : groups) {
      if (std::find(from.begin(), from.end(), g) == from.end()) out.push_back(g);
    }
    return out;
  };
  const auto added = missing_from(granted, grant_.groups);
  const auto removed = missing_from(grant_.groups, granted);
  if (subscription_) {
    engine_.hub().add_groups(subscription_, added);
    engine_.hub().remove_groups(subscription_, removed);
  }
  if (!added.empty()) coordinator_.add_groups(coord_session_, added);
  grant_.groups = granted;
  send(subscription_ack_frame(granted, nullptr));
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
// 0.9.1: intent_rejected, or intent_lost for a queued begin (which never observes
// intent_rejected); 0.49: claim_rejected (it ends a queued wait too).
bool SyncConnection::authorize_claim(const coord::ClaimRequest& request, Dialect dialect) {
  auto allowed = engine_.authorize_claim(grant_.principal, request.entity_type, request.entity_id);
  if (allowed) return true;
  if (dialect == Dialect::kClaims) {
    send(claim_rejected_frame(request.intent_id, request, allowed.error()));
    return false;
  }
  json::object target{{"entityType", request.entity_type}, {"entityId", request.entity_id}};
  if (!request.field.empty()) target["field"] = request.field;
  // A refusal the claimant could not cause (the store is down) says so, as the coordinator's own does.
  const bool unavailable = errors::http_status(allowed.error().code) >= 500;
  json::object frame{{"intentId", request.intent_id},
                     {"reason", unavailable ? "coordination_unavailable" : request.queue ? "preempted" : "conflict"},
                     {"target", std::move(target)},
                     {"error", errors::wire_error(allowed.error())}};
  send(coord::ws_frame(request.queue ? "intent_lost" : "intent_rejected", std::move(frame)));
  return false;
}

void SyncConnection::handle_commit(const json::object& payload) {
  std::string client_tx_id;
  if (const auto* v = payload.if_contains("clientTxId"); v && v->is_string()) client_tx_id = v->as_string();
  auto request = engine::parse_commit_payload(payload);
  if (!request) {
    answer_commit(client_tx_id, tl::unexpected(request.error()));
    return;
  }
  request->principal = grant_.principal;
  // The answer is rendered for the socket's dialect, on the commit syncer thread; `weak`: the socket
  // may be gone by then.
  engine_.commit(std::move(*request), [weak = std::weak_ptr<DialectOutbox>(dialect_), &engine = engine_,
                                       principal = grant_.principal,
                                       client_tx_id](Result<engine::CommitReceipt> result) {
    if (auto dialect = weak.lock()) push_commit_answer(*dialect, engine, principal, client_tx_id, std::move(result));
  });
}

}  // namespace ablo::net
