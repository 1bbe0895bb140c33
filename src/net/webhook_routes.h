#pragma once
// Webhook endpoint registration (datasource.md §4.5), secret (sk_) keys only, the tenant from
// the key: POST/GET /v1/webhook_endpoints, GET/DELETE /v1/webhook_endpoints/{id},
// POST /v1/webhook_endpoints/{id}/roll_secret|enable|disable (also under /api/v1).
#include <optional>
#include <string>
#include <vector>

#include "auth/auth_service.h"
#include "net/http_types.h"
#include "webhooks/registry.h"

namespace ablo::net {

class WebhookRoutes {
 public:
  explicit WebhookRoutes(webhooks::Registry* registry) : registry_(registry) {}

  // `parts` start at "v1". nullopt when the request is not one of these routes.
  std::optional<Result<HttpResponse>> route(const HttpRequest& request, const std::vector<std::string>& parts,
                                            const auth::Principal& principal) const;

 private:
  webhooks::Registry* registry_;  // null: the server runs without webhooks
};

}  // namespace ablo::net
