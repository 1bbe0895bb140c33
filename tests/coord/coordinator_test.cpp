#include "coord/coordinator.h"

#include "coord/coord_test_support.h"

#include <mutex>

#include <boost/json.hpp>
#include <gtest/gtest.h>

namespace ablo::coord {
namespace {

namespace json = boost::json;

class CoordinatorTest : public ::testing::Test {
 protected:
  CoordinatorTest()
      : coordinator_({.clock = [this] { return now_; },
                      .model_key = [](std::string_view type) {
                        return type == "weatherReports" || type == "weatherreports" ? std::string("weatherReports")
                                                                                    : std::string();
                      }}) {}

  int64_t now_ = 1'000'000;
  Coordinator coordinator_;
  RecordingOutbox a_, b_, c_;
};

TEST_F(CoordinatorTest, PresenceGoesToPeersSharingAGroupAndIsNeverEchoed) {
  const auto a = coordinator_.attach(participant("alice", {"org:o"}, "user"), &a_);
  coordinator_.attach(participant("bot", {"org:o"}), &b_);
  coordinator_.attach(participant("stranger", {"team:x"}), &c_);
  coordinator_.presence_update(a, json::object{{"status", "online"}, {"isAgent", true}, {"userId", "spoofed"}});
  EXPECT_TRUE(a_.of_type("presence_update").empty());
  EXPECT_TRUE(c_.of_type("presence_update").empty());
  auto frames = b_.of_type("presence_update");
  ASSERT_EQ(frames.size(), 1u);
  EXPECT_EQ(frames[0].at("kind").as_string(), "enter");
  EXPECT_EQ(frames[0].at("userId").as_string(), "alice") << "server-stamped, never taken from the client";
  EXPECT_EQ(frames[0].at("isAgent").as_bool(), false);
  EXPECT_EQ(frames[0].at("status").as_string(), "online");
  EXPECT_TRUE(frames[0].at("activeIntents").as_array().empty());
  EXPECT_EQ(frames[0].at("syncGroups").as_array().size(), 1u);
  coordinator_.presence_update(a, json::object{{"status", "away"}});
  EXPECT_EQ(b_.of_type("presence_update").back().at("kind").as_string(), "update");
}

TEST_F(CoordinatorTest, EveryPresenceFrameCarriesTheCompleteActiveIntents) {
  const auto a = coordinator_.attach(participant("alice", {"org:o"}), &a_);
  coordinator_.attach(participant("bot", {"org:o"}), &b_);
  coordinator_.intent_begin(a, begin_payload("i1", "r1"));
  coordinator_.intent_begin(a, begin_payload("i2", "r2"));
  coordinator_.presence_update(a, json::object{{"status", "online"}});
  const auto last = b_.of_type("presence_update").back();
  const auto& intents = last.at("activeIntents").as_array();
  ASSERT_EQ(intents.size(), 2u);
  EXPECT_EQ(intents[0].at("intentId").as_string(), "i1");
  EXPECT_EQ(intents[1].at("entityId").as_string(), "r2");
  EXPECT_EQ(intents[0].at("expiresAt").as_int64(), now_ + kDefaultTtlMs);
  EXPECT_EQ(intents[0].at("declaredAt").as_int64(), now_);
}

TEST_F(CoordinatorTest, ContendedClaimIsAcquiredQueuedThenGrantedOnAbandon) {
  const auto a = coordinator_.attach(participant("alice", {"org:o"}), &a_);
  const auto b = coordinator_.attach(participant("bot", {"org:o"}), &b_);
  coordinator_.intent_begin(a, begin_payload("ia", "r1"));
  coordinator_.intent_begin(b, begin_payload("ib", "r1"));
  ASSERT_EQ(a_.of_type("intent_acquired").size(), 1u);
  EXPECT_EQ(a_.of_type("intent_acquired")[0].at("intentId").as_string(), "ia");
  EXPECT_EQ(a_.of_type("intent_acquired")[0].at("target").at("entityType").as_string(), "weatherReports");
  ASSERT_EQ(b_.of_type("intent_queued").size(), 1u);
  EXPECT_EQ(b_.of_type("intent_queued")[0].at("position").as_int64(), 0);
  coordinator_.sweep_now();  // sends the coalesced queue snapshot
  ASSERT_FALSE(a_.of_type("intent_queue").empty());
  const auto queue = a_.of_type("intent_queue").back();
  EXPECT_EQ(queue.at("target").at("type").as_string(), "weatherReports");
  ASSERT_EQ(queue.at("queue").as_array().size(), 1u);
  EXPECT_EQ(queue.at("queue").as_array()[0].at("heldBy").as_string(), "bot");

  coordinator_.intent_abandon(a, json::object{{"intentId", "ia"}});
  ASSERT_EQ(b_.of_type("intent_granted").size(), 1u);
  EXPECT_EQ(b_.of_type("intent_granted")[0].at("intentId").as_string(), "ib");
  coordinator_.sweep_now();
  EXPECT_TRUE(a_.of_type("intent_queue").back().at("queue").as_array().empty());
  // Alice's claim ended: peers see the terminal status once, then an empty list.
  const auto alice = b_.of_type("presence_update");
  ASSERT_FALSE(alice.empty());
  const auto& ended = alice.back().at("activeIntents").as_array();
  ASSERT_EQ(ended.size(), 1u);
  EXPECT_EQ(ended[0].at("status").as_string(), "canceled");
}

TEST_F(CoordinatorTest, QueueSnapshotsOfABusyLineAreCoalescedToTheLatestState) {
  const auto a = coordinator_.attach(participant("alice", {"org:o"}), &a_);
  const auto b = coordinator_.attach(participant("bot", {"org:o"}), &b_);
  const auto c = coordinator_.attach(participant("carol", {"org:o"}), &c_);
  coordinator_.intent_begin(a, begin_payload("ia", "r1"));
  coordinator_.intent_begin(b, begin_payload("ib", "r1"));
  coordinator_.intent_begin(c, begin_payload("ic", "r1"));
  EXPECT_TRUE(a_.of_type("intent_queue").empty()) << "held back for the coalescing window";
  coordinator_.sweep_now();
  const auto snapshots = a_.of_type("intent_queue");
  ASSERT_EQ(snapshots.size(), 1u) << "three changes, one snapshot";
  const auto& line = snapshots[0].at("queue").as_array();
  ASSERT_EQ(line.size(), 2u);
  EXPECT_EQ(line[0].at("id").as_string(), "ib");
  EXPECT_EQ(line[1].at("position").as_int64(), 1);
  coordinator_.sweep_now();
  EXPECT_EQ(a_.of_type("intent_queue").size(), 1u) << "nothing changed, nothing sent";
}

TEST_F(CoordinatorTest, NonQueuedBeginOnAHeldRowIsRejectedWithTheHolder) {
  const auto a = coordinator_.attach(participant("alice", {"org:o"}), &a_);
  const auto b = coordinator_.attach(participant("bot", {"org:o"}), &b_);
  coordinator_.intent_begin(a, begin_payload("ia", "r1"));
  coordinator_.intent_begin(b, begin_payload("ib", "r1", false));
  ASSERT_EQ(b_.of_type("intent_rejected").size(), 1u);
  const auto rejected = b_.of_type("intent_rejected")[0];
  EXPECT_EQ(rejected.at("heldBy").as_string(), "alice");
  EXPECT_EQ(rejected.at("heldByIntentId").as_string(), "ia");
  EXPECT_EQ(rejected.at("reason").as_string(), "conflict");
}

TEST_F(CoordinatorTest, HolderThatDisconnectsLapsesAtItsTtlAndTheNextWaiterIsGranted) {
  const auto a = coordinator_.attach(participant("alice", {"org:o"}), &a_);
  const auto b = coordinator_.attach(participant("bot", {"org:o"}), &b_);
  coordinator_.intent_begin(a, begin_payload("ia", "r1", true, 5'000));
  coordinator_.intent_begin(b, begin_payload("ib", "r1"));
  coordinator_.detach(a);
  now_ += 4'999;
  coordinator_.sweep_now();
  EXPECT_TRUE(b_.of_type("intent_granted").empty());
  now_ += 1;
  coordinator_.sweep_now();
  ASSERT_EQ(b_.of_type("intent_granted").size(), 1u);
  const auto presence = b_.of_type("presence_update");
  ASSERT_FALSE(presence.empty());
  EXPECT_EQ(presence.back().at("activeIntents").as_array()[0].at("status").as_string(), "expired");
}

TEST_F(CoordinatorTest, ReannouncingTheIntentOnANewSocketKeepsTheClaim) {
  const auto a = coordinator_.attach(participant("alice", {"org:o"}), &a_);
  coordinator_.intent_begin(a, begin_payload("ia", "r1", true, 5'000));
  coordinator_.detach(a);
  RecordingOutbox again;
  const auto a2 = coordinator_.attach(participant("alice", {"org:o"}), &again);
  coordinator_.intent_begin(a2, begin_payload("ia", "r1", true, 5'000));
  EXPECT_EQ(again.of_type("intent_acquired").size(), 1u);
  now_ += 60'000;
  coordinator_.sweep_now();
  EXPECT_TRUE(again.of_type("intent_lost").empty()) << "renewed by the new socket";
  EXPECT_EQ(coordinator_.list("org/live", "weatherReports", "r1", "").size(), 1u);
}

TEST_F(CoordinatorTest, AbandonedSocketLosesItsClaimWithIntentLost) {
  const auto a = coordinator_.attach(participant("alice", {"org:o"}), &a_);
  coordinator_.intent_begin(a, begin_payload("ia", "r1", true, 2'000));
  // Another socket of the same owner is still connected: it hears that the claim was lost.
  const auto a2 = coordinator_.attach(participant("alice", {"org:o"}), &c_);
  (void)a2;
  coordinator_.detach(a);
  now_ += 2'000;
  coordinator_.sweep_now();
  ASSERT_EQ(c_.of_type("intent_lost").size(), 1u);
  EXPECT_EQ(c_.of_type("intent_lost")[0].at("reason").as_string(), "expired");
}

TEST_F(CoordinatorTest, WaiterThatDisconnectsIsNeverGranted) {
  const auto a = coordinator_.attach(participant("alice", {"org:o"}), &a_);
  const auto b = coordinator_.attach(participant("bot", {"org:o"}), &b_);
  const auto c = coordinator_.attach(participant("carol", {"org:o"}), &c_);
  coordinator_.intent_begin(a, begin_payload("ia", "r1"));
  coordinator_.intent_begin(b, begin_payload("ib", "r1"));
  coordinator_.intent_begin(c, begin_payload("ic", "r1"));
  coordinator_.detach(b);
  coordinator_.intent_abandon(a, json::object{{"intentId", "ia"}});
  EXPECT_TRUE(b_.of_type("intent_granted").empty());
  ASSERT_EQ(c_.of_type("intent_granted").size(), 1u);
}

TEST_F(CoordinatorTest, LastSocketLeavingSendsLeave) {
  const auto a1 = coordinator_.attach(participant("alice", {"org:o"}), &a_);
  RecordingOutbox second;
  const auto a2 = coordinator_.attach(participant("alice", {"org:o"}), &second);
  coordinator_.attach(participant("bot", {"org:o"}), &b_);
  coordinator_.presence_update(a1, json::object{{"status", "online"}});
  coordinator_.detach(a1);
  EXPECT_EQ(b_.of_type("presence_update").back().at("kind").as_string(), "enter");
  coordinator_.detach(a2);
  EXPECT_EQ(b_.of_type("presence_update").back().at("kind").as_string(), "leave");
}

TEST_F(CoordinatorTest, NewSocketLearnsExistingClaimsOfItsPeers) {
  const auto a = coordinator_.attach(participant("alice", {"org:o"}), &a_);
  coordinator_.intent_begin(a, begin_payload("ia", "r1"));
  coordinator_.attach(participant("bot", {"org:o"}), &b_);
  const auto frames = b_.of_type("presence_update");
  ASSERT_EQ(frames.size(), 1u);
  EXPECT_EQ(frames[0].at("userId").as_string(), "alice");
  EXPECT_EQ(frames[0].at("activeIntents").as_array().size(), 1u);
}

TEST_F(CoordinatorTest, WriteGuardRefusesOtherOwnersWithEntityClaimed) {
  const auto a = coordinator_.attach(participant("alice", {"org:o"}), &a_);
  coordinator_.intent_begin(a, begin_payload("ia", "r1"));
  auto refused = coordinator_.authorize_write("org/live", Owner{"bot", "cred_bot"}, "weatherReports", "r1", {});
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().code, "entity_claimed");
  EXPECT_EQ(refused.error().details.at("heldBy").as_string(), "alice");
  EXPECT_EQ(refused.error().details.at("heldByIntentId").as_string(), "ia");
  EXPECT_TRUE(coordinator_.authorize_write("org/live", Owner{"alice", "cred_alice"}, "weatherReports", "r1", {}));
  coordinator_.intent_abandon(a, json::object{{"intentId", "ia"}});
  EXPECT_TRUE(coordinator_.authorize_write("org/live", Owner{"bot", "cred_bot"}, "weatherReports", "r1", {}));
}

TEST_F(CoordinatorTest, CollaborationEventsAreRelayedToPeersOnly) {
  const auto a = coordinator_.attach(participant("alice", {"org:o"}), &a_);
  coordinator_.attach(participant("bot", {"org:o"}), &b_);
  coordinator_.attach(participant("stranger", {"team:x"}), &c_);
  coordinator_.relay_event(a, "sheet_selection", json::object{{"cell", "A1"}, {"timestamp", 5}});
  ASSERT_EQ(b_.of_type("sheet_selection").size(), 1u);
  EXPECT_EQ(b_.of_type("sheet_selection")[0].at("cell").as_string(), "A1");
  EXPECT_EQ(b_.of_type("sheet_selection")[0].at("userId").as_string(), "alice");
  EXPECT_TRUE(a_.of_type("sheet_selection").empty());
  EXPECT_TRUE(c_.of_type("sheet_selection").empty());
}

TEST_F(CoordinatorTest, HttpWaiterWithoutASocketIsSkippedAtPromotion) {
  const auto a = coordinator_.attach(participant("alice", {"org:o"}), &a_);
  coordinator_.intent_begin(a, begin_payload("ia", "r1"));
  ClaimRequest request;
  request.entity_type = "weatherReports";
  request.entity_id = "r1";
  request.queue = true;
  auto queued = coordinator_.claim(participant("worker", {"org:o"}), request);
  ASSERT_EQ(queued.kind, BeginOutcome::Kind::kQueued);
  coordinator_.intent_abandon(a, json::object{{"intentId", "ia"}});
  EXPECT_TRUE(coordinator_.list("org/live", "weatherReports", "r1", "").empty()) << "no phantom holder";
}

TEST_F(CoordinatorTest, HttpClaimByAnOwnerWithASocketIsGrantedOnThatSocket) {
  const auto a = coordinator_.attach(participant("alice", {"org:o"}), &a_);
  coordinator_.attach(participant("worker", {"org:o"}), &b_);
  coordinator_.intent_begin(a, begin_payload("ia", "r1"));
  ClaimRequest request;
  request.entity_type = "weatherreports";  // any spelling resolves to the same model
  request.entity_id = "r1";
  request.queue = true;
  auto queued = coordinator_.claim(participant("worker", {"org:o"}), request);
  ASSERT_EQ(queued.kind, BeginOutcome::Kind::kQueued);
  coordinator_.intent_abandon(a, json::object{{"intentId", "ia"}});
  ASSERT_EQ(b_.of_type("intent_granted").size(), 1u);
  EXPECT_EQ(b_.of_type("intent_granted")[0].at("intentId").as_string(), queued.claim->intent_id);
}

TEST(ClaimParsing, TtlIsSecondsOrADuration) {
  EXPECT_EQ(parse_ttl_ms(json::value(30)).value(), 30'000);
  EXPECT_EQ(parse_ttl_ms(json::value("2s")).value(), 2'000);
  EXPECT_EQ(parse_ttl_ms(json::value("250ms")).value(), 250);
  EXPECT_EQ(parse_ttl_ms(json::value("2m")).value(), 120'000);
  EXPECT_EQ(parse_ttl_ms(json::value("1h")).value(), 3'600'000);
  EXPECT_FALSE(parse_ttl_ms(json::value("soon")));
  EXPECT_FALSE(parse_ttl_ms(json::value(-1)));
  EXPECT_FALSE(parse_ttl_ms(json::value("5d")));
}

TEST(ClaimParsing, IntentBeginNeedsIdsAndReadsTheTtlHint) {
  EXPECT_EQ(parse_intent_begin(json::object{{"entityType", "t"}, {"entityId", "1"}}).error().code, "intent_id_required");
  EXPECT_EQ(parse_intent_begin(json::object{{"intentId", "i"}, {"entityType", "t"}}).error().code, "invalid_intent");
  auto parsed = parse_intent_begin(json::object{{"intentId", "i"}, {"entityType", "t"}, {"entityId", 7},
                                                {"estimatedMs", 1500}, {"queue", true},
                                                {"meta", json::object{{"description", "fixing"}}}});
  ASSERT_TRUE(parsed);
  EXPECT_EQ(parsed->entity_id, "7");
  EXPECT_EQ(parsed->ttl_ms, 1500);
  EXPECT_TRUE(parsed->queue);
  EXPECT_EQ(parsed->description, "fixing");
  EXPECT_EQ(parsed->action, "editing");
}

}  // namespace
}  // namespace ablo::coord
