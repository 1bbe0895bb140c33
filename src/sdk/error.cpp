// The client's view of an ablo::Error (sdk/error.h; design §5.4, §13): registry lookups over
// the wire table (errors/registry_table.inc + registry_2026_08_04.inc) and the client-surface
// codes (sdk/client_codes.inc), plus the structured details some codes carry.
#include "sdk/error.h"

#include <algorithm>
#include <array>
#include <cstdint>

#include <boost/json.hpp>

namespace ablo {

namespace sdk_error_detail {

struct CodeSpec {
  std::string_view code;
  std::string_view category;
  int http_status;  // 0: a client-surface code (raised locally, no HTTP status)
  bool retryable;
};

#define ABLO_ERROR(code, category, status, retry, message) CodeSpec{code, category, status, retry},
#define ABLO_CLIENT_ERROR(code, category, retry, message) CodeSpec{code, category, 0, retry},
constexpr CodeSpec kAllCodes[] = {
#include "errors/registry_table.inc"
#include "errors/registry_2026_08_04.inc"
#include "sdk/client_codes.inc"
};
#undef ABLO_CLIENT_ERROR
#undef ABLO_ERROR

const CodeSpec* find_code(std::string_view code) {
  const auto* it = std::find_if(std::begin(kAllCodes), std::end(kAllCodes),
                                [code](const CodeSpec& spec) { return spec.code == code; });
  return it == std::end(kAllCodes) ? nullptr : it;
}

bool one_of(std::string_view code, std::initializer_list<std::string_view> list) {
  return std::find(list.begin(), list.end(), code) != list.end();
}

// The claim codes of AbloClaimedError (client.md §6.2), whatever their registry status.
bool is_claim_code(std::string_view code) {
  return one_of(code, {"entity_claimed", "claim_conflict", "intent_conflict", "claim_lost", "grant_timeout",
                       "queue_too_deep", "model_claimed", "model_claimed_timeout"});
}

// Retryable in the registry, but re-sending the same write cannot succeed: the premise moved or
// someone else holds the row (design §5.4; 0.9.1's retry loop on them is defect D3).
bool is_final_for_a_write(std::string_view code) {
  return one_of(code, {"stale_context", "entity_claimed", "claim_conflict", "intent_conflict", "claim_lost"});
}

ErrorKind kind_by_status(int status) {
  if (status == 401) return ErrorKind::kAuthentication;
  if (status == 403) return ErrorKind::kPermission;
  if (status == 409) return ErrorKind::kIdempotency;
  if (status == 400 || status == 422) return ErrorKind::kValidation;
  if (status == 429) return ErrorKind::kRateLimit;
  if (status >= 500) return ErrorKind::kServer;
  return ErrorKind::kUnknown;
}

// Client-surface codes have no status: their category decides.
ErrorKind kind_of_client_code(const CodeSpec& spec) {
  if (spec.category == "transport") return ErrorKind::kConnection;
  if (spec.category == "auth") return ErrorKind::kAuthentication;
  if (spec.category == "client" && spec.code != "invalid_options") return ErrorKind::kUnknown;  // base AbloError
  return ErrorKind::kValidation;  // schema, claim configuration, intent wiring, invalid_options
}

std::optional<int64_t> int_member(const boost::json::object& object, std::string_view key) {
  const auto* value = object.if_contains(key);
  if (value == nullptr) return std::nullopt;
  if (value->is_int64()) return value->get_int64();
  if (value->is_uint64() && value->get_uint64() <= static_cast<uint64_t>(INT64_MAX)) {
    return static_cast<int64_t>(value->get_uint64());
  }
  if (value->is_double()) return static_cast<int64_t>(value->get_double());
  return std::nullopt;
}

std::optional<double> number_member(const boost::json::object& object, std::string_view key) {
  const auto* value = object.if_contains(key);
  if (value == nullptr || !value->is_number()) return std::nullopt;
  return value->to_number<double>();
}

std::string string_member(const boost::json::object& object, std::string_view key) {
  const auto* value = object.if_contains(key);
  return value != nullptr && value->is_string() ? std::string(value->get_string()) : std::string();
}

std::string first_string_member(const boost::json::object& object, std::initializer_list<std::string_view> keys) {
  for (std::string_view key : keys) {
    if (auto text = string_member(object, key); !text.empty()) return text;
  }
  return {};
}

// details["clockOffsetMs"] (server − local), set by the library when it knows the offset.
std::chrono::system_clock::time_point local_time_of_server_ms(int64_t server_ms, const boost::json::object& details) {
  const int64_t offset_ms = int_member(details, "clockOffsetMs").value_or(0);
  return std::chrono::system_clock::time_point(std::chrono::milliseconds(server_ms - offset_ms));
}

BlockingClaim blocking_claim_from(const boost::json::object& object, const boost::json::object& details) {
  BlockingClaim claim;
  claim.intent_id = first_string_member(object, {"heldByIntentId", "heldByClaimId", "intentId", "claimId"});
  claim.held_by = first_string_member(object, {"heldBy", "participantId"});
  claim.participant_kind = first_string_member(object, {"participantKind", "heldByKind"});
  const auto expires_ms = int_member(object, "heldByExpiresAt") ? int_member(object, "heldByExpiresAt")
                                                                 : int_member(object, "expiresAt");
  if (expires_ms) claim.expires_at = local_time_of_server_ms(*expires_ms, details);
  return claim;
}

}  // namespace sdk_error_detail

std::string_view to_string(ErrorKind kind) {
  switch (kind) {
    case ErrorKind::kUnknown: return "AbloError";
    case ErrorKind::kAuthentication: return "AbloAuthenticationError";
    case ErrorKind::kSession: return "SyncSessionError";
    case ErrorKind::kPermission: return "AbloPermissionError";
    case ErrorKind::kCapability: return "CapabilityError";
    case ErrorKind::kRateLimit: return "AbloRateLimitError";
    case ErrorKind::kIdempotency: return "AbloIdempotencyError";
    case ErrorKind::kConnection: return "AbloConnectionError";
    case ErrorKind::kValidation: return "AbloValidationError";
    case ErrorKind::kServer: return "AbloServerError";
    case ErrorKind::kStaleContext: return "AbloStaleContextError";
    case ErrorKind::kClaimed: return "AbloClaimedError";
  }
  return "AbloError";
}

ErrorKind kind_of(const Error& error) {
  namespace d = sdk_error_detail;
  const std::string_view code = error.code;
  if (code == "capability_scope_denied" || code == "capability_invalid") return ErrorKind::kCapability;
  if (d::is_claim_code(code)) return ErrorKind::kClaimed;
  if (code == "stale_context") return ErrorKind::kStaleContext;
  // The socket was closed with a session close code (1008/4001/4003): the connection layer
  // records it in details["closeCode"].
  if (error.details.contains("closeCode")) return ErrorKind::kSession;
  const d::CodeSpec* spec = d::find_code(code);
  if (spec == nullptr) return ErrorKind::kUnknown;
  if (spec->http_status == 0) return d::kind_of_client_code(*spec);
  if (spec->category == "transport" || spec->category == "bootstrap" || code == "intent_wait_aborted" ||
      code == "claim_wait_aborted") {
    return ErrorKind::kConnection;
  }
  // Raised locally too (a row or model this client does not have): AbloValidationError.
  if (spec->category == "not_found") return ErrorKind::kValidation;
  return d::kind_by_status(spec->http_status);
}

bool is_retryable(const Error& error) {
  const auto* spec = sdk_error_detail::find_code(error.code);
  return spec != nullptr && spec->retryable;
}

bool is_transient(const Error& error) {
  return is_retryable(error) && !sdk_error_detail::is_final_for_a_write(error.code);
}

int http_status_of(const Error& error) {
  const auto* spec = sdk_error_detail::find_code(error.code);
  return spec == nullptr ? 500 : spec->http_status;
}

std::string_view category_of(const Error& error) {
  const auto* spec = sdk_error_detail::find_code(error.code);
  return spec == nullptr ? std::string_view() : spec->category;
}

std::string doc_url_of(const Error& error) { return "https://docs.abloatai.com/errors#" + error.code; }

std::optional<std::string> request_id_of(const Error& error) {
  auto id = sdk_error_detail::first_string_member(error.details, {"requestId", "request_id"});
  if (id.empty()) return std::nullopt;
  return id;
}

std::optional<StaleContext> stale_context_of(const Error& error) {
  namespace d = sdk_error_detail;
  if (kind_of(error) != ErrorKind::kStaleContext) return std::nullopt;
  StaleContext stale;
  stale.read_at = d::int_member(error.details, "readAt").value_or(0);
  const auto* conflicts = error.details.if_contains("conflicts");
  if (conflicts == nullptr || !conflicts->is_array()) return stale;
  for (const auto& entry : conflicts->get_array()) {
    if (!entry.is_object()) continue;
    const auto& object = entry.get_object();
    StaleConflict conflict;
    conflict.model = d::first_string_member(object, {"model", "modelName", "entityType"});
    conflict.id = d::first_string_member(object, {"id", "entityId", "modelId"});
    conflict.observed_sync_id = d::int_member(object, "observedSyncId").value_or(0);
    stale.conflicts.push_back(std::move(conflict));
  }
  return stale;
}

std::vector<BlockingClaim> blocking_claims_of(const Error& error) {
  namespace d = sdk_error_detail;
  std::vector<BlockingClaim> claims;
  if (const auto* list = error.details.if_contains("claims"); list != nullptr && list->is_array()) {
    for (const auto& entry : list->get_array()) {
      if (entry.is_object()) claims.push_back(d::blocking_claim_from(entry.get_object(), error.details));
    }
    return claims;
  }
  if (error.details.contains("heldBy")) claims.push_back(d::blocking_claim_from(error.details, error.details));
  return claims;
}

std::optional<std::chrono::milliseconds> retry_after_of(const Error& error) {
  namespace d = sdk_error_detail;
  if (auto ms = d::number_member(error.details, "retryAfterMs")) {
    return std::chrono::milliseconds(static_cast<int64_t>(*ms));
  }
  for (std::string_view key : {"retryAfterSeconds", "retryAfter"}) {
    if (auto seconds = d::number_member(error.details, key)) {
      return std::chrono::milliseconds(static_cast<int64_t>(*seconds * 1000.0));
    }
  }
  return std::nullopt;
}

std::string describe(const Error& error) {
  std::string text = error.code + ": " + error.message;
  if (!error.param.empty()) text += " (" + error.param + ")";
  return text;
}

Exception::Exception(Error error) : std::runtime_error(describe(error)), error_(std::move(error)) {}

}  // namespace ablo
