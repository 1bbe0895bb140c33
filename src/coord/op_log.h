#pragma once
// Cluster mode for the coordinator: several server nodes share one claim plane by replaying
// the same totally ordered log of coordination ops. Every change to claims, sessions and
// presence is appended to the log (by the node where it happened) and applied by every node
// in log order, so each node's coordinator is an identical replica: one holder per target,
// one FIFO line per entity, across the cluster. Each node then sends frames only to its own
// sockets. The log lives in the database the nodes already share (cluster/pg_op_log.h); no
// consensus protocol of our own.
//
// Time is part of the op (the appending node's clock), so replicas decide lease renewals and
// expiries identically. Node death: each node heartbeats; a node whose heartbeat is stale is
// declared down by an op, which closes its sessions on every replica (their claims then lapse
// at expiresAt, within one TTL, and their waiters leave the lines).
#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "common/result.h"

namespace ablo::coord {

class OpLog {
 public:
  virtual ~OpLog() = default;

  // This node's id (unique in the cluster, > 0); session ids carry it in their high bits.
  virtual int64_t node_id() const = 0;
  // Appends an op (JSON text) of `kind` and returns its id; ids are dense and commit-ordered.
  virtual Result<int64_t> append(const std::string& kind, const std::string& op) = 0;
  // Ops with id > after_id, ascending, at most `limit`.
  virtual Result<std::vector<std::pair<int64_t, std::string>>> read_after(int64_t after_id, int limit) = 0;

  // Marks this node alive now.
  virtual Status heartbeat() = 0;
  // Nodes whose last heartbeat is at least `stale_ms` old; and those fresher than that.
  virtual Result<std::vector<int64_t>> nodes(bool stale, int64_t stale_ms) = 0;
  // Empties ops of the given kinds older than `age_ms` (presence and relays carry no state a
  // replica replaying the log later needs); their ids stay, so the log stays dense.
  virtual Status prune(const std::vector<std::string>& kinds, int64_t age_ms) = 0;

  // Snapshots: a replica's whole state after op `op_id`, so a node joining later starts
  // there instead of replaying the log from its first op.
  virtual Status put_snapshot(int64_t op_id, const std::string& state) = 0;
  virtual Result<std::optional<std::pair<int64_t, std::string>>> latest_snapshot() = 0;
  // Deletes the ops a snapshot covers (id <= op_id) once they are older than `age_ms` — no
  // live node still needs them — and older snapshots.
  virtual Status compact(int64_t op_id, int64_t age_ms) = 0;
};

}  // namespace ablo::coord
