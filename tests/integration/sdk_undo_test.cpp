// Undo/redo of the native client library against the real server (design docs/client-library.md
// §10, §14.3 item 6): an undo reaches the server and the other client sees it (D19); undo of a
// create removes the row, undo of a delete re-creates it (T50); skip-stale vs last-writer-wins
// against another client's edit (T51); a refused inverse keeps its entry; a group of three
// writes is one entry; redo.
#include <chrono>

#include <gtest/gtest.h>

#include "integration/quickstart_schema.h"
#include "integration/sdk_support.h"
#include "integration/server_fixture.h"
#include "sdk/client.h"
#include "support/tcp_proxy.h"

namespace ablo::testing {
namespace {

using namespace std::chrono_literals;

const JsonObject kOslo{{"location", "Oslo"}, {"status", "pending"}};

class SdkUndoTest : public ::testing::Test {
 protected:
  // A created row `id`, confirmed, and seen by B.
  void seed(const std::string& id, JsonObject data = kOslo) {
    a_reports.create(std::move(data), {.id = id}).wait();
    ASSERT_TRUE(eventually([&] { return b_reports.get(id).has_value(); }));
  }
  // B's replica shows `field` of row `id` as `value` (null: absent or null).
  bool b_sees(const std::string& id, const std::string& field, const Json& value) {
    const auto row = b_reports.get(id);
    if (!row) return false;
    const auto* current = row->data.if_contains(field);
    return current ? *current == value : value.is_null();
  }
  bool a_sees(const std::string& id, const std::string& field, const Json& value) {
    const auto row = a_reports.get(id);
    if (!row) return false;
    const auto* current = row->data.if_contains(field);
    return current ? *current == value : value.is_null();
  }

  ServerProcess server{kQuickstartSchema};
  TcpProxy proxy{server.port()};
  ablo::Client a{sdk_options(proxy.port(), server.api_key())};  // through the proxy (taken offline in one test)
  ablo::Client b{sdk_options(server.port(), server.api_key())};
  ModelHandle a_reports = a.model("weatherReports");
  ModelHandle b_reports = b.model("weatherReports");
  void SetUp() override {
    a.ready().wait();
    b.ready().wait();
  }
};

TEST_F(SdkUndoTest, UndoOfAnUpdateReachesTheServerAndRedoReappliesIt) {
  auto scope = a.undo().scope("edits", {.record_all = true});
  seed("r1");
  ASSERT_EQ(scope.undo_size(), 1u);
  scope.clear();
  a_reports.update("r1", {{"forecast", "sun"}, {"status", "ready"}}).wait();
  ASSERT_TRUE(eventually([&] { return b_sees("r1", "forecast", "sun"); }));
  // B's writes are remote to A: never recorded (T54).
  b_reports.update("r1", {{"location", "Bergen"}}).wait();
  ASSERT_TRUE(eventually([&] { return a_sees("r1", "location", "Bergen"); }));
  EXPECT_EQ(scope.undo_size(), 1u);

  const UndoResult undone = scope.undo().wait();
  EXPECT_EQ(undone.applied, 1u);
  ASSERT_EQ(undone.receipts.size(), 1u);
  EXPECT_GT(undone.receipts[0].last_sync_id, 0);
  EXPECT_TRUE(undone.skipped_fields.empty());
  EXPECT_TRUE(eventually([&] { return b_sees("r1", "forecast", nullptr) && b_sees("r1", "status", "pending"); }))
      << "D19: the undo of an update reached the server";
  EXPECT_TRUE(b_sees("r1", "location", "Bergen")) << "B's own field untouched";
  EXPECT_EQ(scope.undo_size(), 0u);
  EXPECT_EQ(scope.redo_size(), 1u);

  const UndoResult redone = scope.redo().wait();
  EXPECT_EQ(redone.applied, 1u);
  EXPECT_TRUE(eventually([&] { return b_sees("r1", "forecast", "sun") && b_sees("r1", "status", "ready"); }));
  EXPECT_EQ(scope.undo_size(), 1u);
  EXPECT_FALSE(scope.can_redo());
}

TEST_F(SdkUndoTest, UndoOfCreateRemovesTheRowUndoOfDeleteRecreatesIt) {
  auto scope = a.undo().scope("rows");
  a_reports.create(kOslo, {{.undo_scope = "rows"}, "created"}).wait();
  ASSERT_TRUE(eventually([&] { return b_reports.get("created").has_value(); }));
  scope.undo().wait();
  EXPECT_TRUE(eventually([&] { return !b_reports.get("created").has_value(); })) << "T50: removed on the server";
  EXPECT_FALSE(a_reports.get("created"));

  seed("doomed", {{"location", "Tromsø"}, {"status", "ready"}, {"forecast", "snow"}});
  a_reports.remove("doomed", {.undo_scope = "rows"}).wait();
  ASSERT_TRUE(eventually([&] { return !b_reports.get("doomed").has_value(); }));
  const UndoResult undone = scope.undo().wait();
  EXPECT_EQ(undone.applied, 1u);
  ASSERT_TRUE(eventually([&] { return b_reports.get("doomed").has_value(); })) << "T50: re-created, same id";
  const auto back = *b_reports.get("doomed");
  EXPECT_EQ(back.data.at("location").as_string(), "Tromsø");
  EXPECT_EQ(back.data.at("status").as_string(), "ready");
  EXPECT_EQ(back.data.at("forecast").as_string(), "snow");
  EXPECT_EQ(back.data.at("id").as_string(), "doomed");
  // createdAt is the server's: sent back, it is stamped anew (not a declared field).

  scope.redo().wait();  // the delete again
  EXPECT_TRUE(eventually([&] { return !b_reports.get("doomed").has_value(); }));
}

TEST_F(SdkUndoTest, SkipStaleLeavesAnotherClientsFieldLastWriterWinsOverwritesIt) {
  auto skip = a.undo().scope("skip");
  auto lww = a.undo().scope("lww", {.conflict_policy = ConflictPolicy::kLastWriterWins});
  for (const auto& [id, scope_name] : {std::pair{"s1", "skip"}, std::pair{"s2", "lww"}}) {
    const std::string row_id = id;
    seed(row_id);
    a_reports.update(row_id, {{"location", "A-town"}, {"forecast", "rain"}}, {.undo_scope = scope_name}).wait();
    ASSERT_TRUE(eventually([&] { return b_sees(row_id, "location", "A-town"); }));
    b_reports.update(row_id, {{"location", "B-town"}}).wait();
    ASSERT_TRUE(eventually([&] { return a_sees(row_id, "location", "B-town"); }));
  }

  const UndoResult skipped = skip.undo().wait();
  ASSERT_EQ(skipped.skipped_fields.size(), 1u);
  EXPECT_EQ(skipped.skipped_fields[0], "weatherReports/s1.location");
  EXPECT_EQ(skipped.applied, 1u);
  EXPECT_TRUE(eventually([&] { return b_sees("s1", "forecast", nullptr); })) << "my field undone";
  EXPECT_TRUE(b_sees("s1", "location", "B-town")) << "T51: B's later edit kept";

  const UndoResult overwritten = lww.undo().wait();
  EXPECT_TRUE(overwritten.skipped_fields.empty());
  EXPECT_TRUE(eventually([&] { return b_sees("s2", "location", "Oslo") && b_sees("s2", "forecast", nullptr); }))
      << "last-writer-wins restores my previous values over B's";
}

TEST_F(SdkUndoTest, AnInverseTheServerRefusesKeepsTheEntry) {
  auto scope = a.undo().scope("refused", {.conflict_policy = ConflictPolicy::kLastWriterWins});
  seed("r1");
  a_reports.update("r1", {{"forecast", "fog"}}, {.undo_scope = "refused"}).wait();
  ASSERT_TRUE(eventually([&] { return b_sees("r1", "forecast", "fog"); }));
  // A goes offline; B changes the row; A's undo is made from the version A last saw.
  proxy.refuse();
  proxy.cut();
  ASSERT_TRUE(eventually([&] { return a.status().state == ConnectionState::kReconnecting; }));
  b_reports.update("r1", {{"forecast", "clear"}}).wait();
  auto undo = scope.undo();
  EXPECT_TRUE(a_sees("r1", "forecast", nullptr)) << "applied optimistically";
  proxy.restore();
  const auto refused = undo.wait_result();
  ASSERT_FALSE(refused) << "readAt older than B's write";
  EXPECT_EQ(refused.error().code, "stale_context");
  EXPECT_EQ(scope.undo_size(), 1u) << "the entry stays on the undo stack";
  EXPECT_EQ(scope.redo_size(), 0u);
  EXPECT_TRUE(eventually([&] { return a_sees("r1", "forecast", "clear"); })) << "rolled back to B's value";
  EXPECT_TRUE(b_sees("r1", "forecast", "clear"));

  // Retrying now (A has seen B's write) succeeds under last-writer-wins.
  scope.undo().wait();
  EXPECT_TRUE(eventually([&] { return b_sees("r1", "forecast", nullptr); }));
  EXPECT_EQ(scope.undo_size(), 0u);
}

TEST_F(SdkUndoTest, AGroupOfThreeWritesIsOneEntry) {
  auto scope = a.undo().scope("gesture");
  seed("g1");
  seed("g2");
  std::vector<Pending<Receipt>> writes;
  {
    auto group = scope.begin_group("bulk edit");
    writes.push_back(a_reports.update("g1", {{"status", "ready"}}, {.undo_scope = "gesture"}));
    writes.push_back(a_reports.update("g2", {{"status", "ready"}}, {.undo_scope = "gesture"}));
    writes.push_back(a_reports.create({{"location", "Alta"}, {"status", "ready"}}, {{.undo_scope = "gesture"}, "g3"}));
  }
  for (auto& write : writes) write.wait();
  ASSERT_EQ(scope.undo_size(), 1u);
  ASSERT_TRUE(eventually([&] { return b_reports.get("g3").has_value(); }));

  const UndoResult undone = scope.undo().wait();
  EXPECT_EQ(undone.label, "bulk edit");
  EXPECT_EQ(undone.applied, 3u);
  EXPECT_EQ(undone.receipts.size(), 3u);
  EXPECT_TRUE(eventually([&] {
    return !b_reports.get("g3") && b_sees("g1", "status", "pending") && b_sees("g2", "status", "pending");
  }));

  const UndoResult redone = scope.redo().wait();
  EXPECT_EQ(redone.applied, 3u);
  EXPECT_TRUE(eventually([&] {
    return b_reports.get("g3") && b_sees("g1", "status", "ready") && b_sees("g2", "status", "ready");
  }));
}

}  // namespace
}  // namespace ablo::testing
