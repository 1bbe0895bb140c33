// The PostgreSQL store's writer across an outage of the database: a write that finds the
// database gone fails retryably (kStoreUnavailable) and applies nothing, the store survives it,
// and the first write after the database is back succeeds on a fresh connection. Both ways a
// write starts are covered: the unbatched one (BEGIN with the first statement) and the batched
// one (BEGIN riding with the group's reads, WriteTransaction::begin_batch).
#include <functional>

#include <gtest/gtest.h>

#include "common/error_code.h"
#include "store/pg_store.h"
#include "support/pg_database.h"
#include "support/private_postgres.h"

namespace ablo::store {
namespace {

Delta outage_delta(const std::string& id) {
  Delta d;
  d.tenant = "org_1/outage";
  d.model_name = "Note";
  d.model_id = id;
  d.data = boost::json::object{{"id", id}};
  d.sync_groups = {"org:org_1"};
  d.participant_id = "writer";
  return d;
}

// One delta appended, after begin_batch when `batched`. `before_first_statement` runs inside the
// write before anything is sent: the writer took a connection that was healthy then.
Status append_one(Store& store, const std::string& id, bool batched,
                  const std::function<void()>& before_first_statement = [] {}) {
  return store.write([&](WriteTransaction& txn) -> Status {
    before_first_statement();
    if (batched) {
      if (auto began = txn.begin_batch({}); !began) return tl::unexpected(began.error());
    }
    auto appended = txn.append_delta(outage_delta(id));
    if (!appended) return tl::unexpected(appended.error());
    return {};
  });
}

class PgOutageTest : public ::testing::TestWithParam<bool> {};

TEST_P(PgOutageTest, AWriteDuringAnOutageFailsRetryablyAndTheWriterReconnectsAfterIt) {
  if (testing::test_database_url().empty()) GTEST_SKIP() << "ABLO_TEST_DATABASE_URL is not set";
  const bool batched = GetParam();
  testing::PrivatePostgres postgres;
  auto opened = open_pg_store(postgres.url());
  ASSERT_TRUE(opened) << opened.error().message;
  Store& store = **opened;
  ASSERT_TRUE(append_one(store, "before", batched));

  // The database goes away after the write took its (then healthy) connection: the first
  // statement finds it dead and no new one can be opened. The write fails without touching the
  // connection it replaced (a crash before: the transaction kept a pointer to the deleted one).
  auto during = append_one(store, "during", batched, [&] { postgres.stop(); });
  ASSERT_FALSE(during) << "a write was confirmed with the database down";
  EXPECT_EQ(during.error().code, kStoreUnavailable.view()) << during.error().message;  // retryable
  // A write that starts during the outage fails the same way.
  auto later = append_one(store, "later", batched);
  ASSERT_FALSE(later) << "a write was confirmed with the database down";
  EXPECT_EQ(later.error().code, kStoreUnavailable.view()) << later.error().message;

  postgres.start();
  ASSERT_TRUE(append_one(store, "after", batched));
  auto log = store.read_log(0, 10);
  ASSERT_TRUE(log) << log.error().message;
  ASSERT_EQ(log->size(), 2u) << "a write of the outage was applied";
  EXPECT_EQ((*log)[0].model_id, "before");
  EXPECT_EQ((*log)[1].model_id, "after");
}

INSTANTIATE_TEST_SUITE_P(WriteStarts, PgOutageTest, ::testing::Values(false, true),
                         [](const auto& info) { return info.param ? "Batched" : "Unbatched"; });

}  // namespace
}  // namespace ablo::store
