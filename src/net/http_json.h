#pragma once
// Small helpers shared by the HTTP route files: JSON bodies in and out, path splitting.
#include <optional>
#include <cstdint>
#include <string_view>
#include <string>
#include <vector>

#include <boost/json/array.hpp>
#include <boost/json/object.hpp>
#include <boost/json/value.hpp>

#include "common/result.h"
#include "net/http_types.h"

namespace ablo::net {

HttpResponse json_response(int status, const boost::json::value& body);
// The bearer of an Authorization header ("Bearer x" -> "x"; empty when absent).
std::string bearer_of(const std::string& authorization);
// The body as a JSON object: invalid_json / invalid_body otherwise. An empty body is {}
// when `empty_is_object` (DELETE and claim routes send none).
Result<boost::json::object> parse_object_body(const std::string& body, bool empty_is_object = false);
std::string path_of(const std::string& target);
// "/a/b%20c/" -> {"a", "b c"}: non-empty, percent-decoded segments.
std::vector<std::string> split_path(const std::string& path);
// A query parameter of decimal digits only (no sign), at most 15 of them so it round-trips
// through a JavaScript number; nullopt otherwise.
std::optional<int64_t> parse_query_digits(std::string_view text);
// A `limit` query parameter: a positive integer, capped at `max`; invalid_request otherwise.
Result<int> parse_page_limit(std::string_view text, int max);
boost::json::array string_array(const std::vector<std::string>& items);

}  // namespace ablo::net
