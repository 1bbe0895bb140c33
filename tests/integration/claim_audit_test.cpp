// Claim grants and releases in the audit trail of the real server process (issue 13): a claim
// acquired, queued, granted when its holder releases, and lapsed — over WebSocket intents and
// over 0.49 HTTP tickets — shows up in GET /v1/audit as claim.grant / claim.release rows of the
// tenant's chain, which still verifies. On PostgreSQL two nodes record each event exactly once.
#include <chrono>
#include <map>
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

client::HttpResponse call(const ServerProcess& node, const std::string& bearer, const std::string& method,
                          const std::string& target, const std::string& body = {}) {
  auto response = client::http_request("127.0.0.1", node.port(), method, target, body,
                                       {{"Authorization", "Bearer " + bearer},
                                        {"Content-Type", "application/json"},
                                        {"Ablo-Protocol-Version", "1"}});
  EXPECT_TRUE(response) << (response ? "" : response.error().message);
  return response ? *response : client::HttpResponse{};
}

// The claim rows of the tenant, oldest first, keyed "<action> <claimId>".
std::vector<json::object> claim_rows(const ServerProcess& node) {
  std::vector<json::object> rows;
  for (const char* action : {"claim.grant", "claim.release"}) {
    auto response = call(node, node.api_key(), "GET", std::string("/v1/audit?limit=100&action=") + action);
    EXPECT_EQ(response.status, 200) << response.body;
    if (response.status != 200) continue;
    const auto body = json::parse(response.body);
    for (const auto& row : body.at("data").as_array()) rows.push_back(row.as_object());
  }
  std::sort(rows.begin(), rows.end(),
            [](const auto& a, const auto& b) { return a.at("chainSeq").as_int64() < b.at("chainSeq").as_int64(); });
  return rows;
}

std::string name_of(const json::object& row) {
  return std::string(row.at("actionType").as_string()) + " " +
         std::string(row.at("diffSummary").at("claimId").as_string());
}

// Polls the audit until `count` claim rows are there (the rows are queued, then written by the
// commit writer's next group), for up to ten seconds.
std::vector<json::object> await_claim_rows(const ServerProcess& node, std::size_t count) {
  const auto deadline = std::chrono::steady_clock::now() + 10s;
  auto rows = claim_rows(node);
  while (rows.size() < count && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(50ms);
    rows = claim_rows(node);
  }
  return rows;
}

json::object verify(const ServerProcess& node) {
  auto response = call(node, node.api_key(), "GET", "/v1/audit/verify");
  EXPECT_EQ(response.status, 200) << response.body;
  return json::parse(response.body).as_object();
}

// The scenario on `holder_node` and `waiter_node` (the same server alone, or two nodes):
// WebSocket: acquired, queued, granted by the holder's release, lapsed after the waiter's socket
// closed; 0.49 HTTP: held, a ticket queued, granted by the release, lapsed without heartbeats.
void claim_lifecycles(ServerProcess& holder_node, ServerProcess& waiter_node) {
  auto holder = Client::connect(holder_node);
  auto waiter = Client::connect(waiter_node);
  begin_claim(holder, "ws-held", "report-1", true, 30'000);
  ASSERT_TRUE(await_intent(holder, "intent_acquired", "ws-held"));
  begin_claim(waiter, "ws-wait", "report-1", true, 1'000);
  ASSERT_TRUE(await_intent(waiter, "intent_queued", "ws-wait"));
  abandon_claim(holder, "ws-held");
  ASSERT_TRUE(await_intent(waiter, "intent_granted", "ws-wait", 10s));
  waiter.ws.reset();  // its claim lapses at its expiresAt, about a second later

  const std::string row = "/api/v1/models/weatherReports/report-2/claim";
  auto held = call(holder_node, holder_node.api_key(), "POST", row, R"({"description":"hold","queue":true})");
  ASSERT_EQ(held.status, 201) << held.body;
  const std::string ticket_owner(waiter_node.exchange().at("token").as_string());
  auto queued = call(waiter_node, ticket_owner, "POST", row, R"({"description":"wait","ttl":"1s","queue":true})");
  ASSERT_EQ(queued.status, 202) << queued.body;
  ASSERT_EQ(call(holder_node, holder_node.api_key(), "DELETE", row).status, 200);  // the ticket is granted
}

void expect_lifecycle_rows(const std::vector<json::object>& rows) {
  std::map<std::string, json::object> by_name;
  for (const auto& row : rows) {
    EXPECT_TRUE(by_name.emplace(name_of(row), row).second) << "recorded twice: " << name_of(row);
  }
  ASSERT_EQ(by_name.size(), 8u) << json::serialize(json::value_from(rows));
  const auto summary = [&](const std::string& name) -> json::object {
    auto it = by_name.find(name);
    EXPECT_NE(it, by_name.end()) << name << " missing";
    return it == by_name.end() ? json::object{} : it->second.at("diffSummary").as_object();
  };
  EXPECT_EQ(summary("claim.grant ws-held").at("grant"), "acquired");
  EXPECT_EQ(summary("claim.grant ws-held").at("via"), "socket");
  EXPECT_EQ(summary("claim.release ws-held").at("ended"), "canceled");
  EXPECT_EQ(summary("claim.grant ws-wait").at("grant"), "promoted");
  EXPECT_EQ(summary("claim.release ws-wait").at("ended"), "expired");
  EXPECT_EQ(summary("claim.release ws-wait").at("lapsed"), true);
  EXPECT_EQ(summary("claim.grant ws-wait").at("model"), "weatherReports");
  EXPECT_EQ(summary("claim.grant ws-wait").at("id"), "report-1");
  EXPECT_GT(summary("claim.grant ws-wait").at("fenceToken").as_int64(),
            summary("claim.grant ws-held").at("fenceToken").as_int64());
  int tickets = 0;
  for (const auto& [name, row] : by_name) {
    const auto& s = row.at("diffSummary").as_object();
    EXPECT_FALSE(row.at("credentialId").as_string().empty()) << name;
    EXPECT_FALSE(row.at("actorId").as_string().empty()) << name;
    EXPECT_FALSE(s.contains("description")) << "names and ids only: " << name;
    if (s.at("id") != "report-2") continue;
    EXPECT_EQ(s.at("via"), "ticket") << name;
    ++tickets;
  }
  EXPECT_EQ(tickets, 4) << "held + ticket, each granted and released";
}

class ClaimAuditTest : public ::testing::Test {
 protected:
  ServerProcess server{kQuickstartSchema};
};

TEST_F(ClaimAuditTest, GrantsAndReleasesOverWebSocketAndHttpTicketsAreChainedRows) {
  claim_lifecycles(server, server);
  auto rows = await_claim_rows(server, 8);
  expect_lifecycle_rows(rows);
  // The ticket lapsed (ended expired), its holder released (canceled).
  int expired = 0, canceled = 0;
  for (const auto& row : rows) {
    if (row.at("actionType") != "claim.release") continue;
    (row.at("diffSummary").at("ended") == "expired" ? expired : canceled) += 1;
  }
  EXPECT_EQ(expired, 2);
  EXPECT_EQ(canceled, 2);
  const auto report = verify(server);
  EXPECT_EQ(report.at("ok"), true) << json::serialize(report);
  EXPECT_GE(report.at("rowsChecked").as_int64(), 8) << json::serialize(report);
  // Nothing more comes later: each event was recorded once.
  std::this_thread::sleep_for(1'500ms);
  EXPECT_EQ(claim_rows(server).size(), 8u);
}

TEST_F(ClaimAuditTest, TwoNodesOnOnePostgresRecordEachClaimEventExactlyOnce) {
  if (!testing_postgres()) GTEST_SKIP() << "several nodes need PostgreSQL";
  ServerProcess other(kQuickstartSchema, server.database_url());
  claim_lifecycles(server, other);
  auto rows = await_claim_rows(other, 8);
  expect_lifecycle_rows(rows);
  std::this_thread::sleep_for(1'500ms);  // a second recording would have landed by now
  EXPECT_EQ(claim_rows(server).size(), 8u);
  for (const ServerProcess* node : {&server, &other}) {
    const auto report = verify(*node);
    EXPECT_EQ(report.at("ok"), true) << json::serialize(report);
  }
}

}  // namespace
}  // namespace ablo::testing
