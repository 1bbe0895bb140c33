#include "net/source_routes.h"

#include <boost/asio/ip/address.hpp>
#include <boost/json.hpp>
#include <boost/url/parse.hpp>
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "common/json_number.h"
#include "net/http_json.h"

namespace ablo::net {

namespace json = boost::json;

namespace {

constexpr int64_t kMinTimeoutMs = 100;
constexpr int64_t kMaxTimeoutMs = 60'000;
constexpr int64_t kMinPollMs = 100;
constexpr int64_t kMaxPollMs = 3'600'000;

Result<HttpResponse> view_response(const Result<source::SourceView>& view, int status) {
  if (!view) return tl::unexpected(view.error());
  return json_response(status, view->to_json());
}

Result<int64_t> bounded_ms(const json::object& body, std::string_view key, int64_t fallback, int64_t min, int64_t max) {
  const auto* value = body.if_contains(key);
  if (!value) return fallback;
  auto number = exact_int64_in(*value, min, max);
  if (!number) return fail("invalid_request", fmt::format("{} is a whole number of milliseconds in [{}, {}]", key, min, max), std::string(key));
  return *number;
}

std::string text_member(const json::object& body, std::string_view key) {
  const auto* value = body.if_contains(key);
  return value && value->is_string() ? std::string(value->as_string()) : std::string();
}

}  // namespace

bool is_private_host(const std::string& host) {
  std::string bare = host;
  if (bare.size() > 2 && bare.front() == '[' && bare.back() == ']') bare = bare.substr(1, bare.size() - 2);
  if (bare == "localhost" || bare.ends_with(".localhost")) return true;
  boost::system::error_code ec;
  const auto address = boost::asio::ip::make_address(bare, ec);
  if (ec) return false;
  if (address.is_loopback() || address.is_unspecified()) return true;
  if (address.is_v4()) {
    const auto bytes = address.to_v4().to_bytes();
    return bytes[0] == 10 || (bytes[0] == 172 && (bytes[1] & 0xF0) == 16) || (bytes[0] == 192 && bytes[1] == 168) ||
           (bytes[0] == 169 && bytes[1] == 254) || bytes[0] == 0;
  }
  const auto v6 = address.to_v6();
  if (v6.is_link_local() || v6.is_v4_mapped()) return true;
  return (v6.to_bytes()[0] & 0xFE) == 0xFC;  // fc00::/7 unique local
}

Status SourceRoutes::check_host(const std::string& host) const {
  if (allow_private_hosts_ || !is_private_host(host)) return {};
  return fail("byo_host_not_allowed",
              fmt::format("'{}' is a loopback, private or link-local address; this server does not reach those "
                          "(ablo serve --allow-private-sources allows them)",
                          host));
}

std::optional<Result<HttpResponse>> SourceRoutes::route(const HttpRequest& request, const std::vector<std::string>& parts,
                                                        const auth::Principal& principal) const {
  if (parts.size() < 2 || parts[0] != "v1" || (parts[1] != "datasources" && parts[1] != "datasource")) return std::nullopt;
  if (!sources_) {
    // 0.9.1's ready() fails on any non-2xx from the direct connector's route (protocol.md §2.8).
    if (parts[1] == "datasource") {
      return Result<HttpResponse>(json_response(200, json::object{{"object", "datasource"}, {"registered", false},
                                                                  {"message", "Data Source mode is not enabled on this server"}}));
    }
    return Result<HttpResponse>(fail("provisioner_unavailable", "Data Source mode is not enabled on this server"));
  }
  if (!principal.secret_key) {
    return Result<HttpResponse>(fail("forbidden", "data sources are managed with a secret (sk_) key"));
  }
  const auto& method = request.method;
  if (parts[1] == "datasource") {
    if (parts.size() == 2 && method == "POST") return add_database(request, principal);
    return std::nullopt;
  }
  if (parts.size() == 2) {
    if (method == "POST") return add_endpoint(request, principal);
    if (method == "GET") {
      json::array data;
      for (const auto& view : sources_->list(principal.tenant)) data.emplace_back(view.to_json());
      return Result<HttpResponse>(json_response(200, json::object{{"object", "list"}, {"data", std::move(data)}}));
    }
    return std::nullopt;
  }
  if (parts.size() != 3) return std::nullopt;
  const auto& id = parts[2];
  if (method == "GET") {
    auto view = sources_->find(principal.tenant, id);
    if (!view) return Result<HttpResponse>(fail("invalid_request", fmt::format("no data source '{}'", id), "id"));
    return Result<HttpResponse>(json_response(200, view->to_json()));
  }
  if (method == "DELETE") {
    if (auto ok = sources_->remove(principal.tenant, id); !ok) return Result<HttpResponse>(tl::unexpected(ok.error()));
    return Result<HttpResponse>(json_response(200, json::object{{"object", "datasource"}, {"id", id}, {"deleted", true}}));
  }
  return std::nullopt;
}

Result<HttpResponse> SourceRoutes::add_endpoint(const HttpRequest& request, const auth::Principal& principal) const {
  auto body = parse_object_body(request.body);
  if (!body) return tl::unexpected(body.error());
  std::string url = text_member(*body, "endpoint");
  if (url.empty()) url = text_member(*body, "url");
  auto parsed = boost::urls::parse_absolute_uri(url);
  if (url.empty() || !parsed || (parsed->scheme() != "http" && parsed->scheme() != "https") || parsed->host().empty()) {
    return fail("invalid_request", "endpoint is the http(s) URL of the data source route", "endpoint");
  }
  if (auto ok = check_host(std::string(parsed->host())); !ok) return tl::unexpected(ok.error());
  source::SourceConfig config;
  config.tenant = principal.tenant;
  config.mode = source::Mode::kSource;
  config.url = url;
  // The contract signs with the project's secret key: the one registering it, unless another is named.
  config.signing_key = text_member(*body, "signingKey");
  if (config.signing_key.empty()) config.signing_key = bearer_of(request.header("authorization"));
  if (!config.signing_key.starts_with("sk_")) {
    return fail("invalid_request", "signingKey is the project's secret (sk_) key", "signingKey");
  }
  auto timeout = bounded_ms(*body, "timeoutMs", config.timeout_ms, kMinTimeoutMs, kMaxTimeoutMs);
  if (!timeout) return tl::unexpected(timeout.error());
  auto poll = bounded_ms(*body, "pollIntervalMs", config.poll_interval_ms, kMinPollMs, kMaxPollMs);
  if (!poll) return tl::unexpected(poll.error());
  config.timeout_ms = *timeout;
  config.poll_interval_ms = *poll;
  return view_response(sources_->add(std::move(config)), 201);
}

// 0.9.1's registerDataSource: sent by every ready() of a client that has DATABASE_URL set, so
// registering the same database again answers the registration there is.
Result<HttpResponse> SourceRoutes::add_database(const HttpRequest& request, const auth::Principal& principal) const {
  auto body = parse_object_body(request.body);
  if (!body) return tl::unexpected(body.error());
  const std::string url = text_member(*body, "connectionString");
  auto parsed = boost::urls::parse_absolute_uri(url);
  if (!parsed || (parsed->scheme() != "postgres" && parsed->scheme() != "postgresql")) {
    return fail("invalid_request", "connectionString is a postgres:// URL", "connectionString");
  }
  const std::string host = parsed->host().empty() ? std::string("localhost") : std::string(parsed->host());
  if (auto ok = check_host(host); !ok) {
    // 2xx all the same: a quickstart whose environment happens to hold a local DATABASE_URL
    // must still start; the answer and the log say why nothing was registered.
    spdlog::warn("{}", ok.error().message);
    return json_response(200, json::object{{"object", "datasource"}, {"registered", false},
                                           {"code", ok.error().code}, {"message", ok.error().message}});
  }
  std::string database(parsed->path());
  if (!database.empty() && database.front() == '/') database.erase(0, 1);
  const std::string pg_schema = text_member(*body, "schema").empty() ? "public" : text_member(*body, "schema");
  auto safe = [&](json::object view) {
    view["host"] = host;
    view["database"] = database;
    view["schema"] = pg_schema;
    return view;
  };
  for (const auto& existing : sources_->list(principal.tenant)) {
    if (existing.config.mode == source::Mode::kSelfHosted && existing.config.url == url) {
      return json_response(200, safe(existing.to_json()));
    }
  }
  source::SourceConfig config;
  config.tenant = principal.tenant;
  config.mode = source::Mode::kSelfHosted;
  config.url = url;
  auto added = sources_->add(std::move(config));
  if (!added) return tl::unexpected(added.error());
  return json_response(201, safe(added->to_json()));
}

Result<HttpResponse> SourceRoutes::push(const HttpRequest& request) const {
  if (!sources_) return fail("provisioner_unavailable", "Data Source mode is not enabled on this server");
  source::PushRequest push{request.header("webhook-id"), request.header("webhook-timestamp"),
                           request.header("webhook-signature"), request.body};
  auto pushed = sources_->ingest_push(push);
  if (!pushed) return tl::unexpected(pushed.error());
  return json_response(200, json::object{{"object", "source_events"},
                                         {"source", pushed->source_id},
                                         {"accepted", pushed->accepted},
                                         {"skipped", pushed->skipped},
                                         {"rejected", pushed->rejected}});
}

}  // namespace ablo::net
