// The cluster op log's codec (coord/op_codec.h): every op kind comes back from its JSON form
// with the same kind, stamp and fields, and a snapshot comes back with the same replica state.
#include <set>
#include <string>
#include <vector>
#include <variant>

#include <boost/json.hpp>
#include <gtest/gtest.h>

#include "coord/op_codec.h"
#include "coord/ops.h"

namespace ablo::coord {
namespace {

Participant someone() {
  return Participant{"org/live", Owner{"usr_1", "cred_1"}, "agent", {"team", "ops"}, true};
}

ClaimRequest a_request() {
  ClaimRequest r;
  r.intent_id = "int_1";
  r.entity_type = "weatherReports";
  r.entity_id = "r1";
  r.field = "summary";
  r.path = boost::json::array{"a", 1};
  r.range = boost::json::object{{"from", 2}};
  r.meta = boost::json::object{{"description", "fixing"}};
  r.action = "reviewing";
  r.description = "fixing";
  r.ttl_ms = 5'000;
  r.queue = true;
  return r;
}

// One op of every kind, with every field set to something other than its default.
std::vector<Op> one_of_each() {
  return {op::Attach{7, someone()},
          op::Detach{7},
          op::AddGroups{7, {"extra"}},
          op::Begin{.session = 7, .request = a_request()},
          op::Begin{.who = someone(), .request = a_request()},
          op::Abandon{7, "int_1"},
          op::Reorder{.session = 7, .request = {"weatherReports", "r1", {"int_2", "int_1"}}},
          op::Reorder{.who = someone(), .request = {"weatherReports", "r1", {"int_3"}}},
          op::PresenceUpdate{7, {{"cursor", boost::json::object{{"x", 1}}}}},
          op::RelayEvent{7, "cursor_move", {{"x", 3}}},
          op::ReleaseIntent{someone(), "int_1"},
          op::Preempt{someone(), "int_2"},
          op::ReleaseEntity{someone(), "weatherReports", "r1"},
          op::Renew{someone(), "int_1"},
          op::Heartbeat{.session = 7, .intent_id = "int_1", .ttl_ms = 9'000},
          op::Heartbeat{.who = someone(), .intent_id = "int_1"},
          op::Wrote{someone(), "weather_reports", "r1", {"summary", "temp"}},
          op::CloseSessions{"org/live", "cred_1", 4003, "revoked"},
          op::Sweep{},
          op::NodesDown{{2, 3}}};
}

TEST(OpCodecTest, EveryOpKindRoundTripsWithItsStamp) {
  const auto ops = one_of_each();
  std::set<std::string_view> kinds;
  for (const auto& op : ops) {
    const StampedOp stamped{op, 1'700'000'000'123, 42, 3};
    const std::string text = encode_op(stamped);
    auto decoded = decode_op(text);
    ASSERT_TRUE(decoded) << text;
    EXPECT_EQ(decoded->op.index(), op.index()) << text;
    EXPECT_EQ(kind_of(decoded->op), kind_of(op));
    EXPECT_EQ(decoded->now, stamped.now);
    EXPECT_EQ(decoded->head, 42);
    EXPECT_EQ(decoded->node, 3);
    EXPECT_EQ(encode_op(*decoded), text) << "fields lost in the round trip";
    kinds.insert(kind_of(op));
  }
  EXPECT_EQ(kinds.size(), std::variant_size_v<Op>) << "one_of_each() misses a kind";
}

TEST(OpCodecTest, DecodedFieldsAreTheTypedValues) {
  auto begin = decode_op(encode_op({op::Begin{.who = someone(), .request = a_request()}, 1, 2, 3}));
  ASSERT_TRUE(begin);
  const auto& b = std::get<op::Begin>(begin->op);
  ASSERT_TRUE(b.who);
  EXPECT_EQ(b.who->owner.credential_id, "cred_1");
  EXPECT_TRUE(b.who->privileged);
  EXPECT_EQ(b.who->groups, (std::vector<std::string>{"team", "ops"}));
  EXPECT_EQ(b.request.ttl_ms, 5'000);
  EXPECT_TRUE(b.request.queue);
  EXPECT_EQ(b.request.path, (boost::json::array{"a", 1}));

  auto socket_begin = decode_op(encode_op({op::Begin{.session = 9, .request = {}}, 1, 2, 3}));
  ASSERT_TRUE(socket_begin);
  EXPECT_FALSE(std::get<op::Begin>(socket_begin->op).who);
  EXPECT_EQ(std::get<op::Begin>(socket_begin->op).session, 9u);
  EXPECT_FALSE(std::get<op::Begin>(socket_begin->op).request.ttl_ms);

  auto wrote = decode_op(encode_op({op::Wrote{someone(), "m", "r1", {"a", "b"}}, 1, 2, 3}));
  ASSERT_TRUE(wrote);
  EXPECT_EQ(std::get<op::Wrote>(wrote->op).fields, (std::set<std::string>{"a", "b"}));
}

TEST(OpCodecTest, The049ClaimFieldsRoundTrip) {
  ClaimRequest request = a_request();
  request.fields = {"title", "status"};
  request.ticket = true;
  request.max_queue_depth = 0;
  request.wait_ms = 2'500;
  auto begin = decode_op(encode_op({op::Begin{.who = someone(), .request = request}, 1, 2, 3}));
  ASSERT_TRUE(begin);
  const auto& decoded = std::get<op::Begin>(begin->op).request;
  EXPECT_EQ(decoded.fields, request.fields);
  EXPECT_TRUE(decoded.ticket);
  EXPECT_EQ(decoded.max_queue_depth, 0);
  EXPECT_EQ(decoded.wait_ms, 2'500);

  auto beat = decode_op(encode_op({op::Heartbeat{.session = 4, .intent_id = "int_9", .ttl_ms = 7'000}, 1, 2, 3}));
  ASSERT_TRUE(beat);
  EXPECT_EQ(std::get<op::Heartbeat>(beat->op).intent_id, "int_9");
  EXPECT_EQ(std::get<op::Heartbeat>(beat->op).ttl_ms, 7'000);
  EXPECT_FALSE(std::get<op::Heartbeat>(beat->op).who);

  ReplicaImage image;
  Claim claim;
  claim.tenant = "org/live";
  claim.intent_id = "int_1";
  claim.fields = {"a", "b"};
  claim.ticket = true;
  claim.fence_token = 17;
  claim.read_at = 99;
  image.claims.push_back(claim);
  image.last_fence = 23;
  auto restored = decode_snapshot(encode_snapshot(image));
  ASSERT_TRUE(restored);
  EXPECT_EQ(restored->last_fence, 23);
  ASSERT_EQ(restored->claims.size(), 1u);
  EXPECT_EQ(restored->claims[0].fields, claim.fields);
  EXPECT_TRUE(restored->claims[0].ticket);
  EXPECT_EQ(restored->claims[0].fence_token, 17);
  EXPECT_EQ(restored->claims[0].read_at, 99);
}

TEST(OpCodecTest, UnreadableOrUnknownOpsAreErrors) {
  EXPECT_FALSE(decode_op("not json"));
  EXPECT_FALSE(decode_op("[]"));
  EXPECT_FALSE(decode_op(R"({"kind":"intent_teleport","op":{}})"));
}

TEST(OpCodecTest, ASnapshotRoundTrips) {
  ReplicaImage image;
  image.sessions.push_back({(uint64_t{2} << 32) | 5, someone()});
  image.participants.push_back({"org/live", "usr_1", "agent", {"team"}, {(uint64_t{2} << 32) | 5},
                                {{"status", "busy"}}, true});
  Claim claim;
  claim.tenant = "org/live";
  claim.intent_id = "int_1";
  claim.owner = {"usr_1", "cred_1"};
  claim.entity_type = "weatherReports";
  claim.model = "weather_reports";
  claim.entity_id = "r1";
  claim.ttl_ms = 60'000;
  claim.expires_at_ms = 1'700'000'060'000;
  claim.status = ClaimStatus::kActive;
  claim.session = (uint64_t{2} << 32) | 5;
  claim.wrote = true;
  image.claims.push_back(claim);

  const std::string text = encode_snapshot(image);
  auto restored = decode_snapshot(text);
  ASSERT_TRUE(restored);
  ASSERT_EQ(restored->sessions.size(), 1u);
  EXPECT_EQ(restored->sessions[0].id, image.sessions[0].id);
  ASSERT_EQ(restored->participants.size(), 1u);
  EXPECT_TRUE(restored->participants[0].entered);
  EXPECT_EQ(restored->participants[0].sessions, image.participants[0].sessions);
  ASSERT_EQ(restored->claims.size(), 1u);
  EXPECT_EQ(restored->claims[0].status, ClaimStatus::kActive);
  EXPECT_EQ(restored->claims[0].session, claim.session);
  EXPECT_TRUE(restored->claims[0].wrote);
  EXPECT_EQ(encode_snapshot(*restored), text);
  EXPECT_FALSE(decode_snapshot("{"));
}

}  // namespace
}  // namespace ablo::coord
