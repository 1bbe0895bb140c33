#pragma once
// The JSON form of coordination ops and replica snapshots, for the cluster op log
// (coord/op_log.h) only: a node alone applies its typed ops in memory and never serializes
// them. Every replica decodes what every node encodes, so nodes of one cluster must run the
// same codec (there is no deployed format to stay compatible with).
#include <cstdint>
#include <set>
#include <string>
#include <vector>

#include <boost/json/object.hpp>

#include "common/result.h"
#include "coord/claim_table.h"
#include "coord/ops.h"

namespace ablo::coord {

// {"kind": kKind, "now", "head", "node", "op": {the op's fields}}.
std::string encode_op(const StampedOp& op);
// internal_error for text that is not an op of a known kind.
Result<StampedOp> decode_op(const std::string& text);

// A replica's whole state (Coordinator's sessions, participants and claims), as a snapshot
// stores it.
struct ReplicaImage {
  struct Session {
    uint64_t id = 0;
    Participant who;
  };
  struct ParticipantEntry {
    std::string tenant;
    std::string participant_id;
    std::string kind;
    std::set<std::string> groups;
    std::set<uint64_t> sessions;
    boost::json::object presence;
    bool entered = false;
  };
  std::vector<Session> sessions;
  std::vector<ParticipantEntry> participants;
  std::vector<Claim> claims;
  int64_t last_fence = 0;  // the claim table's fence counter
};
std::string encode_snapshot(const ReplicaImage& image);
Result<ReplicaImage> decode_snapshot(const std::string& text);

}  // namespace ablo::coord
