// The delta log of the PostgreSQL store as several nodes see it: two stores (two "nodes") on
// one database write concurrently while a follower reads the log; the follower must never see
// an id before every smaller id is visible (pg_store.cpp explains the mechanism).
#include <atomic>
#include <thread>

#include <boost/json.hpp>
#include <gtest/gtest.h>

#include "store/pg_store.h"
#include "support/pg_database.h"

namespace ablo::store {
namespace {

Delta delta_of(const std::string& node, int i) {
  Delta d;
  d.tenant = "org_1/live";
  d.model_name = "Note";
  d.model_id = node + "-" + std::to_string(i);
  d.data = boost::json::object{{"id", d.model_id}};
  d.sync_groups = {"org:org_1"};
  d.participant_id = node;
  return d;
}

TEST(PgLogTest, ConcurrentNodesProduceADenseLogThatFollowersNeverSeeOutOfOrder) {
  if (testing::test_database_url().empty()) GTEST_SKIP() << "ABLO_TEST_DATABASE_URL is not set";
  testing::TempPgDatabase database;
  auto node_a = open_pg_store(database.url());
  auto node_b = open_pg_store(database.url());
  auto follower = open_pg_store(database.url());
  ASSERT_TRUE(node_a && node_b && follower);

  constexpr int kTransactions = 150;  // per node, 1-3 deltas each, some rolled back
  std::atomic<bool> writing{true};
  auto write_many = [&](Store& store, const std::string& node) {
    for (int i = 0; i < kTransactions; ++i) {
      (void)store.write([&](WriteTransaction& txn) -> Status {
        for (int k = 0; k <= i % 3; ++k) {
          if (auto id = txn.append_delta(delta_of(node, i * 3 + k)); !id) return tl::unexpected(id.error());
        }
        if (i % 7 == 0) return fail("internal_error", "rolled back on purpose");
        return {};
      });
    }
  };
  std::thread a([&] { write_many(**node_a, "a"); });
  std::thread b([&] { write_many(**node_b, "b"); });

  int64_t last = 0;
  int64_t gaps = 0, read = 0;
  auto follow = [&] {
    auto page = (*follower)->read_log(last, 100);
    ASSERT_TRUE(page) << page.error().message;
    for (const auto& d : *page) {
      if (d.id != last + 1) ++gaps;
      last = d.id;
      ++read;
    }
  };
  std::thread stopper([&] {
    a.join();
    b.join();
    writing = false;
  });
  while (writing) follow();
  stopper.join();
  follow();
  follow();

  int expected = 0;
  for (int i = 0; i < kTransactions; ++i) expected += i % 7 == 0 ? 0 : (i % 3) + 1;
  EXPECT_EQ(gaps, 0);
  EXPECT_EQ(read, 2 * expected);
  EXPECT_EQ(last, 2 * expected);
  EXPECT_EQ(*(*follower)->head_sync_id(), last);
}

}  // namespace
}  // namespace ablo::store
