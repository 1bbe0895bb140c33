// The remaining core features of the native client library (issue 16; design §4, §6.1, §8.5,
// §9): fetch of rows outside the replica, the claim lapse timer, token refresh, a store file
// used against another server, and deltas whose persist failed.
#include <atomic>
#include <filesystem>
#include <mutex>
#include <thread>

#include <gtest/gtest.h>

#include "integration/sdk_support.h"
#include "integration/server_fixture.h"
#include "sdk/client.h"
#include "support/tcp_proxy.h"

namespace ablo::testing {
namespace {

using namespace std::chrono_literals;

// The quickstart model plus a lazy one: its rows are not in a bootstrap, only fetched.
constexpr const char* kLazySchema = R"({"v":3,"models":{"weatherReports":{"fields":{
  "location":{"type":"string","isOptional":false,"isIndexed":false},
  "status":{"type":"enum","enumValues":["pending","ready"],"isOptional":false,"isIndexed":false},
  "forecast":{"type":"string","isOptional":true,"isIndexed":false}},
  "relations":{},"load":"instant","typename":"weatherReports",
  "tenancy":{"kind":"column","column":"organization_id"},"plane":"tenant"},
  "notes":{"fields":{"text":{"type":"string","isOptional":false,"isIndexed":false}},
  "relations":{},"load":"lazy","typename":"notes",
  "tenancy":{"kind":"column","column":"organization_id"},"plane":"tenant"}},"identityRoles":[]})";

Options lazy_options(uint16_t port, const std::string& key, std::string store_path = ":memory:") {
  auto options = sdk_options(port, key, std::move(store_path));
  options.schema = kLazySchema;
  return options;
}

TEST(SdkFetchTest, RowsOutsideTheReplicaAreFetchedAddedAndKept) {
  ServerProcess server{kLazySchema};
  ScratchDir dir("ablo-sdk-fetch");
  {
    ablo::Client writer(lazy_options(server.port(), server.api_key()));
    writer.ready().wait();
    writer.model("notes").create({{"text", "first"}}, {.id = "n1"}).wait();
    writer.model("notes").create({{"text", "second"}}, {.id = "n2"}).wait();
    writer.model("notes").create({{"text", "third"}}, {.id = "n3"}).wait();
  }
  ablo::Client reader(lazy_options(server.port(), server.api_key(), dir.file("reader.db")));
  reader.ready().wait();
  auto notes = reader.model("notes");
  ASSERT_FALSE(notes.get("n1")) << "a lazy model is not bootstrapped";

  std::mutex seen_mutex;
  std::vector<std::pair<ChangeCause, std::vector<std::string>>> seen;
  auto observer = notes.query().observe([&](const QueryUpdate& update) {
    std::lock_guard lock(seen_mutex);
    seen.emplace_back(update.cause, update.added);
  });

  auto fetched = notes.fetch("n1").wait();
  ASSERT_TRUE(fetched);
  EXPECT_EQ(fetched->data.at("text").as_string(), "first");
  EXPECT_FALSE(fetched->pending);
  ASSERT_TRUE(notes.get("n1")) << "added to the replica";
  EXPECT_TRUE(eventually([&] {
    std::lock_guard lock(seen_mutex);
    for (const auto& [cause, added] : seen) {
      if (cause == ChangeCause::kRemote && added == std::vector<std::string>{"n1"}) return true;
    }
    return false;
  })) << "observers see the fetched row as a remote change";

  EXPECT_FALSE(notes.fetch("nobody").wait()) << "absent on the server";

  auto found = notes.fetch(notes.where("text", Op::kIn, boost::json::array{"second", "third"}).order_by("text", Direction::kDesc)).wait();
  ASSERT_EQ(found.size(), 2u);
  EXPECT_EQ(found[0].id, "n3");
  EXPECT_EQ(found[1].id, "n2");
  EXPECT_TRUE(notes.get("n2") && notes.get("n3"));
  auto windowed = notes.fetch(notes.query().order_by("text").offset(1).limit(1)).wait();
  ASSERT_EQ(windowed.size(), 1u);
  EXPECT_EQ(windowed[0].id, "n2") << "first < second < third: the offset skips one";

  // A fetched row is a confirmed row of the replica: writes to it work and it is in the file.
  notes.update("n1", {{"text", "first, edited"}}).wait();
  observer.cancel();
  reader.wait_for_flush(10s).wait();
}

TEST(SdkFetchTest, FetchedRowsAreStoredForTheNextStart) {
  ServerProcess server{kLazySchema};
  ScratchDir dir("ablo-sdk-fetch-store");
  {
    ablo::Client writer(lazy_options(server.port(), server.api_key()));
    writer.ready().wait();
    writer.model("notes").create({{"text", "kept"}}, {.id = "k1"}).wait();
  }
  {
    ablo::Client reader(lazy_options(server.port(), server.api_key(), dir.file("reader.db")));
    reader.ready().wait();
    ASSERT_TRUE(reader.model("notes").fetch("k1").wait());
  }
  ablo::Client again(lazy_options(server.port(), server.api_key(), dir.file("reader.db")));
  auto row = again.model("notes").get("k1");
  ASSERT_TRUE(row) << "loaded from the store file before any network";
  EXPECT_EQ(row->data.at("text").as_string(), "kept");
}

// Design §9 "Held": while connected the server renews the lease; once the socket is gone past
// the lease, the claim is lost locally (held() false, on_lost(claim_lost)) and the server has
// granted it to the next waiter.
TEST(SdkClaimLapseTest, AClaimLapsesLocallyWhenDisconnectedPastItsLease) {
  ServerProcess server{kLazySchema};
  TcpProxy proxy(server.port());
  ablo::Client a(lazy_options(proxy.port(), server.api_key()));
  ablo::Client b(lazy_options(server.port(), server.api_key()));
  a.ready().wait();
  b.ready().wait();
  a.model("weatherReports").create({{"location", "Oslo"}, {"status", "pending"}}, {.id = "job"}).wait();
  ASSERT_TRUE(eventually([&] { return b.model("weatherReports").get("job").has_value(); }));

  Claim claim = a.model("weatherReports").claim("job", {.ttl = 1s}).wait();
  std::atomic<int> lost{0};
  std::mutex error_mutex;
  std::string lost_code;
  claim.on_lost([&](const Error& error) {
    std::lock_guard lock(error_mutex);
    lost_code = error.code;
    ++lost;
  });
  std::this_thread::sleep_for(2500ms);  // more than two leases while connected
  EXPECT_TRUE(claim.held()) << "renewed while the socket is open";
  EXPECT_EQ(lost.load(), 0);

  proxy.refuse();
  ASSERT_TRUE(eventually([&] { return lost.load() == 1; })) << "lost locally once the lease ran out offline";
  EXPECT_FALSE(claim.held());
  {
    std::lock_guard lock(error_mutex);
    EXPECT_EQ(lost_code, "claim_lost");
  }
  auto refused = claim.update({{"location", "late"}}).wait_result();
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().code, "claim_lost");

  auto granted = b.model("weatherReports").claim("job", {.ttl = 30s, .timeout = 15s}).wait_result();
  ASSERT_TRUE(granted) << "the server let A's lease lapse: " << (granted ? "" : granted.error().message);
  EXPECT_TRUE(granted->held());

  proxy.restore();
  ASSERT_TRUE(eventually([&] { return a.status().state == ConnectionState::kConnected; }));
  EXPECT_FALSE(claim.held()) << "not re-announced after the reconnect";
  EXPECT_EQ(lost.load(), 1) << "on_lost once";
  ASSERT_TRUE(eventually([&] {
    const auto state = a.model("weatherReports").claim_state("job");
    return state && state->held_by == b.participant_id();
  }));
}

// D18 (design §6.1): a delta batch whose persist failed is not lost: the socket is reopened,
// catch-up starts at the persisted cursor, and the re-delivered deltas are stored then.
TEST(SdkPersistFaultTest, DeltasWhosePersistFailedAreStoredWhenReDelivered) {
  ServerProcess server{kLazySchema};
  ScratchDir dir("ablo-sdk-d18");
  std::atomic<int> failures_left{0};
  auto options = lazy_options(server.port(), server.api_key(), dir.file("a.db"));
  options.store_fault_for_test = [&failures_left](std::string_view point) -> Status {
    if (point != "apply_delta_batch:rows") return {};
    int left = failures_left.load();
    while (left > 0 && !failures_left.compare_exchange_weak(left, left - 1)) {
    }
    if (left <= 0) return {};
    Error error;
    error.code = "internal_error";
    error.message = "injected: disk full";
    return tl::unexpected(error);
  };
  int64_t head = 0;
  {
    ablo::Client a(options);
    ablo::Client b(lazy_options(server.port(), server.api_key()));
    a.ready().wait();
    b.ready().wait();
    failures_left = 1;
    for (int i = 0; i < 3; ++i) {
      auto receipt = b.model("weatherReports").create({{"location", "r" + std::to_string(i)}, {"status", "ready"}}, {.id = "r" + std::to_string(i)}).wait();
      head = receipt.last_sync_id;
    }
    ASSERT_TRUE(eventually([&] { return a.model("weatherReports").query().count().value_or(0) == 3; }));
    ASSERT_TRUE(eventually([&] { return a.status().cursor >= head; })) << "persisted up to the head after the failure";
    EXPECT_EQ(failures_left.load(), 0) << "the fault was hit";
  }
  // The file alone, with no server to catch up from: every row is on disk.
  TcpProxy nowhere(server.port());
  nowhere.refuse();
  auto offline = lazy_options(nowhere.port(), server.api_key(), dir.file("a.db"));
  ablo::Client again(offline);
  EXPECT_EQ(again.status().cursor, head);
  for (int i = 0; i < 3; ++i) EXPECT_TRUE(again.model("weatherReports").get("r" + std::to_string(i))) << "r" << i << " was stored";
}

// Design §3.6 row 4: a store file used against another server keeps none of the first server's
// rows (rebuilt from the new server's bootstrap, StoreEvent kServerChanged) and, being the same
// participant's, replays its unsent writes there.
TEST(SdkIdentityTest, AStoreFileUsedAgainstAnotherServerIsRebuiltAndKeepsItsUnsentWrites) {
  ServerProcess first{kLazySchema};
  ServerProcess second{kLazySchema};
  ScratchDir dir("ablo-sdk-identity");
  const auto path = dir.file("client.db");
  std::string participant;
  {
    TcpProxy proxy(first.port());
    ablo::Client a(lazy_options(proxy.port(), first.api_key(), path));
    a.ready().wait();
    a.model("weatherReports").create({{"location", "first"}, {"status", "ready"}}, {.id = "on-first"}).wait();
    participant = a.participant_id();
    proxy.refuse();
    ASSERT_TRUE(eventually([&] { return a.status().state == ConnectionState::kReconnecting; }));
    (void)a.model("weatherReports").create({{"location", "queued"}, {"status", "pending"}}, {.id = "queued"});
    EXPECT_EQ(a.status().pending_writes, 1u);
  }
  std::mutex events_mutex;
  std::vector<StoreEvent> events;
  ablo::Client b(lazy_options(second.port(), second.api_key(), path));
  auto listener = b.on_store_event([&](const StoreEvent& e) {
    std::lock_guard lock(events_mutex);
    events.push_back(e);
  });
  ASSERT_TRUE(eventually([&] {
    std::lock_guard lock(events_mutex);
    return !events.empty();
  }));
  {
    std::lock_guard lock(events_mutex);
    EXPECT_EQ(events.front().kind, StoreEvent::Kind::kServerChanged);
    EXPECT_EQ(events.front().outbox_kept, 1u);
    EXPECT_NE(events.front().detail.find("127.0.0.1"), std::string::npos) << events.front().detail;
  }
  ASSERT_TRUE(eventually([&] { return !b.model("weatherReports").get("on-first"); })) << "the first server's rows are gone";
  EXPECT_EQ(b.participant_id(), participant) << "the store's participant again";
  ASSERT_TRUE(eventually([&] {
    const auto row = b.model("weatherReports").get("queued");
    return row && !row->pending;
  })) << "the unsent write replayed on the second server and confirmed";
  ablo::Client reader(lazy_options(second.port(), second.api_key()));
  reader.ready().wait();
  EXPECT_TRUE(reader.model("weatherReports").get("queued").has_value());
  EXPECT_FALSE(reader.model("weatherReports").get("on-first").has_value());
  EXPECT_EQ(b.model("weatherReports").query().count().value_or(0), 1u);
}

// Design §4 step 2: the token is refreshed before it expires (the server caps its lifetime at
// 4 s here), the socket stays open, and calls after the first token's end use the new one.
TEST(SdkTokenRefreshTest, TheTokenIsRefreshedBeforeItExpiresWithoutDroppingTheSocket) {
  ServerProcess server(kLazySchema, "", {"--max-capability-ttl", "4"});
  {
    ablo::Client writer(lazy_options(server.port(), server.api_key()));
    writer.ready().wait();
    writer.model("notes").create({{"text", "late read"}}, {.id = "n1"}).wait();
  }
  TcpProxy proxy(server.port());
  ablo::Client a(lazy_options(proxy.port(), server.api_key()));
  a.ready().wait();
  ASSERT_TRUE(eventually([&] { return a.status().state == ConnectionState::kConnected; }));
  const auto participant = a.participant_id();
  std::atomic<int> drops{0};
  auto status = a.on_status([&](const ConnectionStatus& s) {
    if (s.state != ConnectionState::kConnected) ++drops;
  });
  auto exchanges = [&] {
    std::size_t count = 0;
    for (const auto& upstream : proxy.captured_upstream()) {
      if (upstream.starts_with("POST /api/auth/capability")) ++count;
    }
    return count;
  };
  EXPECT_EQ(exchanges(), 1u);
  std::this_thread::sleep_for(7s);  // almost two lifetimes of the first token
  EXPECT_GE(exchanges(), 3u) << "refreshed every ~2 s (lifetime 4 s, at most half of it ahead)";
  EXPECT_EQ(drops.load(), 0) << "the socket stayed open";
  EXPECT_EQ(a.participant_id(), participant) << "a refresh is the same participant";
  auto fetched = a.model("notes").fetch("n1").wait_result();
  ASSERT_TRUE(fetched) << "an HTTP call with the refreshed token: " << (fetched ? "" : fetched.error().message);
  EXPECT_TRUE(fetched->has_value());
  a.model("weatherReports").create({{"location", "after"}, {"status", "ready"}}, {.id = "after"}).wait();
}

}  // namespace
}  // namespace ablo::testing
