#include "auth/auth_service.h"

#include <algorithm>

#include <fmt/format.h>

#include "auth/keys.h"
#include "common/random.h"
#include "common/time.h"
#include "schema/sync_groups.h"

namespace ablo::auth {

namespace json = boost::json;

namespace {

constexpr int64_t kMinTtlSeconds = 60;
constexpr int64_t kMaxTtlSeconds = 7 * 24 * 3600;

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
    request.ttl_seconds = static_cast<int64_t>(ttl->to_number<double>());
  }
  if (const auto* label = body.if_contains("label"); label && label->is_string()) request.label = label->as_string();
  if (const auto* meta = body.if_contains("userMeta"); meta && meta->is_object()) request.user_meta = meta->as_object();
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
    return p;
  }
  auto capability = store_.find_capability(hash);
  if (!capability) return tl::unexpected(capability.error());
  if (!*capability) return fail("apikey_invalid", "The token is unknown.");
  const auto& c = **capability;
  if (c.revoked) return fail("apikey_revoked", "The token was revoked.");
  if (c.expires_at_ms <= now_ms()) return fail("apikey_expired", "The token has expired; mint a new one.");
  Principal p;
  p.tenant = {c.org, c.sandbox};
  p.participant_id = c.participant_id;
  p.participant_kind = c.participant_kind;
  p.capability_id = c.id;
  p.key_id = c.key_id;
  p.allowed_groups = c.sync_groups;
  p.operations = c.operations;
  p.expires_at_ms = c.expires_at_ms;
  return p;
}

Result<MintedCapability> AuthService::exchange(const Principal& caller, const ExchangeRequest& request) const {
  store::CapabilityRecord record;
  record.id = random_id("cap");
  record.key_id = caller.key_id;
  record.org = caller.tenant.org;
  record.sandbox = caller.tenant.sandbox;
  record.issued_at_ms = now_ms();
  const int64_t ttl = std::clamp(request.ttl_seconds, kMinTtlSeconds, kMaxTtlSeconds);
  record.expires_at_ms = record.issued_at_ms + ttl * 1000;
  record.label = request.label;
  record.user_meta = request.user_meta;
  if (!caller.secret_key) {
    // A capability re-exchanging itself keeps its own scope; it can never widen it.
    record.participant_kind = caller.participant_kind;
    record.participant_id = caller.participant_id;
    record.sync_groups = caller.allowed_groups;
    record.operations = caller.operations;
    record.expires_at_ms = std::min(record.expires_at_ms, record.issued_at_ms + kMaxTtlSeconds * 1000);
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
  const KeyPrefix prefix = record.participant_kind == "user" ? KeyPrefix::kEphemeral : KeyPrefix::kRestricted;
  MintedCapability minted{record, generate_key(prefix, record.sandbox ? KeyEnv::kTest : KeyEnv::kLive)};
  minted.record.token_hash = sha256_hex(minted.token);
  auto stored = store_.put_capability(minted.record);
  if (!stored) return tl::unexpected(stored.error());
  return minted;
}

}  // namespace ablo::auth
