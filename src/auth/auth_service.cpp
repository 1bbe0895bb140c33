#include "auth/auth_service.h"

#include <algorithm>

#include <boost/json/array.hpp>

#include <fmt/format.h>

#include "auth/keys.h"
#include "common/json_number.h"
#include "common/random.h"
#include "common/time.h"
#include "schema/sync_groups.h"

namespace ablo::auth {

namespace json = boost::json;

namespace {

constexpr int64_t kMinTtlSeconds = 60;
constexpr int64_t kMaxTtlSeconds = 7 * 24 * 3600;
constexpr int64_t kMaxMintTtlSeconds = 30 * 24 * 3600;
// How many ancestors authenticate() follows; exchange chains are this short in practice, and
// a longer (or, through a corrupt store, cyclic) chain is refused rather than followed.
constexpr int kMaxAncestors = 64;

Result<std::vector<std::string>> string_array(const json::value& value, std::string_view field) {
  if (!value.is_array()) return fail("invalid_request", fmt::format("'{}' must be an array of strings", field), std::string(field));
  std::vector<std::string> out;
  for (const auto& item : value.as_array()) {
    if (!item.is_string()) return fail("invalid_request", fmt::format("'{}' must be an array of strings", field), std::string(field));
    out.emplace_back(item.as_string());
  }
  return out;
}

void add_unique(std::vector<std::string>& groups, const std::string& group) {
  if (std::find(groups.begin(), groups.end(), group) == groups.end()) groups.push_back(group);
}

}  // namespace

bool allows(const Principal& principal, const schema::Model& model, std::string_view verb) {
  if (principal.operations.empty()) return true;
  for (const auto& op : principal.operations) {
    const auto dot = op.rfind('.');
    if (dot == std::string::npos || std::string_view(op).substr(dot + 1) != verb) continue;
    std::string name = op.substr(0, dot);
    // Resolve like the model resolver does, so "task", "tasks", "Task" all name one model.
    const auto lowered = [](std::string text) {
      for (auto& c : text) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      return text;
    };
    name = lowered(name);
    if (name == lowered(model.key) || name == lowered(model.typename_) || name + "s" == lowered(model.key) ||
        name == lowered(model.key) + "s") {
      return true;
    }
  }
  return false;
}

Error scope_denied(const schema::Model& model, std::string_view verb, std::string param) {
  Error error("capability_scope_denied", fmt::format("this capability may not {} '{}'", verb, model.key), std::move(param));
  error.details = {{"requiredCapability", json::object{{"scope", model.key + "." + std::string(verb)}}}};
  return error;
}

Result<ExchangeRequest> parse_exchange_request(const json::object& body) {
  ExchangeRequest request;
  if (const auto* kind = body.if_contains("participantKind"); kind && !kind->is_null()) {
    if (!kind->is_string()) return fail("invalid_participant_kind", "participantKind must be a string", "participantKind");
    request.participant_kind = std::string(kind->as_string());
    if (request.participant_kind != "user" && request.participant_kind != "agent" &&
        request.participant_kind != "system") {
      return fail("invalid_participant_kind", "participantKind must be one of user, agent, system", "participantKind");
    }
  }
  if (const auto* id = body.if_contains("participantId"); id && !id->is_null()) {
    if (!id->is_string() || id->as_string().empty()) {
      return fail("invalid_request", "participantId must be a non-empty string", "participantId");
    }
    request.participant_id = std::string(id->as_string());
  }
  if (const auto* groups = body.if_contains("syncGroups"); groups && !groups->is_null()) {
    auto parsed = string_array(*groups, "syncGroups");
    if (!parsed) return tl::unexpected(parsed.error());
    request.sync_groups = std::move(*parsed);
  }
  if (const auto* ops = body.if_contains("operations"); ops && !ops->is_null()) {
    auto parsed = string_array(*ops, "operations");
    if (!parsed) return tl::unexpected(parsed.error());
    request.operations = std::move(*parsed);
  }
  if (const auto* wide = body.if_contains("wideScope"); wide && wide->is_bool()) request.wide_scope = wide->as_bool();
  if (const auto* ttl = body.if_contains("ttlSeconds"); ttl && ttl->is_number()) {
    request.ttl_seconds = clamped_int64(*ttl, 0, std::numeric_limits<int32_t>::max()).value_or(0);
  }
  if (const auto* label = body.if_contains("label"); label && label->is_string()) request.label = label->as_string();
  if (const auto* meta = body.if_contains("userMeta"); meta && meta->is_object()) request.user_meta = meta->as_object();
  return request;
}

Result<MintRequest> parse_mint_request(const json::object& body) {
  MintRequest request;
  if (const auto* kind = body.if_contains("participantKind"); kind && kind->is_string()) {
    request.participant_kind = std::string(kind->as_string());
  }
  if (request.participant_kind != "agent" && request.participant_kind != "system") {
    return fail("invalid_participant_kind",
                request.participant_kind == "user" ? "user capabilities cannot be minted via the API; use a session"
                                                   : "participantKind must be agent or system",
                "participantKind");
  }
  if (const auto* id = body.if_contains("participantId"); id && id->is_string() && !id->as_string().empty()) {
    request.participant_id = std::string(id->as_string());
  }
  for (const char* name : {"syncGroups", "allowedSyncGroups"}) {
    if (const auto* groups = body.if_contains(name); groups && !groups->is_null() && !request.sync_groups) {
      auto parsed = string_array(*groups, name);
      if (!parsed) return tl::unexpected(parsed.error());
      request.sync_groups = std::move(*parsed);
    }
  }
  for (const char* name : {"operations", "allowedOperations"}) {
    if (const auto* ops = body.if_contains(name); ops && !ops->is_null() && !request.operations) {
      auto parsed = string_array(*ops, name);
      if (!parsed) return tl::unexpected(parsed.error());
      request.operations = std::move(*parsed);
    }
  }
  if (const auto* wide = body.if_contains("wideScope"); wide && wide->is_bool()) request.wide_scope = wide->as_bool();
  for (const char* name : {"ttlSeconds", "leaseSeconds", "ttl", "lease"}) {
    if (const auto* ttl = body.if_contains(name); ttl && ttl->is_number()) {
      request.ttl_seconds = clamped_int64(*ttl, 0, std::numeric_limits<int32_t>::max()).value_or(0);
      break;
    }
  }
  if (request.ttl_seconds < 1) return fail("invalid_request", "ttlSeconds must be at least 1", "ttlSeconds");
  if (const auto* label = body.if_contains("label"); label && label->is_string()) request.label = label->as_string();
  if (const auto* meta = body.if_contains("userMeta"); meta && meta->is_object()) request.user_meta = meta->as_object();
  return request;
}

namespace {

constexpr std::string_view kVerbs[] = {"read", "create", "update", "delete"};
constexpr int64_t kMaxSessionTtlSeconds = 7 * 24 * 3600;

bool is_verb(std::string_view verb) {
  return std::find(std::begin(kVerbs), std::end(kVerbs), verb) != std::end(kVerbs);
}

// "<model key>.<verb>" plus "<model key>.read" for a write verb, without duplicates.
void grant(std::vector<std::string>& operations, const schema::Model& model, std::string_view verb) {
  add_unique(operations, model.key + "." + std::string(verb));
  if (verb != "read") add_unique(operations, model.key + ".read");
}

Result<std::vector<std::string>> session_operations(const json::object& body, const schema::Schema& schema) {
  const auto* operations = body.if_contains("operations");
  const auto* verbs = body.if_contains("activeSchemaOperations");
  const auto* control = body.if_contains("controlPlaneOnly");
  const int forms = (operations != nullptr) + (verbs != nullptr) + (control != nullptr);
  if (forms != 1) {
    return fail("invalid_request", "provide exactly one of operations, activeSchemaOperations, or controlPlaneOnly",
                "operations");
  }
  if (control) return fail("invalid_request", "controlPlaneOnly sessions are not supported by this server", "controlPlaneOnly");
  std::vector<std::string> granted;
  if (verbs) {
    auto parsed = string_array(*verbs, "activeSchemaOperations");
    if (!parsed) return tl::unexpected(parsed.error());
    for (const auto& verb : *parsed) {
      if (!is_verb(verb)) {
        return fail("invalid_request", "activeSchemaOperations entries are read, create, update or delete",
                    "activeSchemaOperations");
      }
      for (const auto& model : schema.models()) {
        if (!model.control_plane) grant(granted, model, verb);
      }
    }
  } else {
    auto parsed = string_array(*operations, "operations");
    if (!parsed) return tl::unexpected(parsed.error());
    for (const auto& operation : *parsed) {
      const auto dot = operation.rfind('.');
      const auto verb = dot == std::string::npos ? std::string_view() : std::string_view(operation).substr(dot + 1);
      const auto* model = dot == std::string::npos ? nullptr : schema.resolve(operation.substr(0, dot));
      if (!is_verb(verb) || !model || model->control_plane) {
        return fail("invalid_request",
                    fmt::format("'{}' is not <model>.<read|create|update|delete> of a model of the active schema",
                                operation),
                    "operations");
      }
      grant(granted, *model, verb);
    }
  }
  if (granted.empty()) return fail("invalid_request", "a session must grant at least one operation", "operations");
  return granted;
}

}  // namespace

Result<EphemeralKeyRequest> parse_ephemeral_key_request(const json::object& body, const schema::Schema& schema) {
  EphemeralKeyRequest request;
  const auto* user = body.if_contains("user");
  const auto* user_id = user && user->is_object() ? user->as_object().if_contains("id") : nullptr;
  if (!user_id || !user_id->is_string() || user_id->as_string().empty()) {
    return fail("invalid_request", "user.id is required: the signed-in user the session acts as", "user.id");
  }
  request.user_id = std::string(user_id->as_string());
  if (const auto* teams = user->as_object().if_contains("teamIds"); teams && !teams->is_null()) {
    auto parsed = string_array(*teams, "user.teamIds");
    if (!parsed) return tl::unexpected(parsed.error());
    request.team_ids = std::move(*parsed);
  }
  if (const auto* groups = body.if_contains("syncGroups"); groups && !groups->is_null()) {
    auto parsed = string_array(*groups, "syncGroups");
    if (!parsed) return tl::unexpected(parsed.error());
    request.sync_groups = std::move(*parsed);
  }
  auto operations = session_operations(body, schema);
  if (!operations) return tl::unexpected(operations.error());
  request.operations = std::move(*operations);
  if (const auto* ttl = body.if_contains("ttlSeconds"); ttl && !ttl->is_null()) {
    const auto seconds = exact_int64(*ttl);
    if (!seconds || *seconds < 1) return fail("invalid_request", "ttlSeconds must be a positive integer", "ttlSeconds");
    request.ttl_seconds = std::min(*seconds, kMaxSessionTtlSeconds);
  }
  if (const auto* label = body.if_contains("label"); label && label->is_string()) request.label = label->as_string();
  return request;
}

AuthService::AuthService(store::Store& store, SchemaSource schema) : store_(store), schema_(std::move(schema)) {}

Result<std::string> AuthService::create_secret_key(const std::string& org, bool sandbox, const std::string& label) {
  const std::string key = generate_key(KeyPrefix::kSecret, sandbox ? KeyEnv::kTest : KeyEnv::kLive);
  store::ApiKeyRecord record{random_id("key"), org, sandbox, display_prefix(key), sha256_hex(key), label, now_ms(),
                             false};
  auto stored = store_.put_api_key(record);
  if (!stored) return tl::unexpected(stored.error());
  return key;
}

Result<Principal> AuthService::authenticate(std::string_view bearer) const {
  if (bearer.empty()) return fail("apikey_missing", "No API key or token was provided.");
  const auto parsed = parse_key(bearer);
  if (!parsed) return fail("apikey_invalid", "The API key or token is malformed.");
  const std::string hash = sha256_hex(bearer);
  if (parsed->prefix == KeyPrefix::kSecret) {
    auto key = store_.find_api_key(hash);
    if (!key) return tl::unexpected(key.error());
    if (!*key) return fail("apikey_invalid", "The API key is unknown.");
    if ((*key)->revoked) return fail("apikey_revoked", "The API key was revoked.");
    Principal p;
    p.tenant = {(*key)->org, (*key)->sandbox};
    p.participant_id = (*key)->id;
    p.participant_kind = "system";
    p.key_id = (*key)->id;
    p.allowed_groups = {"org:" + (*key)->org};
    p.secret_key = true;
    p.credential_label = (*key)->label;
    return p;
  }
  auto capability = store_.find_capability(hash);
  if (!capability) return tl::unexpected(capability.error());
  if (!*capability) return fail("apikey_invalid", "The token is unknown.");
  const auto& c = **capability;
  if (c.revoked) return fail("capability_invalid", "The capability was revoked.");
  if (c.expires_at_ms <= now_ms()) return fail("apikey_expired", "The token has expired; mint a new one.");
  if (auto ok = check_ancestors(c); !ok) return tl::unexpected(ok.error());
  Principal p;
  p.tenant = {c.org, c.sandbox};
  p.participant_id = c.participant_id;
  p.participant_kind = c.participant_kind;
  p.capability_id = c.id;
  p.key_id = c.key_id;
  p.allowed_groups = c.sync_groups;
  p.operations = c.operations;
  p.expires_at_ms = c.expires_at_ms;
  p.credential_label = c.label;
  if (const auto* behalf = c.user_meta.if_contains("onBehalfOf"); behalf && behalf->is_object()) {
    const auto* kind = behalf->as_object().if_contains("kind");
    const auto* id = behalf->as_object().if_contains("id");
    if (kind && kind->is_string() && id && id->is_string()) {
      p.on_behalf_of_kind = kind->as_string();
      p.on_behalf_of_id = id->as_string();
    }
  }
  return p;
}

namespace {

// A fresh capability in the caller's tenant, minted by its key, valid for `ttl_seconds`.
store::CapabilityRecord new_capability(const Principal& caller, int64_t ttl_seconds, const std::string& label,
                                       const json::object& user_meta) {
  store::CapabilityRecord record;
  record.id = random_id("cap");
  record.key_id = caller.key_id;
  record.org = caller.tenant.org;
  record.sandbox = caller.tenant.sandbox;
  record.issued_at_ms = now_ms();
  record.expires_at_ms = record.issued_at_ms + ttl_seconds * 1000;
  record.label = label;
  record.user_meta = user_meta;
  return record;
}

}  // namespace

// A token exchanged from a revoked (or expired) capability is refused with it, however far down
// the chain.
Status AuthService::check_ancestors(const store::CapabilityRecord& capability) const {
  std::string parent = capability.parent_id;
  for (int depth = 0; !parent.empty(); ++depth) {
    if (depth == kMaxAncestors) return fail("capability_invalid", "The capability's exchange chain is too long.");
    auto found = store_.find_capability_by_id(parent);
    if (!found) return tl::unexpected(found.error());
    // An ancestor past its expiry ends the chain too: a rotation's grace shortens the old
    // capability's life after tokens were exchanged from it.
    if (!*found || (*found)->revoked || (*found)->expires_at_ms <= now_ms()) {
      return fail("capability_invalid", "The capability this token was exchanged from was revoked or has expired.");
    }
    parent = (*found)->parent_id;
  }
  return {};
}

Result<std::vector<std::string>> AuthService::descendants(const std::string& capability_id) const {
  std::vector<std::string> found;
  std::vector<std::string> frontier{capability_id};
  while (!frontier.empty() && found.size() < 10'000) {
    auto children = store_.child_capabilities(frontier.back());
    frontier.pop_back();
    if (!children) return tl::unexpected(children.error());
    for (auto& child : *children) {
      if (child.id == capability_id || std::find(found.begin(), found.end(), child.id) != found.end()) continue;
      found.push_back(child.id);
      frontier.push_back(std::move(child.id));
    }
  }
  return found;
}

Result<MintedCapability> AuthService::exchange(const Principal& caller, const ExchangeRequest& request) const {
  const int64_t max_ttl = max_capability_ttl_seconds_ > 0 ? max_capability_ttl_seconds_ : kMaxTtlSeconds;
  const int64_t ttl = std::clamp(request.ttl_seconds, std::min(kMinTtlSeconds, max_ttl), max_ttl);
  auto record = new_capability(caller, ttl, request.label,
                               request.user_meta);
  if (!caller.secret_key) {
    // A capability re-exchanging itself keeps its own scope; it can never widen it.
    record.participant_kind = caller.participant_kind;
    record.participant_id = caller.participant_id;
    record.sync_groups = caller.allowed_groups;
    record.operations = caller.operations;
    // Never outlives its parent, and dies with it (authenticate() checks the chain).
    record.expires_at_ms = std::min(record.expires_at_ms, caller.expires_at_ms);
    record.parent_id = caller.capability_id;
  } else {
    record.participant_kind = request.participant_kind;
    // Each exchange is its own participant unless the caller names one: two processes sharing
    // a key still see each other's writes as foreign (stale checks, claims).
    record.participant_id = request.participant_id.value_or(request.participant_kind + "_" + random_base62(16));
    record.operations = request.operations;
    record.wide_scope = request.wide_scope;
    if (request.sync_groups && !request.sync_groups->empty()) {
      record.sync_groups = *request.sync_groups;
    } else {
      json::object identity{{"organizationId", caller.tenant.org}, {"userId", record.participant_id}};
      auto schema = schema_();
      record.sync_groups = schema::compose_role_groups(schema->identity_roles(), identity);
    }
    if (record.sync_groups.empty() || request.wide_scope || record.participant_kind == "system") {
      add_unique(record.sync_groups, "org:" + caller.tenant.org);
    }
  }
  return issue(std::move(record));
}

Result<MintedCapability> AuthService::issue(store::CapabilityRecord record) const {
  const KeyPrefix prefix = record.participant_kind == "user" ? KeyPrefix::kEphemeral : KeyPrefix::kRestricted;
  std::string token = generate_key(prefix, record.sandbox ? KeyEnv::kTest : KeyEnv::kLive);
  MintedCapability minted{std::move(record), std::move(token)};
  minted.record.token_hash = sha256_hex(minted.token);
  auto stored = store_.put_capability(minted.record);
  if (!stored) return tl::unexpected(stored.error());
  return minted;
}

Result<MintedCapability> AuthService::mint(const Principal& caller, const MintRequest& request) const {
  if (!caller.secret_key) return fail("forbidden", "only a secret (sk_) key can mint capabilities; agents cannot self-mint");
  if (!request.wide_scope && (!request.sync_groups || !request.operations)) {
    return fail("narrow_scope_required", "name syncGroups and operations, or ask for wideScope", "syncGroups");
  }
  auto record = new_capability(caller, std::min(request.ttl_seconds, kMaxMintTtlSeconds), request.label,
                               request.user_meta);
  record.participant_kind = request.participant_kind;
  record.participant_id = request.participant_id.value_or(caller.participant_id);
  record.operations = request.operations.value_or(std::vector<std::string>{});
  record.wide_scope = request.wide_scope;
  record.sync_groups = request.sync_groups.value_or(std::vector<std::string>{});
  // `['default']` is what agent().run sends when told nothing: it means the key's own scope.
  if (record.sync_groups.empty() || record.sync_groups == std::vector<std::string>{"default"}) {
    record.sync_groups = caller.allowed_groups;
  }
  if (request.wide_scope) add_unique(record.sync_groups, "org:" + caller.tenant.org);
  return issue(std::move(record));
}

Result<MintedCapability> AuthService::mint_ephemeral(const Principal& caller, const EphemeralKeyRequest& request) const {
  if (!caller.secret_key) return fail("forbidden", "only a secret (sk_) key can mint a session; a session cannot mint itself");
  auto record = new_capability(caller, request.ttl_seconds, request.label, {});
  record.participant_kind = "user";
  record.participant_id = request.user_id;
  record.operations = request.operations;
  if (request.sync_groups && !request.sync_groups->empty() &&
      *request.sync_groups != std::vector<std::string>{"default"}) {
    record.sync_groups = *request.sync_groups;
  } else {
    // The user's own groups from the schema's identity roles; the whole organization when the
    // schema declares none.
    json::array teams;
    for (const auto& team : request.team_ids) teams.emplace_back(team);
    json::object identity{{"organizationId", caller.tenant.org}, {"userId", request.user_id}, {"teamIds", std::move(teams)}};
    record.sync_groups = schema::compose_role_groups(schema_()->identity_roles(), identity);
    if (record.sync_groups.empty()) record.sync_groups = caller.allowed_groups;
  }
  return issue(std::move(record));
}

Result<Rotation> AuthService::rotate(const Principal& caller, const std::string& id, std::optional<int64_t> grace_seconds,
                                     std::optional<int64_t> ttl_seconds) const {
  if (!caller.secret_key) return fail("forbidden", "only a secret (sk_) key can rotate a capability");
  auto previous = find_capability(caller, id);
  if (!previous) return tl::unexpected(previous.error());
  const int64_t now = now_ms();
  if (previous->revoked || previous->expires_at_ms <= now) {
    return fail("capability_invalid", fmt::format("capability '{}' is revoked or expired; mint a new one", id), "id");
  }
  const int64_t lifetime_seconds = ttl_seconds.value_or((previous->expires_at_ms - previous->issued_at_ms) / 1000);
  auto replacement = *previous;  // the same grant: participant, groups, operations, parent
  replacement.id = random_id("cap");
  replacement.key_id = caller.key_id;
  replacement.issued_at_ms = now;
  replacement.expires_at_ms = now + std::clamp<int64_t>(lifetime_seconds, 1, kMaxMintTtlSeconds) * 1000;
  replacement.revoked = false;
  replacement.revoked_at_ms = 0;
  auto minted = issue(std::move(replacement));
  if (!minted) return tl::unexpected(minted.error());
  // The old token: valid through the grace period, then expired; without one, revoked now.
  if (grace_seconds) {
    previous->expires_at_ms = std::min(previous->expires_at_ms, now + *grace_seconds * 1000);
  } else {
    previous->revoked = true;
    previous->revoked_at_ms = now;
    previous->expires_at_ms = std::min(previous->expires_at_ms, now);
  }
  if (auto ok = store_.put_capability(*previous); !ok) return tl::unexpected(ok.error());
  return Rotation{std::move(*minted), std::move(*previous)};
}

Result<store::CapabilityRecord> AuthService::find_capability(const Principal& caller, const std::string& id) const {
  // A capability sees only itself: another one's scope is none of its business.
  if (!caller.secret_key && caller.capability_id != id) {
    return fail("capability_not_found", fmt::format("no capability '{}'", id), "id");
  }
  auto found = store_.find_capability_by_id(id);
  if (!found) return tl::unexpected(found.error());
  // Another tenant's capability does not exist as far as this caller can tell.
  if (!*found || (*found)->org != caller.tenant.org || (*found)->sandbox != caller.tenant.sandbox) {
    return fail("capability_not_found", fmt::format("no capability '{}'", id), "id");
  }
  return std::move(**found);
}

Result<CapabilityPage> AuthService::list_capabilities(const Principal& caller,
                                                      store::CapabilityListQuery::Status status,
                                                      const std::string& starting_after, int limit) const {
  // A principal that is neither a secret key nor a capability has no line of descent to list
  // (and an empty parent_id would mean the whole tenant).
  if (!caller.secret_key && caller.capability_id.empty()) return CapabilityPage{};
  store::CapabilityListQuery query;
  query.org = caller.tenant.org;
  query.sandbox = caller.tenant.sandbox;
  // The same rule as find_capability: a capability's business is its own line of descent.
  if (!caller.secret_key) query.parent_id = caller.capability_id;
  query.status = status;
  query.now_ms = now_ms();
  query.limit = limit + 1;  // one more than shown says whether another page follows
  if (!starting_after.empty()) {
    auto cursor = store_.find_capability_by_id(starting_after);
    if (!cursor) return tl::unexpected(cursor.error());
    const bool listed = *cursor && (*cursor)->org == query.org && (*cursor)->sandbox == query.sandbox &&
                        (caller.secret_key || (*cursor)->parent_id == query.parent_id);
    if (!listed) {
      return fail("invalid_request", fmt::format("starting_after: no capability '{}' in this list", starting_after),
                  "starting_after");
    }
    query.after_issued_at_and_id = std::pair{(*cursor)->issued_at_ms, (*cursor)->id};
  }
  auto found = store_.list_capabilities(query);
  if (!found) return tl::unexpected(found.error());
  CapabilityPage page;
  page.has_more = static_cast<int>(found->size()) > limit;
  if (page.has_more) found->resize(static_cast<std::size_t>(limit));
  page.capabilities = std::move(*found);
  return page;
}

Result<store::CapabilityRecord> AuthService::revoke_capability(const Principal& caller, const std::string& id) const {
  if (!caller.secret_key && caller.capability_id != id) {
    return fail("forbidden", "only a secret key (or the capability itself) can revoke a capability");
  }
  auto record = find_capability(caller, id);
  if (!record) return record;
  if (!record->revoked) {
    record->revoked = true;
    record->revoked_at_ms = now_ms();
    if (auto ok = store_.put_capability(*record); !ok) return tl::unexpected(ok.error());
  }
  return record;
}

}  // namespace ablo::auth
