// U12 (docs/client-library.md §14.1, §17): the golden header of `ablo generate --lang cpp`
// (tests/schema/golden/ablo_models.h, equal to the generator's output by
// tests/schema/codegen_cpp_test.cpp) compiles into a program and maps rows both ways: dates,
// enums, optionals, unknown keys ignored, missing keys default, an unknown enum value refused.
#include <chrono>
#include <functional>

#include <boost/json.hpp>
#include <gtest/gtest.h>

#include "schema/golden/ablo_models.h"
#include "sdk/typed.h"

namespace ablo::typed_models_test {
namespace {

namespace json = boost::json;
using namespace std::chrono_literals;
using ablo_gen::Task;
using ablo_gen::TaskStatus;

// 2025-01-02T03:04:05.678Z
constexpr Timestamp kStarted{std::chrono::milliseconds(1735787045678)};

Task full_task() {
  Task task;
  task.id = "t1";
  task.title = "Ship it";
  task.project_id = "p1";
  task.status = TaskStatus::kWonTFix;
  task.review_state = ablo_gen::TaskReviewState::kClosed;
  task.position = 2.5;
  task.estimate = 3;
  task.done = true;
  task.flagged = false;
  task.started_at = kStarted;
  task.due_at = kStarted + 24h;
  task.meta = json::object{{"color", "red"}, {"n", 1}};
  task.tags = json::array{"a", "b"};
  task.assignee_id = "u1";
  task.class_ = "urgent";
  return task;
}

Error error_of(const std::function<void()>& action) {
  try {
    action();
  } catch (const Exception& e) {
    return e.error();
  }
  ADD_FAILURE() << "expected an ablo::Exception";
  return {};
}

TEST(TypedModels, ValueFromWritesTheWireForm) {
  const json::object object = json::value_from(full_task()).as_object();
  EXPECT_EQ(object.at("id").as_string(), "t1");
  EXPECT_EQ(object.at("projectId").as_string(), "p1");
  EXPECT_EQ(object.at("status").as_string(), "won't fix") << "the enum's wire value";
  EXPECT_EQ(object.at("reviewState").as_string(), "closed");
  EXPECT_EQ(object.at("position").as_double(), 2.5);
  EXPECT_TRUE(object.at("estimate").is_int64()) << "an integral number as the server's JSON holds it";
  EXPECT_EQ(object.at("estimate").as_int64(), 3);
  EXPECT_EQ(object.at("flagged").as_bool(), false);
  EXPECT_EQ(object.at("startedAt").as_string(), "2025-01-02T03:04:05.678Z") << "ISO-8601 UTC";
  EXPECT_EQ(object.at("dueAt").as_string(), "2025-01-03T03:04:05.678Z");
  EXPECT_TRUE(object.at("meta").as_object() == (json::object{{"color", "red"}, {"n", 1}}));
  EXPECT_EQ(object.at("class").as_string(), "urgent") << "the JSON key stays the schema's, the member is class_";
  EXPECT_FALSE(object.contains("createdAt")) << "server-owned timestamps are never written";
  EXPECT_FALSE(object.contains("archivedAt"));

  Task sparse;
  sparse.id = "t2";
  const json::object nulls = json::value_from(sparse).as_object();
  EXPECT_TRUE(nulls.at("dueAt").is_null()) << "nullopt is null";
  EXPECT_TRUE(nulls.at("assigneeId").is_null());
  EXPECT_TRUE(nulls.at("reviewState").is_null());
  EXPECT_EQ(nulls.at("status").as_string(), "todo") << "the first enum value by default";
}

TEST(TypedModels, AStructRoundTrips) {
  const Task task = full_task();
  EXPECT_EQ(json::value_to<Task>(json::value_from(task)), task);
  Task sparse;
  sparse.id = "t2";
  EXPECT_EQ(json::value_to<Task>(json::value_from(sparse)), sparse);
  ablo_gen::Project project;
  project.id = "p1";
  project.name = "Apollo";
  project.status = ablo_gen::ProjectStatus::kArchived;
  project.budget = 1e6;
  EXPECT_EQ(json::value_to<ablo_gen::Project>(json::value_from(project)), project);
}

TEST(TypedModels, ValueToReadsServerRowsIgnoresUnknownKeysAndDefaultsMissingOnes) {
  const auto row = json::parse(R"({"id":"t3","title":"Read me","status":"naïve","startedAt":1735787045678,
      "dueAt":"2025-01-02T04:04:05.678+01:00","createdAt":"2025-01-01T00:00:00.000Z","archivedAt":null,
      "priority":"high","organizationId":"org_1","assigneeId":null,"position":7})");
  const Task task = json::value_to<Task>(row);
  EXPECT_EQ(task.id, "t3");
  EXPECT_EQ(task.title, "Read me");
  EXPECT_EQ(task.status, TaskStatus::kNau00efve);
  EXPECT_EQ(task.started_at, kStarted) << "epoch milliseconds";
  EXPECT_EQ(task.due_at, kStarted) << "an ISO-8601 offset";
  ASSERT_TRUE(task.created_at);
  EXPECT_EQ(task.created_at->time_since_epoch(), std::chrono::milliseconds(1735689600000));
  EXPECT_FALSE(task.archived_at);
  EXPECT_FALSE(task.assignee_id);
  EXPECT_EQ(task.position, 7.0) << "an integer JSON number";
  EXPECT_EQ(task.project_id, "") << "missing: default";
  EXPECT_FALSE(task.done);
  EXPECT_TRUE(task.meta.is_null());

  const Row as_row{.model = "tasks", .id = "t3", .data = row.as_object()};
  EXPECT_EQ(as_row.as<Task>(), task) << "Row::as goes through the same mapping";
}

TEST(TypedModels, AnUnknownEnumValueOrAWrongTypeThrowsInvalidRequest) {
  const Error unknown = error_of([] { (void)json::value_to<Task>(json::parse(R"({"id":"t","status":"blocked"})")); });
  EXPECT_EQ(unknown.code, "invalid_request");
  EXPECT_EQ(unknown.param, "status");
  EXPECT_NE(unknown.message.find("blocked"), std::string::npos) << unknown.message;
  const Error optional_enum = error_of([] { (void)json::value_to<Task>(json::parse(R"({"reviewState":"maybe"})")); });
  EXPECT_EQ(optional_enum.param, "reviewState");
  const Error wrong_type = error_of([] { (void)json::value_to<Task>(json::parse(R"({"title":5})")); });
  EXPECT_EQ(wrong_type.code, "invalid_request");
  EXPECT_EQ(wrong_type.param, "title");
  const Error bad_date = error_of([] { (void)json::value_to<Task>(json::parse(R"({"dueAt":"next tuesday"})")); });
  EXPECT_EQ(bad_date.param, "dueAt");
  const Error not_an_object = error_of([] { (void)json::value_to<Task>(json::parse("[1]")); });
  EXPECT_EQ(not_an_object.code, "invalid_request");
}

TEST(TypedModels, EnumsConvertBothWays) {
  using ablo_gen::to_string;
  EXPECT_EQ(to_string(TaskStatus::kInProgress), "in-progress");
  EXPECT_EQ(to_string(TaskStatus::kInReview), "IN_REVIEW");
  EXPECT_EQ(ablo_gen::task_status_from_string("2fa"), TaskStatus::k2fa);
  EXPECT_EQ(ablo_gen::task_status_from_string("in_progress"), std::nullopt) << "values are matched exactly";
  EXPECT_EQ(ablo_gen::project_status_from_string("active"), ablo_gen::ProjectStatus::kActive);
}

TEST(TypedModels, TheHeaderCarriesItsSchema) {
  EXPECT_EQ(Task::kModel, "tasks");
  EXPECT_EQ(Task::kTypename, "Task");
  EXPECT_EQ(ablo_gen::kSchemaHash.size(), 8u);
  EXPECT_TRUE(json::parse(ablo_gen::kSchemaJson).as_object().contains("models"));
}

TEST(TypedTimestamps, JsonFormsInAndOut) {
  EXPECT_EQ(typed::timestamp_to_json(kStarted).as_string(), "2025-01-02T03:04:05.678Z");
  EXPECT_EQ(typed::timestamp_from_json(json::value("2025-01-02T03:04:05.678Z")), kStarted);
  EXPECT_EQ(typed::timestamp_from_json(json::value(1735787045678.0)), kStarted);
  EXPECT_EQ(typed::timestamp_from_json(json::value("2025-01-02")), Timestamp(std::chrono::milliseconds(1735776000000)));
  EXPECT_EQ(typed::timestamp_from_json(json::value("yesterday")), std::nullopt);
  EXPECT_EQ(typed::timestamp_from_json(json::value(true)), std::nullopt);
  EXPECT_EQ(typed::timestamp_from_json(json::value(1e300)), std::nullopt) << "outside a JS Date's range";
}

}  // namespace
}  // namespace ablo::typed_models_test
