#pragma once
// Transport-neutral HTTP request/response, so routing and protocol logic stay out of the
// Beast translation unit.
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
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

// Where a streamed body goes: pieces in order; false once the connection is gone (the producer
// should stop).
using BodySink = std::function<bool(std::string_view piece)>;

struct HttpResponse {
  int status = 200;
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;  // JSON text (empty for 204/HEAD)
  // When set, the body is not in `body` but produced through the sink, on the thread that gets
  // the reply, which it may block while the socket drains (GET /api/sync/bootstrap). It returns
  // nothing when the body is complete, or the error response to send instead — which the
  // server can only do while no byte has gone out; after that it cuts the connection.
  std::function<std::optional<HttpResponse>(const BodySink& sink)> stream;
  // Whose stream it is (the tenant key): the server runs only a few streams of one owner at once
  // and queues the rest, so one tenant's stalled readers cannot hold every stream thread.
  std::string stream_owner;
};

}  // namespace ablo::net
