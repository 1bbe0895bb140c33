#pragma once
// What the headers of `ablo generate --lang cpp` (docs/client-library.md §17) build their
// boost::json mappings from: one JSON form per schema field type, so the generated code stays a
// list of field names. Usable by hand-written structs too.
//
// Reading (value_to): a missing key or null leaves a required member as it is (default) and an
// optional one nullopt; unknown keys are never looked at; a value of the wrong JSON type, a date
// that does not parse or an enum value the struct does not know throws
// ablo::Exception(invalid_request) naming the key.
// Writing (value_from): nullopt is written as null; a date as ISO-8601 UTC with milliseconds
// (what JS Date.toISOString gives); an integral number as a JSON integer, as the server's JSON
// holds it, so an unchanged number compares equal to the replica's value (the update diff, §5.1).
#include <concepts>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>

#include <boost/json/object.hpp>
#include <boost/json/value.hpp>

#include "sdk/client.h"

namespace ablo::typed {

// ISO-8601 UTC with milliseconds, e.g. "2025-01-02T03:04:05.678Z".
Json timestamp_to_json(Timestamp time);
// An ISO-8601 string (the forms Date.parse accepts) or epoch milliseconds; nullopt otherwise.
std::optional<Timestamp> timestamp_from_json(const Json& value);

// Throws Exception(invalid_request) "<key>: expected <expected>".
[[noreturn]] void throw_invalid_field(std::string_view key, std::string_view expected);
// Throws Exception(invalid_request) when `json` is not an object; else returns it.
const JsonObject& object_of(const Json& json, std::string_view type_name);

// --- to JSON ---------------------------------------------------------------------------------

inline Json to_json(const std::string& value) { return Json(value); }
inline Json to_json(bool value) { return Json(value); }
Json to_json(double value);
inline Json to_json(Timestamp value) { return timestamp_to_json(value); }
inline Json to_json(const Json& value) { return value; }
// An enum of a generated header: its wire string (to_string is found next to the enum).
template <class E>
  requires std::is_enum_v<E>
Json to_json(E value) {
  return Json(to_string(value));
}
template <class T>
Json to_json(const std::optional<T>& value) {
  return value ? to_json(*value) : Json(nullptr);
}

// --- from JSON -------------------------------------------------------------------------------

void from_json(const Json& json, std::string_view key, std::string& out);
void from_json(const Json& json, std::string_view key, bool& out);
void from_json(const Json& json, std::string_view key, double& out);
void from_json(const Json& json, std::string_view key, Timestamp& out);
inline void from_json(const Json& json, std::string_view, Json& out) { out = json; }

// Member `key` of `object` into `out` (see the rules at the top).
template <class T>
void read(const JsonObject& object, std::string_view key, T& out) {
  const auto* json = object.if_contains(key);
  if (json && !json->is_null()) from_json(*json, key, out);
}
template <class T>
void read(const JsonObject& object, std::string_view key, std::optional<T>& out) {
  const auto* json = object.if_contains(key);
  if (!json || json->is_null()) {
    out.reset();
    return;
  }
  T value{};
  from_json(*json, key, value);
  out = std::move(value);
}

// An enum member: `parse` is the generated <enum>_from_string (nullopt for an unknown value).
template <class E>
using EnumParser = std::optional<E> (*)(std::string_view);

template <class E>
E enum_from_json(const Json& json, std::string_view key, EnumParser<E> parse) {
  if (!json.is_string()) throw_invalid_field(key, "a string");
  auto value = parse(json.get_string());
  if (!value) throw_invalid_field(key, "one of the schema's enumValues, not \"" + std::string(json.get_string()) + "\"");
  return *value;
}
template <class E>
void read_enum(const JsonObject& object, std::string_view key, E& out, EnumParser<E> parse) {
  const auto* json = object.if_contains(key);
  if (json && !json->is_null()) out = enum_from_json(*json, key, parse);
}
template <class E>
void read_enum(const JsonObject& object, std::string_view key, std::optional<E>& out, EnumParser<E> parse) {
  const auto* json = object.if_contains(key);
  if (!json || json->is_null()) {
    out.reset();
  } else {
    out = enum_from_json(*json, key, parse);
  }
}

}  // namespace ablo::typed
