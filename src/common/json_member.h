#pragma once
// Reading optional members of request and schema JSON.
#include <string>
#include <string_view>

#include <boost/json/object.hpp>
#include <boost/json/value.hpp>

namespace ablo {

// The string member `key` of `object`, or `fallback` when it is absent or not a string.
inline std::string string_member(const boost::json::object& object, std::string_view key, std::string fallback = {}) {
  const auto* value = object.if_contains(key);
  return value && value->is_string() ? std::string(value->as_string()) : std::move(fallback);
}

// A member of any type (copied), or null when absent.
inline boost::json::value json_member(const boost::json::object& object, std::string_view key) {
  const auto* value = object.if_contains(key);
  return value ? *value : boost::json::value(nullptr);
}

// An id member: a string, or an integer from a loosely typed client spelled in decimal; empty
// when absent or of another type.
inline std::string id_member(const boost::json::object& object, std::string_view key) {
  const auto* value = object.if_contains(key);
  if (!value) return {};
  if (value->is_string()) return std::string(value->as_string());
  if (value->is_int64()) return std::to_string(value->as_int64());
  if (value->is_uint64()) return std::to_string(value->as_uint64());
  return {};
}

}  // namespace ablo
