#include "cluster/pg_op_log.h"

#include <fmt/format.h>

#include "common/time.h"

namespace ablo::cluster {

namespace {

constexpr std::string_view kTables = R"sql(
CREATE TABLE IF NOT EXISTS _ablo_claim_head (one BOOLEAN PRIMARY KEY DEFAULT TRUE CHECK (one), last_id BIGINT NOT NULL);
INSERT INTO _ablo_claim_head (one, last_id) VALUES (TRUE, 0) ON CONFLICT DO NOTHING;
CREATE TABLE IF NOT EXISTS _ablo_claim_log (
  id BIGINT PRIMARY KEY, node BIGINT NOT NULL, kind TEXT NOT NULL, op TEXT NOT NULL, created_at_ms BIGINT NOT NULL
);
CREATE TABLE IF NOT EXISTS _ablo_claim_snapshots (id BIGINT PRIMARY KEY, state TEXT NOT NULL, created_at_ms BIGINT NOT NULL);
CREATE TABLE IF NOT EXISTS _ablo_nodes (id BIGSERIAL PRIMARY KEY, heartbeat_ms BIGINT NOT NULL, started_at_ms BIGINT NOT NULL);
)sql";

constexpr int64_t kSetupLockKey = 0x61626c6f01;  // serializes table creation of nodes starting together

}  // namespace

Result<std::unique_ptr<PgOpLog>> PgOpLog::open(const std::string& database_url, pg::Announce announce) {
  auto conn = pg::Connection::open(database_url);
  if (!conn) return tl::unexpected(conn.error());
  auto& c = **conn;
  if (auto ok = pg::run_setup(c, kSetupLockKey, kTables); !ok) return tl::unexpected(ok.error());
  const auto now = std::to_string(now_ms());
  auto node = c.exec("INSERT INTO _ablo_nodes (heartbeat_ms, started_at_ms) VALUES ($1, $1) RETURNING id", {now});
  if (!node) return tl::unexpected(node.error());
  std::unique_ptr<PgOpLog> log(new PgOpLog(database_url, node->int64(0, 0), std::move(announce)));
  log->pool_.give(std::move(*conn));
  return log;
}

Result<int64_t> PgOpLog::append(const std::string& kind, const std::string& op) {
  static const std::string kAppend =
      "WITH head AS (UPDATE _ablo_claim_head SET last_id = last_id + 1 RETURNING last_id), "
      "appended AS (INSERT INTO _ablo_claim_log (id, node, kind, op, created_at_ms) "
      "SELECT last_id, $1, $2, $3, $4 FROM head RETURNING id) ";
  static const std::string kAppendAndNotify =
      kAppend + "SELECT id, pg_notify('" + std::string(pg::kClaimsChannel) + "', '') FROM appended";
  static const std::string kAppendOnly = kAppend + "SELECT id FROM appended";
  auto appended = pool_.with([&](pg::Connection& conn) -> Result<int64_t> {
    // One statement, one transaction: the counter row's lock is held until the insert commits.
    auto rows = conn.exec(announce_ ? kAppendOnly : kAppendAndNotify,
                          {std::to_string(node_id_), kind, op, std::to_string(now_ms())});
    if (!rows) return tl::unexpected(rows.error());
    return rows->int64(0, 0);
  }, /*idempotent=*/false);
  if (appended && announce_) announce_(pg::kClaimsChannel);
  return appended;
}

Result<std::vector<std::pair<int64_t, std::string>>> PgOpLog::read_after(int64_t after_id, int limit) {
  return pool_.with([&](pg::Connection& conn) -> Result<std::vector<std::pair<int64_t, std::string>>> {
    auto rows = conn.exec("SELECT id, op FROM _ablo_claim_log WHERE id > $1 ORDER BY id LIMIT $2",
                          {std::to_string(after_id), std::to_string(limit)});
    if (!rows) return tl::unexpected(rows.error());
    std::vector<std::pair<int64_t, std::string>> ops;
    ops.reserve(static_cast<std::size_t>(rows->size()));
    for (int r = 0; r < rows->size(); ++r) ops.emplace_back(rows->int64(r, 0), rows->text(r, 1));
    return ops;
  }, /*idempotent=*/true);
}

Status PgOpLog::heartbeat() {
  return pool_.with([&](pg::Connection& conn) -> Status {
    auto rows = conn.exec("UPDATE _ablo_nodes SET heartbeat_ms = $2 WHERE id = $1",
                          {std::to_string(node_id_), std::to_string(now_ms())});
    if (!rows) return tl::unexpected(rows.error());
    return {};
  }, /*idempotent=*/true);
}

Result<std::vector<int64_t>> PgOpLog::nodes(bool stale, int64_t stale_ms) {
  return pool_.with([&](pg::Connection& conn) -> Result<std::vector<int64_t>> {
    auto rows = conn.exec(stale ? "SELECT id FROM _ablo_nodes WHERE heartbeat_ms < $1 ORDER BY id"
                                : "SELECT id FROM _ablo_nodes WHERE heartbeat_ms >= $1 ORDER BY id",
                          {std::to_string(now_ms() - stale_ms)});
    if (!rows) return tl::unexpected(rows.error());
    std::vector<int64_t> ids;
    for (int r = 0; r < rows->size(); ++r) ids.push_back(rows->int64(r, 0));
    return ids;
  }, /*idempotent=*/true);
}

Status PgOpLog::prune(const std::vector<std::string>& kinds, int64_t age_ms) {
  return pool_.with([&](pg::Connection& conn) -> Status {
    std::string list;
    for (const auto& kind : kinds) list += (list.empty() ? "" : ", ") + pg::quote_literal(kind);
    if (list.empty()) return {};
    // Emptied, not deleted: replicas rely on ids being dense.
    auto rows = conn.exec(fmt::format("UPDATE _ablo_claim_log SET kind = 'pruned', op = '{{\"kind\":\"pruned\"}}' "
                                      "WHERE kind IN ({}) AND created_at_ms < $1",
                                      list),
                          {std::to_string(now_ms() - age_ms)});
    if (!rows) return tl::unexpected(rows.error());
    return {};
  }, /*idempotent=*/true);
}

Status PgOpLog::put_snapshot(int64_t op_id, const std::string& state) {
  return pool_.with([&](pg::Connection& conn) -> Status {
    auto rows = conn.exec(
        "INSERT INTO _ablo_claim_snapshots (id, state, created_at_ms) VALUES ($1, $2, $3) ON CONFLICT (id) DO NOTHING",
        {std::to_string(op_id), state, std::to_string(now_ms())});
    if (!rows) return tl::unexpected(rows.error());
    return {};
  }, /*idempotent=*/true);
}

Result<std::optional<std::pair<int64_t, std::string>>> PgOpLog::latest_snapshot() {
  return pool_.with([&](pg::Connection& conn) -> Result<std::optional<std::pair<int64_t, std::string>>> {
    auto rows = conn.exec("SELECT id, state FROM _ablo_claim_snapshots ORDER BY id DESC LIMIT 1");
    if (!rows) return tl::unexpected(rows.error());
    if (rows->empty()) return std::optional<std::pair<int64_t, std::string>>();
    return std::make_optional(std::make_pair(rows->int64(0, 0), rows->text(0, 1)));
  }, /*idempotent=*/true);
}

Status PgOpLog::compact(int64_t op_id, int64_t age_ms) {
  return pool_.with([&](pg::Connection& conn) -> Status {
    auto ops = conn.exec("DELETE FROM _ablo_claim_log WHERE id <= $1 AND created_at_ms < $2",
                         {std::to_string(op_id), std::to_string(now_ms() - age_ms)});
    if (!ops) return tl::unexpected(ops.error());
    auto snapshots = conn.exec(
        "DELETE FROM _ablo_claim_snapshots WHERE id NOT IN (SELECT id FROM _ablo_claim_snapshots ORDER BY id DESC LIMIT 2)");
    if (!snapshots) return tl::unexpected(snapshots.error());
    return {};
  }, /*idempotent=*/true);
}

}  // namespace ablo::cluster
