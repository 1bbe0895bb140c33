#include "net/claims_codec.h"

#include <algorithm>
#include <array>
#include <cctype>
#include <functional>
#include <set>
#include <unordered_map>

#include <boost/json.hpp>
#include <fmt/format.h>

#include "common/json_member.h"
#include "common/json_number.h"
#include "common/time.h"
#include "coord/wire.h"
#include "errors/registry.h"
#include "net/dialect.h"

namespace ablo::net {

namespace json = boost::json;

namespace {

bool is_part_name(const json::value& value) {
  return value.is_string() && !value.as_string().empty() && value.as_string().find(',') == json::string::npos;
}

constexpr errors::Contract kClaimsContract = contract_of(Dialect::kClaims);

// {code, message, field?}: the receipt's error object, without the extra members wire_error adds.

}  // namespace

// ---------------------------------------------------------------- inbound

void set_claimed_parts(coord::ClaimRequest& request, std::string field, std::vector<std::string> fields) {
  request.field = std::move(field);
  request.fields = std::move(fields);
}

Result<coord::ClaimRequest> parse_claim_begin(const json::object& payload) {
  coord::ClaimRequest request;
  request.intent_id = id_member(payload, "claimId");
  if (request.intent_id.empty()) return fail("claim_id_required", "claim_begin needs a claimId", "claimId");
  request.entity_type = id_member(payload, "entityType");
  request.entity_id = id_member(payload, "entityId");
  if (request.entity_type.empty() || request.entity_id.empty()) {
    return fail("malformed_claim", "claim_begin needs entityType and entityId", "entityId");
  }
  std::string field;
  if (const auto* v = payload.if_contains("field"); v && !v->is_null()) {
    if (!is_part_name(*v)) return fail("malformed_claim", "field must be a non-empty name without ','", "field");
    field = std::string(v->as_string());
  }
  std::vector<std::string> fields;
  if (const auto* v = payload.if_contains("fields"); v && !v->is_null()) {
    if (!v->is_array()) return fail("malformed_claim", "fields must be an array of names", "fields");
    for (const auto& name : v->as_array()) {
      if (!is_part_name(name)) return fail("malformed_claim", "fields must be names without ','", "fields");
      fields.emplace_back(name.as_string());
    }
  }
  set_claimed_parts(request, std::move(field), std::move(fields));
  request.description = string_member(payload, "description");
  // 0.9.1 carries a claim's description in meta.description (its `action` is gone in 0.49):
  // put it there too, so peers of either dialect read the same words.
  if (const auto* meta = payload.if_contains("meta"); meta && meta->is_object()) request.meta = *meta;
  if (!request.description.empty() && (request.meta.is_null() || request.meta.is_object())) {
    if (request.meta.is_null()) request.meta = json::object{};
    auto& meta = request.meta.as_object();
    if (!meta.contains("description")) meta["description"] = request.description;
  }
  if (const auto* ms = payload.if_contains("estimatedMs"); ms && ms->is_number()) {
    if (const auto value = clamped_int64(*ms, 0, 1'000'000'000'000); value && *value > 0) request.ttl_ms = *value;
  }
  if (const auto* queue = payload.if_contains("queue"); queue && queue->is_bool()) request.queue = queue->as_bool();
  return request;
}

std::string parse_claim_abandon(const json::object& payload) { return id_member(payload, "claimId"); }

coord::ReorderRequest parse_claim_reorder(const json::object& payload) {
  coord::ReorderRequest request{id_member(payload, "entityType"), id_member(payload, "entityId"), {}};
  if (const auto* list = payload.if_contains("order"); list && list->is_array()) {
    for (const auto& entry : list->as_array()) {
      if (entry.is_object()) request.intent_ids.push_back(id_member(entry.as_object(), "claimId"));
    }
  }
  return request;
}

Result<HeartbeatRequest> parse_claim_heartbeat(const json::object& payload) {
  HeartbeatRequest request{id_member(payload, "claimId"), id_member(payload, "entityType"),
                           id_member(payload, "entityId"), std::nullopt};
  if (request.claim_id.empty() && (request.entity_type.empty() || request.entity_id.empty())) {
    return fail("claim_id_required", "claim_heartbeat needs a claimId, or entityType and entityId", "claimId");
  }
  if (const auto* ttl = payload.if_contains("ttlMs"); ttl && ttl->is_number()) {
    if (const auto value = clamped_int64(*ttl, 0, 1'000'000'000'000); value && *value > 0) request.ttl_ms = *value;
  }
  return request;
}

bool is_sync_group_name(std::string_view group) {
  if (group == "default") return true;
  const auto colon = group.find(':');
  if (colon == std::string_view::npos || colon == 0 || colon + 1 >= group.size()) return false;
  const auto ns = group.substr(0, colon);
  if (!(ns.front() >= 'a' && ns.front() <= 'z')) return false;
  return std::all_of(ns.begin(), ns.end(),
                     [](char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_'; });
}

Result<std::vector<std::string>> parse_update_subscription(const json::object& payload) {
  const auto* groups = payload.if_contains("syncGroups");
  if (!groups || !groups->is_array() || groups->as_array().size() > kMaxSubscriptionGroups) {
    return fail("malformed_subscription",
                fmt::format("update_subscription needs syncGroups: an array of at most {} names", kMaxSubscriptionGroups),
                "syncGroups");
  }
  std::vector<std::string> out;
  for (const auto& group : groups->as_array()) {
    if (!group.is_string()) return fail("malformed_subscription", "syncGroups must be strings", "syncGroups");
    if (!is_sync_group_name(group.as_string())) {
      return fail("invalid_sync_group",
                  fmt::format("'{}' is not a sync group (`default` or `<namespace>:<id>`)", std::string_view(group.as_string())),
                  "syncGroups");
    }
    if (std::find(out.begin(), out.end(), group.as_string()) == out.end()) out.emplace_back(group.as_string());
  }
  return out;
}

// ---------------------------------------------------------------- outbound

namespace {

// TargetRef {entityType, entityId, field?, fields?, meta?} from an intent_* target. `path` and
// `range` have no place in it (0.49 dropped them); `meta` only as a record.
json::object target_ref(const json::object& intent_target) {
  json::object out{{"entityType", id_member(intent_target, "entityType")},
                   {"entityId", id_member(intent_target, "entityId")}};
  if (const auto* field = intent_target.if_contains("field"); field && is_part_name(*field)) out["field"] = *field;
  if (const auto* fields = intent_target.if_contains("fields"); fields && fields->is_array()) {
    json::array names;
    for (const auto& name : fields->as_array()) {
      if (is_part_name(name)) names.push_back(name);
    }
    out["fields"] = std::move(names);
  }
  if (const auto* meta = intent_target.if_contains("meta"); meta && meta->is_object()) out["meta"] = *meta;
  return out;
}

const json::object& object_member(const json::object& o, std::string_view key) {
  static const json::object kEmpty;
  const auto* v = o.if_contains(key);
  return v && v->is_object() ? v->as_object() : kEmpty;
}

void copy_number(const json::object& from, std::string_view from_key, json::object& to, std::string_view to_key) {
  if (const auto* v = from.if_contains(from_key); v && v->is_number()) to[to_key] = *v;
}

void copy_string(const json::object& from, std::string_view from_key, json::object& to, std::string_view to_key) {
  if (const auto* v = from.if_contains(from_key); v && v->is_string()) to[to_key] = *v;
}

// A ms-epoch number from a number or an ISO string (0.9.1 queue entries carry ISO times).
std::optional<int64_t> epoch_ms(const json::value* v) {
  if (!v) return std::nullopt;
  if (v->is_number()) return clamped_int64(*v, -kMaxTimeMs, kMaxTimeMs);
  if (v->is_string()) return parse_iso8601_ms(v->as_string());
  return std::nullopt;
}

using Payload = std::optional<json::object>;  // nullopt: the frame is not sent

// claim_acquired / claim_granted {claimId, fenceToken?, readAt?, target}.
Payload grant(const json::object& p) {
  json::object out{{"claimId", id_member(p, "intentId")}};
  copy_number(p, "fenceToken", out, "fenceToken");
  if (const auto* read_at = p.if_contains("readAt")) {
    if (auto value = exact_int64_in(*read_at, 0, std::numeric_limits<int64_t>::max())) out["readAt"] = *value;
  }
  out["target"] = target_ref(object_member(p, "target"));
  return out;
}

Payload queued(const json::object& p) {
  json::object out{{"claimId", id_member(p, "intentId")}};
  const auto* position = p.if_contains("position");
  out["position"] = position && position->is_number() ? *position : json::value(0);
  if (p.contains("target")) out["target"] = target_ref(object_member(p, "target"));
  copy_string(p, "heldBy", out, "heldBy");
  copy_string(p, "heldByIntentId", out, "heldByClaimId");
  copy_string(p, "heldByClaimId", out, "heldByClaimId");
  copy_number(p, "heldByExpiresAt", out, "heldByExpiresAt");
  return out;
}

Payload lost(const json::object& p) {
  const std::string reason = string_member(p, "reason");
  return json::object{{"claimId", id_member(p, "intentId")},
                      {"reason", reason == "expired" ? "expired" : "preempted"},
                      {"target", target_ref(object_member(p, "target"))}};
}

// The 0.49 client reads reason from a closed set; anything else it would take for a lease
// outage anyway (claim_lease_unavailable), so say so explicitly.
std::string_view rejection_reason(std::string_view reason) {
  static constexpr std::array<std::string_view, 4> kKnown = {"conflict", "coordination_unavailable",
                                                             "capability_denied", "invalid_target"};
  return std::find(kKnown.begin(), kKnown.end(), reason) != kKnown.end() ? reason : "coordination_unavailable";
}

Payload rejected(const json::object& p) {
  json::object out{{"claimId", id_member(p, "intentId")},
                   {"reason", rejection_reason(string_member(p, "reason"))}};
  if (p.contains("target")) out["target"] = target_ref(object_member(p, "target"));
  copy_string(p, "heldBy", out, "heldBy");
  copy_string(p, "heldByIntentId", out, "heldByClaimId");
  copy_string(p, "heldByClaimId", out, "heldByClaimId");
  copy_number(p, "heldByExpiresAt", out, "heldByExpiresAt");
  if (const auto* error = p.if_contains("error"); error && error->is_object()) {
    // Re-spelled for the client's contract (intent_* codes are claim_* there); the client
    // strips it, logs read it.
    json::object translated = error->as_object();
    if (const auto* code = translated.if_contains("code"); code && code->is_string()) {
      translated["code"] = errors::code_for(code->as_string(), kClaimsContract);
    }
    out["error"] = std::move(translated);
  }
  return out;
}

std::string_view participant_kind_of(std::string_view kind) { return kind == "human" ? "user" : kind; }

json::object queue_entry(const json::object& e) {
  const auto& target = object_member(e, "target");
  json::object stream_target{{"type", id_member(target, "type")}, {"id", id_member(target, "id")}};
  for (const auto& [key, value] : target_ref(target)) {
    if (key != "entityType" && key != "entityId") stream_target[key] = value;
  }
  std::string description = string_member(e, "description");
  if (description.empty()) description = string_member(e, "action", "editing");
  json::object out{{"object", "claim"},
                   {"id", id_member(e, "id")},
                   {"status", "queued"},
                   {"target", std::move(stream_target)},
                   {"description", description}};
  copy_string(e, "heldBy", out, "heldBy");
  if (const auto* kind = e.if_contains("participantKind"); kind && kind->is_string()) {
    out["participantKind"] = participant_kind_of(kind->as_string());
  }
  const auto* position = e.if_contains("position");
  out["position"] = position && position->is_number() ? *position : json::value(0);
  out["expiresAt"] = epoch_ms(e.if_contains("expiresAt")).value_or(0);
  return out;
}

Payload queue(const json::object& p) {
  const auto& target = object_member(p, "target");
  json::array entries;
  if (const auto* list = p.if_contains("queue"); list && list->is_array()) {
    for (const auto& entry : list->as_array()) {
      // Only waiters are in a 0.49 line snapshot (status is the literal 'queued').
      if (entry.is_object() && string_member(entry.as_object(), "status", "queued") == "queued") {
        entries.push_back(queue_entry(entry.as_object()));
      }
    }
  }
  return json::object{{"target", json::object{{"type", id_member(target, "type")}, {"id", id_member(target, "id")}}},
                      {"queue", std::move(entries)}};
}

Payload expired(const json::object& p) {
  std::string id = id_member(p, "claimId");
  if (id.empty()) id = id_member(p, "intentId");
  return json::object{{"claimId", std::move(id)}};
}

// WireClaim from an IntentClaim: TargetRef + claimId, description?, declaredAt, expiresAt,
// status?, fenceToken?.
json::object wire_claim(const json::object& c) {
  json::object out = target_ref(c);
  out["claimId"] = id_member(c, "intentId");
  std::string description = string_member(c, "description");
  if (description.empty()) description = string_member(object_member(c, "meta"), "description");
  if (description.empty()) description = string_member(c, "action");
  if (!description.empty()) out["description"] = description;
  out["declaredAt"] = epoch_ms(c.if_contains("declaredAt")).value_or(0);
  out["expiresAt"] = epoch_ms(c.if_contains("expiresAt")).value_or(0);
  if (const auto* status = c.if_contains("status"); status && status->is_string()) {
    const std::string_view s = status->as_string();
    if (s == "active" || s == "committed" || s == "expired" || s == "canceled") out["status"] = s;
  }
  copy_number(c, "fenceToken", out, "fenceToken");
  return out;
}

Payload presence(const json::object& p) {
  json::object out = p;
  out.erase("activeIntents");
  if (!out.contains("kind") || !out["kind"].is_string()) out["kind"] = "update";
  if (!out.contains("userId") || !out["userId"].is_string()) return std::nullopt;  // unaddressable
  if (!out.contains("status") || !out["status"].is_string()) out["status"] = "online";
  json::array claims;
  if (const auto* list = p.if_contains("activeIntents"); list && list->is_array()) {
    for (const auto& claim : list->as_array()) {
      if (claim.is_object()) claims.push_back(wire_claim(claim.as_object()));
    }
  }
  out["activeClaims"] = std::move(claims);
  return out;
}

struct Rendering {
  std::string_view type;
  Payload (*render)(const json::object& payload);
};

const std::unordered_map<std::string_view, Rendering>& renderings() {
  static const std::unordered_map<std::string_view, Rendering> kTable = {
      {"intent_acquired", {"claim_acquired", grant}},   {"intent_granted", {"claim_granted", grant}},
      {"intent_queued", {"claim_queued", queued}},      {"intent_lost", {"claim_lost", lost}},
      {"intent_rejected", {"claim_rejected", rejected}}, {"intent_queue", {"claim_queue", queue}},
      {"claim_expired", {"claim_expired", expired}},    {"presence_update", {"presence_update", presence}},
  };
  return kTable;
}

// The frame's type, read from the `{"type":"…"` prefix every ws_frame starts with (no parse);
// nullopt when the frame is not in that form.
std::optional<std::string_view> prefixed_type(std::string_view frame) {
  constexpr std::string_view kPrefix = R"({"type":")";
  if (!frame.starts_with(kPrefix)) return std::nullopt;
  const auto end = frame.find('"', kPrefix.size());
  if (end == std::string_view::npos) return std::nullopt;
  return frame.substr(kPrefix.size(), end - kPrefix.size());
}

// Types the 0.49 client rejects as drift (notes §1.4); never sent to it.
bool refused_by_claims_client(std::string_view type) {
  return type.starts_with("intent_") || type == "error" || type == "session_error" || type == "hello";
}

}  // namespace

bool claims_registry_has(std::string_view type) {
  static const std::set<std::string_view> kRegistry = {
      "ping", "pong", "delta", "sync_response", "bootstrap_response", "mutation_result", "claim_ack",
      "subscription_ack", "presence_update", "claim_acquired", "claim_queued", "claim_granted", "claim_lost",
      "claim_rejected", "claim_expired", "claim_queue", "claim_heartbeat_ack"};
  return kRegistry.count(type) > 0;
}

// Parses and re-encodes the coordination frames for each 0.49 recipient: the coordinator
// serializes a frame once for all its sockets, so this costs one parse + serialize per 0.49
// recipient of a claim or presence frame (they are small: one claim, one participant's
// presence, one line). Relayed events and unknown-but-allowed types are forwarded untouched.
std::optional<std::string> claims_frame_of(std::string_view intents_frame) {
  const auto type = prefixed_type(intents_frame);
  const auto& table = renderings();
  if (type) {
    if (table.find(*type) == table.end()) {
      if (refused_by_claims_client(*type)) return std::nullopt;
      return std::string(intents_frame);
    }
  }
  boost::system::error_code ec;
  json::value parsed = json::parse(intents_frame, ec);
  if (ec || !parsed.is_object()) return std::nullopt;
  const auto& frame = parsed.as_object();
  const std::string parsed_type = string_member(frame, "type");
  const auto it = table.find(parsed_type);
  if (it == table.end()) {
    if (refused_by_claims_client(parsed_type)) return std::nullopt;
    return std::string(intents_frame);
  }
  auto payload = it->second.render(object_member(frame, "payload"));
  if (!payload) return std::nullopt;
  return coord::ws_frame(it->second.type, std::move(*payload));
}

std::string claim_rejected_frame(const std::string& claim_id, const coord::ClaimRequest& asked, const Error& error) {
  const int status = errors::http_status(error.code);
  // 0.49 reads invalid_target as "this target is wrong" and coordination_unavailable as "nothing
  // is known about the row": an unreachable store or claim log (5xx) is the latter.
  const std::string_view reason = status == 403 || status == 401 ? "capability_denied"
                                  : status >= 500                ? "coordination_unavailable"
                                                                 : "invalid_target";
  json::object target{{"entityType", asked.entity_type}, {"entityId", asked.entity_id}};
  if (!asked.field.empty()) target["field"] = asked.field;
  return coord::ws_frame("claim_rejected", {{"claimId", claim_id},
                                            {"reason", reason},
                                            {"target", std::move(target)},
                                            {"error", errors::wire_error(error, kClaimsContract)}});
}

std::string claim_heartbeat_ack_frame(const std::string& claim_id, const coord::HeartbeatResult& result) {
  using Status = coord::HeartbeatResult::Status;
  json::object out{{"claimId", result.claim_id.empty() ? claim_id : result.claim_id}};
  switch (result.status) {
    case Status::kHeld:
      out["status"] = "held";
      out["expiresAt"] = result.expires_at_ms;
      break;
    case Status::kQueued:
      out["status"] = "queued";
      out["expiresAt"] = result.expires_at_ms;
      out["position"] = result.position;
      out["queueDepth"] = result.queue_depth;
      break;
    case Status::kLost:
      out["status"] = "lost";
      break;
  }
  return coord::ws_frame("claim_heartbeat_ack", std::move(out));
}

std::string subscription_ack_frame(const std::vector<std::string>& groups, const Error* error) {
  json::array names;
  for (const auto& g : groups) names.emplace_back(g);
  json::object out{{"success", error == nullptr}, {"syncGroups", std::move(names)}};
  if (error) {
    json::object wire{{"code", errors::code_for(error->code, kClaimsContract)}, {"message", error->message}};
    out["error"] = std::move(wire);
  }
  return coord::ws_frame("subscription_ack", std::move(out));
}

}  // namespace ablo::net
