#pragma once
// The operations of the coordination plane: one struct per change, with typed fields. The
// Coordinator's state machine applies them (Coordinator::apply_locked, one handler per struct,
// dispatched with std::visit); alone, a node applies its ops in memory and never serializes
// them; in a cluster they travel through the op log (coord/op_codec.h encodes them).
//
// Ops carry what the caller asked, already parsed at the edge (net/ turns client frames and
// HTTP bodies into these types); only client-owned opaque parts (claim path/range/meta,
// presence members, relayed event payloads) stay JSON values.
//
// Adding an op: declare its struct here with a unique `kKind` (its name in the op log), add it
// to `Op`, give Coordinator a `apply_op_locked(const op::X&)` handler, and give op_codec.cpp its
// `to_json` / `from_json` pair. A missing handler or codec entry does not compile.
#include <cstdint>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include <boost/json/object.hpp>
#include <boost/json/value.hpp>

#include "coord/claim_table.h"

namespace ablo::coord {

// Who acts on the plane: derived from an authenticated principal.
struct Participant {
  std::string tenant;
  Owner owner;
  std::string kind;                 // user | agent | system
  std::vector<std::string> groups;  // presence audience: sockets sharing one of these
  bool privileged = false;          // may reorder wait lines (sk_, system, or intent.reorder)
};

// A claim request from either transport.
struct ClaimRequest {
  std::string intent_id;  // empty = generate one
  std::string entity_type;
  std::string entity_id;
  std::string field;
  std::vector<std::string> fields;  // several fields in one claim (0.49); with `field`, the set
  boost::json::value path, range, meta;
  std::string action = "editing";
  std::string description;
  std::optional<int64_t> ttl_ms;
  bool queue = false;
  // An HTTP ticket (0.49 claim routes): when queued it stays in line while its owner heartbeats
  // it (lapsing after its TTL without one) and is granted at the head without a socket.
  bool ticket = false;
  // Refused with queue_too_deep (and not queued) when more than this many wait ahead.
  std::optional<int> max_queue_depth;
  // The caller waits this long server-side for the grant (waitTimeoutMs): a queued ticket stays
  // in line at least as long without a heartbeat.
  std::optional<int64_t> wait_ms;
};

// A new order for an entity's wait line (intent_reorder, POST /claims/reorder).
struct ReorderRequest {
  std::string entity_type;
  std::string entity_id;
  std::vector<std::string> intent_ids;  // the waiters, in their new order
};

namespace op {

// A socket joined (its frames go to this node's outbox for `session`, if it is ours).
struct Attach {
  static constexpr std::string_view kKind = "attach";
  uint64_t session = 0;
  Participant who;
};

// A socket closed: its waiters leave the lines, its claims stop being renewed.
struct Detach {
  static constexpr std::string_view kKind = "detach";
  uint64_t session = 0;
};

// A socket joined more sync groups (its presence audience widens).
struct AddGroups {
  static constexpr std::string_view kKind = "add_groups";
  uint64_t session = 0;
  std::vector<std::string> groups;
};

// A claim. From a socket (`session` != 0, no `who`): the session's participant claims and the
// socket hears the outcome as intent_* frames. Over HTTP (`who`, session 0): the caller gets
// the ClaimResult, and a repeat of an active claim extends its lease.
struct Begin {
  static constexpr std::string_view kKind = "begin";
  uint64_t session = 0;
  std::optional<Participant> who;
  ClaimRequest request;
};

// A socket's owner gives up one of its claims (intent_abandon).
struct Abandon {
  static constexpr std::string_view kKind = "abandon";
  uint64_t session = 0;
  std::string intent_id;
};

// A privileged participant reorders a wait line: from a socket (`session`, the session's
// participant must be privileged) or over HTTP (`who`, checked by the route).
struct Reorder {
  static constexpr std::string_view kKind = "reorder";
  uint64_t session = 0;
  std::optional<Participant> who;
  ReorderRequest request;
};

// A socket's participant sets presence members (client-owned JSON, bounded at the edge).
struct PresenceUpdate {
  static constexpr std::string_view kKind = "presence_update";
  uint64_t session = 0;
  boost::json::object fields;
};

// An app collaboration event relayed to the sender's peers.
struct RelayEvent {
  static constexpr std::string_view kKind = "relay_event";
  uint64_t session = 0;
  std::string type;
  boost::json::object payload;
};

// HTTP: release one claim by intent id.
struct ReleaseIntent {
  static constexpr std::string_view kKind = "release_intent";
  Participant who;
  std::string intent_id;
};

// HTTP: an operator (a secret key, checked by the route; `who.privileged` here) ends someone
// else's claim — a held claim loses its row ("preempted", the holder gets intent_lost) and the
// next in line is granted; a queued ticket leaves the line.
struct Preempt {
  static constexpr std::string_view kKind = "preempt";
  Participant who;
  std::string intent_id;
};

// HTTP: release the caller's claims on one entity.
struct ReleaseEntity {
  static constexpr std::string_view kKind = "release_entity";
  Participant who;
  std::string entity_type;
  std::string entity_id;
};

// HTTP: extend a claim's lease.
struct Renew {
  static constexpr std::string_view kKind = "renew";
  Participant who;
  std::string intent_id;
};

// A claim's owner says it is still there (0.49 claim_heartbeat, POST /v1/claims/{id}/heartbeat):
// a held claim's lease moves to now + ttl, a queued ticket stays in line. From a socket
// (`session`) or over HTTP (`who`). An empty `intent_id` heartbeats every claim of the owner.
struct Heartbeat {
  static constexpr std::string_view kKind = "heartbeat";
  uint64_t session = 0;
  std::optional<Participant> who;
  std::string intent_id;
  std::optional<int64_t> ttl_ms;
};

// Cluster: the holder wrote the entity (so its release reads 'committed' on every replica).
struct Wrote {
  static constexpr std::string_view kKind = "wrote";
  Participant who;
  std::string model;
  std::string entity_id;
  std::set<std::string> fields;
};

// A capability was revoked: every node closes its sockets authenticated by it.
struct CloseSessions {
  static constexpr std::string_view kKind = "close_sessions";
  std::string tenant;
  std::string credential_id;
  int close_code = 4003;  // the WebSocket close code
  std::string reason;
};

// Renew due leases (of the stamping node's sockets, in a cluster) and expire lapsed ones.
struct Sweep {
  static constexpr std::string_view kKind = "sweep";
};

// Cluster: these nodes went silent; their sockets leave.
struct NodesDown {
  static constexpr std::string_view kKind = "nodes_down";
  std::vector<int64_t> nodes;
};

}  // namespace op

using Op = std::variant<op::Attach, op::Detach, op::AddGroups, op::Begin, op::Abandon, op::Reorder,
                        op::PresenceUpdate, op::RelayEvent, op::ReleaseIntent, op::Preempt, op::ReleaseEntity, op::Renew,
                        op::Heartbeat, op::Wrote, op::CloseSessions, op::Sweep, op::NodesDown>;

// An op as applied: with the originating node's clock, delta head and id, so every replica
// applies it identically.
struct StampedOp {
  Op op;
  int64_t now = 0;   // ms since the epoch on the originating node
  int64_t head = 0;  // the originating node's delta head: grants are fenced by it
  int64_t node = 0;  // the originating node (cluster); 0 alone
};

// The op's name in the op log (its `kKind`).
inline std::string_view kind_of(const Op& op) {
  return std::visit([](const auto& o) { return std::decay_t<decltype(o)>::kKind; }, op);
}

}  // namespace ablo::coord
