#pragma once
// Data Source request signatures (datasource.md §1.3): Standard Webhooks "v1" — HMAC-SHA256
// over `<webhook-id>.<webhook-timestamp>.<body>` sent as `webhook-signature: v1,<base64>` — but
// keyed with the project's API key bytes as they are (not a base64-decoded whsec_ secret).
// Ablo signs what it sends to an endpoint and verifies what an endpoint pushes to
// POST /api/source/events.
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"

namespace ablo::source {

// Within this many seconds of our clock, either way (the reference verifier's default).
inline constexpr int64_t kSignatureToleranceSeconds = 300;

struct SignedHeaders {
  std::string id;         // webhook-id
  std::string timestamp;  // webhook-timestamp (Unix seconds)
  std::string signature;  // webhook-signature: v1,<base64>
};

SignedHeaders sign_request(std::string_view api_key, std::string_view message_id, int64_t unix_seconds,
                           std::string_view body);

// The three headers as received ("" when absent).
struct ReceivedHeaders {
  std::string id;
  std::string timestamp;
  std::string signature;
};

// The checks of §1.3 that need no key, in the reference order. On success: the timestamp and
// the presented v1 signatures; otherwise the failure code of the §1.3 table:
// source_id_missing, source_timestamp_missing, source_timestamp_invalid (not ^[0-9]+$),
// source_timestamp_expired, source_signature_missing.
struct CheckedHeaders {
  int64_t timestamp = 0;
  std::vector<std::string> signatures;
};
struct HeaderFailure {
  std::string code;
  std::string message;
};
tl::expected<CheckedHeaders, HeaderFailure> check_headers(const ReceivedHeaders& headers, int64_t now_unix_seconds,
                                                          int64_t tolerance_seconds = kSignatureToleranceSeconds);

// Whether `key` signed `body` under these headers: the recomputed MAC equals any presented v1
// value (constant-time). A mismatch for every key is source_signature_invalid.
bool signed_with(std::string_view key, std::string_view message_id, const CheckedHeaders& headers,
                 std::string_view body);

}  // namespace ablo::source
