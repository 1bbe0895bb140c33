// Claims through the native client library (issue 16 item 5; design §9): a fair FIFO line, the
// hand-over to the next waiter when the holder's Claim leaves scope (with the holder's last write
// in the row it is granted), a refusal without waiting, and a non-holder's write refused and
// rolled back.
#include <atomic>
#include <thread>

#include <gtest/gtest.h>

#include "integration/quickstart_schema.h"
#include "integration/sdk_support.h"
#include "integration/server_fixture.h"
#include "sdk/client.h"

namespace ablo::testing {
namespace {

using namespace std::chrono_literals;

bool settles_within(Pending<Claim>& pending, std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    if (pending.ready()) return true;
    std::this_thread::sleep_for(10ms);
  }
  return pending.ready();
}

class SdkClaimsTest : public ::testing::Test {
 protected:
  ServerProcess server{kQuickstartSchema};
};

TEST_F(SdkClaimsTest, WaitersAreGrantedInOrderWithTheHoldersLastWriteWhenItsClaimEnds) {
  ablo::Client a(sdk_options(server.port(), server.api_key(), ":memory:", ParticipantKind::kAgent));
  ablo::Client b(sdk_options(server.port(), server.api_key(), ":memory:", ParticipantKind::kAgent));
  ablo::Client c(sdk_options(server.port(), server.api_key(), ":memory:", ParticipantKind::kAgent));
  for (auto* client : {&a, &b, &c}) client->ready().wait();
  a.model("weatherReports").create({{"location", "Oslo"}, {"status", "pending"}}, {.id = "job"}).wait();
  for (auto* client : {&b, &c}) {
    const auto deadline = std::chrono::steady_clock::now() + 10s;
    while (!client->model("weatherReports").get("job") && std::chrono::steady_clock::now() < deadline) std::this_thread::sleep_for(10ms);
  }

  std::optional<Claim> held_by_a(a.model("weatherReports").claim("job", {.ttl = 30s}).wait());
  EXPECT_TRUE(held_by_a->held());
  auto b_waits = b.model("weatherReports").claim("job", {.ttl = 30s});
  std::this_thread::sleep_for(100ms);  // B is first in line
  auto c_waits = c.model("weatherReports").claim("job", {.ttl = 30s});
  EXPECT_FALSE(settles_within(b_waits, 300ms)) << "A holds it";

  // Without waiting: refused at once. A non-holder's write: refused by the server, rolled back.
  auto no_wait = c.model("weatherReports").claim("job", {.wait = false}).wait_result();
  ASSERT_FALSE(no_wait);
  EXPECT_EQ(no_wait.error().code, "entity_claimed");
  auto intruder = b.model("weatherReports").update("job", {{"location", "B was here"}}).wait_result();
  ASSERT_FALSE(intruder);
  EXPECT_EQ(intruder.error().code, "entity_claimed");
  EXPECT_EQ(b.model("weatherReports").get("job")->data.at("location"), "Oslo") << "rolled back";

  held_by_a->update({{"status", "ready"}}).wait();
  held_by_a.reset();  // leaves scope: intent_abandon

  ASSERT_TRUE(settles_within(b_waits, 10s)) << "B is next";
  EXPECT_FALSE(c_waits.ready()) << "C waits behind B";
  Claim held_by_b = b_waits.wait();
  EXPECT_TRUE(held_by_b.held());
  EXPECT_EQ(held_by_b.row().data.at("status"), "ready") << "granted with A's last write";
  held_by_b.update({{"location", "Bergen"}}).wait();
  EXPECT_TRUE(held_by_b.release().wait_result());
  EXPECT_FALSE(held_by_b.held());
  auto after_release = held_by_b.update({{"location", "late"}}).wait_result();
  ASSERT_FALSE(after_release);
  EXPECT_EQ(after_release.error().code, "claim_lost") << "nothing sent once released";

  ASSERT_TRUE(settles_within(c_waits, 10s));
  Claim held_by_c = c_waits.wait();
  EXPECT_EQ(held_by_c.row().data.at("location"), "Bergen");
}

// A claim the client is destroyed while waiting for fails with model_disposed instead of hanging.
TEST_F(SdkClaimsTest, AWaitingClaimFailsWhenItsClientCloses) {
  ablo::Client a(sdk_options(server.port(), server.api_key(), ":memory:", ParticipantKind::kAgent));
  a.ready().wait();
  a.model("weatherReports").create({{"location", "Oslo"}, {"status", "pending"}}, {.id = "job"}).wait();
  Claim held = a.model("weatherReports").claim("job").wait();
  std::optional<Pending<Claim>> waiting;
  {
    ablo::Client b(sdk_options(server.port(), server.api_key(), ":memory:", ParticipantKind::kAgent));
    b.ready().wait();
    const auto deadline = std::chrono::steady_clock::now() + 10s;
    while (!b.model("weatherReports").get("job") && std::chrono::steady_clock::now() < deadline) std::this_thread::sleep_for(10ms);
    waiting.emplace(b.model("weatherReports").claim("job"));
    std::this_thread::sleep_for(100ms);
  }
  auto outcome = waiting->wait_for(5s);
  ASSERT_TRUE(outcome);
  ASSERT_FALSE(*outcome);
  EXPECT_EQ(outcome->error().code, "model_disposed");
}

// Presence (issue 16 item 7): others' activity and claims as observable state; a participant
// that leaves drops out; a client never lists itself.
TEST_F(SdkClaimsTest, OthersActivityAndClaimsAreObservedAndALeaverDropsOut) {
  ablo::Client b(sdk_options(server.port(), server.api_key(), ":memory:", ParticipantKind::kAgent));
  b.ready().wait();
  std::atomic<int> roster_calls{0};
  auto watching = b.presence().observe([&](const std::vector<Participant>&) { ++roster_calls; });
  std::string a_id;
  {
    ablo::Client a(sdk_options(server.port(), server.api_key(), ":memory:", ParticipantKind::kAgent));
    a.ready().wait();
    a.model("weatherReports").create({{"location", "Oslo"}, {"status", "pending"}}, {.id = "job"}).wait();
    a.presence().set_activity(Activity{.model = "weatherReports", .id = "job", .action = "editing"});
    a_id = a.participant_id();
    ASSERT_FALSE(a_id.empty());
    auto a_seen = [&]() -> std::optional<Participant> {
      for (auto& p : b.presence().others()) {
        if (p.id == a_id) return p;
      }
      return std::nullopt;
    };
    const auto deadline = std::chrono::steady_clock::now() + 10s;
    while (!(a_seen() && a_seen()->activity) && std::chrono::steady_clock::now() < deadline) std::this_thread::sleep_for(10ms);
    ASSERT_TRUE(a_seen() && a_seen()->activity) << "A's activity reached B";
    EXPECT_EQ(a_seen()->activity->id, "job");
    EXPECT_EQ(a_seen()->activity->action, "editing");
    EXPECT_EQ(a_seen()->kind, "agent");

    Claim claim = a.model("weatherReports").claim("job").wait();
    while (a_seen()->claims.empty() && std::chrono::steady_clock::now() < deadline + 10s) std::this_thread::sleep_for(10ms);
    ASSERT_EQ(a_seen()->claims.size(), 1u) << "A's claim is in B's roster";
    EXPECT_EQ(a_seen()->claims.front().id, "job");
    EXPECT_EQ(a_seen()->claims.front().held_by, a_id);
    for (const auto& p : b.presence().others()) EXPECT_NE(p.id, b.participant_id()) << "never itself";
  }  // A closes
  const auto deadline = std::chrono::steady_clock::now() + 10s;
  auto a_listed = [&] {
    for (const auto& p : b.presence().others()) {
      if (p.id == a_id) return true;
    }
    return false;
  };
  while (a_listed() && std::chrono::steady_clock::now() < deadline) std::this_thread::sleep_for(10ms);
  EXPECT_FALSE(a_listed()) << "A left";
  EXPECT_GT(roster_calls.load(), 0);
}

// claim_state / claim_queue (design §9 last bullet): others' claims from the presence roster,
// the wait line from the last intent_queue, own entries by the server-resolved participant id.
TEST_F(SdkClaimsTest, ClaimStateAndQueueShowTheHolderAndTheWaitLine) {
  ablo::Client a(sdk_options(server.port(), server.api_key(), ":memory:", ParticipantKind::kAgent));
  ablo::Client b(sdk_options(server.port(), server.api_key(), ":memory:", ParticipantKind::kAgent));
  ablo::Client c(sdk_options(server.port(), server.api_key(), ":memory:", ParticipantKind::kAgent));
  for (auto* client : {&a, &b, &c}) client->ready().wait();
  a.model("weatherReports").create({{"location", "Oslo"}, {"status", "pending"}}, {.id = "job"}).wait();
  for (auto* client : {&b, &c}) ASSERT_TRUE(eventually([&] { return client->model("weatherReports").get("job").has_value(); }));
  EXPECT_FALSE(c.model("weatherReports").claim_state("job")) << "free";
  EXPECT_TRUE(c.model("weatherReports").claim_queue("job").empty());

  std::optional<Claim> held_by_a(a.model("weatherReports").claim("job", {.ttl = 30s, .description = "forecasting"}).wait());
  ASSERT_TRUE(eventually([&] { return c.model("weatherReports").claim_state("job").has_value(); }));
  const auto seen_by_c = *c.model("weatherReports").claim_state("job");
  EXPECT_EQ(seen_by_c.held_by, a.participant_id());
  EXPECT_EQ(seen_by_c.intent_id, held_by_a->intent_id());
  EXPECT_EQ(seen_by_c.model, "weatherReports");
  EXPECT_EQ(seen_by_c.action, "editing");
  EXPECT_FALSE(seen_by_c.mine);
  EXPECT_GT(seen_by_c.expires_at, Clock::now()) << "a lease in the future";
  EXPECT_FALSE(a.model("weatherReports").claim_state("job")) << "held by this client: not another's claim";

  auto b_waits = b.model("weatherReports").claim("job", {.ttl = 30s});
  ASSERT_TRUE(eventually([&] { return a.model("weatherReports").claim_queue("job").size() == 1; }));
  auto c_waits = c.model("weatherReports").claim("job", {.ttl = 30s});
  ASSERT_TRUE(eventually([&] { return a.model("weatherReports").claim_queue("job").size() == 2; }));
  const auto line = a.model("weatherReports").claim_queue("job");
  EXPECT_EQ(line[0].held_by, b.participant_id());
  EXPECT_EQ(line[0].position, 0);
  EXPECT_EQ(line[1].held_by, c.participant_id());
  EXPECT_EQ(line[1].position, 1);
  EXPECT_FALSE(line[0].mine || line[1].mine) << "A is the holder, not in line";
  ASSERT_TRUE(eventually([&] {
    const auto seen = b.model("weatherReports").claim_queue("job");
    return seen.size() == 2 && seen[0].mine && !seen[1].mine;
  })) << "B finds itself at the head by its participant id";

  held_by_a.reset();  // B is granted; C is alone in line
  Claim held_by_b = b_waits.wait();
  ASSERT_TRUE(eventually([&] {
    const auto state = c.model("weatherReports").claim_state("job");
    return state && state->held_by == b.participant_id();
  }));
  ASSERT_TRUE(eventually([&] {
    const auto seen = c.model("weatherReports").claim_queue("job");
    return seen.size() == 1 && seen[0].mine && seen[0].position == 0;
  }));
}

}  // namespace
}  // namespace ablo::testing
