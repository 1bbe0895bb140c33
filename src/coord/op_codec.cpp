#include "coord/op_codec.h"

#include <concepts>
#include <optional>
#include <string_view>
#include <type_traits>
#include <utility>
#include <variant>

#include <boost/json.hpp>

#include "common/json_member.h"
#include "common/json_number.h"

namespace ablo::coord {

namespace json = boost::json;

namespace {

// ---------------------------------------------------------------- field helpers

bool bool_member(const json::object& o, std::string_view key) {
  const auto* v = o.if_contains(key);
  return v && v->is_bool() && v->as_bool();
}

int64_t int_member(const json::object& o, std::string_view key) {
  const auto* v = o.if_contains(key);
  return v ? exact_int64(*v).value_or(0) : 0;
}

uint64_t uint_member(const json::object& o, std::string_view key) {
  const auto* v = o.if_contains(key);
  return v ? exact_uint64(*v).value_or(0) : 0;
}

json::object object_member(const json::object& o, std::string_view key) {
  const auto* v = o.if_contains(key);
  return v && v->is_object() ? v->as_object() : json::object();
}

template <typename Container>
json::array string_array(const Container& items) {
  json::array out;
  for (const auto& item : items) out.emplace_back(item);
  return out;
}

std::vector<std::string> strings_of(const json::object& o, std::string_view key) {
  std::vector<std::string> out;
  if (const auto* list = o.if_contains(key); list && list->is_array()) {
    for (const auto& item : list->as_array()) {
      if (item.is_string()) out.emplace_back(item.as_string());
    }
  }
  return out;
}

const json::array& array_member(const json::object& o, std::string_view key) {
  static const json::array kNone;
  const auto* v = o.if_contains(key);
  return v && v->is_array() ? v->as_array() : kNone;
}

// ---------------------------------------------------------------- shared records

json::object to_json(const Participant& p) {
  return {{"tenant", p.tenant},          {"participant", p.owner.participant_id},
          {"credential", p.owner.credential_id}, {"kind", p.kind},
          {"groups", string_array(p.groups)}, {"privileged", p.privileged}};
}

Participant participant_from(const json::object& o) {
  Participant p;
  p.tenant = string_member(o, "tenant");
  p.owner = {string_member(o, "participant"), string_member(o, "credential")};
  p.kind = string_member(o, "kind");
  p.groups = strings_of(o, "groups");
  p.privileged = bool_member(o, "privileged");
  return p;
}

json::value to_json(const std::optional<Participant>& p) { return p ? json::value(to_json(*p)) : json::value(nullptr); }

std::optional<Participant> optional_participant_from(const json::object& o, std::string_view key) {
  const auto* v = o.if_contains(key);
  if (!v || !v->is_object()) return std::nullopt;
  return participant_from(v->as_object());
}

json::object to_json(const ClaimRequest& r) {
  json::object o{{"intentId", r.intent_id}, {"entityType", r.entity_type}, {"entityId", r.entity_id},
                 {"field", r.field},        {"path", r.path},               {"range", r.range},
                 {"meta", r.meta},          {"action", r.action},           {"description", r.description},
                 {"queue", r.queue},        {"fields", string_array(r.fields)}, {"ticket", r.ticket}};
  if (r.ttl_ms) o["ttlMs"] = *r.ttl_ms;
  if (r.max_queue_depth) o["maxQueueDepth"] = *r.max_queue_depth;
  if (r.wait_ms) o["waitMs"] = *r.wait_ms;
  return o;
}

ClaimRequest request_from(const json::object& o) {
  ClaimRequest r;
  r.intent_id = string_member(o, "intentId");
  r.entity_type = string_member(o, "entityType");
  r.entity_id = string_member(o, "entityId");
  r.field = string_member(o, "field");
  r.path = json_member(o, "path");
  r.range = json_member(o, "range");
  r.meta = json_member(o, "meta");
  r.action = string_member(o, "action");
  r.description = string_member(o, "description");
  if (const auto* ttl = o.if_contains("ttlMs"); ttl && ttl->is_number()) r.ttl_ms = exact_int64(*ttl);
  r.queue = bool_member(o, "queue");
  r.fields = strings_of(o, "fields");
  r.ticket = bool_member(o, "ticket");
  if (const auto* depth = o.if_contains("maxQueueDepth")) {
    if (auto value = exact_int64_in(*depth, 0, 1'000'000)) r.max_queue_depth = static_cast<int>(*value);
  }
  if (const auto* wait = o.if_contains("waitMs")) r.wait_ms = exact_int64(*wait);
  return r;
}

json::object to_json(const Claim& c) {
  return {{"tenant", c.tenant},
          {"intentId", c.intent_id},
          {"participant", c.owner.participant_id},
          {"credential", c.owner.credential_id},
          {"participantKind", c.participant_kind},
          {"entityType", c.entity_type},
          {"model", c.model},
          {"entityId", c.entity_id},
          {"field", c.field},
          {"path", c.path},
          {"range", c.range},
          {"meta", c.meta},
          {"action", c.action},
          {"description", c.description},
          {"ttlMs", c.ttl_ms},
          {"declaredAt", c.declared_at_ms},
          {"expiresAt", c.expires_at_ms},
          {"active", c.status == ClaimStatus::kActive},
          {"session", c.session},
          {"wrote", c.wrote},
          {"fields", string_array(c.fields)},
          {"ticket", c.ticket},
          {"fenceToken", c.fence_token},
          {"readAt", c.read_at}};
}

Claim claim_from(const json::object& o) {
  Claim c;
  c.tenant = string_member(o, "tenant");
  c.intent_id = string_member(o, "intentId");
  c.owner = {string_member(o, "participant"), string_member(o, "credential")};
  c.participant_kind = string_member(o, "participantKind");
  c.entity_type = string_member(o, "entityType");
  c.model = string_member(o, "model");
  c.entity_id = string_member(o, "entityId");
  c.field = string_member(o, "field");
  c.path = json_member(o, "path");
  c.range = json_member(o, "range");
  c.meta = json_member(o, "meta");
  c.action = string_member(o, "action");
  c.description = string_member(o, "description");
  c.ttl_ms = int_member(o, "ttlMs");
  c.declared_at_ms = int_member(o, "declaredAt");
  c.expires_at_ms = int_member(o, "expiresAt");
  c.status = bool_member(o, "active") ? ClaimStatus::kActive : ClaimStatus::kQueued;
  c.session = uint_member(o, "session");
  c.wrote = bool_member(o, "wrote");
  c.fields = strings_of(o, "fields");
  c.ticket = bool_member(o, "ticket");
  c.fence_token = int_member(o, "fenceToken");
  c.read_at = int_member(o, "readAt");
  return c;
}

// ---------------------------------------------------------------- ops: one pair per kind

json::object to_json(const op::Attach& o) { return {{"session", o.session}, {"who", to_json(o.who)}}; }
void from_json(const json::object& j, op::Attach& o) {
  o.session = uint_member(j, "session");
  o.who = participant_from(object_member(j, "who"));
}

json::object to_json(const op::Detach& o) { return {{"session", o.session}}; }
void from_json(const json::object& j, op::Detach& o) { o.session = uint_member(j, "session"); }

json::object to_json(const op::AddGroups& o) { return {{"session", o.session}, {"groups", string_array(o.groups)}}; }
void from_json(const json::object& j, op::AddGroups& o) {
  o.session = uint_member(j, "session");
  o.groups = strings_of(j, "groups");
}

json::object to_json(const op::Begin& o) {
  return {{"session", o.session}, {"who", to_json(o.who)}, {"request", to_json(o.request)}};
}
void from_json(const json::object& j, op::Begin& o) {
  o.session = uint_member(j, "session");
  o.who = optional_participant_from(j, "who");
  o.request = request_from(object_member(j, "request"));
}

json::object to_json(const op::Abandon& o) { return {{"session", o.session}, {"intentId", o.intent_id}}; }
void from_json(const json::object& j, op::Abandon& o) {
  o.session = uint_member(j, "session");
  o.intent_id = string_member(j, "intentId");
}

json::object to_json(const op::Reorder& o) {
  return {{"session", o.session},
          {"who", to_json(o.who)},
          {"entityType", o.request.entity_type},
          {"entityId", o.request.entity_id},
          {"intentIds", string_array(o.request.intent_ids)}};
}
void from_json(const json::object& j, op::Reorder& o) {
  o.session = uint_member(j, "session");
  o.who = optional_participant_from(j, "who");
  o.request = {string_member(j, "entityType"), string_member(j, "entityId"), strings_of(j, "intentIds")};
}

json::object to_json(const op::PresenceUpdate& o) { return {{"session", o.session}, {"fields", o.fields}}; }
void from_json(const json::object& j, op::PresenceUpdate& o) {
  o.session = uint_member(j, "session");
  o.fields = object_member(j, "fields");
}

json::object to_json(const op::RelayEvent& o) {
  return {{"session", o.session}, {"type", o.type}, {"payload", o.payload}};
}
void from_json(const json::object& j, op::RelayEvent& o) {
  o.session = uint_member(j, "session");
  o.type = string_member(j, "type");
  o.payload = object_member(j, "payload");
}

// Ops naming a participant and one claim: a release by its owner, a preemption by an operator.
template <class O>
  requires std::same_as<O, op::ReleaseIntent> || std::same_as<O, op::Preempt>
json::object to_json(const O& o) {
  return {{"who", to_json(o.who)}, {"intentId", o.intent_id}};
}
template <class O>
  requires std::same_as<O, op::ReleaseIntent> || std::same_as<O, op::Preempt>
void from_json(const json::object& j, O& o) {
  o.who = participant_from(object_member(j, "who"));
  o.intent_id = string_member(j, "intentId");
}

json::object to_json(const op::ReleaseEntity& o) {
  return {{"who", to_json(o.who)}, {"entityType", o.entity_type}, {"entityId", o.entity_id}};
}
void from_json(const json::object& j, op::ReleaseEntity& o) {
  o.who = participant_from(object_member(j, "who"));
  o.entity_type = string_member(j, "entityType");
  o.entity_id = string_member(j, "entityId");
}

json::object to_json(const op::Renew& o) { return {{"who", to_json(o.who)}, {"intentId", o.intent_id}}; }
void from_json(const json::object& j, op::Renew& o) {
  o.who = participant_from(object_member(j, "who"));
  o.intent_id = string_member(j, "intentId");
}

json::object to_json(const op::Heartbeat& o) {
  json::object out{{"session", o.session}, {"who", to_json(o.who)}, {"intentId", o.intent_id}};
  if (o.ttl_ms) out["ttlMs"] = *o.ttl_ms;
  return out;
}
void from_json(const json::object& j, op::Heartbeat& o) {
  o.session = uint_member(j, "session");
  o.who = optional_participant_from(j, "who");
  o.intent_id = string_member(j, "intentId");
  if (const auto* ttl = j.if_contains("ttlMs")) o.ttl_ms = exact_int64(*ttl);
}

json::object to_json(const op::Wrote& o) {
  return {{"who", to_json(o.who)}, {"model", o.model}, {"entityId", o.entity_id}, {"fields", string_array(o.fields)}};
}
void from_json(const json::object& j, op::Wrote& o) {
  o.who = participant_from(object_member(j, "who"));
  o.model = string_member(j, "model");
  o.entity_id = string_member(j, "entityId");
  const auto fields = strings_of(j, "fields");
  o.fields = {fields.begin(), fields.end()};
}

json::object to_json(const op::CloseSessions& o) {
  return {{"tenant", o.tenant}, {"credential", o.credential_id}, {"code", o.close_code}, {"reason", o.reason}};
}
void from_json(const json::object& j, op::CloseSessions& o) {
  o.tenant = string_member(j, "tenant");
  o.credential_id = string_member(j, "credential");
  if (const auto* code = j.if_contains("code")) o.close_code = static_cast<int>(exact_int64_in(*code, 1000, 4999).value_or(4003));
  o.reason = string_member(j, "reason");
}

json::object to_json(const op::Sweep&) { return {}; }
void from_json(const json::object&, op::Sweep&) {}

json::object to_json(const op::NodesDown& o) {
  json::array nodes;
  for (auto n : o.nodes) nodes.emplace_back(n);
  return {{"nodes", std::move(nodes)}};
}
void from_json(const json::object& j, op::NodesDown& o) {
  for (const auto& n : array_member(j, "nodes")) {
    if (auto node = exact_int64(n)) o.nodes.push_back(*node);
  }
}

// The alternative of Op whose kKind is `kind`, decoded from `fields`.
template <std::size_t I = 0>
std::optional<Op> decode_kind(std::string_view kind, const json::object& fields) {
  if constexpr (I == std::variant_size_v<Op>) {
    return std::nullopt;
  } else {
    using Alternative = std::variant_alternative_t<I, Op>;
    if (kind != Alternative::kKind) return decode_kind<I + 1>(kind, fields);
    Alternative decoded;
    from_json(fields, decoded);
    return Op(std::move(decoded));
  }
}

}  // namespace

std::string encode_op(const StampedOp& stamped) {
  json::object fields = std::visit([](const auto& o) { return to_json(o); }, stamped.op);
  return json::serialize(json::object{{"kind", kind_of(stamped.op)},
                                      {"now", stamped.now},
                                      {"head", stamped.head},
                                      {"node", stamped.node},
                                      {"op", std::move(fields)}});
}

Result<StampedOp> decode_op(const std::string& text) {
  boost::system::error_code ec;
  auto parsed = json::parse(text, ec);
  if (ec || !parsed.is_object()) return fail("internal_error", "unreadable coordination op");
  const auto& o = parsed.as_object();
  auto op = decode_kind(string_member(o, "kind"), object_member(o, "op"));
  if (!op) return fail("internal_error", "unknown coordination op kind");
  return StampedOp{std::move(*op), int_member(o, "now"), int_member(o, "head"), int_member(o, "node")};
}

std::string encode_snapshot(const ReplicaImage& image) {
  json::array sessions, participants, claims;
  for (const auto& session : image.sessions) {
    sessions.push_back(json::object{{"id", session.id}, {"who", to_json(session.who)}});
  }
  for (const auto& p : image.participants) {
    json::array ids;
    for (auto id : p.sessions) ids.emplace_back(id);
    participants.push_back(json::object{{"tenant", p.tenant},
                                        {"participant", p.participant_id},
                                        {"kind", p.kind},
                                        {"groups", string_array(p.groups)},
                                        {"sessions", std::move(ids)},
                                        {"presence", p.presence},
                                        {"entered", p.entered}});
  }
  for (const auto& claim : image.claims) claims.push_back(to_json(claim));
  return json::serialize(json::object{{"sessions", std::move(sessions)},
                                      {"participants", std::move(participants)},
                                      {"claims", std::move(claims)},
                                      {"lastFence", image.last_fence}});
}

Result<ReplicaImage> decode_snapshot(const std::string& text) {
  boost::system::error_code ec;
  auto parsed = json::parse(text, ec);
  if (ec || !parsed.is_object()) return fail("internal_error", "unreadable coordination snapshot");
  const auto& o = parsed.as_object();
  ReplicaImage image;
  for (const auto& entry : array_member(o, "sessions")) {
    if (!entry.is_object()) continue;
    const auto& e = entry.as_object();
    const auto id = exact_uint64(json_member(e, "id"));
    const auto* who = e.if_contains("who");
    if (!id || !who || !who->is_object()) continue;
    image.sessions.push_back({*id, participant_from(who->as_object())});
  }
  for (const auto& entry : array_member(o, "participants")) {
    if (!entry.is_object()) continue;
    const auto& e = entry.as_object();
    ReplicaImage::ParticipantEntry p;
    p.tenant = string_member(e, "tenant");
    p.participant_id = string_member(e, "participant");
    p.kind = string_member(e, "kind");
    for (auto& g : strings_of(e, "groups")) p.groups.insert(std::move(g));
    for (const auto& id : array_member(e, "sessions")) {
      if (auto session = exact_uint64(id)) p.sessions.insert(*session);
    }
    p.presence = object_member(e, "presence");
    p.entered = bool_member(e, "entered");
    image.participants.push_back(std::move(p));
  }
  for (const auto& entry : array_member(o, "claims")) {
    if (entry.is_object()) image.claims.push_back(claim_from(entry.as_object()));
  }
  image.last_fence = int_member(o, "lastFence");
  return image;
}

}  // namespace ablo::coord
