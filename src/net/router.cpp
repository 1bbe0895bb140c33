#include "net/router.h"

#include <boost/json.hpp>
#include <boost/url/parse.hpp>
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "common/random.h"
#include "common/time.h"
#include "errors/registry.h"
#include "schema/sync_groups.h"

namespace ablo::net {

namespace json = boost::json;

namespace {

HttpResponse json_response(int status, const json::value& body) { return HttpResponse{status, {}, json::serialize(body)}; }

Result<json::object> parse_object_body(const std::string& body) {
  boost::system::error_code ec;
  json::value parsed = json::parse(body, ec);
  if (ec) return fail("invalid_json", fmt::format("the request body is not valid JSON: {}", ec.message()));
  if (!parsed.is_object()) return fail("invalid_body", "the request body must be a JSON object");
  return std::move(parsed.as_object());
}

std::string path_of(const std::string& target) { return target.substr(0, target.find('?')); }

std::vector<std::string> split_path(const std::string& path) {
  std::vector<std::string> parts;
  std::size_t start = 1;
  while (start <= path.size()) {
    const auto end = path.find('/', start);
    const auto part = path.substr(start, end == std::string::npos ? std::string::npos : end - start);
    if (!part.empty()) parts.push_back(part);
    if (end == std::string::npos) break;
    start = end + 1;
  }
  return parts;
}

json::array string_array(const std::vector<std::string>& items) {
  json::array out;
  for (const auto& item : items) out.emplace_back(item);
  return out;
}

}  // namespace

std::string request_id_for(const std::string& client_value) {
  const bool sane = !client_value.empty() && client_value.size() <= 128 &&
                    std::all_of(client_value.begin(), client_value.end(), [](char c) {
                      return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-' || c == '.' || c == ':';
                    });
  return sane ? client_value : random_id("req", 24);
}

std::string bearer_of(const std::string& authorization) {
  constexpr std::string_view kPrefix = "Bearer ";
  if (authorization.size() > kPrefix.size() &&
      std::equal(kPrefix.begin(), kPrefix.end(), authorization.begin(),
                 [](char a, char b) { return std::tolower(a) == std::tolower(b); })) {
    auto token = authorization.substr(kPrefix.size());
    while (!token.empty() && token.front() == ' ') token.erase(0, 1);
    while (!token.empty() && token.back() == ' ') token.pop_back();
    return token;
  }
  return {};
}

std::vector<std::string> query_values(const std::string& target, const std::string& name) {
  std::vector<std::string> values;
  auto url = boost::urls::parse_origin_form(target);
  if (!url) return values;
  for (const auto& param : url->params()) {
    if (param.key == name && param.has_value) values.emplace_back(param.value);
  }
  return values;
}

HttpResponse error_response(const Error& error, const std::string& request_id) {
  HttpResponse response = json_response(errors::http_status(error.code), errors::envelope(error, request_id));
  if (response.status == 401 || response.status == 403) response.headers.emplace_back("X-Auth-Failure", error.code);
  return response;
}

Router::Router(engine::Engine& engine, auth::AuthService& auth) : engine_(engine), auth_(auth) {}

HttpResponse Router::handle(const HttpRequest& request) const {
  auto routed = route(request);
  if (!routed) {
    if (errors::http_status(routed.error().code) >= 500) {
      spdlog::error("{} {} failed: {} {}", request.method, request.target, routed.error().code, routed.error().message);
    }
    return error_response(routed.error(), request.request_id);
  }
  return std::move(*routed);
}

Result<auth::Principal> Router::authenticate(const HttpRequest& request) const {
  return auth_.authenticate(bearer_of(request.header("authorization")));
}

Result<HttpResponse> Router::route(const HttpRequest& request) const {
  const std::string path = path_of(request.target);
  const auto& method = request.method;

  if (path == "/api/health" && (method == "GET" || method == "HEAD")) {
    return json_response(200, json::object{{"status", "healthy"}});
  }
  if (path == "/api/auth/check" && (method == "HEAD" || method == "GET")) {
    auto principal = authenticate(request);
    if (!principal) return tl::unexpected(principal.error());
    return HttpResponse{204, {}, {}};
  }
  if (path == "/api/v1/datasource" && method == "POST") {
    // Data Source mode is a later feature; 0.9.1's ready() fails on any non-2xx here (§2.8).
    auto principal = authenticate(request);
    if (!principal) return tl::unexpected(principal.error());
    return json_response(200, json::object{{"object", "datasource"}, {"registered", false},
                                           {"message", "Data Source mode is not enabled on this server"}});
  }

  auto principal = authenticate(request);
  if (!principal) return tl::unexpected(principal.error());
  const auto groups_for = [&](const std::vector<std::string>& requested) {
    return schema::narrow_groups(requested, principal->allowed_groups);
  };

  if (path == "/api/auth/capability" && method == "POST") {
    auto body = parse_object_body(request.body.empty() ? "{}" : request.body);
    if (!body) return tl::unexpected(body.error());
    auto exchange = auth::parse_exchange_request(*body);
    if (!exchange) return tl::unexpected(exchange.error());
    auto minted = auth_.exchange(*principal, *exchange);
    if (!minted) return tl::unexpected(minted.error());
    const auto& c = minted->record;
    json::object scope{{"organizationId", c.org},
                       {"syncGroups", string_array(c.sync_groups)},
                       {"operations", string_array(c.operations)},
                       {"participantKind", c.participant_kind},
                       {"participantId", c.participant_id}};
    return json_response(200, json::object{{"capabilityId", c.id},
                                           {"token", minted->token},
                                           {"expiresAt", iso8601_from_ms(c.expires_at_ms)},
                                           {"organizationId", c.org},
                                           {"scope", std::move(scope)},
                                           {"userMeta", c.user_meta}});
  }
  if (path == "/api/auth/identity" && method == "GET") {
    return json_response(200, json::object{{"participantKind", principal->participant_kind},
                                           {"participantId", principal->participant_id},
                                           {"accountScope", principal->tenant.org},
                                           {"organizationId", principal->tenant.org},
                                           {"syncGroups", string_array(principal->allowed_groups)},
                                           {"userMeta", json::object{}}});
  }
  if (path == "/api/sync/bootstrap" && method == "GET") {
    std::vector<std::string> models;
    for (const auto& list : query_values(request.target, "models")) {
      std::size_t start = 0;
      while (start <= list.size()) {
        const auto comma = list.find(',', start);
        auto name = list.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
        if (!name.empty()) models.push_back(std::move(name));
        if (comma == std::string::npos) break;
        start = comma + 1;
      }
    }
    auto body = engine_.bootstrap(*principal, groups_for(query_values(request.target, "syncGroups")), models);
    if (!body) return tl::unexpected(body.error());
    return json_response(200, *body);
  }
  if (path == "/api/sync/query" && method == "POST") {
    auto body = parse_object_body(request.body);
    if (!body) return tl::unexpected(body.error());
    auto result = engine_.query(*principal, groups_for({}), *body);
    if (!result) return tl::unexpected(result.error());
    return json_response(200, *result);
  }
  const auto parts = split_path(path);
  if (parts.size() == 5 && parts[0] == "api" && parts[1] == "sync" && parts[2] == "entity" && method == "GET") {
    auto row = engine_.entity(*principal, groups_for({}), parts[3], parts[4]);
    if (!row) return tl::unexpected(row.error());
    return json_response(200, *row);
  }
  if (path == "/api/schema" && method == "POST") {
    if (!principal->secret_key) return fail("forbidden", "pushing a schema needs a secret (sk_) key");
    auto body = parse_object_body(request.body);
    if (!body) return tl::unexpected(body.error());
    // The CLI wraps the schema as {schema, force, renames, backfills}; a bare envelope works too.
    const json::value schema_json = body->contains("schema") ? body->at("schema") : json::value(*body);
    auto version = engine_.push_schema(schema_json);
    if (!version) return tl::unexpected(version.error());
    auto schema = engine_.schema();
    return json_response(200, json::object{{"version", *version}, {"hash", schema->hash()}, {"active", true}});
  }
  if (path == "/api/schema" && method == "GET") {
    auto active = engine_.active_schema_version();
    if (!active) return tl::unexpected(active.error());
    auto schema = engine_.schema();
    json::array models;
    for (const auto& model : schema->models()) models.push_back(json::object{{"key", model.key}, {"typename", model.typename_}});
    boost::system::error_code ec;
    json::value active_json = *active ? json::parse((*active)->json_text, ec) : json::value(nullptr);
    return json_response(200, json::object{{"active", std::move(active_json)},
                                           {"version", *active ? (*active)->version : 0},
                                           {"hash", *active ? json::value((*active)->hash) : json::value(nullptr)},
                                           {"models", std::move(models)}});
  }
  return fail("route_not_found", fmt::format("no route for {} {}", method, path));
}

}  // namespace ablo::net
