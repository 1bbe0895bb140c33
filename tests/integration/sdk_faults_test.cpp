// The native client library against faults (issue 16 "Bad input and faults"; design §14.2): an
// answer lost after the server applied a commit, a queued offline write the server refuses on
// replay, a gap too old to catch up, a corrupt local store file, 10,000 queued offline writes,
// a clock two hours off the server's.
#include <atomic>
#include <filesystem>
#include <fstream>
#include <thread>

#include <gtest/gtest.h>

#include "common/time.h"
#include "integration/quickstart_schema.h"
#include "integration/sdk_support.h"
#include "integration/server_fixture.h"
#include "integration/sync_client.h"
#include "sdk/client.h"
#include "support/tcp_proxy.h"

namespace ablo::testing {
namespace {

using namespace std::chrono_literals;
namespace json = boost::json;

// Every delta after the first one in the server's log that touched `row_id` (a raw 0.9.1-style
// socket catching up from delta 1).
std::size_t deltas_touching(ServerProcess& server, const std::string& row_id) {
  auto reader = Client::connect(server, 1);
  std::size_t count = 0;
  for (const auto& delta : deltas_in(reader.first_sync)) {
    if (delta.at("modelId").as_string() == row_id) ++count;
  }
  return count;
}

class SdkFaultsTest : public ::testing::Test {
 protected:
  ServerProcess server{kQuickstartSchema};
};

// The server applied the commit, the answer never came (the path swallowed it, then broke): the
// client re-sends the same frame on its next socket and the server answers from its record.
TEST_F(SdkFaultsTest, AnAnswerLostAfterTheServerAppliedTheCommitIsReplayedExactlyOnce) {
  TcpProxy proxy(server.port());
  ablo::Client a(sdk_options(proxy.port(), server.api_key()));
  a.ready().wait();
  auto reports = a.model("weatherReports");
  reports.create({{"location", "first"}, {"status", "ready"}}, {.id = "sentinel"}).wait();  // delta 1

  proxy.hold_downstream();
  auto write = reports.create({{"location", "Oslo"}, {"status", "ready"}}, {.id = "once"});
  ASSERT_TRUE(eventually([&] { return deltas_touching(server, "once") == 1; })) << "the server applied it";
  EXPECT_FALSE(write.ready()) << "the answer was swallowed";
  proxy.cut();
  proxy.restore();
  auto receipt = write.wait_for(20s);
  ASSERT_TRUE(receipt && *receipt) << "confirmed after the reconnect";
  EXPECT_GT((*receipt)->last_sync_id, 1);
  EXPECT_EQ(deltas_touching(server, "once"), 1u) << "the re-sent frame was not applied twice";
  EXPECT_EQ(a.status().pending_writes, 0u);
}

// A write queued offline was made from a version another participant has since replaced: on
// replay the server refuses it (stale_context); the client rolls it back to the other's value
// and reports it, and the rest of the queue goes through.
TEST_F(SdkFaultsTest, AQueuedOfflineWriteRefusedOnReplayIsRolledBackAndReported) {
  TcpProxy proxy(server.port());
  ablo::Client a(sdk_options(proxy.port(), server.api_key()));
  ablo::Client b(sdk_options(server.port(), server.api_key()));
  a.ready().wait();
  b.ready().wait();
  std::mutex mutex;
  std::vector<MutationFailure> failures;
  auto failures_seen = a.on_mutation_failure([&](const MutationFailure& f) {
    std::lock_guard lock(mutex);
    failures.push_back(f);
  });
  a.model("weatherReports").create({{"location", "Oslo"}, {"status", "pending"}}, {.id = "r"}).wait();
  ASSERT_TRUE(eventually([&] { return b.model("weatherReports").get("r").has_value(); }));

  proxy.refuse();
  ASSERT_TRUE(eventually([&] { return a.status().state == ConnectionState::kReconnecting; }));
  auto stale = a.model("weatherReports").update("r", {{"status", "ready"}});
  auto fine = a.model("weatherReports").create({{"location", "Bergen"}, {"status", "ready"}}, {.id = "fine"});
  b.model("weatherReports").update("r", {{"location", "Tromsø"}}).wait();
  proxy.restore();

  auto refused = stale.wait_for(20s);
  ASSERT_TRUE(refused);
  ASSERT_FALSE(*refused);
  EXPECT_EQ(refused->error().code, "stale_context");
  ASSERT_TRUE(fine.wait_for(20s).value_or(Result<Receipt>(tl::unexpected(Error()))))
      << "batched with the refused write, but innocent: sent again on its own";
  const auto row = a.model("weatherReports").get("r");
  ASSERT_TRUE(row);
  EXPECT_EQ(row->data.at("status"), "pending") << "rolled back";
  EXPECT_EQ(row->data.at("location"), "Tromsø") << "to the other participant's version";
  ASSERT_TRUE(eventually([&] {
    std::lock_guard lock(mutex);
    return failures.size() == 1;
  }));
  std::lock_guard lock(mutex);
  EXPECT_EQ(failures.front().id, "r");
  EXPECT_EQ(failures.front().error.code, "stale_context");
  EXPECT_TRUE(failures.front().rolled_back);
}

// "Gap too old" (design §6.4, server --max-catch-up-deltas): the client re-bootstraps instead of
// replaying the gap, keeps its unsent write, and reports the rebuild; a short gap is caught up.
TEST(SdkGapTest, AGapTooOldRebootstrapsAndKeepsUnsentWrites) {
  ServerProcess server(kQuickstartSchema, "", {"--max-catch-up-deltas", "5"});
  TcpProxy proxy(server.port());
  ablo::Client a(sdk_options(proxy.port(), server.api_key()));
  ablo::Client b(sdk_options(server.port(), server.api_key()));
  a.ready().wait();
  b.ready().wait();
  std::atomic<int> rebuilds{0};
  auto events = a.on_store_event([&](const StoreEvent& e) {
    if (e.kind == StoreEvent::Kind::kRebootstrapped) ++rebuilds;
  });
  auto write_from_b = [&](int from, int count) {
    for (int i = from; i < from + count; ++i) {
      b.model("weatherReports").create({{"location", "b" + std::to_string(i)}, {"status", "ready"}}, {.id = "b" + std::to_string(i)}).wait();
    }
  };

  proxy.refuse();
  ASSERT_TRUE(eventually([&] { return a.status().state == ConnectionState::kReconnecting; }));
  write_from_b(0, 3);
  proxy.restore();
  ASSERT_TRUE(eventually([&] { return a.model("weatherReports").query().count().value_or(0) == 3; }));
  EXPECT_EQ(rebuilds.load(), 0) << "three deltas are caught up";

  proxy.refuse();
  ASSERT_TRUE(eventually([&] { return a.status().state == ConnectionState::kReconnecting; }));
  write_from_b(3, 10);
  auto mine = a.model("weatherReports").create({{"location", "a"}, {"status", "ready"}}, {.id = "a-offline"});
  proxy.restore();
  ASSERT_TRUE(mine.wait_for(20s).value_or(Result<Receipt>(tl::unexpected(Error())))) << "the unsent write survived";
  EXPECT_TRUE(eventually([&] { return rebuilds.load() == 1; }));
  EXPECT_TRUE(eventually([&] { return a.model("weatherReports").query().count().value_or(0) == 14; }));
  EXPECT_TRUE(eventually([&] { return b.model("weatherReports").get("a-offline").has_value(); }));
}

// A store file that is not a database: moved aside and replaced (kRecreate), or refused with
// the file untouched (kFail) — design §3.6.
TEST_F(SdkFaultsTest, ACorruptStoreFileIsMovedAsideOrRefusedUntouched) {
  ScratchDir dir("ablo-sdk-corrupt");
  const std::string path = dir.file("client.db");
  const std::string garbage(8192, '\x5a');
  std::ofstream(path, std::ios::binary) << garbage;

  auto refusing = sdk_options(server.port(), server.api_key(), path);
  refusing.on_bad_store = StoreRecovery::kFail;
  try {
    ablo::Client refused(refusing);
    ADD_FAILURE() << "a corrupt file must not open with kFail";
  } catch (const Exception& e) {
    EXPECT_EQ(e.code(), "db_not_opened");
  }
  std::ifstream kept(path, std::ios::binary);
  EXPECT_EQ(std::string(std::istreambuf_iterator<char>(kept), {}), garbage) << "untouched";

  std::atomic<bool> recreated{false};
  auto recovering = sdk_options(server.port(), server.api_key(), path);
  recovering.on_bad_store = StoreRecovery::kRecreate;
  ablo::Client client(recovering);
  auto events = client.on_store_event([&](const StoreEvent& e) {
    if (e.kind == StoreEvent::Kind::kRecreated && !e.moved_to.empty()) recreated = true;
  });
  client.ready().wait();
  client.model("weatherReports").create({{"location", "Oslo"}, {"status", "ready"}}).wait();
  EXPECT_EQ(*client.model("weatherReports").query().count(), 1u);
  bool moved_aside = false;
  for (const auto& entry : std::filesystem::directory_iterator(dir.path)) {
    moved_aside |= entry.path().filename().string().starts_with("client.db.bad-");
  }
  EXPECT_TRUE(moved_aside) << "the bad file is kept beside the new one";
}

// 10,000 writes made offline from four threads, the process restarted halfway: all visible
// locally, all replayed in ≤ 50-op frames, all confirmed, the other client converges.
TEST_F(SdkFaultsTest, TenThousandOfflineWritesSurviveARestartAndReplay) {
  ScratchDir dir("ablo-sdk-10k");
  const std::string path = dir.file("client.db");
  TcpProxy proxy(server.port());
  {
    ablo::Client warm(sdk_options(proxy.port(), server.api_key(), path));
    warm.ready().wait();
  }
  proxy.refuse();
  constexpr int kThreads = 4;
  // 2,000 creates (400 under sanitizers: the same paths, five times cheaper).
  constexpr int kRowsPerThread = kSanitizedBuild ? 100 : 500;
  constexpr int kUpdatesPerRow = 4;        // 8,000 updates
  auto write_half = [&](int first_round, int rounds) {
    ablo::Client a(sdk_options(proxy.port(), server.api_key(), path));
    std::vector<std::thread> writers;
    for (int t = 0; t < kThreads; ++t) {
      writers.emplace_back([&, t] {
        auto reports = a.model("weatherReports");
        for (int i = 0; i < kRowsPerThread; ++i) {
          const std::string id = "t" + std::to_string(t) + "-" + std::to_string(i);
          for (int round = first_round; round < first_round + rounds; ++round) {
            if (round == 0) {
              (void)reports.create({{"location", id}, {"status", "pending"}}, {.id = id});
            } else {
              (void)reports.update(id, {{"location", id + "-v" + std::to_string(round)}},
                                   {.idempotency_key = "k-" + id + "-" + std::to_string(round)});
            }
          }
        }
      });
    }
    for (auto& writer : writers) writer.join();
  };
  write_half(0, 3);  // creates + 2 updates each, then the process ends
  write_half(3, 2);  // 2 more updates each in the next process

  ablo::Client a(sdk_options(proxy.port(), server.api_key(), path));
  EXPECT_EQ(a.status().pending_writes, static_cast<std::size_t>(kThreads * kRowsPerThread * (1 + kUpdatesPerRow)))
      << "idempotency keys keep every update its own entry";
  EXPECT_EQ(a.model("weatherReports").get("t2-7")->data.at("location"), "t2-7-v4");
  proxy.restore();
  ASSERT_TRUE(a.wait_for_flush(120s).wait_result()) << "all replayed and confirmed";
  ablo::Client b(sdk_options(server.port(), server.api_key()));
  b.ready().wait();
  EXPECT_EQ(*b.model("weatherReports").query().count(), static_cast<std::size_t>(kThreads * kRowsPerThread));
  const std::string last = "t3-" + std::to_string(kRowsPerThread - 1);
  EXPECT_EQ(std::string(b.model("weatherReports").get(last)->data.at("location").as_string()), last + "-v4");
  bool frames_bounded = true;
  for (const auto& connection : proxy.captured_upstream()) {
    for (const auto& text : TcpProxy::websocket_client_texts(connection)) {
      auto frame = json::parse(text).as_object();
      if (frame.at("type") == "commit") frames_bounded &= frame.at("payload").at("operations").as_array().size() <= 50;
    }
  }
  EXPECT_TRUE(frames_bounded) << "≤ 50 operations per frame";
}

// Clock skew (design §8.5): this machine's clock two hours behind, then ahead of, the server's.
// The offset is measured from the server's answers; the optimistic createdAt is in server time;
// the token (4 s lifetimes here) is refreshed on the server's schedule — not in a loop, not too
// late: a write after the first token's end still goes through.
TEST(SdkClockSkewTest, AClockTwoHoursOffIsMeasuredAndChangesNothing) {
  ServerProcess server(kQuickstartSchema, "", {"--max-capability-ttl", "4"});
  for (const auto skew : {-2h, 2h}) {
    SCOPED_TRACE(skew.count());
    TcpProxy proxy(server.port());
    auto options = sdk_options(proxy.port(), server.api_key());
    options.clock = [skew] { return Clock::now() + skew; };
    ablo::Client a(options);
    a.ready().wait();
    EXPECT_NEAR(a.status().clock_offset.count(), std::chrono::milliseconds(-skew).count(), 5000);

    const std::string id = "skewed" + std::to_string(skew.count());
    auto write = a.model("weatherReports").create({{"location", "Oslo"}, {"status", "ready"}}, {.id = id});
    const auto optimistic = a.model("weatherReports").get(id);
    ASSERT_TRUE(optimistic);
    const auto created = parse_iso8601_ms(std::string(optimistic->data.at("createdAt").as_string()));
    ASSERT_TRUE(created);
    EXPECT_NEAR(static_cast<double>(*created), static_cast<double>(now_ms()), 5000) << "server time, not this clock";
    EXPECT_TRUE(write.wait_result());

    std::this_thread::sleep_for(5s);  // past the first token's end
    std::size_t exchanges = 0;
    for (const auto& upstream : proxy.captured_upstream()) exchanges += upstream.starts_with("POST /api/auth/capability");
    EXPECT_GE(exchanges, 2u) << "refreshed before it expired";
    EXPECT_LE(exchanges, 5u) << "about every 2 s, not in a loop";
    EXPECT_TRUE(a.model("weatherReports").create({{"location", "Bergen"}, {"status", "ready"}}).wait_result());
  }
}

}  // namespace
}  // namespace ablo::testing
