// Data Source mode (issue 11) end to end: the real server against the reference endpoint
// (examples/source-endpoint, SQLite-backed in the SQLite pass and PostgreSQL-backed in the
// PostgreSQL pass), with 0.9.1-style clients, REST calls and direct writes to the endpoint's
// database by "another program".
#include <signal.h>

#include <chrono>
#include <functional>
#include <future>
#include <string>
#include <thread>

#include <boost/json.hpp>
#include <gtest/gtest.h>

#include "client/transport.h"
#include "integration/quickstart_schema.h"
#include "integration/server_fixture.h"
#include "integration/source_endpoint.h"
#include "integration/sync_client.h"
#include "source/signature.h"

namespace ablo::testing::source_it {

namespace json = boost::json;
using namespace std::chrono_literals;

client::HttpResponse call(const ServerProcess& server, const std::string& method, const std::string& path,
                          const std::string& body = {}, std::map<std::string, std::string> headers = {}) {
  if (!headers.contains("Authorization")) headers["Authorization"] = "Bearer " + server.api_key();
  headers["Content-Type"] = "application/json";
  auto response = client::http_request("127.0.0.1", server.port(), method, path, body, headers);
  EXPECT_TRUE(response) << (response ? "" : response.error().message);
  return response ? *response : client::HttpResponse{};
}

json::object parsed(const client::HttpResponse& response) {
  boost::system::error_code ec;
  auto value = json::parse(response.body, ec);
  return !ec && value.is_object() ? value.as_object() : json::object{};
}


json::object report_create(const std::string& id, const std::string& location) {
  return json::object{{"action", "create"}, {"model", "weatherReports"}, {"id", id},
                      {"data", json::object{{"location", location}, {"status", "pending"}}}};
}

json::object report_update(const std::string& id, json::object data) {
  return json::object{{"action", "update"}, {"model", "weatherReports"}, {"id", id}, {"data", std::move(data)}};
}

// POST /v1/commits with an explicit clientTxId.
client::HttpResponse commit(const ServerProcess& server, const std::string& client_tx_id, json::array operations,
                            const std::string& key = {}) {
  std::map<std::string, std::string> headers;
  if (!key.empty()) headers["Authorization"] = "Bearer " + key;
  return call(server, "POST", "/v1/commits",
              json::serialize(json::object{{"clientTxId", client_tx_id}, {"operations", std::move(operations)}}),
              headers);
}

// The row as our store (the read cache) serves it; empty when it is not there.
json::object cached_row(const ServerProcess& server, const std::string& id) {
  auto response = call(server, "GET", "/v1/models/weatherReports/" + id);
  return response.status == 200 ? parsed(response) : json::object{};
}

std::string field(const json::object& row, const char* name) {
  const auto* value = row.if_contains(name);
  if (!value) {
    if (const auto* data = row.if_contains("data"); data && data->is_object()) value = data->as_object().if_contains(name);
  }
  return value && value->is_string() ? std::string(value->as_string()) : std::string();
}

// Deltas our log holds for one row.
int deltas_of(const ServerProcess& server, const std::string& id) {
  auto page = parsed(call(server, "GET", "/v1/logs?limit=100&after=0&recordId=" + id));
  const auto* data = page.if_contains("data");
  return data && data->is_array() ? static_cast<int>(data->as_array().size()) : -1;
}

// An external write in the endpoint's own table (another program, not the endpoint).
std::string insert_sql(const std::string& id, const std::string& location) {
  return "INSERT INTO \"weatherReports\" (id, location, status, created_at, updated_at) VALUES ('" + id + "', '" +
         location + "', 'pending', '2026-01-01T00:00:00.000Z', '2026-01-01T00:00:00.000Z')";
}

std::optional<json::object> await_delta(Client& client, const std::string& model_id, char action,
                                        std::chrono::milliseconds timeout = 10s) {
  std::optional<json::object> found;
  client.await([&](const json::object& frame) {
    for (auto& delta : deltas_in(frame)) {
      if (delta.at("modelId") == model_id.c_str() && delta.at("actionType").as_string()[0] == action) {
        found = delta;
        return true;
      }
    }
    return false;
  }, timeout);
  return found;
}

int64_t unix_seconds() {
  return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
}

// POST /api/source/events as a customer's push queue sends it (datasource.md §1.9).
client::HttpResponse push_events(const ServerProcess& server, const std::string& body, const std::string& key,
                                 int64_t at, bool with_signature = true) {
  auto signed_headers = source::sign_request(key, "msg-push", at, body);
  std::map<std::string, std::string> headers{{"Authorization", ""}, {"webhook-id", signed_headers.id},
                                             {"webhook-timestamp", signed_headers.timestamp},
                                             {"Idempotency-Key", signed_headers.id}};
  if (with_signature) headers["webhook-signature"] = signed_headers.signature;
  return call(server, "POST", "/api/source/events", body, headers);
}

class SourceModeTest : public ::testing::Test {
 protected:
  // Registers the endpoint and waits until it has loaded its rows.
  json::object add_source(json::object extra = {}) {
    extra["endpoint"] = endpoint.url();
    if (!extra.contains("pollIntervalMs")) extra["pollIntervalMs"] = 200;
    auto response = call(server, "POST", "/v1/datasources", json::serialize(extra));
    EXPECT_EQ(response.status, 201) << response.body;
    source = parsed(response);
    EXPECT_TRUE(eventually([&] { return status().at("state") == "live"; })) << json::serialize(status());
    return source;
  }
  json::object status() {
    auto view = parsed(call(server, "GET", "/v1/datasources/" + std::string(source.at("id").as_string())));
    return view.contains("status") ? view.at("status").as_object() : json::object{{"state", "unknown"}};
  }

  ServerProcess server{kQuickstartSchema, "", {"--allow-private-sources"}};
  SourceEndpointProcess endpoint{kQuickstartSchema, server.api_key()};
  json::object source;
};

TEST_F(SourceModeTest, HydratesTheEndpointsRowsAndServesEveryReadPathFromThem) {
  endpoint.write(insert_sql("pre1", "Bergen") + "; " + insert_sql("pre2", "Tromsø"));
  add_source();
  EXPECT_EQ(status().at("hydratedRows").as_int64(), 2);
  EXPECT_EQ(field(cached_row(server, "pre1"), "location"), "Bergen");
  EXPECT_EQ(field(cached_row(server, "pre2"), "location"), "Tromsø");
  // The 0.9.1 bootstrap and query read the same rows through the same authorization rule.
  const auto exchange = server.exchange();
  const std::string token(exchange.at("token").as_string());
  auto bootstrap = call(server, "GET", "/api/sync/bootstrap?type=full", {}, {{"Authorization", "Bearer " + token}});
  EXPECT_NE(bootstrap.body.find("Tromsø"), std::string::npos) << bootstrap.body;
  // The registration is listed, without the signing key.
  auto listed = call(server, "GET", "/v1/datasources");
  EXPECT_NE(listed.body.find(std::string(source.at("id").as_string())), std::string::npos);
  EXPECT_EQ(listed.body.find(server.api_key()), std::string::npos) << "the signing key leaked";
}

TEST_F(SourceModeTest, ACommitGoesToTheEndpointOnceAndItsRowsBecomeOneDeltaPerRow) {
  add_source();
  Client watcher = Client::connect(server);
  auto response = commit(server, "tx-create-1", json::array{report_create("r1", "Oslo")});
  ASSERT_EQ(response.status, 200) << response.body;
  EXPECT_EQ(endpoint.commits_with("tx-create-1"), 1);
  ASSERT_TRUE(await_delta(watcher, "r1", 'I'));
  EXPECT_EQ(field(cached_row(server, "r1"), "location"), "Oslo");
  // The endpoint's outbox reports the same write (with our clientTxId): an echo, not a second delta.
  EXPECT_TRUE(eventually([&] { return status().at("eventsSkipped").as_int64() >= 1; })) << json::serialize(status());
  EXPECT_EQ(deltas_of(server, "r1"), 1);
  // A retry of the same commit is answered from our record, without asking the endpoint again.
  auto again = commit(server, "tx-create-1", json::array{report_create("r1", "Oslo")});
  EXPECT_EQ(again.status, 200) << again.body;
  EXPECT_EQ(endpoint.commits_with("tx-create-1"), 1);
  EXPECT_EQ(deltas_of(server, "r1"), 1);
}

TEST_F(SourceModeTest, WritesMadeOutsideAbloReachConnectedClientsLive) {
  add_source();
  Client watcher = Client::connect(server);
  endpoint.write(insert_sql("ext1", "Narvik"));
  auto inserted = await_delta(watcher, "ext1", 'I');
  ASSERT_TRUE(inserted);
  EXPECT_EQ(field(*inserted, "location"), "Narvik");
  endpoint.write("UPDATE \"weatherReports\" SET location = 'Bodø' WHERE id = 'ext1'");
  auto updated = await_delta(watcher, "ext1", 'U');
  ASSERT_TRUE(updated);
  EXPECT_EQ(field(cached_row(server, "ext1"), "location"), "Bodø");
  endpoint.write("DELETE FROM \"weatherReports\" WHERE id = 'ext1'");
  ASSERT_TRUE(await_delta(watcher, "ext1", 'D'));
  EXPECT_TRUE(cached_row(server, "ext1").empty());
  // Another organization's rows are not this tenant's.
  endpoint.write("INSERT INTO \"weatherReports\" (id, location, status, organization_id, created_at, updated_at) "
                 "VALUES ('foreign1', 'Elsewhere', 'pending', 'org_someone_else', '2026-01-01T00:00:00.000Z', "
                 "'2026-01-01T00:00:00.000Z')");
  EXPECT_TRUE(eventually([&] { return status().at("eventsRejected").as_int64() >= 1; }));
  EXPECT_TRUE(cached_row(server, "foreign1").empty());
}

TEST_F(SourceModeTest, AnEndpointThatIsDownOrFailsGivesARetryableErrorAndTheRetryAppliesOnce) {
  add_source();
  endpoint.control({{"failNext", 1}, {"failStatus", 503}});
  auto failed = commit(server, "tx-retry", json::array{report_create("r2", "Oslo")});
  EXPECT_EQ(failed.status, 503) << failed.body;
  EXPECT_EQ(parsed(failed).at("code"), "source_network_error") << failed.body;
  EXPECT_TRUE(cached_row(server, "r2").empty()) << "nothing is half-applied on our side";
  auto retried = commit(server, "tx-retry", json::array{report_create("r2", "Oslo")});
  EXPECT_EQ(retried.status, 200) << retried.body;
  EXPECT_EQ(deltas_of(server, "r2"), 1);
  // The endpoint applied it and then lost its answer: the retry is replayed by its ledger.
  endpoint.control({{"commitThenFail", 1}});
  auto lost = commit(server, "tx-lost", json::array{report_create("r3", "Oslo")});
  EXPECT_EQ(lost.status, 503) << lost.body;
  auto replayed = commit(server, "tx-lost", json::array{report_create("r3", "Oslo")});
  EXPECT_EQ(replayed.status, 200) << replayed.body;
  std::this_thread::sleep_for(600ms);  // the echo of the first attempt has been polled
  EXPECT_EQ(deltas_of(server, "r3"), 1) << "applied once, whether the echo or the retry came first";
  const auto state = status();
  EXPECT_GE(state.at("retries").as_int64(), 2);
  EXPECT_EQ(state.at("lastError").at("code"), "source_network_error");
}

TEST_F(SourceModeTest, ASlowEndpointTimesOutRetryablyAndItsLateWriteStillArrivesOnce) {
  add_source({{"timeoutMs", 300}});
  Client watcher = Client::connect(server);
  endpoint.control({{"delayMs", 1000}});
  auto slow = commit(server, "tx-slow", json::array{report_create("r4", "Oslo")});
  EXPECT_EQ(slow.status, 503) << slow.body;
  endpoint.control(json::object{});
  // The endpoint did commit: its outbox brings the row in (a commit whose answer was lost).
  ASSERT_TRUE(await_delta(watcher, "r4", 'I'));
  auto retried = commit(server, "tx-slow", json::array{report_create("r4", "Oslo")});
  EXPECT_EQ(retried.status, 200) << retried.body;
  EXPECT_EQ(deltas_of(server, "r4"), 1) << call(server, "GET", "/v1/logs?limit=100&after=0&recordId=r4").body;
}

TEST_F(SourceModeTest, TheEndpointsRefusalReachesTheClientWithItsCode) {
  add_source({{"pollIntervalMs", 60'000}});  // the external row below stays unknown to us
  endpoint.write(insert_sql("taken", "Oslo"));
  auto refused = commit(server, "tx-dup", json::array{report_create("taken", "Oslo")});
  EXPECT_EQ(refused.status, 409) << refused.body;
  EXPECT_EQ(parsed(refused).at("code"), "unique_violation") << refused.body;
  // Over the WebSocket: a rejected mutation_result with the same code.
  Client client = Client::connect(server);
  const auto tx = client.commit(json::array{op("CREATE", "taken", {{"location", "Oslo"}, {"status", "pending"}}, "t-1")});
  const auto result = client.result_of(tx);
  EXPECT_EQ(result.at("success"), false) << json::serialize(result);
  EXPECT_NE(json::serialize(result).find("unique_violation"), std::string::npos) << json::serialize(result);
  EXPECT_TRUE(cached_row(server, "taken").empty());
}

TEST_F(SourceModeTest, RowsThatDoNotMatchTheCommitAreRejectedNamingTheMismatch) {
  add_source();
  endpoint.control({{"rowsMode", "wrongId"}});
  auto wrong_id = commit(server, "tx-wrong-id", json::array{report_create("r5", "Oslo")});
  EXPECT_EQ(wrong_id.status, 400) << wrong_id.body;
  EXPECT_NE(wrong_id.body.find("r5_wrong"), std::string::npos) << wrong_id.body;
  endpoint.control({{"rowsMode", "unknownField"}});
  auto unknown_field = commit(server, "tx-unknown-field", json::array{report_create("r6", "Oslo")});
  EXPECT_EQ(unknown_field.status, 400) << unknown_field.body;
  EXPECT_NE(unknown_field.body.find("notInSchema"), std::string::npos) << unknown_field.body;
  endpoint.control({{"rowsMode", "fewerRows"}});
  auto fewer = commit(server, "tx-fewer", json::array{report_create("r7", "Oslo"), report_create("r8", "Oslo")});
  EXPECT_EQ(fewer.status, 400) << fewer.body;
  EXPECT_NE(fewer.body.find("1 rows for 2 operations"), std::string::npos) << fewer.body;
}

TEST_F(SourceModeTest, AWrongSignatureEitherWayIsRefusedAndNothingIsApplied) {
  add_source();
  // The endpoint does not recognize our signature: permanent, shown in the status.
  endpoint.control({{"wrongKey", true}});
  auto refused = commit(server, "tx-unsigned", json::array{report_create("r9", "Oslo")});
  EXPECT_EQ(refused.status, 401) << refused.body;
  EXPECT_EQ(parsed(refused).at("code"), "source_api_key_unresolved");
  EXPECT_EQ(status().at("lastError").at("code"), "source_api_key_unresolved");
  EXPECT_TRUE(cached_row(server, "r9").empty());
  endpoint.control(json::object{});

  // Pushes to us: only a registered source's key, within the tolerance, verifies.
  const std::string body = json::serialize(json::object{{"events", json::array{json::object{
      {"id", "push-1"}, {"model", "weatherReports"}, {"entityId", "pushed1"}, {"type", "CREATE"},
      {"data", json::object{{"id", "pushed1"}, {"location", "Kirkenes"}, {"status", "ready"}}}}}}});
  const auto push = [&](const std::string& key, int64_t at, bool with_signature = true) {
    return push_events(server, body, key, at, with_signature);
  };
  const int64_t now = unix_seconds();
  auto wrong_key = push("sk_test_not_the_key", now);
  EXPECT_EQ(wrong_key.status, 401);
  EXPECT_EQ(parsed(wrong_key).at("reason"), "source_signature_invalid") << wrong_key.body;
  auto stale = push(server.api_key(), now - 301);
  EXPECT_EQ(stale.status, 401);
  EXPECT_EQ(parsed(stale).at("reason"), "source_timestamp_expired") << stale.body;
  auto unsigned_push = push(server.api_key(), now, false);
  EXPECT_EQ(unsigned_push.status, 401);
  EXPECT_EQ(parsed(unsigned_push).at("reason"), "source_signature_missing") << unsigned_push.body;
  EXPECT_TRUE(cached_row(server, "pushed1").empty());
  auto accepted = push(server.api_key(), now);
  EXPECT_EQ(accepted.status, 200) << accepted.body;
  EXPECT_EQ(parsed(accepted).at("accepted").as_int64(), 1) << accepted.body;
  EXPECT_EQ(field(cached_row(server, "pushed1"), "location"), "Kirkenes");
  // The same event again (a retried push): applied once.
  auto repeated = push(server.api_key(), now);
  EXPECT_EQ(parsed(repeated).at("skipped").as_int64(), 1) << repeated.body;
  EXPECT_EQ(deltas_of(server, "pushed1"), 1);
}

TEST_F(SourceModeTest, AnOlderVersionReportedAfterOurCommitDoesNotRevertTheRow) {
  add_source();
  ASSERT_EQ(commit(server, "tx-new", json::array{report_create("r12", "Oslo")}).status, 200);
  // An external write that happened before our commit, reported after it (by its updatedAt).
  const std::string body = json::serialize(json::object{{"events", json::array{json::object{
      {"id", "late-1"}, {"model", "weatherReports"}, {"entityId", "r12"}, {"type", "UPDATE"},
      {"data", json::object{{"id", "r12"}, {"location", "Older"}, {"status", "pending"},
                            {"updatedAt", "2020-01-01T00:00:00.000Z"}}}}}}});
  auto pushed = push_events(server, body, server.api_key(), unix_seconds());
  ASSERT_EQ(pushed.status, 200) << pushed.body;
  EXPECT_EQ(field(cached_row(server, "r12"), "location"), "Oslo");
  EXPECT_EQ(deltas_of(server, "r12"), 1);
}

TEST_F(SourceModeTest, AFeedThatRepeatsEventsAppliesEachOnce) {
  add_source();
  endpoint.control({{"duplicateEvents", true}});
  endpoint.write(insert_sql("dup1", "Alta"));
  endpoint.write("UPDATE \"weatherReports\" SET location = 'Hammerfest' WHERE id = 'dup1'");
  ASSERT_TRUE(eventually([&] { return field(cached_row(server, "dup1"), "location") == "Hammerfest"; }));
  std::this_thread::sleep_for(600ms);  // more polls: the repeats come back again
  EXPECT_EQ(deltas_of(server, "dup1"), 2);
  EXPECT_GE(status().at("eventsSkipped").as_int64(), 2);
}

TEST_F(SourceModeTest, ClaimsStaleReadsAndScopesAreCheckedBeforeTheEndpointIsAsked) {
  add_source();
  ASSERT_EQ(commit(server, "tx-base", json::array{report_create("r10", "Oslo")}).status, 200);
  const int commits_before = endpoint.requests_of_type("commit");
  // A stale readAt (another participant wrote after it) is refused here.
  Client other = Client::connect(server);
  auto head = parsed(call(server, "GET", "/v1/models/weatherReports/r10"));
  ASSERT_EQ(commit(server, "tx-move", json::array{report_update("r10", {{"location", "Bergen"}})}).status, 200);
  const auto tx = other.commit(json::array{json::object{{"type", "UPDATE"}, {"model", "weatherreports"}, {"id", "r10"},
                                                        {"input", {{"location", "Stale"}}}, {"readAt", 1},
                                                        {"onStale", "reject"}, {"transactionId", "t-stale"}}});
  const auto result = other.result_of(tx);
  EXPECT_NE(json::serialize(result).find("stale_context"), std::string::npos) << json::serialize(result);
  // A capability that may not write is refused here too.
  auto minted = call(server, "POST", "/api/auth/capability",
                     json::serialize(json::object{{"participantKind", "agent"}, {"participantId", "reader"},
                                                  {"operations", json::array{"weatherReports.read"}}}));
  ASSERT_EQ(minted.status, 200) << minted.body;
  auto denied = commit(server, "tx-denied", json::array{report_update("r10", {{"location", "Nope"}})},
                       std::string(parsed(minted).at("token").as_string()));
  EXPECT_EQ(denied.status, 403) << denied.body;
  EXPECT_EQ(endpoint.requests_of_type("commit"), commits_before + 1) << "only tx-move reached the endpoint";
  EXPECT_EQ(field(cached_row(server, "r10"), "location"), "Bergen");
}

TEST_F(SourceModeTest, AWriteWhoseAnswerDiedWithTheServerReachesClientsOnceAfterTheRestart) {
  add_source({{"timeoutMs", 5'000}});
  endpoint.control({{"delayMs", 2'000}});  // applied at once, answered late
  auto pending = std::async(std::launch::async, [&] {
    return client::http_request("127.0.0.1", server.port(), "POST", "/v1/commits",
                                json::serialize(json::object{{"clientTxId", "tx-crash"},
                                                             {"operations", json::array{report_create("r11", "Oslo")}}}),
                                {{"Authorization", "Bearer " + server.api_key()}, {"Content-Type", "application/json"}});
  });
  ASSERT_TRUE(eventually([&] { return endpoint.commits_with("tx-crash") == 1; }, 10s));
  server.kill_hard();  // between the endpoint's commit and our append
  pending.wait();
  endpoint.control(json::object{});
  server.restart();
  ASSERT_TRUE(eventually([&] { return !cached_row(server, "r11").empty(); })) << "the outbox repaired the lost append";
  auto retried = commit(server, "tx-crash", json::array{report_create("r11", "Oslo")});
  EXPECT_EQ(retried.status, 200) << retried.body;
  EXPECT_EQ(deltas_of(server, "r11"), 1);
}

TEST_F(SourceModeTest, RegistrationIsForSecretKeysAndPublicHostsUnlessAllowed) {
  const auto exchange = server.exchange();
  auto by_capability = call(server, "POST", "/v1/datasources",
                            json::serialize(json::object{{"endpoint", endpoint.url()}}),
                            {{"Authorization", "Bearer " + std::string(exchange.at("token").as_string())}});
  EXPECT_EQ(by_capability.status, 403) << by_capability.body;
  ServerProcess strict(kQuickstartSchema);
  auto loopback = call(strict, "POST", "/v1/datasources", json::serialize(json::object{{"endpoint", endpoint.url()}}));
  EXPECT_EQ(loopback.status, 403) << loopback.body;
  EXPECT_EQ(parsed(loopback).at("code"), "byo_host_not_allowed");
  // 0.9.1's ready() registers any DATABASE_URL it finds: refused, but with a 2xx that says so.
  auto database = call(strict, "POST", "/api/v1/datasource",
                       json::serialize(json::object{{"connectionString", "postgres://app@127.0.0.1:5432/app"}}));
  EXPECT_EQ(database.status, 200) << database.body;
  EXPECT_EQ(parsed(database).at("registered"), false) << database.body;
  EXPECT_TRUE(parsed(call(strict, "GET", "/v1/datasources")).at("data").as_array().empty());
  add_source();
  auto second = call(server, "POST", "/v1/datasources", json::serialize(json::object{{"endpoint", endpoint.url()}}));
  EXPECT_EQ(second.status, 400) << "one source per environment: " << second.body;
  auto removed = call(server, "DELETE", "/v1/datasources/" + std::string(source.at("id").as_string()));
  EXPECT_EQ(removed.status, 200) << removed.body;
  // Without a source the tenant's rows are ours again: commits no longer go to the endpoint.
  ASSERT_EQ(commit(server, "tx-local", json::array{report_create("local1", "Oslo")}).status, 200);
  EXPECT_EQ(endpoint.commits_with("tx-local"), 0);
}

}  // namespace ablo::testing::source_it

namespace ablo::testing::source_it {

// selfHosted: the server reads and writes the customer's own PostgreSQL tables and captures
// every other program's writes there (triggers into ablo_outbox, LISTEN/NOTIFY wake-ups).
class DirectDatabaseTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (test_database_url().empty()) GTEST_SKIP() << "needs ABLO_TEST_DATABASE_URL (scripts/with-postgres.sh)";
    customer = std::make_unique<TempPgDatabase>();
    run("CREATE TABLE \"weatherReports\" (id text PRIMARY KEY, location text NOT NULL, status text NOT NULL, "
        "forecast text, organization_id text, created_at timestamptz NOT NULL DEFAULT now(), "
        "updated_at timestamptz NOT NULL DEFAULT now(), archived_at timestamptz)");
    run("INSERT INTO \"weatherReports\" (id, location, status) VALUES ('before', 'Oslo', 'ready')");
    server = std::make_unique<ServerProcess>(
        kQuickstartSchema, "", std::vector<std::string>{"--source-database", customer->url(), "--allow-private-sources"});
    ASSERT_TRUE(eventually([&] { return call(*server, "GET", "/api/ready").status == 200; }));
  }
  void run(const std::string& sql) const {
    auto connection = pg::Connection::open(customer->url());
    ASSERT_TRUE(connection) << connection.error().message;
    auto done = (*connection)->exec_script(sql);
    ASSERT_TRUE(done) << done.error().message;
  }

  std::unique_ptr<TempPgDatabase> customer;
  std::unique_ptr<ServerProcess> server;
};

TEST_F(DirectDatabaseTest, ReadsWritesAndOtherProgramsWritesGoThroughTheCustomersTables) {
  EXPECT_EQ(field(cached_row(*server, "before"), "location"), "Oslo");
  Client watcher = Client::connect(*server);
  // Our write lands in their table, once, as one delta.
  ASSERT_EQ(commit(*server, "tx-direct", json::array{report_create("ours", "Bergen")}).status, 200);
  ASSERT_TRUE(await_delta(watcher, "ours", 'I'));
  auto connection = pg::Connection::open(customer->url());
  ASSERT_TRUE(connection);
  auto stored = (*connection)->exec("SELECT location FROM \"weatherReports\" WHERE id = 'ours'");
  ASSERT_TRUE(stored && stored->size() == 1);
  EXPECT_EQ(stored->text(0, 0), "Bergen");
  // psql's write (any other program) reaches the client as a delta.
  const auto written_at = std::chrono::steady_clock::now();
  run("INSERT INTO \"weatherReports\" (id, location, status) VALUES ('theirs', 'Tromsø', 'pending')");
  auto inserted = await_delta(watcher, "theirs", 'I');
  ASSERT_TRUE(inserted);
  EXPECT_LT(std::chrono::steady_clock::now() - written_at, 5s);
  EXPECT_EQ(field(*inserted, "location"), "Tromsø");
  run("UPDATE \"weatherReports\" SET status = 'ready' WHERE id = 'theirs'");
  ASSERT_TRUE(await_delta(watcher, "theirs", 'U'));
  std::this_thread::sleep_for(500ms);  // our own write's echo has been read by now
  EXPECT_EQ(deltas_of(*server, "ours"), 1) << "our own write is not delivered twice";
  // The customer's PostgreSQL drops every session (a restart): capture resumes from its cursor.
  run("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = current_database() AND "
      "pid <> pg_backend_pid()");
  run("DELETE FROM \"weatherReports\" WHERE id = 'theirs'");
  ASSERT_TRUE(await_delta(watcher, "theirs", 'D', 15s));
  // 0.9.1's ready() registers DATABASE_URL on every start: the same database answers 2xx.
  auto again = call(*server, "POST", "/api/v1/datasource",
                    json::serialize(json::object{{"connectionString", customer->url()}}));
  EXPECT_EQ(again.status, 200) << again.body;
  EXPECT_EQ(parsed(again).at("mode"), "selfHosted");
  EXPECT_TRUE(parsed(again).contains("host") && parsed(again).contains("database")) << again.body;
}

}  // namespace ablo::testing::source_it

namespace ablo::testing::source_it {

TEST_F(DirectDatabaseTest, WhileTheDatabaseIsUnreachableCommitsAreRefusedNotWrittenHere) {
  server->stop();
  const std::string name = customer->url().substr(customer->url().rfind('/') + 1);
  auto admin = pg::Connection::open(test_database_url());
  ASSERT_TRUE(admin);
  ASSERT_TRUE((*admin)->exec_script("ALTER DATABASE \"" + name + "\" RENAME TO \"" + name + "_away\""));
  server->restart();
  auto refused = commit(*server, "tx-away", json::array{report_create("away1", "Oslo")});
  EXPECT_EQ(refused.status, 503) << refused.body;
  EXPECT_EQ(parsed(refused).at("code"), "source_network_error") << refused.body;
  EXPECT_TRUE(cached_row(*server, "away1").empty());
  auto listed = parsed(call(*server, "GET", "/v1/datasources"));
  EXPECT_EQ(listed.at("data").at(0).at("status").at("state"), "failing") << json::serialize(listed);
  // Back: the registration is picked up again within a refresh and the retry goes through.
  ASSERT_TRUE((*admin)->exec_script("ALTER DATABASE \"" + name + "_away\" RENAME TO \"" + name + "\""));
  EXPECT_TRUE(eventually([&] {
    return commit(*server, "tx-away", json::array{report_create("away1", "Oslo")}).status == 200;
  }));
  EXPECT_EQ(field(cached_row(*server, "away1"), "location"), "Oslo");
}

}  // namespace ablo::testing::source_it
