#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace ablo {

// The ECMA-262 time value range: a JS Date holds epoch milliseconds in [-kMaxTimeMs, kMaxTimeMs].
inline constexpr int64_t kMaxTimeMs = 8'640'000'000'000'000;

// Milliseconds since the Unix epoch (system clock).
int64_t now_ms();
// ISO-8601 UTC with milliseconds, e.g. "2025-01-02T03:04:05.678Z" (what JS Date.toISOString gives).
std::string iso8601_from_ms(int64_t ms);
// The HTTP date of RFC 9110 §5.6.7 (IMF-fixdate), e.g. "Sun, 06 Nov 1994 08:49:37 GMT", for
// an HTTP `Date` header. `ms` must be in years 0000-9999.
std::string http_date_from_ms(int64_t ms);
// Its inverse: an IMF-fixdate to epoch milliseconds (whole seconds); nullopt when malformed.
std::optional<int64_t> http_date_to_ms(std::string_view text);
// Parses the ISO-8601 forms Date.parse accepts for UTC/offset timestamps and plain dates.
std::optional<int64_t> parse_iso8601_ms(std::string_view text);

}  // namespace ablo
