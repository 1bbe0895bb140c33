#include "coord/requests.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <string_view>

#include "common/json_member.h"
#include "common/json_number.h"

namespace ablo::coord {

namespace json = boost::json;

Result<ClaimRequest> parse_intent_begin(const json::object& payload) {
  ClaimRequest request;
  request.intent_id = id_member(payload, "intentId");
  if (request.intent_id.empty()) return fail("intent_id_required", "intent_begin needs an intentId", "intentId");
  request.entity_type = id_member(payload, "entityType");
  request.entity_id = id_member(payload, "entityId");
  if (request.entity_type.empty() || request.entity_id.empty()) {
    return fail("invalid_intent", "intent_begin needs entityType and entityId", "entityId");
  }
  if (auto action = id_member(payload, "action"); !action.empty()) request.action = action;
  request.field = id_member(payload, "field");
  request.path = json_member(payload, "path");
  request.range = json_member(payload, "range");
  request.meta = json_member(payload, "meta");
  if (request.meta.is_object()) request.description = id_member(request.meta.as_object(), "description");
  if (const auto* ms = payload.if_contains("estimatedMs"); ms && ms->is_number()) {
    if (const auto value = clamped_int64(*ms, 0, 1'000'000'000'000); value && *value > 0) request.ttl_ms = *value;
  }
  if (const auto* queue = payload.if_contains("queue"); queue && queue->is_bool()) request.queue = queue->as_bool();
  return request;
}

std::string parse_intent_abandon(const json::object& payload) { return id_member(payload, "intentId"); }

ReorderRequest parse_intent_reorder(const json::object& payload) {
  ReorderRequest request{id_member(payload, "entityType"), id_member(payload, "entityId"), {}};
  if (const auto* list = payload.if_contains("order"); list && list->is_array()) {
    for (const auto& entry : list->as_array()) {
      if (entry.is_object()) request.intent_ids.push_back(id_member(entry.as_object(), "intentId"));
    }
  }
  return request;
}

Result<int64_t> parse_ttl_ms(const json::value& ttl) {
  const auto invalid = [] { return fail("invalid_request", "ttl is a number of seconds or \"<n>ms|s|m|h\"", "ttl"); };
  if (ttl.is_number()) {
    const double seconds = number_as_double(ttl).value_or(0);
    if (!std::isfinite(seconds) || seconds <= 0) return invalid();
    return static_cast<int64_t>(std::min(seconds, 1e9) * 1000);
  }
  if (!ttl.is_string()) return invalid();
  const std::string_view text = ttl.as_string();
  std::size_t digits = 0;
  while (digits < text.size() && (std::isdigit(static_cast<unsigned char>(text[digits])) || text[digits] == '.')) {
    ++digits;
  }
  if (digits == 0 || digits > 12) return invalid();
  double value = 0;
  try {
    value = std::stod(std::string(text.substr(0, digits)));
  } catch (...) {
    return invalid();
  }
  const std::string_view unit = text.substr(digits);
  double factor = 0;
  if (unit.empty() || unit == "s") factor = 1000;
  else if (unit == "ms") factor = 1;
  else if (unit == "m") factor = 60'000;
  else if (unit == "h") factor = 3'600'000;
  if (factor == 0 || value <= 0) return invalid();
  return static_cast<int64_t>(value * factor);
}

}  // namespace ablo::coord
