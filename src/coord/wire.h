#pragma once
// The shapes a claim takes on the wire (http-api.md §5.1): the WebSocket IntentClaim inside
// presence frames (ms-epoch numbers), the SDK `Intent` inside intent_queue snapshots, and the
// HTTP claim record (ISO times, Stripe-style `object`).
#include <string>
#include <string_view>

#include <boost/json/object.hpp>

#include "coord/claim_table.h"

namespace ablo::coord {

// {type, payload} as one text frame.
std::string ws_frame(std::string_view type, boost::json::object payload);

// {entityType, entityId, field?, path?, range?, meta?} — the target echoed in intent_* frames.
boost::json::object intent_target(const Claim& claim);
// IntentClaim for presence_update.activeIntents; `terminal` (committed|canceled|expired) is
// set once, as the claim ends.
boost::json::object intent_claim(const Claim& claim, std::string_view terminal = {});
// SDK Intent for intent_queue.queue (participantKind human|agent, ISO times).
boost::json::object queue_entry(const Claim& claim, int position);
// The HTTP claim record; `position` < 0 for active claims.
boost::json::object http_record(const Claim& claim, int position);

}  // namespace ablo::coord
