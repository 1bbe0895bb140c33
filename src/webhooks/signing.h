#pragma once
// Standard Webhooks signatures (datasource.md §4.3): HMAC-SHA256 over
// `<webhook-id>.<webhook-timestamp>.<body>` keyed with the base64-decoded text after `whsec_`,
// sent as `v1,<base64>`; several space-separated while a rolled secret is in its grace period.
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"

namespace ablo::webhooks {

// A fresh `whsec_<base64 of 32 random bytes>`.
std::string new_secret();

// HMAC-SHA256 of `<message_id>.<timestamp>.<body>` keyed with `key`'s bytes as they are, in
// standard base64: the Standard Webhooks MAC (Data Source requests key it with the raw API key,
// source/signature.h).
Result<std::string> mac_base64(std::string_view key, std::string_view message_id, int64_t timestamp,
                               std::string_view body);

// The base64 signature of one message; invalid_request when the secret is not whsec_<base64>.
Result<std::string> sign(std::string_view secret, std::string_view message_id, int64_t timestamp,
                         std::string_view body);

// The webhook-signature header value: "v1,<sig>" for each secret, space-separated.
Result<std::string> signature_header(const std::vector<std::string>& secrets, std::string_view message_id,
                                     int64_t timestamp, std::string_view body);

}  // namespace ablo::webhooks
