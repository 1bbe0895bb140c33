// Claims, the FIFO wait line and presence against the real server process (protocol.md §3.8,
// §7 steps 3–6; http-api.md §5): WebSocket intents, the write guard, lease expiry after a
// holder's socket dies, the HTTP claim routes and claimed reads.
#include <boost/json.hpp>
#include <gtest/gtest.h>

#include <thread>

#include "client/transport.h"
#include "common/time.h"
#include "integration/quickstart_schema.h"
#include "integration/server_fixture.h"
#include "integration/sync_client.h"

namespace ablo::testing {
namespace {

namespace json = boost::json;
using namespace std::chrono_literals;
using SteadyClock = std::chrono::steady_clock;

bool commit_ok(const json::object& result) { return result.at("success").as_bool(); }

std::string error_code_of(const json::object& result) {
  return std::string(result.at("error").at("code").as_string());
}

class ClaimsTest : public ::testing::Test {
 protected:
  ServerProcess server{kQuickstartSchema};

  client::HttpResponse call(const std::string& bearer, const std::string& method, const std::string& target,
                            const std::string& body = {}) {
    auto response = client::http_request("127.0.0.1", server.port(), method, target, body,
                                         {{"Authorization", "Bearer " + bearer}, {"Content-Type", "application/json"}});
    EXPECT_TRUE(response) << (response ? "" : response.error().message);
    return response ? *response : client::HttpResponse{};
  }

  // Creates a weather report through `c` and returns the id of its delta.
  int64_t create_report(Client& c, const std::string& id, const std::string& forecast = "unknown") {
    const auto tx = c.commit(json::array{op("CREATE", id, {{"location", "Oslo"}, {"status", "pending"},
                                                           {"forecast", forecast}}, "tx-create-" + id)});
    auto result = c.result_of(tx);
    EXPECT_TRUE(commit_ok(result)) << json::serialize(result);
    return result.at("lastSyncId").as_int64();
  }

  // Ids of the active claims / the wait line on a weather report, from GET /api/v1/intents.
  std::vector<std::string> claim_ids(const std::string& id, const char* which) {
    auto response = call(server.api_key(), "GET", "/api/v1/intents?model=weatherReports&id=" + id);
    EXPECT_EQ(response.status, 200) << response.body;
    std::vector<std::string> ids;
    const auto body = json::parse(response.body);
    for (const auto& c : body.at(which).as_array()) ids.emplace_back(c.at("id").as_string());
    return ids;
  }
  std::vector<std::string> active_ids(const std::string& id) { return claim_ids(id, "intents"); }
  std::vector<std::string> queue_ids(const std::string& id) { return claim_ids(id, "queue"); }

  // Polls `condition` for up to five seconds (for effects of frames that have no reply).
  static bool eventually(const std::function<bool()>& condition) {
    const auto deadline = SteadyClock::now() + 5s;
    while (SteadyClock::now() < deadline) {
      if (condition()) return true;
      std::this_thread::sleep_for(10ms);
    }
    return condition();
  }

  // An UPDATE with readAt/onStale:'reject' as a claim handle sends it; no readAt = unguarded.
  json::object update_report(Client& c, const std::string& id, json::object input, std::optional<int64_t> read_at,
                             const std::string& tx) {
    json::object update = op("UPDATE", id, std::move(input), tx);
    if (read_at) {
      update["readAt"] = *read_at;
      update["onStale"] = "reject";
    }
    return c.result_of(c.commit(json::array{std::move(update)}));
  }

  // The row as /api/sync/query returns it, and the watermark it was read at.
  std::pair<json::object, int64_t> query_report(const std::string& token, const std::string& id) {
    json::object body{{"queries", json::array{json::object{{"model", "weatherReports"},
                                                           {"where", json::array{json::value(json::array{"id", id})}}}}}};
    auto response = call(token, "POST", "/api/sync/query", json::serialize(body));
    EXPECT_EQ(response.status, 200) << response.body;
    auto answer = json::parse(response.body).as_object();
    const auto& rows = answer.at("results").as_array()[0].as_array();
    EXPECT_EQ(rows.size(), 1u);
    return {rows.empty() ? json::object{} : rows[0].as_object(), answer.at("lastSyncId").as_int64()};
  }

  json::object read_report(const std::string& token, const std::string& id) {
    auto response = call(token, "GET", "/api/sync/entity/weatherReports/" + id);
    EXPECT_EQ(response.status, 200) << response.body;
    return json::parse(response.body).as_object();
  }
};

// §7: create → claim → update (readAt = the stamp taken at claim time, wait for the echo) →
// get → release; a peer sees the claim in presence and can claim the row afterwards.
TEST_F(ClaimsTest, QuickstartFlowWithAClaimCompletesEndToEnd) {
  auto writer = Client::connect(server);
  auto peer = Client::connect(server);
  send_frame(writer, "presence_update", {{"status", "online"}});
  create_report(writer, "report-1");

  begin_claim(writer, "claim-1", "report-1");
  auto acquired = await_intent(writer, "intent_acquired", "claim-1");
  ASSERT_TRUE(acquired) << "claim() would hang forever";
  EXPECT_EQ(acquired->at("target").at("entityId"), "report-1");

  // The peer learns of the claim through presence, with the writer's complete activeIntents.
  auto presence = peer.await([](const json::object& f) {
    return f.at("type") == "presence_update" && !f.at("payload").at("activeIntents").as_array().empty();
  });
  ASSERT_TRUE(presence);
  const auto& claim = presence->at("payload").at("activeIntents").as_array()[0];
  EXPECT_EQ(claim.at("intentId"), "claim-1");
  EXPECT_EQ(claim.at("entityType"), "weatherReports");
  EXPECT_TRUE(claim.at("declaredAt").is_int64());
  EXPECT_TRUE(claim.at("expiresAt").is_int64());

  // Stamp 0: the client's acked cursor may still be behind its own CREATE (protocol.md §8.1).
  auto result = update_report(writer, "report-1", {{"status", "ready"}, {"forecast", "sunny"}}, 0, "tx-u1");
  ASSERT_TRUE(commit_ok(result)) << json::serialize(result);
  const int64_t update_id = result.at("lastSyncId").as_int64();
  EXPECT_TRUE(writer.await([&](const json::object& f) { return is_delta_with_id(f, update_id); }))
      << "update() resolves only once its delta arrives";
  EXPECT_EQ(read_report(writer.token, "report-1").at("forecast"), "sunny");

  abandon_claim(writer, "claim-1");
  auto released = peer.await([](const json::object& f) {
    if (f.at("type") != "presence_update") return false;
    const auto& intents = f.at("payload").at("activeIntents").as_array();
    return !intents.empty() && intents[0].at("status") == "committed";
  });
  EXPECT_TRUE(released) << "peers see the claim end as committed (a write landed under it)";
  begin_claim(peer, "peer-claim", "report-1");
  EXPECT_TRUE(await_intent(peer, "intent_acquired", "peer-claim")) << "the release freed the row";
}

TEST_F(ClaimsTest, TwoAgentsContendingSerializeAndTheSecondSeesTheFirstsWrite) {
  auto first = Client::connect(server);
  auto second = Client::connect(server);
  create_report(first, "report-2");

  begin_claim(first, "first", "report-2");
  ASSERT_TRUE(await_intent(first, "intent_acquired", "first"));
  begin_claim(second, "second", "report-2");
  auto queued = await_intent(second, "intent_queued", "second");
  ASSERT_TRUE(queued);
  EXPECT_EQ(queued->at("position").as_int64(), 0);

  auto blocked = update_report(second, "report-2", {{"forecast", "from second"}}, 0, "tx-blocked");
  ASSERT_FALSE(commit_ok(blocked));
  EXPECT_EQ(error_code_of(blocked), "entity_claimed");

  ASSERT_TRUE(commit_ok(update_report(first, "report-2", {{"forecast", "from first"}}, 0, "tx-first")));
  abandon_claim(first, "first");
  ASSERT_TRUE(await_intent(second, "intent_granted", "second"));
  // Granted after waiting, the second agent re-reads (as 0.9.1 does) and writes on top.
  auto [row, stamp] = query_report(second.token, "report-2");
  EXPECT_EQ(row.at("forecast"), "from first");
  auto own = update_report(second, "report-2", {{"forecast", "from second"}}, stamp, "tx-second");
  ASSERT_TRUE(commit_ok(own)) << json::serialize(own);
  // Holding the claim does not switch off the stale check: a stamp from before the first
  // agent's write is still refused.
  auto blind = update_report(second, "report-2", {{"forecast", "blind"}}, stamp - 1, "tx-blind");
  ASSERT_FALSE(commit_ok(blind));
  EXPECT_EQ(error_code_of(blind), "stale_context");
  EXPECT_EQ(read_report(first.token, "report-2").at("forecast"), "from second");
}

// client.md T41, the way 0.9.1 does it: a granted waiter re-reads the row from its local store
// and stamps its next write with the cursor it has acknowledged. So the grant must not
// overtake the previous holder's last write: it waits until the waiter acknowledged it.
TEST_F(ClaimsTest, AGrantWaitsUntilTheWaiterAcknowledgedThePreviousHoldersLastWrite) {
  auto first = Client::connect(server);
  auto second = Client::connect(server);
  const int64_t created = create_report(first, "report-t41");
  ASSERT_TRUE(second.await([&](const json::object& f) { return is_delta_with_id(f, created); }));
  send_frame(second, "ack", {{"lastSyncId", created}});  // the second client acknowledges what it applies

  begin_claim(first, "first", "report-t41");
  ASSERT_TRUE(await_intent(first, "intent_acquired", "first"));
  begin_claim(second, "second", "report-t41");
  ASSERT_TRUE(await_intent(second, "intent_queued", "second"));
  auto written = update_report(first, "report-t41", {{"forecast", "from first"}}, 0, "tx-t41");
  ASSERT_TRUE(commit_ok(written));
  const int64_t write_id = written.at("lastSyncId").as_int64();
  abandon_claim(first, "first");

  ASSERT_TRUE(second.await([&](const json::object& f) { return is_delta_with_id(f, write_id); }))
      << "the previous holder's write reaches the waiter";
  EXPECT_FALSE(await_intent(second, "intent_granted", "second", 400ms))
      << "granted before the waiter acknowledged the write it would re-read";
  const auto acked_at = SteadyClock::now();
  send_frame(second, "ack", {{"lastSyncId", write_id}});
  ASSERT_TRUE(await_intent(second, "intent_granted", "second", 1s)) << "the acknowledgement did not release the grant";
  EXPECT_LT(SteadyClock::now() - acked_at, 1s);
  // Its stamp is now the acknowledged cursor, which covers the write: no stale_context.
  ASSERT_TRUE(commit_ok(update_report(second, "report-t41", {{"forecast", "from second"}}, write_id, "tx-t41-2")));
}

// The same rule for a first acquisition (issue 10): a claim taken right after another
// participant's write must not reach the claimer before it acknowledged that write, or its
// first write under the claim carries an older readAt and is refused as stale.
TEST_F(ClaimsTest, AnAcquisitionWaitsUntilTheClaimerAcknowledgedAnotherParticipantsLatestWrite) {
  auto writer = Client::connect(server);
  auto claimer = Client::connect(server);
  const int64_t created = create_report(writer, "report-acq");
  ASSERT_TRUE(claimer.await([&](const json::object& f) { return is_delta_with_id(f, created); }));
  send_frame(claimer, "ack", {{"lastSyncId", created}});
  auto written = update_report(writer, "report-acq", {{"forecast", "from writer"}}, 0, "tx-acq-writer");
  ASSERT_TRUE(commit_ok(written));
  const int64_t write_id = written.at("lastSyncId").as_int64();
  ASSERT_TRUE(claimer.await([&](const json::object& f) { return is_delta_with_id(f, write_id); }));

  begin_claim(claimer, "claimer", "report-acq");
  EXPECT_FALSE(await_intent(claimer, "intent_acquired", "claimer", 400ms))
      << "acquired before the claimer acknowledged the write it would re-read";
  send_frame(claimer, "ack", {{"lastSyncId", write_id}});
  ASSERT_TRUE(await_intent(claimer, "intent_acquired", "claimer", 1s)) << "the acknowledgement did not release it";
  // Stamped with its acknowledged cursor, the first write under the claim is not stale.
  auto own = update_report(claimer, "report-acq", {{"forecast", "from claimer"}}, write_id, "tx-acq-claimer");
  ASSERT_TRUE(commit_ok(own)) << json::serialize(own);
}

TEST_F(ClaimsTest, FiftyContendersAreGrantedInArrivalOrder) {
  constexpr int kContenders = 50;
  std::vector<Client> clients;
  for (int i = 0; i < kContenders; ++i) clients.push_back(Client::connect(server));
  for (int i = 0; i < kContenders; ++i) {
    begin_claim(clients[i], "c" + std::to_string(i), "hot-row");
    if (i == 0) {
      ASSERT_TRUE(await_intent(clients[0], "intent_acquired", "c0"));
    } else {
      auto queued = await_intent(clients[i], "intent_queued", "c" + std::to_string(i));
      ASSERT_TRUE(queued);
      EXPECT_EQ(queued->at("position").as_int64(), i - 1);
    }
  }
  for (int i = 1; i < kContenders; ++i) {
    abandon_claim(clients[i - 1], "c" + std::to_string(i - 1));
    ASSERT_TRUE(await_intent(clients[i], "intent_granted", "c" + std::to_string(i))) << "contender " << i;
    // Nobody further back was granted out of turn.
    if (i + 1 < kContenders) {
      EXPECT_FALSE(await_intent(clients[i + 1], "intent_granted", "c" + std::to_string(i + 1), 0ms));
    }
  }
}

TEST_F(ClaimsTest, KillingTheHoldersConnectionGrantsTheNextWaiterWithinTheTtl) {
  constexpr int64_t kTtlMs = 2'000;
  auto holder = Client::connect(server);
  auto waiter = Client::connect(server);
  begin_claim(holder, "held", "report-3", true, kTtlMs);
  ASSERT_TRUE(await_intent(holder, "intent_acquired", "held"));
  begin_claim(waiter, "waiting", "report-3");
  ASSERT_TRUE(await_intent(waiter, "intent_queued", "waiting"));

  const auto killed_at = SteadyClock::now();
  holder.ws.reset();  // the socket goes away without releasing
  ASSERT_TRUE(await_intent(waiter, "intent_granted", "waiting", 10s));
  const auto waited = SteadyClock::now() - killed_at;
  EXPECT_LE(waited, std::chrono::milliseconds(kTtlMs + 1'000)) << "granted within the TTL bound";
}

// An operator's DELETE /v1/intents/{id}?force=true: the 0.9.1 holder hears intent_lost
// 'preempted' (its pending claim rejects with claim_lost) and the waiter is granted.
TEST_F(ClaimsTest, AnOperatorPreemptsASocketHolderWhoHearsIntentLost) {
  auto holder = Client::connect(server);
  auto waiter = Client::connect(server);
  begin_claim(holder, "held", "report-9");
  ASSERT_TRUE(await_intent(holder, "intent_acquired", "held"));
  begin_claim(waiter, "waiting", "report-9");
  ASSERT_TRUE(await_intent(waiter, "intent_queued", "waiting"));

  auto preempted = call(server.api_key(), "DELETE", "/v1/intents/held?force=true");
  ASSERT_EQ(preempted.status, 200) << preempted.body;
  const auto lost = await_intent(holder, "intent_lost", "held");
  ASSERT_TRUE(lost);
  EXPECT_EQ(lost->at("reason"), "preempted");
  EXPECT_TRUE(await_intent(waiter, "intent_granted", "waiting"));
}

TEST_F(ClaimsTest, AWaiterThatDisconnectsIsNeverGranted) {
  auto holder = Client::connect(server);
  auto leaver = Client::connect(server);
  auto stayer = Client::connect(server);
  begin_claim(holder, "h", "report-4");
  ASSERT_TRUE(await_intent(holder, "intent_acquired", "h"));
  begin_claim(leaver, "l", "report-4");
  ASSERT_TRUE(await_intent(leaver, "intent_queued", "l"));
  begin_claim(stayer, "s", "report-4");
  ASSERT_TRUE(await_intent(stayer, "intent_queued", "s"));
  leaver.ws.reset();
  ASSERT_TRUE(eventually([&] { return queue_ids("report-4") == std::vector<std::string>{"s"}; }))
      << "the server saw the waiter leave";
  abandon_claim(holder, "h");
  ASSERT_TRUE(await_intent(stayer, "intent_granted", "s"));
  auto listed = call(server.api_key(), "GET", "/api/v1/intents?model=weatherReports&id=report-4");
  ASSERT_EQ(listed.status, 200) << listed.body;
  auto body = json::parse(listed.body).as_object();
  ASSERT_EQ(body.at("intents").as_array().size(), 1u);
  EXPECT_EQ(body.at("intents").as_array()[0].at("id"), "s");
  EXPECT_TRUE(body.at("queue").as_array().empty()) << "no ghost waiter";
}

TEST_F(ClaimsTest, ANonHoldersWriteIsRejectedAndChangesNothingUntilRelease) {
  auto holder = Client::connect(server);
  auto other = Client::connect(server);
  create_report(holder, "report-5", "calm");
  begin_claim(holder, "h5", "report-5");
  ASSERT_TRUE(await_intent(holder, "intent_acquired", "h5"));

  auto refused = update_report(other, "report-5", {{"forecast", "stormy"}}, 0, "tx-o1");
  ASSERT_FALSE(commit_ok(refused));
  EXPECT_EQ(error_code_of(refused), "entity_claimed");
  auto deleted = other.result_of(other.commit(json::array{op("DELETE", "report-5", {}, "tx-o2")}));
  EXPECT_EQ(error_code_of(deleted), "entity_claimed");
  EXPECT_EQ(read_report(other.token, "report-5").at("forecast"), "calm");

  abandon_claim(holder, "h5");  // no reply: wait until the server shows the row free
  ASSERT_TRUE(eventually([&] { return active_ids("report-5").empty(); }));
  auto accepted = update_report(other, "report-5", {{"forecast", "stormy"}}, std::nullopt, "tx-o3");
  EXPECT_TRUE(commit_ok(accepted)) << json::serialize(accepted);
  EXPECT_EQ(read_report(other.token, "report-5").at("forecast"), "stormy");
}

TEST_F(ClaimsTest, HttpModelClaimRoutesAcquireQueueConflictAndRelease) {
  const std::string key = server.api_key();
  auto agent = Client::connect(server);  // an owner with a socket, so its queued HTTP claim can be granted
  const auto claim_path = "/api/v1/models/weatherReports/t12/claim";

  auto first = call(key, "POST", claim_path, R"({"action":"editing","queue":true})");
  ASSERT_EQ(first.status, 201) << first.body;
  auto record = json::parse(first.body).as_object();
  EXPECT_EQ(record.at("object"), "intent");
  EXPECT_EQ(record.at("status"), "active");
  EXPECT_EQ(record.at("target").at("id"), "t12");
  EXPECT_EQ(record.at("intent").at("id"), record.at("id"));
  EXPECT_NE(record.at("expiresAt").as_string().find('T'), json::string::npos);

  auto again = call(key, "POST", claim_path, R"({"action":"editing","queue":true})");
  ASSERT_EQ(again.status, 201);
  EXPECT_EQ(json::parse(again.body).at("id"), record.at("id")) << "same owner, same claim";

  auto conflict = call(agent.token, "POST", claim_path, R"({"queue":false})");
  EXPECT_EQ(conflict.status, 409);
  EXPECT_EQ(json::parse(conflict.body).at("code"), "claim_conflict");
  EXPECT_EQ(json::parse(conflict.body).at("type"), "AbloClaimedError");

  auto queued = call(agent.token, "POST", claim_path, R"({"queue":true})");
  ASSERT_EQ(queued.status, 202) << queued.body;
  const std::string queued_id(json::parse(queued.body).at("intentId").as_string());
  EXPECT_EQ(json::parse(queued.body).at("position"), 0);

  auto listed = json::parse(call(key, "GET", "/v1/intents?model=weatherReports&id=t12").body).as_object();
  ASSERT_EQ(listed.at("data").as_array().size(), 1u);
  ASSERT_EQ(listed.at("queue").as_array().size(), 1u);
  EXPECT_EQ(listed.at("queue").as_array()[0].at("id"), queued_id.c_str());

  auto released = call(key, "DELETE", claim_path);
  ASSERT_EQ(released.status, 200);
  EXPECT_EQ(json::parse(released.body).at("released"), true);
  EXPECT_TRUE(await_intent(agent, "intent_granted", queued_id)) << "granted on the owner's socket";
  EXPECT_EQ(json::parse(call(key, "DELETE", claim_path).body).at("released"), false);

  auto capped = call(key, "POST", "/api/v1/models/weatherReports/t13/claim", R"({"ttl":"1h","queue":false})");
  ASSERT_EQ(capped.status, 201);
  auto expires = parse_iso8601_ms(json::parse(capped.body).at("expiresAt").as_string());
  ASSERT_TRUE(expires);
  EXPECT_LE(*expires, now_ms() + 600'000 + 1'000) << "leases are capped at 10 minutes";

  EXPECT_EQ(call(key, "POST", "/api/v1/models/nope/t1/claim", "{}").status, 404);
}

TEST_F(ClaimsTest, HttpIntentsAreIdempotentAndShareTheLineWithWebSocketClaims) {
  const std::string key = server.api_key();
  auto ws_client = Client::connect(server);
  const char* body = R"({"intentId":"int_a","target":{"model":"weatherReports","id":"t20"},"action":"update","ttl":"2m"})";
  auto created = call(key, "POST", "/api/v1/intents", body);
  ASSERT_EQ(created.status, 200) << created.body;
  EXPECT_EQ(json::parse(created.body).at("id"), "int_a");
  EXPECT_EQ(call(key, "POST", "/api/v1/intents", body).status, 200);
  auto listed = json::parse(call(key, "GET", "/api/v1/intents").body).as_object();
  EXPECT_EQ(listed.at("intents").as_array().size(), 1u) << "a repeated POST does not duplicate";

  begin_claim(ws_client, "ws-1", "t20", false);
  auto rejected = await_intent(ws_client, "intent_rejected", "ws-1");
  ASSERT_TRUE(rejected);
  EXPECT_EQ(rejected->at("heldByIntentId"), "int_a");

  auto missing_id = call(key, "POST", "/api/v1/intents", R"({"target":{"model":"weatherReports"},"action":"x"})");
  EXPECT_EQ(missing_id.status, 400);
  EXPECT_EQ(json::parse(missing_id.body).at("code"), "invalid_intent");
  auto generated = call(key, "POST", "/v1/intents", R"({"target":{"resource":"weatherreports","id":"t21"},"action":"edit"})");
  ASSERT_EQ(generated.status, 200) << generated.body;
  EXPECT_FALSE(json::parse(generated.body).at("id").as_string().empty());

  auto foreign = call(ws_client.token, "DELETE", "/api/v1/intents/int_a");
  EXPECT_EQ(foreign.status, 403);
  auto released = call(key, "DELETE", "/api/v1/intents/int_a");
  ASSERT_EQ(released.status, 200);
  EXPECT_EQ(json::parse(released.body).at("released"), true);
  EXPECT_EQ(json::parse(call(key, "DELETE", "/api/v1/intents/int_a").body).at("released"), false);
}

TEST_F(ClaimsTest, ClaimedReadsFailWaitOrReturnTheClaims) {
  auto holder = Client::connect(server);
  create_report(holder, "report-6", "before");
  begin_claim(holder, "h6", "report-6");
  ASSERT_TRUE(await_intent(holder, "intent_acquired", "h6"));
  const std::string reader = server.api_key();
  auto query = [&](const std::string& policy, int timeout_ms) {
    json::object body{{"queries", json::array{json::object{{"model", "weatherReports"},
                                                           {"where", json::array{json::value(json::array{"id", "report-6"})}}}}},
                      {"ifClaimed", policy},
                      {"claimedTimeout", timeout_ms}};
    return call(reader, "POST", "/api/sync/query", json::serialize(body));
  };

  auto returned = query("return", 0);
  ASSERT_EQ(returned.status, 200) << returned.body;
  EXPECT_EQ(json::parse(returned.body).at("claims").as_array().size(), 1u);
  auto failed = query("fail", 0);
  EXPECT_EQ(failed.status, 409);
  EXPECT_EQ(json::parse(failed.body).at("code"), "model_claimed");
  auto timed_out = query("wait", 200);
  EXPECT_EQ(timed_out.status, 409);
  EXPECT_EQ(json::parse(timed_out.body).at("code"), "model_claimed_timeout");

  std::thread finish([&] {
    std::this_thread::sleep_for(300ms);
    update_report(holder, "report-6", {{"forecast", "after"}}, std::nullopt, "tx-h6");
    abandon_claim(holder, "h6");
  });
  auto waited = query("wait", 10'000);
  finish.join();
  ASSERT_EQ(waited.status, 200) << waited.body;
  auto rows = json::parse(waited.body).at("results").as_array()[0].as_array();
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(rows[0].at("forecast"), "after") << "the wait reads again after the holder is done";
}

}  // namespace
}  // namespace ablo::testing
