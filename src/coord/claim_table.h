#pragma once
// The state of the claim plane (protocol.md §3.8, http-api.md §5): for every entity, the
// claims on it in arrival order — active holders first granted, then a fair FIFO wait line.
// Pure data structure: no clock, no threads, no I/O. The Coordinator owns one, guards it with
// its mutex and turns the Changes it reports into frames.
//
// Compatibility: two claims on one entity conflict when they belong to different owners and
// their targets overlap (either is entity-level, or their field sets — `field` plus `fields` —
// share a field). At any time no two active claims conflict — the invariant the property test
// checks.
//
// Fence tokens: every grant (direct acquire or promotion) takes the next value of one counter
// of the table, so tokens strictly increase per entity across holders; replicas applying the
// same ops agree on them, and snapshots carry the counter (last_fence / restore).
//
// Fairness: a new claim is granted at once only if it conflicts with no active claim and no
// waiter (or its owner already holds an overlapping claim: "you never conflict with your own
// claim"). Promotion walks the line in order and grants each waiter that conflicts with no
// active claim and no waiter still ahead of it, so nobody is overtaken by a later arrival.
#include <cstdint>
#include <functional>
#include <list>
#include <optional>
#include <set>
#include <string>
#include <unordered_map>
#include <vector>

#include <boost/json/value.hpp>

namespace ablo::coord {

// Claim ownership (protocol.md §8.2, http-api.md §1.2): the owner is the pair (participant id,
// credential id). Two sockets or processes using one token are one owner and never exclude
// each other; two runs of one agent with separate capabilities do. Commits carry no claim id,
// so the write guard decides by the committing principal's owner.
struct Owner {
  std::string participant_id;
  std::string credential_id;
  bool operator==(const Owner&) const = default;
};

enum class ClaimStatus { kActive, kQueued };

struct Claim {
  std::string tenant;
  std::string intent_id;
  Owner owner;
  std::string participant_kind;  // user | agent | system
  std::string entity_type;       // as the claimant spelled it; echoed back in its frames
  std::string model;             // canonical model key; claims are matched on this
  std::string entity_id;
  std::string field;             // with `fields`: empty both = the whole entity
  std::vector<std::string> fields;  // several fields in one claim (0.49 `fields[]`)
  boost::json::value path, range, meta;  // opaque, echoed
  std::string action = "editing";
  std::string description;
  int64_t ttl_ms = 0;
  int64_t declared_at_ms = 0;
  // Active: the lease end. A queued ticket: when it leaves the line unless heartbeated.
  int64_t expires_at_ms = 0;
  ClaimStatus status = ClaimStatus::kQueued;
  uint64_t session = 0;  // the live socket that announced it and renews it; 0 = none
  bool wrote = false;    // the owner wrote the entity while holding it ("committed" on release)
  // An HTTP ticket (0.49): waits without a socket, kept in line by heartbeats, and is granted
  // at the head even though no socket could hear of it (its owner polls).
  bool ticket = false;
  int64_t fence_token = 0;  // set at each grant; 0 = never granted
  int64_t read_at = 0;      // the delta head at the grant (the fence the grant is delivered after)
};

// The fields a claim names, in matching spelling; empty = the whole entity.
std::set<std::string> claim_field_keys(const Claim& claim);

// Something that happened to one claim, for the coordinator to announce.
struct Transition {
  enum class Kind { kGranted, kEnded };
  Kind kind;
  Claim claim;           // snapshot after the change
  bool was_active = false;
  std::string terminal;  // kEnded: committed | canceled | expired | preempted
  bool involuntary = false;  // kEnded: lost to expiry or an operator, not released by the owner
  std::string ended_by;      // kEnded by an operator (preempted): that participant's id
};

struct Changes {
  std::vector<Transition> transitions;
  std::set<std::string> entities;  // entity keys whose line changed (intent_queue snapshots)
  std::set<std::pair<std::string, std::string>> participants;  // (tenant, participant) whose active set changed
  std::vector<Claim> renewed;     // active claims whose lease moved forward
  bool empty() const { return transitions.empty() && entities.empty() && renewed.empty(); }
};

struct BeginOutcome {
  enum class Kind { kAcquired, kQueued, kRejected, kForeignId };
  Kind kind;
  int position = 0;            // kQueued: waiters ahead (0 = next)
  std::optional<Claim> claim;  // the claim as stored (kAcquired, kQueued)
  std::optional<Claim> blocker;  // kRejected / kForeignId: the claim in the way
  bool repeated = false;       // the intent id was already known for this owner
};

class ClaimTable {
 public:
  // Decides whether a waiter without a live socket could ever use a grant; such waiters are
  // skipped at promotion (http-api.md §5.4 "socketless waiters").
  using Reachable = std::function<bool(const Claim&)>;
  explicit ClaimTable(Reachable reachable = nullptr);

  static std::string entity_key(const std::string& tenant, const std::string& model, const std::string& id);

  // Takes a claim (request.status/expires_at are set here). A repeated intent id of the same
  // owner is idempotent and re-attaches `request.session`; of another owner it is refused.
  BeginOutcome begin(Claim request, bool queue, int64_t now, Changes& changes);
  // Releases (active) or dequeues (queued) one claim of `owner`. Returns nullopt when the id is
  // unknown, false when it belongs to another owner, true when something was removed.
  std::optional<bool> abandon(const std::string& tenant, const std::string& intent_id, const Owner& owner, int64_t now,
                              Changes& changes);
  // Removes every claim of `owner` on the entity; true when an active one was released.
  bool release_entity(const std::string& tenant, const std::string& model, const std::string& id, const Owner& owner,
                      int64_t now, Changes& changes);
  // Ends a claim whoever owns it (an operator's eviction, terminal "preempted", involuntary) and
  // grants the next in line. nullopt: unknown id.
  std::optional<bool> preempt(const std::string& tenant, const std::string& intent_id, const std::string& operator_id,
                              int64_t now, Changes& changes);
  // Moves the listed waiters to the front in the given order; others keep their order behind.
  void reorder(const std::string& tenant, const std::string& model, const std::string& id,
               const std::vector<std::string>& intent_ids, int64_t now, Changes& changes);
  // A socket closed: its waiters leave their lines, its holders stop renewing (they lapse at
  // expires_at unless the owner announces the same intent id again on a new socket).
  void session_closed(uint64_t session, int64_t now, Changes& changes);
  // Renews the leases of claims with a live socket once half their TTL has passed, expires
  // the others whose lease ran out, promotes waiters. Returns the next time anything is due.
  // `renews` (cluster mode) limits renewal to the sockets of one node: a socket it does not
  // cover is only expired, at expires_at, if its own node stopped renewing it.
  using Renews = std::function<bool(uint64_t session)>;
  int64_t sweep(int64_t now, Changes& changes, const Renews& renews = nullptr);
  // When sweep(…, renews) would next have something to do (max when nothing is leased).
  int64_t next_due(const Renews& renews = nullptr) const;
  // Extends an active claim of `owner` (repeat HTTP claim, write carrying its intent id).
  bool renew(const std::string& tenant, const std::string& intent_id, const Owner& owner, int64_t now);
  // A heartbeat: an active claim of `owner` gets expires_at = now + ttl (its TTL when 0); a
  // queued ticket stays in line until now + ttl. The claim as it is now; nullopt when the id is
  // unknown, another owner's, or past its end (the claim is lost for this caller).
  std::optional<Claim> heartbeat(const std::string& tenant, const std::string& intent_id, const Owner& owner,
                                 int64_t ttl_ms, int64_t now);
  // Waiters ahead of a queued claim (0 = next); and waiters on its entity.
  int position_of(const Claim& claim) const;
  int queue_depth(const std::string& tenant, const std::string& model, const std::string& id) const;
  // The highest fence token among the active claims on the entity whose targets overlap
  // `claim`'s (at least `claim`'s own when it is active); 0 when none.
  int64_t current_fence(const Claim& claim) const;

  // The delta head of the op being applied: grants record it as their readAt.
  void set_delta_head(int64_t head) { delta_head_ = head; }
  // The fence counter (the last token granted), for snapshots.
  int64_t last_fence() const { return last_fence_; }

  // The write guard: the first active claim of another owner that a write to the entity would
  // violate (`fields` empty = the write touches the whole entity: create/delete/archive).
  // Marks the writer's own overlapping claims as written under.
  std::optional<Claim> authorize_write(const std::string& tenant, const std::string& model, const std::string& id,
                                       const Owner& writer, const std::set<std::string>& fields);

  // The claims on one entity in line order (active first), or every claim of the tenant.
  std::vector<Claim> entity_claims(const std::string& tenant, const std::string& model, const std::string& id) const;
  std::vector<Claim> tenant_claims(const std::string& tenant) const;
  std::vector<Claim> claims_of(const std::string& tenant, const std::string& participant_id) const;
  const Claim* find(const std::string& tenant, const std::string& intent_id) const;
  std::size_t size() const { return by_intent_.size(); }
  // How many claims hold a row and how many wait in lines (a scan: for metrics scrapes).
  struct Census {
    std::size_t active = 0;
    std::size_t queued = 0;
  };
  Census census() const {
    Census counted;
    for (const auto& [key, line] : lines_) {
      for (const auto& claim : line) ++(claim.status == ClaimStatus::kActive ? counted.active : counted.queued);
    }
    return counted;
  }
  // Claims (held and queued) of one owner, and on one entity: what the coordinator bounds.
  std::size_t owner_claim_count(const std::string& tenant, const Owner& owner) const;
  std::size_t line_length(const std::string& tenant, const std::string& model, const std::string& id) const;

  // Every claim, each line in line order (a cluster replica's snapshot), and its inverse:
  // replaces the whole table with claims as all_claims returned them.
  std::vector<Claim> all_claims() const;
  // `last_fence`: the counter as the snapshot recorded it (never below a restored claim's token).
  void restore(const std::vector<Claim>& claims, int64_t last_fence = 0);

 private:
  using Line = std::list<Claim>;

  static bool conflicts(const Claim& a, const Claim& b);
  static int position_in(const Line& line, const Claim& claim);
  void promote(const std::string& key, int64_t now, Changes& changes);
  void end(const std::string& key, Line::iterator it, const std::string& terminal, bool involuntary,
           Changes& changes);
  // `announce`: emit a kGranted transition (promotion); a direct acquire is answered by begin().
  void grant(Claim& claim, int64_t now, Changes& changes, bool announce);
  void erase_line_if_empty(const std::string& key);

  Reachable reachable_;
  int64_t last_fence_ = 0;
  int64_t delta_head_ = 0;
  std::unordered_map<std::string, Line> lines_;  // entity key -> claims
  std::unordered_map<std::string, std::string> by_intent_;  // tenant + intent id -> entity key
};

}  // namespace ablo::coord
