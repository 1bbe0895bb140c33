#pragma once
// Reading the audit trail (issue 13): pages of a tenant's rows, and the verify walk that checks
// the keyed chain and recomputes each commit row's delta digest from the delta log. Read-only;
// rows are written by the commit writer (engine/audit_writer.h). Any thread.
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "audit/audit.h"
#include <boost/json/value.hpp>

#include "auth/auth_service.h"
#include "common/result.h"
#include "store/store.h"

namespace ablo::engine {

struct AuditVerifyReport {
  int64_t from_seq = 1;
  int64_t rows_checked = 0;
  int64_t last_seq = 0;                 // the last seq checked and found intact (from_seq - 1 when none)
  std::optional<audit::ChainBreak> broken;
  bool complete = true;                 // false: more rows follow; continue from last_seq + 1
};

class AuditLog {
 public:
  AuditLog(store::Store& store, std::string key) : store_(store), key_(std::move(key)) {}

  static constexpr int kVerifyPage = 500;
  // Deltas one verify call re-reads at most (commit rows re-digest theirs); a call that reaches
  // it stops after the row in hand with complete = false.
  static constexpr int64_t kVerifyDeltasPerCall = 200'000;

  bool enabled() const { return !key_.empty(); }
  const std::string& key() const { return key_; }
  // The rows of a query, parsed; a row whose JSON does not parse is skipped by listings (verify
  // reports it).
  Result<std::vector<audit::AuditRow>> rows(const store::AuditQuery& query) const;
  // Checks at most `max_rows` rows (and kVerifyDeltasPerCall deltas) of the tenant's chain from
  // `from_seq` on. A walk that starts
  // after 1 trusts the stored hash of row from_seq - 1 (the previous call checked it).
  Result<AuditVerifyReport> verify(const std::string& tenant, int64_t from_seq, int64_t max_rows,
                                   int64_t max_deltas = kVerifyDeltasPerCall) const;


 private:
  Result<std::string> stored_digest_of(const std::string& tenant, const audit::AuditRow& row) const;

  store::Store& store_;
  std::string key_;
};

// Appends one non-commit row in its own store transaction, for a process without a commit
// writer (`ablo keys create`). Safe beside a running server: the row's link is read inside the
// transaction, which SQLite's write lock or PostgreSQL's log-head lock serializes with the
// server's commit groups (whose link cache lives for one group transaction only).
Status append_audit_row(store::Store& store, const std::string& key, const auth::Principal& by,
                        std::string action_type, boost::json::value summary);

}  // namespace ablo::engine
