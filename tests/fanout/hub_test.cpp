#include "fanout/hub.h"

#include <atomic>
#include <map>
#include <mutex>
#include <thread>

#include <boost/json.hpp>
#include <gtest/gtest.h>

#include "fanout/fakes.h"
#include "fanout/log_follower.h"

namespace ablo::fanout {
namespace {

namespace json = boost::json;
using namespace fakes;

struct HubTest : ::testing::Test {
  FakeLog log;
  Hub hub{[this](const std::string& t, int64_t a, int64_t u, int l) { return log.read(t, a, u, l); }, 2};

  void commit(store::Delta d) {
    log.append(d);
    hub.publish({d});
  }
};

TEST_F(HubTest, ABootstrapMarksWhereItsCredentialsFreshSocketStarts) {
  EXPECT_FALSE(hub.bootstrap_mark("cap_a").has_value()) << "no bootstrap, no mark";
  hub.note_bootstrap("cap_a", 7);
  hub.note_bootstrap("cap_a", 9);  // a second process on the same key, later
  hub.note_bootstrap("cap_b", 3);
  EXPECT_EQ(hub.bootstrap_mark("cap_a"), 7) << "the lowest head: more deltas, never fewer";
  EXPECT_EQ(hub.bootstrap_mark("cap_b"), 3);
}

TEST_F(HubTest, BootstrapMarksAreBounded) {
  for (std::size_t i = 0; i <= Hub::kMaxBootstrapMarks; ++i) hub.note_bootstrap("cap_" + std::to_string(i), 1);
  std::size_t remembered = 0;
  for (std::size_t i = 0; i <= Hub::kMaxBootstrapMarks; ++i) {
    if (hub.bootstrap_mark("cap_" + std::to_string(i))) ++remembered;
  }
  EXPECT_EQ(remembered, Hub::kMaxBootstrapMarks);
  EXPECT_TRUE(hub.bootstrap_mark("cap_" + std::to_string(Hub::kMaxBootstrapMarks))) << "the newest is kept";
}

TEST_F(HubTest, HoldsLiveDeltasUntilTheFirstCatchUpAnswers) {
  RecordingOutbox outbox;
  auto sub = hub.subscribe("org_1/test", {"org:org_1"}, &outbox);
  commit(delta(1, {"org:org_1"}));
  EXPECT_TRUE(outbox.received().empty());
  ASSERT_TRUE(hub.catch_up(sub, 0));
  EXPECT_EQ(outbox.received(), (std::vector<int64_t>{1}));
  ASSERT_FALSE(outbox.frames.empty());
  EXPECT_EQ(outbox.frames.front().at("type"), "sync_response");
  hub.unsubscribe(sub);
}

// The per-subscription read rule: deltas it refuses reach neither the live path nor catch-up,
// whichever groups they share with the subscription.
TEST_F(HubTest, ASubscriptionsFilterAppliesToLiveDeltasAndCatchUp) {
  auto note = [](int64_t id) {
    auto d = delta(id, {"org:org_1"});
    d.model_name = "notes";
    return d;
  };
  commit(delta(1, {"org:org_1"}));
  commit(note(2));
  commit(delta(3, {"org:org_1"}));
  RecordingOutbox outbox;
  auto sub = hub.subscribe("org_1/test", {"org:org_1"}, &outbox, {},
                           [](const store::Delta& d) { return d.model_name != "notes"; });
  ASSERT_TRUE(hub.catch_up(sub, 1));  // resuming after delta 1: the note (2) is left out
  EXPECT_EQ(outbox.received(), (std::vector<int64_t>{3}));
  commit(note(4));
  commit(delta(5, {"org:org_1"}));
  EXPECT_EQ(outbox.live_ids, (std::vector<int64_t>{5})) << "the note is not delivered live";
  EXPECT_EQ(outbox.received(), (std::vector<int64_t>{3, 5}));
  hub.unsubscribe(sub);
}

// A commit group reaches each subscription in one outbox call (one lock, one wake-up per
// socket), in id order, with the deltas the subscription may not see left out; every
// subscription shares one encoding per delta, which is the whole `delta` frame.
TEST_F(HubTest, ACommitGroupReachesASubscriptionInOneCallSharingOneEncodingPerDelta) {
  RecordingOutbox all, team;
  auto sub_all = hub.subscribe("org_1/test", {"org:org_1", "team:a"}, &all);
  auto sub_team = hub.subscribe("org_1/test", {"team:a"}, &team);
  ASSERT_TRUE(hub.catch_up(sub_all, 0));
  ASSERT_TRUE(hub.catch_up(sub_team, 0));
  std::vector<store::Delta> group{delta(1, {"org:org_1"}), delta(2, {"team:a", "org:org_1"}), delta(3, {"team:a"})};
  for (const auto& d : group) log.append(d);
  hub.publish(group);
  EXPECT_EQ(all.batches, (std::vector<std::vector<int64_t>>{{1, 2, 3}}));
  EXPECT_EQ(team.batches, (std::vector<std::vector<int64_t>>{{2, 3}}));
  ASSERT_EQ(all.encodings.size(), 3u);
  ASSERT_EQ(team.encodings.size(), 2u);
  EXPECT_EQ(all.encodings[1].get(), team.encodings[0].get()) << "one encoding, shared";
  const auto frame = json::parse(all.encodings[0]->frame()).as_object();
  EXPECT_EQ(frame.at("type"), "delta");
  EXPECT_EQ(frame.at("payload").at("id"), 1);
  EXPECT_EQ(json::serialize(frame.at("payload")), all.encodings[0]->json());
  // The next group is delivered the same way (the per-subscription buffer is reused, not stale).
  commit(delta(4, {"team:a"}));
  EXPECT_EQ(team.batches.back(), (std::vector<int64_t>{4}));
  EXPECT_EQ(all.received(), (std::vector<int64_t>{1, 2, 3, 4}));
  hub.unsubscribe(sub_all);
  hub.unsubscribe(sub_team);
}

TEST_F(HubTest, ZeroCursorSkipsHistoryBeforeTheConnectionOpened) {
  commit(delta(1, {"org:org_1"}));
  RecordingOutbox outbox;
  auto sub = hub.subscribe("org_1/test", {"org:org_1"}, &outbox);
  ASSERT_TRUE(hub.catch_up(sub, 0));
  EXPECT_TRUE(outbox.received().empty());
  EXPECT_EQ(outbox.frames.back().at("payload").at("currentSyncId").as_int64(), 1);
  commit(delta(2, {"org:org_1"}));
  EXPECT_EQ(outbox.received(), (std::vector<int64_t>{2}));
  hub.unsubscribe(sub);
}

TEST_F(HubTest, CatchUpReturnsVisibleDeltasAfterTheCursorAcrossPages) {
  for (int64_t id = 1; id <= 5; ++id) commit(delta(id, {id == 3 ? "team:other" : "org:org_1"}));
  RecordingOutbox outbox;
  auto sub = hub.subscribe("org_1/test", {"org:org_1"}, &outbox);
  ASSERT_TRUE(hub.catch_up(sub, 1));
  EXPECT_EQ(outbox.received(), (std::vector<int64_t>{2, 4, 5}));
  EXPECT_GE(outbox.frames.size(), 2u) << "page size 2 must split the answer";
  for (const auto& frame : outbox.frames) EXPECT_EQ(frame.at("payload").at("currentSyncId").as_int64(), 5);
  hub.unsubscribe(sub);
}

TEST_F(HubTest, ATrailingNodeReadsTheLogUpToAResumingClientsCursorAndNeverResendsIt) {
  // A cluster node that has published only 1 of the shared log's 1..3 (its wake-up is late);
  // the client has 1..3 from another node.
  commit(delta(1, {"org:org_1"}));
  for (int64_t id = 2; id <= 3; ++id) log.append(delta(id, {"org:org_1"}));
  std::vector<int64_t> asked;
  hub.set_log_follower([&](int64_t through) -> Status {
    asked.push_back(through);
    hub.publish(*log.read("org_1/test", hub.head(), through, 100));
    return {};
  });
  RecordingOutbox outbox;
  auto sub = hub.subscribe("org_1/test", {"org:org_1"}, &outbox);
  ASSERT_TRUE(hub.catch_up(sub, 3));
  EXPECT_EQ(asked, (std::vector<int64_t>{3}));
  EXPECT_TRUE(outbox.received().empty());
  EXPECT_EQ(outbox.frames.back().at("payload").at("currentSyncId").as_int64(), 3);
  for (int64_t id = 4; id <= 5; ++id) commit(delta(id, {"org:org_1"}));
  EXPECT_EQ(outbox.received(), (std::vector<int64_t>{4, 5}));
  hub.unsubscribe(sub);
}

// A wake-up lost with a killed node (or dropped by Redis): another node committed 2 and 3 and
// this one was never told. A client resuming here from 1 — below what this node has published,
// so nothing looks missing — still gets them in its answer, not at the next safety poll.
TEST_F(HubTest, EveryCatchUpOnAClusterNodeFirstPublishesWhatOtherNodesCommittedUnannounced) {
  commit(delta(1, {"org:org_1"}));
  LogFollower follower(
      hub, [&](int64_t after, int limit) { return log.read("org_1/test", after, INT64_MAX, limit); }, 2);
  follower.start_at(1);
  hub.set_log_follower([&](int64_t through) { return follower.catch_up(through); });
  for (int64_t id = 2; id <= 3; ++id) log.append(delta(id, {"org:org_1"}));
  RecordingOutbox outbox;
  auto sub = hub.subscribe("org_1/test", {"org:org_1"}, &outbox);
  ASSERT_TRUE(hub.catch_up(sub, 1));
  EXPECT_EQ(outbox.received(), (std::vector<int64_t>{2, 3}));
  EXPECT_TRUE(outbox.live_ids.empty()) << "in the answer, not after it";
  EXPECT_EQ(outbox.frames.back().at("payload").at("currentSyncId").as_int64(), 3);
  EXPECT_EQ(follower.published_through(), 3);
  hub.unsubscribe(sub);
}

TEST_F(HubTest, WhenTheLogCannotBeReadTheCursorStillCountsAsDelivered) {
  commit(delta(1, {"org:org_1"}));
  hub.set_log_follower([](int64_t) -> Status { return tl::unexpected(Error(kStoreUnavailable, "down")); });
  RecordingOutbox outbox;
  auto sub = hub.subscribe("org_1/test", {"org:org_1"}, &outbox);
  ASSERT_TRUE(hub.catch_up(sub, 3));
  EXPECT_EQ(outbox.frames.back().at("payload").at("currentSyncId").as_int64(), 3);
  for (int64_t id = 2; id <= 5; ++id) commit(delta(id, {"org:org_1"}));
  EXPECT_EQ(outbox.received(), (std::vector<int64_t>{4, 5}));
  hub.unsubscribe(sub);
}

TEST_F(HubTest, ACursorBeyondTheLogIsTrustedOnlyUpToTheHead) {
  // The client's cursor is from another database (e.g. a wiped data directory): new deltas
  // must still reach it.
  commit(delta(1, {"org:org_1"}));
  RecordingOutbox outbox;
  auto sub = hub.subscribe("org_1/test", {"org:org_1"}, &outbox);
  ASSERT_TRUE(hub.catch_up(sub, 50));
  EXPECT_EQ(outbox.frames.back().at("payload").at("currentSyncId").as_int64(), 1);
  commit(delta(2, {"org:org_1"}));
  EXPECT_EQ(outbox.received(), (std::vector<int64_t>{2}));
  hub.unsubscribe(sub);
}

// Store identity (client library design §19 S1): every sync_response names the database.
TEST_F(HubTest, SyncResponsesCarryTheStoreIdOnceSet) {
  RecordingOutbox plain;
  auto before = hub.subscribe("org_1/test", {"org:org_1"}, &plain);
  ASSERT_TRUE(hub.catch_up(before, 0));
  EXPECT_FALSE(plain.frames.back().at("payload").as_object().contains("storeId")) << "none set: none sent";
  hub.unsubscribe(before);
  hub.set_store_id("5b0c7d1e-store");
  RecordingOutbox outbox;
  auto sub = hub.subscribe("org_1/test", {"org:org_1"}, &outbox);
  ASSERT_TRUE(hub.catch_up(sub, 0));
  EXPECT_EQ(outbox.frames.back().at("payload").at("storeId"), "5b0c7d1e-store");
  hub.unsubscribe(sub);
}

// "Gap too old" (§19 S2): past the limit, a client that can re-bootstrap is told to, and gets
// the deltas after the current head live; one that cannot (0.9.1) is paged as before.
TEST_F(HubTest, AGapPastTheLimitAsksAClientThatCanToBootstrap) {
  hub.set_max_catch_up_deltas(3);
  for (int64_t id = 1; id <= 6; ++id) commit(delta(id, {id == 2 ? "org:other" : "org:org_1"}));
  RecordingOutbox told;
  auto native = hub.subscribe("org_1/test", {"org:org_1"}, &told);
  ASSERT_TRUE(hub.catch_up(native, 1, std::nullopt, true));  // 3..6 visible: 4 > 3
  ASSERT_EQ(told.frames.size(), 1u);
  const auto& payload = told.frames.back().at("payload").as_object();
  EXPECT_EQ(payload.at("requiresBootstrap"), true);
  EXPECT_EQ(payload.at("bootstrapHint").at("reason"), "too_far_behind");
  EXPECT_GT(payload.at("bootstrapHint").at("totalDeltaCount").as_int64(), 3);
  EXPECT_TRUE(payload.at("deltas").as_array().empty());
  EXPECT_EQ(payload.at("currentSyncId").as_int64(), 6);
  commit(delta(7, {"org:org_1"}));
  EXPECT_EQ(told.received(), (std::vector<int64_t>{7})) << "live delivery resumes after the head";
  hub.unsubscribe(native);

  RecordingOutbox paged;
  auto old_client = hub.subscribe("org_1/test", {"org:org_1"}, &paged);
  ASSERT_TRUE(hub.catch_up(old_client, 1, std::nullopt, false));
  EXPECT_EQ(paged.received(), (std::vector<int64_t>{3, 4, 5, 6, 7}));
  hub.unsubscribe(old_client);

  RecordingOutbox near;
  auto close_behind = hub.subscribe("org_1/test", {"org:org_1"}, &near);
  ASSERT_TRUE(hub.catch_up(close_behind, 4, std::nullopt, true));  // 5..7: 3 deltas, not past the limit
  EXPECT_EQ(near.received(), (std::vector<int64_t>{5, 6, 7}));
  for (const auto& frame : near.frames) EXPECT_FALSE(frame.at("payload").as_object().contains("requiresBootstrap"));
  hub.unsubscribe(close_behind);
}

TEST_F(HubTest, RoutesOnlyToSameTenantAndIntersectingGroups) {
  RecordingOutbox member, outsider, other_tenant;
  auto a = hub.subscribe("org_1/test", {"org:org_1", "deck:d1"}, &member);
  auto b = hub.subscribe("org_1/test", {"deck:d2"}, &outsider);
  auto c = hub.subscribe("org_1/live", {"org:org_1"}, &other_tenant);
  for (auto& s : {a, b, c}) ASSERT_TRUE(hub.catch_up(s, 0));
  commit(delta(1, {"org:org_1", "deck:d1"}));
  EXPECT_EQ(member.received(), (std::vector<int64_t>{1})) << "two matching groups deliver once";
  EXPECT_TRUE(outsider.received().empty());
  EXPECT_TRUE(other_tenant.received().empty());
  for (auto& s : {a, b, c}) hub.unsubscribe(s);
}

// The webhook worker's wake-up: once per publish, after the deltas reached their subscribers,
// with no hub lock held (the listener reads the head, which takes the publish lock).
TEST_F(HubTest, ThePublishListenerRunsOncePerPublishAfterDeliveryWithoutHubLocks) {
  RecordingOutbox member;
  auto sub = hub.subscribe("org_1/test", {"org:org_1"}, &member);
  ASSERT_TRUE(hub.catch_up(sub, 0));
  std::vector<std::pair<int64_t, std::size_t>> seen;  // (head, deltas delivered) at each call
  hub.set_publish_listener([&] { seen.emplace_back(hub.head(), member.received().size()); });
  commit(delta(1, {"org:org_1"}));
  log.append(delta(2, {"org:org_1"}));
  log.append(delta(3, {"deck:other"}));
  hub.publish({delta(2, {"org:org_1"}), delta(3, {"deck:other"})});
  EXPECT_EQ(seen, (std::vector<std::pair<int64_t, std::size_t>>{{1, 1}, {3, 2}}));
  hub.set_publish_listener({});
  commit(delta(4, {"org:org_1"}));
  EXPECT_EQ(seen.size(), 2u) << "a cleared listener is not called";
  hub.unsubscribe(sub);
}

TEST_F(HubTest, AddedGroupsStartReceivingLiveDeltas) {
  RecordingOutbox outbox;
  auto sub = hub.subscribe("org_1/test", {"user:u1"}, &outbox);
  ASSERT_TRUE(hub.catch_up(sub, 0));
  commit(delta(1, {"deck:d1"}));
  hub.add_groups(sub, {"deck:d1"});
  commit(delta(2, {"deck:d1"}));
  EXPECT_EQ(outbox.received(), (std::vector<int64_t>{2}));
  hub.unsubscribe(sub);
}

TEST_F(HubTest, UnsubscribedOutboxIsNeverCalledAgain) {
  RecordingOutbox outbox;
  auto sub = hub.subscribe("org_1/test", {"org:org_1"}, &outbox);
  ASSERT_TRUE(hub.catch_up(sub, 0));
  hub.unsubscribe(sub);
  commit(delta(1, {"org:org_1"}));
  EXPECT_TRUE(outbox.received().empty());
  EXPECT_EQ(hub.subscription_count(), 0u);
}

// Catch-up racing live publication must still deliver every id exactly once, ascending.
TEST_F(HubTest, CatchUpRacingPublishDeliversEveryIdOnceInOrder) {
  constexpr int64_t kDeltas = 400;
  RecordingOutbox outbox;
  auto sub = hub.subscribe("org_1/test", {"org:org_1"}, &outbox);
  std::thread writer([&] {
    for (int64_t id = 1; id <= kDeltas; ++id) commit(delta(id, {"org:org_1"}));
  });
  for (int i = 0; i < 20; ++i) ASSERT_TRUE(hub.catch_up(sub, 0));
  writer.join();
  ASSERT_TRUE(hub.catch_up(sub, 0));
  const auto ids = outbox.received();
  ASSERT_EQ(ids.size(), static_cast<std::size_t>(kDeltas));
  for (std::size_t i = 0; i < ids.size(); ++i) EXPECT_EQ(ids[i], static_cast<int64_t>(i + 1));
  hub.unsubscribe(sub);
}

}  // namespace
}  // namespace ablo::fanout
