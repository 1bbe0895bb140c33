// Coordinators of several nodes replaying one op log (cluster mode, coord/op_log.h), with an
// in-memory log and a fake clock: one holder and one FIFO line across nodes, identical
// replicas, a crashed node's claim lapsing at its expiresAt, a silent node declared down.
#include <chrono>
#include <map>
#include <thread>
#include <memory>

#include <boost/json.hpp>
#include <gtest/gtest.h>

#include "coord/coord_test_support.h"
#include "coord/coordinator.h"
#include "coord/op_log.h"
#include "coord/write_gate.h"

namespace ablo::coord {
namespace {

// One log shared by every node's MemoryOpLog view.
struct SharedLog {
  std::mutex mutex;
  std::vector<std::pair<std::string, std::string>> ops;  // (kind, op); id = index + 1
  std::vector<int64_t> appended_at;                       // ms, per op
  std::map<int64_t, int64_t> heartbeats;                  // node -> ms
  std::optional<std::pair<int64_t, std::string>> snapshot;
  bool unreachable = false;  // appends fail, as when the shared PostgreSQL is down
};

class MemoryOpLog final : public OpLog {
 public:
  MemoryOpLog(std::shared_ptr<SharedLog> shared, int64_t node, const int64_t& now)
      : shared_(std::move(shared)), node_(node), now_(now) {}
  int64_t node_id() const override { return node_; }
  Result<int64_t> append(const std::string& kind, const std::string& op) override {
    std::lock_guard lock(shared_->mutex);
    if (shared_->unreachable) return tl::unexpected(Error("source_network_error", "the op log is unreachable"));
    shared_->ops.emplace_back(kind, op);
    shared_->appended_at.push_back(now_);
    return static_cast<int64_t>(shared_->ops.size());
  }
  Result<std::vector<std::pair<int64_t, std::string>>> read_after(int64_t after, int limit) override {
    std::lock_guard lock(shared_->mutex);
    std::vector<std::pair<int64_t, std::string>> out;
    for (auto id = after + 1; id <= static_cast<int64_t>(shared_->ops.size()) && static_cast<int>(out.size()) < limit;
         ++id) {
      out.emplace_back(id, shared_->ops[static_cast<std::size_t>(id - 1)].second);
    }
    return out;
  }
  Status heartbeat() override {
    std::lock_guard lock(shared_->mutex);
    shared_->heartbeats[node_] = now_;
    return {};
  }
  Result<std::vector<int64_t>> nodes(bool stale, int64_t stale_ms) override {
    std::lock_guard lock(shared_->mutex);
    std::vector<int64_t> out;
    for (const auto& [node, at] : shared_->heartbeats) {
      if ((at < now_ - stale_ms) == stale) out.push_back(node);
    }
    return out;
  }
  Status prune(const std::vector<std::string>&, int64_t) override { return {}; }
  Status put_snapshot(int64_t op_id, const std::string& state) override {
    std::lock_guard lock(shared_->mutex);
    shared_->snapshot = std::make_pair(op_id, state);
    return {};
  }
  Result<std::optional<std::pair<int64_t, std::string>>> latest_snapshot() override {
    std::lock_guard lock(shared_->mutex);
    return shared_->snapshot;
  }
  // Drops the covered ops' text (ids stay: the vector index is the id), so a node that
  // replayed them instead of starting at the snapshot would notice nothing to apply.
  Status compact(int64_t op_id, int64_t age_ms) override {
    std::lock_guard lock(shared_->mutex);
    for (int64_t id = 1; id <= op_id; ++id) {
      const auto index = static_cast<std::size_t>(id - 1);
      if (shared_->appended_at[index] < now_ - age_ms) shared_->ops[index].second = "{}";
    }
    return {};
  }

 private:
  std::shared_ptr<SharedLog> shared_;
  int64_t node_;
  const int64_t& now_;
};

class ReplicatedCoordinatorTest : public ::testing::Test {
 protected:
  struct Node {
    std::unique_ptr<MemoryOpLog> log;
    std::unique_ptr<Coordinator> coordinator;
  };

  Node& node(int64_t id) {
    auto& n = nodes_[id];
    if (!n.coordinator) {
      n.log = std::make_unique<MemoryOpLog>(shared_, id, now_);
      n.coordinator = std::make_unique<Coordinator>(CoordinatorOptions{
          .clock = [this] { return now_; },
          .model_key = [](std::string_view type) { return std::string(type); },
          .audit = [this, id](audit::AuditRow row) { audited_[id].push_back(std::move(row)); }});
      EXPECT_TRUE(n.coordinator->join_cluster(n.log.get()));
    }
    return n;
  }
  void catch_up_all() {
    for (auto& [id, n] : nodes_) ASSERT_TRUE(n.coordinator->catch_up());
  }

  int64_t now_ = 1'000'000;
  std::shared_ptr<SharedLog> shared_ = std::make_shared<SharedLog>();
  // Audit rows each node's coordinator recorded (issue 13); ops are applied on the test's thread.
  std::map<int64_t, std::vector<audit::AuditRow>> audited_;
  std::map<int64_t, Node> nodes_;
  RecordingOutbox a_, b_, c_;
  std::vector<std::string> audited_on(int64_t id) {
    std::vector<std::string> out;
    for (const auto& row : audited_[id]) {
      out.push_back(row.action_type + " " + std::string(row.diff_summary.at("claimId").as_string()));
    }
    return out;
  }
};

TEST_F(ReplicatedCoordinatorTest, OneHolderAndOneFifoLineAcrossNodes) {
  auto& n1 = *node(1).coordinator;
  auto& n2 = *node(2).coordinator;
  auto& n3 = *node(3).coordinator;
  const auto sa = n1.attach(participant("pa", {"org"}), &a_);
  const auto sb = n2.attach(participant("pb", {"org"}), &b_);
  const auto sc = n3.attach(participant("pc", {"org"}), &c_);
  n1.intent_begin(sa, begin_payload("ia", "r1"));
  n2.intent_begin(sb, begin_payload("ib", "r1"));
  n3.intent_begin(sc, begin_payload("ic", "r1", /*queue=*/false));
  ASSERT_EQ(a_.of_type("intent_acquired").size(), 1u);
  ASSERT_EQ(b_.of_type("intent_queued").size(), 1u);
  EXPECT_EQ(b_.of_type("intent_queued")[0].at("position"), 0);
  ASSERT_EQ(c_.of_type("intent_rejected").size(), 1u);
  EXPECT_EQ(c_.of_type("intent_rejected")[0].at("heldBy"), "pa");

  n1.intent_abandon(sa, {{"intentId", "ia"}});
  EXPECT_TRUE(b_.of_type("intent_granted").empty()) << "node 2 has not applied the release yet";
  catch_up_all();
  ASSERT_EQ(b_.of_type("intent_granted").size(), 1u);
  EXPECT_EQ(b_.of_type("intent_granted")[0].at("intentId"), "ib");
  // Every replica holds the same table.
  for (auto* replica : {&n1, &n2, &n3}) {
    auto claims = replica->list("org/live", "weatherReports", "r1", "");
    ASSERT_EQ(claims.size(), 1u);
    EXPECT_EQ(claims[0].intent_id, "ib");
    EXPECT_EQ(claims[0].status, ClaimStatus::kActive);
  }
  // Presence crossed nodes: node 3's socket heard about pa's and pb's claims.
  EXPECT_FALSE(c_.of_type("presence_update").empty());
}

// A begin whose op cannot reach the log is applied nowhere, so no apply answers it: the
// coordinator refuses it itself (fail closed) instead of leaving the socket waiting.
TEST_F(ReplicatedCoordinatorTest, ABeginThatCannotReachTheLogIsRefusedAndGrantsNothing) {
  auto& n1 = *node(1).coordinator;
  const auto sa = n1.attach(participant("pa", {"org"}), &a_);
  shared_->unreachable = true;
  n1.intent_begin(sa, begin_payload("plain", "r1", /*queue=*/false));
  n1.intent_begin(sa, begin_payload("queued", "r2"));
  ASSERT_EQ(a_.of_type("intent_rejected").size(), 1u);
  EXPECT_EQ(a_.of_type("intent_rejected")[0].at("intentId"), "plain");
  EXPECT_EQ(a_.of_type("intent_rejected")[0].at("reason"), "coordination_unavailable");
  EXPECT_EQ(a_.of_type("intent_rejected")[0].at("error").at("code"), "intent_lease_unavailable");
  ASSERT_EQ(a_.of_type("intent_lost").size(), 1u) << "a queued begin ends only with intent_lost";
  EXPECT_EQ(a_.of_type("intent_lost")[0].at("intentId"), "queued");
  EXPECT_TRUE(a_.of_type("intent_acquired").empty());
  EXPECT_TRUE(a_.of_type("intent_queued").empty());

  shared_->unreachable = false;
  n1.intent_begin(sa, begin_payload("again", "r1", /*queue=*/false));
  ASSERT_EQ(a_.of_type("intent_acquired").size(), 1u) << "claims are granted again once the log is back";
}

TEST_F(ReplicatedCoordinatorTest, TheWriteGateOfAnotherNodeHonoursAClaimGrantedBeforeTheCommitGroup) {
  auto& n1 = *node(1).coordinator;
  auto& n2 = *node(2).coordinator;
  const auto sa = n1.attach(participant("pa", {"org"}), &a_);
  n1.intent_begin(sa, begin_payload("ia", "r1"));
  ASSERT_EQ(a_.of_type("intent_acquired").size(), 1u);

  // A writer on node 2, whose replica has not heard of the claim yet (no wake-up arrived).
  auth::Principal writer;
  writer.tenant = store::Tenant{"org", false};
  writer.participant_id = "pw";
  writer.key_id = "cred_pw";
  schema::Model model;
  model.key = "weatherReports";
  engine::Operation update;
  update.type = engine::OpType::kUpdate;
  update.id = "r1";
  update.input = {{"status", "done"}};
  ClaimWriteGate gate(n2);
  ASSERT_TRUE(gate.check_write(writer, model, update)) << "the stale replica lets it through";

  ASSERT_TRUE(gate.before_group());  // what the writer thread does before each commit group
  auto refused = gate.check_write(writer, model, update);
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().code, "entity_claimed");
}

TEST_F(ReplicatedCoordinatorTest, AClaimOfACrashedNodeLapsesAtItsExpiryAndTheNextWaiterIsGranted) {
  auto& n1 = *node(1).coordinator;
  auto& n2 = *node(2).coordinator;
  const auto sa = n1.attach(participant("pa", {"org"}), &a_);
  const auto sb = n2.attach(participant("pb", {"org"}), &b_);
  n1.intent_begin(sa, begin_payload("ia", "r1", true, 2'000));
  n2.intent_begin(sb, begin_payload("ib", "r1", true));
  // Node 1 renews its own socket's claim at half the TTL; node 2 never renews node 1's.
  now_ += 1'100;
  n2.sweep_now();
  n1.sweep_now();
  catch_up_all();
  const int64_t renewed_until = n2.list("org/live", "weatherReports", "r1", "")[0].expires_at_ms;
  EXPECT_EQ(renewed_until, now_ + 2'000);
  // Node 1 crashes (it sweeps no more). Just before the expiry node 2 keeps waiting...
  now_ = renewed_until - 1;
  n2.sweep_now();
  EXPECT_TRUE(b_.of_type("intent_granted").empty());
  // ...and at the expiry it expires the claim and grants its waiter.
  now_ = renewed_until;
  n2.sweep_now();
  ASSERT_EQ(b_.of_type("intent_granted").size(), 1u);
  EXPECT_EQ(b_.of_type("intent_granted")[0].at("intentId"), "ib");
}

// Every node applies every op; only the op's own node records its claim events, so each grant
// and release is recorded once in the cluster — also an expiry, found by one node's sweep.
TEST_F(ReplicatedCoordinatorTest, EachClaimGrantAndReleaseIsRecordedByTheNodeThatAppendedItsOp) {
  auto& n1 = *node(1).coordinator;
  auto& n2 = *node(2).coordinator;
  auto& n3 = *node(3).coordinator;
  const auto sa = n1.attach(participant("pa", {"org"}), &a_);
  const auto sb = n2.attach(participant("pb", {"org"}), &b_);
  n1.intent_begin(sa, begin_payload("ia", "r1"));
  n2.intent_begin(sb, begin_payload("ib", "r1"));
  catch_up_all();
  EXPECT_EQ(audited_on(1), (std::vector<std::string>{"claim.grant ia"}));
  EXPECT_TRUE(audited_on(2).empty()) << "node 2's waiter holds nothing; node 2 replayed node 1's grant";
  n1.intent_abandon(sa, {{"intentId", "ia"}});  // node 1's op promotes node 2's waiter
  catch_up_all();
  EXPECT_EQ(audited_on(1), (std::vector<std::string>{"claim.grant ia", "claim.release ia", "claim.grant ib"}));
  EXPECT_TRUE(audited_on(2).empty());
  EXPECT_TRUE(audited_on(3).empty());
  ASSERT_EQ(audited_[1][2].actor_id, "pb") << "attributed to the claim's owner, not to the recording node";
  EXPECT_EQ(audited_[1][2].credential_id, "cred_pb");
  // An HTTP claim on node 2 lapses; node 3's sweep expires it: node 3 records the release.
  ClaimRequest request;
  request.intent_id = "ih";
  request.entity_type = "weatherReports";
  request.entity_id = "r2";
  request.ttl_ms = 1'000;
  ASSERT_EQ(n2.claim(participant("ph", {"org"}), request).kind, BeginOutcome::Kind::kAcquired);
  catch_up_all();
  EXPECT_EQ(audited_on(2), (std::vector<std::string>{"claim.grant ih"}));
  now_ += 1'001;
  n3.sweep_now();
  catch_up_all();
  n1.sweep_now();  // finds nothing left to expire
  n2.sweep_now();
  catch_up_all();
  EXPECT_EQ(audited_on(3), (std::vector<std::string>{"claim.release ih"}));
  EXPECT_EQ(audited_[3][0].diff_summary.at("ended"), "expired");
  EXPECT_EQ(audited_on(2), (std::vector<std::string>{"claim.grant ih"}));
  EXPECT_EQ(audited_on(1).size(), 3u);
  // A node joining later replays the log (other nodes' ops): it records none of them.
  auto& n4 = *node(4).coordinator;
  (void)n4;
  catch_up_all();
  EXPECT_TRUE(audited_on(4).empty());
}

TEST_F(ReplicatedCoordinatorTest, AWaiterOnANodeDeclaredDownLeavesTheLine) {
  auto& n1 = *node(1).coordinator;
  auto& n2 = *node(2).coordinator;
  auto& n3 = *node(3).coordinator;
  const auto sa = n1.attach(participant("pa", {"org"}), &a_);
  const auto sb = n2.attach(participant("pb", {"org"}), &b_);
  const auto sc = n3.attach(participant("pc", {"org"}), &c_);
  n1.intent_begin(sa, begin_payload("ia", "r1"));
  n2.intent_begin(sb, begin_payload("ib", "r1"));  // second in line, on node 2
  n3.intent_begin(sc, begin_payload("ic", "r1"));  // third, on node 3
  // Node 2 goes silent; nodes 1 and 3 heartbeat on. Node 1's sweeper declares it down.
  now_ += kNodeStaleMs + 1;
  node(1).log->heartbeat();
  node(3).log->heartbeat();
  n1.start();
  for (int i = 0; i < 1000 && n1.list("org/live", "weatherReports", "r1", "").size() != 2; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  n1.stop();
  catch_up_all();
  n1.intent_abandon(sa, {{"intentId", "ia"}});
  catch_up_all();
  ASSERT_EQ(c_.of_type("intent_granted").size(), 1u) << "the waiter behind the dead node's is next";
  EXPECT_TRUE(b_.of_type("intent_granted").empty());
}

TEST_F(ReplicatedCoordinatorTest, ANodeJoiningAfterCompactionStartsFromTheSnapshotAndAgrees) {
  auto& n1 = *node(1).coordinator;
  auto& n2 = *node(2).coordinator;
  const auto sa = n1.attach(participant("pa", {"org"}), &a_);
  const auto sb = n2.attach(participant("pb", {"org"}), &b_);
  n1.intent_begin(sa, begin_payload("ia", "r1", true, 30'000));
  n2.intent_begin(sb, begin_payload("ib", "r1"));
  n1.presence_update(sa, {{"cursor", 7}});
  catch_up_all();
  now_ += kCompactAfterMs + 1;
  n1.write_snapshot();  // also compacts: the ops before it are old enough to go
  ASSERT_TRUE(shared_->snapshot);

  auto& n3 = *node(3).coordinator;  // joins now
  const auto sc = n3.attach(participant("pc", {"org"}), &c_);
  // The newcomer learns the holder's claim from the restored state...
  auto presence = c_.of_type("presence_update");
  ASSERT_FALSE(presence.empty());
  EXPECT_EQ(presence[0].at("userId"), "pa");
  EXPECT_EQ(presence[0].at("cursor"), 7);
  // ...agrees on the line, and grants in order through it.
  n3.intent_begin(sc, begin_payload("ic", "r1"));
  ASSERT_EQ(c_.of_type("intent_queued").size(), 1u);
  EXPECT_EQ(c_.of_type("intent_queued")[0].at("position"), 1);
  n1.intent_abandon(sa, {{"intentId", "ia"}});
  catch_up_all();
  ASSERT_EQ(b_.of_type("intent_granted").size(), 1u);
  for (auto* replica : {&n1, &n2, &n3}) {
    auto claims = replica->list("org/live", "weatherReports", "r1", "");
    ASSERT_EQ(claims.size(), 2u);
    EXPECT_EQ(claims[0].intent_id, "ib");
    EXPECT_EQ(claims[1].intent_id, "ic");
  }
}

// 0.49 fence tokens are part of applying an op: every replica agrees on them, and a node that
// joins from a snapshot continues the counter (a later grant's token is still higher).
TEST_F(ReplicatedCoordinatorTest, FenceTokensAgreeAcrossReplicasAndContinueAfterASnapshot) {
  auto& n1 = *node(1).coordinator;
  auto& n2 = *node(2).coordinator;
  ClaimRequest request;
  request.entity_type = "weatherReports";
  request.entity_id = "r1";
  request.queue = true;
  request.ticket = true;
  request.intent_id = "ia";
  auto first = n1.claim(participant("pa", {"org"}), request);
  ASSERT_EQ(first.kind, BeginOutcome::Kind::kAcquired);
  request.intent_id = "ib";
  ASSERT_EQ(n2.claim(participant("pb", {"org"}), request).kind, BeginOutcome::Kind::kQueued);
  n1.release_intent(participant("pa", {"org"}), "ia");
  catch_up_all();
  const auto on1 = n1.find("org/live", "ib");
  const auto on2 = n2.find("org/live", "ib");
  ASSERT_TRUE(on1 && on2);
  EXPECT_EQ(on1->claim.status, ClaimStatus::kActive);
  EXPECT_GT(on1->claim.fence_token, first.claim->fence_token);
  EXPECT_EQ(on1->claim.fence_token, on2->claim.fence_token);
  EXPECT_EQ(on1->claim.read_at, on2->claim.read_at);

  now_ += kCompactAfterMs + 1;
  n1.write_snapshot();
  auto& n3 = *node(3).coordinator;  // joins from the snapshot
  const auto restored = n3.find("org/live", "ib");
  ASSERT_TRUE(restored);
  EXPECT_EQ(restored->claim.fence_token, on1->claim.fence_token);
  n3.release_intent(participant("pb", {"org"}), "ib");
  request.intent_id = "ic";
  auto later = n3.claim(participant("pc", {"org"}), request);
  ASSERT_EQ(later.kind, BeginOutcome::Kind::kAcquired);
  EXPECT_GT(later.claim->fence_token, on1->claim.fence_token);
  catch_up_all();
  EXPECT_EQ(n1.find("org/live", "ic")->claim.fence_token, later.claim->fence_token);
}

}  // namespace
}  // namespace ablo::coord
