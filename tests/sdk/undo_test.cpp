// U9 (design docs/client-library.md §14.1): undo/redo without a server — the pure history
// (inverses, grouping, stacks, the conflict filter) and, through a Client whose server is
// unreachable (writes apply optimistically and wait in the outbox), the recording of the write
// path and the replay's origin tag.
#include <atomic>
#include <optional>

#include <gtest/gtest.h>

#include "sdk/client.h"
#include "sdk/undo_history.h"
#include "sdk_test_schema.h"

namespace ablo::sdk_test {
namespace {

using sdk_detail::make_undo_step;
using sdk_detail::plan_replay;
using sdk_detail::ReplayDirection;
using sdk_detail::UndoEntry;
using sdk_detail::UndoHistory;
using sdk_detail::UndoOp;
using sdk_detail::UndoStep;

UndoStep update_step(const std::string& id, JsonObject set, const JsonObject& before) {
  auto step = make_undo_step(UndoOp{Action::kUpdate, "projects", id, std::move(set)}, before);
  EXPECT_TRUE(step);
  return *step;
}

std::optional<JsonObject> no_row(const std::string&, const std::string&) { return std::nullopt; }

TEST(UndoHistoryTest, InverseIsTakenFromTheRowJustBeforeEachWrite) {
  // D16/T55: the second edit's inverse restores the first edit's value, not the session's first.
  JsonObject row{{"id", "p1"}, {"name", "first"}, {"status", "active"}};
  const auto one = update_step("p1", {{"name", "second"}}, row);
  row["name"] = "second";
  const auto two = update_step("p1", {{"name", "third"}}, row);
  EXPECT_EQ(one.inverse.data.at("name").as_string(), "first");
  EXPECT_EQ(two.inverse.data.at("name").as_string(), "second");
  EXPECT_EQ(two.forward.data.at("name").as_string(), "third");
  // A field the row lacked is restored to null.
  const auto budget = update_step("p1", {{"budget", 5}}, row);
  EXPECT_TRUE(budget.inverse.data.at("budget").is_null());
}

TEST(UndoHistoryTest, InversesOfEachAction) {
  const JsonObject row{{"id", "p1"}, {"name", "n"}, {"status", "active"}, {"createdAt", "c"}, {"updatedAt", "u"}};
  const auto created = make_undo_step(UndoOp{Action::kCreate, "projects", "p1", row}, std::nullopt);
  ASSERT_TRUE(created);
  EXPECT_EQ(created->inverse.action, Action::kDelete);
  EXPECT_EQ(created->inverse.id, "p1");

  const auto removed = make_undo_step(UndoOp{Action::kDelete, "projects", "p1", {}}, row);
  ASSERT_TRUE(removed);
  EXPECT_EQ(removed->inverse.action, Action::kCreate) << "undo of a delete re-creates the row (T50)";
  EXPECT_EQ(removed->inverse.id, "p1");
  EXPECT_EQ(removed->inverse.data.at("name").as_string(), "n");
  EXPECT_EQ(removed->inverse.data.at("createdAt").as_string(), "c");
  EXPECT_FALSE(removed->inverse.data.contains("updatedAt")) << "the server stamps the re-creation";

  EXPECT_EQ(make_undo_step(UndoOp{Action::kArchive, "projects", "p1", {}}, row)->inverse.action, Action::kUnarchive);
  EXPECT_EQ(make_undo_step(UndoOp{Action::kUnarchive, "projects", "p1", {}}, row)->inverse.action, Action::kArchive);
  EXPECT_FALSE(make_undo_step(UndoOp{Action::kUpdate, "projects", "p1", {{"name", "x"}}}, std::nullopt))
      << "an update of a row the view lacked has nothing to invert";
}

TEST(UndoHistoryTest, RecordingClearsRedoAndTheCapDropsTheOldest) {
  UndoHistory history(3);
  for (int i = 0; i < 5; ++i) history.record(update_step("p" + std::to_string(i), {{"name", "x"}}, {{"name", "y"}}));
  ASSERT_EQ(history.undo_size(), 3u) << "T53: capped at max_history";
  EXPECT_EQ(history.top(ReplayDirection::kUndo)->steps.front().forward.id, "p4");

  auto newest = *history.top(ReplayDirection::kUndo);
  ASSERT_TRUE(history.complete(newest.serial, ReplayDirection::kUndo, history.recordings()));
  EXPECT_EQ(history.undo_size(), 2u);
  EXPECT_EQ(history.redo_size(), 1u);
  EXPECT_EQ(history.top(ReplayDirection::kRedo)->serial, newest.serial);

  // Redo moves it back; undo again; a new recording clears redo (T53).
  ASSERT_TRUE(history.complete(newest.serial, ReplayDirection::kRedo, history.recordings()));
  EXPECT_EQ(history.undo_size(), 3u);
  ASSERT_TRUE(history.complete(newest.serial, ReplayDirection::kUndo, history.recordings()));
  history.record(update_step("p9", {{"name", "x"}}, {{"name", "y"}}));
  EXPECT_EQ(history.redo_size(), 0u);
  EXPECT_EQ(history.top(ReplayDirection::kUndo)->steps.front().forward.id, "p9");
}

TEST(UndoHistoryTest, AnUndoOvertakenByANewRecordingDoesNotLandOnRedo) {
  UndoHistory history(10);
  history.record(update_step("p1", {{"name", "x"}}, {{"name", "y"}}));
  const auto taken = *history.top(ReplayDirection::kUndo);
  const auto recordings = history.recordings();
  history.record(update_step("p2", {{"name", "x"}}, {{"name", "y"}}));  // while the undo of p1 runs
  ASSERT_TRUE(history.complete(taken.serial, ReplayDirection::kUndo, recordings));
  EXPECT_EQ(history.undo_size(), 1u);
  EXPECT_EQ(history.top(ReplayDirection::kUndo)->steps.front().forward.id, "p2") << "the completed entry left undo";
  EXPECT_EQ(history.redo_size(), 0u) << "in call order the new recording cleared redo";
  history.clear();
  EXPECT_FALSE(history.complete(taken.serial, ReplayDirection::kUndo, recordings)) << "a gone entry: nothing happens";
}

TEST(UndoHistoryTest, GroupsMakeOneEntryNestedJoinEmptyAndCancelledPushNothing) {
  UndoHistory history(10);
  history.begin_group("gesture");
  history.record(update_step("p1", {{"name", "a"}}, {{"name", "0"}}));
  history.begin_group("inner");  // joins the outermost
  history.record(update_step("p2", {{"name", "b"}}, {{"name", "0"}}));
  history.end_group();
  EXPECT_EQ(history.undo_size(), 0u) << "pushed only when the outermost group closes";
  history.record(update_step("p3", {{"name", "c"}}, {{"name", "0"}}));
  history.end_group();
  ASSERT_EQ(history.undo_size(), 1u) << "T52: three writes, one entry";
  const auto entry = *history.top(ReplayDirection::kUndo);
  EXPECT_EQ(entry.label, "gesture");
  ASSERT_EQ(entry.steps.size(), 3u);
  // Undo applies the inverses newest first; redo the forwards oldest first.
  const auto undo = plan_replay(entry, ReplayDirection::kUndo, ConflictPolicy::kLastWriterWins, no_row);
  ASSERT_EQ(undo.ops.size(), 3u);
  EXPECT_EQ(undo.ops[0].id, "p3");
  EXPECT_EQ(undo.ops[2].id, "p1");
  const auto redo = plan_replay(entry, ReplayDirection::kRedo, ConflictPolicy::kLastWriterWins, no_row);
  EXPECT_EQ(redo.ops[0].id, "p1");
  EXPECT_EQ(redo.ops[0].data.at("name").as_string(), "a");

  history.begin_group("empty");
  history.end_group();
  EXPECT_EQ(history.undo_size(), 1u) << "an empty group pushes nothing";

  history.begin_group("dropped");
  history.record(update_step("p4", {{"name", "d"}}, {{"name", "0"}}));
  history.begin_group("inner");
  history.cancel_group();  // cancelling any level drops the whole gesture
  history.end_group();
  EXPECT_EQ(history.undo_size(), 1u);
  EXPECT_FALSE(history.group_open());
}

TEST(UndoHistoryTest, SkipStaleSkipsAFieldSomeoneElseChangedLastWriterWinsDoesNot) {
  // T51: I set name and budget; someone else then changed name.
  UndoHistory history(10);
  history.record(update_step("p1", {{"name", "mine"}, {"budget", 2}}, {{"name", "old"}, {"budget", 1}}));
  const auto entry = *history.top(ReplayDirection::kUndo);
  const JsonObject now{{"id", "p1"}, {"name", "theirs"}, {"budget", 2}};
  auto current = [&](const std::string&, const std::string&) { return std::optional<JsonObject>(now); };

  const auto skip = plan_replay(entry, ReplayDirection::kUndo, ConflictPolicy::kSkipStale, current);
  ASSERT_EQ(skip.ops.size(), 1u);
  EXPECT_FALSE(skip.ops[0].data.contains("name"));
  EXPECT_EQ(skip.ops[0].data.at("budget"), Json(1));
  ASSERT_EQ(skip.skipped_fields.size(), 1u);
  EXPECT_EQ(skip.skipped_fields[0], "projects/p1.name");

  const auto lww = plan_replay(entry, ReplayDirection::kUndo, ConflictPolicy::kLastWriterWins, current);
  ASSERT_EQ(lww.ops.size(), 1u);
  EXPECT_EQ(lww.ops[0].data.at("name").as_string(), "old");
  EXPECT_TRUE(lww.skipped_fields.empty());

  // Every field moved: the op is dropped. A gone row: dropped too, its fields listed.
  const JsonObject moved{{"id", "p1"}, {"name", "theirs"}, {"budget", 9}};
  auto moved_view = [&](const std::string&, const std::string&) { return std::optional<JsonObject>(moved); };
  EXPECT_TRUE(plan_replay(entry, ReplayDirection::kUndo, ConflictPolicy::kSkipStale, moved_view).ops.empty());
  const auto gone = plan_replay(entry, ReplayDirection::kUndo, ConflictPolicy::kSkipStale, no_row);
  EXPECT_TRUE(gone.ops.empty());
  EXPECT_EQ(gone.skipped_fields.size(), 2u);

  // Redo is checked against what the undo restored.
  const JsonObject undone{{"id", "p1"}, {"name", "old"}, {"budget", 1}};
  auto undone_view = [&](const std::string&, const std::string&) { return std::optional<JsonObject>(undone); };
  const auto redo = plan_replay(entry, ReplayDirection::kRedo, ConflictPolicy::kSkipStale, undone_view);
  ASSERT_EQ(redo.ops.size(), 1u);
  EXPECT_EQ(redo.ops[0].data.at("name").as_string(), "mine");
}

TEST(UndoHistoryTest, DeleteOfAGoneRowIsDroppedCreateIsKept) {
  UndoHistory history(10);
  history.record(*make_undo_step(UndoOp{Action::kCreate, "projects", "p1", {{"name", "n"}}}, std::nullopt));
  const auto entry = *history.top(ReplayDirection::kUndo);
  for (auto policy : {ConflictPolicy::kSkipStale, ConflictPolicy::kLastWriterWins}) {
    EXPECT_TRUE(plan_replay(entry, ReplayDirection::kUndo, policy, no_row).ops.empty()) << "already gone: a no-op";
    const auto redo = plan_replay(entry, ReplayDirection::kRedo, policy, no_row);
    ASSERT_EQ(redo.ops.size(), 1u);
    EXPECT_EQ(redo.ops[0].action, Action::kCreate);
  }
}

// ---------------------------------------------------------------------------------------------
// Through a Client whose server is unreachable: writes apply optimistically and stay queued, so
// a replay's writes are visible at once but never confirmed.

Options offline_options() {
  Options options;
  options.base_url = "http://127.0.0.1:1";  // nothing listens: the client stays reconnecting
  options.api_key = "sk_offline_test";
  options.schema = kSdkTestSchema;
  options.timing.reconnect = Backoff{std::chrono::milliseconds(1000), std::chrono::milliseconds(1000), 0.5};
  return options;
}

const JsonObject kProject{{"name", "first"}, {"status", "active"}};

TEST(UndoClientTest, RecordsIntoTheNamedScopeOrRecordAllScopesOnly) {
  Client client(offline_options());
  auto a = client.undo().scope("a");
  auto b = client.undo().scope("b");
  auto every = client.undo().scope("every", {.record_all = true});
  auto tasks_only = client.undo().scope("tasks", {.record_all = true, .models = {"tasks"}});
  auto projects = client.model("projects");

  (void)projects.create(kProject, {{.undo_scope = "a"}, "p1"});
  EXPECT_EQ(a.undo_size(), 1u);
  EXPECT_EQ(b.undo_size(), 0u) << "T54: scopes are isolated";
  EXPECT_EQ(every.undo_size(), 0u) << "a write naming a scope is recorded once, there";

  (void)projects.update("p1", {{"name", "second"}});
  EXPECT_EQ(every.undo_size(), 1u) << "record_all takes a write naming no scope";
  EXPECT_EQ(tasks_only.undo_size(), 0u) << "a model the scope does not track";
  EXPECT_EQ(a.undo_size(), 1u);

  (void)projects.update("p1", {{"name", "second"}});  // changes nothing: nothing sent, nothing recorded
  EXPECT_EQ(every.undo_size(), 1u);
  EXPECT_EQ(client.undo().scope("a", {.max_history = 1}).undo_size(), 1u) << "the same scope; later options ignored";
}

TEST(UndoClientTest, UndoRestoresTheValueJustBeforeTheWriteAndIsNotRecordedAgain) {
  Client client(offline_options());
  auto scope = client.undo().scope("edits", {.record_all = true});
  std::atomic<int> changes{0};
  auto observer = scope.on_change([&](const UndoScope&) { ++changes; }, inline_executor());
  auto projects = client.model("projects");
  (void)projects.create(kProject, {{}, "p1"});
  (void)projects.update("p1", {{"name", "second"}});
  (void)projects.update("p1", {{"name", "third"}});
  ASSERT_EQ(scope.undo_size(), 3u);
  EXPECT_EQ(changes.load(), 3) << "on_change after every recording";

  auto undone = scope.undo();  // its write is applied at once; it is never confirmed (offline)
  EXPECT_EQ(projects.get("p1")->data.at("name").as_string(), "second") << "D16: the value just before, not \"first\"";
  EXPECT_EQ(scope.undo_size(), 3u) << "the replay is not recorded (origin tag); its entry stays until confirmed";
  EXPECT_EQ(scope.redo_size(), 0u);
  EXPECT_FALSE(undone.ready());
}

TEST(UndoClientTest, UndoOfCreateRemovesTheRowUndoOfDeleteRecreatesIt) {
  Client client(offline_options());
  auto projects = client.model("projects");
  auto creates = client.undo().scope("creates");
  (void)projects.create(kProject, {{.undo_scope = "creates"}, "p1"});
  (void)creates.undo();
  EXPECT_FALSE(projects.get("p1")) << "T50: undo of a create removes the row";

  auto deletes = client.undo().scope("deletes");
  (void)projects.create({{"name", "kept"}, {"status", "archived"}, {"budget", 7}}, {{}, "p2"});
  (void)projects.remove("p2", {.undo_scope = "deletes"});
  ASSERT_FALSE(projects.get("p2"));
  (void)deletes.undo();
  const auto back = projects.get("p2");
  ASSERT_TRUE(back) << "T50: undo of a delete re-creates the row";
  EXPECT_EQ(back->data.at("name").as_string(), "kept");
  EXPECT_EQ(back->data.at("status").as_string(), "archived");
  EXPECT_EQ(back->data.at("budget"), Json(7));
}

TEST(UndoClientTest, ARefusedInverseFailsThePendingAndKeepsTheEntry) {
  Client client(offline_options());
  auto scope = client.undo().scope("lww", {.conflict_policy = ConflictPolicy::kLastWriterWins});
  auto projects = client.model("projects");
  (void)projects.create(kProject, {{}, "p1"});
  (void)projects.update("p1", {{"name", "second"}}, {.undo_scope = "lww"});
  (void)projects.remove("p1");  // not recorded: the inverse update now has no row to apply to
  auto undone = scope.undo().wait_result();
  ASSERT_FALSE(undone);
  EXPECT_EQ(undone.error().code, "entity_not_found");
  EXPECT_EQ(scope.undo_size(), 1u) << "the entry stays on its stack";
  EXPECT_EQ(scope.redo_size(), 0u);

  // Nothing to undo: an empty result, nothing sent.
  auto empty = client.undo().scope("empty").undo().wait();
  EXPECT_EQ(empty.applied, 0u);
}

TEST(UndoClientTest, GroupsAcrossWritesAndCancel) {
  Client client(offline_options());
  auto scope = client.undo().scope("g");
  auto projects = client.model("projects");
  {
    auto group = scope.begin_group("three");
    for (const char* id : {"p1", "p2", "p3"}) (void)projects.create(kProject, {{.undo_scope = "g"}, id});
    EXPECT_EQ(scope.undo_size(), 0u);
  }
  EXPECT_EQ(scope.undo_size(), 1u);
  {
    auto group = scope.begin_group("dropped");
    (void)projects.create(kProject, {{.undo_scope = "g"}, "p4"});
    group.cancel();
  }
  EXPECT_EQ(scope.undo_size(), 1u);
  // The inverses go newest first, each after the previous one is confirmed: offline, only the
  // first (delete p3) is applied, and the undo waits (the end-to-end test sees all three).
  auto undone = scope.undo();
  EXPECT_FALSE(projects.get("p3"));
  EXPECT_TRUE(projects.get("p4")) << "the cancelled group's write is not part of the entry";
  EXPECT_FALSE(undone.ready());
}

}  // namespace
}  // namespace ablo::sdk_test
