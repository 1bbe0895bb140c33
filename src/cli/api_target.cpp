#include "cli/api_target.h"

#include <cstdio>
#include <cstdlib>
#include <fstream>

#include <CLI/CLI.hpp>
#include <boost/json.hpp>
#include <boost/url/parse.hpp>

#include "cli/output.h"

namespace ablo::cli {

namespace json = boost::json;

void add_api_target_options(CLI::App& command, ApiTargetOptions& options) {
  command.add_option("--url", options.url, "Server URL (or ABLO_API_URL)")
      ->envname("ABLO_API_URL")
      ->capture_default_str();
  command.add_option("--host", options.host, "Server host (overrides --url's)");
  command.add_option("--port", options.port, "Server port (overrides --url's)");
  command.add_option("--key", options.key, "Secret key or capability token (or ABLO_API_KEY)")->envname("ABLO_API_KEY");
}

void load_dotenv_defaults(const std::string& path) {
  std::ifstream in(path);
  std::string line;
  while (in && std::getline(in, line)) {
    const auto equals = line.find('=');
    if (equals == std::string::npos) continue;
    const auto name = line.substr(0, equals);
    if (name != "ABLO_API_URL" && name != "ABLO_API_KEY") continue;
    setenv(name.c_str(), line.substr(equals + 1).c_str(), /*overwrite=*/0);
  }
}

bool ApiEndpoint::loopback() const { return host == "127.0.0.1" || host == "localhost" || host == "::1"; }

Status ApiEndpoint::require_key() const {
  if (!key.empty()) return {};
  return tl::unexpected(with_hint(Error("apikey_missing", "no API key given"),
                                  "set ABLO_API_KEY (`ablo init` writes one to .env) or pass --key"));
}

Result<client::HttpResponse> ApiEndpoint::call(const std::string& method, const std::string& target,
                                               const std::string& body,
                                               std::map<std::string, std::string> headers) const {
  if (!key.empty()) headers.emplace("Authorization", "Bearer " + key);
  if (!body.empty()) headers.emplace("Content-Type", "application/json");
  auto response = client::http_request(host, port, method, base_path + target, body, headers);
  if (!response) {
    return tl::unexpected(with_hint(
        response.error(),
        "is the server running at " + url() + "? start it with `ablo dev` or `ablo serve`, or set ABLO_API_URL"));
  }
  return response;
}

Result<json::object> ApiEndpoint::get_json(const std::string& target,
                                           std::map<std::string, std::string> headers) const {
  auto response = call("GET", target, {}, std::move(headers));
  if (!response) return tl::unexpected(response.error());
  if (response->status != 200) return tl::unexpected(error_of_response(*response));
  boost::system::error_code ec;
  auto parsed = json::parse(response->body, ec);
  if (ec || !parsed.is_object()) return fail("invalid_body", "GET " + target + " did not answer a JSON object");
  return std::move(parsed.as_object());
}

Result<ApiEndpoint> resolve_api_target(const ApiTargetOptions& options) {
  auto parsed = boost::urls::parse_absolute_uri(options.url);
  if (!parsed || parsed->scheme() != "http" || parsed->host().empty()) {
    return tl::unexpected(
        with_hint(Error("invalid_request", "the server URL '" + options.url + "' is not an http:// URL"),
                  "set ABLO_API_URL or --url to e.g. http://127.0.0.1:8787 (no TLS yet)"));
  }
  ApiEndpoint endpoint;
  endpoint.host = options.host.empty() ? std::string(parsed->host_address()) : options.host;
  endpoint.port = options.port != 0 ? options.port : parsed->has_port() ? parsed->port_number() : 80;
  endpoint.base_path = std::string(parsed->encoded_path());
  while (!endpoint.base_path.empty() && endpoint.base_path.back() == '/') endpoint.base_path.pop_back();
  endpoint.key = options.key;
  return endpoint;
}

Result<ApiEndpoint> resolve_api_target_with_key(const ApiTargetOptions& options) {
  auto endpoint = resolve_api_target(options);
  if (!endpoint) return endpoint;
  if (auto ok = endpoint->require_key(); !ok) return tl::unexpected(ok.error());
  return endpoint;
}

int print_api_call(const ApiTargetOptions& options, const std::string& method, const std::string& target,
                   const std::string& body) {
  auto endpoint = resolve_api_target_with_key(options);
  if (!endpoint) return print_error(endpoint.error());
  auto response = endpoint->call(method, target, body);
  if (!response) return print_error(response.error());
  if (response->status < 200 || response->status >= 300) return print_error(error_of_response(*response));
  std::printf("%s\n", response->body.c_str());
  return 0;
}

}  // namespace ablo::cli
