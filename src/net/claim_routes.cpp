// HTTP routes of the claim plane (http-api.md §4.6, §5): /v1/intents and
// /v1/models/{model}/{id}/claim, for workers without a socket. Served under /v1 and /api/v1.
#include "net/claim_routes.h"

#include <map>

#include <boost/json.hpp>
#include <fmt/format.h>

#include "common/json_member.h"
#include "common/json_number.h"
#include "common/time.h"
#include "coord/wire.h"
#include "net/dialect.h"
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

// A try-claim refused by `holder`; `holder_id_key` names its claim as the client's dialect
// does (0.9.1 heldByIntentId, 0.49 heldByClaimId).
Error conflict_error(const coord::Claim& holder, std::string_view holder_id_key = "heldByIntentId") {
  Error error("claim_conflict", fmt::format("{} '{}' is claimed by {}", holder.entity_type, holder.entity_id,
                                            holder.owner.participant_id));
  error.details = {{"heldBy", holder.owner.participant_id},
                   {holder_id_key, holder.intent_id},
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

// ---------------------------------------------------------------- 0.49 shapes

constexpr int64_t kMaxWaitTimeoutMs = 120'000;  // like a claimed read's wait
constexpr std::size_t kMaxClaimFields = 64;

bool speaks_claims(const HttpRequest& request) {
  const auto dialect = dialect_of(request);
  return dialect && *dialect == Dialect::kClaims;
}

std::string participant_kind_of(const coord::Claim& claim) {
  return claim.participant_kind.empty() ? std::string("user") : claim.participant_kind;
}

// ModelClaim (notes §3.2): `expiresAt` in ms; `field` only when set (never null).
json::object model_claim(const coord::Claim& claim, int position) {
  json::object target{{"model", claim.entity_type}, {"id", claim.entity_id}};
  if (!claim.field.empty()) target["field"] = claim.field;
  if (!claim.fields.empty()) target["fields"] = string_array(claim.fields);
  if (claim.meta.is_object()) target["meta"] = claim.meta;
  const bool active = claim.status == coord::ClaimStatus::kActive;
  json::object out{{"id", claim.intent_id},
                   {"actor", claim.owner.participant_id},
                   {"participantKind", participant_kind_of(claim)},
                   {"expiresAt", claim.expires_at_ms > 0 ? claim.expires_at_ms : claim.declared_at_ms + claim.ttl_ms},
                   {"target", std::move(target)},
                   {"description", claim.description.empty() ? claim.action : claim.description},
                   {"status", active ? "active" : "queued"},
                   // When it was asked for (ms): a waiter's wait time, shown by the console.
                   {"declaredAt", claim.declared_at_ms}};
  if (active) out["fenceToken"] = claim.fence_token;
  if (!active && position >= 0) out["position"] = position;
  return out;
}

HttpResponse active_claim_response(const coord::Claim& claim) {
  return json_response(201, json::object{{"id", claim.intent_id},
                                         {"object", "claim"},
                                         {"status", "active"},
                                         {"fenceToken", claim.fence_token},
                                         {"expiresAt", claim.expires_at_ms},
                                         {"claim", model_claim(claim, -1)}});
}

Error claim_not_found(const std::string& claim_id) {
  return Error("claim_not_found", fmt::format("no claim '{}' of this caller", claim_id), "claimId");
}

// `fields` of a target: strings only, bounded.
Result<std::vector<std::string>> fields_of(const json::object& target) {
  std::vector<std::string> fields;
  const auto* list = target.if_contains("fields");
  if (!list || list->is_null()) return fields;
  if (!list->is_array() || list->as_array().size() > kMaxClaimFields) {
    return fail("invalid_request", fmt::format("target.fields is an array of at most {} field names", kMaxClaimFields),
                "target.fields");
  }
  for (const auto& f : list->as_array()) {
    if (!f.is_string() || f.as_string().empty()) return fail("invalid_request", "target.fields holds field names", "target.fields");
    fields.emplace_back(f.as_string());
  }
  return fields;
}

const char* heartbeat_status(coord::HeartbeatResult::Status status) {
  switch (status) {
    case coord::HeartbeatResult::Status::kHeld: return "held";
    case coord::HeartbeatResult::Status::kQueued: return "queued";
    case coord::HeartbeatResult::Status::kLost: break;
  }
  return "lost";
}

json::object heartbeat_entry(const coord::HeartbeatResult& beat) {
  json::object out{{"claimId", beat.claim_id}, {"status", heartbeat_status(beat.status)}};
  if (beat.status == coord::HeartbeatResult::Status::kLost) return out;
  out["expiresAt"] = beat.expires_at_ms;
  out["queueDepth"] = beat.queue_depth;
  if (beat.status == coord::HeartbeatResult::Status::kQueued) out["position"] = beat.position;
  return out;
}

// A positive millisecond count in `member`, capped at kMaxWaitTimeoutMs; nullopt when absent,
// not a number, or not positive.
std::optional<int64_t> positive_wait_ms(const json::object& body, std::string_view member) {
  const auto* wait = body.if_contains(member);
  if (!wait || !wait->is_number()) return std::nullopt;
  const auto ms = clamped_int64(*wait, 0, kMaxWaitTimeoutMs);
  if (!ms || *ms <= 0) return std::nullopt;
  return ms;
}

// An acquire's `waitTimeoutMs`: wait server-side for the grant (the ticket leaves the line at
// the timeout).
std::optional<int64_t> wait_timeout_of(const json::object& body) { return positive_wait_ms(body, "waitTimeoutMs"); }

// POST /v1/claims/{id}/heartbeat `waitForGrantMs` (an extension the MCP server uses): how long
// a queued ticket's heartbeat may wait for the grant before answering.
std::optional<int64_t> wait_for_grant_of(const json::object& body) { return positive_wait_ms(body, "waitForGrantMs"); }

}  // namespace

ClaimRoutes::ClaimRoutes(engine::Engine& engine, coord::Coordinator& coordinator, RunLater run_later)
    : engine_(engine), coordinator_(coordinator), run_later_(std::move(run_later)) {}

std::optional<Result<HttpResponse>> ClaimRoutes::route(const HttpRequest& request, const std::vector<std::string>& parts,
                                                       const auth::Principal& principal) const {
  const auto who = coord::participant_of(principal, {});
  const auto& method = request.method;
  // /v1/claims* exist only in the 0.49 API; the model claim routes answer each dialect its shapes.
  const bool row_claim = parts.size() >= 5 && parts[1] == "models" && parts[4] == "claim";
  if ((parts.size() >= 2 && parts[1] == "claims") || (row_claim && speaks_claims(request))) {
    return route_claims(request, parts, principal, who);
  }
  if (parts.size() == 2 && parts[1] == "intents") {
    if (method == "GET") return list_intents(request, principal, who);
    if (method == "POST") return create_intent(request, principal, who);
  }
  if (parts.size() == 3 && parts[1] == "intents" && method == "DELETE") {
    return release_intent(request, parts[2], principal, who);
  }
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

std::optional<Result<std::optional<bool>>> ClaimRoutes::forced_release(const HttpRequest& request,
                                                                       const std::string& claim_id,
                                                                       const auth::Principal& principal,
                                                                       const coord::Participant& who) const {
  const auto force = query_values(request.target, "force");
  if (force.empty() || force.back() == "false") return std::nullopt;
  if (force.back() != "true") return fail("invalid_request", "force must be true or false", "force");
  if (!principal.secret_key) {
    return fail("forbidden", "ending someone else's claim needs a secret (sk_) key");
  }
  return coordinator_.preempt(who, claim_id);
}

Result<HttpResponse> ClaimRoutes::release_intent(const HttpRequest& request, const std::string& intent_id,
                                                 const auth::Principal& principal,
                                                 const coord::Participant& who) const {
  if (auto forced = forced_release(request, intent_id, principal, who)) {
    if (!*forced) return tl::unexpected(forced->error());
    return json_response(200, json::object{{"object", "intent"}, {"id", intent_id}, {"released", (*forced)->value_or(false)}});
  }
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

// ---------------------------------------------------------------- 0.49 (claims dialect)

std::optional<Result<HttpResponse>> ClaimRoutes::route_claims(const HttpRequest& request,
                                                              const std::vector<std::string>& parts,
                                                              const auth::Principal& principal,
                                                              const coord::Participant& who) const {
  const auto& method = request.method;
  if (parts.size() >= 2 && parts[1] == "claims") {
    if (parts.size() == 2 && method == "GET") return list_claims(request, principal, who);
    if (parts.size() == 2 && method == "POST") return acquire(request, parts, principal, who);
    if (parts.size() == 3 && parts[2] == "heartbeat" && method == "POST") return heartbeat_all(request, who);
    if (parts.size() == 3 && method == "GET") return get_claim(parts[2], who);
    if (parts.size() == 3 && method == "DELETE") return release_claim(request, parts[2], principal, who);
    if (parts.size() == 4 && parts[3] == "heartbeat" && method == "POST") return heartbeat(request, parts[2], who);
    return std::nullopt;
  }
  const bool claim_path = parts.size() >= 5 && parts[1] == "models" && parts[4] == "claim";
  if (!claim_path) return std::nullopt;
  if (parts.size() == 5 && method == "POST") return acquire(request, parts, principal, who);
  if (parts.size() == 5 && method == "DELETE") return release_row(parts[2], parts[3], who);
  if (parts.size() == 6 && parts[5] == "heartbeat" && method == "POST") {
    auto model = model_of(parts[2]);
    if (!model) return tl::unexpected(model.error());
    return heartbeat(request, {}, who, (*model)->key, parts[3]);
  }
  if (parts.size() == 6 && parts[5] == "reorder" && method == "POST") return reorder_row(request, parts[2], parts[3], who);
  return std::nullopt;
}

Result<coord::ClaimRequest> ClaimRoutes::claim_request(const json::object& body, const std::string& model_name,
                                                       const std::string& id, const auth::Principal& principal) const {
  static const json::object kNoTarget;
  const auto* target_value = body.if_contains("target");
  if (target_value && !target_value->is_null() && !target_value->is_object()) {
    return fail("invalid_request", "target must be an object", "target");
  }
  const json::object& target = target_value && target_value->is_object() ? target_value->as_object() : kNoTarget;
  coord::ClaimRequest claim;
  std::string name = model_name, row = id;
  if (name.empty()) {  // POST /v1/claims: the row is in the target
    name = string_member(target, "model");
    row = string_member(target, "id");
    if (name.empty()) return fail("invalid_request", "target.model is required", "target.model");
    if (row.empty()) return fail("invalid_request", "target.id is required", "target.id");
  }
  auto model = model_of(name);
  if (!model) return tl::unexpected(model.error());
  claim.entity_type = (*model)->key;
  claim.entity_id = row;
  claim.intent_id = string_member(body, "claimId");
  claim.field = string_member(target, "field");
  auto fields = fields_of(target);
  if (!fields) return tl::unexpected(fields.error());
  claim.fields = std::move(*fields);
  if (const auto* meta = target.if_contains("meta"); meta && meta->is_object()) claim.meta = *meta;
  if (auto ok = read_claim_options(body, claim); !ok) return tl::unexpected(ok.error());
  if (claim.description.empty()) claim.description = string_member(body, "reason");
  claim.ticket = true;
  claim.wait_ms = wait_timeout_of(body);
  if (const auto* depth = body.if_contains("maxQueueDepth"); depth && !depth->is_null()) {
    const auto value = exact_int64_in(*depth, 0, 1'000'000);
    if (!value) return fail("invalid_request", "maxQueueDepth is a whole number >= 0", "maxQueueDepth");
    claim.max_queue_depth = static_cast<int>(*value);
  }
  if (auto ok = engine_.authorize_claim(principal, claim.entity_type, claim.entity_id); !ok) {
    return tl::unexpected(ok.error());
  }
  return claim;
}

Result<HttpResponse> ClaimRoutes::acquire(const HttpRequest& request, const std::vector<std::string>& parts,
                                          const auth::Principal& principal, const coord::Participant& who,
                                          coord::ClaimResult* out) const {
  auto body = parse_object_body(request.body, true);
  if (!body) return tl::unexpected(body.error());
  const bool on_row = parts.size() == 5;
  auto claim = claim_request(*body, on_row ? parts[2] : std::string(), on_row ? parts[3] : std::string(), principal);
  if (!claim) return tl::unexpected(claim.error());
  if (claim->intent_id.empty()) {
    // No claim id: the caller's own claim on the same target is the one meant (a repeat extends
    // its lease; a queued one answers its place in line).
    coord::Claim asked;
    asked.field = claim->field;
    asked.fields = claim->fields;
    const auto wanted = coord::claim_field_keys(asked);
    for (const auto& existing : coordinator_.list(who.tenant, claim->entity_type, claim->entity_id, {})) {
      if (existing.owner == who.owner && coord::claim_field_keys(existing) == wanted) {
        claim->intent_id = existing.intent_id;
        break;
      }
    }
  }
  const std::string model = claim->entity_type, id = claim->entity_id;
  const auto result = coordinator_.claim(who, std::move(*claim));
  if (out) *out = result;
  if (result.error) return tl::unexpected(*result.error);  // queue_too_deep, or the cluster log is down
  switch (result.kind) {
    case coord::BeginOutcome::Kind::kAcquired:
      return active_claim_response(*result.claim);
    case coord::BeginOutcome::Kind::kQueued: {
      json::object queued{{"id", result.claim->intent_id},
                          {"object", "claim"},
                          {"status", "queued"},
                          {"position", result.position},
                          {"expiresAt", result.claim->expires_at_ms}};
      for (const auto& holder : coordinator_.list(who.tenant, model, id, {})) {
        if (holder.status == coord::ClaimStatus::kActive && holder.owner != who.owner) {
          queued["heldBy"] = holder.owner.participant_id;
          break;
        }
      }
      return json_response(202, queued);
    }
    case coord::BeginOutcome::Kind::kRejected:
    case coord::BeginOutcome::Kind::kForeignId:
      break;
  }
  return tl::unexpected(conflict_error(*result.blocker, "heldByClaimId"));
}

std::optional<std::vector<std::string>> ClaimRoutes::waiting_claim(const HttpRequest& request) const {
  if (request.method != "POST") return std::nullopt;
  auto parts = split_path(path_of(request.target));
  if (parts.size() >= 2 && parts[0] == "api" && parts[1] == "v1") parts.erase(parts.begin());
  const bool on_claims = parts.size() == 2 && parts[0] == "v1" && parts[1] == "claims";
  const bool on_row = parts.size() == 5 && parts[0] == "v1" && parts[1] == "models" && parts[4] == "claim" &&
                      speaks_claims(request);
  const bool on_heartbeat = parts.size() == 4 && parts[0] == "v1" && parts[1] == "claims" && parts[3] == "heartbeat";
  if (!on_claims && !on_row && !on_heartbeat) return std::nullopt;
  auto body = parse_object_body(request.body, true);
  if (!body || !(on_heartbeat ? wait_for_grant_of(*body) : wait_timeout_of(*body))) return std::nullopt;
  return parts;
}

std::optional<Result<HttpResponse>> ClaimRoutes::claim_and_wait(const HttpRequest& request,
                                                                const std::vector<std::string>& parts,
                                                                const auth::Principal& principal,
                                                                Answer answer) const {
  const auto who = coord::participant_of(principal, {});
  if (parts.size() == 4 && parts[3] == "heartbeat") return heartbeat_and_wait(request, parts[2], who, std::move(answer));
  coord::ClaimResult result;
  auto response = acquire(request, parts, principal, who, &result);
  if (!response || result.kind != coord::BeginOutcome::Kind::kQueued || !run_later_) return response;
  auto body = parse_object_body(request.body, true);
  const int64_t wait_ms = body ? wait_timeout_of(*body).value_or(0) : 0;
  const std::string claim_id = result.claim->intent_id;
  auto settle = [this, who, claim_id, wait_ms, answer](std::optional<coord::Claim> granted) {
    if (granted) {
      answer(active_claim_response(*granted));
      return;
    }
    const auto state = coordinator_.find(who.tenant, claim_id);
    const bool ours = state && state->claim.owner == who.owner && state->terminal.empty();
    if (ours && state->claim.status == coord::ClaimStatus::kActive) {
      answer(active_claim_response(state->claim));
      return;
    }
    if (!ours) {
      answer(tl::unexpected(Error("claim_lost", fmt::format("claim '{}' left the line while waiting", claim_id))));
      return;
    }
    coordinator_.release_intent(who, claim_id);  // the ticket leaves the line
    answer(tl::unexpected(Error("grant_timeout", fmt::format("claim '{}' was not granted within {} ms", claim_id,
                                                             wait_ms))));
  };
  auto on_grant = [this, settle, answer](std::optional<coord::Claim> granted) {
    // Runs under the coordinator's lock: only hand off.
    run_later_([settle, answer, granted = std::move(granted)] {
      try {
        settle(granted);
      } catch (...) {
        answer(tl::unexpected(Error("internal_error", "the claim wait failed unexpectedly")));
      }
    });
  };
  if (!coordinator_.when_granted(who.tenant, claim_id, now_ms() + wait_ms, std::move(on_grant))) {
    return response;  // too many waits: the ticket is queued; the caller polls with heartbeats
  }
  return std::nullopt;
}

Result<HttpResponse> ClaimRoutes::list_claims(const HttpRequest& request, const auth::Principal& principal,
                                              const coord::Participant& who) const {
  std::string model = first_query_value(request.target, {"model"});
  const auto id = first_query_value(request.target, {"id"});
  const auto field = first_query_value(request.target, {"field"});
  if (!model.empty()) {
    if (const auto* resolved = engine_.schema()->resolve(model)) model = resolved->key;
  }
  json::array data;
  std::map<std::string, int> positions;  // per row: waiters listed so far
  for (const auto& claim : coordinator_.list(who.tenant, model, id, field)) {
    if (claim.owner != who.owner) {
      auto visible = engine_.may_read_entity(principal, claim.entity_type, claim.entity_id);
      if (!visible) return tl::unexpected(visible.error());
      if (!*visible) continue;
    }
    int position = -1;
    if (claim.status == coord::ClaimStatus::kQueued) position = positions[claim.model + '\x1f' + claim.entity_id]++;
    data.push_back(model_claim(claim, position));
  }
  return json_response(200, json::object{{"object", "list"}, {"data", std::move(data)}, {"has_more", false},
                                         {"next_cursor", nullptr}});
}

Result<HttpResponse> ClaimRoutes::get_claim(const std::string& claim_id, const coord::Participant& who) const {
  const auto state = coordinator_.find(who.tenant, claim_id);
  if (!state || state->claim.owner != who.owner) return tl::unexpected(claim_not_found(claim_id));
  const auto& claim = state->claim;
  json::object out{{"object", "claim"}, {"id", claim.intent_id}};
  if (!state->terminal.empty()) {  // committed | canceled | expired
    out["status"] = state->terminal;
    return json_response(200, out);
  }
  if (claim.status == coord::ClaimStatus::kActive) {
    out["status"] = "active";
    out["fenceToken"] = claim.fence_token;
  } else {
    out["status"] = "queued";
    out["position"] = state->position;
  }
  out["expiresAt"] = claim.expires_at_ms;
  return json_response(200, out);
}

// Releasing is idempotent: a second release (or one of an id this caller does not hold) is a
// 200 with released:false — 0.49 expects any 2xx, and another owner's claim is never revealed.
Result<HttpResponse> ClaimRoutes::release_claim(const HttpRequest& request, const std::string& claim_id,
                                                const auth::Principal& principal, const coord::Participant& who) const {
  if (auto forced = forced_release(request, claim_id, principal, who)) {
    if (!*forced) return tl::unexpected(forced->error());
    return json_response(200, json::object{{"object", "claim_release"}, {"released", (*forced)->value_or(false)}});
  }
  const auto released = coordinator_.release_intent(who, claim_id);
  return json_response(200, json::object{{"object", "claim_release"}, {"released", released.value_or(false)}});
}

Result<HttpResponse> ClaimRoutes::heartbeat(const HttpRequest& request, std::string claim_id,
                                            const coord::Participant& who, const std::string& model,
                                            const std::string& id) const {
  auto body = parse_object_body(request.body, true);
  if (!body) return tl::unexpected(body.error());
  if (claim_id.empty()) claim_id = string_member(*body, "claimId");
  if (claim_id.empty() && !model.empty()) {  // the caller's own claim on the row
    for (const auto& existing : coordinator_.list(who.tenant, model, id, {})) {
      if (existing.owner == who.owner) {
        claim_id = existing.intent_id;
        break;
      }
    }
  }
  std::optional<int64_t> ttl_ms;
  if (const auto* ttl = body->if_contains("ttl"); ttl && !ttl->is_null()) {
    auto ms = coord::parse_ttl_ms(*ttl);
    if (!ms) return tl::unexpected(ms.error());
    ttl_ms = *ms;
  }
  const auto beat = coordinator_.heartbeat(who, claim_id, ttl_ms);
  if (beat.error) return tl::unexpected(*beat.error);
  const bool elsewhere = !model.empty() && beat.claim && (beat.claim->model != model || beat.claim->entity_id != id);
  if (beat.status == coord::HeartbeatResult::Status::kLost || elsewhere) {
    return fail("claim_lost", fmt::format("claim '{}' is not held or queued by this caller", claim_id), "claimId");
  }
  json::object out = heartbeat_entry(beat);
  out.emplace("object", "claim_heartbeat");
  return json_response(200, out);
}

// The ticket stays in line whatever happens: when the wait is over (granted, timed out, or the
// ticket ended) the answer is a fresh heartbeat of it — active, still queued with its position,
// or claim_lost. No thread waits meanwhile (the coordinator calls back).
std::optional<Result<HttpResponse>> ClaimRoutes::heartbeat_and_wait(const HttpRequest& request,
                                                                    const std::string& claim_id,
                                                                    const coord::Participant& who,
                                                                    Answer answer) const {
  auto beat = heartbeat(request, claim_id, who);
  if (!beat || !run_later_) return beat;
  const auto state = coordinator_.find(who.tenant, claim_id);
  if (!state || !state->terminal.empty() || state->claim.status != coord::ClaimStatus::kQueued) return beat;
  auto body = parse_object_body(request.body, true);
  const int64_t wait_ms = body ? wait_for_grant_of(*body).value_or(0) : 0;
  auto settle = [this, request, claim_id, who, answer] {
    try {
      answer(heartbeat(request, claim_id, who));
    } catch (...) {
      answer(tl::unexpected(Error("internal_error", "the claim wait failed unexpectedly")));
    }
  };
  auto on_change = [this, settle](std::optional<coord::Claim>) {
    run_later_(settle);  // called under the coordinator's lock: only hand off
  };
  if (!coordinator_.when_granted(who.tenant, claim_id, now_ms() + wait_ms, std::move(on_change))) return beat;
  return std::nullopt;
}

Result<HttpResponse> ClaimRoutes::heartbeat_all(const HttpRequest& request, const coord::Participant& who) const {
  auto body = parse_object_body(request.body, true);
  if (!body) return tl::unexpected(body.error());
  std::optional<int64_t> ttl_ms;
  if (const auto* ttl = body->if_contains("ttl"); ttl && !ttl->is_null()) {
    auto ms = coord::parse_ttl_ms(*ttl);
    if (!ms) return tl::unexpected(ms.error());
    ttl_ms = *ms;
  }
  json::array results;
  for (const auto& beat : coordinator_.heartbeat_all(who, ttl_ms)) {
    if (beat.error) return tl::unexpected(*beat.error);
    results.push_back(heartbeat_entry(beat));
  }
  return json_response(200, json::object{{"object", "list"}, {"results", std::move(results)}});
}

Result<HttpResponse> ClaimRoutes::release_row(const std::string& model_name, const std::string& id,
                                              const coord::Participant& who) const {
  auto model = model_of(model_name);
  if (!model) return tl::unexpected(model.error());
  const bool released = coordinator_.release_entity(who, (*model)->key, id);
  return json_response(200, json::object{{"object", "claim_release"}, {"released", released}});
}

Result<HttpResponse> ClaimRoutes::reorder_row(const HttpRequest& request, const std::string& model_name,
                                              const std::string& id, const coord::Participant& who) const {
  auto model = model_of(model_name);
  if (!model) return tl::unexpected(model.error());
  if (!who.privileged) return fail("forbidden", "reordering a wait line needs a secret key or intent.reorder");
  auto body = parse_object_body(request.body);
  if (!body) return tl::unexpected(body.error());
  const auto* list = body->if_contains("order");
  if (!list || !list->is_array()) return fail("invalid_request", "order must be an array of {heldBy, claimId}", "order");
  std::vector<std::string> order;
  for (const auto& entry : list->as_array()) {
    if (entry.is_object()) order.push_back(string_member(entry.as_object(), "claimId"));
  }
  coordinator_.reorder(who, (*model)->key, id, order);
  return json_response(200, json::object{{"object", "claim_reorder"}, {"reordered", true}});
}

}  // namespace ablo::net
