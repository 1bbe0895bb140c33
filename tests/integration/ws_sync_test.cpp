// The sync WebSocket of the real server process (protocol.md §3, §7): two clients, live
// fan-out, confirmation by delta id, catch-up after reconnect, and durability across restart.
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

class WsSyncTest : public ::testing::Test {
 protected:
  ServerProcess server{kQuickstartSchema};
};

TEST_F(WsSyncTest, UpgradeSelectsOnlyTheSyncSubprotocol) {
  auto client = Client::connect(server);
  EXPECT_EQ(client.ws->selected_subprotocol(), "ablo.sync.v1");
}

TEST_F(WsSyncTest, UpgradeWithAnUnknownTokenIsRefused) {
  auto refused = client::WsConnection::connect("127.0.0.1", server.port(), "/api/sync/ws?cursor=",
                                               {"ablo.bearer.rk_test_bogus", "ablo.sync.v1"});
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().code, "handshake_failed");
  EXPECT_NE(refused.error().message.find("401"), std::string::npos) << refused.error().message;
}

TEST_F(WsSyncTest, PingIsAnsweredWithPong) {
  auto client = Client::connect(server);
  client.ws->send_text(R"({"type":"ping"})");
  EXPECT_TRUE(receive_until(*client.ws, [](const json::object& f) { return f.at("type") == "pong"; }, 5s));
}

TEST_F(WsSyncTest, FirstSyncResponseReportsTheHead) {
  auto client = Client::connect(server);
  auto again = client.sync(0);
  EXPECT_TRUE(again.at("payload").at("deltas").as_array().empty());
  EXPECT_EQ(again.at("payload").at("currentSyncId").as_int64(), 0);
}

// A 0.9.1 client bootstraps over HTTP, then opens its socket and says lastSyncId 0 (it does
// not copy the bootstrap's lastSyncId into its live cursor, protocol.md §3.6). A write
// committed in between must still reach it: its first sync_response starts where its
// bootstrap ended, not where its socket opened.
TEST_F(WsSyncTest, AWriteBetweenAClientsBootstrapAndItsSocketReachesItsFirstSyncResponse) {
  auto writer = Client::connect(server);
  Client late;
  late.exchange = server.exchange();
  late.token = std::string(late.exchange.at("token").as_string());
  for (const auto& g : late.exchange.at("scope").at("syncGroups").as_array()) late.groups.emplace_back(g.as_string());
  auto bootstrap = client::http_request("127.0.0.1", server.port(), "GET", "/api/sync/bootstrap", "",
                                        {{"Authorization", "Bearer " + late.token}});
  ASSERT_TRUE(bootstrap) << bootstrap.error().message;
  ASSERT_EQ(bootstrap->status, 200) << bootstrap->body;
  const int64_t bootstrapped_at = json::parse(bootstrap->body).at("lastSyncId").as_int64();

  auto written = writer.result_of(writer.commit(
      json::array{op("CREATE", "in-the-gap", {{"location", "Oslo"}, {"status", "pending"}}, "tx_gap")}));
  ASSERT_EQ(written.at("success"), true) << json::serialize(written);
  const int64_t gap_id = written.at("lastSyncId").as_int64();
  ASSERT_GT(gap_id, bootstrapped_at);

  late.ws = server.connect_ws(late.token, late.groups);
  late.first_sync = late.sync(0);
  std::vector<std::string> caught_up;
  for (const auto& delta : deltas_in(late.first_sync)) caught_up.emplace_back(delta.at("modelId").as_string());
  EXPECT_EQ(caught_up, std::vector<std::string>{"in-the-gap"}) << json::serialize(late.first_sync);
  EXPECT_EQ(late.first_sync.at("payload").at("currentSyncId").as_int64(), gap_id);
}

// protocol.md §7: create -> update (confirmed by its own delta) -> read back, with a second
// client seeing both writes live.
TEST_F(WsSyncTest, QuickstartWritesAreConfirmedAndFannedOutToASecondClient) {
  auto writer = Client::connect(server);
  auto watcher = Client::connect(server);

  const std::string id = "3f1f7b2e-6a53-4c59-9d1a-000000000001";
  auto create_tx = writer.commit(json::array{op("CREATE", id, {{"location", "Oslo"}, {"status", "pending"}}, "tx_1")});
  auto created = writer.result_of(create_tx);
  ASSERT_EQ(created.at("success"), true) << json::serialize(created);
  EXPECT_EQ(created.at("object"), "commit_receipt");
  EXPECT_EQ(created.at("status"), "confirmed");
  const int64_t create_id = created.at("lastSyncId").as_int64();
  EXPECT_GT(create_id, 0);

  auto own = writer.await([&](const json::object& f) { return is_delta_with_id(f, create_id); });
  ASSERT_TRUE(own) << "the writer must receive its own delta";
  auto delta = delta_with_id(*own, create_id);
  EXPECT_EQ(delta.at("actionType"), "I");
  EXPECT_EQ(delta.at("modelName"), "weatherReports");
  EXPECT_EQ(delta.at("modelId"), id.c_str());
  EXPECT_EQ(delta.at("transactionId"), "tx_1");
  EXPECT_EQ(delta.at("data").at("location"), "Oslo");
  EXPECT_TRUE(watcher.await([&](const json::object& f) { return is_delta_with_id(f, create_id); }));

  // The update carries readAt 0, older than the create: only another participant's change may
  // make it stale (protocol.md §8.1), so it must succeed.
  json::object update = op("UPDATE", id, {{"status", "ready"}, {"forecast", "sunny"}}, "tx_2");
  update["readAt"] = 0;
  update["onStale"] = "reject";
  auto updated = writer.result_of(writer.commit(json::array{update}));
  ASSERT_EQ(updated.at("success"), true) << json::serialize(updated);
  const int64_t update_id = updated.at("lastSyncId").as_int64();
  EXPECT_GT(update_id, create_id);
  auto confirm = writer.await([&](const json::object& f) { return is_delta_with_id(f, update_id); });
  ASSERT_TRUE(confirm) << "update() waits for a delta with id >= lastSyncId";
  EXPECT_EQ(delta_with_id(*confirm, update_id).at("data").at("forecast"), "sunny");
  EXPECT_TRUE(watcher.await([&](const json::object& f) { return is_delta_with_id(f, update_id); }));

  auto bootstrap = client::http_request("127.0.0.1", server.port(), "GET",
                                        "/api/sync/bootstrap?syncGroups=" + writer.groups.front() + "&models=weatherReports",
                                        {}, {{"Authorization", "Bearer " + watcher.token}});
  ASSERT_TRUE(bootstrap);
  ASSERT_EQ(bootstrap->status, 200) << bootstrap->body;
  auto snapshot = json::parse(bootstrap->body).as_object();
  EXPECT_EQ(snapshot.at("type"), "full");
  EXPECT_GE(snapshot.at("lastSyncId").as_int64(), update_id);
  const auto& rows = snapshot.at("models").at("weatherReports").as_array();
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(rows[0].at("status"), "ready");

  auto query = client::http_request("127.0.0.1", server.port(), "POST", "/api/sync/query",
                                    R"({"queries":[{"model":"weatherReports","where":[["id",")" + id + R"("]],"limit":1}]})",
                                    {{"Authorization", "Bearer " + watcher.token}});
  ASSERT_TRUE(query);
  ASSERT_EQ(query->status, 200) << query->body;
  EXPECT_EQ(json::parse(query->body).at("results").at(0).at(0).at("forecast"), "sunny");

  auto entity = client::http_request("127.0.0.1", server.port(), "GET", "/api/sync/entity/weatherReports/" + id, {},
                                     {{"Authorization", "Bearer " + watcher.token}});
  ASSERT_TRUE(entity);
  EXPECT_EQ(entity->status, 200);
}

TEST_F(WsSyncTest, InvalidWritesAreRejectedAndTheSocketStaysOpen) {
  auto client = Client::connect(server);
  auto result = client.result_of(client.commit(json::array{op("CREATE", "r1", {{"location", "x"}, {"status", "sunny"}}, "tx")}));
  ASSERT_EQ(result.at("success"), false);
  EXPECT_EQ(result.at("status"), "rejected");
  EXPECT_EQ(result.at("error").at("code"), "invalid_request");
  EXPECT_NE(result.at("error").at("message").as_string().find("status"), json::string::npos);
  EXPECT_NE(result.at("error").at("field").as_string().find("status"), json::string::npos);
  client.ws->send_text(R"({"type":"ping"})");
  EXPECT_TRUE(receive_until(*client.ws, [](const json::object& f) { return f.at("type") == "pong"; }, 5s));
  EXPECT_FALSE(client.ws->closed());
}

TEST_F(WsSyncTest, AnotherParticipantsChangeMakesAReadAtWriteStale) {
  auto alice = Client::connect(server);
  auto bob = Client::connect(server);
  auto created = alice.result_of(alice.commit(json::array{op("CREATE", "r1", {{"location", "x"}, {"status", "pending"}}, "a1")}));
  const int64_t stamp = created.at("lastSyncId").as_int64();
  ASSERT_EQ(bob.result_of(bob.commit(json::array{op("UPDATE", "r1", {{"forecast", "rain"}}, "b1")})).at("success"), true);
  json::object stale = op("UPDATE", "r1", {{"status", "ready"}}, "a2");
  stale["readAt"] = stamp;
  auto result = alice.result_of(alice.commit(json::array{stale}));
  ASSERT_EQ(result.at("success"), false);
  EXPECT_EQ(result.at("error").at("code"), "stale_context");
}

TEST_F(WsSyncTest, ReconnectingClientCatchesUpOnMissedDeltasInOrder) {
  auto writer = Client::connect(server);
  auto first = writer.result_of(writer.commit(json::array{op("CREATE", "r1", {{"location", "a"}, {"status", "pending"}}, "t1")}));
  const int64_t seen = first.at("lastSyncId").as_int64();
  std::vector<int64_t> missed;
  for (int i = 2; i <= 4; ++i) {
    auto r = writer.result_of(writer.commit(json::array{
        op("CREATE", "r" + std::to_string(i), {{"location", "b"}, {"status", "pending"}}, "t" + std::to_string(i))}));
    missed.push_back(r.at("lastSyncId").as_int64());
  }
  auto late = Client::connect(server, seen);
  const auto& catch_up = late.first_sync;
  std::vector<int64_t> received;
  for (const auto& d : catch_up.at("payload").at("deltas").as_array()) received.push_back(d.at("id").as_int64());
  EXPECT_EQ(received, missed);
  EXPECT_EQ(catch_up.at("payload").at("currentSyncId").as_int64(), missed.back());
}

TEST_F(WsSyncTest, WritesSurviveARestart) {
  {
    auto client = Client::connect(server);
    auto r = client.result_of(client.commit(json::array{op("CREATE", "kept", {{"location", "x"}, {"status", "ready"}}, "k1")}));
    ASSERT_EQ(r.at("success"), true);
  }
  server.restart();
  auto client = Client::connect(server);
  auto next = client.result_of(client.commit(json::array{op("CREATE", "after", {{"location", "y"}, {"status", "ready"}}, "k2")}));
  EXPECT_EQ(next.at("lastSyncId").as_int64(), 2) << "delta ids continue after restart";
  auto bootstrap = client::http_request("127.0.0.1", server.port(), "GET", "/api/sync/bootstrap", {},
                                        {{"Authorization", "Bearer " + client.token}});
  ASSERT_TRUE(bootstrap);
  EXPECT_EQ(json::parse(bootstrap->body).at("models").at("weatherReports").as_array().size(), 2u);
}

// The native client's wipe signal (client library design §19 S1): one storeId per database, the
// same in the bootstrap and every sync_response, kept across restarts; and an HTTP Date header
// (§19 S3) from which a client measures its clock offset.
TEST_F(WsSyncTest, TheStoreIdNamesTheDatabaseInBootstrapsAndSyncResponsesAcrossRestarts) {
  auto store_id_of_bootstrap = [&](const std::string& token) {
    auto bootstrap = client::http_request("127.0.0.1", server.port(), "GET", "/api/sync/bootstrap", {},
                                          {{"Authorization", "Bearer " + token}});
    EXPECT_TRUE(bootstrap);
    EXPECT_FALSE(bootstrap->headers["date"].empty()) << "RFC 9110 Date header";
    EXPECT_NE(bootstrap->headers["date"].find(" GMT"), std::string::npos) << bootstrap->headers["date"];
    return std::string(json::parse(bootstrap->body).at("storeId").as_string());
  };
  std::string first;
  {
    auto client = Client::connect(server);
    first = store_id_of_bootstrap(client.token);
    EXPECT_EQ(first.size(), 36u) << first;
    EXPECT_EQ(client.sync(0).at("payload").at("storeId").as_string(), first);
  }
  server.restart();
  auto client = Client::connect(server);
  EXPECT_EQ(store_id_of_bootstrap(client.token), first) << "the same database after a restart";
  EXPECT_EQ(client.sync(0).at("payload").at("storeId").as_string(), first);
}

// "Gap too old" (§19 S2): a server started with --max-catch-up-deltas tells a client that lists
// the requiresBootstrap capability to bootstrap; without the capability (0.9.1) it pages.
TEST(WsSyncGapTest, AGapPastTheLimitIsAnsweredWithRequiresBootstrapOnlyToClientsThatAskedForIt) {
  ServerProcess server(kQuickstartSchema, "", {"--max-catch-up-deltas", "3"});
  auto writer = Client::connect(server);
  for (int i = 0; i < 5; ++i) {
    auto r = writer.result_of(writer.commit(json::array{
        op("CREATE", "gap-" + std::to_string(i), {{"location", "x"}, {"status", "ready"}}, "tx_gap_" + std::to_string(i))}));
    ASSERT_EQ(r.at("success"), true) << json::serialize(r);
  }
  auto open_socket = [&server] {  // a socket that has not asked for its catch-up yet
    Client c;
    c.exchange = server.exchange();
    c.token = std::string(c.exchange.at("token").as_string());
    for (const auto& g : c.exchange.at("scope").at("syncGroups").as_array()) c.groups.emplace_back(g.as_string());
    c.ws = server.connect_ws(c.token, c.groups);
    return c;
  };
  auto native = open_socket();
  native.ws->send_text(json::serialize(json::object{
      {"type", "sync_request"},
      {"payload", {{"lastSyncId", 1}, {"capabilities", json::array{"partialBootstrap", "requiresBootstrap"}}}}}));
  auto told = native.await([](const json::object& f) { return f.at("type") == "sync_response"; });
  ASSERT_TRUE(told);
  EXPECT_EQ(told->at("payload").at("requiresBootstrap"), true) << json::serialize(*told);
  EXPECT_EQ(told->at("payload").at("bootstrapHint").at("reason"), "too_far_behind");

  auto old_client = open_socket();
  auto paged = old_client.sync(1);
  EXPECT_EQ(deltas_in(paged).size(), 4u) << json::serialize(paged);
  EXPECT_FALSE(paged.at("payload").as_object().contains("requiresBootstrap"));
}

}  // namespace
}  // namespace ablo::testing
