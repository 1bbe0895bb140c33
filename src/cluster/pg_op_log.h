#pragma once
// The coordinator's cluster log (coord/op_log.h) in the PostgreSQL database the nodes share.
//
// Op ids are dense and commit-ordered for the same reason and by the same means as delta ids
// (store/pg_store.cpp): one statement bumps a counter row and inserts the op, so the row lock
// orders appends, a reader that sees op N+1 also sees N, and replicas that apply "everything
// after the last applied id" apply the same ops in the same order. The append NOTIFYs
// `ablo_claims` (or, given `announce`, announces it after it commits) so the other nodes
// apply it at once.
//
// Threading: append/read/heartbeat may be called from any thread; each call takes a
// connection of its own from a small pool.
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "common/result.h"
#include "coord/op_log.h"
#include "pg/connection.h"
#include "pg/pool.h"
#include "pg/wakeup_channels.h"

namespace ablo::cluster {

class PgOpLog final : public coord::OpLog {
 public:
  // Creates the tables if needed and registers this process as a new node.
  static Result<std::unique_ptr<PgOpLog>> open(const std::string& database_url, pg::Announce announce = {});

  int64_t node_id() const override { return node_id_; }
  Result<int64_t> append(const std::string& kind, const std::string& op) override;
  Result<std::vector<std::pair<int64_t, std::string>>> read_after(int64_t after_id, int limit) override;
  Status heartbeat() override;
  Result<std::vector<int64_t>> nodes(bool stale, int64_t stale_ms) override;
  Status prune(const std::vector<std::string>& kinds, int64_t age_ms) override;
  Status put_snapshot(int64_t op_id, const std::string& state) override;
  Result<std::optional<std::pair<int64_t, std::string>>> latest_snapshot() override;
  Status compact(int64_t op_id, int64_t age_ms) override;

 private:
  static constexpr std::size_t kIdleConnections = 4;
  PgOpLog(std::string url, int64_t node_id, pg::Announce announce)
      : node_id_(node_id), announce_(std::move(announce)), pool_(std::move(url), kIdleConnections) {}

  int64_t node_id_;
  pg::Announce announce_;
  pg::Pool pool_;
};

}  // namespace ablo::cluster
