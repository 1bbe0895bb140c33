#pragma once
// Fills a benchmark's server with rows before anything is timed: POST /v1/commits, batches of the
// server's maximum operations, `threads` requests in flight.
#include <algorithm>
#include <atomic>
#include <cstdint>
#include <functional>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <boost/json.hpp>

#include "client/transport.h"

namespace ablo::bench {

inline constexpr int kSeedBatch = 500;  // operations per POST /v1/commits (the server's maximum)

// Commits operation(0) … operation(rows - 1); throws with the first refusal's status and body.
inline void seed_through_commits(uint16_t port, const std::string& api_key, int64_t rows, int threads,
                                 const std::function<boost::json::object(int64_t)>& operation) {
  namespace json = boost::json;
  std::atomic<int64_t> next_batch{0};
  std::atomic<bool> failed{false};
  std::string error;
  std::mutex error_mutex;
  auto worker = [&] {
    for (int64_t batch = next_batch++; batch * kSeedBatch < rows && !failed; batch = next_batch++) {
      json::array operations;
      for (int64_t i = batch * kSeedBatch; i < std::min(rows, (batch + 1) * kSeedBatch); ++i) {
        operations.push_back(operation(i));
      }
      auto response = client::http_request("127.0.0.1", port, "POST", "/v1/commits",
                                           json::serialize(json::object{{"operations", std::move(operations)}}),
                                           {{"Authorization", "Bearer " + api_key}, {"Content-Type", "application/json"}});
      if (!response || response->status != 200) {
        std::lock_guard lock(error_mutex);
        error = response ? std::to_string(response->status) + " " + response->body.substr(0, 300)
                         : response.error().message;
        failed = true;
      }
    }
  };
  std::vector<std::thread> workers;
  for (int t = 0; t < std::max(1, threads); ++t) workers.emplace_back(worker);
  for (auto& w : workers) w.join();
  if (failed) throw std::runtime_error("seeding failed: " + error);
}

}  // namespace ablo::bench
