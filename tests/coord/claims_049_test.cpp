// The coordination features the 0.49 client needs: fence tokens, the fence check of a claimed
// write, heartbeats, claims on several fields, HTTP tickets, server-side grant waits and
// maxQueueDepth.
#include "coord/coordinator.h"

#include "coord/coord_test_support.h"

#include <optional>

#include <boost/json.hpp>
#include <gtest/gtest.h>

namespace ablo::coord {
namespace {

namespace json = boost::json;

class Claims049Test : public ::testing::Test {
 protected:
  Claims049Test()
      : coordinator_({.clock = [this] { return now_; },
                      .model_key = [](std::string_view type) {
                        return type == "weatherReports" || type == "weatherreports" ? std::string("weatherReports")
                                                                                    : std::string();
                      },
                      .delta_head = [this] { return head_; }}) {}

  // A 0.49 HTTP claim: a ticket when it queues.
  ClaimResult ticket(const std::string& who, const std::string& id, std::optional<int64_t> ttl_ms = std::nullopt,
                     std::vector<std::string> fields = {}) {
    ClaimRequest request;
    request.intent_id = id;
    request.entity_type = "weatherReports";
    request.entity_id = "r1";
    request.fields = std::move(fields);
    request.queue = true;
    request.ticket = true;
    request.ttl_ms = ttl_ms;
    return coordinator_.claim(participant(who, {"org:o"}), request);
  }
  Status check(const std::string& who, const std::string& claim_id, std::optional<int64_t> fence) {
    return coordinator_.check_fence("org/live", Owner{who, "cred_" + who}, "weatherReports", "r1", claim_id, fence);
  }

  int64_t now_ = 1'000'000;
  int64_t head_ = 40;
  Coordinator coordinator_;
  RecordingOutbox a_, b_;
};

TEST_F(Claims049Test, EveryGrantTakesAFenceTokenAboveTheRowsPreviousOnes) {
  const auto a = coordinator_.attach(participant("alice", {"org:o"}), &a_);
  const auto b = coordinator_.attach(participant("bob", {"org:o"}), &b_);
  coordinator_.intent_begin(a, begin_payload("ia", "r1"));
  coordinator_.intent_begin(b, begin_payload("ib", "r1"));
  ASSERT_EQ(a_.of_type("intent_acquired").size(), 1u);
  const auto acquired = a_.of_type("intent_acquired")[0];
  const int64_t first = acquired.at("fenceToken").as_int64();
  EXPECT_GT(first, 0);
  EXPECT_EQ(acquired.at("readAt").as_int64(), 40) << "readAt is the delta head the grant is fenced by";

  head_ = 55;
  coordinator_.intent_abandon(a, json::object{{"intentId", "ia"}});
  ASSERT_EQ(b_.of_type("intent_granted").size(), 1u);
  const auto granted = b_.of_type("intent_granted")[0];
  const int64_t second = granted.at("fenceToken").as_int64();
  EXPECT_GT(second, first);
  EXPECT_EQ(granted.at("readAt").as_int64(), 55);

  coordinator_.intent_abandon(b, json::object{{"intentId", "ib"}});
  auto again = ticket("carol", "ic");  // a later holder, after the row was free
  ASSERT_EQ(again.kind, BeginOutcome::Kind::kAcquired);
  EXPECT_GT(again.claim->fence_token, second);
  // The presence entry of a holder carries its token too (0.9.1 ignores the extra key).
  const auto presence = b_.of_type("presence_update");
  ASSERT_FALSE(presence.empty());
  const auto& carol = presence.back();
  EXPECT_EQ(carol.at("userId"), "carol");
  ASSERT_EQ(carol.at("activeIntents").as_array().size(), 1u);
  EXPECT_EQ(carol.at("activeIntents").as_array()[0].at("fenceToken").as_int64(), again.claim->fence_token);
}

TEST_F(Claims049Test, TheFenceCheckRefusesLostClaimsAndStaleTokens) {
  auto held = ticket("alice", "ia", 10'000);
  ASSERT_EQ(held.kind, BeginOutcome::Kind::kAcquired);
  const int64_t fence = held.claim->fence_token;
  auto waiting = ticket("bob", "ib");
  ASSERT_EQ(waiting.kind, BeginOutcome::Kind::kQueued);

  EXPECT_TRUE(check("alice", "ia", fence));
  EXPECT_TRUE(check("alice", "ia", std::nullopt)) << "the token is optional";
  EXPECT_TRUE(check("alice", "", std::nullopt)) << "a write naming no claim is the write guard's business";
  auto stale = check("alice", "ia", fence - 1);
  ASSERT_FALSE(stale);
  EXPECT_EQ(stale.error().code, "fence_token_stale");
  EXPECT_EQ(check("alice", "ia", fence + 1).error().code, "fence_token_stale") << "a token never issued to it";
  EXPECT_EQ(check("bob", "ib", std::nullopt).error().code, "claim_lost") << "queued is not held";
  EXPECT_EQ(check("bob", "ia", fence).error().code, "claim_lost") << "another owner's claim";
  EXPECT_EQ(check("alice", "", fence).error().code, "claim_id_required");
  EXPECT_EQ(coordinator_
                .check_fence("org/live", Owner{"alice", "cred_alice"}, "weatherReports", "r2", "ia", fence)
                .error()
                .code,
            "claim_lost")
      << "a claim on another row";

  // Alice's lease lapses: bob is granted with a newer token; alice's claim is lost.
  now_ += 10'001;
  coordinator_.sweep_now();
  EXPECT_EQ(check("alice", "ia", fence).error().code, "claim_lost");
  const auto bob = coordinator_.find("org/live", "ib");
  ASSERT_TRUE(bob);
  ASSERT_EQ(bob->claim.status, ClaimStatus::kActive);
  EXPECT_GT(bob->claim.fence_token, fence);
  EXPECT_TRUE(check("bob", "ib", bob->claim.fence_token));
  EXPECT_EQ(check("bob", "ib", fence).error().code, "fence_token_stale") << "alice's token is older than the row's";
}

TEST_F(Claims049Test, HeartbeatsAnswerHeldQueuedOrLost) {
  ASSERT_EQ(ticket("alice", "ia", 10'000).kind, BeginOutcome::Kind::kAcquired);
  ASSERT_EQ(ticket("bob", "ib").kind, BeginOutcome::Kind::kQueued);
  ASSERT_EQ(ticket("carol", "ic").kind, BeginOutcome::Kind::kQueued);
  now_ += 5'000;

  const auto held = coordinator_.heartbeat(participant("alice", {"org:o"}), "ia", 20'000);
  EXPECT_EQ(held.status, HeartbeatResult::Status::kHeld);
  EXPECT_EQ(held.expires_at_ms, now_ + 20'000);
  EXPECT_EQ(held.queue_depth, 2);
  EXPECT_EQ(coordinator_.find("org/live", "ia")->claim.expires_at_ms, now_ + 20'000);

  const auto queued = coordinator_.heartbeat(participant("carol", {"org:o"}), "ic", std::nullopt);
  EXPECT_EQ(queued.status, HeartbeatResult::Status::kQueued);
  EXPECT_EQ(queued.position, 1);
  EXPECT_EQ(queued.queue_depth, 2);

  EXPECT_EQ(coordinator_.heartbeat(participant("alice", {"org:o"}), "nope", std::nullopt).status,
            HeartbeatResult::Status::kLost);
  EXPECT_EQ(coordinator_.heartbeat(participant("bob", {"org:o"}), "ia", std::nullopt).status,
            HeartbeatResult::Status::kLost)
      << "another owner's claim";
  coordinator_.release_intent(participant("alice", {"org:o"}), "ia");
  EXPECT_EQ(coordinator_.heartbeat(participant("alice", {"org:o"}), "ia", std::nullopt).status,
            HeartbeatResult::Status::kLost)
      << "an ended claim";

  const auto all = coordinator_.heartbeat_all(participant("bob", {"org:o"}), std::nullopt);
  ASSERT_EQ(all.size(), 1u);
  EXPECT_EQ(all[0].claim_id, "ib");
  EXPECT_EQ(all[0].status, HeartbeatResult::Status::kHeld) << "granted when alice released";
}

TEST_F(Claims049Test, ASocketHeartbeatRenewsTheSessionsClaim) {
  const auto a = coordinator_.attach(participant("alice", {"org:o"}), &a_);
  coordinator_.intent_begin(a, begin_payload("ia", "r1", true, 10'000));
  now_ += 1'000;
  const auto beat = coordinator_.heartbeat(a, "ia", 30'000);
  EXPECT_EQ(beat.status, HeartbeatResult::Status::kHeld);
  EXPECT_EQ(beat.expires_at_ms, now_ + 30'000);
  EXPECT_EQ(coordinator_.heartbeat(a + 1000, "ia", std::nullopt).status, HeartbeatResult::Status::kLost)
      << "an unknown socket";
}

TEST_F(Claims049Test, ClaimsOnDisjointFieldSetsAreBothGrantedAndOverlapsWait) {
  EXPECT_EQ(ticket("alice", "ia", std::nullopt, {"title", "status"}).kind, BeginOutcome::Kind::kAcquired);
  EXPECT_EQ(ticket("bob", "ib", std::nullopt, {"priority", "due_date"}).kind, BeginOutcome::Kind::kAcquired);
  EXPECT_EQ(ticket("carol", "ic", std::nullopt, {"dueDate"}).kind, BeginOutcome::Kind::kQueued)
      << "overlaps bob's due_date (spelling-insensitive)";
  EXPECT_EQ(ticket("dave", "id").kind, BeginOutcome::Kind::kQueued) << "a whole-row claim overlaps both";

  // The write guard honours field sets: a write to alice's fields by someone else is refused.
  EXPECT_FALSE(coordinator_.authorize_write("org/live", Owner{"eve", "cred_eve"}, "weatherReports", "r1", {"status"}));
  EXPECT_TRUE(coordinator_.authorize_write("org/live", Owner{"eve", "cred_eve"}, "weatherReports", "r1", {"notes"}));
  // Each holder's fence check is against its own grant.
  EXPECT_TRUE(check("alice", "ia", coordinator_.find("org/live", "ia")->claim.fence_token));
  EXPECT_TRUE(check("bob", "ib", coordinator_.find("org/live", "ib")->claim.fence_token));
}

TEST_F(Claims049Test, ASingleFieldClaimStillConflictsWithAFieldsClaimNamingIt) {
  ClaimRequest single;
  single.intent_id = "is";
  single.entity_type = "weatherReports";
  single.entity_id = "r1";
  single.field = "title";
  ASSERT_EQ(coordinator_.claim(participant("alice", {"org:o"}), single).kind, BeginOutcome::Kind::kAcquired);
  EXPECT_EQ(ticket("bob", "ib", std::nullopt, {"status", "title"}).kind, BeginOutcome::Kind::kQueued);
  EXPECT_EQ(ticket("carol", "ic", std::nullopt, {"status"}).kind, BeginOutcome::Kind::kQueued)
      << "free of holders, but it would overtake bob";
  EXPECT_EQ(ticket("dave", "id", std::nullopt, {"notes"}).kind, BeginOutcome::Kind::kAcquired)
      << "disjoint from everyone";
}

TEST_F(Claims049Test, ATicketStaysInLineWhileHeartbeatedAndIsGrantedWithoutASocket) {
  ASSERT_EQ(ticket("alice", "ia", 60'000).kind, BeginOutcome::Kind::kAcquired);
  ASSERT_EQ(ticket("bob", "ib", 10'000).kind, BeginOutcome::Kind::kQueued);
  for (int i = 0; i < 3; ++i) {  // 24 s in line: longer than its TTL, kept by heartbeats
    now_ += 8'000;
    coordinator_.sweep_now();
    ASSERT_EQ(coordinator_.heartbeat(participant("bob", {"org:o"}), "ib", std::nullopt).status,
              HeartbeatResult::Status::kQueued);
  }
  coordinator_.release_intent(participant("alice", {"org:o"}), "ia");
  const auto bob = coordinator_.find("org/live", "ib");
  ASSERT_TRUE(bob && bob->terminal.empty()) << "a ticket is granted at the head though its owner has no socket";
  EXPECT_EQ(coordinator_.find("org/live", "ia")->terminal, "canceled") << "released without a write";
  EXPECT_EQ(bob->claim.status, ClaimStatus::kActive);
}

TEST_F(Claims049Test, ATicketNotHeartbeatedForItsTtlLeavesTheLine) {
  ASSERT_EQ(ticket("alice", "ia", 60'000).kind, BeginOutcome::Kind::kAcquired);
  ASSERT_EQ(ticket("bob", "ib", 10'000).kind, BeginOutcome::Kind::kQueued);
  ASSERT_EQ(ticket("carol", "ic", 60'000).kind, BeginOutcome::Kind::kQueued);
  now_ += 9'999;
  coordinator_.sweep_now();
  ASSERT_TRUE(coordinator_.find("org/live", "ib"));
  now_ += 2;
  coordinator_.sweep_now();
  ASSERT_TRUE(coordinator_.find("org/live", "ib"));
  EXPECT_EQ(coordinator_.find("org/live", "ib")->terminal, "expired") << "lapsed";
  EXPECT_EQ(coordinator_.find("org/live", "ic")->position, 0) << "carol moved up";
  EXPECT_EQ(coordinator_.heartbeat(participant("bob", {"org:o"}), "ib", std::nullopt).status,
            HeartbeatResult::Status::kLost);
}

TEST_F(Claims049Test, AHeartbeatOrAWriteAfterTheEndIsTooLateEvenBeforeTheSweep) {
  auto held = ticket("alice", "ia", 10'000);
  ASSERT_EQ(ticket("bob", "ib", 10'000).kind, BeginOutcome::Kind::kQueued);
  now_ += 10'000;  // both ends reached; no sweep has run
  EXPECT_EQ(check("alice", "ia", held.claim->fence_token).error().code, "claim_lost");
  EXPECT_EQ(coordinator_.heartbeat(participant("alice", {"org:o"}), "ia", std::nullopt).status,
            HeartbeatResult::Status::kLost);
  EXPECT_EQ(coordinator_.heartbeat(participant("bob", {"org:o"}), "ib", std::nullopt).status,
            HeartbeatResult::Status::kLost);
}

TEST_F(Claims049Test, AGrantWaitEndsAtTheGrantOrAtItsDeadline) {
  ASSERT_EQ(ticket("alice", "ia", 60'000).kind, BeginOutcome::Kind::kAcquired);
  ASSERT_EQ(ticket("bob", "ib").kind, BeginOutcome::Kind::kQueued);
  ASSERT_EQ(ticket("carol", "ic").kind, BeginOutcome::Kind::kQueued);
  std::optional<std::optional<Claim>> bob_heard, carol_heard;
  ASSERT_TRUE(coordinator_.when_granted("org/live", "ib", now_ + 5'000, [&](auto c) { bob_heard = c; }));
  ASSERT_TRUE(coordinator_.when_granted("org/live", "ic", now_ + 5'000, [&](auto c) { carol_heard = c; }));
  EXPECT_FALSE(bob_heard);
  coordinator_.release_intent(participant("alice", {"org:o"}), "ia");
  ASSERT_TRUE(bob_heard);
  ASSERT_TRUE(*bob_heard) << "granted";
  EXPECT_EQ((*bob_heard)->intent_id, "ib");
  EXPECT_GT((*bob_heard)->fence_token, 0);
  EXPECT_FALSE(carol_heard) << "still waiting behind bob";
  now_ += 5'000;
  coordinator_.sweep_now();
  ASSERT_TRUE(carol_heard);
  EXPECT_FALSE(*carol_heard) << "the deadline passed";
  ASSERT_TRUE(coordinator_.find("org/live", "ic"));
  EXPECT_TRUE(coordinator_.find("org/live", "ic")->terminal.empty())
      << "the route, not the wait, takes the ticket out of line";
  std::optional<std::optional<Claim>> at_once;
  ASSERT_TRUE(coordinator_.when_granted("org/live", "ib", now_ + 5'000, [&](auto c) { at_once = c; }));
  ASSERT_TRUE(at_once && *at_once) << "already active: answered at once";
}

TEST_F(Claims049Test, MaxQueueDepthRefusesAClaimThatWouldWaitBehindMore) {
  ASSERT_EQ(ticket("alice", "ia").kind, BeginOutcome::Kind::kAcquired);
  ASSERT_EQ(ticket("bob", "ib").kind, BeginOutcome::Kind::kQueued);
  ASSERT_EQ(ticket("carol", "ic").kind, BeginOutcome::Kind::kQueued);
  ClaimRequest request;
  request.intent_id = "id";
  request.entity_type = "weatherReports";
  request.entity_id = "r1";
  request.queue = true;
  request.ticket = true;
  request.max_queue_depth = 2;
  auto refused = coordinator_.claim(participant("dave", {"org:o"}), request);
  ASSERT_TRUE(refused.error);
  EXPECT_EQ(refused.error->code, "queue_too_deep");
  EXPECT_FALSE(coordinator_.find("org/live", "id")) << "it did not join the line";
  request.max_queue_depth = 3;
  auto accepted = coordinator_.claim(participant("dave", {"org:o"}), request);
  EXPECT_FALSE(accepted.error);
  EXPECT_EQ(accepted.kind, BeginOutcome::Kind::kQueued);
  EXPECT_EQ(accepted.position, 2);
}

}  // namespace
}  // namespace ablo::coord
