#pragma once
// The one way every client command finds its server and key: --url (or ABLO_API_URL, default
// http://127.0.0.1:8787), --host/--port overriding the URL's parts (older scripts use them),
// and --key (or ABLO_API_KEY). A `.env` in the working directory (as `ablo init` writes it)
// supplies ABLO_API_URL / ABLO_API_KEY when the environment does not.
#include <cstdint>
#include <map>
#include <string>

#include "client/transport.h"
#include "common/result.h"

namespace CLI {
class App;
}

namespace ablo::cli {

inline constexpr const char* kDefaultApiUrl = "http://127.0.0.1:8787";

struct ApiTargetOptions {
  std::string url = kDefaultApiUrl;
  std::string host;   // overrides the URL's host when set
  uint16_t port = 0;  // overrides the URL's port when non-zero
  std::string key;
};

// Adds --url, --host, --port and --key to `command`.
void add_api_target_options(CLI::App& command, ApiTargetOptions& options);

// Copies ABLO_API_URL and ABLO_API_KEY from ./.env into the environment where unset (call
// before parsing, so the options' env fallbacks see them).
void load_dotenv_defaults(const std::string& path = ".env");

struct ApiEndpoint {
  std::string host;
  uint16_t port = 80;
  std::string base_path;  // the URL's path without a trailing '/' (a server behind a path prefix)
  std::string key;        // may be empty: see require_key
  std::string url() const { return "http://" + host + ":" + std::to_string(port) + base_path; }
  bool loopback() const;
  // apikey_missing (with a hint) when no key was given.
  Status require_key() const;
  // One request to base_path + `target`, with the key as bearer (when there is one).
  Result<client::HttpResponse> call(const std::string& method, const std::string& target, const std::string& body = {},
                                    std::map<std::string, std::string> headers = {}) const;
  // A GET whose 200 answer is a JSON object; any other answer is its error.
  Result<boost::json::object> get_json(const std::string& target,
                                       std::map<std::string, std::string> headers = {}) const;
};

Result<ApiEndpoint> resolve_api_target(const ApiTargetOptions& options);
// The same, failing with apikey_missing (and its hint) when no key was given.
Result<ApiEndpoint> resolve_api_target_with_key(const ApiTargetOptions& options);
// One call of the REST API (`target` below the base path, e.g. "/v1/datasources"): a 2xx answer
// is printed as it is; anything else is the one error line. Returns the exit status.
int print_api_call(const ApiTargetOptions& options, const std::string& method, const std::string& target,
                   const std::string& body = {});

}  // namespace ablo::cli
