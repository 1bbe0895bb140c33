// Presence and app collaboration events: the presence_update frames peers get about a
// participant (its client-set members, server-stamped identity and complete activeIntents),
// and relayed events. Part of the Coordinator's state machine (coordinator.h).
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <boost/json.hpp>

#include "coord/coordinator.h"
#include "coord/wire.h"

namespace ablo::coord {

namespace json = boost::json;

namespace {

// Members of a client presence_update the server owns and stamps itself.
bool server_stamped(std::string_view key) {
  return key == "userId" || key == "isAgent" || key == "kind" || key == "timestamp" || key == "syncGroups" ||
         key == "activeIntents" || key == "type" || key == "socketId";
}

}  // namespace

void Coordinator::presence_update(uint64_t session, const json::object& payload) {
  // Refused before it reaches the op log: every peer would get it on every later change.
  if (json::serialize(payload).size() > options_.max_presence_bytes) return;
  execute(op::PresenceUpdate{session, payload});
}

Coordinator::OpResult Coordinator::apply_op_locked(const op::PresenceUpdate& op) {
  auto it = sessions_.find(op.session);
  if (it == sessions_.end()) return {};
  const auto& who = it->second->who;
  auto& state = participant_locked(who);
  json::object merged = state.presence;
  for (const auto& [key, value] : op.fields) {
    if (!server_stamped(key)) merged[key] = value;
  }
  // Keys accumulate across updates: the participant's whole presence is bounded too.
  if (json::serialize(merged).size() > options_.max_presence_bytes) return {};
  state.presence = std::move(merged);
  const bool entering = !state.entered;
  state.entered = true;
  send_presence_locked(who.tenant, who.owner.participant_id, entering ? "enter" : "update", {});
  return {};
}

void Coordinator::relay_event(uint64_t session, std::string_view type, const json::object& payload) {
  execute(op::RelayEvent{session, std::string(type), payload});
}

Coordinator::OpResult Coordinator::apply_op_locked(const op::RelayEvent& op) {
  const uint64_t session = op.session;
  auto it = sessions_.find(session);
  if (it == sessions_.end()) return {};
  const auto& from = it->second->who;
  json::object stamped = op.payload;
  stamped["userId"] = from.owner.participant_id;
  const std::string frame = ws_frame(op.type, std::move(stamped));
  const std::set<std::string> groups(from.groups.begin(), from.groups.end());
  for (const auto& [id, peer] : sessions_) {
    if (id == session || !peer->outbox || peer->who.tenant != from.tenant || !shares_group(peer->who.groups, groups)) {
      continue;
    }
    send_locked(peer->outbox, frame);
  }
  return {};
}

void Coordinator::send_presence_locked(const std::string& tenant, const std::string& participant_id,
                                       std::string_view kind, const std::vector<std::pair<Claim, std::string>>& terminal,
                                       uint64_t only_session) {
  auto state_it = participants_.find({tenant, participant_id});
  if (state_it == participants_.end()) return;
  const auto& state = *state_it->second;
  json::array active;
  for (const auto& claim : table_.claims_of(tenant, participant_id)) {
    if (claim.status == ClaimStatus::kActive) active.push_back(intent_claim(claim));
  }
  for (const auto& [claim, status] : terminal) active.push_back(intent_claim(claim, status));
  json::object payload = state.presence;
  if (!payload.contains("status")) payload["status"] = kind == "leave" ? "offline" : "online";
  payload["kind"] = kind;
  payload["userId"] = participant_id;
  payload["isAgent"] = state.kind == "agent";
  payload["timestamp"] = now_;
  json::array groups;
  for (const auto& g : state.groups) groups.emplace_back(g);
  payload["syncGroups"] = std::move(groups);
  payload["activeIntents"] = std::move(active);
  const std::string frame = ws_frame("presence_update", std::move(payload));
  for (const auto& [id, peer] : sessions_) {
    if ((only_session != 0 && id != only_session) || !peer->outbox) continue;
    // Never to the participant's own sockets: 0.9.1 cannot recognise its own echo.
    if (peer->who.tenant != tenant || peer->who.owner.participant_id == participant_id) continue;
    if (!shares_group(peer->who.groups, state.groups)) continue;
    send_locked(peer->outbox, frame);
  }
}

}  // namespace ablo::coord
