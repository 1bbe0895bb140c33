#pragma once
// Transport-neutral HTTP request/response, so routing and protocol logic stay out of the
// Beast translation unit.
#include <map>
#include <string>
#include <utility>
#include <vector>

namespace ablo::net {

struct HttpRequest {
  std::string method;  // upper case
  std::string target;  // path + query as received
  std::map<std::string, std::string> headers;  // lowercase names
  std::string body;
  std::string request_id;  // honoured x-request-id or a fresh req_…

  std::string header(const std::string& name) const {
    auto it = headers.find(name);
    return it == headers.end() ? std::string() : it->second;
  }
};

struct HttpResponse {
  int status = 200;
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;  // JSON text (empty for 204/HEAD)
};

}  // namespace ablo::net
