#pragma once
// The audit trail on the command line (issue 13): where `ablo serve` gets its audit secret, and
// `ablo audit verify|export` against a running server (GET /v1/audit/verify, /v1/audit/export).
#include <string>

#include "common/result.h"
#include "store/store.h"

namespace CLI {
class App;
}

namespace ablo::cli {

// Where the audit secret comes from, in order: ABLO_AUDIT_SECRET, `secret_file`, else one the
// server generates once and keeps — in `data_dir/audit.key` (mode 0600) for SQLite, or in the
// settings table for PostgreSQL, shared by every node (with a warning: an editor who can read
// that table can then recompute the chain).
Result<std::string> resolve_audit_key(store::Store& store, bool postgres, const std::string& data_dir,
                                      const std::string& secret_file);

// The `key.create` row of a key made by `ablo keys create`, attributed to the new key itself
// (in the new key's tenant). A failure is reported, the key stays.
Status record_key_creation(store::Store& store, bool postgres, const std::string& data_dir,
                           const std::string& audit_secret_file, const std::string& secret);

// Registers `audit verify` and `audit export` on `app`.
void add_audit_commands(CLI::App& app);

}  // namespace ablo::cli
