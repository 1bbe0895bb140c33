#include <boost/json.hpp>

#include "pg/connection.h"
#include "store/record_decoding.h"
#include "store/row_codec.h"
#include "store/webhook_sql.h"

namespace ablo::store::pg_webhooks {

using pg::Connection;
using pg::Params;
using pg::Rows;

const std::string_view kTables = R"sql(
CREATE TABLE IF NOT EXISTS _ablo_webhook_endpoints (
  id TEXT PRIMARY KEY, tenant TEXT NOT NULL, url TEXT NOT NULL, enabled_events TEXT NOT NULL,
  description TEXT NOT NULL, secret TEXT NOT NULL, previous_secret TEXT NOT NULL,
  previous_secret_expires_at BIGINT NOT NULL, enabled BOOLEAN NOT NULL, disabled_reason TEXT NOT NULL,
  cursor BIGINT NOT NULL, retry_count INTEGER NOT NULL, next_attempt_at BIGINT NOT NULL,
  last_success_at BIGINT NOT NULL, last_error TEXT NOT NULL, created_at BIGINT NOT NULL,
  lease_owner TEXT NOT NULL, lease_until BIGINT NOT NULL
);
CREATE INDEX IF NOT EXISTS _ablo_webhook_endpoints_tenant ON _ablo_webhook_endpoints (tenant, created_at);
)sql";

namespace {

std::string pg_number(int64_t value) { return std::to_string(value); }
std::string pg_bool(bool value) { return value ? "true" : "false"; }

std::vector<WebhookEndpointRecord> decode_pg_webhook_endpoints(const Rows& rows) {
  std::vector<WebhookEndpointRecord> found;
  for (int r = 0; r < rows.size(); ++r) {
    found.push_back(decode_webhook_endpoint<Rows::Row>(rows.row(r)));
  }
  return found;
}

Result<std::vector<WebhookEndpointRecord>> select_pg_webhook_endpoints(Connection& conn, const std::string& sql,
                                                                       const Params& params) {
  auto rows = conn.exec(sql, params);
  if (!rows) return tl::unexpected(rows.error());
  return decode_pg_webhook_endpoints(*rows);
}

}  // namespace

Status put(Connection& conn, const WebhookEndpointRecord& e) {
  auto rows = conn.exec(std::string("INSERT INTO _ablo_webhook_endpoints (") + std::string(kWebhookEndpointColumns) +
                            ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18)",
                        {e.id, e.tenant, e.url, string_array_text(e.enabled_events), e.description, e.secret,
                         e.previous_secret, pg_number(e.previous_secret_expires_at_ms), pg_bool(e.enabled),
                         e.disabled_reason, pg_number(e.cursor), pg_number(e.retry_count),
                         pg_number(e.next_attempt_at_ms), pg_number(e.last_success_at_ms), e.last_error,
                         pg_number(e.created_at_ms), e.lease_owner, pg_number(e.lease_until_ms)});
  if (!rows) return tl::unexpected(rows.error());
  return {};
}

Result<std::optional<WebhookEndpointRecord>> find(Connection& conn, const std::string& tenant, const std::string& id) {
  auto found = select_pg_webhook_endpoints(
      conn, std::string("SELECT ") + std::string(kWebhookEndpointColumns) +
                " FROM _ablo_webhook_endpoints WHERE tenant = $1 AND id = $2",
      {tenant, id});
  if (!found) return tl::unexpected(found.error());
  if (found->empty()) return std::optional<WebhookEndpointRecord>();
  return std::optional<WebhookEndpointRecord>(std::move(found->front()));
}

Result<std::vector<WebhookEndpointRecord>> list(Connection& conn, const std::string& tenant) {
  return select_pg_webhook_endpoints(conn,
                                     std::string("SELECT ") + std::string(kWebhookEndpointColumns) +
                                         " FROM _ablo_webhook_endpoints WHERE tenant = $1 ORDER BY created_at, id",
                                     {tenant});
}

Result<bool> remove(Connection& conn, const std::string& tenant, const std::string& id) {
  auto rows = conn.exec("DELETE FROM _ablo_webhook_endpoints WHERE tenant = $1 AND id = $2", {tenant, id});
  if (!rows) return tl::unexpected(rows.error());
  return rows->affected() == 1;
}

Result<bool> update_settings(Connection& conn, const WebhookEndpointRecord& e) {
  auto rows = conn.exec(
      "UPDATE _ablo_webhook_endpoints SET secret = $1, previous_secret = $2, previous_secret_expires_at = $3, "
      "enabled = $4, disabled_reason = $5, retry_count = $6, next_attempt_at = $7 WHERE tenant = $8 AND id = $9",
      {e.secret, e.previous_secret, pg_number(e.previous_secret_expires_at_ms), pg_bool(e.enabled), e.disabled_reason,
       pg_number(e.retry_count), pg_number(e.next_attempt_at_ms), e.tenant, e.id});
  if (!rows) return tl::unexpected(rows.error());
  return rows->affected() == 1;
}

Result<std::vector<WebhookEndpointRecord>> lease(Connection& conn, const std::string& owner, int64_t now_ms,
                                                 int64_t lease_until_ms, int limit) {
  // SKIP LOCKED: two nodes leasing at once split the free endpoints instead of waiting on each
  // other; the outer condition is checked again on the locked (latest) row version, so a row
  // another node took between the snapshot and the lock is not taken from it.
  return select_pg_webhook_endpoints(
      conn,
      std::string("UPDATE _ablo_webhook_endpoints SET lease_owner = $1, lease_until = $3 WHERE id IN ("
                  "SELECT id FROM _ablo_webhook_endpoints WHERE enabled AND (lease_owner = $1 OR lease_until < $2) "
                  "ORDER BY id LIMIT $4 FOR UPDATE SKIP LOCKED) AND (lease_owner = $1 OR lease_until < $2) RETURNING ") +
          std::string(kWebhookEndpointColumns),
      {owner, pg_number(now_ms), pg_number(lease_until_ms), pg_number(limit)});
}

Result<bool> record_attempt(Connection& conn, const WebhookAttemptRecord& a) {
  auto rows = conn.exec(
      "UPDATE _ablo_webhook_endpoints SET cursor = GREATEST(cursor, $1), retry_count = $2, next_attempt_at = $3, "
      "last_success_at = CASE WHEN $4::bigint > 0 THEN $4::bigint ELSE last_success_at END, last_error = $5, "
      "enabled = CASE WHEN $6::boolean THEN FALSE ELSE enabled END, "
      "disabled_reason = CASE WHEN $6::boolean THEN $7 ELSE disabled_reason END WHERE id = $8 AND lease_owner = $9",
      {pg_number(a.cursor), pg_number(a.retry_count), pg_number(a.next_attempt_at_ms), pg_number(a.last_success_at_ms),
       a.last_error, pg_bool(a.disable), a.disabled_reason, a.id, a.owner});
  if (!rows) return tl::unexpected(rows.error());
  return rows->affected() == 1;
}

Status release(Connection& conn, const std::string& owner) {
  auto rows = conn.exec("UPDATE _ablo_webhook_endpoints SET lease_until = 0 WHERE lease_owner = $1", {owner});
  if (!rows) return tl::unexpected(rows.error());
  return {};
}

}  // namespace ablo::store::pg_webhooks
