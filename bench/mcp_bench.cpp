// MCP tool-call latency over Streamable HTTP (issue 14), over loopback.
//
// Starts `ablo serve`, opens one MCP session on one keep-alive connection and calls, N times
// each in turn: get_model, update_model, and claim_model + release_claim on a free row (the
// claim is granted at once). Reports p50/p99/max per tool. One caller at a time: this is the
// latency an agent sees, not throughput.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <optional>
#include <stdexcept>
#include <string>
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
using Clock = std::chrono::steady_clock;

namespace {

// One MCP session on a keep-alive connection (reopened when the server closes it, e.g. after
// an event stream).
class McpSession {
 public:
  McpSession(uint16_t port, std::string key) : port_(port), key_(std::move(key)) {}

  void initialize() {
    auto answer = call(R"({"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":"2025-06-18",)"
                       R"("capabilities":{},"clientInfo":{"name":"mcp_bench","version":"1"}}})");
    protocol_version_ = std::string(answer.at("result").at("protocolVersion").as_string());
    call(R"({"jsonrpc":"2.0","method":"notifications/initialized"})");
  }

  // tools/call; throws on a transport, protocol or tool error.
  json::object call_tool(const std::string& name, json::object arguments) {
    const json::object request{{"jsonrpc", "2.0"},
                               {"id", ++next_id_},
                               {"method", "tools/call"},
                               {"params", json::object{{"name", name}, {"arguments", std::move(arguments)}}}};
    auto answer = call(json::serialize(request));
    const auto& result = answer.at("result").as_object();
    if (const auto* is_error = result.if_contains("isError"); is_error && is_error->is_bool() && is_error->as_bool()) {
      throw std::runtime_error(name + " failed: " + json::serialize(result));
    }
    return result.at("structuredContent").as_object();
  }

 private:
  // POSTs one message; the JSON-RPC response (from a JSON body or the last SSE event), or an
  // empty object for 202.
  json::object call(const std::string& body) {
    if (!stream_) connect();
    http::request<http::string_body> request{http::verb::post, "/mcp", 11};
    request.set(http::field::host, "127.0.0.1");
    request.set(http::field::authorization, "Bearer " + key_);
    request.set(http::field::content_type, "application/json");
    request.set(http::field::accept, "application/json, text/event-stream");
    if (!session_id_.empty()) request.set("Mcp-Session-Id", session_id_);
    if (!protocol_version_.empty()) request.set("MCP-Protocol-Version", protocol_version_);
    request.keep_alive(true);
    request.body() = body;
    request.prepare_payload();
    http::write(*stream_, request);
    http::response<http::string_body> response;
    http::read(*stream_, buffer_, response);
    if (!response.keep_alive()) stream_.reset();
    if (response.result_int() == 202) return {};
    if (response.result_int() != 200) {
      throw std::runtime_error("HTTP " + std::to_string(response.result_int()) + ": " + response.body());
    }
    if (session_id_.empty()) session_id_ = std::string(response["Mcp-Session-Id"]);
    const bool event_stream = response[http::field::content_type].starts_with("text/event-stream");
    return json::parse(event_stream ? last_event_data(response.body()) : response.body()).as_object();
  }

  // The data of the last event that carries a response (progress notifications come first).
  static std::string last_event_data(const std::string& body) {
    std::string found;
    std::size_t at = 0;
    while ((at = body.find("data:", at)) != std::string::npos) {
      const auto end = body.find('\n', at);
      std::string data = body.substr(at + 5, end == std::string::npos ? std::string::npos : end - at - 5);
      if (!data.empty() && data.front() == ' ') data.erase(0, 1);
      if (!data.empty() && data.back() == '\r') data.pop_back();
      if (data.find("\"result\"") != std::string::npos || data.find("\"error\"") != std::string::npos) found = data;
      at = end == std::string::npos ? body.size() : end;
    }
    if (found.empty()) throw std::runtime_error("an event stream without a response: " + body.substr(0, 300));
    return found;
  }

  void connect() {
    stream_.emplace(io_);
    stream_->connect(asio::ip::tcp::endpoint(asio::ip::make_address("127.0.0.1"), port_));
    stream_->socket().set_option(asio::ip::tcp::no_delay(true));
    buffer_.clear();
  }

  uint16_t port_;
  std::string key_;
  asio::io_context io_;
  std::optional<beast::tcp_stream> stream_;
  beast::flat_buffer buffer_;
  std::string session_id_;
  std::string protocol_version_;
  int64_t next_id_ = 0;
};

struct Timings {
  std::map<std::string, std::vector<int64_t>> us;  // per tool

  template <class Call>
  void measure(const std::string& tool, Call&& call) {
    const auto started = Clock::now();
    call();
    us[tool].push_back(std::chrono::duration_cast<std::chrono::microseconds>(Clock::now() - started).count());
  }
};

double percentile_ms(const std::vector<int64_t>& sorted, double p) {
  return sorted.empty() ? 0.0 : static_cast<double>(sorted[static_cast<std::size_t>(p * (sorted.size() - 1))]) / 1000.0;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"mcp_bench: MCP tool-call latency over Streamable HTTP (get_model, update_model, claim grant)"};
  std::string server_bin = std::getenv("ABLO_BIN") ? std::getenv("ABLO_BIN") : ABLO_BIN_DEFAULT;
  int iterations = 1000;
  app.add_option("--server-bin", server_bin)->capture_default_str();
  app.add_option("--iterations", iterations, "Calls of each tool")->check(CLI::Range(10, 1000000))->capture_default_str();
  CLI11_PARSE(app, argc, argv);
  setenv("ABLO_BIN", server_bin.c_str(), 1);

  ablo::testing::ServerProcess server(ablo::bench::kItemsSchema);
  Timings timings;
  try {
    McpSession session(server.port(), server.api_key());
    session.initialize();
    const json::object row{{"model", "items"}, {"id", "bench-row"}};
    auto with = [&row](json::object extra) {
      json::object arguments = row;
      for (auto& [key, value] : extra) arguments[key] = value;
      return arguments;
    };
    session.call_tool("create_model", with({{"data", json::object{{"title", "bench"}}}}));
    for (int i = 0; i < iterations; ++i) {
      timings.measure("get_model", [&] { session.call_tool("get_model", row); });
      timings.measure("update_model", [&] {
        session.call_tool("update_model", with({{"data", json::object{{"n", i}}}}));
      });
      timings.measure("claim_model (grant)", [&] {
        const auto claim = session.call_tool("claim_model", row);
        if (claim.at("status") != "granted") throw std::runtime_error("claim not granted: " + json::serialize(claim));
      });
      timings.measure("release_claim", [&] { session.call_tool("release_claim", row); });
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "mcp_bench: %s\n", e.what());
    return 1;
  }
  std::printf("iterations=%d, one session, one keep-alive connection\n", iterations);
  std::printf("%-22s %8s %8s %8s\n", "tool", "p50 ms", "p99 ms", "max ms");
  for (auto& [tool, samples] : timings.us) {
    std::sort(samples.begin(), samples.end());
    std::printf("%-22s %8.2f %8.2f %8.2f\n", tool.c_str(), percentile_ms(samples, 0.5), percentile_ms(samples, 0.99),
                samples.back() / 1000.0);
  }
  return 0;
}
