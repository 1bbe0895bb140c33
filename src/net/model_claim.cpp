#include "net/model_claim.h"

#include <boost/json.hpp>

namespace ablo::net {

namespace json = boost::json;

json::object model_claim_json(const coord::Claim& claim, const schema::Model& model, int position) {
  const bool active = claim.status == coord::ClaimStatus::kActive;
  json::object target{{"model", model.key}, {"id", claim.entity_id}};
  if (!claim.field.empty()) target["field"] = claim.field;
  json::object out{{"id", claim.intent_id},
                   {"actor", claim.owner.participant_id},
                   {"participantKind", claim.participant_kind},
                   // A waiter has no lease yet: the one it would get.
                   {"expiresAt", active ? claim.expires_at_ms : claim.declared_at_ms + claim.ttl_ms},
                   {"target", std::move(target)},
                   {"status", active ? "active" : "queued"}};
  if (!claim.description.empty()) out["description"] = claim.description;
  if (!claim.field.empty()) out["field"] = claim.field;
  if (position >= 0) out["position"] = position;
  return out;
}

}  // namespace ablo::net
