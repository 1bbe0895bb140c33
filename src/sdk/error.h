#pragma once
// Errors of the native client library (ablo_sdk, issue 16; design: docs/client-library.md §13).
//
// The library reports every failure as an ablo::Error — the project's one error type
// (common/result.h): `code` is always a code of the 0.9.1 registry
// (../shared/reference/errors-0.9.1.json): a wire code the server sent (mutation_result.error,
// an HTTP envelope, claim frames), or a client-surface code the library raises itself
// (`model_disposed`, `ws_not_ready`, `db_not_opened`, …). A code the server sends that this
// build does not know is kept verbatim (forward compatible) and classified as permanent.
//
// This header adds what a caller needs to act on an Error: its class (ErrorKind, the
// AbloError subclasses of client.md §6.2), whether retrying can help, the registry's HTTP
// status, and the structured details some codes carry (stale_context, claims, rate limits).
// Everything here is a pure function of the Error value: thread-safe, never blocks.
#include <chrono>
#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"

namespace ablo {

// The class of an error, as the TypeScript SDK's `errorFromWire` (protocol.md §5.3) would build
// it. Chosen from the code first (claim codes → kClaimed, stale_context → kStaleContext,
// capability codes → kCapability, transport/bootstrap codes → kConnection, not_found codes →
// kValidation), else from the registry's HTTP status (401 kAuthentication, 403 kPermission, 409
// kIdempotency, 400/422 kValidation, 429 kRateLimit, ≥500 kServer), else kUnknown. A
// client-surface code (no status) goes by its category: transport → kConnection, auth →
// kAuthentication, invalid_options/schema/claim/intent → kValidation, other local codes → kUnknown.
enum class ErrorKind {
  kUnknown,         // AbloError: an unregistered code (treated as permanent), or a local
                    // client-surface code of no other class (db_not_opened, model_disposed)
  kAuthentication,  // AbloAuthenticationError (401); session_expired/jwt_expired end the session
  kSession,         // SyncSessionError: the server rejected the session (close 1008/4001/4003;
                    // the connection layer puts the close code in details["closeCode"])
  kPermission,      // AbloPermissionError (403)
  kCapability,      // CapabilityError: capability_scope_denied, capability_invalid
  kRateLimit,       // AbloRateLimitError (429)
  kIdempotency,     // AbloIdempotencyError (409 without a more specific code)
  kConnection,      // AbloConnectionError: transport; the library retries these by itself
  kValidation,      // AbloValidationError (400/422, and local entity_not_found, model_not_found, …)
  kServer,          // AbloServerError (≥ 500)
  kStaleContext,    // AbloStaleContextError: stale_context (readAt moved)
  kClaimed,         // AbloClaimedError: entity_claimed, claim_conflict/intent_conflict,
                    // claim_lost, grant_timeout, queue_too_deep, model_claimed(_timeout)
};

// "AbloValidationError", … (the TypeScript class name; the C API and logs use it).
std::string_view to_string(ErrorKind kind);

ErrorKind kind_of(const Error& error);

// The registry's `retryable` flag for the code (false for unknown codes). NOTE: the library's
// own retry policy (docs/client-library.md §5.4) is narrower than this flag: it retries
// transport failures and 5xx/429-class codes until the outbox retry window ends, but treats
// stale_context and the claim codes as final for the write that got them (retrying an
// unchanged write cannot succeed; 0.9.1's loop on them is defect D3).
bool is_retryable(const Error& error);

// True when the library will retry the operation that failed with `error` by itself (the
// caller sees such an error only when a caller timeout or the retry window ended first).
bool is_transient(const Error& error);

// The registry's HTTP status for the code (500 for unknown codes; 0 for a client-surface code,
// which the library raises locally and the registry gives no status).
int http_status_of(const Error& error);

// Registry category ("validation", "claim", "transport", …; "" for unknown codes).
std::string_view category_of(const Error& error);

// https://docs.abloatai.com/errors#<code>
std::string doc_url_of(const Error& error);

// The server's request id (HTTP `x-request-id` / envelope `request_id`), when the error came
// from an HTTP response; details["requestId"].
std::optional<std::string> request_id_of(const Error& error);

// One row a stale_context rejection names: the write's premise moved.
struct StaleConflict {
  std::string model;             // schema key
  std::string id;
  int64_t observed_sync_id = 0;  // the foreign delta that made the premise stale (0 if unknown)
};
struct StaleContext {
  int64_t read_at = 0;                   // the readAt the write carried
  std::vector<StaleConflict> conflicts;  // may be empty: the server names the row in `param`
};
// Filled for kind kStaleContext from details["readAt"] / details["conflicts"]; nullopt otherwise.
std::optional<StaleContext> stale_context_of(const Error& error);

// A claim that blocked a write or a claim request (entity_claimed, claim_conflict,
// model_claimed): who holds the row and until when, from details["claims"] or the
// intent_rejected frame (heldBy, heldByIntentId, heldByExpiresAt).
struct BlockingClaim {
  std::string intent_id;
  std::string held_by;  // participant id
  std::string participant_kind;  // "human" | "agent"
  std::chrono::system_clock::time_point expires_at;  // server time corrected by the client's clock offset
                                                     // (details["clockOffsetMs"], server − local)
};
std::vector<BlockingClaim> blocking_claims_of(const Error& error);

// Retry-After of a 429/503, when the server sent one (details["retryAfterMs"], or
// details["retryAfterSeconds"] / ["retryAfter"] in seconds); nullopt otherwise.
std::optional<std::chrono::milliseconds> retry_after_of(const Error& error);

// "<code>: <message>" plus " (param)" when there is one: for logs and exceptions.
std::string describe(const Error& error);

// What Pending<T>::wait() throws, and what the library throws from a constructor it cannot
// complete (Client with invalid Options). Carries the Error unchanged.
class Exception : public std::runtime_error {
 public:
  explicit Exception(Error error);
  const Error& error() const noexcept { return error_; }
  const std::string& code() const noexcept { return error_.code; }
  ErrorKind kind() const { return kind_of(error_); }

 private:
  Error error_;
};

// Client-surface codes the library raises itself (registry surface "client" or a wire code
// reused with the same meaning). Listed so callers can compare without string literals.
namespace codes {
inline constexpr std::string_view kEntityNotFound = "entity_not_found";      // update/remove/claim of a row the store lacks
inline constexpr std::string_view kModelNotFound = "model_not_found";        // model("x") not in the schema
inline constexpr std::string_view kModelDisposed = "model_disposed";         // a call on a disposed Client / handle
inline constexpr std::string_view kInvalidOptions = "invalid_options";       // Options rejected at construction
inline constexpr std::string_view kInvalidRequest = "invalid_request";       // bad argument (unknown field, wrong type, wait() on the I/O thread)
inline constexpr std::string_view kDbNotOpened = "db_not_opened";            // local store unusable (corrupt/foreign with StoreRecovery::kFail, disk error)
inline constexpr std::string_view kWsNotReady = "ws_not_ready";              // a connected-only call (fail-fast claim) while offline
inline constexpr std::string_view kSyncNotReady = "sync_not_ready";          // a read that needs the first bootstrap, before it
inline constexpr std::string_view kFlushTimeout = "flush_timeout";           // wait_for_flush timed out
inline constexpr std::string_view kWaitForTimeout = "wait_for_timeout";      // a caller timeout (WriteOptions::timeout, ClaimOptions::timeout)
inline constexpr std::string_view kCommitNoResult = "commit_no_result";      // no mutation_result within the ack timeout (transient)
inline constexpr std::string_view kStaleContext = "stale_context";
inline constexpr std::string_view kEntityClaimed = "entity_claimed";
inline constexpr std::string_view kClaimLost = "claim_lost";
inline constexpr std::string_view kQueueTooDeep = "queue_too_deep";
inline constexpr std::string_view kGrantTimeout = "grant_timeout";
inline constexpr std::string_view kSessionExpired = "session_expired";
inline constexpr std::string_view kAuthNoCredentials = "auth_no_credentials";
inline constexpr std::string_view kBootstrapFetchTimeout = "bootstrap_fetch_timeout";
inline constexpr std::string_view kInternalError = "internal_error";
}  // namespace codes

}  // namespace ablo
