#include "net/webhook_routes.h"

#include <boost/json.hpp>

#include "net/http_json.h"

namespace ablo::net {

namespace json = boost::json;

namespace {

Result<HttpResponse> answer(Result<json::object> result, int status = 200) {
  if (!result) return tl::unexpected(result.error());
  return json_response(status, *result);
}

}  // namespace

std::optional<Result<HttpResponse>> WebhookRoutes::route(const HttpRequest& request,
                                                         const std::vector<std::string>& parts,
                                                         const auth::Principal& principal) const {
  if (parts.size() < 2 || parts[0] != "v1" || parts[1] != "webhook_endpoints") return std::nullopt;
  if (!registry_) return Result<HttpResponse>(fail("entity_not_found", "webhooks are not enabled on this server"));
  if (!principal.secret_key) {
    return Result<HttpResponse>(fail("forbidden", "webhook endpoints are managed with a secret (sk_) key"));
  }
  const auto& method = request.method;
  const auto& tenant = principal.tenant;
  if (parts.size() == 2) {
    if (method == "GET") return answer(registry_->list(tenant));
    if (method == "POST") {
      auto body = parse_object_body(request.body);
      if (!body) return Result<HttpResponse>(tl::unexpected(body.error()));
      return answer(registry_->create(tenant, *body), 201);
    }
    return std::nullopt;
  }
  const auto& id = parts[2];
  if (parts.size() == 3) {
    if (method == "GET") return answer(registry_->get(tenant, id));
    if (method == "DELETE") return answer(registry_->remove(tenant, id));
    return std::nullopt;
  }
  if (parts.size() == 4 && method == "POST") {
    if (parts[3] == "roll_secret") return answer(registry_->roll_secret(tenant, id));
    if (parts[3] == "enable") return answer(registry_->set_enabled(tenant, id, true));
    if (parts[3] == "disable") return answer(registry_->set_enabled(tenant, id, false));
  }
  return std::nullopt;
}

}  // namespace ablo::net
