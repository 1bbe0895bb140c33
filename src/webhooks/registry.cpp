#include "webhooks/registry.h"

#include <arpa/inet.h>
#include <ifaddrs.h>
#include <netdb.h>
#include <sys/socket.h>

#include <algorithm>
#include <set>

#include <boost/json.hpp>
#include <boost/url/parse.hpp>
#include <fmt/format.h>

#include "common/random.h"
#include "common/time.h"
#include "webhooks/events.h"
#include "webhooks/signing.h"

namespace ablo::webhooks {

namespace json = boost::json;

namespace {

// Ports of well-known services that do not speak HTTP: a URL at one of them is a mistake (or
// an attempt to make the server talk to a mail or database server), refused at registration.
constexpr uint16_t kNonHttpPorts[] = {21, 22, 23, 25, 53, 110, 111, 143, 465, 587, 993, 995, 2049,
                                      3306, 5432, 6379, 11211, 27017};

// Every address of this machine's interfaces, as text.
std::set<std::string> own_addresses() {
  std::set<std::string> addresses;
  ifaddrs* list = nullptr;
  if (getifaddrs(&list) != 0) return addresses;
  for (auto* entry = list; entry; entry = entry->ifa_next) {
    if (!entry->ifa_addr) continue;
    char text[INET6_ADDRSTRLEN] = {};
    if (entry->ifa_addr->sa_family == AF_INET) {
      inet_ntop(AF_INET, &reinterpret_cast<sockaddr_in*>(entry->ifa_addr)->sin_addr, text, sizeof text);
    } else if (entry->ifa_addr->sa_family == AF_INET6) {
      inet_ntop(AF_INET6, &reinterpret_cast<sockaddr_in6*>(entry->ifa_addr)->sin6_addr, text, sizeof text);
    } else {
      continue;
    }
    addresses.insert(text);
  }
  freeifaddrs(list);
  return addresses;
}

// The addresses a host name resolves to (empty when it does not resolve).
std::vector<std::string> resolve_host(const std::string& host) {
  std::vector<std::string> addresses;
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* result = nullptr;
  if (getaddrinfo(host.c_str(), nullptr, &hints, &result) != 0) return addresses;
  for (auto* entry = result; entry; entry = entry->ai_next) {
    char text[INET6_ADDRSTRLEN] = {};
    if (entry->ai_family == AF_INET) {
      inet_ntop(AF_INET, &reinterpret_cast<sockaddr_in*>(entry->ai_addr)->sin_addr, text, sizeof text);
    } else if (entry->ai_family == AF_INET6) {
      inet_ntop(AF_INET6, &reinterpret_cast<sockaddr_in6*>(entry->ai_addr)->sin6_addr, text, sizeof text);
    } else {
      continue;
    }
    addresses.emplace_back(text);
  }
  freeaddrinfo(result);
  return addresses;
}

bool is_local_address(const std::string& address, const std::set<std::string>& own) {
  return address.starts_with("127.") || address == "::1" || address == "0.0.0.0" || address == "::" ||
         address.starts_with("::ffff:127.") || own.count(address) > 0;
}

std::vector<std::string> strings_of(const json::value& value) {
  std::vector<std::string> out;
  for (const auto& item : value.as_array()) out.emplace_back(item.as_string());
  return out;
}

std::string last4(const std::string& secret) { return secret.size() >= 4 ? secret.substr(secret.size() - 4) : secret; }

json::value ms_or_null(int64_t ms) { return ms > 0 ? json::value(iso8601_from_ms(ms)) : json::value(nullptr); }
json::value text_or_null(const std::string& text) { return text.empty() ? json::value(nullptr) : json::value(text); }

}  // namespace

std::optional<std::string> refused_url_reason(std::string_view url_text, uint16_t own_port) {
  if (url_text.size() > 2048) return "the url is longer than 2048 characters";
  auto parsed = boost::urls::parse_absolute_uri(url_text);
  if (!parsed) return "the url is not an absolute URL";
  const auto scheme = parsed->scheme();
  if (scheme != "http" && scheme != "https") return "the url must be http:// or https://, not " + std::string(scheme) + ":";
  if (parsed->has_userinfo()) return "the url must not carry a user name or password";
  std::string host = parsed->host_address();
  if (host.empty()) return "the url has no host";
  if (host.starts_with('[') && host.ends_with(']')) host = host.substr(1, host.size() - 2);
  uint16_t port = scheme == "https" ? 443 : 80;
  if (parsed->has_port()) {
    if (parsed->port_number() == 0) return "the url's port is not a port number";
    port = parsed->port_number();
  }
  if (std::find(std::begin(kNonHttpPorts), std::end(kNonHttpPorts), port) != std::end(kNonHttpPorts)) {
    return fmt::format("port {} belongs to a service that does not speak HTTP", port);
  }
  if (own_port != 0 && port == own_port) {
    const auto own = own_addresses();
    auto addresses = host == "localhost" ? std::vector<std::string>{"127.0.0.1"} : resolve_host(host);
    for (const auto& address : addresses) {
      if (is_local_address(address, own)) return "the url points at this server itself";
    }
  }
  return std::nullopt;
}

Registry::Registry(store::Store& store, RegistryOptions options) : store_(store), options_(options) {}

void Registry::set_own_port(uint16_t port) { own_port_.store(port); }

Result<json::object> Registry::create(const store::Tenant& tenant, const json::object& body) const {
  const auto* url = body.if_contains("url");
  if (!url || !url->is_string()) return fail("invalid_request", "url is required (a string)", "url");
  if (auto why = refused_url_reason(url->as_string(), own_port_.load())) {
    return fail("invalid_request", "cannot register this url: " + *why, "url");
  }
  std::vector<std::string> events{"*"};
  if (const auto* given = body.if_contains("enabledEvents"); given && !given->is_null()) {
    const bool strings = given->is_array() && std::all_of(given->as_array().begin(), given->as_array().end(),
                                                          [](const json::value& v) { return v.is_string(); });
    if (!strings) return fail("invalid_request", "enabledEvents must be an array of strings", "enabledEvents");
    events = strings_of(*given);
  }
  if (auto ok = validate_enabled_events(events); !ok) return tl::unexpected(ok.error());
  std::string description;
  if (const auto* given = body.if_contains("description"); given && !given->is_null()) {
    if (!given->is_string() || given->as_string().size() > 1000) {
      return fail("invalid_request", "description must be a string of at most 1000 characters", "description");
    }
    description = given->as_string();
  }
  auto existing = store_.list_webhook_endpoints(tenant.key());
  if (!existing) return tl::unexpected(existing.error());
  if (static_cast<int>(existing->size()) >= options_.max_endpoints_per_tenant) {
    return fail("invalid_request", fmt::format("at most {} webhook endpoints per environment", options_.max_endpoints_per_tenant));
  }
  // A new endpoint starts at the current head: it receives what is committed from now on.
  auto head = store_.head_sync_id();
  if (!head) return tl::unexpected(head.error());
  store::WebhookEndpointRecord e;
  e.id = random_id("we", 24);
  e.tenant = tenant.key();
  e.url = url->as_string();
  e.enabled_events = std::move(events);
  e.description = std::move(description);
  e.secret = new_secret();
  e.cursor = *head;
  e.created_at_ms = now_ms();
  if (auto put = store_.put_webhook_endpoint(e); !put) return tl::unexpected(put.error());
  notify();
  auto out = endpoint_json(tenant, e);
  out["secret"] = e.secret;
  return out;
}

Result<json::object> Registry::list(const store::Tenant& tenant) const {
  auto endpoints = store_.list_webhook_endpoints(tenant.key());
  if (!endpoints) return tl::unexpected(endpoints.error());
  json::array data;
  for (const auto& e : *endpoints) data.push_back(endpoint_json(tenant, e));
  return json::object{{"object", "list"}, {"data", std::move(data)}};
}

Result<json::object> Registry::get(const store::Tenant& tenant, const std::string& id) const {
  auto e = find(tenant, id);
  if (!e) return tl::unexpected(e.error());
  return endpoint_json(tenant, *e);
}

Result<json::object> Registry::remove(const store::Tenant& tenant, const std::string& id) const {
  auto removed = store_.delete_webhook_endpoint(tenant.key(), id);
  if (!removed) return tl::unexpected(removed.error());
  if (!*removed) return fail("entity_not_found", "no webhook endpoint " + id, "id");
  return json::object{{"object", "webhook_endpoint"}, {"id", id}, {"deleted", true}};
}

Result<json::object> Registry::roll_secret(const store::Tenant& tenant, const std::string& id) const {
  auto e = find(tenant, id);
  if (!e) return tl::unexpected(e.error());
  e->previous_secret = e->secret;
  e->previous_secret_expires_at_ms = now_ms() + options_.roll_grace_ms;
  e->secret = new_secret();
  auto updated = store_.update_webhook_endpoint_settings(*e);
  if (!updated) return tl::unexpected(updated.error());
  if (!*updated) return fail("entity_not_found", "no webhook endpoint " + id, "id");
  notify();
  auto out = endpoint_json(tenant, *e);
  out["secret"] = e->secret;
  out["previous_secret_expires_at"] = iso8601_from_ms(e->previous_secret_expires_at_ms);
  return out;
}

Result<json::object> Registry::set_enabled(const store::Tenant& tenant, const std::string& id, bool enabled) const {
  auto e = find(tenant, id);
  if (!e) return tl::unexpected(e.error());
  e->enabled = enabled;
  if (enabled) {
    // Resumes from the cursor with a fresh retry budget, at once.
    e->disabled_reason.clear();
    e->retry_count = 0;
    e->next_attempt_at_ms = 0;
  } else {
    e->disabled_reason = "disabled by request";
  }
  auto updated = store_.update_webhook_endpoint_settings(*e);
  if (!updated) return tl::unexpected(updated.error());
  if (!*updated) return fail("entity_not_found", "no webhook endpoint " + id, "id");
  notify();
  return endpoint_json(tenant, *e);
}

Result<store::WebhookEndpointRecord> Registry::find(const store::Tenant& tenant, const std::string& id) const {
  auto e = store_.find_webhook_endpoint(tenant.key(), id);
  if (!e) return tl::unexpected(e.error());
  if (!*e) return fail("entity_not_found", "no webhook endpoint " + id, "id");
  return std::move(**e);
}

json::object Registry::endpoint_json(const store::Tenant& tenant, const store::WebhookEndpointRecord& e) const {
  // lag: the tenant's deltas after the cursor (every action, before the enabledEvents filter),
  // counted up to kLagCap so that a far-behind endpoint costs one bounded read.
  constexpr int kLagCap = 1000;
  json::value lag = nullptr;
  bool lag_capped = false;
  if (auto head = store_.head_sync_id()) {
    if (auto pending = store_.read_deltas(tenant.key(), e.cursor, *head, kLagCap + 1)) {
      lag_capped = static_cast<int>(pending->size()) > kLagCap;
      lag = static_cast<int64_t>(std::min<std::size_t>(pending->size(), kLagCap));
    }
  }
  return json::object{{"object", "webhook_endpoint"},
                      {"id", e.id},
                      {"url", e.url},
                      {"environment", tenant.sandbox ? "test" : "live"},
                      {"status", e.enabled ? "enabled" : "disabled"},
                      {"enabled_events", json::value_from(e.enabled_events)},
                      {"description", text_or_null(e.description)},
                      {"secret_last4", last4(e.secret)},
                      {"disabled_reason", text_or_null(e.disabled_reason)},
                      {"cursor", std::to_string(e.cursor)},
                      {"retry_count", e.retry_count},
                      {"last_success_at", ms_or_null(e.last_success_at_ms)},
                      {"last_error", text_or_null(e.last_error)},
                      {"created_at", iso8601_from_ms(e.created_at_ms)},
                      {"lag", lag},
                      {"lag_capped", lag_capped}};
}

}  // namespace ablo::webhooks
