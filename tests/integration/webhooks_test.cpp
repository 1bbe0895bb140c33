// Outbound webhooks against a real `ablo serve` and a real HTTP receiver started by the test
// (webhook_receiver.h), on SQLite and PostgreSQL (the suite's two passes), plus a two-node
// PostgreSQL hand-over. Signatures are checked by an independent verifier: HMAC-SHA256
// recomputed here with OpenSSL, not with the server's signing code.
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <map>
#include <set>
#include <sstream>

#include <boost/json.hpp>
#include <gtest/gtest.h>

#include "client/transport.h"
#include "integration/quickstart_schema.h"
#include "integration/server_fixture.h"
#include "integration/webhook_receiver.h"
#include "support/loopback_port.h"
#include "support/pg_database.h"

namespace ablo::testing {
namespace {

namespace json = boost::json;
using namespace std::chrono_literals;

// Fast retries (3 retries 100 ms apart, so 4 attempts), a short timeout and lease, a quick poll.
std::vector<std::string> fast_webhooks(std::vector<std::string> more = {}) {
  std::vector<std::string> args{"--webhook-poll-ms", "20",  "--webhook-retry-delays-ms", "100,100,100",
                                "--webhook-timeout-ms", "800", "--webhook-lease-ms", "1500"};
  args.insert(args.end(), more.begin(), more.end());
  return args;
}

client::HttpResponse api(const ServerProcess& server, const std::string& method, const std::string& path,
                         const std::string& body = {}, const std::string& key = {}) {
  auto response = client::http_request("127.0.0.1", server.port(), method, path, body,
                                       {{"Authorization", "Bearer " + (key.empty() ? server.api_key() : key)},
                                        {"Content-Type", "application/json"}});
  EXPECT_TRUE(response) << (response ? "" : response.error().message);
  return response ? *response : client::HttpResponse{};
}

json::object object_of(const client::HttpResponse& response) {
  auto parsed = json::parse(response.body);
  return parsed.is_object() ? parsed.as_object() : json::object{};
}

json::object create_endpoint(const ServerProcess& server, const std::string& url, json::object extra = {}) {
  extra["url"] = url;
  auto response = api(server, "POST", "/v1/webhook_endpoints", json::serialize(extra));
  EXPECT_EQ(response.status, 201) << response.body;
  return object_of(response);
}

json::object endpoint(const ServerProcess& server, const std::string& id) {
  return object_of(api(server, "GET", "/api/v1/webhook_endpoints/" + id));
}

// Commits `count` new weather reports in one commit; returns its lastSyncId.
int64_t commit_reports(const ServerProcess& server, int count, const std::string& prefix) {
  json::array operations = ablo::testing::weather_report_creates(count, prefix);
  auto response = api(server, "POST", "/v1/commits", json::serialize(json::object{{"operations", operations}}));
  EXPECT_EQ(response.status, 200) << response.body;
  return object_of(response).at("lastSyncId").as_int64();
}

// --- the independent verifier -----------------------------------------------------------------

std::string decode_base64(const std::string& text) {
  std::string out(3 * text.size() / 4 + 3, '\0');
  const int n = EVP_DecodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                                reinterpret_cast<const unsigned char*>(text.data()), static_cast<int>(text.size()));
  out.resize(static_cast<std::size_t>(std::max(n, 0)) - (text.ends_with("==") ? 2 : text.ends_with("=") ? 1 : 0));
  return out;
}

std::string hmac_base64(const std::string& key, const std::string& message) {
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned int size = 0;
  HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()), reinterpret_cast<const unsigned char*>(message.data()),
       message.size(), mac, &size);
  std::string out(4 * ((size + 2) / 3) + 1, '\0');
  const int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()), mac, static_cast<int>(size));
  out.resize(static_cast<std::size_t>(n));
  return out;
}

// True when one of the request's v1 signatures is the HMAC of id.timestamp.body under `secret`.
bool signed_with(const ReceivedRequest& request, const std::string& secret) {
  const auto key = decode_base64(secret.substr(std::string("whsec_").size()));
  const auto expected = hmac_base64(key, request.headers.at("webhook-id") + "." +
                                             request.headers.at("webhook-timestamp") + "." + request.body);
  std::istringstream signatures(request.headers.at("webhook-signature"));
  std::string token;
  while (signatures >> token) {
    if (token == "v1," + expected) return true;
  }
  return false;
}

// The sync ids of every event received (with repeats), in arrival order.
std::vector<int64_t> received_sync_ids(const std::vector<ReceivedRequest>& requests) {
  std::vector<int64_t> ids;
  for (const auto& request : requests) {
    const auto body = json::parse(request.body);
    for (const auto& event : body.at("data").as_array()) ids.push_back(event.at("syncId").as_int64());
  }
  return ids;
}

std::set<int64_t> distinct(const std::vector<int64_t>& ids) { return {ids.begin(), ids.end()}; }

bool has_through(const std::vector<ReceivedRequest>& requests, int64_t last) {
  auto ids = received_sync_ids(requests);
  return std::find(ids.begin(), ids.end(), last) != ids.end();
}


class WebhookTest : public ::testing::Test {
 protected:
  WebhookReceiver receiver;
};

TEST_F(WebhookTest, DeliversSignedBatchesInSyncIdOrderAndAdvancesTheCursor) {
  ServerProcess server(kQuickstartSchema, "", fast_webhooks());
  auto created = create_endpoint(server, receiver.url(), {{"description", "mirror"}});
  ASSERT_TRUE(created.at("secret").as_string().starts_with("whsec_"));
  EXPECT_EQ(created.at("object"), "webhook_endpoint");
  EXPECT_EQ(created.at("status"), "enabled");
  EXPECT_EQ(created.at("environment"), "test");
  EXPECT_EQ(created.at("enabled_events"), json::array{"*"});
  const auto secret = std::string(created.at("secret").as_string());
  const auto id = std::string(created.at("id").as_string());
  EXPECT_EQ(created.at("secret_last4").as_string(), secret.substr(secret.size() - 4));

  commit_reports(server, 3, "a");
  const int64_t last = commit_reports(server, 2, "b");
  ASSERT_TRUE(receiver.wait_for([&](const auto& r) { return has_through(r, last); }, 15s));
  const auto requests = receiver.requests();
  for (const auto& request : requests) {
    EXPECT_TRUE(signed_with(request, secret)) << "signature verifies independently";
    auto body = json::parse(request.body).as_object();
    EXPECT_EQ(body.at("object"), "webhook_batch");
    EXPECT_EQ(body.at("endpoint").as_string(), id);
    const auto& first = body.at("data").as_array().front().as_object();
    EXPECT_EQ(first.at("type"), "weatherreports.created");
    EXPECT_EQ(first.at("model"), "weatherReports");
    EXPECT_EQ(first.at("id").as_string(), std::to_string(first.at("syncId").as_int64()));
    EXPECT_TRUE(first.at("data").is_object());
  }
  const auto ids = received_sync_ids(requests);
  EXPECT_EQ(ids.size(), 5u) << "each event once when every delivery succeeds";
  EXPECT_TRUE(std::is_sorted(ids.begin(), ids.end())) << "syncId order";
  ASSERT_TRUE(eventually([&] { return endpoint(server, id).at("cursor") == std::to_string(last).c_str(); }));
  auto shown = endpoint(server, id);
  EXPECT_EQ(shown.at("lag"), 0);
  EXPECT_EQ(shown.at("retry_count"), 0);
  EXPECT_TRUE(shown.at("last_success_at").is_string());
  EXPECT_FALSE(shown.contains("secret")) << "the secret is shown once";
  auto list = object_of(api(server, "GET", "/v1/webhook_endpoints"));
  ASSERT_EQ(list.at("data").as_array().size(), 1u);
}

TEST_F(WebhookTest, EnabledEventsFilterByModelAndType) {
  ServerProcess server(kQuickstartSchema, "", fast_webhooks());
  auto created = create_endpoint(server, receiver.url(), {{"enabledEvents", json::array{"weatherReports.updated"}}});
  const auto id = std::string(created.at("id").as_string());
  commit_reports(server, 2, "c");  // creations: filtered out
  auto update = api(server, "POST", "/v1/commits",
                    R"({"operations":[{"action":"update","model":"weatherReports","id":"c0","data":{"status":"ready"}}]})");
  ASSERT_EQ(update.status, 200) << update.body;
  const int64_t last = object_of(update).at("lastSyncId").as_int64();
  ASSERT_TRUE(receiver.wait_for([&](const auto& r) { return has_through(r, last); }, 15s));
  const auto requests = receiver.requests();
  ASSERT_EQ(received_sync_ids(requests), std::vector<int64_t>{last});
  EXPECT_EQ(json::parse(requests[0].body).at("data").at(0).at("type"), "weatherreports.updated");
  ASSERT_TRUE(eventually([&] { return endpoint(server, id).at("cursor") == std::to_string(last).c_str(); }));
}

TEST_F(WebhookTest, RegistrationRefusesSelfUrlsNonHttpSchemesPortsAndCapabilities) {
  ServerProcess server(kQuickstartSchema, "", fast_webhooks());
  const auto self = "http://127.0.0.1:" + std::to_string(server.port()) + "/hook";
  for (const std::string& url : {self, "http://localhost:" + std::to_string(server.port()) + "/x",
                                std::string("ftp://127.0.0.1/hook"), std::string("http://127.0.0.1:5432/"),
                                std::string("http://127.0.0.1:22/"), std::string("not a url")}) {
    auto response = api(server, "POST", "/v1/webhook_endpoints", json::serialize(json::object{{"url", url}}));
    EXPECT_EQ(response.status, 400) << url << " " << response.body;
    EXPECT_EQ(object_of(response).at("code"), "invalid_request") << url;
  }
  auto bad_events = api(server, "POST", "/v1/webhook_endpoints",
                        json::serialize(json::object{{"url", receiver.url()}, {"enabledEvents", json::array{"x.renamed"}}}));
  EXPECT_EQ(bad_events.status, 400) << bad_events.body;
  auto token = server.exchange().at("token").as_string();
  auto refused = api(server, "GET", "/v1/webhook_endpoints", {}, std::string(token));
  EXPECT_EQ(refused.status, 403) << "capabilities cannot manage webhooks: " << refused.body;
  EXPECT_EQ(api(server, "GET", "/v1/webhook_endpoints/we_missing").status, 404);
}

TEST_F(WebhookTest, FailuresAreRetriedWithTheSameIdAndTheCursorMovesOnlyOn2xx) {
  ServerProcess server(kQuickstartSchema, "", fast_webhooks());
  // 500, then 400, then a redirect (not followed), then 200.
  receiver.set_answer([&](int n) {
    if (n == 0) return ReceiverAnswer{500};
    if (n == 1) return ReceiverAnswer{400};
    if (n == 2) return ReceiverAnswer{302, 0, receiver.url("/elsewhere")};
    return ReceiverAnswer{200};
  });
  auto created = create_endpoint(server, receiver.url());
  const auto id = std::string(created.at("id").as_string());
  const int64_t last = commit_reports(server, 3, "r");
  ASSERT_TRUE(receiver.wait_for([](const auto& r) { return r.size() >= 4; }, 15s));
  ASSERT_TRUE(eventually([&] { return endpoint(server, id).at("cursor") == std::to_string(last).c_str(); }));
  const auto requests = receiver.requests();
  ASSERT_EQ(requests.size(), 4u);
  for (const auto& request : requests) {
    EXPECT_EQ(request.target, "/hook") << "the redirect was not followed";
    EXPECT_EQ(request.headers.at("webhook-id"), requests[0].headers.at("webhook-id")) << "same batch, same id";
    EXPECT_EQ(request.body, requests[0].body);
  }
  auto shown = endpoint(server, id);
  EXPECT_EQ(shown.at("retry_count"), 0) << "reset by the 2xx";
  EXPECT_EQ(shown.at("status"), "enabled");
}

TEST_F(WebhookTest, LastErrorNamesEachKindOfFailure) {
  ServerProcess server(kQuickstartSchema, "", fast_webhooks({"--webhook-retry-delays-ms", "60000"}));
  const std::pair<ReceiverAnswer, std::string> cases[] = {
      {ReceiverAnswer{503}, "HTTP 503"},
      {ReceiverAnswer{404}, "HTTP 404"},
      {ReceiverAnswer{301, 0, "http://127.0.0.1:1/x"}, "redirect not followed"},
      {ReceiverAnswer{200, 0, "", true}, "no valid HTTP response"},
      {ReceiverAnswer{200, 2000}, "timed out"},  // a 2xx after the timeout does not count
  };
  for (const auto& [answer, expected] : cases) {
    WebhookReceiver failing;
    failing.set_answer([answer = answer](int) { return answer; });
    auto created = create_endpoint(server, failing.url());
    const auto id = std::string(created.at("id").as_string());
    const auto before = endpoint(server, id).at("cursor");
    commit_reports(server, 1, "e" + expected.substr(0, 4) + std::to_string(failing.port()) + "_");
    ASSERT_TRUE(eventually([&] { return endpoint(server, id).at("last_error").is_string(); })) << expected;
    auto shown = endpoint(server, id);
    EXPECT_NE(std::string(shown.at("last_error").as_string()).find(expected), std::string::npos)
        << shown.at("last_error");
    EXPECT_EQ(shown.at("retry_count"), 1);
    EXPECT_EQ(shown.at("cursor"), before) << "no 2xx in time: the cursor stays";
    EXPECT_EQ(api(server, "DELETE", "/v1/webhook_endpoints/" + id).status, 200);
  }
}

TEST_F(WebhookTest, AnswerAfterTheTimeoutIsResentWithTheSameIdAndCommitsDoNotWait) {
  ServerProcess server(kQuickstartSchema, "", fast_webhooks());
  receiver.set_answer([](int n) { return n == 0 ? ReceiverAnswer{200, 2000} : ReceiverAnswer{200}; });
  auto created = create_endpoint(server, receiver.url());
  const auto id = std::string(created.at("id").as_string());
  const int64_t first = commit_reports(server, 1, "s");
  ASSERT_TRUE(receiver.wait_for([](const auto& r) { return !r.empty(); }, 15s));
  // While the receiver stalls, commits go on at their own pace.
  const auto started = std::chrono::steady_clock::now();
  const int64_t last = commit_reports(server, 1, "t");
  EXPECT_LT(std::chrono::steady_clock::now() - started, 1500ms);
  ASSERT_TRUE(receiver.wait_for([&](const auto& r) { return has_through(r, last); }, 15s));
  const auto requests = receiver.requests();
  ASSERT_GE(requests.size(), 2u);
  EXPECT_EQ(requests[1].headers.at("webhook-id"), requests[0].headers.at("webhook-id"))
      << "the batch answered late is sent again, under the same id";
  const auto ids = distinct(received_sync_ids(requests));
  EXPECT_TRUE(ids.count(first) && ids.count(last));
  ASSERT_TRUE(eventually([&] { return endpoint(server, id).at("cursor") == std::to_string(last).c_str(); }));
}

TEST_F(WebhookTest, UnreachableReceiverExhaustsRetriesThenEnableResumesFromTheCursor) {
  ServerProcess server(kQuickstartSchema, "", fast_webhooks());
  // A port nobody listens on until the receiver is revived there: from below the ephemeral
  // range, so no test's outgoing connection takes it meanwhile (support/loopback_port.h).
  const auto port = static_cast<uint16_t>(free_loopback_port_below_ephemeral_range());
  const std::string url = "http://127.0.0.1:" + std::to_string(port) + "/hook";
  auto created = create_endpoint(server, url);
  const auto id = std::string(created.at("id").as_string());
  const auto start_cursor = created.at("cursor");
  const int64_t first = commit_reports(server, 2, "u");
  ASSERT_TRUE(eventually([&] { return endpoint(server, id).at("status") == "disabled"; }));
  auto shown = endpoint(server, id);
  const std::string reason(shown.at("disabled_reason").as_string());
  EXPECT_NE(reason.find("4 delivery attempts failed"), std::string::npos) << reason;
  EXPECT_NE(reason.find("connect"), std::string::npos) << reason;
  EXPECT_EQ(shown.at("cursor"), start_cursor) << "nothing skipped";
  const int64_t last = commit_reports(server, 2, "v");  // committed while disabled

  WebhookReceiver revived(port);
  auto enabled = object_of(api(server, "POST", "/v1/webhook_endpoints/" + id + "/enable"));
  EXPECT_EQ(enabled.at("status"), "enabled");
  EXPECT_EQ(enabled.at("retry_count"), 0);
  ASSERT_TRUE(revived.wait_for([&](const auto& r) { return has_through(r, last); }, 15s));
  const auto ids = received_sync_ids(revived.requests());
  EXPECT_EQ(ids.front(), first - 1) << "resumes with the first event after the cursor";
  EXPECT_EQ(distinct(ids).size(), 4u);
  EXPECT_TRUE(std::is_sorted(ids.begin(), ids.end()));
  // Disable keeps the cursor; deliveries stop.
  auto disabled = object_of(api(server, "POST", "/v1/webhook_endpoints/" + id + "/disable"));
  EXPECT_EQ(disabled.at("status"), "disabled");
}

TEST_F(WebhookTest, SecretRollMidDeliverySignsWithBothSecretsDuringTheGrace) {
  ServerProcess server(kQuickstartSchema, "", fast_webhooks());
  receiver.set_answer([](int n) { return n == 0 ? ReceiverAnswer{200, 700} : ReceiverAnswer{200}; });
  auto created = create_endpoint(server, receiver.url());
  const auto id = std::string(created.at("id").as_string());
  const auto old_secret = std::string(created.at("secret").as_string());
  commit_reports(server, 1, "p");
  ASSERT_TRUE(receiver.wait_for([](const auto& r) { return !r.empty(); }, 15s));
  // Rolled while that first batch is still being answered.
  auto rolled = object_of(api(server, "POST", "/v1/webhook_endpoints/" + id + "/roll_secret"));
  const auto new_secret = std::string(rolled.at("secret").as_string());
  ASSERT_NE(new_secret, old_secret);
  EXPECT_EQ(rolled.at("secret_last4").as_string(), new_secret.substr(new_secret.size() - 4));
  const int64_t last = commit_reports(server, 1, "q");
  ASSERT_TRUE(receiver.wait_for([&](const auto& r) { return has_through(r, last); }, 15s));
  const auto requests = receiver.requests();
  EXPECT_TRUE(signed_with(requests.front(), old_secret));
  const auto& after_roll = requests.back();
  EXPECT_TRUE(signed_with(after_roll, new_secret)) << after_roll.headers.at("webhook-signature");
  EXPECT_TRUE(signed_with(after_roll, old_secret)) << "the old secret still verifies during the grace period";
  EXPECT_FALSE(signed_with(after_roll, "whsec_AAAA")) << "the verifier rejects another key";
}

TEST_F(WebhookTest, ThousandsPendingOnReEnableArriveInBoundedBatchesInOrder) {
  ServerProcess server(kQuickstartSchema, "", fast_webhooks());
  auto created = create_endpoint(server, receiver.url());
  const auto id = std::string(created.at("id").as_string());
  ASSERT_EQ(object_of(api(server, "POST", "/v1/webhook_endpoints/" + id + "/disable")).at("status"), "disabled");
  int64_t last = 0;
  for (int c = 0; c < 30; ++c) last = commit_reports(server, 100, "k" + std::to_string(c) + "_");
  EXPECT_EQ(endpoint(server, id).at("lag"), 1000) << "lag counts up to 1,000";
  EXPECT_EQ(endpoint(server, id).at("lag_capped"), true);
  const auto rss_before = resident_kib(server.pid());
  api(server, "POST", "/v1/webhook_endpoints/" + id + "/enable");
  ASSERT_TRUE(receiver.wait_for([&](const auto& r) { return has_through(r, last); }, 60s));
  const auto requests = receiver.requests();
  std::size_t largest = 0;
  for (const auto& request : requests) largest = std::max(largest, json::parse(request.body).at("data").as_array().size());
  EXPECT_LE(largest, 100u) << "bounded batches";
  EXPECT_GE(requests.size(), 30u);
  const auto ids = received_sync_ids(requests);
  EXPECT_EQ(ids.size(), 3000u);
  EXPECT_TRUE(std::is_sorted(ids.begin(), ids.end()));
  if (!kSanitizedBuild) {
    EXPECT_LT(resident_kib(server.pid()) - rss_before, 64 * 1024) << "memory stays flat while draining";
  }
  ASSERT_TRUE(eventually([&] { return endpoint(server, id).at("lag") == 0; }));
}

TEST_F(WebhookTest, KillDuringABatchResendsItAfterRestartWithNothingLost) {
  ServerProcess server(kQuickstartSchema, "", fast_webhooks({"--webhook-timeout-ms", "10000"}));
  // The first batch is held by the receiver until the server has been killed.
  receiver.set_answer([](int n) { return n == 0 ? ReceiverAnswer{200, 1500} : ReceiverAnswer{200}; });
  auto created = create_endpoint(server, receiver.url());
  const auto id = std::string(created.at("id").as_string());
  commit_reports(server, 5, "x");
  ASSERT_TRUE(receiver.wait_for([](const auto& r) { return !r.empty(); }, 15s));
  server.kill_hard();
  server.restart();
  ASSERT_TRUE(receiver.wait_for([](const auto& r) { return r.size() >= 2; }, 20s));
  {
    const auto requests = receiver.requests();
    EXPECT_EQ(requests[1].headers.at("webhook-id"), requests[0].headers.at("webhook-id"))
        << "the batch cut by the kill is re-sent from the cursor, under the same id (same events)";
    EXPECT_EQ(requests[1].body, requests[0].body);
  }
  const int64_t last = commit_reports(server, 5, "y");
  ASSERT_TRUE(receiver.wait_for([&](const auto& r) { return has_through(r, last); }, 20s));
  const auto requests = receiver.requests();
  // Receiver-side dedupe by event id: every event once, in syncId order.
  const auto ids = received_sync_ids(requests);
  const auto unique = distinct(ids);
  EXPECT_EQ(unique.size(), 10u);
  EXPECT_EQ(*unique.rbegin(), last);
  ASSERT_TRUE(eventually([&] { return endpoint(server, id).at("cursor") == std::to_string(last).c_str(); }));
}

// `ablo webhooks …` over HTTP, and `ablo webhooks listen` forwarding the live log to a local
// program, signed with the secret it prints.
std::string run_ablo(const std::string& args) {
  std::string output;
  FILE* pipe = popen((server_binary() + " " + args + " 2>&1").c_str(), "r");
  char buffer[4096];
  while (pipe && fgets(buffer, sizeof buffer, pipe)) output += buffer;
  if (pipe) pclose(pipe);
  return output;
}

TEST_F(WebhookTest, CliManagesEndpointsAndListenForwardsSignedBatches) {
  ServerProcess server(kQuickstartSchema, "", fast_webhooks());
  const std::string api = " --port " + std::to_string(server.port()) + " --key " + server.api_key();
  auto created = json::parse(run_ablo("webhooks create " + receiver.url() + " --events weatherReports" + api)).as_object();
  const std::string id(created.at("id").as_string());
  EXPECT_TRUE(created.at("secret").as_string().starts_with("whsec_"));
  EXPECT_EQ(created.at("enabled_events"), json::array{"weatherReports"});
  EXPECT_EQ(json::parse(run_ablo("webhooks list" + api)).at("data").as_array().size(), 1u);
  auto rolled = json::parse(run_ablo("webhooks roll " + id + api)).as_object();
  EXPECT_NE(rolled.at("secret"), created.at("secret"));
  EXPECT_EQ(json::parse(run_ablo("webhooks disable " + id + api)).at("status"), "disabled");
  EXPECT_EQ(json::parse(run_ablo("webhooks enable " + id + api)).at("status"), "enabled");
  EXPECT_EQ(json::parse(run_ablo("webhooks rm " + id + api)).at("deleted"), true);
  EXPECT_EQ(json::parse(run_ablo("webhooks list" + api)).at("data").as_array().size(), 0u);

  // listen: a child process whose first lines name the session secret.
  int out[2];
  ASSERT_EQ(pipe(out), 0);
  const pid_t child = fork();
  if (child == 0) {
    dup2(out[1], STDOUT_FILENO);
    close(out[0]);
    const auto binary = server_binary();
    const auto port = std::to_string(server.port());
    execl(binary.c_str(), binary.c_str(), "webhooks", "listen", "--forward-to", receiver.url("/local").c_str(),
          "--poll-ms", "50", "--port", port.c_str(), "--key", server.api_key().c_str(), static_cast<char*>(nullptr));
    _exit(127);
  }
  close(out[1]);
  std::string printed;
  char buffer[512];
  while (printed.find("secret (this session): ") == std::string::npos ||
         printed.find('\n', printed.find("secret (this session): ")) == std::string::npos) {
    const ssize_t n = read(out[0], buffer, sizeof buffer);
    if (n <= 0) break;
    printed.append(buffer, static_cast<std::size_t>(n));
  }
  const auto at = printed.find("secret (this session): ");
  ASSERT_NE(at, std::string::npos) << printed;
  const auto begin = at + std::string("secret (this session): ").size();
  const std::string secret = printed.substr(begin, printed.find('\n', begin) - begin);
  std::this_thread::sleep_for(500ms);  // it has found the tail
  const int64_t last = commit_reports(server, 3, "cli");
  const bool forwarded = receiver.wait_for([&](const auto& r) { return has_through(r, last); }, 15s);
  kill(child, SIGTERM);
  waitpid(child, nullptr, 0);
  close(out[0]);
  ASSERT_TRUE(forwarded);
  for (const auto& request : receiver.requests()) {
    EXPECT_EQ(request.target, "/local");
    EXPECT_TRUE(signed_with(request, secret));
  }
  EXPECT_EQ(distinct(received_sync_ids(receiver.requests())).size(), 3u);
}

// https endpoints: the chain is verified (a self-signed receiver is refused with a clear
// last_error) unless its CA is trusted (--webhook-ca-file), and then deliveries go through.
TEST(WebhookTlsTest, HttpsReceiversAreVerifiedThenDelivered) {
  const std::string dir = "/tmp/ablo-webhook-tls-" + std::to_string(getpid());
  const std::string cert = dir + "/cert.pem", key = dir + "/key.pem";
  ASSERT_EQ(std::system(("mkdir -p " + dir + " && openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=127.0.0.1"
                         " -addext subjectAltName=IP:127.0.0.1 -keyout " + key + " -out " + cert + " 2>/dev/null").c_str()),
            0);
  WebhookReceiver receiver(0, cert, key);
  {
    ServerProcess untrusting(kQuickstartSchema, "", fast_webhooks({"--webhook-retry-delays-ms", "60000"}));
    auto created = create_endpoint(untrusting, receiver.url());
    const auto id = std::string(created.at("id").as_string());
    commit_reports(untrusting, 1, "tls");
    ASSERT_TRUE(eventually([&] { return endpoint(untrusting, id).at("last_error").is_string(); }));
    const std::string error(endpoint(untrusting, id).at("last_error").as_string());
    EXPECT_NE(error.find("TLS handshake failed"), std::string::npos) << error;
    EXPECT_TRUE(receiver.requests().empty()) << "nothing is sent to an unverified server";
  }
  ServerProcess trusting(kQuickstartSchema, "", fast_webhooks({"--webhook-ca-file", cert}));
  auto created = create_endpoint(trusting, receiver.url());
  const auto secret = std::string(created.at("secret").as_string());
  const int64_t last = commit_reports(trusting, 2, "tls");
  ASSERT_TRUE(receiver.wait_for([&](const auto& r) { return has_through(r, last); }, 15s));
  EXPECT_TRUE(signed_with(receiver.requests().back(), secret));
  std::system(("rm -rf " + dir).c_str());
}

// Two nodes on one PostgreSQL: the node delivering for an endpoint is killed mid-batch; the
// other takes the lease once it lapses and delivers from the cursor.
TEST(WebhookClusterTest, KilledNodesEndpointsAreTakenOverWithoutLoss) {
  if (!testing_postgres()) GTEST_SKIP() << "cluster tests run in the PostgreSQL pass";
  TempPgDatabase database;
  WebhookReceiver receiver;
  receiver.set_answer([](int n) { return n == 1 ? ReceiverAnswer{200, 3000} : ReceiverAnswer{200}; });
  auto first = std::make_unique<ServerProcess>(kQuickstartSchema, database.url(),
                                               fast_webhooks({"--webhook-timeout-ms", "10000"}));
  auto created = create_endpoint(*first, receiver.url());
  const auto id = std::string(created.at("id").as_string());
  const int64_t early = commit_reports(*first, 3, "n");
  ASSERT_TRUE(receiver.wait_for([&](const auto& r) { return has_through(r, early); }, 15s)) << "node 1 delivers";
  ServerProcess second(kQuickstartSchema, database.url(), fast_webhooks({"--webhook-timeout-ms", "10000"}));
  commit_reports(second, 4, "m");  // node 1 still holds the lease: it posts this batch, held 3 s
  ASSERT_TRUE(receiver.wait_for([](const auto& r) { return r.size() >= 2; }, 15s));
  first->kill_hard();
  const int64_t last = commit_reports(second, 4, "o");
  ASSERT_TRUE(receiver.wait_for([&](const auto& r) { return has_through(r, last); }, 20s)) << "node 2 took over";
  const auto ids = distinct(received_sync_ids(receiver.requests()));
  EXPECT_EQ(ids.size(), 11u) << "nothing lost";
  EXPECT_EQ(*ids.rbegin(), last);
  ASSERT_TRUE(eventually([&] { return endpoint(second, id).at("cursor") == std::to_string(last).c_str(); }));
}

}  // namespace
}  // namespace ablo::testing
