#pragma once
// Registering webhook endpoints (datasource.md §4.5): create (the secret is shown once), list,
// show, delete, roll the secret (the old one keeps signing for a grace period), enable (resumes
// from the cursor) and disable. The routes (net/webhook_routes) call it with the tenant of an
// sk_ key; JSON out is the endpoint object of §4.5 plus `lag`.
#include <cstdint>
#include <atomic>
#include <functional>
#include <optional>
#include <string_view>
#include <string>

#include <boost/json/object.hpp>

#include "common/result.h"
#include "store/store.h"

namespace ablo::webhooks {

struct RegistryOptions {
  int64_t roll_grace_ms = 24LL * 3600 * 1000;  // how long a rolled-over secret still signs
  int max_endpoints_per_tenant = 100;
};

// Why a URL may not be registered, or nullopt. `own_port`: the port this server listens on
// (a URL to it on a loopback or own address would make the server post to itself).
std::optional<std::string> refused_url_reason(std::string_view url, uint16_t own_port);

class Registry {
 public:
  Registry(store::Store& store, RegistryOptions options = {});

  // Called once the server is listening (self-delivery check).
  void set_own_port(uint16_t port);
  // Called after every change of an endpoint (the worker looks at its leases at once instead of
  // at its next renewal). Set before serving.
  void on_change(std::function<void()> changed) { changed_ = std::move(changed); }

  Result<boost::json::object> create(const store::Tenant& tenant, const boost::json::object& body) const;
  Result<boost::json::object> list(const store::Tenant& tenant) const;
  Result<boost::json::object> get(const store::Tenant& tenant, const std::string& id) const;
  Result<boost::json::object> remove(const store::Tenant& tenant, const std::string& id) const;
  Result<boost::json::object> roll_secret(const store::Tenant& tenant, const std::string& id) const;
  Result<boost::json::object> set_enabled(const store::Tenant& tenant, const std::string& id, bool enabled) const;

 private:
  Result<store::WebhookEndpointRecord> find(const store::Tenant& tenant, const std::string& id) const;
  void notify() const {
    if (changed_) changed_();
  }
  boost::json::object endpoint_json(const store::Tenant& tenant, const store::WebhookEndpointRecord& e) const;

  store::Store& store_;
  RegistryOptions options_;
  std::atomic<uint16_t> own_port_{0};
  std::function<void()> changed_;
};

}  // namespace ablo::webhooks
