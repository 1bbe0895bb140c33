#pragma once
// Reading optional members of request and schema JSON.
#include <string>
#include <string_view>

#include <boost/json/object.hpp>

namespace ablo {

// The string member `key` of `object`, or `fallback` when it is absent or not a string.
inline std::string string_member(const boost::json::object& object, std::string_view key, std::string fallback = {}) {
  const auto* value = object.if_contains(key);
  return value && value->is_string() ? std::string(value->as_string()) : std::move(fallback);
}

}  // namespace ablo
