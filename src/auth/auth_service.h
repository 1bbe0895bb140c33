#pragma once
// Credentials -> principals. Secret keys (sk_) are long-lived and stored hashed; capability
// tokens (rk_/ek_) are minted by POST /api/auth/capability and carry a participant, a tenant
// and the sync groups the holder may subscribe to (schema.md §4.2).
//
// Thread-safe: every method may be called from any thread (state lives in the Store).
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <boost/json/object.hpp>

#include "common/result.h"
#include "schema/schema.h"
#include "store/store.h"

namespace ablo::auth {

struct Principal {
  store::Tenant tenant;
  std::string participant_id;
  std::string participant_kind;  // user | agent | system
  std::string capability_id;     // empty when authenticated by a secret key directly
  std::string key_id;
  std::vector<std::string> allowed_groups;
  std::vector<std::string> operations;  // "<model>.<op>" allowlist; empty = unrestricted
  bool secret_key = false;              // the bearer was an sk_ key
  int64_t expires_at_ms = 0;            // 0 = does not expire
  // Audit attribution (issue 13): the credential's label, and whom an agent acts for — the
  // capability's `userMeta.onBehalfOf {kind, id}` when its minter said so (empty otherwise).
  std::string credential_label;
  std::string on_behalf_of_kind;
  std::string on_behalf_of_id;

  // The credential presented: the capability, or the secret key used directly.
  const std::string& credential_id() const { return capability_id.empty() ? key_id : capability_id; }
};

struct ExchangeRequest {
  std::string participant_kind = "system";
  std::optional<std::string> participant_id;
  std::optional<std::vector<std::string>> sync_groups;
  std::vector<std::string> operations;
  bool wide_scope = false;
  int64_t ttl_seconds = 3600;
  std::string label;
  boost::json::object user_meta;
};

// Whether the principal's operation allowlist permits `verb` (read|create|update|delete) on
// `model` (http-api.md §6.1). The model part of `<model>.<verb>` may be any spelling the model
// resolver accepts; an empty allowlist permits everything.
bool allows(const Principal& principal, const schema::Model& model, std::string_view verb);
// capability_scope_denied with requiredCapability {scope: "<model>.<verb>"}.
Error scope_denied(const schema::Model& model, std::string_view verb, std::string param = {});

// Parses the POST /api/auth/capability body (protocol.md §2.1); invalid_request on bad shapes.
Result<ExchangeRequest> parse_exchange_request(const boost::json::object& body);

// POST /v1/capabilities body (http-api.md §6.1), both field spellings accepted.
struct MintRequest {
  std::string participant_kind;  // agent | system
  std::optional<std::string> participant_id;
  std::optional<std::vector<std::string>> sync_groups;
  std::optional<std::vector<std::string>> operations;
  bool wide_scope = false;
  int64_t ttl_seconds = 0;
  std::string label;
  boost::json::object user_meta;
};
Result<MintRequest> parse_mint_request(const boost::json::object& body);

struct MintedCapability {
  store::CapabilityRecord record;
  std::string token;
};

// POST /v1/ephemeral_keys body (0.49 `ephemeralKeyRequestSchema`): a session for one of the
// app's signed-in users. Exactly one of `operations` (`<model>.<verb>`) or
// `activeSchemaOperations` (verbs, granted on every model of the active schema); a write verb
// also grants the model's read. `controlPlaneOnly` sessions are refused: this server has no
// control-plane routes a data-less session could use.
struct EphemeralKeyRequest {
  std::string user_id;
  std::vector<std::string> team_ids;
  std::optional<std::vector<std::string>> sync_groups;
  std::vector<std::string> operations;  // "<model key>.<verb>", resolved against the schema
  int64_t ttl_seconds = 900;            // 15 minutes unless asked otherwise
  std::string label;
};
Result<EphemeralKeyRequest> parse_ephemeral_key_request(const boost::json::object& body, const schema::Schema& schema);

// POST /v1/capabilities/{id}/rotate: the replacement, and the old capability as it now stands
// (expiring at the end of the grace period, or revoked at once without one).
// A page of GET /v1/capabilities.
struct CapabilityPage {
  std::vector<store::CapabilityRecord> capabilities;
  bool has_more = false;
};

struct Rotation {
  MintedCapability replacement;
  store::CapabilityRecord previous;
};

class AuthService {
 public:
  using SchemaSource = std::function<std::shared_ptr<const schema::Schema>()>;
  AuthService(store::Store& store, SchemaSource schema);

  // Creates and stores a new secret key; returns the plaintext (shown once).
  Result<std::string> create_secret_key(const std::string& org, bool sandbox, const std::string& label);

  // Resolves a bearer (sk_ key or capability token). Errors: apikey_missing, apikey_invalid,
  // apikey_revoked, apikey_expired (401); capability_invalid (403) for a revoked capability.
  Result<Principal> authenticate(std::string_view bearer) const;

  // Mints a capability for `caller`. A secret key may mint any scope in its tenant; a
  // capability caller gets a fresh token for its own scope (protocol.md §8.7), expiring no later
  // than the caller and recording it as its parent.
  Result<MintedCapability> exchange(const Principal& caller, const ExchangeRequest& request) const;
  // Caps the lifetime of exchanged capabilities (`ablo serve --max-capability-ttl`; tests of
  // token refresh use a few seconds). 0: the default bounds (60 s … 7 days).
  void set_max_capability_ttl_seconds(int64_t seconds) { max_capability_ttl_seconds_ = seconds; }

  // POST /v1/capabilities: only secret keys mint; `['default']` groups inherit the key's scope.
  Result<MintedCapability> mint(const Principal& caller, const MintRequest& request) const;
  // GET /v1/capabilities/{id}: capability_not_found unless it belongs to the caller's tenant
  // and the caller is a secret key or that capability itself.
  Result<store::CapabilityRecord> find_capability(const Principal& caller, const std::string& id) const;
  // GET /v1/capabilities: a page of the capabilities the caller may see, newest first. A secret
  // key sees every capability of its tenant; a capability sees only the ones it exchanged itself
  // for (its direct children). `starting_after` (an id from the previous page) must be one of
  // those, else invalid_request.
  Result<CapabilityPage> list_capabilities(const Principal& caller, store::CapabilityListQuery::Status status,
                                           const std::string& starting_after, int limit) const;
  // DELETE /v1/capabilities/{id}: marks it revoked (idempotent); every later use is refused,
  // and so is every use of a token exchanged from it (directly or further down).
  Result<store::CapabilityRecord> revoke_capability(const Principal& caller, const std::string& id) const;
  // POST /v1/ephemeral_keys: only secret keys mint; a `user` capability (ek_ token).
  Result<MintedCapability> mint_ephemeral(const Principal& caller, const EphemeralKeyRequest& request) const;
  // POST /v1/capabilities/{id}/rotate (secret keys only): a new token with the same grant,
  // valid for `ttl_seconds` (default: the old one's lifetime). The old token keeps working
  // for `grace_seconds` (never past its own expiry) and then expires; without a grace it is
  // revoked at once (the caller closes its sockets).
  Result<Rotation> rotate(const Principal& caller, const std::string& id, std::optional<int64_t> grace_seconds,
                          std::optional<int64_t> ttl_seconds) const;
  // Ids of the capabilities exchanged from `capability_id`, transitively (not itself).
  Result<std::vector<std::string>> descendants(const std::string& capability_id) const;

 private:
  // Generates the token for `record` and stores it.
  Result<MintedCapability> issue(store::CapabilityRecord record) const;
  // capability_invalid when an ancestor of `capability` is revoked, expired (a rotation's grace ended) or gone.
  Status check_ancestors(const store::CapabilityRecord& capability) const;

  store::Store& store_;
  SchemaSource schema_;
  int64_t max_capability_ttl_seconds_ = 0;
};

}  // namespace ablo::auth
