// The native client library when the server it knew is gone (issue 16 "server restarted with a
// wiped database"; design §6.5): the client notices the new store identity, rebuilds its replica
// from the new server, and keeps the writes it had not sent yet.
#include <atomic>
#include <memory>
#include <mutex>

#include <gtest/gtest.h>

#include "integration/quickstart_schema.h"
#include "integration/sdk_support.h"
#include "integration/server_fixture.h"
#include "sdk/client.h"
#include "support/tcp_proxy.h"

namespace ablo::testing {
namespace {

using namespace std::chrono_literals;

bool confirmed(Pending<Receipt>& write) {
  auto result = write.wait_for(20s);
  return result && result->has_value();
}

// The server is replaced by one on an empty database behind the same address (a restart after
// the data was wiped: its keys are new too, so the application hands the client the new one).
// Rows of the old server disappear from the replica; the two rows created offline reach the new
// server; the offline update of a row the new server never had is refused there and rolled
// back; nothing is written twice.
TEST(SdkRecoveryTest, AWipedServerIsRebuiltFromAndUnsentWritesAreKept) {
  ScratchDir dir("ablo-sdk-wiped");
  auto old_server = std::make_unique<ServerProcess>(kQuickstartSchema);
  TcpProxy proxy(old_server->port());
  ablo::Client a(sdk_options(proxy.port(), old_server->api_key(), dir.file("client.db")));
  std::mutex mutex;
  std::vector<StoreEvent> store_events;
  std::vector<MutationFailure> failures;
  auto events = a.on_store_event([&](const StoreEvent& e) {
    std::lock_guard lock(mutex);
    store_events.push_back(e);
  });
  auto refused = a.on_mutation_failure([&](const MutationFailure& f) {
    std::lock_guard lock(mutex);
    failures.push_back(f);
  });
  a.ready().wait();
  auto reports = a.model("weatherReports");
  for (const char* id : {"old-1", "old-2", "old-3"}) {
    reports.create({{"location", id}, {"status", "ready"}}, {.id = id}).wait();
  }

  proxy.refuse();
  ASSERT_TRUE(eventually([&] { return a.status().state == ConnectionState::kReconnecting; }));
  auto first = reports.create({{"location", "Oslo"}, {"status", "pending"}}, {.id = "offline-1"});
  auto second = reports.create({{"location", "Bergen"}, {"status", "pending"}}, {.id = "offline-2"});
  auto orphan = reports.update("old-1", {{"status", "pending"}});
  old_server.reset();  // stopped, its data directory (or database) gone
  ServerProcess fresh(kQuickstartSchema);
  proxy.retarget(fresh.port());
  proxy.restore();
  a.set_auth_token(fresh.api_key());

  EXPECT_TRUE(confirmed(first));
  EXPECT_TRUE(confirmed(second));
  auto orphan_result = orphan.wait_for(20s);
  ASSERT_TRUE(orphan_result);
  ASSERT_FALSE(*orphan_result) << "the new server has no row old-1";
  EXPECT_NE(orphan_result->error().code.find("not_found"), std::string::npos) << orphan_result->error().code;

  EXPECT_TRUE(eventually([&] { return reports.query().count().value_or(0) == 2; }));
  EXPECT_FALSE(reports.get("old-2")) << "the old server's rows are gone from the replica";
  EXPECT_TRUE(reports.get("offline-1") && reports.get("offline-2"));
  EXPECT_EQ(a.status().pending_writes, 0u);
  {
    std::lock_guard lock(mutex);
    ASSERT_FALSE(store_events.empty());
    EXPECT_EQ(store_events.front().kind, StoreEvent::Kind::kServerChanged) << store_events.front().detail;
    EXPECT_EQ(store_events.front().outbox_kept, 3u) << "two creates and the update, all unsent";
    ASSERT_EQ(failures.size(), 1u);
    EXPECT_EQ(failures.front().id, "old-1");
    EXPECT_TRUE(failures.front().rolled_back);
  }

  ablo::Client b(sdk_options(fresh.port(), fresh.api_key()));
  b.ready().wait();
  EXPECT_EQ(*b.model("weatherReports").query().count(), 2u) << "each offline create reached the new server once";
}

}  // namespace
}  // namespace ablo::testing
