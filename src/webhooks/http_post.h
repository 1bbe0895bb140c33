#pragma once
// One outbound HTTP POST on an io_context (Beast), for webhook deliveries: a single deadline
// covers resolve, connect, send and the response; the response body is read up to a cap;
// redirects are not followed (the caller sees the 3xx).
#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <utility>
#include <vector>

#include <boost/asio/io_context.hpp>

namespace ablo::webhooks {

struct PostOutcome {
  int status = 0;        // HTTP status; 0 when no response was read
  std::string error;     // empty on a response (of any status)
  std::string location;  // Location header of a 3xx
  std::string body;      // the first max_response_bytes of the body
};

struct PostRequest {
  std::string url;  // http://host[:port]/path?query
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
  int64_t timeout_ms = 10'000;
  std::size_t max_response_bytes = 64 * 1024;
};

// Starts the request; `done` is called once, on the io_context's thread.
void post_async(boost::asio::io_context& io, PostRequest request, std::function<void(PostOutcome)> done);

}  // namespace ablo::webhooks
