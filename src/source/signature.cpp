#include "source/signature.h"

#include <openssl/crypto.h>

#include <cctype>

#include "webhooks/signing.h"

namespace ablo::source {

SignedHeaders sign_request(std::string_view api_key, std::string_view message_id, int64_t unix_seconds,
                           std::string_view body) {
  // mac_base64 fails only when OpenSSL's HMAC does: nothing can be signed then.
  auto mac = webhooks::mac_base64(api_key, message_id, unix_seconds, body);
  return SignedHeaders{std::string(message_id), std::to_string(unix_seconds), "v1," + mac.value_or("")};
}

namespace {

bool all_digits(std::string_view text) {
  if (text.empty() || text.size() > 18) return false;
  for (char c : text) {
    if (!std::isdigit(static_cast<unsigned char>(c))) return false;
  }
  return true;
}

// Whitespace-separated tokens, each split at its first comma; only non-empty `v1` values count.
std::vector<std::string> v1_signatures(std::string_view header) {
  std::vector<std::string> values;
  std::size_t at = 0;
  while (at < header.size()) {
    while (at < header.size() && std::isspace(static_cast<unsigned char>(header[at]))) ++at;
    std::size_t end = at;
    while (end < header.size() && !std::isspace(static_cast<unsigned char>(header[end]))) ++end;
    const std::string_view token = header.substr(at, end - at);
    at = end;
    const auto comma = token.find(',');
    if (comma == std::string_view::npos) continue;
    if (token.substr(0, comma) == "v1" && comma + 1 < token.size()) values.emplace_back(token.substr(comma + 1));
  }
  return values;
}

tl::unexpected<HeaderFailure> failure(std::string code, std::string message) {
  return tl::unexpected(HeaderFailure{std::move(code), std::move(message)});
}

}  // namespace

tl::expected<CheckedHeaders, HeaderFailure> check_headers(const ReceivedHeaders& headers, int64_t now_unix_seconds,
                                                          int64_t tolerance_seconds) {
  if (headers.id.empty()) return failure("source_id_missing", "the webhook-id header is missing");
  if (headers.timestamp.empty()) return failure("source_timestamp_missing", "the webhook-timestamp header is missing");
  if (!all_digits(headers.timestamp)) {
    return failure("source_timestamp_invalid", "webhook-timestamp is not a whole number of Unix seconds");
  }
  CheckedHeaders checked;
  checked.timestamp = std::stoll(headers.timestamp);
  const int64_t skew = now_unix_seconds - checked.timestamp;
  if (skew > tolerance_seconds || -skew > tolerance_seconds) {
    return failure("source_timestamp_expired", "webhook-timestamp is outside the signature tolerance");
  }
  checked.signatures = v1_signatures(headers.signature);
  if (checked.signatures.empty()) {
    return failure("source_signature_missing", "webhook-signature carries no v1 signature");
  }
  return checked;
}

bool signed_with(std::string_view key, std::string_view message_id, const CheckedHeaders& headers,
                 std::string_view body) {
  auto expected = webhooks::mac_base64(key, message_id, headers.timestamp, body);
  if (!expected) return false;
  bool matched = false;
  for (const auto& presented : headers.signatures) {
    // Every value is compared in full (no early exit on the first match of a rotation list).
    if (presented.size() == expected->size() &&
        CRYPTO_memcmp(presented.data(), expected->data(), presented.size()) == 0) {
      matched = true;
    }
  }
  return matched;
}

}  // namespace ablo::source
