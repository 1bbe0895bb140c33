#pragma once
// The coordination plane: claims (a fair FIFO queue per entity, leases with a TTL), presence
// and app collaboration events, shared by the WebSocket and HTTP transports (protocol.md
// §3.8, http-api.md §5). Claims are ephemeral and live in memory, as the spec allows; clients
// announce them again after a reconnect.
//
// Lease policy:
//  * TTL: the requested one (WS `estimatedMs`, HTTP `ttl`), default 60 s, clamped to
//    [1 s, 10 min].
//  * A claim announced on a WebSocket is renewed by the server while that socket is open:
//    once half its TTL has passed, expiresAt moves to now + TTL (and peers get the new
//    expiresAt). A silent socket is closed by the server after 20 s without traffic (it
//    pings after 10 s; every WebSocket client answers pings), so a hung holder counts as gone.
//  * When the socket closes, renewal stops and the claim lapses at its expiresAt — within one
//    TTL — unless the owner announces the same intentId again on a new socket first. On lapse
//    the holder's sockets get intent_lost {reason:'expired'} and the next waiter is granted.
//  * A waiter whose socket closes leaves the line at once (no ghost waiters).
//  * HTTP claims have no socket: they lapse at expiresAt unless the owner claims again,
//    heartbeats or writes with the claim's intent id. A 0.9.1 HTTP waiter (/v1/intents) whose
//    owner has no socket when it reaches the head is skipped (marked expired): it could never
//    learn of its grant.
//  * A 0.49 HTTP ticket (ClaimRequest::ticket) waits without a socket: it stays in line while
//    its owner heartbeats it (each heartbeat keeps it until now + TTL; without one it leaves
//    the line, "expired") and is granted at the head — the owner learns it by polling.
//
// Fence tokens (0.49): every grant takes the next value of one replicated counter, so a row's
// holders get strictly increasing tokens (Claim::fence_token; readAt = the delta head the
// grant is fenced by). check_fence refuses a write naming a claim that is no longer held
// (claim_lost) or a token other than the claim's current grant (fence_token_stale).
//
// Presence identity is the participant: every presence_update carries the participant's
// complete activeIntents, and frames about a participant are never sent to that participant's
// own sockets (the 0.9.1 client cannot recognise its own echo).
//
// Every change is a typed op (coord/ops.h: one struct per kind in the `Op` variant) stamped
// with the node's clock and delta head, and applied under one mutex by apply_locked, which
// dispatches with std::visit to one apply_op_locked handler per kind (claims and sessions in
// coordinator.cpp, presence and relayed events in presence.cpp). Applying is
// deterministic given the replica's state and the stamped op; its outputs are the caller's
// OpResult and the Effects (coord/effects.h: frames and closes for this node's sockets), which
// the Coordinator delivers to the outboxes right after, under the same lock. Alone, a node applies its ops at once
// and never serializes them. In a cluster (join_cluster) ops go through the shared OpLog
// (coord/op_log.h) in their JSON form (coord/op_codec.h) and every node applies every op in
// log order, so all replicas agree; the caller waits until its own op is applied and gets its
// result. Client frames are parsed at the edge (coord/requests.h, or a dialect codec in net/)
// into typed requests before they become ops.
//
// Threading: every public method may be called from any thread. One mutex guards all state;
// frames are pushed to Outboxes (which never block) under it, so each socket sees claim
// frames in the order the state changed. A sweeper thread (start/stop) renews and expires
// leases and sends the coalesced intent_queue snapshots (at most one per line per 20 ms); in
// a cluster it also heartbeats and declares silent nodes down. Ops are never appended while
// the state mutex is held.
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <list>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <boost/json/object.hpp>

#include "audit/audit.h"
#include "auth/auth_service.h"
#include "common/result.h"
#include "coord/claim_table.h"
#include "coord/effects.h"
#include "coord/op_log.h"
#include "coord/ops.h"
#include "coord/requests.h"
#include "fanout/hub.h"

namespace ablo::coord {

inline constexpr int64_t kDefaultTtlMs = 60'000;
inline constexpr int64_t kMinTtlMs = 1'000;
inline constexpr int64_t kMaxTtlMs = 600'000;
inline constexpr int kIdleSocketTimeoutSeconds = 20;  // enforced by the WebSocket layer
inline constexpr int64_t kQueueSnapshotDelayMs = 20;   // intent_queue snapshots are coalesced this long
// How many ended claims find() still reports (GET /v1/claims/{id}: committed | canceled |
// expired), per node; older ones read as unknown.
inline constexpr std::size_t kEndedClaimsKept = 10'000;
// Cluster mode: each node renews only its own sockets' claims (sweep ops carry the node), so a
// crashed node's claims lapse at their expiresAt — within one TTL of the crash — on every
// replica. A node silent for kNodeStaleMs is declared down: its sockets leave (waiters leave
// the lines, presence says leave). Node clocks must agree to well under half a TTL (500 ms).
inline constexpr int64_t kClusterDutyIntervalMs = 100;
inline constexpr int64_t kHeartbeatIntervalMs = 1'000;
inline constexpr int64_t kNodeStaleMs = 10'000;
// The lowest live node snapshots its replica this often; ops a snapshot covers are deleted
// once this old (no live node can still be behind them).
inline constexpr int64_t kSnapshotIntervalMs = 5 * 60'000;
inline constexpr int64_t kCompactAfterMs = 60 * 60'000;

Participant participant_of(const auth::Principal& principal, std::vector<std::string> groups);

struct ClaimResult {
  BeginOutcome::Kind kind = BeginOutcome::Kind::kRejected;
  std::optional<Claim> claim;
  int position = 0;
  std::optional<Claim> blocker;
  bool repeated = false;
  std::optional<Error> error;  // the cluster's op log was unreachable (intent_lease_unavailable)
};

// A heartbeat's answer (0.49 claim_heartbeat_ack, POST /v1/claims/{id}/heartbeat).
struct HeartbeatResult {
  enum class Status { kHeld, kQueued, kLost };
  Status status = Status::kLost;
  std::string claim_id;
  int64_t expires_at_ms = 0;  // kHeld: the lease end; kQueued: when the ticket lapses
  int position = 0;           // kQueued: waiters ahead (0 = next)
  int queue_depth = 0;        // waiters on the entity
  std::optional<Claim> claim;  // kHeld / kQueued
  std::optional<Error> error;  // the cluster's op log was unreachable (claim_lease_unavailable)
};

// A claim as it stands now, with its place in line; or, recently ended, how it ended.
struct ClaimState {
  Claim claim;
  int position = 0;     // queued: waiters ahead
  int queue_depth = 0;  // waiters on the entity
  std::string terminal;  // set once it ended: committed | canceled | expired
};

struct CoordinatorOptions {
  std::function<int64_t()> clock;                            // ms since the epoch; default now_ms
  std::function<std::string(std::string_view)> model_key;    // canonical model key, "" if unknown
  // The delta id this node has published through. A claim granted by an op is delivered
  // after the deltas up to the head at that op (Outbox::push_after_deltas), so the new
  // holder's client has the previous holder's last write when it re-reads. Default: 0.
  std::function<int64_t()> delta_head;
  // Bounds (README "Limits and security"). A claim beyond the first two is refused with
  // queue_too_deep; they also bound what one owner's presence_update (its activeIntents) costs.
  int max_claims_per_owner = 100;  // held + queued, per owner
  int max_line_depth = 1'000;      // holders + waiters on one entity
  // The members a client sets in one presence_update, serialized; a larger frame is ignored.
  std::size_t max_presence_bytes = 16 * 1024;
  int max_claimed_waits = 1'000;  // claimed reads (ifClaimed: wait) waiting at once
  int max_grant_waits = 1'000;    // HTTP claims waiting for their grant (waitTimeoutMs) at once
  // The audit trail's sink for claim events (issue 13): a `claim.grant` row when a claim is
  // granted (acquired at once, or promoted from the line) and a `claim.release` row when a
  // granted claim ends (committed | canceled | expired). Called under the coordinator's lock,
  // so it must only hand the row off (Engine::record_audit_later queues it). In a cluster only
  // the node that appended the op records it, so each event is recorded once. Unset: none.
  std::function<void(audit::AuditRow)> audit;
};

class Coordinator {
 public:
  explicit Coordinator(CoordinatorOptions options = {});
  ~Coordinator();
  Coordinator(const Coordinator&) = delete;
  Coordinator& operator=(const Coordinator&) = delete;

  void start();  // the lease sweeper thread
  void stop();

  // Cluster mode: from now on every change goes through `log`, shared with the other nodes
  // (not owned; outlives the coordinator's use). Starts from the latest snapshot, if any,
  // and replays the log after it. Call before start().
  Status join_cluster(OpLog* log);
  // Applies the ops other nodes appended since the last call (on a log wake-up).
  Status catch_up();
  // Cluster mode: stores a snapshot of this replica in the log (the sweeper of the lowest
  // live node does it every kSnapshotIntervalMs).
  void write_snapshot();

  // A WebSocket joined: its frames go to `outbox` until detach(). Sends it the presence of the
  // participants it can see, so it knows their claims.
  uint64_t attach(Participant participant, fanout::Outbox* outbox);
  void detach(uint64_t session);
  void add_groups(uint64_t session, const std::vector<std::string>& groups);

  // WebSocket frames (protocol.md §3.3). Invalid frames are ignored: there is no reply frame.
  // The payload forms parse the 0.9.1 frame (coord/requests.h) and call the typed form.
  void intent_begin(uint64_t session, const boost::json::object& payload);
  void intent_begin(uint64_t session, ClaimRequest request);
  void intent_abandon(uint64_t session, const boost::json::object& payload);
  void intent_abandon(uint64_t session, std::string intent_id);
  void intent_reorder(uint64_t session, const boost::json::object& payload);
  void intent_reorder(uint64_t session, ReorderRequest request);
  void presence_update(uint64_t session, const boost::json::object& payload);
  void relay_event(uint64_t session, std::string_view type, const boost::json::object& payload);

  // HTTP (http-api.md §5.3–§5.9).
  ClaimResult claim(const Participant& who, ClaimRequest request);
  std::optional<bool> release_intent(const Participant& who, const std::string& intent_id);
  // An operator ends anyone's claim in its tenant (op::Preempt): nullopt for an unknown id,
  // false when `who` is not privileged.
  std::optional<bool> preempt(const Participant& who, const std::string& intent_id);
  bool release_entity(const Participant& who, const std::string& entity_type, const std::string& id);
  void reorder(const Participant& who, const std::string& entity_type, const std::string& id,
               const std::vector<std::string>& intent_ids);
  bool renew(const Participant& who, const std::string& intent_id);

  // Heartbeats (0.49): a held claim of the caller is renewed to now + ttl (its own TTL when
  // none; clamped like a claim's), a queued ticket stays in line as long; kLost for an unknown,
  // ended or foreign claim id. The socket form is claim_heartbeat (the session's participant).
  HeartbeatResult heartbeat(uint64_t session, const std::string& claim_id, std::optional<int64_t> ttl_ms);
  HeartbeatResult heartbeat(const Participant& who, const std::string& claim_id, std::optional<int64_t> ttl_ms);
  // Every claim of the caller, held and queued (POST /v1/claims/heartbeat).
  std::vector<HeartbeatResult> heartbeat_all(const Participant& who, std::optional<int64_t> ttl_ms);
  // One claim of the tenant as it stands, or how it ended if that was recent (nullopt: unknown).
  std::optional<ClaimState> find(const std::string& tenant, const std::string& claim_id) const;
  // Calls `done(claim)` once claim `claim_id` is active (at once if it is), `done(nullopt)` once
  // it ended, at `deadline_ms`, or on stop(). Like when_free: `done` runs under the lock and
  // must only hand off; false (and `done` is never called) past max_grant_waits.
  bool when_granted(const std::string& tenant, const std::string& claim_id, int64_t deadline_ms,
                    std::function<void(std::optional<Claim>)> done);
  // Claims holding rows and waiting in lines, across tenants (metrics).
  ClaimTable::Census census() const;
  // No claim is held or waiting anywhere: every write passes authorize_write as it stands.
  bool holds_no_claims() const;

  // The fence check of a write naming a claim (0.49 `claim` + `fenceToken`): claim_lost when
  // claim `claim_id` is not an active claim of `owner` on the row (unknown, expired, released,
  // lost, queued, or on another row), fence_token_stale when `fence_token` is not the token of
  // the claim's current grant (an earlier grant's, or one never issued). An empty claim id with
  // a token is claim_id_required; neither is OK.
  Status check_fence(const std::string& tenant, const Owner& owner, const std::string& model_key, const std::string& id,
                     const std::string& claim_id, std::optional<int64_t> fence_token) const;
  // Claims of the tenant, optionally narrowed to one model / entity / field (entity-level
  // claims always match a field), active first then the line.
  std::vector<Claim> list(const std::string& tenant, const std::string& entity_type, const std::string& id,
                          const std::string& field) const;
  // Active claims on one entity held by someone other than `who` (claimed reads).
  std::vector<Claim> foreign_holders(const Participant& who, const std::string& model_key, const std::string& id) const;
  // Calls `done(true)` once no foreign holder remains on any of the entities (at once if none
  // does), or `done(false)` at `deadline_ms` or on stop(). No thread waits meanwhile. `done`
  // runs under the coordinator's lock on whichever thread ended the claims (or the sweeper):
  // it must only hand the work off. False, and `done` is never called, when
  // max_claimed_waits waits are already registered.
  bool when_free(const Participant& who, std::vector<std::pair<std::string, std::string>> entities,
                 int64_t deadline_ms, std::function<void(bool free)> done);

  // The write guard (http-api.md §5.7): entity_claimed when another owner holds an active
  // claim the write would violate. `fields` empty = the whole entity.
  Status authorize_write(const std::string& tenant, const Owner& writer, const std::string& model_key,
                         const std::string& id, const std::set<std::string>& fields);

  // Closes every socket authenticated by `credential_id` (a revoked capability) with `code`;
  // returns how many. Their claims then lapse like any other closed socket's.
  int close_sessions(const std::string& tenant, const std::string& credential_id, int code, const std::string& reason);

  // Runs one sweep now and ends the grant waits past their deadline (tests drive time with
  // their own clock).
  void sweep_now();
  std::string model_key(std::string_view entity_type) const;

 private:
  struct Session {
    Participant who;
    fanout::Outbox* outbox;  // null: another node's socket, or closed
  };
  struct ParticipantState {
    std::string kind;
    std::set<std::string> groups;
    std::set<uint64_t> sessions;
    boost::json::object presence;  // the latest client-sent presence fields
    bool entered = false;          // peers were told this participant is here
  };
  // A socket of `groups` is in the audience of frames addressed to `audience`.
  static bool shares_group(const std::vector<std::string>& groups, const std::set<std::string>& audience);
  // What applying an op answers its caller (the op's own node).
  struct OpResult {
    ClaimResult claim;
    std::optional<bool> released;
    bool flag = false;
    int count = 0;
    std::vector<HeartbeatResult> heartbeats;
    std::optional<Error> error;
    Effects effects;  // for this node's sockets; delivered by the caller of apply_locked
  };

  // Stamps `op` with this node's clock and delta head and applies it here (alone) or through
  // the cluster log; the op's result.
  OpResult execute(Op op);
  // The state machine: applies one stamped op (dispatching on its type to apply_op_locked).
  // Deterministic given the replica's state and the op; its only outputs are the result and
  // the Effects for this node's sockets (OpResult::effects), which it does not deliver.
  OpResult apply_locked(const StampedOp& op);
  OpResult apply_guarded_locked(const StampedOp& op);
  OpResult apply_op_locked(const op::Attach& op);
  OpResult apply_op_locked(const op::Detach& op);
  OpResult apply_op_locked(const op::AddGroups& op);
  OpResult apply_op_locked(const op::Begin& op);
  OpResult apply_op_locked(const op::Abandon& op);
  OpResult apply_op_locked(const op::Reorder& op);
  OpResult apply_op_locked(const op::PresenceUpdate& op);
  OpResult apply_op_locked(const op::RelayEvent& op);
  OpResult apply_op_locked(const op::ReleaseIntent& op);
  OpResult apply_op_locked(const op::Preempt& op);
  OpResult apply_op_locked(const op::ReleaseEntity& op);
  OpResult apply_op_locked(const op::Renew& op);
  OpResult apply_op_locked(const op::Heartbeat& op);
  OpResult apply_op_locked(const op::Wrote& op);
  OpResult apply_op_locked(const op::CloseSessions& op);
  OpResult apply_op_locked(const op::Sweep& op);
  OpResult apply_op_locked(const op::NodesDown& op);
  Status catch_up_to(int64_t op_id, OpResult* result);
  void detach_locked(uint64_t session);
  // A socket's claim: answers the socket with intent_* frames (if it is this node's).
  void socket_begin_locked(uint64_t session, ClaimRequest request);
  // An HTTP claim: a repeat of an active claim extends its lease.
  ClaimResult claim_locked(const Participant& who, ClaimRequest request);
  void cluster_duties();  // sweeper, cluster mode: heartbeat, dead nodes, sweep ops
  std::string snapshot_locked() const;
  Status restore_locked(const std::string& state);
  ClaimTable::Renews renews_for(int64_t node) const;

  ClaimResult begin_locked(const Participant& who, uint64_t session, ClaimRequest request, Changes& changes);
  void publish_locked(const Changes& changes);
  void send_presence_locked(const std::string& tenant, const std::string& participant_id, std::string_view kind,
                            const std::vector<std::pair<Claim, std::string>>& terminal, uint64_t only_session = 0);
  void send_queue_locked(const std::string& entity_key, const std::set<std::string>& audience_groups);
  // Sends the intent_queue snapshots due by `now`; returns when the next one is due.
  int64_t flush_queues_locked(int64_t now);
  // Effects: collected in effects_ while an op applies (or the sweeper flushes), delivered by
  // deliver_locked. A null outbox (another node's socket) sends nothing.
  void send_locked(fanout::Outbox* outbox, std::string frame, std::optional<int64_t> after_deltas = std::nullopt);
  void close_locked(fanout::Outbox* outbox, int code, std::string reason);
  void deliver_locked(Effects effects);
  // `fenced`: delivered after the deltas up to fence_ (Outbox::push_after_deltas).
  void send_to_owner_locked(const Claim& claim, const std::string& frame, bool fenced = false);
  int64_t delta_head() const { return options_.delta_head ? options_.delta_head() : 0; }
  bool reachable_locked(const Claim& claim) const;
  ParticipantState& participant_locked(const Participant& who);
  void sweeper();
  // Ends the claimed-read waits whose rows are free or whose deadline passed (all of them when
  // stopping); returns when the next deadline is due.
  int64_t settle_claim_waits_locked(int64_t now);
  // The same for grant waits (when_granted).
  int64_t settle_grant_waits_locked(int64_t now);
  HeartbeatResult heartbeat_locked(const Participant& who, const std::string& claim_id, std::optional<int64_t> ttl_ms,
                                   Changes& changes);
  bool foreign_held_locked(const Participant& who, const std::vector<std::pair<std::string, std::string>>& entities) const;
  // queue_too_deep when a new claim would exceed the per-owner or per-entity bound.
  std::optional<Error> claim_bound_locked(const Claim& claim) const;

  CoordinatorOptions options_;
  mutable std::mutex mutex_;
  std::condition_variable wake_;      // wakes the sweeper (new lease, stop)
  ClaimTable table_;
  std::map<uint64_t, std::unique_ptr<Session>> sessions_;  // every node's (replicated)
  std::map<uint64_t, fanout::Outbox*> outboxes_;           // this node's sockets
  int64_t now_ = 0;    // the time of the op being applied
  int64_t fence_ = 0;  // the delta head of the op being applied: grants are fenced by it
  int64_t op_node_ = 0;  // the node that appended the op being applied (cluster)
  Effects effects_;      // collected, not yet delivered
  std::map<std::pair<std::string, std::string>, std::unique_ptr<ParticipantState>> participants_;
  struct PendingSnapshot {
    int64_t due_ms = 0;
    std::set<std::string> audience;
  };
  std::map<std::string, PendingSnapshot> queue_snapshots_;  // entity key -> coalesced intent_queue
  struct ClaimWait {
    Participant who;
    std::vector<std::pair<std::string, std::string>> entities;
    int64_t deadline_ms = 0;
    std::function<void(bool)> done;
  };
  std::list<ClaimWait> claim_waits_;  // claimed reads waiting for a release (when_free)
  struct GrantWait {
    std::string tenant;
    std::string claim_id;
    int64_t deadline_ms = 0;
    std::function<void(std::optional<Claim>)> done;
  };
  std::list<GrantWait> grant_waits_;  // HTTP claims waiting for their grant (when_granted)
  // Recently ended claims (bounded by kEndedClaimsKept, oldest dropped first), for find().
  // Not replicated state: a node that joined from a snapshot knows only the ends it applied.
  std::map<std::string, ClaimState> ended_;  // tenant + id -> the claim and how it ended
  std::list<std::string> ended_order_;
  void remember_end_locked(const Claim& claim, const std::string& terminal);
  // Hands a claim.grant / claim.release row to options_.audit when the op being applied
  // originated here (every replica applies every op; one records it).
  void audit_grant_locked(const Claim& claim, std::string_view how);
  void audit_release_locked(const Transition& ended);
  bool audits_here_locked() const;
  uint64_t next_session_ = 1;
  bool stopping_ = false;
  std::thread sweeper_;

  // Cluster mode.
  OpLog* log_ = nullptr;
  uint64_t session_prefix_ = 0;  // node id << 32
  std::mutex apply_mutex_;       // serializes replay; guards applied_, results_
  int64_t applied_ = 0;
  std::map<int64_t, OpResult> results_;  // results of this node's ops, until their callers take them
  int64_t next_duties_ms_ = 0;           // sweeper thread only
  int64_t next_prune_ms_ = 0;            // sweeper thread only
};

}  // namespace ablo::coord
