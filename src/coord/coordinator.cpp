#include "coord/coordinator.h"

#include <algorithm>
#include <chrono>
#include <limits>
#include <set>

#include <boost/json.hpp>
#include <fmt/format.h>

#include "common/exception_text.h"
#include "common/random.h"
#include "common/thread_name.h"
#include "common/time.h"
#include "coord/op_codec.h"
#include "coord/wire.h"
#include "errors/registry.h"
#include "metrics/metrics.h"

#include <spdlog/spdlog.h>

namespace ablo::coord {

namespace json = boost::json;

namespace {

// Registered at start (a scrape shows them at 0 before the first claim).
metrics::Counter& lapsed_leases_counter = metrics::global().counter(
    "ablo_claim_leases_expired_total", "Granted claims whose lease ran out (not released, not renewed)");
metrics::Histogram& claim_wait_histogram = metrics::global().histogram(
    "ablo_claim_wait_seconds", "A claim's time in line, from its request to its grant from the line",
    metrics::latency_buckets());

int64_t clamp_ttl(std::optional<int64_t> requested) {
  return std::clamp(requested.value_or(kDefaultTtlMs), kMinTtlMs, kMaxTtlMs);
}

struct EntityRef {
  std::string tenant, model, id;
};

EntityRef split_entity_key(const std::string& key) {  // inverse of ClaimTable::entity_key
  const auto first = key.find('\x1f');
  const auto second = key.find('\x1f', first + 1);
  return {key.substr(0, first), key.substr(first + 1, second - first - 1), key.substr(second + 1)};
}

}  // namespace

// ---------------------------------------------------------------- participants

bool Coordinator::shares_group(const std::vector<std::string>& groups, const std::set<std::string>& audience) {
  return std::any_of(groups.begin(), groups.end(), [&](const auto& g) { return audience.count(g) > 0; });
}

ClaimTable::Census Coordinator::census() const {
  std::lock_guard lock(mutex_);
  return table_.census();
}

bool Coordinator::holds_no_claims() const {
  std::lock_guard lock(mutex_);
  return table_.size() == 0;
}

Participant participant_of(const auth::Principal& principal, std::vector<std::string> groups) {
  Participant p;
  p.tenant = principal.tenant.key();
  p.owner = {principal.participant_id, principal.credential_id()};
  p.kind = principal.participant_kind;
  p.groups = groups.empty() ? principal.allowed_groups : std::move(groups);
  const auto& ops = principal.operations;
  p.privileged = principal.secret_key || principal.participant_kind == "system" ||
                 std::find(ops.begin(), ops.end(), "intent.reorder") != ops.end();
  return p;
}

// ---------------------------------------------------------------- state

Coordinator::Coordinator(CoordinatorOptions options)
    : options_(std::move(options)), table_([this](const Claim& claim) { return reachable_locked(claim); }) {
  if (!options_.clock) options_.clock = [] { return now_ms(); };
}

Coordinator::~Coordinator() { stop(); }

void Coordinator::start() {
  std::lock_guard lock(mutex_);
  if (sweeper_.joinable()) return;
  stopping_ = false;
  sweeper_ = named_thread("ablo-claims", [this] {
    run_restarting([this] { sweeper(); }, [](const std::string& what) { spdlog::error("claim sweeper threw: {}", what); });
  });
}

void Coordinator::stop() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
    settle_claim_waits_locked(options_.clock());
    settle_grant_waits_locked(options_.clock());
  }
  wake_.notify_all();
  if (sweeper_.joinable()) sweeper_.join();
}

void Coordinator::sweeper() {
  std::unique_lock lock(mutex_);
  while (!stopping_) {
    const int64_t now = options_.clock();
    int64_t next_due = now + kClusterDutyIntervalMs;
    if (log_) {
      lock.unlock();
      cluster_duties();
      lock.lock();
    } else {
      Changes changes;
      now_ = now;
      fence_ = delta_head();
      table_.set_delta_head(fence_);
      next_due = table_.sweep(now, changes);
      publish_locked(changes);
    }
    next_due = std::min(next_due, flush_queues_locked(now));
    deliver_locked(std::exchange(effects_, {}));
    next_due = std::min(next_due, settle_claim_waits_locked(now));
    next_due = std::min(next_due, settle_grant_waits_locked(now));
    const int64_t wait_ms = std::clamp<int64_t>(next_due - now, 1, log_ ? kClusterDutyIntervalMs : 1000);
    wake_.wait_for(lock, std::chrono::milliseconds(wait_ms));
  }
}

void Coordinator::sweep_now() {
  if (log_) {
    execute(op::Sweep{});
  } else {
    std::lock_guard lock(mutex_);
    Changes changes;
    now_ = options_.clock();
    fence_ = delta_head();
    table_.set_delta_head(fence_);
    table_.sweep(now_, changes);
    publish_locked(changes);
    deliver_locked(std::exchange(effects_, {}));
  }
  std::lock_guard lock(mutex_);
  flush_queues_locked(std::numeric_limits<int64_t>::max());
  deliver_locked(std::exchange(effects_, {}));
  settle_grant_waits_locked(options_.clock());
}

// ---------------------------------------------------------------- cluster

std::string Coordinator::snapshot_locked() const {
  ReplicaImage image;
  for (const auto& [id, session] : sessions_) image.sessions.push_back({id, session->who});
  for (const auto& [key, state] : participants_) {
    image.participants.push_back(
        {key.first, key.second, state->kind, state->groups, state->sessions, state->presence, state->entered});
  }
  image.claims = table_.all_claims();
  image.last_fence = table_.last_fence();
  return encode_snapshot(image);
}

Status Coordinator::restore_locked(const std::string& text) {
  auto image = decode_snapshot(text);
  if (!image) return tl::unexpected(image.error());
  sessions_.clear();
  for (auto& session : image->sessions) {
    auto local = outboxes_.find(session.id);
    sessions_[session.id] =
        std::make_unique<Session>(Session{std::move(session.who), local == outboxes_.end() ? nullptr : local->second});
  }
  participants_.clear();
  for (auto& entry : image->participants) {
    auto state = std::make_unique<ParticipantState>();
    state->kind = std::move(entry.kind);
    state->groups = std::move(entry.groups);
    state->sessions = std::move(entry.sessions);
    state->presence = std::move(entry.presence);
    state->entered = entry.entered;
    participants_[{std::move(entry.tenant), std::move(entry.participant_id)}] = std::move(state);
  }
  table_.restore(image->claims, image->last_fence);
  return {};
}

// The lowest live node writes a snapshot of its replica now and then and lets the log shed
// what the snapshot covers.
void Coordinator::write_snapshot() {
  std::lock_guard apply(apply_mutex_);
  std::string state;
  {
    std::lock_guard lock(mutex_);
    state = snapshot_locked();
  }
  if (auto stored = log_->put_snapshot(applied_, state); !stored) {
    spdlog::warn("coordination snapshot failed: {}", stored.error().message);
    return;
  }
  (void)log_->compact(applied_, kCompactAfterMs);
}

Status Coordinator::join_cluster(OpLog* log) {
  log_ = log;
  session_prefix_ = static_cast<uint64_t>(log->node_id()) << 32;
  if (auto alive = log_->heartbeat(); !alive) return alive;
  auto snapshot = log_->latest_snapshot();
  if (!snapshot) return tl::unexpected(snapshot.error());
  if (*snapshot) {
    std::lock_guard apply(apply_mutex_);
    std::lock_guard lock(mutex_);
    if (auto restored = restore_locked((*snapshot)->second); !restored) return restored;
    applied_ = (*snapshot)->first;
  }
  return catch_up();
}

Status Coordinator::catch_up() { return log_ ? catch_up_to(0, nullptr) : Status{}; }

Coordinator::OpResult Coordinator::execute(Op op) {
  StampedOp stamped{std::move(op), options_.clock(), delta_head(), 0};
  if (!log_) {
    std::lock_guard lock(mutex_);
    auto result = apply_guarded_locked(stamped);
    deliver_locked(std::move(result.effects));
    return result;
  }
  stamped.node = log_->node_id();
  OpResult result;
  auto id = log_->append(std::string(kind_of(stamped.op)), encode_op(stamped));
  if (id) {
    auto applied = catch_up_to(*id, &result);
    if (applied) return result;
    id = tl::unexpected(applied.error());
  }
  spdlog::warn("coordination op {} failed: {}", kind_of(stamped.op), id.error().message);
  result.error = Error("intent_lease_unavailable", "the cluster's claim log is unreachable: " + id.error().message);
  result.claim.error = result.error;
  return result;
}

// Applies the log in order up to `op_id` (0: everything there is) and hands back the result of
// op `op_id`. Ids are dense (the op log is allocated like the delta log), so a hole means "not
// visible yet": stop there and read again later.
Status Coordinator::catch_up_to(int64_t op_id, OpResult* result) {
  std::lock_guard apply(apply_mutex_);
  constexpr int kPage = 256;
  while (true) {
    auto page = log_->read_after(applied_, kPage);
    if (!page) return tl::unexpected(page.error());
    for (const auto& [id, text] : *page) {
      if (id != applied_ + 1) break;
      applied_ = id;
      auto op = decode_op(text);
      if (!op) {
        spdlog::warn("coordination op {} skipped: {}", id, op.error().message);
        continue;
      }
      OpResult outcome;
      {
        std::lock_guard lock(mutex_);
        outcome = apply_guarded_locked(*op);
        deliver_locked(std::exchange(outcome.effects, {}));
      }
      if (op->node == log_->node_id()) results_[id] = std::move(outcome);
    }
    if (applied_ >= op_id && static_cast<int>(page->size()) < kPage) break;
    if (page->empty()) break;
  }
  if (result) {
    auto it = results_.find(op_id);
    if (it == results_.end()) return fail("internal_error", "coordination op not applied yet");
    *result = std::move(it->second);
    results_.erase(it);
  }
  // Results of ops whose callers gave up (their catch-up failed) are not kept forever.
  results_.erase(results_.begin(), results_.lower_bound(applied_ - 10'000));
  return {};
}

// In a cluster a node renews only its own sockets' claims; alone, every live socket's.
ClaimTable::Renews Coordinator::renews_for(int64_t node) const {
  if (!log_) return nullptr;
  return [node](uint64_t session) { return static_cast<int64_t>(session >> 32) == node; };
}

// The sweeper's cluster work, run without the state mutex (it appends ops): heartbeat, declare
// silent nodes down, and append a sweep op when one of our renewals or anyone's expiry is due.
void Coordinator::cluster_duties() {
  const int64_t now = options_.clock();
  if (now >= next_duties_ms_) {
    next_duties_ms_ = now + kHeartbeatIntervalMs;
    if (auto alive = log_->heartbeat(); !alive) spdlog::warn("heartbeat failed: {}", alive.error().message);
    auto stale = log_->nodes(true, kNodeStaleMs);
    auto live = log_->nodes(false, kNodeStaleMs);
    if (stale && !stale->empty()) {
      std::vector<int64_t> down;
      {
        std::lock_guard lock(mutex_);
        for (const auto& [id, session] : sessions_) {
          const auto node = static_cast<int64_t>(id >> 32);
          if (std::find(stale->begin(), stale->end(), node) != stale->end() &&
              std::find(down.begin(), down.end(), node) == down.end()) {
            down.push_back(node);
          }
        }
      }
      if (!down.empty()) execute(op::NodesDown{std::move(down)});
    }
    const bool prune_leader =
        live && !live->empty() && *std::min_element(live->begin(), live->end()) == log_->node_id();
    if (prune_leader && now >= next_prune_ms_) {
      next_prune_ms_ = now + kSnapshotIntervalMs;
      (void)log_->prune({std::string(op::PresenceUpdate::kKind), std::string(op::RelayEvent::kKind)}, 10 * 60'000);
      write_snapshot();
    }
  }
  if (auto ok = catch_up(); !ok) spdlog::warn("claim log catch-up failed: {}", ok.error().message);
  bool due = false;
  {
    std::lock_guard lock(mutex_);
    due = table_.next_due(renews_for(log_->node_id())) <= now;
  }
  if (due) execute(op::Sweep{});
}

Coordinator::OpResult Coordinator::apply_op_locked(const op::NodesDown& op) {
  std::vector<uint64_t> gone;
  for (const auto& [id, session] : sessions_) {
    const auto node = static_cast<int64_t>(id >> 32);
    if (std::find(op.nodes.begin(), op.nodes.end(), node) != op.nodes.end()) gone.push_back(id);
  }
  for (auto id : gone) {
    // Our own node declared down (we were silent too long): the cluster has given up our
    // sockets' claims, so close them and let their clients reconnect and announce again.
    if (auto local = outboxes_.find(id); local != outboxes_.end()) close_locked(local->second, 1012, "node was declared down");
    detach_locked(id);
  }
  return {};
}

// The exception boundary of every claim, presence and relay operation, local or from a peer's
// log: an op that throws is logged and answers internal_error; the caller's thread carries on.
Coordinator::OpResult Coordinator::apply_guarded_locked(const StampedOp& op) {
  try {
    return apply_locked(op);
  } catch (...) {
    spdlog::error("coordination op {} threw: {}", kind_of(op.op), current_exception_text());
    OpResult result;
    result.error = Error("internal_error", "the claim operation failed unexpectedly");
    result.claim.error = result.error;
    result.effects = std::exchange(effects_, {});  // what it did before it threw still goes out
    return result;
  }
}

Coordinator::OpResult Coordinator::apply_locked(const StampedOp& op) {
  now_ = op.now;
  fence_ = op.head;
  op_node_ = op.node;
  table_.set_delta_head(fence_);
  OpResult result = std::visit([this](const auto& typed) { return apply_op_locked(typed); }, op.op);
  result.effects = std::exchange(effects_, {});
  wake_.notify_all();  // a new lease may be due before the sweeper's next wake-up
  return result;
}

Coordinator::OpResult Coordinator::apply_op_locked(const op::Sweep&) {
  Changes changes;
  table_.sweep(now_, changes, renews_for(op_node_));
  publish_locked(changes);
  return {};
}

int64_t Coordinator::flush_queues_locked(int64_t now) {
  int64_t next_due = std::numeric_limits<int64_t>::max();
  for (auto it = queue_snapshots_.begin(); it != queue_snapshots_.end();) {
    if (it->second.due_ms > now) {
      next_due = std::min(next_due, it->second.due_ms);
      ++it;
      continue;
    }
    send_queue_locked(it->first, it->second.audience);
    it = queue_snapshots_.erase(it);
  }
  return next_due;
}

std::string Coordinator::model_key(std::string_view entity_type) const {
  if (options_.model_key) {
    if (auto key = options_.model_key(entity_type); !key.empty()) return key;
  }
  return std::string(entity_type);  // claims may name things that are not models
}

Coordinator::ParticipantState& Coordinator::participant_locked(const Participant& who) {
  auto& state = participants_[{who.tenant, who.owner.participant_id}];
  if (!state) state = std::make_unique<ParticipantState>();
  state->kind = who.kind;
  state->groups.insert(who.groups.begin(), who.groups.end());
  return *state;
}

bool Coordinator::reachable_locked(const Claim& claim) const {
  return std::any_of(sessions_.begin(), sessions_.end(), [&](const auto& entry) {
    return entry.second->who.tenant == claim.tenant && entry.second->who.owner == claim.owner;
  });
}

// ---------------------------------------------------------------- sessions

uint64_t Coordinator::attach(Participant who, fanout::Outbox* outbox) {
  uint64_t id;
  {
    std::lock_guard lock(mutex_);
    id = session_prefix_ | next_session_++;
    outboxes_[id] = outbox;
  }
  execute(op::Attach{id, std::move(who)});
  return id;
}

Coordinator::OpResult Coordinator::apply_op_locked(const op::Attach& op) {
  const uint64_t id = op.session;
  const Participant& who = op.who;
  auto& state = participant_locked(who);
  state.sessions.insert(id);
  auto local = outboxes_.find(id);
  sessions_[id] = std::make_unique<Session>(Session{who, local == outboxes_.end() ? nullptr : local->second});
  // Tell the newcomer who is here and what they hold.
  for (const auto& [key, other] : participants_) {
    if (key.first != who.tenant || key.second == who.owner.participant_id) continue;
    if (!shares_group(who.groups, other->groups)) continue;
    if (other->entered || !table_.claims_of(key.first, key.second).empty()) {
      send_presence_locked(key.first, key.second, "enter", {}, id);
    }
  }
  return {};
}

void Coordinator::detach(uint64_t session) {
  {
    // This socket gets no frame from here on, whenever the op is applied.
    std::lock_guard lock(mutex_);
    outboxes_.erase(session);
    if (auto it = sessions_.find(session); it != sessions_.end()) it->second->outbox = nullptr;
  }
  execute(op::Detach{session});
}

Coordinator::OpResult Coordinator::apply_op_locked(const op::Detach& op) {
  detach_locked(op.session);
  return {};
}

void Coordinator::detach_locked(uint64_t session) {
  outboxes_.erase(session);
  auto it = sessions_.find(session);
  if (it == sessions_.end()) return;
  const Participant who = it->second->who;
  sessions_.erase(it);
  Changes changes;
  table_.session_closed(session, now_, changes);
  publish_locked(changes);
  auto state_it = participants_.find({who.tenant, who.owner.participant_id});
  if (state_it == participants_.end()) return;
  auto& state = *state_it->second;
  state.sessions.erase(session);
  if (!state.sessions.empty()) return;
  if (state.entered) send_presence_locked(who.tenant, who.owner.participant_id, "leave", {});
  state.entered = false;
  state.presence.clear();
  if (table_.claims_of(who.tenant, who.owner.participant_id).empty()) participants_.erase(state_it);
}

void Coordinator::add_groups(uint64_t session, const std::vector<std::string>& groups) {
  execute(op::AddGroups{session, groups});
}

Coordinator::OpResult Coordinator::apply_op_locked(const op::AddGroups& op) {
  auto it = sessions_.find(op.session);
  if (it == sessions_.end()) return {};
  auto& who = it->second->who;
  for (const auto& g : op.groups) {
    if (std::find(who.groups.begin(), who.groups.end(), g) == who.groups.end()) who.groups.push_back(g);
  }
  participant_locked(who);
  return {};
}

int Coordinator::close_sessions(const std::string& tenant, const std::string& credential_id, int code,
                                const std::string& reason) {
  // Applied on every node: each closes its own sockets of the credential.
  return execute(op::CloseSessions{tenant, credential_id, code, reason}).count;
}

Coordinator::OpResult Coordinator::apply_op_locked(const op::CloseSessions& op) {
  OpResult result;
  for (const auto& [id, session] : sessions_) {
    if (session->who.tenant != op.tenant || session->who.owner.credential_id != op.credential_id) continue;
    if (!session->outbox) continue;  // another node's socket: that node closes it
    close_locked(session->outbox, op.close_code, op.reason);
    ++result.count;
  }
  return result;
}

// ---------------------------------------------------------------- claims

ClaimResult Coordinator::begin_locked(const Participant& who, uint64_t session, ClaimRequest request,
                                      Changes& changes) {
  Claim claim;
  claim.tenant = who.tenant;
  claim.intent_id = std::move(request.intent_id);  // claim() names anonymous requests before the op
  claim.owner = who.owner;
  claim.participant_kind = who.kind;
  claim.model = model_key(request.entity_type);
  claim.entity_type = std::move(request.entity_type);
  claim.entity_id = std::move(request.entity_id);
  claim.field = std::move(request.field);
  claim.fields = std::move(request.fields);
  claim.ticket = request.ticket;
  if (request.ticket && request.wait_ms) claim.expires_at_ms = now_ + *request.wait_ms;  // a queued ticket's first lapse
  claim.path = std::move(request.path);
  claim.range = std::move(request.range);
  claim.meta = std::move(request.meta);
  claim.action = std::move(request.action);
  claim.description = std::move(request.description);
  claim.ttl_ms = clamp_ttl(request.ttl_ms);
  claim.session = session;
  participant_locked(who);
  if (auto refused = claim_bound_locked(claim)) {
    ClaimResult result;
    result.error = std::move(refused);
    return result;
  }
  const std::string tenant = claim.tenant;
  auto outcome = table_.begin(std::move(claim), request.queue, now_, changes);
  if (outcome.kind == BeginOutcome::Kind::kQueued && !outcome.repeated && request.max_queue_depth &&
      outcome.position >= *request.max_queue_depth) {
    // More wait ahead than the caller accepts: it does not join the line (0.49 maxQueueDepth),
    // and it never was a claim anyone heard of (the last of the line: nobody moves up).
    Changes never_queued;
    table_.abandon(tenant, outcome.claim->intent_id, who.owner, now_, never_queued);
    ClaimResult result;
    result.error = Error("queue_too_deep", fmt::format("{} claims wait ahead; the limit was {}", outcome.position,
                                                      *request.max_queue_depth));
    result.position = outcome.position;
    return result;
  }
  // A repeat of a claim already held is no new grant.
  if (outcome.kind == BeginOutcome::Kind::kAcquired && !outcome.repeated) audit_grant_locked(*outcome.claim, "acquired");
  return ClaimResult{outcome.kind, std::move(outcome.claim), outcome.position, std::move(outcome.blocker),
                     outcome.repeated, std::nullopt};
}

std::optional<Error> Coordinator::claim_bound_locked(const Claim& claim) const {
  if (table_.find(claim.tenant, claim.intent_id)) return std::nullopt;  // a repeat: nothing new is held
  if (static_cast<int64_t>(table_.owner_claim_count(claim.tenant, claim.owner)) >= options_.max_claims_per_owner) {
    return Error("queue_too_deep", fmt::format("this participant already holds or waits for {} claims",
                                               options_.max_claims_per_owner));
  }
  if (static_cast<int64_t>(table_.line_length(claim.tenant, claim.model, claim.entity_id)) >= options_.max_line_depth) {
    return Error("queue_too_deep",
                 fmt::format("{} '{}' already has {} claims and waiters", claim.entity_type, claim.entity_id,
                             options_.max_line_depth));
  }
  return std::nullopt;
}

void Coordinator::intent_begin(uint64_t session, const json::object& payload) {
  auto request = parse_intent_begin(payload);
  if (!request) return;  // no intentId to answer to
  intent_begin(session, std::move(*request));
}

void Coordinator::intent_begin(uint64_t session, ClaimRequest request) {
  Claim asked;
  asked.entity_type = request.entity_type;
  asked.entity_id = request.entity_id;
  asked.field = request.field;
  const std::string intent_id = request.intent_id;
  const bool queue = request.queue;
  auto result = execute(op::Begin{.session = session, .request = std::move(request)});
  if (!result.error || result.error->code != "intent_lease_unavailable") return;
  // The op never reached the cluster's claim log, so no apply answered the socket: refuse it
  // here (fail closed) rather than leave the client waiting. A queued begin only ends with
  // intent_lost (protocol.md §3.4); the 0.49 rendering of either is claim_*, reason kept.
  std::lock_guard lock(mutex_);
  auto it = outboxes_.find(session);
  if (it == outboxes_.end() || intent_id.empty()) return;
  const json::object error = errors::wire_error(*result.error);
  send_locked(it->second, queue ? ws_frame("intent_lost", {{"intentId", intent_id}, {"reason", "preempted"},
                                                            {"target", intent_target(asked)}, {"error", error}})
                                : ws_frame("intent_rejected", {{"intentId", intent_id},
                                                               {"reason", "coordination_unavailable"},
                                                               {"target", intent_target(asked)}, {"error", error}}));
  deliver_locked(std::exchange(effects_, {}));
}

Coordinator::OpResult Coordinator::apply_op_locked(const op::Begin& op) {
  OpResult result;
  if (op.who) {
    result.claim = claim_locked(*op.who, op.request);
  } else {
    socket_begin_locked(op.session, op.request);
  }
  return result;
}

void Coordinator::socket_begin_locked(uint64_t session, ClaimRequest request) {
  auto it = sessions_.find(session);
  if (it == sessions_.end()) return;
  if (request.intent_id.empty() || request.entity_type.empty() || request.entity_id.empty()) return;
  const bool queue = request.queue;
  Claim asked;
  asked.entity_type = request.entity_type;
  asked.entity_id = request.entity_id;
  asked.field = request.field;
  asked.fields = request.fields;
  asked.path = request.path;
  asked.range = request.range;
  asked.meta = request.meta;
  const std::string intent_id = request.intent_id;
  Changes changes;
  auto result = begin_locked(it->second->who, session, std::move(request), changes);
  fanout::Outbox* outbox = it->second->outbox;
  if (!outbox) {  // another node's socket: that node answers it
    publish_locked(changes);
    return;
  }
  if (result.error) {
    // Over a bound: a queued begin must still hear an end (intent_lost), a plain one is refused.
    // Both carry the registry code; 0.9.1 reads only the frame type and intentId.
    const json::object error = errors::wire_error(*result.error);
    send_locked(outbox, queue ? ws_frame("intent_lost", {{"intentId", intent_id}, {"reason", "preempted"},
                                                       {"target", intent_target(asked)}, {"error", error}})
                             : ws_frame("intent_rejected", {{"intentId", intent_id}, {"reason", "queue_too_deep"},
                                                           {"target", intent_target(asked)}, {"error", error}}));
    publish_locked(changes);
    return;
  }
  switch (result.kind) {
    case BeginOutcome::Kind::kAcquired:
      // Fenced like a grant (client.md T41): a 0.9.1 claimer re-reads the row locally and stamps
      // its first write with its acknowledged cursor, so the acquisition must not overtake
      // another participant's latest write to the row.
      send_locked(outbox,
                  ws_frame("intent_acquired", {{"intentId", intent_id},
                                               {"target", intent_target(*result.claim)},
                                               {"fenceToken", result.claim->fence_token},
                                               {"readAt", result.claim->read_at}}),
                  fence_);
      break;
    case BeginOutcome::Kind::kQueued:
      send_locked(outbox, ws_frame("intent_queued", {{"intentId", intent_id},
                                                    {"target", intent_target(*result.claim)},
                                                    {"position", result.position}}));
      break;
    case BeginOutcome::Kind::kRejected:
    case BeginOutcome::Kind::kForeignId:
      if (queue) {
        // Only a foreign owner reusing this intentId gets here; a queued claim never hears
        // intent_rejected (protocol.md §3.4), so end its wait.
        send_locked(outbox, ws_frame("intent_lost", {{"intentId", intent_id},
                                                    {"reason", "preempted"},
                                                    {"target", intent_target(asked)}}));
      } else {
        send_locked(outbox, ws_frame("intent_rejected", {{"intentId", intent_id},
                                                        {"reason", "conflict"},
                                                        {"target", intent_target(asked)},
                                                        {"heldBy", result.blocker->owner.participant_id},
                                                        {"heldByIntentId", result.blocker->intent_id},
                                                        {"heldByExpiresAt", result.blocker->expires_at_ms}}));
      }
      break;
  }
  publish_locked(changes);  // after the reply: the claimant hears its outcome first
}

void Coordinator::intent_abandon(uint64_t session, const json::object& payload) {
  if (auto intent_id = parse_intent_abandon(payload); !intent_id.empty()) intent_abandon(session, std::move(intent_id));
}

void Coordinator::intent_abandon(uint64_t session, std::string intent_id) {
  execute(op::Abandon{session, std::move(intent_id)});
}

Coordinator::OpResult Coordinator::apply_op_locked(const op::Abandon& op) {
  auto it = sessions_.find(op.session);
  if (it == sessions_.end() || op.intent_id.empty()) return {};
  Changes changes;
  table_.abandon(it->second->who.tenant, op.intent_id, it->second->who.owner, now_, changes);
  publish_locked(changes);  // unknown or foreign ids change nothing
  return {};
}

void Coordinator::intent_reorder(uint64_t session, const json::object& payload) {
  intent_reorder(session, parse_intent_reorder(payload));
}

void Coordinator::intent_reorder(uint64_t session, ReorderRequest request) {
  execute(op::Reorder{.session = session, .request = std::move(request)});
}

Coordinator::OpResult Coordinator::apply_op_locked(const op::Reorder& op) {
  const Participant* who = op.who ? &*op.who : nullptr;
  if (!who) {
    auto it = sessions_.find(op.session);
    // A socket's reorder needs the privilege; dropped silently otherwise (http-api.md §5.6).
    if (it == sessions_.end() || !it->second->who.privileged) return {};
    who = &it->second->who;
  }
  Changes changes;
  table_.reorder(who->tenant, model_key(op.request.entity_type), op.request.entity_id, op.request.intent_ids, now_,
                 changes);
  publish_locked(changes);
  return {};
}

ClaimResult Coordinator::claim(const Participant& who, ClaimRequest request) {
  if (request.intent_id.empty()) request.intent_id = "int_" + random_uuid();
  return execute(op::Begin{.who = who, .request = std::move(request)}).claim;
}

ClaimResult Coordinator::claim_locked(const Participant& who, ClaimRequest request) {
  Changes changes;
  auto result = begin_locked(who, 0, std::move(request), changes);
  if (result.repeated && result.claim && result.claim->status == ClaimStatus::kActive) {
    // A repeat claim by the same owner extends the lease (http-api.md §5.3).
    table_.renew(who.tenant, result.claim->intent_id, who.owner, now_);
    if (const auto* renewed = table_.find(who.tenant, result.claim->intent_id)) result.claim = *renewed;
  }
  publish_locked(changes);
  return result;
}

std::optional<bool> Coordinator::release_intent(const Participant& who, const std::string& intent_id) {
  return execute(op::ReleaseIntent{who, intent_id}).released;
}

Coordinator::OpResult Coordinator::apply_op_locked(const op::ReleaseIntent& op) {
  OpResult result;
  Changes changes;
  result.released = table_.abandon(op.who.tenant, op.intent_id, op.who.owner, now_, changes);
  publish_locked(changes);
  return result;
}

std::optional<bool> Coordinator::preempt(const Participant& who, const std::string& intent_id) {
  return execute(op::Preempt{who, intent_id}).released;
}

Coordinator::OpResult Coordinator::apply_op_locked(const op::Preempt& op) {
  OpResult result;
  if (!op.who.privileged) {
    result.released = false;
    return result;
  }
  Changes changes;
  result.released = table_.preempt(op.who.tenant, op.intent_id, op.who.owner.participant_id, now_, changes);
  publish_locked(changes);
  return result;
}

bool Coordinator::release_entity(const Participant& who, const std::string& entity_type, const std::string& id) {
  return execute(op::ReleaseEntity{who, entity_type, id}).flag;
}

Coordinator::OpResult Coordinator::apply_op_locked(const op::ReleaseEntity& op) {
  OpResult result;
  Changes changes;
  result.flag = table_.release_entity(op.who.tenant, model_key(op.entity_type), op.entity_id, op.who.owner, now_,
                                      changes);
  publish_locked(changes);
  return result;
}

void Coordinator::reorder(const Participant& who, const std::string& entity_type, const std::string& id,
                          const std::vector<std::string>& intent_ids) {
  execute(op::Reorder{.who = who, .request = {entity_type, id, intent_ids}});
}

bool Coordinator::renew(const Participant& who, const std::string& intent_id) {
  return execute(op::Renew{who, intent_id}).flag;
}

Coordinator::OpResult Coordinator::apply_op_locked(const op::Renew& op) {
  OpResult result;
  result.flag = table_.renew(op.who.tenant, op.intent_id, op.who.owner, now_);
  return result;
}

HeartbeatResult Coordinator::heartbeat(uint64_t session, const std::string& claim_id, std::optional<int64_t> ttl_ms) {
  auto result = execute(op::Heartbeat{.session = session, .intent_id = claim_id, .ttl_ms = ttl_ms});
  if (result.error) {
    HeartbeatResult failed;
    failed.claim_id = claim_id;
    failed.error = result.error;
    return failed;
  }
  return result.heartbeats.empty() ? HeartbeatResult{.claim_id = claim_id} : std::move(result.heartbeats.front());
}

HeartbeatResult Coordinator::heartbeat(const Participant& who, const std::string& claim_id,
                                       std::optional<int64_t> ttl_ms) {
  if (claim_id.empty()) return HeartbeatResult{};  // an empty id would mean "all of them"
  auto result = execute(op::Heartbeat{.who = who, .intent_id = claim_id, .ttl_ms = ttl_ms});
  if (result.error) {
    HeartbeatResult failed;
    failed.claim_id = claim_id;
    failed.error = result.error;
    return failed;
  }
  return result.heartbeats.empty() ? HeartbeatResult{.claim_id = claim_id} : std::move(result.heartbeats.front());
}

std::vector<HeartbeatResult> Coordinator::heartbeat_all(const Participant& who, std::optional<int64_t> ttl_ms) {
  auto result = execute(op::Heartbeat{.who = who, .ttl_ms = ttl_ms});
  if (result.error) {
    HeartbeatResult failed;
    failed.error = result.error;
    return {failed};
  }
  return std::move(result.heartbeats);
}

Coordinator::OpResult Coordinator::apply_op_locked(const op::Heartbeat& op) {
  OpResult result;
  const Participant* who = op.who ? &*op.who : nullptr;
  if (!who) {
    auto it = sessions_.find(op.session);
    if (it == sessions_.end()) {
      result.heartbeats.push_back(HeartbeatResult{.claim_id = op.intent_id});
      return result;
    }
    who = &it->second->who;
  }
  Changes changes;
  if (!op.intent_id.empty()) {
    result.heartbeats.push_back(heartbeat_locked(*who, op.intent_id, op.ttl_ms, changes));
  } else {
    for (const auto& claim : table_.claims_of(who->tenant, who->owner.participant_id)) {
      if (claim.owner == who->owner) result.heartbeats.push_back(heartbeat_locked(*who, claim.intent_id, op.ttl_ms, changes));
    }
  }
  publish_locked(changes);
  return result;
}

HeartbeatResult Coordinator::heartbeat_locked(const Participant& who, const std::string& claim_id,
                                              std::optional<int64_t> ttl_ms, Changes& changes) {
  HeartbeatResult result;
  result.claim_id = claim_id;
  const int64_t ttl = ttl_ms ? clamp_ttl(ttl_ms) : 0;
  auto claim = table_.heartbeat(who.tenant, claim_id, who.owner, ttl, now_);
  if (!claim) return result;  // kLost
  result.expires_at_ms = claim->expires_at_ms;
  result.queue_depth = table_.queue_depth(claim->tenant, claim->model, claim->entity_id);
  if (claim->status == ClaimStatus::kActive) {
    result.status = HeartbeatResult::Status::kHeld;
    changes.renewed.push_back(*claim);
    changes.participants.emplace(claim->tenant, claim->owner.participant_id);  // peers see the new expiresAt
  } else {
    result.status = HeartbeatResult::Status::kQueued;
    result.position = table_.position_of(*claim);
    if (!claim->ticket) result.expires_at_ms = claim->declared_at_ms + claim->ttl_ms;  // a socket's waiter
  }
  result.claim = std::move(claim);
  return result;
}

void Coordinator::remember_end_locked(const Claim& claim, const std::string& terminal) {
  const std::string key = claim.tenant + '\x1f' + claim.intent_id;
  ClaimState ended{claim, 0, 0, terminal};
  ended.claim.path = ended.claim.range = ended.claim.meta = nullptr;  // only the outcome is asked for
  if (ended_.insert_or_assign(key, std::move(ended)).second) ended_order_.push_back(key);
  while (ended_order_.size() > kEndedClaimsKept) {
    ended_.erase(ended_order_.front());
    ended_order_.pop_front();
  }
}

// ---------------------------------------------------------------- audit

// Exactly once per cluster: every node applies every op, and only the op's own node records
// (sweeps and expiries are ops too, appended by one node). Alone, every op is this node's.
bool Coordinator::audits_here_locked() const {
  return options_.audit && (!log_ || op_node_ == log_->node_id());
}

namespace {

// Attribution from the claim's owner; the summary names the claim, its target and its fence,
// never a description or any row data.
audit::AuditRow claim_audit_row(const Claim& claim, std::string action_type, json::object summary, int64_t now) {
  audit::AuditRow row;
  row.tenant = claim.tenant;
  row.occurred_at_ms = now;
  row.actor_kind = claim.participant_kind;
  row.actor_id = claim.owner.participant_id;
  row.credential_id = claim.owner.credential_id;
  if (claim.participant_kind == "user") row.delegation_chain_root = claim.owner.participant_id;
  row.action_type = std::move(action_type);
  summary["claimId"] = claim.intent_id;
  summary["model"] = claim.model;
  summary["id"] = claim.entity_id;
  json::array fields;
  for (const auto& field : claim_field_keys(claim)) fields.emplace_back(field);
  summary["fields"] = std::move(fields);  // empty: the whole row
  summary["fenceToken"] = claim.fence_token;
  // How its owner holds it: a WebSocket, a 0.49 HTTP ticket, or a plain HTTP claim.
  summary["via"] = claim.session != 0 ? "socket" : claim.ticket ? "ticket" : "http";
  row.diff_summary = std::move(summary);
  return row;
}

}  // namespace

void Coordinator::audit_grant_locked(const Claim& claim, std::string_view how) {
  if (!audits_here_locked()) return;
  options_.audit(claim_audit_row(claim, "claim.grant", json::object{{"grant", how}}, now_));
}

void Coordinator::audit_release_locked(const Transition& ended) {
  if (!audits_here_locked()) return;
  // `ended`: committed | canceled | expired | preempted; `lapsed`: its lease ran out (not
  // released by its owner); `endedBy`: the operator who preempted it.
  json::object summary{{"ended", ended.terminal}, {"lapsed", ended.terminal == "expired"}};
  if (!ended.ended_by.empty()) summary["endedBy"] = ended.ended_by;
  options_.audit(claim_audit_row(ended.claim, "claim.release", std::move(summary), now_));
}

std::optional<ClaimState> Coordinator::find(const std::string& tenant, const std::string& claim_id) const {
  std::lock_guard lock(mutex_);
  const Claim* claim = table_.find(tenant, claim_id);
  if (!claim) {
    auto ended = ended_.find(tenant + '\x1f' + claim_id);
    if (ended == ended_.end()) return std::nullopt;
    return ended->second;
  }
  return ClaimState{*claim, claim->status == ClaimStatus::kQueued ? table_.position_of(*claim) : 0,
                    table_.queue_depth(claim->tenant, claim->model, claim->entity_id)};
}

bool Coordinator::when_granted(const std::string& tenant, const std::string& claim_id, int64_t deadline_ms,
                               std::function<void(std::optional<Claim>)> done) {
  std::lock_guard lock(mutex_);
  const Claim* claim = table_.find(tenant, claim_id);
  if (!claim || claim->status == ClaimStatus::kActive || stopping_) {
    done(claim && claim->status == ClaimStatus::kActive ? std::optional<Claim>(*claim) : std::nullopt);
    return true;
  }
  if (static_cast<int64_t>(grant_waits_.size()) >= options_.max_grant_waits) return false;
  grant_waits_.push_back(GrantWait{tenant, claim_id, deadline_ms, std::move(done)});
  wake_.notify_all();  // the sweeper ends it at its deadline
  return true;
}

int64_t Coordinator::settle_grant_waits_locked(int64_t now) {
  int64_t next_due = std::numeric_limits<int64_t>::max();
  for (auto it = grant_waits_.begin(); it != grant_waits_.end();) {
    const Claim* claim = table_.find(it->tenant, it->claim_id);
    const bool granted = claim && claim->status == ClaimStatus::kActive;
    if (granted || !claim || stopping_ || now >= it->deadline_ms) {
      it->done(granted ? std::optional<Claim>(*claim) : std::nullopt);
      it = grant_waits_.erase(it);
      continue;
    }
    next_due = std::min(next_due, it->deadline_ms);
    ++it;
  }
  return next_due;
}

Status Coordinator::check_fence(const std::string& tenant, const Owner& owner, const std::string& model,
                                const std::string& id, const std::string& claim_id,
                                std::optional<int64_t> fence_token) const {
  if (claim_id.empty()) {
    if (!fence_token) return {};
    return fail("claim_id_required", "a fenceToken needs the claim it was granted to", "claim");
  }
  std::lock_guard lock(mutex_);
  const Claim* claim = table_.find(tenant, claim_id);
  const auto lost = [&](std::string_view why) {
    Error error("claim_lost", fmt::format("claim '{}' {}; the write was not applied", claim_id, why));
    error.param = "claim";
    return tl::unexpected(std::move(error));
  };
  if (!claim || !(claim->owner == owner)) return lost("is not held by this caller");
  if (claim->status != ClaimStatus::kActive) return lost("is still waiting in line");
  if (claim->model != model || claim->entity_id != id) return lost("is on another row");
  if (claim->session == 0 && options_.clock() >= claim->expires_at_ms) return lost("has expired");
  if (fence_token && *fence_token != claim->fence_token) {
    Error error("fence_token_stale",
                fmt::format("fence token {} is not the current grant of claim '{}' (fence {})", *fence_token, claim_id,
                            table_.current_fence(*claim)));
    error.param = "fenceToken";
    error.details = {{"fenceToken", table_.current_fence(*claim)}};
    return tl::unexpected(std::move(error));
  }
  return {};
}

std::vector<Claim> Coordinator::list(const std::string& tenant, const std::string& entity_type, const std::string& id,
                                     const std::string& field) const {
  std::lock_guard lock(mutex_);
  const std::string model = entity_type.empty() ? std::string() : model_key(entity_type);
  std::vector<Claim> claims = !model.empty() && !id.empty() ? table_.entity_claims(tenant, model, id)
                                                             : table_.tenant_claims(tenant);
  Claim asked;
  asked.field = field;
  const auto wanted = claim_field_keys(asked);
  std::erase_if(claims, [&](const Claim& c) {
    if ((!model.empty() && c.model != model) || (!id.empty() && c.entity_id != id)) return true;
    const auto keys = claim_field_keys(c);  // a whole-row claim covers every field
    return !wanted.empty() && !keys.empty() && keys.count(*wanted.begin()) == 0;
  });
  std::stable_sort(claims.begin(), claims.end(), [](const Claim& a, const Claim& b) {
    return a.status == ClaimStatus::kActive && b.status != ClaimStatus::kActive;
  });
  return claims;
}

std::vector<Claim> Coordinator::foreign_holders(const Participant& who, const std::string& model,
                                                const std::string& id) const {
  std::lock_guard lock(mutex_);
  auto claims = table_.entity_claims(who.tenant, model, id);
  std::erase_if(claims, [&](const Claim& c) { return c.status != ClaimStatus::kActive || c.owner == who.owner; });
  return claims;
}

bool Coordinator::when_free(const Participant& who, std::vector<std::pair<std::string, std::string>> entities,
                            int64_t deadline_ms, std::function<void(bool)> done) {
  std::lock_guard lock(mutex_);
  if (!foreign_held_locked(who, entities)) {
    done(true);
    return true;
  }
  if (stopping_) {
    done(false);
    return true;
  }
  if (static_cast<int64_t>(claim_waits_.size()) >= options_.max_claimed_waits) return false;
  claim_waits_.push_back(ClaimWait{who, std::move(entities), deadline_ms, std::move(done)});
  wake_.notify_all();  // the sweeper ends it at its deadline
  return true;
}

bool Coordinator::foreign_held_locked(const Participant& who,
                                      const std::vector<std::pair<std::string, std::string>>& entities) const {
  return std::any_of(entities.begin(), entities.end(), [&](const auto& entity) {
    for (const auto& c : table_.entity_claims(who.tenant, entity.first, entity.second)) {
      if (c.status == ClaimStatus::kActive && !(c.owner == who.owner)) return true;
    }
    return false;
  });
}

int64_t Coordinator::settle_claim_waits_locked(int64_t now) {
  int64_t next_due = std::numeric_limits<int64_t>::max();
  for (auto it = claim_waits_.begin(); it != claim_waits_.end();) {
    const bool free = !foreign_held_locked(it->who, it->entities);
    if (free || stopping_ || now >= it->deadline_ms) {
      it->done(free);
      it = claim_waits_.erase(it);
      continue;
    }
    next_due = std::min(next_due, it->deadline_ms);
    ++it;
  }
  return next_due;
}

Status Coordinator::authorize_write(const std::string& tenant, const Owner& writer, const std::string& model,
                                    const std::string& id, const std::set<std::string>& fields) {
  bool writes_under_own_claim = false;
  {
    std::lock_guard lock(mutex_);
    auto holder = table_.authorize_write(tenant, model, id, writer, fields);
    if (holder) {
      Error error("entity_claimed",
                  fmt::format("{} '{}' is claimed by {} until {}; the write was not applied", holder->entity_type, id,
                              holder->owner.participant_id, iso8601_from_ms(holder->expires_at_ms)));
      error.details = {{"heldBy", holder->owner.participant_id},
                       {"heldByIntentId", holder->intent_id},
                       {"heldByExpiresAt", holder->expires_at_ms}};
      return tl::unexpected(std::move(error));
    }
    for (const auto& claim : table_.entity_claims(tenant, model, id)) {
      writes_under_own_claim |= claim.owner == writer && claim.status == ClaimStatus::kActive;
    }
  }
  // The other replicas learn that the holder wrote (its release then reads 'committed' there too).
  if (log_ && writes_under_own_claim) {
    Participant who;
    who.tenant = tenant;
    who.owner = writer;
    execute(op::Wrote{std::move(who), model, id, fields});
  }
  return {};
}

Coordinator::OpResult Coordinator::apply_op_locked(const op::Wrote& op) {
  (void)table_.authorize_write(op.who.tenant, op.model, op.entity_id, op.who.owner, op.fields);
  return {};
}

void Coordinator::send_queue_locked(const std::string& entity_key, const std::set<std::string>& audience_groups) {
  const auto [tenant, model, id] = split_entity_key(entity_key);
  json::array queue;
  int position = 0;
  for (const auto& claim : table_.entity_claims(tenant, model, id)) {
    if (claim.status == ClaimStatus::kQueued) queue.push_back(queue_entry(claim, position++));
  }
  const std::string frame =
      ws_frame("intent_queue", {{"target", json::object{{"type", model}, {"id", id}}}, {"queue", std::move(queue)}});
  for (const auto& [sid, peer] : sessions_) {
    if (peer->outbox && peer->who.tenant == tenant && shares_group(peer->who.groups, audience_groups)) {
      send_locked(peer->outbox, frame);
    }
  }
}

void Coordinator::send_locked(fanout::Outbox* outbox, std::string frame, std::optional<int64_t> after_deltas) {
  if (!outbox) return;
  effect::Send send{outbox, std::move(frame), after_deltas};
  effects_.emplace_back(std::in_place_type<effect::Send>, std::move(send));
}

void Coordinator::close_locked(fanout::Outbox* outbox, int code, std::string reason) {
  if (!outbox) return;
  effect::Close close{outbox, code, std::move(reason)};
  effects_.emplace_back(std::in_place_type<effect::Close>, std::move(close));
}

void Coordinator::deliver_locked(Effects effects) {
  for (auto& effect : effects) {
    if (auto* send = std::get_if<effect::Send>(&effect)) {
      if (send->after_deltas) {
        send->outbox->push_after_deltas(std::move(send->frame), *send->after_deltas);
      } else {
        send->outbox->push_frame(std::move(send->frame));
      }
    } else if (auto* close = std::get_if<effect::Close>(&effect)) {
      close->outbox->close(close->code, std::move(close->reason));
    }
  }
}

void Coordinator::send_to_owner_locked(const Claim& claim, const std::string& frame, bool fenced) {
  auto send = [&](fanout::Outbox* outbox) {
    send_locked(outbox, frame, fenced ? std::optional<int64_t>(fence_) : std::nullopt);
  };
  if (auto it = sessions_.find(claim.session); claim.session != 0 && it != sessions_.end()) {
    send(it->second->outbox);
    return;
  }
  for (const auto& [id, session] : sessions_) {
    if (session->who.tenant == claim.tenant && session->who.owner == claim.owner) send(session->outbox);
  }
}

void Coordinator::publish_locked(const Changes& changes) {
  if (changes.empty() && changes.participants.empty()) return;
  std::map<std::string, std::vector<std::pair<Claim, std::string>>> terminal_by_participant;
  std::map<std::string, std::set<std::string>> claimant_groups_by_entity;
  auto note_claimant = [&](const Claim& claim) {
    auto state = participants_.find({claim.tenant, claim.owner.participant_id});
    if (state == participants_.end()) return;
    auto& groups = claimant_groups_by_entity[ClaimTable::entity_key(claim.tenant, claim.model, claim.entity_id)];
    groups.insert(state->second->groups.begin(), state->second->groups.end());
  };
  for (const auto& t : changes.transitions) {
    note_claimant(t.claim);
    if (t.kind == Transition::Kind::kEnded) remember_end_locked(t.claim, t.terminal);
    if (t.kind == Transition::Kind::kEnded && t.was_active && t.terminal == "expired") lapsed_leases_counter.add();
    if (t.kind == Transition::Kind::kGranted) {
      claim_wait_histogram.observe(static_cast<double>(std::max<int64_t>(0, options_.clock() - t.claim.declared_at_ms)) / 1000.0);
    }
    if (t.kind == Transition::Kind::kGranted) audit_grant_locked(t.claim, "promoted");
    if (t.kind == Transition::Kind::kEnded && t.was_active) audit_release_locked(t);
    if (t.kind == Transition::Kind::kGranted) {
      // Fenced: the previous holder's last write reaches the client before the grant.
      send_to_owner_locked(t.claim,
                           ws_frame("intent_granted", {{"intentId", t.claim.intent_id},
                                                       {"target", intent_target(t.claim)},
                                                       {"fenceToken", t.claim.fence_token},
                                                       {"readAt", t.claim.read_at}}),
                           /*fenced=*/true);
    } else if (t.was_active) {
      if (t.involuntary) {
        send_to_owner_locked(t.claim, ws_frame("intent_lost", {{"intentId", t.claim.intent_id},
                                                              {"reason", t.terminal == "preempted" ? "preempted" : "expired"},
                                                              {"target", intent_target(t.claim)}}));
      }
      terminal_by_participant[t.claim.owner.participant_id].emplace_back(t.claim, t.terminal);
    }
  }
  for (const auto& [tenant, participant_id] : changes.participants) {
    auto terminal = terminal_by_participant.find(participant_id);
    send_presence_locked(tenant, participant_id, "update",
                         terminal == terminal_by_participant.end() ? std::vector<std::pair<Claim, std::string>>{}
                                                                   : terminal->second);
  }
  for (const auto& key : changes.entities) {
    const auto entity = split_entity_key(key);
    for (const auto& claim : table_.entity_claims(entity.tenant, entity.model, entity.id)) note_claimant(claim);
    // The line's snapshot goes out once per kQueueSnapshotDelayMs at most, with the state at
    // that moment: a busy line would otherwise send its whole waiting list to every peer on
    // every change (O(waiters x peers) bytes), delaying the grants themselves.
    auto& pending = queue_snapshots_[key];
    if (pending.due_ms == 0) {
      pending.due_ms = options_.clock() + kQueueSnapshotDelayMs;
      wake_.notify_all();
    }
    pending.audience.merge(claimant_groups_by_entity[key]);
  }
  if (!changes.transitions.empty() && !claim_waits_.empty()) settle_claim_waits_locked(options_.clock());
  if (!changes.transitions.empty() && !grant_waits_.empty()) settle_grant_waits_locked(options_.clock());
}

}  // namespace ablo::coord
