#pragma once
// One outbound HTTP POST on an io_context (Beast), for webhook deliveries: a single deadline
// covers resolve, connect, TLS handshake, send and the response; the response body is read up
// to a cap; redirects are not followed (the caller sees the 3xx). https:// goes through Asio
// SSL (OpenSSL) with the certificate chain verified against the system store (plus an optional
// CA file) and the host name checked.
#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <utility>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ssl/context.hpp>
#include <memory>

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

// A TLS client context that verifies peers (system store + `extra_ca_file` when not empty);
// null with `error` set when it cannot be built.
std::unique_ptr<boost::asio::ssl::context> make_tls_client_context(const std::string& extra_ca_file,
                                                                   std::string& error);

// Starts the request; `done` is called once, on the io_context's thread (or at once for a URL
// that cannot be sent). `tls` (may be null: https fails) is used for https:// URLs.
void post_async(boost::asio::io_context& io, boost::asio::ssl::context* tls, PostRequest request,
                std::function<void(PostOutcome)> done);

}  // namespace ablo::webhooks
