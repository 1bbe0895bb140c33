#pragma once
// SQL of the webhook endpoint records (issue 13), shared by the SQLite and PostgreSQL stores
// (sqlite_webhooks.cpp, pg_webhooks.cpp). Private to store/.
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"
#include "store/webhook_endpoint.h"

namespace ablo::store {

namespace sqlite { class Connection; }

// The endpoint columns both stores select, in the order decode_webhook_endpoint reads them
// (record_decoding.h).
inline constexpr std::string_view kWebhookEndpointColumns =
    "id, tenant, url, enabled_events, description, secret, previous_secret, previous_secret_expires_at, enabled, "
    "disabled_reason, cursor, retry_count, next_attempt_at, last_success_at, last_error, created_at, lease_owner, "
    "lease_until";

namespace sqlite_webhooks {
// The table, created at open.
extern const std::string_view kTables;
Status put(sqlite::Connection& conn, const WebhookEndpointRecord& endpoint);
Result<std::optional<WebhookEndpointRecord>> find(sqlite::Connection& conn, const std::string& tenant,
                                                  const std::string& id);
Result<std::vector<WebhookEndpointRecord>> list(sqlite::Connection& conn, const std::string& tenant);
Result<bool> remove(sqlite::Connection& conn, const std::string& tenant, const std::string& id);
Result<bool> update_settings(sqlite::Connection& conn, const WebhookEndpointRecord& endpoint);
Result<std::vector<WebhookEndpointRecord>> lease(sqlite::Connection& conn, const std::string& owner, int64_t now_ms,
                                                 int64_t lease_until_ms, int limit);
Result<bool> record_attempt(sqlite::Connection& conn, const WebhookAttemptRecord& attempt);
Status release(sqlite::Connection& conn, const std::string& owner);
}  // namespace sqlite_webhooks

}  // namespace ablo::store

namespace ablo::pg { class Connection; }

namespace ablo::store::pg_webhooks {
extern const std::string_view kTables;
Status put(pg::Connection& conn, const WebhookEndpointRecord& endpoint);
Result<std::optional<WebhookEndpointRecord>> find(pg::Connection& conn, const std::string& tenant,
                                                  const std::string& id);
Result<std::vector<WebhookEndpointRecord>> list(pg::Connection& conn, const std::string& tenant);
Result<bool> remove(pg::Connection& conn, const std::string& tenant, const std::string& id);
Result<bool> update_settings(pg::Connection& conn, const WebhookEndpointRecord& endpoint);
Result<std::vector<WebhookEndpointRecord>> lease(pg::Connection& conn, const std::string& owner, int64_t now_ms,
                                                 int64_t lease_until_ms, int limit);
Result<bool> record_attempt(pg::Connection& conn, const WebhookAttemptRecord& attempt);
Status release(pg::Connection& conn, const std::string& owner);
}  // namespace ablo::store::pg_webhooks
