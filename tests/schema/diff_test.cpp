#include "schema/diff.h"

#include <boost/json.hpp>
#include <gtest/gtest.h>

namespace ablo::schema {
namespace {

namespace json = boost::json;

// A one-model schema `tasks` with the given fields JSON.
std::shared_ptr<const Schema> tasks_schema(const std::string& fields, const std::string& extra = "") {
  auto parsed = Schema::parse_text(R"({"v":3,"models":{"tasks":{"fields":{)" + fields +
                                   R"(},"relations":{},"load":"instant","typename":"Task",)" + extra +
                                   R"("tenancy":{"kind":"column","column":"organization_id"},"plane":"tenant"}},"identityRoles":[]})");
  EXPECT_TRUE(parsed) << (parsed ? "" : parsed.error().message);
  return parsed ? *parsed : Schema::empty();
}

constexpr const char* kTitle = R"("title":{"type":"string","isOptional":false,"isIndexed":false})";
constexpr const char* kName = R"("name":{"type":"string","isOptional":false,"isIndexed":false})";

std::vector<std::string> kinds(const MigrationPlan& plan) {
  std::vector<std::string> out;
  for (const auto& step : plan.steps) out.emplace_back(std::string(to_string(step.kind)) + ":" + step.field);
  return out;
}

std::vector<std::string> codes(const std::vector<MigrationIssue>& issues) {
  std::vector<std::string> out;
  for (const auto& i : issues) out.push_back(i.code + ":" + i.field);
  return out;
}

TEST(SchemaDiff, FirstPushCreatesEveryModelWithoutSignals) {
  auto next = tasks_schema(kTitle);
  auto plan = diff_schema(nullptr, *next, {});
  EXPECT_EQ(kinds(plan), std::vector<std::string>{"create_model:"});
  EXPECT_TRUE(plan.applicable(false));
}

TEST(SchemaDiff, NewRequiredFieldBlocksUntilBackfilledWhileOptionalOnesApply) {
  auto before = tasks_schema(kTitle);
  auto after = tasks_schema(std::string(kTitle) + R"(,"due":{"type":"date","isOptional":true,"isIndexed":false},)"
                                                  R"("prio":{"type":"number","isOptional":false,"isIndexed":false})");
  auto blocked = diff_schema(before.get(), *after, {});
  EXPECT_EQ(kinds(blocked), (std::vector<std::string>{"add_field:due", "add_field:prio"}));
  EXPECT_EQ(codes(blocked.blockers), std::vector<std::string>{"required_field_added:prio"});
  EXPECT_FALSE(blocked.applicable(true)) << "force does not resolve a blocker";
  MigrationHints hints;
  hints.backfills.push_back({"tasks", "prio", 0});
  auto backfilled = diff_schema(before.get(), *after, hints);
  EXPECT_TRUE(backfilled.applicable(false));
  ASSERT_TRUE(backfilled.steps[1].backfill);
  EXPECT_EQ(*backfilled.steps[1].backfill, json::value(0));
}

TEST(SchemaDiff, RenameIsADropPlusAddUnlessHinted) {
  auto before = tasks_schema(kTitle);
  auto after = tasks_schema(kName);
  auto unhinted = diff_schema(before.get(), *after, {});
  EXPECT_EQ(kinds(unhinted), (std::vector<std::string>{"add_field:name", "drop_field:title"}));
  EXPECT_EQ(codes(unhinted.warnings), std::vector<std::string>{"drop_field:title"});
  EXPECT_EQ(codes(unhinted.blockers), std::vector<std::string>{"required_field_added:name"});
  MigrationHints hints;
  hints.renames.push_back({"tasks", "title", "name"});
  auto hinted = diff_schema(before.get(), *after, hints);
  EXPECT_EQ(kinds(hinted), std::vector<std::string>{"rename_field:name"});
  EXPECT_TRUE(hinted.warnings.empty());
  EXPECT_TRUE(hinted.blockers.empty());
}

TEST(SchemaDiff, AlterationsAreClassified) {
  auto before = tasks_schema(
      R"("status":{"type":"enum","enumValues":["todo","done"],"isOptional":false,"isIndexed":false},)"
      R"("note":{"type":"string","isOptional":true,"isIndexed":false},)"
      R"("points":{"type":"number","isOptional":true,"isIndexed":false},)"
      R"("blob":{"type":"json","isOptional":true,"isIndexed":false},)"
      R"("kind":{"type":"string","isOptional":true,"isIndexed":false})");
  auto after = tasks_schema(
      R"("status":{"type":"enum","enumValues":["todo","doing"],"isOptional":false,"isIndexed":false},)"
      R"("note":{"type":"string","isOptional":false,"isIndexed":false},)"
      R"("points":{"type":"string","isOptional":true,"isIndexed":false},)"
      R"("blob":{"type":"number","isOptional":true,"isIndexed":false},)"
      R"("kind":{"type":"enum","enumValues":["a"],"isOptional":true,"isIndexed":false})");
  auto plan = diff_schema(before.get(), *after, {});
  EXPECT_EQ(codes(plan.warnings),
            (std::vector<std::string>{"enum_value_removed:status", "lossy_recreate:blob", "risky_cast:kind"}));
  EXPECT_EQ(codes(plan.blockers), std::vector<std::string>{"made_required:note"});
  EXPECT_EQ(plan.steps.size(), 5u) << "points number -> string is a safe alter, still a step";
}

TEST(SchemaDiff, UnchangedFieldsAndUndiffedOptionsProduceNoSteps) {
  auto before = tasks_schema(kTitle);
  auto after = tasks_schema(kTitle, R"("tableName":"todo_items",)");
  EXPECT_TRUE(diff_schema(before.get(), *after, {}).steps.empty());
}

TEST(SchemaDiff, DroppedModelWarns) {
  auto before = tasks_schema(kTitle);
  auto after = Schema::parse_text(R"({"v":3,"models":{},"identityRoles":[]})");
  ASSERT_TRUE(after);
  auto plan = diff_schema(before.get(), **after, {});
  EXPECT_EQ(kinds(plan), std::vector<std::string>{"drop_model:"});
  EXPECT_EQ(codes(plan.warnings), std::vector<std::string>{"drop_model:"});
  EXPECT_FALSE(plan.applicable(false));
  EXPECT_TRUE(plan.applicable(true));
}

TEST(SchemaDiff, CastMatrix) {
  EXPECT_EQ(classify_cast(FieldType::kNumber, FieldType::kString), Cast::kSafe);
  EXPECT_EQ(classify_cast(FieldType::kString, FieldType::kNumber), Cast::kRisky);
  EXPECT_EQ(classify_cast(FieldType::kJson, FieldType::kEnum), Cast::kLossy);
  EXPECT_EQ(classify_cast(FieldType::kNumber, FieldType::kBoolean), Cast::kRisky);
  EXPECT_EQ(classify_cast(FieldType::kDate, FieldType::kBoolean), Cast::kLossy);
  EXPECT_EQ(classify_cast(FieldType::kEnum, FieldType::kDate), Cast::kRisky);
  EXPECT_EQ(classify_cast(FieldType::kBoolean, FieldType::kJson), Cast::kLossy);
}

TEST(SchemaDiff, HintsParseLikeTheCliSendsThem) {
  auto hints = parse_migration_hints(json::parse(
      R"({"renames":[{"from":"tasks.title","to":"tasks.name"}],"backfills":[{"model":"tasks","field":"prio","value":"3"},)"
      R"({"model":"tasks","field":"done","value":"false"},{"model":"tasks","field":"note","value":"it's"}]})").as_object());
  ASSERT_TRUE(hints);
  ASSERT_EQ(hints->renames.size(), 1u);
  EXPECT_EQ(hints->renames[0].model, "tasks");
  EXPECT_EQ(hints->renames[0].from, "title");
  EXPECT_EQ(hints->backfills[0].value, json::value(3));
  EXPECT_EQ(hints->backfills[1].value, json::value(false));
  EXPECT_EQ(hints->backfills[2].value, json::value("it's"));
  EXPECT_FALSE(parse_migration_hints(json::parse(R"({"backfills":[{"model":"tasks"}]})").as_object()));
}

}  // namespace
}  // namespace ablo::schema
