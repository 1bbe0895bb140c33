// HTTP routes of the claim plane (http-api.md §4.6, §5): /v1/intents and
// /v1/models/{model}/{id}/claim, for workers without a socket. Served under /v1 and /api/v1.
#include "net/claim_routes.h"

#include <boost/json.hpp>
#include <fmt/format.h>

#include "common/json_member.h"
#include "coord/wire.h"
#include "net/http_json.h"
#include "net/router.h"

namespace ablo::net {

namespace json = boost::json;

namespace {

std::string first_query_value(const std::string& target, std::initializer_list<const char*> names) {
  for (const char* name : names) {
    auto values = query_values(target, name);
    if (!values.empty()) return values.front();
  }
  return {};
}

// Fills action/ttl/description/meta/queue, shared by both acquire routes.
Status read_claim_options(const json::object& body, coord::ClaimRequest& request) {
  if (auto action = string_member(body, "action"); !action.empty()) request.action = action;
  request.description = string_member(body, "description");
  if (const auto* meta = body.if_contains("meta"); meta && !meta->is_null()) request.meta = *meta;
  if (const auto* ttl = body.if_contains("ttl"); ttl && !ttl->is_null()) {
    auto ms = coord::parse_ttl_ms(*ttl);
    if (!ms) return tl::unexpected(ms.error());
    request.ttl_ms = *ms;
  }
  if (const auto* queue = body.if_contains("queue"); queue && queue->is_bool()) request.queue = queue->as_bool();
  return {};
}

Error conflict_error(const coord::Claim& holder) {
  Error error("claim_conflict", fmt::format("{} '{}' is claimed by {}", holder.entity_type, holder.entity_id,
                                            holder.owner.participant_id));
  error.details = {{"heldBy", holder.owner.participant_id},
                   {"heldByIntentId", holder.intent_id},
                   {"heldByExpiresAt", holder.expires_at_ms}};
  return error;
}

HttpResponse queued_response(const coord::Claim& claim, int position) {
  return json_response(202, json::object{{"object", "intent"},
                                         {"status", "queued"},
                                         {"id", claim.intent_id},
                                         {"intentId", claim.intent_id},
                                         {"position", position},
                                         {"heldBy", claim.owner.participant_id}});
}

// acquired -> `acquired_status` with the record; queued -> 202; refused -> 409 claim_conflict.
Result<HttpResponse> acquire_response(const coord::ClaimResult& result, int acquired_status) {
  if (result.error) return tl::unexpected(*result.error);  // over a bound, or the cluster log is down
  switch (result.kind) {
    case coord::BeginOutcome::Kind::kAcquired: {
      auto record = coord::http_record(*result.claim, -1);
      record["intent"] = record;  // the SDK reads body.intent?.id first
      return json_response(acquired_status, record);
    }
    case coord::BeginOutcome::Kind::kQueued:
      return queued_response(*result.claim, result.position);
    case coord::BeginOutcome::Kind::kRejected:
    case coord::BeginOutcome::Kind::kForeignId:
      break;
  }
  return tl::unexpected(conflict_error(*result.blocker));
}

}  // namespace

ClaimRoutes::ClaimRoutes(engine::Engine& engine, coord::Coordinator& coordinator)
    : engine_(engine), coordinator_(coordinator) {}

std::optional<Result<HttpResponse>> ClaimRoutes::route(const HttpRequest& request, const std::vector<std::string>& parts,
                                                       const auth::Principal& principal) const {
  const auto who = coord::participant_of(principal, {});
  const auto& method = request.method;
  if (parts.size() == 2 && parts[1] == "intents") {
    if (method == "GET") return list_intents(request, principal, who);
    if (method == "POST") return create_intent(request, principal, who);
  }
  if (parts.size() == 3 && parts[1] == "intents" && method == "DELETE") return release_intent(parts[2], who);
  const bool claim_path = parts.size() >= 5 && parts[1] == "models" && parts[4] == "claim";
  if (claim_path && parts.size() == 5 && method == "POST") return claim_model(request, parts[2], parts[3], principal, who);
  if (claim_path && parts.size() == 5 && method == "DELETE") return release_model(parts[2], parts[3], who);
  if (claim_path && parts.size() == 6 && parts[5] == "reorder" && method == "POST") {
    return reorder_model(request, parts[2], parts[3], who);
  }
  return std::nullopt;
}

Result<HttpResponse> ClaimRoutes::list_intents(const HttpRequest& request, const auth::Principal& principal,
                                               const coord::Participant& who) const {
  const auto model = first_query_value(request.target, {"model", "resource"});
  const auto id = first_query_value(request.target, {"id"});
  const auto field = first_query_value(request.target, {"field"});
  json::array active, queue;
  int position = 0;
  for (const auto& claim : coordinator_.list(who.tenant, model, id, field)) {
    if (claim.owner != who.owner) {
      auto visible = engine_.may_read_entity(principal, claim.entity_type, claim.entity_id);
      if (!visible) return tl::unexpected(visible.error());
      if (!*visible) continue;
    }
    if (claim.status == coord::ClaimStatus::kActive) {
      active.push_back(coord::http_record(claim, -1));
    } else if (!model.empty() && !id.empty()) {  // a line only makes sense for one entity
      queue.push_back(coord::http_record(claim, position++));
    }
  }
  return json_response(200, json::object{{"object", "list"},
                                         {"data", active},
                                         {"intents", active},
                                         {"queue", std::move(queue)},
                                         {"has_more", false},
                                         {"next_cursor", nullptr}});
}

Result<HttpResponse> ClaimRoutes::create_intent(const HttpRequest& request, const auth::Principal& principal,
                                                const coord::Participant& who) const {
  auto body = parse_object_body(request.body);
  if (!body) return tl::unexpected(body.error());
  const auto* target_value = body->if_contains("target");
  if (!target_value || !target_value->is_object()) return fail("invalid_intent", "an intent needs a target", "target");
  const auto& target = target_value->as_object();
  coord::ClaimRequest claim;
  claim.intent_id = string_member(*body, "intentId");
  claim.entity_type = string_member(target, "model");
  if (claim.entity_type.empty()) claim.entity_type = string_member(target, "resource");
  claim.entity_id = string_member(target, "id");
  if (claim.entity_type.empty()) return fail("invalid_intent", "target.model (or target.resource) is required", "target.model");
  if (claim.entity_id.empty()) return fail("invalid_intent", "target.id is required", "target.id");
  if (string_member(*body, "action").empty()) return fail("invalid_intent", "action is required", "action");
  claim.field = string_member(target, "field");
  if (const auto* path = target.if_contains("path")) claim.path = *path;
  if (const auto* range = target.if_contains("range")) claim.range = *range;
  if (const auto* meta = target.if_contains("meta")) claim.meta = *meta;
  if (auto ok = read_claim_options(*body, claim); !ok) return tl::unexpected(ok.error());
  if (auto ok = engine_.authorize_claim(principal, claim.entity_type, claim.entity_id); !ok) {
    return tl::unexpected(ok.error());
  }
  const auto result = coordinator_.claim(who, std::move(claim));
  return acquire_response(result, 200);
}

Result<HttpResponse> ClaimRoutes::release_intent(const std::string& intent_id, const coord::Participant& who) const {
  const auto released = coordinator_.release_intent(who, intent_id);
  if (released && !*released) return fail("forbidden", fmt::format("intent '{}' is held by someone else", intent_id));
  return json_response(200, json::object{{"object", "intent"}, {"id", intent_id}, {"released", released.value_or(false)}});
}

Result<const schema::Model*> ClaimRoutes::model_of(const std::string& name) const {
  const auto* model = engine_.schema()->resolve(name);
  if (!model) return fail("model_not_found", fmt::format("unknown model '{}'", name), "model");
  return model;
}

Result<HttpResponse> ClaimRoutes::claim_model(const HttpRequest& request, const std::string& model_name,
                                              const std::string& id, const auth::Principal& principal,
                                              const coord::Participant& who) const {
  auto model = model_of(model_name);
  if (!model) return tl::unexpected(model.error());
  if (auto ok = engine_.authorize_claim(principal, (*model)->key, id); !ok) return tl::unexpected(ok.error());
  auto body = parse_object_body(request.body, true);
  if (!body) return tl::unexpected(body.error());
  coord::ClaimRequest claim;
  claim.entity_type = (*model)->key;  // HTTP-originated claims name the schema key (http-api.md §5.1)
  claim.entity_id = id;
  if (auto ok = read_claim_options(*body, claim); !ok) return tl::unexpected(ok.error());
  if (claim.description.empty() && claim.meta.is_object()) {
    claim.description = string_member(claim.meta.as_object(), "description");
  }
  // The route carries no claim id: the owner's existing entity-level claim is the one meant.
  int position = 0;
  for (const auto& existing : coordinator_.list(who.tenant, claim.entity_type, id, {})) {
    const bool mine = existing.owner == who.owner && existing.field.empty();
    if (mine && existing.status == coord::ClaimStatus::kActive) {
      claim.intent_id = existing.intent_id;  // repeat claim: same record, lease extended
      break;
    }
    if (mine) return queued_response(existing, position);
    if (existing.status == coord::ClaimStatus::kQueued) ++position;
  }
  const auto result = coordinator_.claim(who, std::move(claim));
  return acquire_response(result, 201);
}

Result<HttpResponse> ClaimRoutes::release_model(const std::string& model_name, const std::string& id,
                                                const coord::Participant& who) const {
  auto model = model_of(model_name);
  if (!model) return tl::unexpected(model.error());
  const bool released = coordinator_.release_entity(who, (*model)->key, id);
  return json_response(200, json::object{{"ok", true}, {"released", released}});
}

Result<HttpResponse> ClaimRoutes::reorder_model(const HttpRequest& request, const std::string& model_name,
                                                const std::string& id, const coord::Participant& who) const {
  auto model = model_of(model_name);
  if (!model) return tl::unexpected(model.error());
  if (!who.privileged) return fail("forbidden", "reordering a wait line needs a secret key or intent.reorder");
  auto body = parse_object_body(request.body);
  if (!body) return tl::unexpected(body.error());
  std::vector<std::string> order;
  if (const auto* list = body->if_contains("order"); list && list->is_array()) {
    for (const auto& entry : list->as_array()) {
      if (entry.is_object()) order.push_back(string_member(entry.as_object(), "intentId"));
    }
  } else {
    return fail("invalid_request", "order must be an array of {heldBy, intentId}", "order");
  }
  coordinator_.reorder(who, (*model)->key, id, order);
  return json_response(200, json::object{{"ok", true}});
}

}  // namespace ablo::net
