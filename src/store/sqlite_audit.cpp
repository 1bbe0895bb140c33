#include <fmt/format.h>

#include "store/audit_sql.h"

namespace ablo::store::audit_sql {

const std::string_view kSqliteTables = R"sql(
CREATE TABLE IF NOT EXISTS _ablo_audit (
  tenant TEXT NOT NULL, chain_seq INTEGER NOT NULL, occurred_at INTEGER NOT NULL,
  actor_kind TEXT NOT NULL, actor_id TEXT NOT NULL, credential_id TEXT NOT NULL, action_type TEXT NOT NULL,
  model_name TEXT NOT NULL, commit_id TEXT NOT NULL, row_json TEXT NOT NULL, row_hash TEXT NOT NULL,
  PRIMARY KEY (tenant, chain_seq));
CREATE INDEX IF NOT EXISTS _ablo_audit_by_commit ON _ablo_audit (tenant, commit_id);
)sql";

namespace {

constexpr const char* kAuditColumns =
    "tenant, chain_seq, occurred_at, actor_kind, actor_id, credential_id, action_type, model_name, commit_id, "
    "row_json, row_hash";

// The WHERE clause of a query and its text parameters, in order (`?` placeholders; integers
// are bound separately after them).
struct Where {
  std::string sql;
  std::vector<std::string> texts;
};

Where audit_where(const AuditQuery& query) {
  Where where{"tenant = ?", {query.tenant}};
  const auto add = [&](const char* column, const std::optional<std::string>& value) {
    if (!value) return;
    where.sql += fmt::format(" AND {} = ?", column);
    where.texts.push_back(*value);
  };
  add("actor_kind", query.actor_kind);
  add("actor_id", query.actor_id);
  add("credential_id", query.credential_id);
  add("action_type", query.action_type);
  add("model_name", query.model_name);
  add("commit_id", query.commit_id);
  return where;
}

}  // namespace

Status sqlite_append(sqlite::Connection& conn, const AuditRecord& r) {
  // Rendered once: the commit writer appends a row per commit.
  static const std::string sql =
      fmt::format("INSERT INTO _ablo_audit ({}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", kAuditColumns);
  auto stmt = conn.cached(sql);
  if (!stmt) return tl::unexpected(stmt.error());
  auto& s = **stmt;
  // Bound without copies: `r` outlives the statement's one step.
  s.bind_static(1, r.tenant).bind(2, r.chain_seq).bind(3, r.occurred_at_ms);
  s.bind_static(4, r.actor_kind).bind_static(5, r.actor_id).bind_static(6, r.credential_id);
  s.bind_static(7, r.action_type).bind_static(8, r.model_name).bind_static(9, r.commit_id);
  s.bind_static(10, r.row_json).bind_static(11, r.row_hash);
  return s.run();
}

Result<std::optional<std::pair<int64_t, std::string>>> sqlite_last_link(sqlite::Connection& conn,
                                                                        const std::string& tenant) {
  auto stmt = conn.cached("SELECT chain_seq, row_hash FROM _ablo_audit WHERE tenant = ? ORDER BY chain_seq DESC LIMIT 1");
  if (!stmt) return tl::unexpected(stmt.error());
  (*stmt)->bind(1, tenant);
  auto has = (*stmt)->step();
  if (!has) return tl::unexpected(has.error());
  std::optional<std::pair<int64_t, std::string>> link;
  if (*has) link.emplace((*stmt)->int64(0), (*stmt)->text(1));
  (*stmt)->reset();
  return link;
}

Result<std::vector<AuditRecord>> sqlite_read(sqlite::Connection& conn, const AuditQuery& query) {
  auto where = audit_where(query);
  std::vector<int64_t> numbers;
  if (query.since_ms) {
    where.sql += " AND occurred_at >= ?";
    numbers.push_back(*query.since_ms);
  }
  if (query.until_ms) {
    where.sql += " AND occurred_at < ?";
    numbers.push_back(*query.until_ms);
  }
  if (query.descending && query.before_seq > 0) {
    where.sql += " AND chain_seq < ?";
    numbers.push_back(query.before_seq);
  }
  if (!query.descending) {
    where.sql += " AND chain_seq > ?";
    numbers.push_back(query.after_seq);
  }
  numbers.push_back(query.limit);
  auto stmt = conn.cached(fmt::format("SELECT {} FROM _ablo_audit WHERE {} ORDER BY chain_seq {} LIMIT ?",
                                      kAuditColumns, where.sql, query.descending ? "DESC" : "ASC"));
  if (!stmt) return tl::unexpected(stmt.error());
  auto& s = **stmt;
  int index = 1;
  for (const auto& text : where.texts) s.bind(index++, text);
  for (const auto number : numbers) s.bind(index++, number);
  std::vector<AuditRecord> records;
  while (true) {
    auto has = s.step();
    if (!has) return tl::unexpected(has.error());
    if (!*has) return records;
    records.push_back(AuditRecord{s.text(0), s.int64(1), s.int64(2), s.text(3), s.text(4), s.text(5), s.text(6),
                                  s.text(7), s.text(8), s.text(9), s.text(10)});
  }
}

}  // namespace ablo::store::audit_sql
