// POST /v1/commits requests/s under keep-alive load, over loopback.
//
// Starts `ablo serve`, opens C keep-alive connections (one thread each) and has each send
// single-op create commits back to back for D seconds. Reports requests/s and latency.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <thread>

#include <CLI/CLI.hpp>
#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include "bench_support.h"
#include "integration/server_fixture.h"

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using Clock = std::chrono::steady_clock;

namespace {

struct Worker {
  std::vector<int64_t> latencies_us;
  int64_t ok = 0;
  int64_t failed = 0;
};

// One keep-alive connection sending commits until `deadline`.
void run_connection(uint16_t port, const std::string& key, int index, Clock::time_point deadline, Worker& out) {
  asio::io_context io;
  beast::tcp_stream stream(io);
  stream.connect(asio::ip::tcp::endpoint(asio::ip::make_address("127.0.0.1"), port));
  stream.socket().set_option(asio::ip::tcp::no_delay(true));
  beast::flat_buffer buffer;
  for (int64_t n = 0; Clock::now() < deadline; ++n) {
    http::request<http::string_body> req{http::verb::post, "/v1/commits", 11};
    req.set(http::field::host, "127.0.0.1");
    req.set(http::field::authorization, "Bearer " + key);
    req.set(http::field::content_type, "application/json");
    req.keep_alive(true);
    req.body() = R"({"operations":[{"action":"create","model":"items","id":"c)" + std::to_string(index) + "-" +
                 std::to_string(n) + R"(","data":{"title":"x"}}]})";
    req.prepare_payload();
    const auto sent = Clock::now();
    http::write(stream, req);
    http::response<http::string_body> res;
    http::read(stream, buffer, res);
    out.latencies_us.push_back(std::chrono::duration_cast<std::chrono::microseconds>(Clock::now() - sent).count());
    (res.result_int() == 200 ? out.ok : out.failed) += 1;
  }
}

double percentile_ms(const std::vector<int64_t>& sorted, double p) {
  return sorted.empty() ? 0.0 : static_cast<double>(sorted[static_cast<std::size_t>(p * (sorted.size() - 1))]) / 1000.0;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"http_bench: POST /v1/commits requests/s over keep-alive connections"};
  std::string server_bin = std::getenv("ABLO_BIN") ? std::getenv("ABLO_BIN") : ABLO_BIN_DEFAULT;
  int connections = 16, seconds = 10;
  app.add_option("--server-bin", server_bin)->capture_default_str();
  app.add_option("--connections", connections)->capture_default_str();
  app.add_option("--seconds", seconds)->capture_default_str();
  CLI11_PARSE(app, argc, argv);
  setenv("ABLO_BIN", server_bin.c_str(), 1);

  ablo::testing::ServerProcess server(ablo::bench::kItemsSchema);
  std::vector<Worker> workers(static_cast<std::size_t>(connections));
  std::vector<std::thread> threads;
  const auto started = Clock::now();
  const auto deadline = started + std::chrono::seconds(seconds);
  for (int i = 0; i < connections; ++i) {
    threads.emplace_back([&, i] { run_connection(server.port(), server.api_key(), i, deadline, workers[i]); });
  }
  for (auto& t : threads) t.join();
  const double elapsed = std::chrono::duration<double>(Clock::now() - started).count();
  std::vector<int64_t> latencies;
  int64_t ok = 0, failed = 0;
  for (const auto& w : workers) {
    ok += w.ok;
    failed += w.failed;
    latencies.insert(latencies.end(), w.latencies_us.begin(), w.latencies_us.end());
  }
  std::sort(latencies.begin(), latencies.end());
  std::printf("connections=%d seconds=%d\n", connections, seconds);
  std::printf("POST /v1/commits: %lld ok, %lld failed -> %.0f requests/s\n", static_cast<long long>(ok),
              static_cast<long long>(failed), static_cast<double>(ok) / elapsed);
  std::printf("latency ms: p50=%.2f p99=%.2f max=%.2f\n", percentile_ms(latencies, 0.5), percentile_ms(latencies, 0.99),
              latencies.empty() ? 0.0 : latencies.back() / 1000.0);
  return failed == 0 ? 0 : 1;
}
