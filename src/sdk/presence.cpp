// Presence (design §11, protocol.md §3.8): the roster of the other participants sharing this
// client's sync groups, rebuilt from the server's presence_update frames on every socket, and this
// client's own status and activity, sent on every open.
#include <algorithm>

#include <boost/asio/post.hpp>
#include <boost/json.hpp>

#include "common/time.h"
#include "common/json_member.h"
#include "sdk/core.h"

namespace ablo {

namespace json = boost::json;
using sdk_detail::ClientCore;

namespace presence_impl {

std::optional<Activity> activity_of(const json::object& payload) {
  const auto* value = payload.if_contains("activity");
  if (!value || !value->is_object()) return std::nullopt;
  const auto& object = value->get_object();
  Activity activity;
  activity.model = string_member(object, "entityType");
  activity.id = string_member(object, "entityId");
  if (auto action = string_member(object, "action"); !action.empty()) activity.action = action;
  if (auto field = string_member(object, "field"); !field.empty()) activity.field = field;
  if (const auto* meta = object.if_contains("meta"); meta && meta->is_object()) activity.meta = meta->get_object();
  return activity;
}

json::object activity_json(const Activity& activity) {
  json::object out{{"entityType", activity.model}, {"entityId", activity.id}, {"action", activity.action}};
  if (activity.field) out["field"] = *activity.field;
  if (!activity.meta.empty()) out["meta"] = activity.meta;
  return out;
}

Participant participant_of(const json::object& payload, std::chrono::milliseconds clock_offset) {
  Participant p;
  p.id = string_member(payload, "userId");
  const auto* is_agent = payload.if_contains("isAgent");
  p.kind = is_agent && is_agent->is_bool() && is_agent->get_bool() ? "agent" : "human";
  p.status = string_member(payload, "status");
  p.activity = activity_of(payload);
  if (const auto* groups = payload.if_contains("syncGroups"); groups && groups->is_array()) {
    for (const auto& g : groups->get_array()) {
      if (g.is_string()) p.sync_groups.emplace_back(g.get_string());
    }
  }
  if (const auto* intents = payload.if_contains("activeIntents"); intents && intents->is_array()) {
    for (const auto& value : intents->get_array()) {
      if (!value.is_object()) continue;
      const auto& intent = value.get_object();
      if (string_member(intent, "status") != "active") continue;  // terminal entries announce an end
      ClaimInfo claim;
      claim.intent_id = string_member(intent, "intentId");
      claim.model = string_member(intent, "entityType");
      claim.id = string_member(intent, "entityId");
      claim.action = string_member(intent, "action");
      if (auto field = string_member(intent, "field"); !field.empty()) claim.field = field;
      claim.held_by = p.id;
      claim.participant_kind = p.kind;
      if (const auto* expires = intent.if_contains("expiresAt"); expires && expires->is_int64()) {
        // Server time → this machine's clock (design §8.5).
        claim.expires_at = Clock::time_point(std::chrono::milliseconds(expires->get_int64()) - clock_offset);
      }
      p.claims.push_back(std::move(claim));
    }
  }
  p.last_seen = Clock::now();
  return p;
}

// One entry of an intent_queue frame (coord/wire.cpp queue_entry) seen by this client.
ClaimInfo queue_entry_of(const ClientCore& core, const std::string& model, const std::string& id,
                         const json::object& entry, std::chrono::milliseconds clock_offset) {
  ClaimInfo info;
  info.intent_id = string_member(entry, "id");
  info.model = model;
  info.id = id;
  if (const auto* target = entry.if_contains("target"); target && target->is_object()) {
    if (auto field = string_member(target->get_object(), "field"); !field.empty()) info.field = field;
  }
  info.action = string_member(entry, "action");
  info.description = string_member(entry, "description");
  info.held_by = string_member(entry, "heldBy");
  info.participant_kind = string_member(entry, "participantKind");
  // Own entries by the server-resolved participant id (design §9), or by an intent id we sent.
  info.mine = (!core.participant_id.empty() && info.held_by == core.participant_id) || core.claims.contains(info.intent_id);
  if (const auto* position = entry.if_contains("position"); position && position->is_int64()) {
    info.position = static_cast<int>(position->get_int64());
  }
  if (auto expires = parse_iso8601_ms(string_member(entry, "expiresAt"))) {
    info.expires_at = Clock::time_point(std::chrono::milliseconds(*expires) - clock_offset);
  }
  return info;
}

// The schema key of a wire model name (others' clients may send the typename); as is when unknown.
std::string model_key(const ClientCore& core, std::string_view name) {
  const auto* model = core.schema->resolve(name);
  return model ? model->key : std::string(name);
}

std::vector<Participant> roster_of(const ClientCore& core) {
  std::vector<Participant> out;
  for (const auto& [id, participant] : core.roster) out.push_back(participant);
  return out;
}

// Delivered after the lock is released: an inline executor's callback may read the roster.
void notify(ClientCore& core) {
  std::vector<Participant> roster;
  std::vector<std::shared_ptr<sdk_detail::Listener<std::vector<Participant>>>> listeners;
  {
    std::lock_guard lock(core.presence_mutex);
    roster = roster_of(core);
    listeners = core.presence_listeners;
  }
  for (const auto& listener : listeners) listener->deliver(roster);
}

void send(ClientCore& core, json::object payload) {
  if (core.ws && core.ws->is_open()) {
    (void)core.ws->send(json::serialize(json::object{{"type", "presence_update"}, {"payload", std::move(payload)}}));
  }
}

json::object own_presence(ClientCore& core) {
  std::lock_guard lock(core.presence_mutex);
  json::object payload{{"status", core.own_status}, {"timezone", "UTC"}};
  if (core.own_activity) payload["activity"] = activity_json(*core.own_activity);
  return payload;
}

}  // namespace presence_impl

namespace sdk_detail {

void on_presence_frame(ClientCore& core, const json::object& payload) {
  auto participant = presence_impl::participant_of(payload, core.status_snapshot().clock_offset);
  if (participant.id.empty() || participant.id == core.participant_id) return;  // own echoes never count
  {
    std::lock_guard lock(core.presence_mutex);
    if (string_member(payload, "kind") == "leave" || participant.status == "offline") {
      core.roster.erase(participant.id);
    } else {
      core.roster[participant.id] = std::move(participant);
    }
  }
  presence_impl::notify(core);
}

void on_claim_queue_frame(ClientCore& core, const json::object& payload) {
  const auto* target = payload.if_contains("target");
  const auto* queue = payload.if_contains("queue");
  if (!target || !target->is_object() || !queue || !queue->is_array()) return;
  const auto model = presence_impl::model_key(core, string_member(target->get_object(), "type"));
  const auto id = string_member(target->get_object(), "id");
  const auto offset = core.status_snapshot().clock_offset;
  std::vector<ClaimInfo> waiters;
  for (const auto& entry : queue->get_array()) {
    if (entry.is_object()) waiters.push_back(presence_impl::queue_entry_of(core, model, id, entry.get_object(), offset));
  }
  std::stable_sort(waiters.begin(), waiters.end(), [](const ClaimInfo& a, const ClaimInfo& b) { return a.position < b.position; });
  std::lock_guard lock(core.presence_mutex);
  if (waiters.empty()) {
    core.claim_queues.erase({model, id});
  } else {
    core.claim_queues[{model, id}] = std::move(waiters);
  }
}

void announce_presence(ClientCore& core) { presence_impl::send(core, presence_impl::own_presence(core)); }

void clear_roster(ClientCore& core) {
  {
    std::lock_guard lock(core.presence_mutex);
    core.claim_queues.clear();  // a snapshot of the old socket: the server re-sends on change
    if (core.roster.empty()) return;
    core.roster.clear();
  }
  presence_impl::notify(core);
}

}  // namespace sdk_detail

// --- Presence ---

Participant Presence::self() const {
  Participant self;
  {
    std::shared_lock lock(core_->mutex);
    const auto it = core_->meta.find("participant_id");
    if (it != core_->meta.end()) self.id = it->second;
  }
  self.kind = core_->options.participant_kind == ParticipantKind::kAgent ? "agent" : "human";
  std::lock_guard lock(core_->presence_mutex);
  self.status = core_->own_status;
  self.activity = core_->own_activity;
  self.last_seen = Clock::now();
  return self;
}

std::vector<Participant> Presence::others() const {
  std::lock_guard lock(core_->presence_mutex);
  return presence_impl::roster_of(*core_);
}

void Presence::set_activity(Activity activity) {
  {
    std::lock_guard lock(core_->presence_mutex);
    core_->own_activity = std::move(activity);
  }
  if (!core_->disposed()) boost::asio::post(core_->io, [core = core_] { sdk_detail::announce_presence(*core); });
}

void Presence::clear_activity() {
  {
    std::lock_guard lock(core_->presence_mutex);
    core_->own_activity.reset();
  }
  if (!core_->disposed()) boost::asio::post(core_->io, [core = core_] { sdk_detail::announce_presence(*core); });
}

void Presence::set_status(std::string status) {
  {
    std::lock_guard lock(core_->presence_mutex);
    core_->own_status = std::move(status);
  }
  if (!core_->disposed()) boost::asio::post(core_->io, [core = core_] { sdk_detail::announce_presence(*core); });
}

Presence Client::presence() const { return Presence(core_); }

// --- ModelHandle: claims as others see them (design §9 last bullet) ---

std::optional<ClaimInfo> ModelHandle::claim_state(std::string_view id) const {
  const auto* model = core_->schema->resolve(key_);
  if (!model) return std::nullopt;
  std::lock_guard lock(core_->presence_mutex);
  for (const auto& [participant_id, participant] : core_->roster) {
    for (const auto& claim : participant.claims) {
      if (claim.id == id && presence_impl::model_key(*core_, claim.model) == model->key) return claim;
    }
  }
  return std::nullopt;
}

std::vector<ClaimInfo> ModelHandle::claim_queue(std::string_view id) const {
  const auto* model = core_->schema->resolve(key_);
  if (!model) return {};
  std::lock_guard lock(core_->presence_mutex);
  const auto found = core_->claim_queues.find({model->key, std::string(id)});
  return found == core_->claim_queues.end() ? std::vector<ClaimInfo>{} : found->second;
}

}  // namespace ablo
