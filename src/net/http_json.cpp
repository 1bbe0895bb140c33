#include "net/http_json.h"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <boost/json.hpp>
#include <boost/url/pct_string_view.hpp>
#include <fmt/format.h>

namespace ablo::net {

namespace json = boost::json;

HttpResponse json_response(int status, const json::value& body) { return HttpResponse{status, {}, json::serialize(body)}; }

Result<json::object> parse_object_body(const std::string& body, bool empty_is_object) {
  if (empty_is_object && body.find_first_not_of(" \t\r\n") == std::string::npos) return json::object{};
  boost::system::error_code ec;
  json::value parsed = json::parse(body, ec);
  if (ec) return fail("invalid_json", fmt::format("the request body is not valid JSON: {}", ec.message()));
  if (!parsed.is_object()) return fail("invalid_body", "the request body must be a JSON object");
  return std::move(parsed.as_object());
}

std::string path_of(const std::string& target) { return target.substr(0, target.find('?')); }

std::optional<int64_t> parse_query_digits(std::string_view text) {
  int64_t value = 0;
  if (text.empty() || text.size() > 15) return std::nullopt;  // beyond 2^53 a cursor cannot round-trip
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || end != text.data() + text.size()) return std::nullopt;
  return value;
}

Result<int> parse_page_limit(std::string_view text, int max) {
  const auto limit = parse_query_digits(text);
  if (!limit || *limit < 1) return fail("invalid_request", "limit must be a positive integer", "limit");
  return static_cast<int>(std::min<int64_t>(*limit, max));
}

std::vector<std::string> split_path(const std::string& path) {
  std::vector<std::string> parts;
  std::size_t start = 1;
  while (start <= path.size()) {
    const auto end = path.find('/', start);
    const auto part = path.substr(start, end == std::string::npos ? std::string::npos : end - start);
    if (!part.empty()) {
      auto encoded = boost::urls::make_pct_string_view(part);
      parts.push_back(encoded ? encoded->decode() : part);
    }
    if (end == std::string::npos) break;
    start = end + 1;
  }
  return parts;
}

json::array string_array(const std::vector<std::string>& items) {
  json::array out;
  for (const auto& item : items) out.emplace_back(item);
  return out;
}

std::string bearer_of(const std::string& authorization) {
  constexpr std::string_view kPrefix = "Bearer ";
  if (authorization.size() > kPrefix.size() &&
      std::equal(kPrefix.begin(), kPrefix.end(), authorization.begin(),
                 [](char a, char b) { return std::tolower(a) == std::tolower(b); })) {
    auto token = authorization.substr(kPrefix.size());
    while (!token.empty() && token.front() == ' ') token.erase(0, 1);
    while (!token.empty() && token.back() == ' ') token.pop_back();
    return token;
  }
  return {};
}


}  // namespace ablo::net
