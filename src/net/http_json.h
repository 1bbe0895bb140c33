#pragma once
// Small helpers shared by the HTTP route files: JSON bodies in and out, path splitting.
#include <string>
#include <vector>

#include <boost/json/array.hpp>
#include <boost/json/object.hpp>
#include <boost/json/value.hpp>

#include "common/result.h"
#include "net/http_types.h"

namespace ablo::net {

HttpResponse json_response(int status, const boost::json::value& body);
// The body as a JSON object: invalid_json / invalid_body otherwise. An empty body is {}
// when `empty_is_object` (DELETE and claim routes send none).
Result<boost::json::object> parse_object_body(const std::string& body, bool empty_is_object = false);
std::string path_of(const std::string& target);
// "/a/b%20c/" -> {"a", "b c"}: non-empty, percent-decoded segments.
std::vector<std::string> split_path(const std::string& path);
boost::json::array string_array(const std::vector<std::string>& items);

}  // namespace ablo::net
