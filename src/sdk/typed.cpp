#include "sdk/typed.h"

#include <cmath>

#include "common/time.h"
#include "sdk/sdk_error_code.h"

namespace ablo::typed {

Json timestamp_to_json(Timestamp time) { return Json(iso8601_from_ms(time.time_since_epoch().count())); }

std::optional<Timestamp> timestamp_from_json(const Json& value) {
  std::optional<int64_t> ms;
  if (value.is_string()) {
    ms = parse_iso8601_ms(value.get_string());
  } else if (value.is_number()) {
    // Epoch milliseconds (what a JS Date's valueOf gives); a fraction is cut, as Date does.
    const double number = value.to_number<double>();
    if (std::isfinite(number) && std::abs(number) <= static_cast<double>(kMaxTimeMs)) ms = static_cast<int64_t>(number);
  }
  if (!ms) return std::nullopt;
  return Timestamp(std::chrono::milliseconds(*ms));
}

void throw_invalid_field(std::string_view key, std::string_view expected) {
  throw Exception(sdk_detail::sdk_error("invalid_request", std::string(key) + ": expected " + std::string(expected),
                                        std::string(key)));
}

const JsonObject& object_of(const Json& json, std::string_view type_name) {
  if (!json.is_object()) {
    throw Exception(sdk_detail::sdk_error("invalid_request", "a " + std::string(type_name) + " is read from a JSON object"));
  }
  return json.get_object();
}

Json to_json(double value) {
  // 2^53: every integer below it is exact in a double, and the server writes it without a fraction.
  constexpr double kExactIntegers = 9007199254740992.0;
  if (std::trunc(value) == value && std::abs(value) <= kExactIntegers) {
    return Json(static_cast<int64_t>(value));
  }
  return Json(value);
}

void from_json(const Json& json, std::string_view key, std::string& out) {
  if (!json.is_string()) throw_invalid_field(key, "a string");
  out = std::string(json.get_string());
}

void from_json(const Json& json, std::string_view key, bool& out) {
  if (!json.is_bool()) throw_invalid_field(key, "a boolean");
  out = json.get_bool();
}

void from_json(const Json& json, std::string_view key, double& out) {
  if (!json.is_number()) throw_invalid_field(key, "a number");
  out = json.to_number<double>();
}

void from_json(const Json& json, std::string_view key, Timestamp& out) {
  auto time = timestamp_from_json(json);
  if (!time) throw_invalid_field(key, "a date (ISO-8601 string or epoch milliseconds)");
  out = *time;
}

}  // namespace ablo::typed
