// U1 (docs/client-library.md §14.1): the replica's fold, deltas, rollback, rebase and indexes.
#include "sdk/replica.h"

#include <map>
#include <set>

#include <boost/json.hpp>
#include <gtest/gtest.h>
#include <rapidcheck.h>
#include <rapidcheck/gtest.h>

#include "sdk/sdk_test_schema.h"

namespace ablo::sdk_detail::replica_test_helpers {
namespace {

namespace json = boost::json;

JsonObject task_data(const std::string& title, const std::string& project = "p1") {
  return JsonObject{{"title", title}, {"projectId", project}, {"position", 1}, {"done", false}};
}

InboundDelta delta(int64_t id, char action, const std::string& row_id, JsonObject data, std::string model = "Task") {
  return InboundDelta{id, action, std::move(model), row_id, std::move(data)};
}

std::string title_of(const Replica& replica, const std::string& id) {
  auto row = replica.view("tasks", id);
  if (!row) return "<absent>";
  return std::string(row->data.at("title").as_string());
}

class ReplicaTest : public ::testing::Test {
 protected:
  Replica replica{sdk_test::sdk_test_schema()};
};

TEST_F(ReplicaTest, LoadBaseShowsTheConfirmedRowWithItsVersion) {
  ASSERT_TRUE(replica.load_base("tasks", "t1", task_data("a"), 7, false));
  auto row = replica.view("tasks", "t1");
  ASSERT_TRUE(row);
  EXPECT_EQ(row->version, 7);
  EXPECT_FALSE(row->pending);
  EXPECT_FALSE(row->archived);
  EXPECT_EQ(row->data.at("id"), "t1");
  EXPECT_EQ(row->model, "tasks");
  EXPECT_EQ(replica.row_count(), 1u);
  EXPECT_FALSE(replica.load_base("nope", "x", {}, 1, false));
}

TEST_F(ReplicaTest, FoldsEachPendingActionOverTheBase) {
  // create: visible at once, version 0, pending
  auto created = replica.add_pending("tasks", "t1", 1, Action::kCreate, task_data("new"));
  ASSERT_TRUE(created && *created);
  EXPECT_FALSE((*created)->before);
  ASSERT_TRUE((*created)->after);
  EXPECT_TRUE((*created)->after->pending);
  EXPECT_EQ((*created)->after->version, 0);

  // update: overwrites only the patched field
  replica.add_pending("tasks", "t1", 2, Action::kUpdate, JsonObject{{"title", "renamed"}});
  EXPECT_EQ(title_of(replica, "t1"), "renamed");
  EXPECT_EQ(replica.view("tasks", "t1")->data.at("projectId"), "p1");

  // archive / unarchive
  replica.add_pending("tasks", "t1", 3, Action::kArchive, JsonObject{{"archivedAt", "2026-01-01T00:00:00Z"}});
  EXPECT_TRUE(replica.view("tasks", "t1")->archived);
  EXPECT_EQ(replica.view("tasks", "t1")->data.at("archivedAt"), "2026-01-01T00:00:00Z");
  replica.add_pending("tasks", "t1", 4, Action::kUnarchive, {});
  EXPECT_FALSE(replica.view("tasks", "t1")->archived);
  EXPECT_TRUE(replica.view("tasks", "t1")->data.at("archivedAt").is_null());

  // delete: no view at all
  auto deleted = replica.add_pending("tasks", "t1", 5, Action::kDelete, {});
  ASSERT_TRUE(deleted && *deleted);
  EXPECT_FALSE((*deleted)->after);
  EXPECT_FALSE(replica.view("tasks", "t1"));
  EXPECT_EQ(replica.row_count(), 0u);
}

TEST_F(ReplicaTest, UpdateOfARowTheReplicaLacksShowsNothing) {
  replica.add_pending("tasks", "ghost", 1, Action::kUpdate, JsonObject{{"title", "x"}});
  EXPECT_FALSE(replica.view("tasks", "ghost"));
  EXPECT_TRUE(replica.has_pending("tasks", "ghost"));
}

TEST_F(ReplicaTest, EchoOfOwnWriteUpdatesBaseAndKeepsALaterPendingEditOnTop) {  // T20
  replica.add_pending("tasks", "t1", 1, Action::kCreate, task_data("first"));
  replica.add_pending("tasks", "t1", 2, Action::kUpdate, JsonObject{{"title", "second"}});
  // The server's echo of the create (with a server default the client did not send: D10).
  JsonObject echoed = task_data("first");
  echoed["createdAt"] = "2026-01-01T00:00:00Z";
  auto outcome = replica.apply_delta(delta(10, 'I', "t1", echoed));
  EXPECT_EQ(title_of(replica, "t1"), "second");  // no flicker back to "first"
  EXPECT_EQ(replica.view("tasks", "t1")->data.at("createdAt"), "2026-01-01T00:00:00Z");
  EXPECT_EQ(replica.view("tasks", "t1")->version, 10);
  // Confirming the create keeps the later edit; confirming that one leaves the base.
  replica.remove_pending("tasks", "t1", 1);
  EXPECT_EQ(title_of(replica, "t1"), "second");
  EXPECT_TRUE(replica.view("tasks", "t1")->pending);
  replica.apply_delta(delta(11, 'U', "t1", JsonObject{{"title", "second"}}));
  replica.remove_pending("tasks", "t1", 2);
  EXPECT_EQ(title_of(replica, "t1"), "second");
  EXPECT_FALSE(replica.view("tasks", "t1")->pending);
  EXPECT_EQ(replica.confirmed("tasks", "t1")->version, 11);
}

TEST_F(ReplicaTest, RemoteUpdateUnderAPendingEditKeepsTheLocalFieldAndTakesTheOthers) {
  replica.load_base("tasks", "t1", task_data("base"), 5, false);
  replica.add_pending("tasks", "t1", 1, Action::kUpdate, JsonObject{{"title", "mine"}});
  auto outcome = replica.apply_delta(delta(6, 'U', "t1", JsonObject{{"title", "theirs"}, {"position", 9}}));
  ASSERT_EQ(outcome.changes.size(), 1u);
  EXPECT_EQ(title_of(replica, "t1"), "mine");
  EXPECT_EQ(replica.view("tasks", "t1")->data.at("position").to_number<int>(), 9);
  EXPECT_EQ(replica.confirmed("tasks", "t1")->data.at("title"), "theirs");
  // Rolling my edit back shows the remote value.
  replica.remove_pending("tasks", "t1", 1);
  EXPECT_EQ(title_of(replica, "t1"), "theirs");
}

TEST_F(ReplicaTest, RollbackOfCreateUpdateAndDelete) {  // T24 / D4
  replica.add_pending("tasks", "c", 1, Action::kCreate, task_data("created"));
  auto gone = replica.remove_pending("tasks", "c", 1);
  ASSERT_TRUE(gone);
  EXPECT_FALSE(gone->after);
  EXPECT_FALSE(replica.view("tasks", "c"));

  replica.load_base("tasks", "u", task_data("before"), 3, false);
  replica.add_pending("tasks", "u", 2, Action::kUpdate, JsonObject{{"title", "after"}});
  replica.remove_pending("tasks", "u", 2);
  EXPECT_EQ(title_of(replica, "u"), "before");

  replica.load_base("tasks", "d", task_data("kept"), 4, false);
  replica.add_pending("tasks", "d", 3, Action::kDelete, {});
  EXPECT_FALSE(replica.view("tasks", "d"));
  auto back = replica.remove_pending("tasks", "d", 3);
  ASSERT_TRUE(back && back->after);
  EXPECT_EQ(title_of(replica, "d"), "kept");  // the deleted row reappears from its base
  EXPECT_EQ(replica.row_count(), 2u);
  EXPECT_FALSE(replica.remove_pending("tasks", "d", 3));  // already gone: no change
}

TEST_F(ReplicaTest, DeltasPutMergeRemoveArchiveAndUnarchive) {
  auto put = replica.apply_delta(delta(1, 'I', "t1", task_data("a")));
  EXPECT_EQ(put.model, "tasks");
  ASSERT_EQ(put.changes.size(), 1u);
  EXPECT_FALSE(put.changes[0].before);

  replica.apply_delta(delta(2, 'U', "t1", JsonObject{{"done", true}}));
  EXPECT_EQ(replica.view("tasks", "t1")->data.at("done"), true);
  EXPECT_EQ(replica.view("tasks", "t1")->data.at("title"), "a");

  replica.apply_delta(delta(3, 'A', "t1", JsonObject{{"archivedAt", "2026-02-02T00:00:00Z"}}));
  EXPECT_TRUE(replica.view("tasks", "t1")->archived);
  replica.apply_delta(delta(4, 'V', "t1", {}));
  EXPECT_FALSE(replica.view("tasks", "t1")->archived);
  EXPECT_TRUE(replica.view("tasks", "t1")->data.at("archivedAt").is_null());

  auto removed = replica.apply_delta(delta(5, 'D', "t1", {}));
  ASSERT_EQ(removed.changes.size(), 1u);
  EXPECT_FALSE(removed.changes[0].after);
  EXPECT_FALSE(replica.view("tasks", "t1"));
}

TEST_F(ReplicaTest, AnUpdateWithoutArchivedAtKeepsTheArchivedFlag) {
  replica.load_base("tasks", "t1", task_data("a"), 1, true);
  replica.apply_delta(delta(2, 'U', "t1", JsonObject{{"title", "b"}}));
  EXPECT_TRUE(replica.view("tasks", "t1")->archived);
  replica.apply_delta(delta(3, 'U', "t1", JsonObject{{"archivedAt", nullptr}}));
  EXPECT_FALSE(replica.view("tasks", "t1")->archived);
}

TEST_F(ReplicaTest, ModelNamesResolveThroughTheSchemaAndUnknownModelsAreSkipped) {
  EXPECT_EQ(replica.apply_delta(delta(1, 'I', "a", task_data("x"), "tasks")).model, "tasks");
  EXPECT_EQ(replica.apply_delta(delta(2, 'I', "b", task_data("y"), "task")).model, "tasks");
  auto unknown = replica.apply_delta(delta(3, 'I', "c", task_data("z"), "invoices"));
  EXPECT_TRUE(unknown.unknown_model);
  EXPECT_TRUE(unknown.changes.empty());
  EXPECT_EQ(replica.row_count(), 2u);
}

TEST_F(ReplicaTest, UpdateOfAnUnknownRowUpsertsOnlyWithEveryRequiredField) {
  auto partial = replica.apply_delta(delta(1, 'U', "t9", JsonObject{{"title", "only"}}));
  EXPECT_TRUE(partial.needs_fetch);
  EXPECT_FALSE(replica.view("tasks", "t9"));
  auto full = replica.apply_delta(delta(2, 'U', "t9", task_data("whole")));
  EXPECT_FALSE(full.needs_fetch);
  EXPECT_EQ(title_of(replica, "t9"), "whole");
}

TEST_F(ReplicaTest, AReDeliveredOlderDeltaNeverShowsAnOlderValue) {
  replica.apply_delta(delta(5, 'I', "t1", task_data("v5")));
  replica.apply_delta(delta(6, 'U', "t1", JsonObject{{"title", "v6"}}));
  auto again = replica.apply_delta(delta(5, 'U', "t1", JsonObject{{"title", "v5"}}));
  EXPECT_TRUE(again.ignored);
  EXPECT_EQ(title_of(replica, "t1"), "v6");
}

TEST_F(ReplicaTest, RebaseReplacesBasesAndKeepsPendingCreatesAndEdits) {  // D9
  replica.load_base("tasks", "kept", task_data("old"), 3, false);
  replica.load_base("tasks", "vanished", task_data("bye"), 3, false);
  replica.load_base("tasks", "edited", task_data("server"), 3, false);
  replica.add_pending("tasks", "edited", 1, Action::kUpdate, JsonObject{{"title", "local"}});
  replica.add_pending("tasks", "fresh", 2, Action::kCreate, task_data("mine"));
  replica.load_base("users", "u1", JsonObject{{"email", "a@b"}, {"displayName", "A"}}, 3, false);

  std::map<std::string, std::vector<SnapshotRow>> snapshot;
  snapshot["tasks"] = {SnapshotRow{"kept", task_data("new"), false}, SnapshotRow{"added", task_data("plus"), true}};
  auto changes = replica.rebase({"tasks"}, snapshot, 100);

  EXPECT_EQ(title_of(replica, "kept"), "new");
  EXPECT_EQ(replica.view("tasks", "kept")->version, 100);
  EXPECT_FALSE(replica.view("tasks", "vanished"));
  EXPECT_TRUE(replica.view("tasks", "added")->archived);
  EXPECT_EQ(title_of(replica, "edited"), "local");  // pending edit stays applied over a ghost
  EXPECT_FALSE(replica.confirmed("tasks", "edited"));
  EXPECT_EQ(title_of(replica, "fresh"), "mine");    // pending create stays visible
  EXPECT_TRUE(replica.view("users", "u1"));         // models not rebased are untouched
  EXPECT_GE(changes.size(), 3u);

  // Once the kept edit settles (rolled back here) the ghost row goes away.
  replica.remove_pending("tasks", "edited", 1);
  EXPECT_FALSE(replica.view("tasks", "edited"));
}

TEST_F(ReplicaTest, ForeignKeyIndexFollowsAnInPlaceChange) {  // D13
  replica.apply_delta(delta(1, 'I', "t1", task_data("a", "p1")));
  replica.apply_delta(delta(2, 'I', "t2", task_data("b", "p1")));
  EXPECT_EQ(*replica.lookup("tasks", "projectId", "p1"), (std::vector<std::string>{"t1", "t2"}));
  replica.apply_delta(delta(3, 'U', "t1", JsonObject{{"projectId", "p2"}}));
  EXPECT_EQ(*replica.lookup("tasks", "projectId", "p1"), (std::vector<std::string>{"t2"}));
  EXPECT_EQ(*replica.lookup("tasks", "projectId", "p2"), (std::vector<std::string>{"t1"}));
  // Optimistic FK change and its rollback move the entry too.
  replica.add_pending("tasks", "t2", 1, Action::kUpdate, JsonObject{{"projectId", "p3"}});
  EXPECT_TRUE(replica.lookup("tasks", "projectId", "p1")->empty());
  EXPECT_EQ(*replica.lookup("tasks", "projectId", "p3"), (std::vector<std::string>{"t2"}));
  replica.remove_pending("tasks", "t2", 1);
  EXPECT_EQ(*replica.lookup("tasks", "projectId", "p1"), (std::vector<std::string>{"t2"}));
  // belongsTo without isIndexed is indexed too; a plain field is not.
  replica.apply_delta(delta(4, 'U', "t2", JsonObject{{"assigneeId", "u7"}}));
  EXPECT_EQ(*replica.lookup("tasks", "assigneeId", "u7"), (std::vector<std::string>{"t2"}));
  EXPECT_FALSE(replica.lookup("tasks", "title", "a"));
  // Deleted rows leave the index.
  replica.apply_delta(delta(5, 'D', "t2", {}));
  EXPECT_TRUE(replica.lookup("tasks", "projectId", "p1")->empty());
  EXPECT_TRUE(replica.lookup("tasks", "assigneeId", "u7")->empty());
}

TEST_F(ReplicaTest, IndexKeysTreatEqualNumbersAsOne) {
  EXPECT_EQ(Replica::index_key(json::value(1)), Replica::index_key(json::value(1.0)));
  EXPECT_NE(Replica::index_key(json::value(1)), Replica::index_key(json::value("1")));
}

TEST_F(ReplicaTest, OutboxMergeReplacesThePendingEditOfThatSeq) {
  replica.load_base("tasks", "t1", task_data("a"), 1, false);
  replica.add_pending("tasks", "t1", 4, Action::kUpdate, JsonObject{{"title", "b"}});
  replica.add_pending("tasks", "t1", 4, Action::kUpdate, JsonObject{{"title", "c"}, {"done", true}});
  EXPECT_EQ(title_of(replica, "t1"), "c");
  replica.remove_pending("tasks", "t1", 4);
  EXPECT_EQ(title_of(replica, "t1"), "a");
  EXPECT_FALSE(replica.view("tasks", "t1")->pending);
}

TEST_F(ReplicaTest, ARemoteChangeHiddenUnderAPendingDeleteIsStillReported) {
  // The view does not move (the row is deleted locally), but include_pending(false) readers
  // must learn the confirmed row changed.
  replica.load_base("tasks", "t1", task_data("a"), 1, false);
  replica.add_pending("tasks", "t1", 1, Action::kDelete, {});
  auto outcome = replica.apply_delta(delta(2, 'U', "t1", JsonObject{{"title", "remote"}}));
  ASSERT_EQ(outcome.changes.size(), 1u);
  EXPECT_TRUE(outcome.changes[0].confirmed_changed);
  EXPECT_FALSE(outcome.changes[0].before);
  EXPECT_FALSE(outcome.changes[0].after);
  EXPECT_EQ(replica.confirmed("tasks", "t1")->data.at("title"), "remote");
  // Local-only changes never claim the confirmed row moved.
  auto local = replica.remove_pending("tasks", "t1", 1);
  ASSERT_TRUE(local);
  EXPECT_FALSE(local->confirmed_changed);
}

TEST_F(ReplicaTest, ClearBasesKeepsOnlyPendingCreates) {
  replica.load_base("tasks", "t1", task_data("a"), 1, false);
  replica.add_pending("tasks", "t2", 1, Action::kCreate, task_data("mine"));
  replica.clear_bases();
  EXPECT_FALSE(replica.view("tasks", "t1"));
  EXPECT_EQ(title_of(replica, "t2"), "mine");
  EXPECT_EQ(replica.row_count(), 1u);
}

// Rows parsed into a row arena (a bootstrap, a warm start) stay there, but nothing the replica
// hands out or builds on them does: a json copy constructor would inherit the arena, which
// never frees, and reads run on many threads at once (under a shared lock).
TEST_F(ReplicaTest, RowsFromAnArenaAreCopiedOutToTheDefaultHeap) {
  const auto arena = make_row_arena();
  auto parsed = json::parse(R"({"id":"t1","title":"a title longer than the small-string buffer","projectId":"p1","position":1,"done":false})", arena);
  ASSERT_TRUE(replica.load_base("tasks", "t1", std::move(parsed.as_object()), 3, false));
  const json::storage_ptr heap;
  auto row = replica.view("tasks", "t1");
  ASSERT_TRUE(row);
  EXPECT_EQ(row->data.storage().get(), heap.get());
  EXPECT_EQ(row->data.at("id").as_string(), "t1");
  ASSERT_TRUE(replica.add_pending("tasks", "t1", 1, Action::kUpdate, {{"title", "b"}}));
  row = replica.view("tasks", "t1");
  EXPECT_EQ(row->data.storage().get(), heap.get());
  EXPECT_EQ(row->data.at("title").as_string(), "b");
  EXPECT_EQ(replica.confirmed("tasks", "t1")->data.at("title").as_string(), "a title longer than the small-string buffer");
  replica.apply_delta(delta(4, 'U', "t1", {{"done", true}}));
  EXPECT_EQ(replica.confirmed("tasks", "t1")->data.at("done").as_bool(), true);
  EXPECT_EQ(replica.view("tasks", "t1")->data.at("title").as_string(), "b");
}

// An unobserved model's changes carry no Rows, but every confirmed move and every view change is
// still reported (the client persists the former); an observed one gets full RowChanges.
TEST_F(ReplicaTest, UnobservedModelsGetChangesWithoutRows) {
  std::set<std::string> observed;
  replica.set_observed([&observed](const std::string& model) { return observed.contains(model); });
  auto loaded = replica.load_base("tasks", "t1", task_data("a"), 1, false);
  ASSERT_TRUE(loaded && *loaded);
  EXPECT_TRUE((*loaded)->confirmed_changed);
  EXPECT_FALSE((*loaded)->after);
  auto outcome = replica.apply_delta(delta(2, 'U', "t1", {{"title", "b"}}));
  ASSERT_EQ(outcome.changes.size(), 1u);
  EXPECT_FALSE(outcome.changes[0].after);
  auto pending = replica.add_pending("tasks", "t1", 1, Action::kUpdate, {{"title", "c"}});
  ASSERT_TRUE(pending && *pending);
  EXPECT_FALSE((*pending)->confirmed_changed);
  EXPECT_EQ(title_of(replica, "t1"), "c");

  observed.insert("tasks");
  auto removed = replica.remove_pending("tasks", "t1", 1);
  ASSERT_TRUE(removed);
  ASSERT_TRUE(removed->before && removed->after);
  EXPECT_EQ(removed->before->data.at("title").as_string(), "c");
  EXPECT_EQ(removed->after->data.at("title").as_string(), "b");
  EXPECT_FALSE(replica.remove_pending("tasks", "t1", 1)) << "nothing left to remove";
}

}  // namespace
}  // namespace ablo::sdk_detail::replica_test_helpers

namespace ablo::sdk_detail::replica_property_helpers {
namespace {

// D13 as a property: after any sequence of deltas, local writes, rollbacks and rebases, every
// index answers exactly what a scan of the views answers, and row_count() counts the views.
RC_GTEST_PROP(ReplicaProperty, IndexesAndCountsAlwaysMatchTheViews, ()) {
  Replica replica(sdk_test::sdk_test_schema());
  const std::vector<std::string> ids = {"a", "b", "c", "d"};
  const std::vector<std::string> projects = {"p1", "p2", "p3"};
  std::map<std::string, std::vector<int64_t>> pending;
  int64_t next_delta = 1, next_seq = 1;
  const int steps = *rc::gen::inRange(1, 40);
  for (int step = 0; step < steps; ++step) {
    const std::string id = *rc::gen::elementOf(ids);
    JsonObject data{{"title", "x"}, {"projectId", *rc::gen::elementOf(projects)}, {"position", 1}, {"done", false}};
    if (*rc::gen::arbitrary<bool>()) data["assigneeId"] = *rc::gen::element<std::string>("u1", "u2");
    switch (*rc::gen::inRange(0, 6)) {
      case 0:
        replica.apply_delta(InboundDelta{next_delta++, *rc::gen::element('I', 'U', 'D', 'A', 'V'), "tasks", id, data});
        break;
      case 1:
        replica.apply_delta(InboundDelta{next_delta++, 'U', "tasks", id,
                                         JsonObject{{"projectId", *rc::gen::elementOf(projects)}}});
        break;
      case 2: {
        const int64_t seq = next_seq++;
        pending[id].push_back(seq);
        const Action action = *rc::gen::element(Action::kCreate, Action::kUpdate, Action::kDelete);
        replica.add_pending("tasks", id, seq, action,
                            action == Action::kUpdate ? JsonObject{{"projectId", *rc::gen::elementOf(projects)}} : data);
        break;
      }
      case 3: {
        auto& seqs = pending[id];
        if (seqs.empty()) break;
        replica.remove_pending("tasks", id, seqs.front());
        seqs.erase(seqs.begin());
        break;
      }
      case 4: {
        std::map<std::string, std::vector<SnapshotRow>> snapshot;
        if (*rc::gen::arbitrary<bool>()) snapshot["tasks"].push_back(SnapshotRow{id, data, false});
        replica.rebase({"tasks"}, snapshot, next_delta++);
        break;
      }
      default:
        replica.load_base("tasks", id, data, next_delta++, false);
        break;
    }
    const std::vector<Row> views = replica.rows("tasks");
    RC_ASSERT(replica.row_count("tasks") == views.size());
    for (const std::string& field : {std::string("projectId"), std::string("assigneeId")}) {
      std::map<std::string, std::set<std::string>> scanned;
      for (const Row& row : views) {
        const auto* value = row.data.if_contains(field);
        scanned[Replica::index_key(value ? *value : Json(nullptr))].insert(row.id);
      }
      for (const Json& probe : {Json("p1"), Json("p2"), Json("p3"), Json("u1"), Json("u2"), Json(nullptr)}) {
        auto found = replica.lookup("tasks", field, probe);
        RC_ASSERT(found.has_value());
        const std::set<std::string> expected = scanned[Replica::index_key(probe)];
        RC_ASSERT(std::set<std::string>(found->begin(), found->end()) == expected);
      }
    }
  }
}

}  // namespace
}  // namespace ablo::sdk_detail::replica_property_helpers
