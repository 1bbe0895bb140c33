// One `ablo serve`, two client dialects on one sync group (issue 12): a socket speaking the
// 0.49 claims dialect (claim_*, update_subscription, protocolVersion 1, strict receipts) and a
// 0.9.1 socket (intent_*) share rows, claims, presence and deltas, each hearing only its own
// vocabulary; a frame of the other dialect is refused without effect; an unsupported protocol
// version is closed with 4010 before any delta.
#include <chrono>
#include <set>
#include <string>
#include <thread>

#include <boost/json.hpp>
#include <gtest/gtest.h>

#include "client/transport.h"
#include "integration/quickstart_schema.h"
#include "integration/server_fixture.h"
#include "integration/sync_client.h"

namespace ablo::testing {
namespace {

namespace json = boost::json;
using namespace std::chrono_literals;

std::string participant_of(const Client& c) { return std::string(c.exchange.at("scope").at("participantId").as_string()); }

bool carries_delta_of(const json::object& frame, const std::string& row) {
  for (const auto& d : deltas_in(frame)) {
    if (d.at("modelId") == row.c_str()) return true;
  }
  return false;
}

// Every frame read so far that the await calls did not consume, plus whatever arrives in `window`.
std::vector<json::object> drain(Client& c, std::chrono::milliseconds window = 300ms) {
  c.await([](const json::object&) { return false; }, window);
  return c.unread;
}

class WsDialectTest : public ::testing::Test {
 protected:
  ServerProcess server{kQuickstartSchema};

  client::HttpResponse call(const std::string& method, const std::string& target, const std::string& body = {}) {
    auto response = client::http_request("127.0.0.1", server.port(), method, target, body,
                                         {{"Authorization", "Bearer " + server.api_key()}, {"Content-Type", "application/json"}});
    EXPECT_TRUE(response) << (response ? "" : response.error().message);
    return response ? *response : client::HttpResponse{};
  }

  // Ids of the active claims on a weather report (GET /api/v1/intents).
  std::vector<std::string> active_claims(const std::string& id) {
    auto response = call("GET", "/api/v1/intents?model=weatherReports&id=" + id);
    EXPECT_EQ(response.status, 200) << response.body;
    std::vector<std::string> ids;
    const auto body = json::parse(response.body);  // outlives the loop (a range-for would not keep it)
    for (const auto& c : body.at("intents").as_array()) ids.emplace_back(c.at("id").as_string());
    return ids;
  }

  void create_report(Client& c, const std::string& id) {
    auto result = c.result_of(c.commit(json::array{op("CREATE", id, {{"location", "Oslo"}, {"status", "pending"}}, "tx-" + id)}));
    ASSERT_EQ(result.at("success"), true) << json::serialize(result);
  }
};

TEST_F(WsDialectTest, ClientsOfBothDialectsShareARowInFifoOrderEachInItsOwnVocabulary) {
  auto modern = connect_claims_client(server);
  auto legacy = Client::connect(server);
  send_frame(legacy, "presence_update", {{"status", "online"}});

  // The 0.9.1 client writes; the 0.49 client gets the delta with the keys it requires.
  create_report(legacy, "shared-1");
  auto created = modern.await([](const json::object& f) { return carries_delta_of(f, "shared-1"); });
  ASSERT_TRUE(created) << "the 0.49 socket did not get the 0.9.1 client's write";
  for (const auto& d : deltas_in(*created)) {
    EXPECT_TRUE(d.at("syncGroups").is_array());
    EXPECT_TRUE(d.at("createdAt").is_string());
  }

  // The 0.49 client claims first and hears claim_acquired.
  send_frame(modern, "claim_begin", {{"claimId", "c-modern"}, {"entityType", "weatherreports"}, {"entityId", "shared-1"},
                                     {"description", "rewriting the forecast"}, {"queue", true}});
  auto acquired = await_claim(modern, "claim_acquired", "c-modern");
  ASSERT_TRUE(acquired) << "no claim_acquired";
  EXPECT_EQ(acquired->at("target").at("entityId"), "shared-1");

  // The 0.9.1 client queues behind it and hears intent_queued; it sees the claim in presence.
  begin_claim(legacy, "i-legacy", "shared-1");
  auto queued = await_intent(legacy, "intent_queued", "i-legacy");
  ASSERT_TRUE(queued) << "no intent_queued";
  EXPECT_EQ(queued->at("position"), 0);
  auto seen_by_legacy = legacy.await([&](const json::object& f) {
    if (f.at("type") != "presence_update" || f.at("payload").at("userId") != participant_of(modern).c_str()) return false;
    const auto& intents = f.at("payload").at("activeIntents").as_array();
    return !intents.empty() && intents[0].at("intentId") == "c-modern";
  });
  ASSERT_TRUE(seen_by_legacy) << "the 0.9.1 client does not see the 0.49 client's claim";
  EXPECT_EQ(seen_by_legacy->at("payload").at("activeIntents").as_array()[0].at("meta").at("description"),
            "rewriting the forecast");

  // The holder writes; its answer is the strict receipt; the waiter sees the write.
  auto written = modern.result_of(modern.commit(json::array{op("UPDATE", "shared-1", {{"forecast", "sunny"}}, "tx-m1")}));
  EXPECT_EQ(keys_of(written), kStrictReceiptKeys) << json::serialize(written);
  EXPECT_EQ(written.at("success"), true);
  EXPECT_EQ(written.at("status"), "confirmed");
  EXPECT_EQ(written.at("authority").at("branchId"), "branch_main");
  EXPECT_EQ(written.at("authority").at("participantId"), participant_of(modern).c_str());
  for (const auto& operation : written.at("authority").at("operations").as_array()) {
    const std::string_view text = operation.as_string();
    EXPECT_TRUE(text.ends_with(".read") || text.ends_with(".create") || text.ends_with(".update") ||
                text.ends_with(".delete")) << text;
  }
  EXPECT_TRUE(legacy.await([](const json::object& f) {
    for (const auto& d : deltas_in(f)) {
      if (d.at("modelId") == "shared-1" && d.at("data").at("forecast") == "sunny") return true;
    }
    return false;
  })) << "the 0.9.1 client did not see the 0.49 client's write";

  // Release: the 0.9.1 waiter is granted; the 0.49 client sees its claim as activeClaims.
  send_frame(modern, "claim_abandon", {{"claimId", "c-modern"}});
  ASSERT_TRUE(await_intent(legacy, "intent_granted", "i-legacy")) << "the waiter was not granted";
  auto seen_by_modern = modern.await([&](const json::object& f) {
    if (f.at("type") != "presence_update" || f.at("payload").at("userId") != participant_of(legacy).c_str()) return false;
    const auto& payload = f.at("payload").as_object();
    if (payload.contains("activeIntents") || !payload.contains("activeClaims")) return false;
    const auto& claims = payload.at("activeClaims").as_array();
    return !claims.empty() && claims[0].at("claimId") == "i-legacy";
  });
  ASSERT_TRUE(seen_by_modern) << "the 0.49 client does not see the 0.9.1 client's claim as activeClaims";
  EXPECT_TRUE(seen_by_modern->at("payload").at("kind").is_string());
  EXPECT_TRUE(seen_by_modern->at("payload").at("status").is_string());

  // The new holder writes; the 0.49 client sees it.
  auto legacy_write = legacy.result_of(legacy.commit(json::array{op("UPDATE", "shared-1", {{"forecast", "rain"}}, "tx-l1")}));
  EXPECT_EQ(legacy_write.at("success"), true) << json::serialize(legacy_write);
  EXPECT_FALSE(legacy_write.contains("authority")) << "the 0.9.1 socket keeps its receipt";
  EXPECT_TRUE(modern.await([](const json::object& f) {
    for (const auto& d : deltas_in(f)) {
      if (d.at("modelId") == "shared-1" && d.at("data").at("forecast") == "rain") return true;
    }
    return false;
  })) << "the 0.49 client did not see the 0.9.1 client's write";

  // Neither heard the other's vocabulary.
  for (const auto& frame : drain(modern)) {
    const std::string_view type = frame.at("type").as_string();
    EXPECT_FALSE(type.starts_with("intent_") || type == "error" || type == "session_error") << json::serialize(frame);
    if (type == "presence_update") { EXPECT_FALSE(frame.at("payload").as_object().contains("activeIntents")); }
  }
  for (const auto& frame : drain(legacy)) {
    const std::string_view type = frame.at("type").as_string();
    EXPECT_FALSE(type.starts_with("claim_") || type == "subscription_ack") << json::serialize(frame);
  }
}

TEST_F(WsDialectTest, AFrameOfTheOtherDialectIsRefusedWithoutEffect) {
  auto modern = connect_claims_client(server);
  auto legacy = Client::connect(server);
  create_report(legacy, "mixed-1");

  // intent_begin on a claims socket, claim_begin and update_subscription on an intents socket.
  send_frame(modern, "intent_begin", {{"intentId", "i-wrong"}, {"entityType", "weatherReports"}, {"entityId", "mixed-1"},
                                      {"action", "editing"}, {"queue", false}});
  send_frame(legacy, "claim_begin", {{"claimId", "c-wrong"}, {"entityType", "weatherreports"}, {"entityId", "mixed-1"},
                                     {"description", "x"}});
  send_frame(legacy, "update_subscription", {{"syncGroups", json::array{}}});
  // A sync_request of the wrong dialect is refused too: no catch-up answers it.
  send_frame(modern, "sync_request", {{"cursor", nullptr}, {"versions", json::object{}}, {"lastSyncId", 0}});
  // Each socket still answers its own frames (ordered after the refused ones).
  send_frame(modern, "ping", {});
  send_frame(legacy, "ping", {});
  ASSERT_TRUE(modern.await([](const json::object& f) { return f.at("type") == "pong"; }));
  ASSERT_TRUE(legacy.await([](const json::object& f) { return f.at("type") == "pong"; }));

  for (const auto& frame : drain(modern, 500ms)) {
    const std::string_view type = frame.at("type").as_string();
    EXPECT_FALSE(type.starts_with("intent_") || type.starts_with("claim_") || type == "sync_response")
        << "a refused frame had an effect: " << json::serialize(frame);
  }
  for (const auto& frame : drain(legacy, 500ms)) {
    const std::string_view type = frame.at("type").as_string();
    EXPECT_FALSE(type.starts_with("intent_") || type.starts_with("claim_") || type == "subscription_ack")
        << "a refused frame had an effect: " << json::serialize(frame);
  }
  EXPECT_TRUE(active_claims("mixed-1").empty()) << "a refused claim was taken";

  // Both sockets still work in their own dialect, and the row was free.
  begin_claim(legacy, "i-right", "mixed-1", /*queue=*/false);
  EXPECT_TRUE(await_intent(legacy, "intent_acquired", "i-right"));
}

TEST_F(WsDialectTest, AnUnsupportedProtocolVersionIsClosedWith4010BeforeAnyDelta) {
  auto writer = Client::connect(server);
  create_report(writer, "versioned-1");
  const auto exchanged = server.exchange();
  auto ws = server.connect_ws(std::string(exchanged.at("token").as_string()), {});
  ws->send_text(R"({"type":"presence_update","payload":{"status":"online"}})");
  ws->send_text(R"({"type":"sync_request","payload":{"cursor":"","lastSyncId":0,"capabilities":[],"protocolVersion":2}})");
  std::vector<std::string> received;
  const auto deadline = std::chrono::steady_clock::now() + 5s;
  while (!ws->closed() && std::chrono::steady_clock::now() < deadline) {
    if (auto text = ws->receive(50ms)) received.push_back(*text);
  }
  ASSERT_TRUE(ws->closed()) << "the socket stayed open";
  EXPECT_EQ(ws->close_code(), 4010);
  EXPECT_EQ(ws->close_reason(), "protocol_version_unsupported");
  for (const auto& text : received) {
    const auto frame = json::parse(text).as_object();
    EXPECT_NE(frame.at("type"), "delta") << text;
    EXPECT_NE(frame.at("type"), "sync_response") << text;
  }
}

TEST_F(WsDialectTest, ClaimHeartbeatsAreAnsweredWithTheClaimsFate) {
  auto modern = connect_claims_client(server);
  auto legacy = Client::connect(server);
  create_report(legacy, "beat-1");
  create_report(legacy, "beat-2");

  send_frame(modern, "claim_begin", {{"claimId", "c-held"}, {"entityType", "weatherreports"}, {"entityId", "beat-1"},
                                     {"description", "long job"}, {"estimatedMs", 30000}});
  ASSERT_TRUE(await_claim(modern, "claim_acquired", "c-held"));
  send_frame(modern, "claim_heartbeat", {{"claimId", "c-held"}, {"entityType", "weatherreports"}, {"entityId", "beat-1"},
                                         {"ttlMs", 30000}});
  auto held = await_claim(modern, "claim_heartbeat_ack", "c-held");
  ASSERT_TRUE(held) << "no claim_heartbeat_ack";
  EXPECT_EQ(held->at("status"), "held");
  EXPECT_TRUE(held->at("expiresAt").is_int64());

  begin_claim(legacy, "i-holder", "beat-2", /*queue=*/false);
  ASSERT_TRUE(await_intent(legacy, "intent_acquired", "i-holder"));
  send_frame(modern, "claim_begin", {{"claimId", "c-waiting"}, {"entityType", "weatherreports"}, {"entityId", "beat-2"},
                                     {"description", "next"}, {"queue", true}});
  ASSERT_TRUE(await_claim(modern, "claim_queued", "c-waiting"));
  send_frame(modern, "claim_heartbeat", {{"claimId", "c-waiting"}, {"entityType", "weatherreports"}, {"entityId", "beat-2"}});
  auto waiting = await_claim(modern, "claim_heartbeat_ack", "c-waiting");
  ASSERT_TRUE(waiting);
  EXPECT_EQ(waiting->at("status"), "queued");
  EXPECT_EQ(waiting->at("position"), 0);

  send_frame(modern, "claim_heartbeat", {{"claimId", "c-unknown"}});
  auto unknown = await_claim(modern, "claim_heartbeat_ack", "c-unknown");
  ASSERT_TRUE(unknown);
  EXPECT_EQ(unknown->at("status"), "lost");
}

TEST_F(WsDialectTest, ARejectedCommitOnAClaimsSocketIsTheStrictRejectedArm) {
  auto modern = connect_claims_client(server);
  const auto tx = modern.commit(json::array{op("UPDATE", "no-such-row", {{"forecast", "x"}}, "tx-missing")});
  auto rejected = modern.result_of(tx);
  EXPECT_EQ(keys_of(rejected), (std::set<std::string>{"object", "clientTxId", "serverTxId", "createdAt", "success",
                                                       "authority", "status", "statusAt", "error"}))
      << json::serialize(rejected);
  EXPECT_EQ(rejected.at("status"), "rejected");
  EXPECT_EQ(rejected.at("success"), false);
  EXPECT_TRUE(rejected.at("error").at("code").is_string());
}

// Teams are scope roots (group team:<id>); tasks inherit their team's group.
constexpr const char* kTeamsSchema = R"({"v":3,"models":{
  "teams":{"fields":{"name":{"type":"string","isOptional":true}},"relations":{},"typename":"Team","scope":"team"},
  "tasks":{"fields":{"title":{"type":"string"},"teamId":{"type":"string"}},"relations":{
      "team":{"type":"belongsTo","target":"teams","foreignKey":"teamId","options":{"parent":true}}},"typename":"Task"}},
  "identityRoles":[]})";

TEST(WsDialectSubscription, UpdateSubscriptionMovesTheSocketsReadSetWithinTheGrant) {
  ServerProcess server(kTeamsSchema);
  auto call = [&](const std::string& method, const std::string& target, const std::string& body) {
    auto response = client::http_request("127.0.0.1", server.port(), method, target, body,
                                         {{"Authorization", "Bearer " + server.api_key()}, {"Content-Type", "application/json"}});
    EXPECT_TRUE(response && response->status < 300) << (response ? response->body : response.error().message);
    return response ? json::parse(response->body).as_object() : json::object{};
  };
  const auto both = call("POST", "/api/auth/capability",
                         R"({"participantKind":"user","participantId":"carol","syncGroups":["team:a","team:b"],"ttlSeconds":3600})");
  const std::string token(both.at("token").as_string());
  auto carol = connect_claims_client(server, token, {"team:a"});

  send_frame(carol, "update_subscription", {{"syncGroups", json::array{"team:b", "team:z"}}});
  auto ack = carol.await([](const json::object& f) { return f.at("type") == "subscription_ack"; });
  ASSERT_TRUE(ack);
  EXPECT_EQ(ack->at("payload").at("success"), true);
  EXPECT_EQ(ack->at("payload").at("syncGroups"), json::array{"team:b"}) << "only groups the grant allows";

  call("POST", "/v1/models/tasks", R"({"id":"task-a9","title":"left behind","teamId":"a"})");
  call("POST", "/v1/models/tasks", R"({"id":"task-b9","title":"new group","teamId":"b"})");
  ASSERT_TRUE(carol.await([](const json::object& f) { return carries_delta_of(f, "task-b9"); }))
      << "no delta of the group the socket moved to";
  for (const auto& frame : drain(carol)) { EXPECT_FALSE(carries_delta_of(frame, "task-a9")) << "the group it left"; }

  send_frame(carol, "update_subscription", {{"syncGroups", "team:a"}});
  auto malformed = carol.await([](const json::object& f) { return f.at("type") == "subscription_ack"; });
  ASSERT_TRUE(malformed);
  EXPECT_EQ(malformed->at("payload").at("success"), false);
  EXPECT_EQ(malformed->at("payload").at("error").at("code"), "malformed_subscription");
  EXPECT_EQ(malformed->at("payload").at("syncGroups"), json::array{"team:b"}) << "unchanged";
  send_frame(carol, "update_subscription", {{"syncGroups", json::array{"Team A"}}});
  auto invalid = carol.await([](const json::object& f) { return f.at("type") == "subscription_ack"; });
  ASSERT_TRUE(invalid);
  EXPECT_EQ(invalid->at("payload").at("error").at("code"), "invalid_sync_group");
}

}  // namespace
}  // namespace ablo::testing
