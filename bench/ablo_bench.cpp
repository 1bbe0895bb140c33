// Commits/s and write -> delta latency over real sockets on loopback.
//
// Starts `ablo serve` — on SQLite, or as --nodes nodes on one PostgreSQL (--store postgres: a
// private throwaway server, or --database URL) — connects N subscriber and W writer sockets
// (all in the same sync group, spread round-robin over the nodes), and has every writer keep
// K single-op CREATE commits in flight. Each row carries its send time (steady clock) and its
// writer's node, so every subscriber measures write -> delta latency on its own I/O thread
// without shared state, and tells same-node from cross-node deliveries apart.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <thread>

#include <CLI/CLI.hpp>
#include <boost/json.hpp>

#include "bench_support.h"
#include "integration/server_fixture.h"
#include "support/private_postgres.h"
#include "support/private_redis.h"

namespace json = boost::json;
using ablo::bench::now_us;
using ablo::bench::sync_request;
using Clock = std::chrono::steady_clock;

namespace {

// Every delta object in a frame (single `delta`, batched `delta`, or `sync_response`).
template <class Fn>
void for_each_delta(const json::object& frame, Fn&& fn) {
  const auto& payload = frame.at("payload").as_object();
  if (const auto* many = payload.if_contains("deltas")) {
    for (const auto& d : many->as_array()) fn(d.as_object());
  } else if (payload.contains("id")) {
    fn(payload);
  }
}

struct Subscriber {
  std::unique_ptr<ablo::client::WsConnection> ws;
  std::string node;                   // "n<index>" of the node it is connected to
  std::vector<int64_t> latencies_us;  // its I/O thread only, read after the run
  std::vector<int64_t> cross_node_us;  // the subset written through another node
  std::atomic<int64_t> received{0};
  std::atomic<bool> synced{false};
};

struct Writer {
  std::unique_ptr<ablo::client::WsConnection> ws;
  std::atomic<int64_t> acked{0};
  std::atomic<int64_t> failed{0};
  int64_t sent = 0;  // its I/O thread only after start
};

double percentile(std::vector<int64_t>& sorted, double p) {
  if (sorted.empty()) return 0;
  const auto index = static_cast<std::size_t>(p * static_cast<double>(sorted.size() - 1));
  return static_cast<double>(sorted[index]) / 1000.0;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"ablo_bench: commits/s and write->delta latency over loopback"};
  std::string server_bin = std::getenv("ABLO_BIN") ? std::getenv("ABLO_BIN") : ABLO_BIN_DEFAULT;
  int subscribers = 100, writers = 8, inflight = 64;
  int64_t commits = 20000;
  int timeout_s = 120;
  int nodes = 1;
  std::string store = "sqlite", database_url;
  bool use_redis = false;
  app.add_option("--server-bin", server_bin)->capture_default_str();
  app.add_option("--subscribers", subscribers)->capture_default_str();
  app.add_option("--writers", writers)->capture_default_str();
  app.add_option("--commits", commits, "Total commits")->capture_default_str();
  app.add_option("--inflight", inflight, "Commits in flight per writer")->capture_default_str();
  app.add_option("--timeout", timeout_s, "Give up after this many seconds")->capture_default_str();
  app.add_option("--store", store, "sqlite | postgres")->capture_default_str();
  app.add_option("--nodes", nodes, "Server nodes on one PostgreSQL")->capture_default_str();
  app.add_option("--database", database_url, "PostgreSQL URL (default: a private throwaway server)");
  app.add_flag("--redis", use_redis, "Nodes wake each other through a private Redis instead of NOTIFY");
  CLI11_PARSE(app, argc, argv);
  setenv("ABLO_BIN", server_bin.c_str(), 1);
  if (store != "postgres" && nodes != 1) {
    std::fprintf(stderr, "several nodes need --store postgres\n");
    return 2;
  }
  if (store != "postgres" && use_redis) {
    std::fprintf(stderr, "--redis wakes PostgreSQL cluster nodes: it needs --store postgres\n");
    return 2;
  }

  std::unique_ptr<ablo::testing::PrivatePostgres> postgres;
  if (store == "postgres" && database_url.empty()) {
    postgres = std::make_unique<ablo::testing::PrivatePostgres>(/*durable=*/true);
    database_url = postgres->url();
  }
  std::unique_ptr<ablo::testing::PrivateRedis> redis;
  std::vector<std::string> node_args;
  if (use_redis) {
    redis = std::make_unique<ablo::testing::PrivateRedis>();
    node_args = {"--redis", redis->url()};
  }
  std::vector<std::unique_ptr<ablo::testing::ServerProcess>> servers;
  for (int n = 0; n < nodes; ++n) {
    servers.push_back(std::make_unique<ablo::testing::ServerProcess>(ablo::bench::kItemsSchema, database_url, node_args));
  }
  auto& server = *servers.front();
  auto node_of = [&](int i) { return static_cast<std::size_t>(i % nodes); };
  auto exchange = server.exchange();
  const std::string token(exchange.at("token").as_string());
  std::vector<std::string> groups;
  for (const auto& g : exchange.at("scope").at("syncGroups").as_array()) groups.emplace_back(g.as_string());

  std::vector<std::unique_ptr<Subscriber>> subs;
  for (int i = 0; i < subscribers; ++i) {
    auto sub = std::make_unique<Subscriber>();
    sub->ws = servers[node_of(i)]->connect_ws(token, groups);
    sub->node = "n" + std::to_string(node_of(i));
    sub->latencies_us.reserve(static_cast<std::size_t>(commits));
    Subscriber* raw = sub.get();
    raw->ws->set_frame_handler([raw](std::string&& text) {
      const int64_t arrived = now_us();
      auto frame = json::parse(text).as_object();
      const auto& type = frame.at("type");
      if (type == "sync_response") raw->synced = true;
      if (type != "delta") return;
      for_each_delta(frame, [&](const json::object& d) {
        const auto& data = d.at("data").as_object();
        const int64_t latency = arrived - data.at("sentAt").to_number<int64_t>();
        raw->latencies_us.push_back(latency);
        if (data.at("title") != raw->node.c_str()) raw->cross_node_us.push_back(latency);
        raw->received.fetch_add(1, std::memory_order_relaxed);
      });
    });
    raw->ws->send_text(sync_request());
    subs.push_back(std::move(sub));
  }
  for (auto& sub : subs) {
    while (!sub->synced) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }

  const int64_t per_writer = commits / writers;
  std::vector<std::unique_ptr<Writer>> ws;
  auto send_commit = [&node_of](Writer& w, int index) {
    const std::string id = "w" + std::to_string(index) + "-" + std::to_string(w.sent);
    const std::string node = "n" + std::to_string(node_of(index));
    json::object op{{"type", "CREATE"}, {"model", "items"}, {"id", id},
                    {"input", {{"title", node}, {"n", w.sent}, {"sentAt", now_us()}}}, {"transactionId", "tx_" + id}};
    ++w.sent;
    w.ws->send_text(json::serialize(json::object{
        {"type", "commit"}, {"payload", {{"clientTxId", id}, {"operations", json::array{std::move(op)}}}}}));
  };
  for (int i = 0; i < writers; ++i) {
    auto w = std::make_unique<Writer>();
    w->ws = servers[node_of(i)]->connect_ws(token, groups);
    ws.push_back(std::move(w));
  }
  const auto started = Clock::now();
  for (int i = 0; i < writers; ++i) {
    Writer* w = ws[static_cast<std::size_t>(i)].get();
    w->ws->set_frame_handler([w, i, per_writer, inflight, &send_commit](std::string&& text) {
      auto frame = json::parse(text).as_object();
      if (frame.at("type") == "pong") {  // start: the first K commits, sent from this I/O thread
        for (int k = 0; k < inflight && w->sent < per_writer; ++k) send_commit(*w, i);
        return;
      }
      if (frame.at("type") != "mutation_result") return;
      (frame.at("payload").at("success") == true ? w->acked : w->failed).fetch_add(1);
      if (w->sent < per_writer) send_commit(*w, i);
    });
    // Every send happens on the writer's I/O thread: the pong starts the pipeline. The
    // sync_request first reveals the socket's dialect (0.9.1): until then the server holds
    // its commit answers (net/dialect_outbox.h), and the pipeline would stall.
    w->ws->send_text(sync_request());
    w->ws->send_text(R"({"type":"ping"})");
  }

  const int64_t total = per_writer * writers;
  const auto deadline = started + std::chrono::seconds(timeout_s);
  auto done_acks = [&] {
    int64_t n = 0;
    for (auto& w : ws) n += w->acked + w->failed;
    return n;
  };
  while (done_acks() < total && Clock::now() < deadline) std::this_thread::sleep_for(std::chrono::milliseconds(2));
  const double seconds = std::chrono::duration<double>(Clock::now() - started).count();
  auto all_delivered = [&] {
    for (auto& s : subs) {
      if (s->received < total) return false;
    }
    return true;
  };
  while (!all_delivered() && Clock::now() < deadline) std::this_thread::sleep_for(std::chrono::milliseconds(5));

  int64_t failed = 0, acked = 0;
  for (auto& w : ws) {
    acked += w->acked;
    failed += w->failed;
  }
  for (auto& w : ws) w->ws->close();
  for (auto& s : subs) s->ws->close();
  std::vector<int64_t> latencies, cross_node;
  int64_t delivered = 0;
  for (auto& s : subs) {
    delivered += s->received;
    latencies.insert(latencies.end(), s->latencies_us.begin(), s->latencies_us.end());
    cross_node.insert(cross_node.end(), s->cross_node_us.begin(), s->cross_node_us.end());
  }
  std::sort(latencies.begin(), latencies.end());
  std::sort(cross_node.begin(), cross_node.end());
  std::printf("store=%s%s nodes=%d subscribers=%d writers=%d inflight=%d commits=%lld\n", store.c_str(), use_redis ? " (redis wake-ups)" : "", nodes,
              subscribers, writers, inflight, static_cast<long long>(total));
  std::printf("acked=%lld failed=%lld in %.2f s -> %.0f commits/s\n", static_cast<long long>(acked),
              static_cast<long long>(failed), seconds, static_cast<double>(acked) / seconds);
  std::printf("deltas delivered=%lld of %lld expected\n", static_cast<long long>(delivered),
              static_cast<long long>(total * subscribers));
  std::printf("write->delta latency ms: p50=%.2f p99=%.2f max=%.2f\n", percentile(latencies, 0.50),
              percentile(latencies, 0.99), latencies.empty() ? 0.0 : latencies.back() / 1000.0);
  if (!cross_node.empty()) {
    std::printf("cross-node write->delta latency ms (%zu deliveries): p50=%.2f p99=%.2f max=%.2f\n",
                cross_node.size(), percentile(cross_node, 0.50), percentile(cross_node, 0.99),
                cross_node.back() / 1000.0);
  }
  return failed == 0 && acked == total ? 0 : 1;
}
