#pragma once
// The wire form of a delta (protocol.md §4.2) as the 0.9.1 client reads it.
#include <string>
#include <string_view>

#include <boost/json/object.hpp>

#include "store/store.h"

namespace ablo::fanout {

// {id, actionType, modelName, modelId, data, syncGroups, transactionId, createdAt, createdBy,
//  actor, capabilityId, causedByTaskId}. The tenant is never included.
boost::json::object wire_delta(const store::Delta& delta);
// The same plus `operation` and `entityId`, the spellings a partial bootstrap is read with (§4.6).
boost::json::object bootstrap_delta(const store::Delta& delta);

// The route that reaches one credential's own sockets, whatever groups they subscribe to: a
// writer always receives the deltas of its own writes (the 0.9.1 client settles its pending
// writes on their echo, protocol.md §4.5), and nobody else receives a row for that reason.
// Delta groups may carry it; it never goes on the wire. A role group cannot start with '~'.
std::string echo_route(std::string_view participant_id, std::string_view credential_id);
bool is_echo_route(std::string_view group);

}  // namespace ablo::fanout
