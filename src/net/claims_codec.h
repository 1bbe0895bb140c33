#pragma once
// The claims dialect (clients 0.11–0.49, net/dialect.h) of the sync WebSocket at the edge:
// its claim_* / update_subscription frames parsed into the coordinator's typed requests, the
// coordination plane's frames (written in the 0.9.1 vocabulary: intent_*, presence_update with
// activeIntents) rendered as the 0.49 client's registry requires (notes/dialect-049.md §1.4),
// and its strict commit receipt (§2.2). The coordinator and the engine never see a dialect.
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <boost/json/object.hpp>

#include "common/result.h"
#include "coord/claim_table.h"
#include "coord/coordinator.h"
#include "coord/ops.h"

namespace ablo::net {

// ---------------------------------------------------------------- inbound (client -> server)

// claim_begin {claimId, entityType, entityId, description?, field?, fields?, meta?, estimatedMs?,
// queue?} -> the request intent_begin produces. claim_id_required without a claimId;
// malformed_claim (param names the member) for a missing target or a bad field/fields.
Result<coord::ClaimRequest> parse_claim_begin(const boost::json::object& payload);
// The claimed parts of a row: `field` and `fields[]` as ClaimRequest holds them (claims on
// disjoint field sets of one row are both granted).
void set_claimed_parts(coord::ClaimRequest& request, std::string field, std::vector<std::string> fields);
// claim_abandon {claimId} -> its claimId; empty when it has none.
std::string parse_claim_abandon(const boost::json::object& payload);
// claim_reorder {entityType, entityId, order: [{heldBy, claimId}]} -> request.
coord::ReorderRequest parse_claim_reorder(const boost::json::object& payload);

struct HeartbeatRequest {
  std::string claim_id;  // may be empty when the target is given
  std::string entity_type;
  std::string entity_id;
  std::optional<int64_t> ttl_ms;
};
// claim_heartbeat {claimId?, entityType?, entityId?, ttlMs?}: claim_id_required unless it names
// a claimId or a whole target.
Result<HeartbeatRequest> parse_claim_heartbeat(const boost::json::object& payload);

// A sync group the 0.49 client may name: `default` or `<ns>:<id>`, ns = [a-z][a-z0-9_]*.
bool is_sync_group_name(std::string_view group);
// update_subscription {syncGroups: string[<=200]}: malformed_subscription for another shape,
// invalid_sync_group for a name is_sync_group_name refuses.
Result<std::vector<std::string>> parse_update_subscription(const boost::json::object& payload);
inline constexpr std::size_t kMaxSubscriptionGroups = 200;

// ---------------------------------------------------------------- outbound (server -> client)

// One coordination frame of the 0.9.1 vocabulary, as a 0.49 socket must get it:
//   intent_acquired|granted -> claim_acquired|granted {claimId, fenceToken?, readAt?, target}
//   intent_queued  -> claim_queued {claimId, position, target?, heldBy?, heldByClaimId?, heldByExpiresAt?}
//   intent_lost    -> claim_lost {claimId, reason: expired|preempted, target}
//   intent_rejected-> claim_rejected {claimId, reason: conflict|coordination_unavailable|capability_denied|invalid_target, ...}
//   intent_queue   -> claim_queue {target:{type,id}, queue:[{object:'claim', ..., expiresAt: number}]}
//   claim_expired  -> claim_expired {claimId}
//   presence_update-> presence_update with kind, userId, status and activeClaims (WireClaim[])
// Other frames (relayed collaboration events, claim_ack, pong) are returned unchanged without
// being parsed. nullopt for a frame the 0.49 registry rejects (error, session_error, hello, an
// intent_* without a claims counterpart) or that does not parse: it must not be sent.
std::optional<std::string> claims_frame_of(std::string_view intents_frame);
// Whether a frame of this type may reach a 0.49 socket as it is (the registry's types).
bool claims_registry_has(std::string_view type);

// The refusal of a claim_begin the principal may not make (authz) or that is malformed.
// reason: capability_denied for a permission error, invalid_target for a missing/hidden row or
// a malformed target.
std::string claim_rejected_frame(const std::string& claim_id, const coord::ClaimRequest& asked, const Error& error);

// claim_heartbeat_ack {claimId, status: held | queued | lost, expiresAt?, position?,
// queueDepth?} from the coordinator's answer to the heartbeat.
std::string claim_heartbeat_ack_frame(const std::string& claim_id, const coord::HeartbeatResult& result);

// subscription_ack {success, syncGroups, error?}.
std::string subscription_ack_frame(const std::vector<std::string>& groups, const Error* error);

}  // namespace ablo::net
