#pragma once
// Data Source registration and pushes (datasource.md §0, §1.9, issue 11), secret (sk_) keys
// only, the tenant from the key:
//   POST/GET /v1/datasources, GET/DELETE /v1/datasources/{id}   an endpoint (0.49's shape):
//                                                               {endpoint|url, signingKey?,
//                                                               timeoutMs?, pollIntervalMs?}
//   POST /v1/datasource                                         0.9.1's direct PostgreSQL
//                                                               connector: {connectionString}
//   POST /api/source/events                                     a signed push of events (no
//                                                               bearer: the signature names
//                                                               the source)
// (all /v1 routes also under /api/v1). A source's host must be public unless the server allows
// private ones (byo_host_not_allowed): a key holder must not make the server reach its own
// network.
#include <optional>
#include <string>
#include <vector>

#include "auth/auth_service.h"
#include "net/http_types.h"
#include "source/service.h"

namespace ablo::net {

class SourceRoutes {
 public:
  SourceRoutes(source::SourceService* sources, bool allow_private_hosts)
      : sources_(sources), allow_private_hosts_(allow_private_hosts) {}

  // `parts` start at "v1". nullopt when the request is not one of these routes.
  std::optional<Result<HttpResponse>> route(const HttpRequest& request, const std::vector<std::string>& parts,
                                            const auth::Principal& principal) const;
  // POST /api/source/events.
  Result<HttpResponse> push(const HttpRequest& request) const;

 private:
  Result<HttpResponse> add_endpoint(const HttpRequest& request, const auth::Principal& principal) const;
  Result<HttpResponse> add_database(const HttpRequest& request, const auth::Principal& principal) const;
  Status check_host(const std::string& host) const;

  source::SourceService* sources_;  // null: the server runs without Data Source mode
  bool allow_private_hosts_;
};

// Loopback, private (RFC 1918, unique-local), link-local and unspecified literals, and
// `localhost`. Names are not resolved: a name is judged by what it is, not where it points.
bool is_private_host(const std::string& host);

}  // namespace ablo::net
