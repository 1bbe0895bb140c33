#include "fanout/wire_delta.h"

#include <boost/json.hpp>

#include "common/time.h"

namespace ablo::fanout {

namespace json = boost::json;

namespace {

json::value nullable(const std::string& text) { return text.empty() ? json::value(nullptr) : json::value(text); }

}  // namespace

std::string echo_route(std::string_view participant_id, std::string_view credential_id) {
  return "~echo:" + std::string(credential_id) + ":" + std::string(participant_id);
}

bool is_echo_route(std::string_view group) { return group.starts_with("~echo:"); }

json::object wire_delta(const store::Delta& d) {
  json::object out;
  out["id"] = d.id;
  out["actionType"] = std::string(1, d.action);
  out["modelName"] = d.model_name;
  out["modelId"] = d.model_id;
  out["data"] = d.data ? json::value(*d.data) : json::value(nullptr);
  json::array groups;
  for (const auto& g : d.sync_groups) {
    if (!is_echo_route(g)) groups.emplace_back(g);
  }
  out["syncGroups"] = std::move(groups);
  out["transactionId"] = nullable(d.transaction_id);
  out["createdAt"] = iso8601_from_ms(d.created_at_ms);
  out["createdBy"] = nullable(d.participant_id);
  out["actor"] = d.participant_id.empty()
                     ? json::value(nullptr)
                     : json::value(json::object{{"kind", d.participant_kind}, {"id", d.participant_id}});
  out["capabilityId"] = nullable(d.capability_id);
  out["causedByTaskId"] = nullable(d.caused_by_task_id);
  return out;
}

json::object bootstrap_delta(const store::Delta& d) {
  json::object out = wire_delta(d);
  out["operation"] = std::string(1, d.action);
  out["entityId"] = d.model_id;
  return out;
}

}  // namespace ablo::fanout
