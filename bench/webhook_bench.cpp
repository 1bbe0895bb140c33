// Webhook delivery figures (issue 13): throughput to one fast receiver and commit -> delivered
// latency. Starts `ablo serve` through the integration fixture (SQLite; PostgreSQL with
// ABLO_TEST_STORE=postgres under scripts/with-postgres.sh) and an in-process HTTP receiver.
//
//   throughput: the endpoint is disabled, --events events are committed (100 per commit), the
//   endpoint is enabled, and the time until the receiver has the last one gives events/s.
//   latency: --commits single-op commits, one at a time --gap-ms apart; for each, the time
//   from sending the commit to the receiver reading the batch that carries it.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <map>

#include <CLI/CLI.hpp>
#include <boost/json.hpp>

#include "client/transport.h"
#include "integration/quickstart_schema.h"
#include "integration/server_fixture.h"
#include "integration/webhook_receiver.h"

namespace json = boost::json;
using namespace ablo::testing;
using Clock = std::chrono::steady_clock;

namespace {

ablo::client::HttpResponse call(const ServerProcess& server, const std::string& method, const std::string& path,
                                const std::string& body = {}) {
  auto response = ablo::client::http_request("127.0.0.1", server.port(), method, path, body,
                                             {{"Authorization", "Bearer " + server.api_key()},
                                              {"Content-Type", "application/json"}});
  if (!response) throw std::runtime_error(response.error().message);
  return *response;
}

int64_t commit(const ServerProcess& server, int count, const std::string& prefix) {
  json::array operations = ablo::testing::weather_report_creates(count, prefix);
  auto response = call(server, "POST", "/v1/commits", json::serialize(json::object{{"operations", operations}}));
  if (response.status != 200) throw std::runtime_error(response.body);
  return json::parse(response.body).at("lastSyncId").as_int64();
}

// syncId -> when the receiver first read a batch carrying it.
std::map<int64_t, Clock::time_point> arrivals(const std::vector<ReceivedRequest>& requests) {
  std::map<int64_t, Clock::time_point> first;
  for (const auto& request : requests) {
    const auto body = json::parse(request.body);
    for (const auto& event : body.at("data").as_array()) first.emplace(event.at("syncId").as_int64(), request.at);
  }
  return first;
}

double percentile(std::vector<double> values, double p) {
  if (values.empty()) return 0;
  std::sort(values.begin(), values.end());
  return values[static_cast<std::size_t>(p * static_cast<double>(values.size() - 1))];
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app("webhook delivery throughput and commit -> delivered latency");
  int events = 20'000, commits = 200, gap_ms = 20;
  std::vector<std::string> server_args;
  app.add_option("--events", events, "events for the throughput run")->capture_default_str();
  app.add_option("--commits", commits, "single-op commits for the latency run")->capture_default_str();
  app.add_option("--gap-ms", gap_ms, "pause between latency commits")->capture_default_str();
  app.add_option("--server-arg", server_args, "extra `ablo serve` flag (repeat), e.g. --server-arg=--webhook-poll-ms=10");
  CLI11_PARSE(app, argc, argv);

  WebhookReceiver receiver;
  ServerProcess server(kQuickstartSchema, "", server_args);
  auto created = json::parse(call(server, "POST", "/v1/webhook_endpoints",
                                  json::serialize(json::object{{"url", receiver.url()}})).body);
  const std::string id(created.at("id").as_string());

  // Throughput.
  call(server, "POST", "/v1/webhook_endpoints/" + id + "/disable");
  int64_t last = 0;
  for (int done = 0; done < events; done += 100) last = commit(server, std::min(100, events - done), "t" + std::to_string(done) + "_");
  const auto started = Clock::now();
  call(server, "POST", "/v1/webhook_endpoints/" + id + "/enable");
  if (!receiver.wait_for([&](const auto& r) { return arrivals(r).count(last) > 0; }, std::chrono::minutes(10))) {
    std::fprintf(stderr, "throughput run did not finish\n");
    return 1;
  }
  const double seconds = std::chrono::duration<double>(Clock::now() - started).count();
  const auto batches = receiver.requests().size();
  std::printf("throughput: %d events in %zu batches in %.2f s = %.0f events/s\n", events, batches, seconds,
              events / seconds);

  // Latency.
  std::map<int64_t, Clock::time_point> sent;
  for (int i = 0; i < commits; ++i) {
    const auto at = Clock::now();
    sent[commit(server, 1, "l" + std::to_string(i) + "_")] = at;
    std::this_thread::sleep_for(std::chrono::milliseconds(gap_ms));
  }
  const int64_t final_id = sent.rbegin()->first;
  receiver.wait_for([&](const auto& r) { return arrivals(r).count(final_id) > 0; }, std::chrono::seconds(60));
  const auto arrived = arrivals(receiver.requests());
  std::vector<double> latencies;
  for (const auto& [sync_id, at] : sent) {
    if (auto found = arrived.find(sync_id); found != arrived.end()) {
      latencies.push_back(std::chrono::duration<double, std::milli>(found->second - at).count());
    }
  }
  std::printf("commit -> delivered over %zu commits: p50 %.1f ms, p99 %.1f ms, max %.1f ms\n", latencies.size(),
              percentile(latencies, 0.5), percentile(latencies, 0.99), percentile(latencies, 1.0));
  return latencies.size() == sent.size() ? 0 : 1;
}
