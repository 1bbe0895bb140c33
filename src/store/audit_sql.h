#pragma once
// The SQL of the audit trail (issue 13) for both backends, kept out of the store classes so the
// store files change only by small hooks. Private to store/.
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/result.h"
#include "pg/connection.h"
#include "store/sqlite_db.h"
#include "store/store.h"

namespace ablo::store::audit_sql {

// `_ablo_audit`: one row per (tenant, chain_seq); the row JSON is the truth, the other columns
// index it for the listing filters.
extern const std::string_view kSqliteTables;
extern const std::string_view kPgTables;

Status sqlite_append(sqlite::Connection& conn, const AuditRecord& record);
Result<std::optional<std::pair<int64_t, std::string>>> sqlite_last_link(sqlite::Connection& conn,
                                                                        const std::string& tenant);
Result<std::vector<AuditRecord>> sqlite_read(sqlite::Connection& conn, const AuditQuery& query);

// The INSERT, to be held back with the transaction's other writes.
pg::Connection::Statement pg_append(const AuditRecord& record);
Result<std::optional<std::pair<int64_t, std::string>>> pg_last_link(pg::Connection& conn, const std::string& tenant);
Result<std::vector<AuditRecord>> pg_read(pg::Connection& conn, const AuditQuery& query);

}  // namespace ablo::store::audit_sql
