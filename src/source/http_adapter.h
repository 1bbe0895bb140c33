#pragma once
// `source` mode: a customer endpoint speaking the signed Data Source contract (datasource.md
// §1.2–§1.8). Every call is one signed POST of {type: load|list|commit|events, ...} with a
// fresh webhook-id, answered within the timeout or failed:
//   network error, timeout, 5xx, 408, 429   -> source_network_error (retryable)
//   401                                     -> source_api_key_unresolved (our key was refused)
//   403                                     -> forbidden
//   other 4xx                               -> the endpoint's `error` when it is a registry code
//                                              (entity_not_found, unique_violation, ...), else
//                                              invalid_request; details.sourceError keeps it
//   2xx that does not parse                 -> invalid_request naming what is wrong
// details.httpStatus carries the status. The call blocks its (worker) thread, never a socket's.
#include <cstdint>
#include <memory>
#include <string>

#include "source/adapter.h"

namespace ablo::source {

struct HttpEndpointOptions {
  std::string url;          // http(s)://host[:port]/path
  std::string signing_key;  // the project's sk_ key: the HMAC key, as is
  int64_t timeout_ms = 10'000;
  std::string extra_ca_file;  // for https endpoints with a private CA
};

std::unique_ptr<DataAdapter> make_http_endpoint(HttpEndpointOptions options);

}  // namespace ablo::source
