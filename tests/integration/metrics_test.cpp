// /metrics, /api/health and /api/ready of the real server (issue 15).
#include <cstdio>
#include <filesystem>
#include <functional>
#include <map>
#include <chrono>
#include <thread>

#include <boost/json.hpp>
#include <gtest/gtest.h>

#include "client/transport.h"
#include "integration/quickstart_schema.h"
#include "integration/server_fixture.h"
#include "integration/sync_client.h"
#include "integration/webhook_receiver.h"

namespace ablo::testing {
namespace {

namespace json = boost::json;

client::HttpResponse get(const ServerProcess& server, const std::string& path, const std::string& bearer = {}) {
  std::map<std::string, std::string> headers;
  if (!bearer.empty()) headers["Authorization"] = "Bearer " + bearer;
  auto response = client::http_request("127.0.0.1", server.port(), "GET", path, {}, headers);
  EXPECT_TRUE(response);
  return response ? *response : client::HttpResponse{};
}

// GET /api/ready until it answers 200 (or 5 s pass): a PostgreSQL node becomes ready once its
// wake-up listener has connected, which may follow the listening line by a moment.
client::HttpResponse await_ready(const ServerProcess& server) {
  auto ready = get(server, "/api/ready");
  for (int attempt = 0; attempt < 50 && ready.status != 200; ++attempt) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    ready = get(server, "/api/ready");
  }
  return ready;
}

// The value of one sample line ("name{labels} value"), or -1.
double sample(const std::string& text, const std::string& series) {
  const auto at = text.find("\n" + series + " ");
  if (at == std::string::npos) return -1;
  return std::stod(text.substr(at + series.size() + 2));
}

TEST(MetricsEndpointTest, CountsCommitsAndServesHealthAndReadiness) {
  ServerProcess server{kQuickstartSchema};
  EXPECT_EQ(get(server, "/api/health").status, 200);
  auto ready = await_ready(server);
  EXPECT_EQ(ready.status, 200) << ready.body;
  EXPECT_EQ(json::parse(ready.body).at("checks").at("store"), "ok");

  const auto before = get(server, "/metrics");
  ASSERT_EQ(before.status, 200);
  EXPECT_NE(before.headers.at("content-type").find("text/plain"), std::string::npos);
  const double applied_before = sample(before.body, "ablo_commits_total{result=\"applied\"}");
  EXPECT_EQ(applied_before, 0) << "listed from the start";
  auto commit = client::http_request("127.0.0.1", server.port(), "POST", "/v1/commits",
                                     json::serialize(json::object{{"operations", weather_report_creates(3, "m")}}),
                                     {{"Authorization", "Bearer " + server.api_key()}, {"Content-Type", "application/json"}});
  ASSERT_TRUE(commit);
  ASSERT_EQ(commit->status, 200) << commit->body;
  const auto after = get(server, "/metrics").body;
  EXPECT_EQ(sample(after, "ablo_commits_total{result=\"applied\"}"), applied_before + 1) << after;
  EXPECT_GE(sample(after, "ablo_deltas_committed_total"), 3);
  EXPECT_GE(sample(after, "ablo_commit_latency_seconds_count"), 1);
  EXPECT_GE(sample(after, "ablo_http_responses_total{class=\"2xx\"}"), 1);

  // Claims: one holds, one waits; the census says so.
  const std::map<std::string, std::string> headers{{"Authorization", "Bearer " + server.api_key()},
                                                   {"Content-Type", "application/json"}};
  auto holder = client::http_request("127.0.0.1", server.port(), "POST", "/v1/models/weatherReports/m0/claim", "{}", headers);
  ASSERT_TRUE(holder);
  ASSERT_EQ(holder->status, 201) << holder->body;
  auto other = json::parse(client::http_request("127.0.0.1", server.port(), "POST", "/api/auth/capability",
                                                R"({"participantKind":"agent"})", headers)->body);
  auto waiter = client::http_request(
      "127.0.0.1", server.port(), "POST", "/v1/models/weatherReports/m0/claim", R"({"queue":true})",
      {{"Authorization", "Bearer " + std::string(other.at("token").as_string())}, {"Content-Type", "application/json"},
       {"Ablo-Protocol-Version", "1"}});
  ASSERT_TRUE(waiter);
  ASSERT_EQ(waiter->status, 202) << waiter->body;
  const auto claims = get(server, "/metrics").body;
  EXPECT_EQ(sample(claims, "ablo_claims{state=\"active\"}"), 1) << claims;
  EXPECT_EQ(sample(claims, "ablo_claims{state=\"queued\"}"), 1) << claims;
}

client::HttpResponse post_json(const ServerProcess& server, const std::string& path, const json::value& body) {
  auto response = client::http_request("127.0.0.1", server.port(), "POST", path, json::serialize(body),
                                       {{"Authorization", "Bearer " + server.api_key()},
                                        {"Content-Type", "application/json"}});
  EXPECT_TRUE(response);
  return response ? *response : client::HttpResponse{};
}

// Polls /metrics until `series` satisfies `done` (or 10 s pass); returns the last scrape.
std::string scrape_until(const ServerProcess& server, const std::string& series, const std::function<bool(double)>& done) {
  std::string text;
  for (int attempt = 0; attempt < 100; ++attempt) {
    text = get(server, "/metrics").body;
    if (done(sample(text, series))) break;
    std::this_thread::sleep_for(100ms);
  }
  return text;
}

// A scrape of a fresh server lists every series at zero, so a dashboard or an alert on a rate
// has a baseline before the first event.
TEST(MetricsEndpointTest, EverySeriesIsListedAtZeroBeforeItsFirstEvent) {
  ServerProcess server{kQuickstartSchema};
  const auto text = get(server, "/metrics").body;
  for (const char* series : {"ablo_commits_total{result=\"applied\"}", "ablo_commits_total{result=\"refused\"}",
                             "ablo_commit_latency_seconds_count", "ablo_commit_group_size_count",
                             "ablo_deltas_committed_total", "ablo_deltas_fanned_out_total",
                             "ablo_claim_leases_expired_total", "ablo_claim_wait_seconds_count",
                             "ablo_websocket_connections{kind=\"user\"}", "ablo_websocket_connections{kind=\"agent\"}",
                             "ablo_websocket_send_queue_bytes_count", "ablo_websocket_slow_consumers_closed_total",
                             "ablo_fanout_latency_seconds_count", "ablo_webhook_deliveries_total{result=\"failed\"}",
                             "ablo_webhook_lag_deltas", "ablo_mcp_sessions"}) {
    EXPECT_EQ(sample(text, series), 0) << series << " in\n" << text;
  }
  // The schema loaded at start was a store transaction of its own: listed, and counted.
  EXPECT_GE(sample(text, "ablo_store_seconds_count{op=\"apply_group\"}"), 0) << text;
  EXPECT_GE(sample(text, "ablo_store_seconds_count{op=\"sync\"}"), 0) << text;
}

// A socket subscriber: connections by kind, its send queue, the fan-out latency of the delta it
// received and the store's share of the commit.
TEST(MetricsEndpointTest, SocketFanOutAndStoreSeriesFollowADelivery) {
  ServerProcess server{kQuickstartSchema};
  auto subscriber = Client::connect(server);  // a "system" participant (the fixture's exchange)
  EXPECT_EQ(sample(get(server, "/metrics").body, "ablo_websocket_connections{kind=\"system\"}"), 1);
  ASSERT_EQ(post_json(server, "/v1/commits", json::object{{"operations", weather_report_creates(2, "f")}}).status, 200);
  ASSERT_TRUE(subscriber.await([](const json::object& f) { return f.at("type") == "delta"; }));
  const auto text = scrape_until(server, "ablo_fanout_latency_seconds_count", [](double v) { return v >= 1; });
  EXPECT_GE(sample(text, "ablo_fanout_latency_seconds_count"), 1) << text;
  EXPECT_GE(sample(text, "ablo_websocket_send_queue_bytes_count"), 1) << text;
  EXPECT_GE(sample(text, "ablo_store_seconds_count{op=\"apply_group\"}"), 1) << text;
  EXPECT_GE(sample(text, "ablo_store_seconds_count{op=\"sync\"}"), 1) << text;
  EXPECT_GT(sample(text, "ablo_store_seconds_sum{op=\"apply_group\"}"), 0) << text;
  if (testing_postgres()) {  // one node: it publishes what it commits, so it is not behind
    EXPECT_EQ(sample(scrape_until(server, "ablo_cluster_log_lag_deltas", [](double v) { return v == 0; }),
                     "ablo_cluster_log_lag_deltas"),
              0);
  }
  subscriber.ws.reset();
  EXPECT_EQ(sample(scrape_until(server, "ablo_websocket_connections{kind=\"system\"}", [](double v) { return v == 0; }),
                   "ablo_websocket_connections{kind=\"system\"}"),
            0);
}

// An endpoint that answers 500: the failure is counted, the endpoint is retrying and the lag
// shows the deltas it has not received.
TEST(MetricsEndpointTest, AFailingWebhookShowsAsFailuresRetryingAndLag) {
  ServerProcess server{kQuickstartSchema};
  WebhookReceiver receiver;
  receiver.set_answer([](int) { return ReceiverAnswer{500}; });
  auto created = post_json(server, "/v1/webhook_endpoints", json::object{{"url", receiver.url()}});
  ASSERT_EQ(created.status, 201) << created.body;
  ASSERT_EQ(post_json(server, "/v1/commits", json::object{{"operations", weather_report_creates(3, "w")}}).status, 200);
  const auto text = scrape_until(server, "ablo_webhook_endpoints_retrying", [](double v) { return v >= 1; });
  EXPECT_GE(sample(text, "ablo_webhook_deliveries_total{result=\"failed\"}"), 1) << text;
  EXPECT_EQ(sample(text, "ablo_webhook_deliveries_total{result=\"delivered\"}"), 0) << text;
  EXPECT_EQ(sample(text, "ablo_webhook_endpoints_retrying"), 1) << text;
  EXPECT_GE(sample(text, "ablo_webhook_lag_deltas"), 3) << text;
}

// A node of a PostgreSQL cluster is ready once it hears the other nodes; SQLite has no such check.
TEST(MetricsEndpointTest, ReadinessNamesTheClusterCheckOnPostgres) {
  ServerProcess server{kQuickstartSchema};
  const auto ready = await_ready(server);
  EXPECT_EQ(ready.status, 200) << ready.body;
  const auto checks = json::parse(ready.body).at("checks").as_object();
  if (testing_postgres()) {
    EXPECT_EQ(checks.at("cluster"), "ok") << json::serialize(checks);
  } else {
    EXPECT_FALSE(checks.contains("cluster")) << json::serialize(checks);
  }
  EXPECT_EQ(checks.at("store"), "ok");
  EXPECT_EQ(checks.at("schema"), "ok");
}

// /api/ready is open (load balancers), but where the data lives — a directory path — is told
// only to a secret key.
TEST(MetricsEndpointTest, ReadinessTellsTheDataLocationOnlyToASecretKey) {
  ServerProcess server{kQuickstartSchema};
  const auto open = json::parse(get(server, "/api/ready").body).as_object();
  EXPECT_FALSE(open.contains("dataLocation")) << json::serialize(open);
  EXPECT_TRUE(open.at("version").is_string());
  const auto token = std::string(server.exchange().at("token").as_string());
  EXPECT_FALSE(json::parse(get(server, "/api/ready", token).body).as_object().contains("dataLocation"))
      << "a capability is not told";
  const auto keyed = json::parse(get(server, "/api/ready", server.api_key()).body).as_object();
  EXPECT_EQ(keyed.at("dataLocation"), testing_postgres() ? "PostgreSQL" : server.data_dir().c_str());
}

TEST(MetricsEndpointTest, AMetricsTokenIsRequiredWhenTheServerHasOne) {
  ServerProcess server{kQuickstartSchema, "", {"--metrics-token", "scrape-secret"}};
  EXPECT_EQ(get(server, "/metrics").status, 401);
  EXPECT_EQ(get(server, "/metrics", server.api_key()).status, 401) << "an API key is not the metrics token";
  EXPECT_EQ(get(server, "/metrics", "scrape-secret").status, 200);
}

// --log-format json: every stderr line of the server is one JSON object with time, level, msg.
TEST(MetricsEndpointTest, JsonLogsAreOneObjectPerLine) {
  char dir[] = "/tmp/ablo-json-logs-XXXXXX";
  ASSERT_NE(mkdtemp(dir), nullptr);
  const std::string command = "timeout 3 " + server_binary() + " --log-format json serve --port 0 --data-dir " +
                              std::string(dir) + " 2>&1 >/dev/null";
  FILE* pipe = popen(command.c_str(), "r");
  ASSERT_NE(pipe, nullptr);
  std::string output;
  char buffer[4096];
  while (std::fgets(buffer, sizeof buffer, pipe)) output += buffer;
  pclose(pipe);
  std::filesystem::remove_all(dir);
  std::size_t lines = 0;
  std::size_t start = 0;
  while (start < output.size()) {
    const auto end = output.find('\n', start);
    const auto line = output.substr(start, end - start);
    start = end == std::string::npos ? output.size() : end + 1;
    if (line.empty()) continue;
    boost::system::error_code ec;
    auto parsed = json::parse(line, ec);
    ASSERT_FALSE(ec) << "not JSON: " << line;
    EXPECT_TRUE(parsed.as_object().contains("time") && parsed.as_object().contains("level") &&
                parsed.as_object().contains("msg"))
        << line;
    ++lines;
  }
  EXPECT_GE(lines, 2u) << output;  // the schema line, the data line, the stop line
}

}  // namespace
}  // namespace ablo::testing
