#pragma once
#include <memory>
#include <string>

#include "pg/wakeup_channels.h"
#include "store/store.h"

namespace ablo::store {

struct PgOptions {
  int reader_connections = 8;  // idle readers kept; more are opened under load and closed after
  // Unset: other nodes are woken by NOTIFY inside each transaction. Set (Redis wake-ups): no
  // NOTIFY; called after a commit that appended deltas or installed a schema.
  pg::Announce announce;
};

// Opens the PostgreSQL store at `url` (postgres://…), creating the internal tables if needed.
// Several server processes may open the same database: writes are serialized cluster-wide and
// delta ids are dense and commit-ordered (see pg_store.cpp), so each node can follow the log.
Result<std::unique_ptr<Store>> open_pg_store(const std::string& url, PgOptions options = {});

}  // namespace ablo::store
