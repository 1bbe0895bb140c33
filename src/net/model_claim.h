#pragma once
// The 0.49 client's ModelClaim (`modelClaimSchema`, a z.object): how a claim on a row appears
// in the `claims` of a model read over the kClaims dialect. Epoch-millisecond `expiresAt`, the
// claimant's id as `actor`, and the target by the model's schema key. 0.9.1 reads the HTTP
// claim record of coord/wire.h instead (ISO times, intent-era fields), which 0.49 refuses.
#include <boost/json/object.hpp>

#include "coord/claim_table.h"
#include "schema/schema.h"

namespace ablo::net {

// {id, actor, participantKind, expiresAt, target: {model, id, field?}, description?, status,
//  position?, field?}. `position` < 0 for a holder (left out).
boost::json::object model_claim_json(const coord::Claim& claim, const schema::Model& model, int position);

}  // namespace ablo::net
