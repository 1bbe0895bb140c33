// HTTP requests through net::Router::handle (what server.cpp calls for every request), with
// the environment's secret key. Input: "METHOD TARGET" on the first line, the body after it.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "fuzz_env.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto& env = ablo::fuzz::env();
  std::string_view input(reinterpret_cast<const char*>(data), size);
  const auto line_end = input.find('\n');
  const std::string_view request_line = input.substr(0, line_end);
  const auto space = request_line.find(' ');
  if (space == std::string_view::npos) return 0;
  ablo::net::HttpRequest request;
  request.method = std::string(request_line.substr(0, space));
  request.target = std::string(request_line.substr(space + 1));
  if (request.target.empty() || request.target.front() != '/') return 0;
  request.body = line_end == std::string_view::npos ? std::string() : std::string(input.substr(line_end + 1));
  request.headers["authorization"] = "Bearer " + env.secret_key;
  request.headers["content-type"] = "application/json";
  request.request_id = "req_fuzz";
  env.router->handle(request, [](ablo::net::HttpResponse) {});
  return 0;
}
