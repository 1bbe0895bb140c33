#include "coord/wire.h"

#include <boost/json.hpp>

#include "common/time.h"

namespace ablo::coord {

namespace json = boost::json;

namespace {

// Adds the optional narrowing members a claimant sent, under the names it used.
void add_narrowing(json::object& out, const Claim& claim) {
  if (!claim.field.empty()) out["field"] = claim.field;
  if (!claim.fields.empty()) {
    json::array fields;
    for (const auto& f : claim.fields) fields.emplace_back(f);
    out["fields"] = std::move(fields);
  }
  if (!claim.path.is_null()) out["path"] = claim.path;
  if (!claim.range.is_null()) out["range"] = claim.range;
  if (!claim.meta.is_null()) out["meta"] = claim.meta;
}

// An active claim's lease end; a waiter has none yet, so report the lease it would get.
int64_t lease_end(const Claim& claim) {
  return claim.status == ClaimStatus::kActive ? claim.expires_at_ms : claim.declared_at_ms + claim.ttl_ms;
}

}  // namespace

std::string ws_frame(std::string_view type, json::object payload) {
  return json::serialize(json::object{{"type", type}, {"payload", std::move(payload)}});
}

json::object intent_target(const Claim& claim) {
  json::object target{{"entityType", claim.entity_type}, {"entityId", claim.entity_id}};
  add_narrowing(target, claim);
  return target;
}

json::object intent_claim(const Claim& claim, std::string_view terminal) {
  json::object out{{"intentId", claim.intent_id},
                   {"entityType", claim.entity_type},
                   {"entityId", claim.entity_id},
                   {"action", claim.action},
                   {"declaredAt", claim.declared_at_ms},
                   {"expiresAt", lease_end(claim)},
                   {"status", terminal.empty() ? std::string_view("active") : terminal}};
  add_narrowing(out, claim);
  if (claim.fence_token > 0) out["fenceToken"] = claim.fence_token;
  return out;
}

json::object queue_entry(const Claim& claim, int position) {
  json::object target{{"type", claim.entity_type}, {"id", claim.entity_id}};
  add_narrowing(target, claim);
  json::object out{{"object", "intent"},
                   {"id", claim.intent_id},
                   {"status", claim.status == ClaimStatus::kActive ? "active" : "queued"},
                   {"target", std::move(target)},
                   {"action", claim.action},
                   {"heldBy", claim.owner.participant_id},
                   {"participantKind", claim.participant_kind == "agent" ? "agent" : "human"},
                   {"createdAt", iso8601_from_ms(claim.declared_at_ms)},
                   {"expiresAt", iso8601_from_ms(lease_end(claim))}};
  if (!claim.description.empty()) out["description"] = claim.description;
  if (position >= 0) out["position"] = position;
  if (claim.status == ClaimStatus::kActive) out["fenceToken"] = claim.fence_token;
  return out;
}

json::object http_record(const Claim& claim, int position) {
  json::object target{{"model", claim.entity_type}, {"resource", claim.entity_type}, {"type", claim.entity_type},
                      {"id", claim.entity_id}};
  add_narrowing(target, claim);
  json::object out{{"object", "intent"},
                   {"id", claim.intent_id},
                   {"status", claim.status == ClaimStatus::kActive ? "active" : "queued"},
                   {"actor", claim.owner.participant_id},
                   {"heldBy", claim.owner.participant_id},
                   {"participantKind", claim.participant_kind},
                   {"action", claim.action},
                   {"field", claim.field.empty() ? json::value(nullptr) : json::value(claim.field)},
                   {"createdAt", iso8601_from_ms(claim.declared_at_ms)},
                   {"expiresAt", iso8601_from_ms(lease_end(claim))},
                   {"target", std::move(target)}};
  if (!claim.description.empty()) out["description"] = claim.description;
  if (position >= 0) out["position"] = position;
  return out;
}

}  // namespace ablo::coord
