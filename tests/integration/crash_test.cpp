// Durability under kill -9 (issue 10): concurrent writers commit over WebSocket while the
// server is killed at a random moment, round after round, on the same data. Afterwards every
// write whose mutation_result said success is present, no delta id was handed out twice, and
// a client resuming from any cursor gets exactly the deltas after it.
#include <boost/json.hpp>
#include <gtest/gtest.h>

#include <atomic>
#include <map>
#include <mutex>
#include <random>
#include <set>
#include <thread>

#include "client/transport.h"
#include "integration/quickstart_schema.h"
#include "integration/server_fixture.h"
#include "integration/sync_client.h"

namespace ablo::testing {
namespace {

namespace json = boost::json;
using namespace std::chrono_literals;

struct ConfirmedWrite {
  std::string row_id;
  int64_t sync_id = 0;
};

// Commits one create at a time until the server goes away; records what was confirmed.
void write_until_killed(Client client, const std::string& prefix, std::mutex& mutex,
                        std::vector<ConfirmedWrite>& confirmed, std::atomic<int>& refused) {
  for (int n = 0;; ++n) {
    const std::string row_id = prefix + "-" + std::to_string(n);
    const auto tx = client.commit(json::array{op("CREATE", row_id, {{"location", "Oslo"}, {"status", "pending"}},
                                                 "tx-" + row_id)});
    auto result = client.await([&](const json::object& f) {
      return f.at("type") == "mutation_result" && f.at("payload").at("clientTxId") == tx.c_str();
    }, 3s);
    if (!result) return;  // killed: this write's outcome is unknown, which is allowed
    const auto& payload = result->at("payload").as_object();
    if (!payload.at("success").as_bool()) {
      ++refused;
      return;
    }
    std::lock_guard lock(mutex);
    confirmed.push_back({row_id, payload.at("lastSyncId").as_int64()});
  }
}

// Every delta a fresh client resuming from `cursor` receives: the catch-up and whatever follows
// until the stream has been quiet for a while.
std::vector<json::object> deltas_after(ServerProcess& server, int64_t cursor) {
  auto client = Client::connect(server, cursor);
  std::vector<json::object> deltas = deltas_in(client.first_sync);
  for (auto& frame : client.unread) {
    for (auto& d : deltas_in(frame)) deltas.push_back(std::move(d));
  }
  client.unread.clear();
  // A long catch-up comes in several sync_response pages.
  auto carries_deltas = [](const json::object& f) { return f.at("type") == "delta" || f.at("type") == "sync_response"; };
  while (auto frame = client.await(carries_deltas, 1500ms)) {
    for (auto& d : deltas_in(*frame)) deltas.push_back(std::move(d));
  }
  return deltas;
}

TEST(CrashTest, ConfirmedWritesSurviveKillNineWithDenseIdsAndExactResume) {
  constexpr int kRounds = 6;
  constexpr int kWriters = 3;
  ServerProcess server{kQuickstartSchema};
  std::mt19937 random(20261128);
  std::mutex mutex;
  std::vector<ConfirmedWrite> confirmed;
  std::atomic<int> refused{0};
  // A cursor of 0 means "fresh client, bootstraps first": the log is read back from this seed on.
  auto seeder = Client::connect(server);
  const auto seed = seeder.result_of(seeder.commit(json::array{op("CREATE", "seed", {{"location", "Oslo"},
                                                                                   {"status", "pending"}}, "tx-seed")}));
  const int64_t seed_id = seed.at("lastSyncId").as_int64();
  seeder.ws->close();

  for (int round = 0; round < kRounds; ++round) {
    std::vector<std::thread> writers;
    for (int w = 0; w < kWriters; ++w) {
      writers.emplace_back(write_until_killed, Client::connect(server),
                           "r" + std::to_string(round) + "w" + std::to_string(w), std::ref(mutex),
                           std::ref(confirmed), std::ref(refused));
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(150 + random() % 250));
    server.kill_hard();
    for (auto& writer : writers) writer.join();
    server.restart();
  }
  ASSERT_EQ(refused.load(), 0) << "no write may be refused in this test";
  ASSERT_GT(confirmed.size(), static_cast<std::size_t>(kRounds)) << "the writers confirmed too little to prove anything";

  const auto all = deltas_after(server, seed_id);
  std::map<int64_t, std::string> row_of_delta;
  int64_t previous = seed_id;
  for (const auto& d : all) {
    const int64_t id = d.at("id").as_int64();
    EXPECT_GT(id, previous) << "delta ids must be strictly increasing (no id reused)";
    previous = id;
    row_of_delta[id] = std::string(d.at("modelId").as_string());
  }
  std::set<std::string> rows_in_log;
  for (const auto& [id, row] : row_of_delta) {
    EXPECT_TRUE(rows_in_log.insert(row).second) << "row " << row << " created twice";
  }
  for (const auto& write : confirmed) {
    auto found = row_of_delta.find(write.sync_id);
    ASSERT_NE(found, row_of_delta.end()) << "confirmed write " << write.row_id << " (delta " << write.sync_id
                                         << ") is missing after kill -9";
    EXPECT_EQ(found->second, write.row_id);
    auto entity = client::http_request("127.0.0.1", server.port(), "GET",
                                       "/api/sync/entity/weatherReports/" + write.row_id, {},
                                       {{"Authorization", "Bearer " + server.api_key()}});
    ASSERT_TRUE(entity);
    EXPECT_EQ(entity->status, 200) << write.row_id << ": " << entity->body;
  }

  // Resuming from a cursor in the middle of the log yields exactly the deltas after it.
  const int64_t cursor = std::next(row_of_delta.begin(), static_cast<long>(row_of_delta.size() / 2))->first;
  std::vector<int64_t> expected;
  for (const auto& [id, row] : row_of_delta) {
    if (id > cursor) expected.push_back(id);
  }
  std::vector<int64_t> resumed;
  for (const auto& d : deltas_after(server, cursor)) resumed.push_back(d.at("id").as_int64());
  EXPECT_EQ(resumed, expected);
  std::printf("[ crash ] %d kill -9 rounds, %zu confirmed writes, %zu deltas in the log\n", kRounds,
              confirmed.size(), all.size());
}

}  // namespace
}  // namespace ablo::testing
