#include <boost/json.hpp>

#include "store/record_decoding.h"
#include "store/row_codec.h"
#include "store/sqlite_db.h"
#include "store/webhook_sql.h"

namespace ablo::store::sqlite_webhooks {

using sqlite::Connection;
using sqlite::Statement;

const std::string_view kTables = R"sql(
CREATE TABLE IF NOT EXISTS _ablo_webhook_endpoints (
  id TEXT PRIMARY KEY, tenant TEXT NOT NULL, url TEXT NOT NULL, enabled_events TEXT NOT NULL,
  description TEXT NOT NULL, secret TEXT NOT NULL, previous_secret TEXT NOT NULL,
  previous_secret_expires_at INTEGER NOT NULL, enabled INTEGER NOT NULL, disabled_reason TEXT NOT NULL,
  cursor INTEGER NOT NULL, retry_count INTEGER NOT NULL, next_attempt_at INTEGER NOT NULL,
  last_success_at INTEGER NOT NULL, last_error TEXT NOT NULL, created_at INTEGER NOT NULL,
  lease_owner TEXT NOT NULL, lease_until INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS _ablo_webhook_endpoints_tenant ON _ablo_webhook_endpoints (tenant, created_at);
)sql";

namespace {

Result<std::vector<WebhookEndpointRecord>> select_webhook_endpoints(Statement& stmt) {
  std::vector<WebhookEndpointRecord> found;
  while (true) {
    auto has = stmt.step();
    if (!has) return tl::unexpected(has.error());
    if (!*has) return found;
    found.push_back(decode_webhook_endpoint<Statement>(stmt));
  }
}

}  // namespace

Status put(Connection& conn, const WebhookEndpointRecord& e) {
  auto stmt = conn.cached(std::string("INSERT INTO _ablo_webhook_endpoints (") + std::string(kWebhookEndpointColumns) +
                          ") VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)");
  if (!stmt) return tl::unexpected(stmt.error());
  auto& s = **stmt;
  s.bind(1, e.id).bind(2, e.tenant).bind(3, e.url).bind(4, string_array_text(e.enabled_events));
  s.bind(5, e.description).bind(6, e.secret).bind(7, e.previous_secret).bind(8, e.previous_secret_expires_at_ms);
  s.bind(9, static_cast<int64_t>(e.enabled)).bind(10, e.disabled_reason).bind(11, e.cursor);
  s.bind(12, static_cast<int64_t>(e.retry_count)).bind(13, e.next_attempt_at_ms).bind(14, e.last_success_at_ms);
  s.bind(15, e.last_error).bind(16, e.created_at_ms).bind(17, e.lease_owner).bind(18, e.lease_until_ms);
  return s.run();
}

Result<std::optional<WebhookEndpointRecord>> find(Connection& conn, const std::string& tenant, const std::string& id) {
  auto stmt = conn.cached(std::string("SELECT ") + std::string(kWebhookEndpointColumns) +
                          " FROM _ablo_webhook_endpoints WHERE tenant = ? AND id = ?");
  if (!stmt) return tl::unexpected(stmt.error());
  (*stmt)->bind(1, tenant).bind(2, id);
  auto found = select_webhook_endpoints(**stmt);
  if (!found) return tl::unexpected(found.error());
  if (found->empty()) return std::optional<WebhookEndpointRecord>();
  return std::optional<WebhookEndpointRecord>(std::move(found->front()));
}

Result<std::vector<WebhookEndpointRecord>> list(Connection& conn, const std::string& tenant) {
  auto stmt = conn.cached(std::string("SELECT ") + std::string(kWebhookEndpointColumns) +
                          " FROM _ablo_webhook_endpoints WHERE tenant = ? ORDER BY created_at, id");
  if (!stmt) return tl::unexpected(stmt.error());
  (*stmt)->bind(1, tenant);
  return select_webhook_endpoints(**stmt);
}

Result<bool> remove(Connection& conn, const std::string& tenant, const std::string& id) {
  auto stmt = conn.cached("DELETE FROM _ablo_webhook_endpoints WHERE tenant = ? AND id = ?");
  if (!stmt) return tl::unexpected(stmt.error());
  (*stmt)->bind(1, tenant).bind(2, id);
  if (auto ran = (*stmt)->run(); !ran) return tl::unexpected(ran.error());
  return conn.changes() == 1;
}

Result<bool> update_settings(Connection& conn, const WebhookEndpointRecord& e) {
  auto stmt = conn.cached(
      "UPDATE _ablo_webhook_endpoints SET secret = ?, previous_secret = ?, previous_secret_expires_at = ?, "
      "enabled = ?, disabled_reason = ?, retry_count = ?, next_attempt_at = ? WHERE tenant = ? AND id = ?");
  if (!stmt) return tl::unexpected(stmt.error());
  auto& s = **stmt;
  s.bind(1, e.secret).bind(2, e.previous_secret).bind(3, e.previous_secret_expires_at_ms);
  s.bind(4, static_cast<int64_t>(e.enabled)).bind(5, e.disabled_reason).bind(6, static_cast<int64_t>(e.retry_count));
  s.bind(7, e.next_attempt_at_ms).bind(8, e.tenant).bind(9, e.id);
  if (auto ran = s.run(); !ran) return tl::unexpected(ran.error());
  return conn.changes() == 1;
}

Result<std::vector<WebhookEndpointRecord>> lease(Connection& conn, const std::string& owner, int64_t now_ms,
                                                 int64_t lease_until_ms, int limit) {
  auto stmt = conn.cached(
      std::string("UPDATE _ablo_webhook_endpoints SET lease_owner = ?1, lease_until = ?3 WHERE id IN ("
                  "SELECT id FROM _ablo_webhook_endpoints WHERE enabled = 1 AND (lease_owner = ?1 OR lease_until < ?2) "
                  "ORDER BY id LIMIT ?4) RETURNING ") +
      std::string(kWebhookEndpointColumns));
  if (!stmt) return tl::unexpected(stmt.error());
  (*stmt)->bind(1, owner).bind(2, now_ms).bind(3, lease_until_ms).bind(4, static_cast<int64_t>(limit));
  return select_webhook_endpoints(**stmt);
}

Result<bool> record_attempt(Connection& conn, const WebhookAttemptRecord& a) {
  // max(): the cursor never moves back, whatever order two writers' attempts land in.
  auto stmt = conn.cached(
      "UPDATE _ablo_webhook_endpoints SET cursor = max(cursor, ?), retry_count = ?, next_attempt_at = ?, "
      "last_success_at = CASE WHEN ? > 0 THEN ? ELSE last_success_at END, last_error = ?, "
      "enabled = CASE WHEN ? THEN 0 ELSE enabled END, "
      "disabled_reason = CASE WHEN ? THEN ? ELSE disabled_reason END WHERE id = ? AND lease_owner = ?");
  if (!stmt) return tl::unexpected(stmt.error());
  auto& s = **stmt;
  s.bind(1, a.cursor).bind(2, static_cast<int64_t>(a.retry_count)).bind(3, a.next_attempt_at_ms);
  s.bind(4, a.last_success_at_ms).bind(5, a.last_success_at_ms).bind(6, a.last_error);
  s.bind(7, static_cast<int64_t>(a.disable)).bind(8, static_cast<int64_t>(a.disable)).bind(9, a.disabled_reason);
  s.bind(10, a.id).bind(11, a.owner);
  if (auto ran = s.run(); !ran) return tl::unexpected(ran.error());
  return conn.changes() == 1;
}

Status release(Connection& conn, const std::string& owner) {
  auto stmt = conn.cached("UPDATE _ablo_webhook_endpoints SET lease_until = 0 WHERE lease_owner = ?");
  if (!stmt) return tl::unexpected(stmt.error());
  (*stmt)->bind(1, owner);
  return (*stmt)->run();
}

}  // namespace ablo::store::sqlite_webhooks
