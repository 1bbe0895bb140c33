// `ablo_load bootstrap --rows N` (issue 17 item 5: "1,000,000 rows served in ≤ 2× the time to
// serialize them as JSON, streamed with flat memory").
//
// It starts a server, seeds N `tasks` rows (~180 bytes of JSON each) through POST /v1/commits
// (not timed), then measures:
//   (b) one client's GET /api/sync/bootstrap on a raw connection that reads and drops the body:
//       time to the first byte and to the last, the server's CPU over it, the server's RSS
//       before and its peak meanwhile (sampled every 5 ms);
//   (a) the baseline: the same rows (the body fetched once more, parsed, not timed) serialized
//       as one JSON array in this process with boost::json::serialize — the time a server that
//       had the rows in memory as JSON values would need just to write their text.
// Each is run --repeats times and the best is kept; the ratio (b) last byte / (a) is printed
// beside the target (≤ 2). The machine's load average is printed too: wall times on a shared VM
// move with it, the server's CPU seconds much less.
#include "load_bootstrap.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/json.hpp>

#include "bench_support.h"
#include "seed_commits.h"
#include "client/transport.h"
#include "integration/server_fixture.h"

namespace ablo::bench {
namespace load_bootstrap {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace json = boost::json;
using tcp = asio::ip::tcp;
using SteadyClock = std::chrono::steady_clock;


json::object task_operation(int64_t index) {
  static constexpr const char* kStatuses[] = {"todo", "in_progress", "done"};
  char id[32], title[64];
  std::snprintf(id, sizeof id, "task-%07lld", static_cast<long long>(index));
  std::snprintf(title, sizeof title, "Benchmark task %07lld of the bootstrap", static_cast<long long>(index));
  json::object data{{"title", title},
                    {"status", kStatuses[index % 3]},
                    {"position", index},
                    {"assigneeId", "user-" + std::to_string(index % 100)},
                    {"dueAt", "2026-12-01T10:00:00.000Z"},
                    {"meta", json::object{{"estimate", index % 13}, {"labels", json::array{"bench", "boot"}}}}};
  return json::object{{"action", "create"}, {"model", "tasks"}, {"id", id}, {"data", std::move(data)}};
}

double seconds_between(SteadyClock::time_point from, SteadyClock::time_point to) {
  return std::chrono::duration<double>(to - from).count();
}

struct Fetch {
  int status = 0;
  bool chunked = false;
  std::size_t body_bytes = 0;
  double first_byte_s = 0, last_byte_s = 0;
  double server_cpu_s = 0;
  int64_t rss_before_kib = 0, rss_peak_kib = 0;
};

// (b): the GET on a raw connection; the body is read in 64 KiB pieces and dropped.
Fetch timed_get(const testing::ServerProcess& server) {
  Fetch fetch;
  asio::io_context io;
  tcp::socket socket(io);
  fetch.rss_before_kib = testing::resident_kib(server.pid());
  const auto cpu_before = process_cpu_seconds(server.pid());
  testing::RssSampler sampler(server.pid(), std::chrono::milliseconds(5));
  const auto start = SteadyClock::now();
  socket.connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), server.port()));
  socket.set_option(tcp::no_delay(true));
  http::request<http::empty_body> request{http::verb::get, "/api/sync/bootstrap", 11};
  request.set(http::field::host, "127.0.0.1");
  request.set(http::field::authorization, "Bearer " + server.api_key());
  http::write(socket, request);
  beast::flat_buffer buffer;
  http::response_parser<http::buffer_body> parser;
  parser.body_limit(boost::none);
  http::read_header(socket, buffer, parser);
  fetch.first_byte_s = seconds_between(start, SteadyClock::now());
  fetch.status = parser.get().result_int();
  fetch.chunked = parser.chunked();
  std::vector<char> piece(64 * 1024);
  while (!parser.is_done()) {
    parser.get().body().data = piece.data();
    parser.get().body().size = piece.size();
    beast::error_code ec;
    http::read(socket, buffer, parser, ec);
    if (ec && ec != http::error::need_buffer) throw std::runtime_error("bootstrap read failed: " + ec.message());
    fetch.body_bytes += piece.size() - parser.get().body().size;
  }
  fetch.last_byte_s = seconds_between(start, SteadyClock::now());
  fetch.rss_peak_kib = sampler.stop();
  const auto cpu_after = process_cpu_seconds(server.pid());
  if (cpu_before && cpu_after) fetch.server_cpu_s = *cpu_after - *cpu_before;
  return fetch;
}

// The whole body in memory, for the baseline (not timed).
std::string whole_body(const testing::ServerProcess& server) {
  asio::io_context io;
  tcp::socket socket(io);
  socket.connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), server.port()));
  http::request<http::empty_body> request{http::verb::get, "/api/sync/bootstrap", 11};
  request.set(http::field::host, "127.0.0.1");
  request.set(http::field::authorization, "Bearer " + server.api_key());
  http::write(socket, request);
  beast::flat_buffer buffer;
  http::response_parser<http::string_body> parser;
  parser.body_limit(boost::none);
  http::read(socket, buffer, parser);
  return std::move(parser.get().body());
}

std::string load_average() {
  std::ifstream file("/proc/loadavg");
  std::string one, five, fifteen;
  file >> one >> five >> fifteen;
  return one + " " + five + " " + fifteen;
}

}  // namespace load_bootstrap

int run_bootstrap_load(const BootstrapLoadOptions& options) {
  using namespace load_bootstrap;
  setenv("ABLO_BIN", options.server_bin.c_str(), 1);
  testing::ServerProcess server(kTasksSchema, "", options.server_args);
  const char* store = std::getenv("ABLO_TEST_STORE");
  std::printf("bootstrap: %lld rows, store %s, load average %s\n", static_cast<long long>(options.rows),
              store && *store ? store : "sqlite", load_average().c_str());
  const auto seed_start = SteadyClock::now();
  seed_through_commits(server.port(), server.api_key(), options.rows, options.seed_threads, task_operation);
  std::printf("seeded in %.1f s (not timed below)\n", seconds_between(seed_start, SteadyClock::now()));
  std::this_thread::sleep_for(std::chrono::seconds(1));  // let the commit pipeline settle

  const int repeats = std::max(1, options.repeats);
  std::vector<Fetch> fetches;
  for (int i = 0; i < repeats; ++i) {
    fetches.push_back(timed_get(server));
    const auto& f = fetches.back();
    std::printf("  GET %d: status %d, %s, %zu body bytes, first byte %.3f s, last byte %.3f s, server CPU %.3f s, "
                "server RSS %lld KiB before, peak %lld KiB (+%lld)\n",
                i + 1, f.status, f.chunked ? "chunked" : "whole", f.body_bytes, f.first_byte_s, f.last_byte_s,
                f.server_cpu_s, static_cast<long long>(f.rss_before_kib), static_cast<long long>(f.rss_peak_kib),
                static_cast<long long>(f.rss_peak_kib - f.rss_before_kib));
    if (f.status != 200) return 1;
  }

  // (a) the baseline, on the rows the server sent.
  const auto body = whole_body(server);
  auto parsed = json::parse(body);
  const auto& models = parsed.at("models").as_object();
  std::size_t row_count = 0;
  for (const auto& model : models) row_count += model.value().as_array().size();
  const bool all_rows = row_count == static_cast<std::size_t>(options.rows);
  std::printf("the body holds %zu rows (%s), %zu bytes\n", row_count, all_rows ? "all" : "MISSING ROWS", body.size());
  double best_serialize = 1e9;
  std::size_t serialized_bytes = 0;
  for (int i = 0; i < repeats; ++i) {
    const auto start = SteadyClock::now();
    std::size_t bytes = 0;
    for (const auto& model : models) bytes += json::serialize(model.value()).size();
    best_serialize = std::min(best_serialize, seconds_between(start, SteadyClock::now()));
    serialized_bytes = bytes;
  }

  const auto best = *std::min_element(fetches.begin(), fetches.end(),
                                      [](const Fetch& x, const Fetch& y) { return x.last_byte_s < y.last_byte_s; });
  int64_t worst_growth = 0;
  for (const auto& f : fetches) worst_growth = std::max(worst_growth, f.rss_peak_kib - f.rss_before_kib);
  std::printf("\n(a) serialize %zu rows in-process (boost::json::serialize, %zu bytes): %.3f s (best of %d)\n",
              row_count, serialized_bytes, best_serialize, repeats);
  std::printf("(b) GET /api/sync/bootstrap, one client: first byte %.3f s, last byte %.3f s (best of %d); server CPU "
              "%.3f s\n",
              best.first_byte_s, best.last_byte_s, repeats, best.server_cpu_s);
  std::printf("(b) / (a) = %.2f (target <= 2); server CPU / (a) = %.2f\n", best.last_byte_s / best_serialize,
              best.server_cpu_s / best_serialize);
  std::printf("server RSS growth during a GET: at most %lld KiB (body %.1f MB); load average now %s\n",
              static_cast<long long>(worst_growth), static_cast<double>(best.body_bytes) / 1e6,
              load_average().c_str());
  return all_rows ? 0 : 1;
}

}  // namespace ablo::bench
