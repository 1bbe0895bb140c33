#pragma once
// Reading numbers from network and stored JSON without throwing. boost::json's to_number<T>()
// throws when the value does not fit T exactly (1.5 or 1e300 as int64, 2^63 as int64), and a
// static_cast of an out-of-range double to an integer is undefined; every number that comes
// from a request, a frame, a peer node or a stored record is read through these instead.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <optional>
#include <string>
#include <string_view>

#include <boost/json/object.hpp>
#include <boost/json/value.hpp>

#include "common/result.h"

namespace ablo {

// The value as an int64 when it is a number with exactly that integer value: an int64, a
// uint64 up to INT64_MAX, or an integral double inside the int64 range. nullopt otherwise
// (not a number, a fraction, out of range).
inline std::optional<int64_t> exact_int64(const boost::json::value& value) {
  switch (value.kind()) {
    case boost::json::kind::int64: return value.get_int64();
    case boost::json::kind::uint64:
      if (value.get_uint64() > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) return std::nullopt;
      return static_cast<int64_t>(value.get_uint64());
    case boost::json::kind::double_: {
      const double d = value.get_double();
      // -2^63 is exact as a double; 2^63 is the first double above INT64_MAX.
      if (!std::isfinite(d) || d != std::trunc(d) || d < -9223372036854775808.0 || d >= 9223372036854775808.0) {
        return std::nullopt;
      }
      return static_cast<int64_t>(d);
    }
    default: return std::nullopt;
  }
}

// The value as a uint64 when it is a non-negative number with exactly that integer value.
inline std::optional<uint64_t> exact_uint64(const boost::json::value& value) {
  switch (value.kind()) {
    case boost::json::kind::uint64: return value.get_uint64();
    case boost::json::kind::int64:
      if (value.get_int64() < 0) return std::nullopt;
      return static_cast<uint64_t>(value.get_int64());
    case boost::json::kind::double_: {
      const double d = value.get_double();
      if (!std::isfinite(d) || d != std::trunc(d) || d < 0 || d >= 18446744073709551616.0) return std::nullopt;
      return static_cast<uint64_t>(d);
    }
    default: return std::nullopt;
  }
}

// An exact int64 inside [min, max], or nullopt.
inline std::optional<int64_t> exact_int64_in(const boost::json::value& value, int64_t min, int64_t max) {
  auto n = exact_int64(value);
  if (!n || *n < min || *n > max) return std::nullopt;
  return n;
}

// Any JSON number as a double (uint64/int64 rounded), or nullopt for a non-number.
inline std::optional<double> number_as_double(const boost::json::value& value) {
  switch (value.kind()) {
    case boost::json::kind::int64: return static_cast<double>(value.get_int64());
    case boost::json::kind::uint64: return static_cast<double>(value.get_uint64());
    case boost::json::kind::double_: return value.get_double();
    default: return std::nullopt;
  }
}

// Any JSON number truncated toward zero and clamped into [min, max]: for limits and timeouts
// where a fraction or an absurd size means "as much as allowed" rather than an error.
// nullopt for a non-number.
inline std::optional<int64_t> clamped_int64(const boost::json::value& value, int64_t min, int64_t max) {
  if (auto exact = exact_int64(value)) return std::clamp(*exact, min, max);
  auto d = number_as_double(value);
  if (!d || std::isnan(*d)) return std::nullopt;
  if (*d <= static_cast<double>(min)) return min;
  if (*d >= static_cast<double>(max)) return max;
  return std::clamp(static_cast<int64_t>(*d), min, max);
}

// The optional member `key` as an exact int64 in [min, max]: absent gives `fallback`;
// present but not such a number is invalid_request naming `param`.
inline Result<int64_t> int64_member(const boost::json::object& object, std::string_view key, int64_t fallback,
                                    std::string_view param, int64_t min = std::numeric_limits<int64_t>::min(),
                                    int64_t max = std::numeric_limits<int64_t>::max()) {
  const auto* value = object.if_contains(key);
  if (!value || value->is_null()) return fallback;
  if (auto n = exact_int64_in(*value, min, max)) return *n;
  return fail("invalid_request",
              std::string(param) + " must be an integer between " + std::to_string(min) + " and " + std::to_string(max),
              std::string(param));
}

}  // namespace ablo
