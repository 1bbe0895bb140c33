// Claim grants and releases in the audit trail (issue 13): the coordinator hands one
// claim.grant row per grant (acquired at once or promoted from the line) and one
// claim.release row per end of a granted claim to its audit sink, attributed to the claim's
// owner. (The cluster's once-per-event rule is tested in replicated_coordinator_test.cpp.)
#include <mutex>
#include <vector>

#include <boost/json.hpp>
#include <gtest/gtest.h>

#include "coord/coord_test_support.h"
#include "coord/coordinator.h"

namespace ablo::coord {
namespace {

namespace json = boost::json;

class CoordinatorClaimAuditTest : public ::testing::Test {
 protected:
  CoordinatorClaimAuditTest()
      : coordinator_({.clock = [this] { return now_; },
                      .model_key = [](std::string_view type) { return std::string(type); },
                      .audit = [this](audit::AuditRow row) {
                        std::lock_guard lock(mutex_);
                        rows_.push_back(std::move(row));
                      }}) {}

  std::vector<audit::AuditRow> take_rows() {
    std::lock_guard lock(mutex_);
    return std::exchange(rows_, {});
  }
  static const json::object& summary(const audit::AuditRow& row) { return row.diff_summary.as_object(); }

  int64_t now_ = 1'000'000;
  std::mutex mutex_;
  std::vector<audit::AuditRow> rows_;
  Coordinator coordinator_;
  RecordingOutbox a_, b_;
};

TEST_F(CoordinatorClaimAuditTest, SocketAcquireQueueAndAbandonRecordGrantReleaseAndPromotion) {
  const auto a = coordinator_.attach(participant("alice", {"org:o"}, "user"), &a_);
  const auto b = coordinator_.attach(participant("bot", {"org:o"}), &b_);
  coordinator_.intent_begin(a, begin_payload("ia", "r1"));
  auto rows = take_rows();
  ASSERT_EQ(rows.size(), 1u);
  const auto& grant = rows[0];
  EXPECT_EQ(grant.action_type, "claim.grant");
  EXPECT_EQ(grant.tenant, "org/live");
  EXPECT_EQ(grant.occurred_at_ms, now_);
  EXPECT_EQ(grant.actor_kind, "user");
  EXPECT_EQ(grant.actor_id, "alice");
  EXPECT_EQ(grant.credential_id, "cred_alice");
  EXPECT_EQ(grant.delegation_chain_root, "alice");
  EXPECT_EQ(summary(grant).at("claimId"), "ia");
  EXPECT_EQ(summary(grant).at("model"), "weatherReports");
  EXPECT_EQ(summary(grant).at("id"), "r1");
  EXPECT_TRUE(summary(grant).at("fields").as_array().empty()) << "a whole-row claim";
  EXPECT_EQ(summary(grant).at("grant"), "acquired");
  EXPECT_EQ(summary(grant).at("via"), "socket");
  const int64_t first_fence = summary(grant).at("fenceToken").as_int64();
  EXPECT_GT(first_fence, 0);

  coordinator_.intent_begin(b, begin_payload("ib", "r1"));
  EXPECT_TRUE(take_rows().empty()) << "a waiter holds nothing yet";
  coordinator_.intent_begin(a, begin_payload("ia", "r1"));
  EXPECT_TRUE(take_rows().empty()) << "announcing a held claim again is no new grant";

  now_ += 5;
  coordinator_.intent_abandon(a, json::object{{"intentId", "ia"}});
  rows = take_rows();
  ASSERT_EQ(rows.size(), 2u);
  EXPECT_EQ(rows[0].action_type, "claim.release");
  EXPECT_EQ(rows[0].actor_id, "alice");
  EXPECT_EQ(summary(rows[0]).at("claimId"), "ia");
  EXPECT_EQ(summary(rows[0]).at("ended"), "canceled");
  EXPECT_EQ(summary(rows[0]).at("lapsed"), false);
  EXPECT_EQ(summary(rows[0]).at("fenceToken").as_int64(), first_fence);
  EXPECT_EQ(rows[1].action_type, "claim.grant");
  EXPECT_EQ(rows[1].actor_kind, "agent");
  EXPECT_EQ(rows[1].actor_id, "bot");
  EXPECT_EQ(rows[1].credential_id, "cred_bot");
  EXPECT_FALSE(rows[1].delegation_chain_root) << "an agent without a user behind it";
  EXPECT_EQ(rows[1].occurred_at_ms, now_);
  EXPECT_EQ(summary(rows[1]).at("grant"), "promoted");
  EXPECT_GT(summary(rows[1]).at("fenceToken").as_int64(), first_fence);
}

TEST_F(CoordinatorClaimAuditTest, HttpClaimThatLapsesIsReleasedAsExpiredAndAWrittenOneAsCommitted) {
  ClaimRequest lapsing;
  lapsing.intent_id = "int_lapse";
  lapsing.entity_type = "weatherReports";
  lapsing.entity_id = "r1";
  lapsing.fields = {"temperature", "city"};
  lapsing.ttl_ms = 1'000;
  ASSERT_EQ(coordinator_.claim(participant("bot", {"org:o"}), lapsing).kind, BeginOutcome::Kind::kAcquired);
  auto rows = take_rows();
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(summary(rows[0]).at("via"), "http");
  EXPECT_EQ(summary(rows[0]).at("fields"), (json::array{"city", "temperature"}));
  // A repeat claim extends the lease: no new grant.
  EXPECT_TRUE(coordinator_.claim(participant("bot", {"org:o"}), lapsing).repeated);
  EXPECT_TRUE(take_rows().empty());
  now_ += 500;
  coordinator_.sweep_now();
  EXPECT_TRUE(take_rows().empty()) << "not lapsed yet";
  now_ += 1'000;
  coordinator_.sweep_now();  // the single-node sweeper's path
  rows = take_rows();
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(rows[0].action_type, "claim.release");
  EXPECT_EQ(rows[0].occurred_at_ms, now_);
  EXPECT_EQ(summary(rows[0]).at("ended"), "expired");
  EXPECT_EQ(summary(rows[0]).at("lapsed"), true);

  ClaimRequest written = lapsing;
  written.intent_id = "int_written";
  ASSERT_EQ(coordinator_.claim(participant("bot", {"org:o"}), written).kind, BeginOutcome::Kind::kAcquired);
  ASSERT_TRUE(coordinator_.authorize_write("org/live", Owner{"bot", "cred_bot"}, "weatherReports", "r1", {"city"}));
  ASSERT_TRUE(coordinator_.release_intent(participant("bot", {"org:o"}), "int_written").value_or(false));
  rows = take_rows();
  ASSERT_EQ(rows.size(), 2u);
  EXPECT_EQ(rows[0].action_type, "claim.grant");
  EXPECT_EQ(rows[1].action_type, "claim.release");
  EXPECT_EQ(summary(rows[1]).at("ended"), "committed");
  EXPECT_EQ(summary(rows[1]).at("lapsed"), false);
}

TEST_F(CoordinatorClaimAuditTest, ATicketGrantedAtTheHeadAndASocketClaimLapsingAfterItsSocketClosed) {
  const auto a = coordinator_.attach(participant("alice", {"org:o"}), &a_);
  coordinator_.intent_begin(a, begin_payload("ia", "r1", true, 2'000));
  ClaimRequest ticket;
  ticket.intent_id = "int_ticket";
  ticket.entity_type = "weatherReports";
  ticket.entity_id = "r1";
  ticket.queue = true;
  ticket.ticket = true;
  ticket.wait_ms = 60'000;
  ASSERT_EQ(coordinator_.claim(participant("bot", {"org:o"}), ticket).kind, BeginOutcome::Kind::kQueued);
  ASSERT_EQ(take_rows().size(), 1u);  // alice's grant
  coordinator_.detach(a);
  EXPECT_TRUE(take_rows().empty()) << "a closed socket's claim lapses later, at its expiresAt";
  now_ += 2'001;
  coordinator_.sweep_now();
  auto rows = take_rows();
  ASSERT_EQ(rows.size(), 2u);
  EXPECT_EQ(rows[0].action_type, "claim.release");
  EXPECT_EQ(rows[0].actor_id, "alice");
  EXPECT_EQ(summary(rows[0]).at("ended"), "expired");
  EXPECT_EQ(rows[1].action_type, "claim.grant");
  EXPECT_EQ(rows[1].actor_id, "bot");
  EXPECT_EQ(summary(rows[1]).at("via"), "ticket");
  EXPECT_EQ(summary(rows[1]).at("grant"), "promoted");
}

TEST_F(CoordinatorClaimAuditTest, WithoutASinkNothingIsRecordedAndNothingBreaks) {
  Coordinator plain({.clock = [this] { return now_; }});
  const auto a = plain.attach(participant("alice", {"org:o"}), &a_);
  plain.intent_begin(a, begin_payload("ia", "r1"));
  plain.intent_abandon(a, json::object{{"intentId", "ia"}});
  EXPECT_EQ(a_.of_type("intent_acquired").size(), 1u);
  EXPECT_TRUE(take_rows().empty());
}

}  // namespace
}  // namespace ablo::coord
