#include <fmt/format.h>

#include "store/audit_sql.h"

namespace ablo::store::audit_sql {

const std::string_view kPgTables = R"sql(
CREATE TABLE IF NOT EXISTS _ablo_audit (
  tenant TEXT COLLATE "C" NOT NULL, chain_seq BIGINT NOT NULL, occurred_at_ms BIGINT NOT NULL,
  actor_kind TEXT NOT NULL, actor_id TEXT NOT NULL, credential_id TEXT NOT NULL, action_type TEXT NOT NULL,
  model_name TEXT NOT NULL, commit_id TEXT COLLATE "C" NOT NULL, row_json TEXT NOT NULL, row_hash TEXT NOT NULL,
  PRIMARY KEY (tenant, chain_seq));
CREATE INDEX IF NOT EXISTS _ablo_audit_by_commit ON _ablo_audit (tenant, commit_id);
)sql";

namespace {

constexpr const char* kPgAuditColumns =
    "tenant, chain_seq, occurred_at_ms, actor_kind, actor_id, credential_id, action_type, model_name, commit_id, "
    "row_json, row_hash";

}  // namespace

pg::Connection::Statement pg_append(const AuditRecord& r) {
  return pg::Connection::Statement{
      fmt::format("INSERT INTO _ablo_audit ({}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
                  kPgAuditColumns),
      {r.tenant, std::to_string(r.chain_seq), std::to_string(r.occurred_at_ms), r.actor_kind, r.actor_id,
       r.credential_id, r.action_type, r.model_name, r.commit_id, r.row_json, r.row_hash}};
}

Result<std::optional<std::pair<int64_t, std::string>>> pg_last_link(pg::Connection& conn, const std::string& tenant) {
  auto rows = conn.exec("SELECT chain_seq, row_hash FROM _ablo_audit WHERE tenant = $1 ORDER BY chain_seq DESC LIMIT 1",
                        {tenant});
  if (!rows) return tl::unexpected(rows.error());
  std::optional<std::pair<int64_t, std::string>> link;
  if (!rows->empty()) link.emplace(rows->int64(0, 0), rows->text(0, 1));
  return link;
}

Result<std::vector<AuditRecord>> pg_read(pg::Connection& conn, const AuditQuery& query) {
  std::string where = "tenant = $1";
  pg::Params params{query.tenant};
  const auto add = [&](const char* condition, pg::Param value) {
    params.push_back(std::move(value));
    where += fmt::format(" AND {} ${}", condition, params.size());
  };
  const auto add_text = [&](const char* column, const std::optional<std::string>& value) {
    if (value) add(fmt::format("{} =", column).c_str(), *value);
  };
  add_text("actor_kind", query.actor_kind);
  add_text("actor_id", query.actor_id);
  add_text("credential_id", query.credential_id);
  add_text("action_type", query.action_type);
  add_text("model_name", query.model_name);
  add_text("commit_id", query.commit_id);
  if (query.since_ms) add("occurred_at_ms >=", std::to_string(*query.since_ms));
  if (query.until_ms) add("occurred_at_ms <", std::to_string(*query.until_ms));
  if (query.descending && query.before_seq > 0) add("chain_seq <", std::to_string(query.before_seq));
  if (!query.descending) add("chain_seq >", std::to_string(query.after_seq));
  params.push_back(std::to_string(query.limit));
  auto rows = conn.exec(fmt::format("SELECT {} FROM _ablo_audit WHERE {} ORDER BY chain_seq {} LIMIT ${}",
                                    kPgAuditColumns, where, query.descending ? "DESC" : "ASC", params.size()),
                        params);
  if (!rows) return tl::unexpected(rows.error());
  std::vector<AuditRecord> records;
  records.reserve(static_cast<std::size_t>(rows->size()));
  for (int r = 0; r < rows->size(); ++r) {
    const auto row = rows->row(r);
    records.push_back(AuditRecord{row.text(0), row.int64(1), row.int64(2), row.text(3), row.text(4), row.text(5),
                                  row.text(6), row.text(7), row.text(8), row.text(9), row.text(10)});
  }
  return records;
}

}  // namespace ablo::store::audit_sql
