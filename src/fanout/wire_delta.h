#pragma once
// The wire form of a delta (protocol.md §4.2) as the 0.9.1 client reads it.
#include <string>

#include <boost/json/object.hpp>

#include "store/store.h"

namespace ablo::fanout {

// {id, actionType, modelName, modelId, data, syncGroups, transactionId, createdAt, createdBy,
//  actor, capabilityId, causedByTaskId}. The tenant is never included.
boost::json::object wire_delta(const store::Delta& delta);
// The same plus `operation` and `entityId`, the spellings a partial bootstrap is read with (§4.6).
boost::json::object bootstrap_delta(const store::Delta& delta);

}  // namespace ablo::fanout
