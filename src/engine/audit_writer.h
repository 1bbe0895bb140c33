#pragma once
// Audit rows written by the commit writer (issue 13), inside the commit's own savepoint, so a
// commit and its audit row are committed or rolled back together. Private to engine/.
//
// Speed: a commit must not read its tenant's last audit row back from the store. AuditChain
// keeps each tenant's last link (seq, hash) for one group transaction: the first commit of a
// tenant in the group reads it inside the transaction (on PostgreSQL after the log-head lock,
// so nodes append one transaction at a time), later ones extend the cached link. A commit that
// rolls back to its savepoint restores the links it moved. Writer thread only.
#include <optional>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "audit/audit.h"
#include "engine/engine.h"
#include "store/store.h"

namespace ablo::engine {

class AuditChain {
 public:
  AuditChain(store::WriteTransaction& txn, const std::string& key) : txn_(txn), key_(key) {}

  // Seals `row` as the next link of its tenant's chain and appends it.
  Status append(audit::AuditRow row);
  // A commit's savepoint: links moved from here on are restored by rollback().
  void savepoint() { undo_.clear(); }
  void rollback();

 private:
  store::WriteTransaction& txn_;
  const std::string& key_;
  std::unordered_map<std::string, audit::ChainLink> links_;                   // tenant -> last link
  std::vector<std::pair<std::string, std::optional<audit::ChainLink>>> undo_;  // previous links, in order
};

// The row of a commit as far as its request says: attribution from its principal and one
// diffSummary entry per operation (model key, id, verb, the names of the fields it carried).
// Made when the commit is submitted, off the writer thread.
audit::AuditRow commit_audit_header(const CommitRequest& request, const schema::Schema& schema);
// The row of the applied commit: `header` with the task it was attributed to (in the writer),
// its delta range and digest, and when it was applied.
audit::AuditRow commit_audit_row(audit::AuditRow header, const CommitRequest& request,
                                 const std::vector<store::Delta>& deltas, int64_t occurred_at_ms);
// A non-commit action by `principal` (capability.mint, key.create, schema.push, ...).
audit::AuditRow action_audit_row(const auth::Principal& principal, std::string action_type,
                                 boost::json::value summary, int64_t occurred_at_ms);
// The audit digest of deltas as they are stored (the writer and verify both use it).
std::string delta_digest(const std::vector<store::Delta>& deltas);

// `row_json`: the sealed row's JSON as audit::seal wrote it.
store::AuditRecord to_record(const audit::AuditRow& row, std::string row_json);

}  // namespace ablo::engine
