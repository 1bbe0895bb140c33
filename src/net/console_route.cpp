#include "net/console_route.h"

#include <string_view>

#include "console/console.h"

namespace ablo::net {

namespace {

constexpr std::string_view kConsoleRoot = "/console";

// The page may load only its own scripts and styles and talk only to this server (HTTP and
// WebSocket); it may not be framed (clickjacking of the release/revoke buttons).
const std::vector<std::pair<std::string, std::string>>& security_headers() {
  static const std::vector<std::pair<std::string, std::string>> headers{
      {"Content-Security-Policy", "default-src 'self'; connect-src 'self' ws: wss:"},
      {"X-Frame-Options", "DENY"},
      {"X-Content-Type-Options", "nosniff"},
      {"Referrer-Policy", "no-referrer"},
  };
  return headers;
}

std::string_view trimmed(std::string_view text) {
  while (!text.empty() && (text.front() == ' ' || text.front() == '\t')) text.remove_prefix(1);
  while (!text.empty() && (text.back() == ' ' || text.back() == '\t')) text.remove_suffix(1);
  return text;
}

// If-None-Match is a list of (possibly weak) validators, or "*".
bool etag_matches(std::string_view if_none_match, std::string_view etag) {
  while (!if_none_match.empty()) {
    const auto comma = if_none_match.find(',');
    auto candidate = trimmed(if_none_match.substr(0, comma));
    if (candidate.substr(0, 2) == "W/") candidate.remove_prefix(2);
    if (candidate == etag || candidate == "*") return true;
    if (comma == std::string_view::npos) break;
    if_none_match.remove_prefix(comma + 1);
  }
  return false;
}

HttpResponse not_found() {
  HttpResponse response{404, security_headers(), "no such console file"};
  response.headers.emplace_back("Content-Type", "text/plain; charset=utf-8");
  return response;
}

}  // namespace

std::optional<HttpResponse> console_response(const HttpRequest& request, const std::string& path) {
  const std::string_view whole(path);
  if (whole.substr(0, kConsoleRoot.size()) != kConsoleRoot) return std::nullopt;
  auto file = whole.substr(kConsoleRoot.size());
  if (!file.empty() && file.front() != '/') return std::nullopt;  // /consoles is not ours
  if (request.method != "GET" && request.method != "HEAD") return std::nullopt;
  if (!file.empty()) file.remove_prefix(1);
  if (file.empty()) file = "index.html";
  const auto asset = console::find_asset(file);
  if (!asset) return not_found();
  HttpResponse response{200, security_headers(), {}};
  // no-cache: revalidate every time (cheap with the ETag), so a new binary's console is seen at once.
  response.headers.emplace_back("Cache-Control", "no-cache");
  response.headers.emplace_back("ETag", std::string(asset->etag));
  if (etag_matches(request.header("if-none-match"), asset->etag)) {
    response.status = 304;
    return response;
  }
  response.headers.emplace_back("Content-Type", std::string(asset->content_type));
  response.body.assign(asset->bytes);
  return response;
}

}  // namespace ablo::net
