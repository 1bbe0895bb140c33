// MCP tool-call latency over Streamable HTTP (issue 14): one agent session on a kept-alive
// connection, as an MCP client holds it, against a fresh `ablo serve` (or --port/--key of a
// running one). Measures, each --iterations times, the round trip of
//   get_model      a read with its stamp and claims;
//   update_model   a write (stale-checked by default, durable when answered);
//   claim grant    claim_model on a free row (granted at once, the fresh row read back),
//                  then release_claim (not timed);
//   handover       agent B waits in line (claim_model, streamed); agent A's release_claim is
//                  sent -> B's answer arrives (its grant, with the row A left).
// Prints p50 / p90 / p99 / max in milliseconds. Sequential calls: this is latency, not load.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <string>
#include <thread>
#include <vector>

#include <CLI/CLI.hpp>
#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/json.hpp>

#include "bench_support.h"
#include "integration/server_fixture.h"

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace json = boost::json;
using ablo::bench::now_us;

namespace {

// One MCP session on one kept-alive connection.
class Agent {
 public:
  Agent(uint16_t port, std::string key, const std::string& name) : port_(port), key_(std::move(key)), stream_(io_) {
    stream_.connect(asio::ip::tcp::endpoint(asio::ip::make_address("127.0.0.1"), port_));
    auto reply = post(json::object{{"jsonrpc", "2.0"}, {"id", next_id_++}, {"method", "initialize"},
                                   {"params", json::object{{"protocolVersion", "2025-06-18"},
                                                           {"capabilities", json::object{}},
                                                           {"clientInfo", json::object{{"name", name}, {"version", "1"}}}}}});
    if (session_.empty()) throw std::runtime_error("initialize failed: " + reply);
    post(json::object{{"jsonrpc", "2.0"}, {"method", "notifications/initialized"}});
  }

  // tools/call; the answer's body (JSON or the event stream). Throws on a tool error.
  std::string call(const std::string& tool, json::object args) {
    auto body = post(json::object{{"jsonrpc", "2.0"}, {"id", next_id_++}, {"method", "tools/call"},
                                  {"params", json::object{{"name", tool}, {"arguments", std::move(args)}}}});
    if (body.find("\"isError\":false") == std::string::npos) throw std::runtime_error(tool + " failed: " + body);
    return body;
  }

 private:
  std::string post(const json::object& message) {
    http::request<http::string_body> request{http::verb::post, "/mcp", 11};
    request.set(http::field::host, "127.0.0.1");
    request.set(http::field::authorization, "Bearer " + key_);
    request.set(http::field::content_type, "application/json");
    request.set(http::field::accept, "application/json, text/event-stream");
    if (!session_.empty()) request.set("Mcp-Session-Id", session_);
    request.keep_alive(true);
    request.body() = json::serialize(message);
    request.prepare_payload();
    if (!stream_.socket().is_open()) {  // a streamed answer closes its connection
      stream_.connect(asio::ip::tcp::endpoint(asio::ip::make_address("127.0.0.1"), port_));
    }
    http::write(stream_, request);
    http::response<http::string_body> response;
    beast::flat_buffer buffer;
    http::read(stream_, buffer, response);
    if (session_.empty()) session_ = std::string(response["Mcp-Session-Id"]);
    if (!response.keep_alive()) {
      beast::error_code ec;
      stream_.socket().shutdown(asio::ip::tcp::socket::shutdown_both, ec);
      stream_.close();
    }
    return response.body();
  }

  uint16_t port_;
  std::string key_;
  asio::io_context io_;
  beast::tcp_stream stream_;
  std::string session_;
  int64_t next_id_ = 1;
};

void report(const char* what, std::vector<int64_t> us) {
  std::sort(us.begin(), us.end());
  auto at = [&](double q) { return us[std::min(us.size() - 1, static_cast<std::size_t>(q * us.size()))] / 1000.0; };
  std::printf("%-14s n=%-6zu p50 %7.2f  p90 %7.2f  p99 %7.2f  max %7.2f ms\n", what, us.size(), at(0.5), at(0.9),
              at(0.99), us.back() / 1000.0);
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"MCP tool-call latency over Streamable HTTP"};
  int iterations = 1000;
  int handovers = 200;
  uint16_t port = 0;
  std::string key;
  app.add_option("--iterations", iterations, "calls of each tool")->capture_default_str();
  app.add_option("--handovers", handovers, "claim hand-overs between two agents")->capture_default_str();
  app.add_option("--port", port, "a running server (else one is started)");
  app.add_option("--key", key, "its sk_ key");
  CLI11_PARSE(app, argc, argv);

  std::unique_ptr<ablo::testing::ServerProcess> server;
  if (port == 0) {
    server = std::make_unique<ablo::testing::ServerProcess>(ablo::bench::kItemsSchema);
    port = server->port();
    key = server->api_key();
  }
  Agent a(port, key, "bench-a");
  Agent b(port, key, "bench-b");
  a.call("create_model", {{"model", "items"}, {"id", "row"}, {"data", json::object{{"title", "row"}}}});
  a.call("get_model", {{"model", "items"}, {"id", "row"}});

  std::vector<int64_t> reads, writes, grants, hands;
  for (int i = 0; i < iterations; ++i) {
    auto start = now_us();
    a.call("get_model", {{"model", "items"}, {"id", "row"}});
    reads.push_back(now_us() - start);
    start = now_us();
    a.call("update_model", {{"model", "items"}, {"id", "row"}, {"data", json::object{{"n", i}}}});
    writes.push_back(now_us() - start);
    start = now_us();
    a.call("claim_model", {{"model", "items"}, {"id", "row"}, {"queue", false}});
    grants.push_back(now_us() - start);
    a.call("release_claim", {{"model", "items"}, {"id", "row"}});
  }
  for (int i = 0; i < handovers; ++i) {
    a.call("claim_model", {{"model", "items"}, {"id", "row"}});
    std::atomic<int64_t> granted_at{0};
    std::thread waiter([&] {
      b.call("claim_model", {{"model", "items"}, {"id", "row"}, {"waitSeconds", 30}});
      granted_at = now_us();
    });
    // B is in line once the row lists two claims.
    for (int tries = 0; tries < 1000; ++tries) {
      auto claims = a.call("list_claims", {{"model", "items"}, {"id", "row"}});
      if (claims.find("queued") != std::string::npos) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    const auto released_at = now_us();
    a.call("release_claim", {{"model", "items"}, {"id", "row"}});
    waiter.join();
    hands.push_back(granted_at - released_at);
    b.call("release_claim", {{"model", "items"}, {"id", "row"}});
  }
  report("get_model", reads);
  report("update_model", writes);
  report("claim grant", grants);
  if (!hands.empty()) report("handover", hands);
  return 0;
}
