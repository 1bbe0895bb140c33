#pragma once
// The edge of the coordination plane for the 0.9.1 dialect: client intent_* payloads
// (protocol.md §3.3) and HTTP claim options (http-api.md §1.7) parsed into the typed requests
// the Coordinator takes. Another dialect adds its own parser producing the same types.
#include <cstdint>
#include <string>

#include <boost/json/object.hpp>
#include <boost/json/value.hpp>

#include "common/result.h"
#include "coord/ops.h"

namespace ablo::coord {

// intent_begin payload -> request; intent_id_required / invalid_intent when ids are missing.
Result<ClaimRequest> parse_intent_begin(const boost::json::object& payload);
// intent_abandon payload -> its intentId; empty when it has none.
std::string parse_intent_abandon(const boost::json::object& payload);
// intent_reorder payload {entityType, entityId, order: [{intentId}]} -> request.
ReorderRequest parse_intent_reorder(const boost::json::object& payload);
// HTTP `ttl`: a bare number is seconds, or "<n>ms|s|m|h" (http-api.md §1.7).
Result<int64_t> parse_ttl_ms(const boost::json::value& ttl);

}  // namespace ablo::coord
