// The REST list's query string — starting_after cursors, limit, order, order_by, archived and
// field filters — through GET /v1/models/tasks?<input> on net::Router::handle. The first
// input byte picks the model the list names.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "fuzz_env.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  auto& env = ablo::fuzz::env();
  static constexpr std::string_view kModels[] = {"tasks", "task", "Task", "logs"};
  std::string_view query(reinterpret_cast<const char*>(data) + 1, size - 1);
  if (query.find_first_of(" \r\n#") != std::string_view::npos) return 0;  // not a request target
  ablo::net::HttpRequest request;
  request.method = "GET";
  request.target = "/v1/models/" + std::string(kModels[data[0] % 4]) + "?" + std::string(query);
  request.headers["authorization"] = "Bearer " + env.secret_key;
  request.request_id = "req_fuzz";
  env.router->handle(request, [](ablo::net::HttpResponse) {});
  return 0;
}
