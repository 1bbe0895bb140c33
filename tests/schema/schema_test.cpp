#include "schema/schema.h"

#include <boost/json.hpp>
#include <gtest/gtest.h>
#include <rapidcheck/gtest.h>

namespace ablo::schema {
namespace {

namespace json = boost::json;

constexpr const char* kMinimal =
    R"({"v":3,"models":{"tasks":{"fields":{"title":{"type":"string","isOptional":false,"isIndexed":false}},)"
    R"("relations":{},"load":"instant","typename":"tasks","tenancy":{"kind":"column","column":"organization_id"},)"
    R"("plane":"tenant"}},"identityRoles":[]})";

Error parse_error(const std::string& text) {
  auto parsed = Schema::parse_text(text);
  EXPECT_FALSE(parsed) << "expected " << text << " to be rejected";
  return parsed ? Error{} : parsed.error();
}

std::string with_model(const std::string& model_json) {
  return R"({"v":3,"models":{"m":)" + model_json + R"(},"identityRoles":[]})";
}

// Schema JSON v3 as 0.49 serializes it: per-model `conflict` and top-level `sessionSettings`.
TEST(SchemaParse, ReadsA049ConflictPolicyAndKeepsSessionSettings) {
  auto schema = json::parse(kMinimal).as_object();
  schema["models"].as_object()["tasks"].as_object()["conflict"] = json::object{{"user", "overwrite"}, {"agent", "notify"}};
  schema["sessionSettings"] = json::object{{"app.org_id", "orgId"}, {"app.kind", "participantKind"}};
  auto parsed = Schema::parse(schema);
  ASSERT_TRUE(parsed) << parsed.error().message;
  const auto& conflict = (*parsed)->by_key("tasks")->conflict;
  EXPECT_TRUE(conflict.declared);
  EXPECT_EQ(conflict.for_kind("user"), StaleDisposition::kOverwrite);
  EXPECT_EQ(conflict.for_kind("agent"), StaleDisposition::kNotify);
  EXPECT_EQ(conflict.for_kind("system"), std::nullopt);
  EXPECT_NE((*parsed)->json_text().find("sessionSettings"), std::string::npos);
  EXPECT_FALSE((*Schema::parse_text(kMinimal))->by_key("tasks")->conflict.declared);
}

TEST(SchemaParse, RefusesConflictAndSessionSettingsOutsideTheirVocabulary) {
  const std::string model = R"({"fields":{},"relations":{},"conflict":)";
  EXPECT_EQ(parse_error(with_model(model + R"({"agent":"force"}})")).param, "models.m.conflict.agent");
  EXPECT_EQ(parse_error(with_model(model + R"({"robot":"reject"}})")).param, "models.m.conflict.robot");
  EXPECT_EQ(parse_error(with_model(model + R"("reject"})")).code, "invalid_schema");
  EXPECT_EQ(parse_error(R"({"v":3,"models":{},"identityRoles":[],"sessionSettings":{"app.x":"userEmail"}})").param,
            "sessionSettings.app.x");
}

TEST(SchemaHash, MatchesTheReferenceVectors) {
  EXPECT_EQ(schema_hash(json::parse(kMinimal)), "c8c8e5e4");
  EXPECT_EQ(schema_hash(json::parse(R"({"v":3,"models":{},"identityRoles":[]})")), "2825b171");
  std::string accents = kMinimal;
  accents.replace(accents.find(R"("type":"string")"), 15, R"("type":"enum","enumValues":["é","naïve"])");
  EXPECT_EQ(schema_hash(json::parse(accents)), "59ece3ab");
}

TEST(SchemaHash, DoesNotDependOnKeyOrder) {
  auto reordered = json::parse(R"({"identityRoles":[],"models":{"tasks":{"plane":"tenant","typename":"tasks",)"
                               R"("tenancy":{"column":"organization_id","kind":"column"},"load":"instant",)"
                               R"("relations":{},"fields":{"title":{"isIndexed":false,"isOptional":false,)"
                               R"("type":"string"}}}},"v":3})");
  EXPECT_EQ(schema_hash(reordered), "c8c8e5e4");
}

TEST(SchemaParse, ReadsModelsFieldsAndDefaults) {
  auto schema = Schema::parse_text(kMinimal);
  ASSERT_TRUE(schema) << schema.error().message;
  const Model* tasks = (*schema)->by_key("tasks");
  ASSERT_NE(tasks, nullptr);
  EXPECT_EQ(tasks->typename_, "tasks");
  EXPECT_EQ(tasks->table, "tasks");
  EXPECT_TRUE(tasks->mutable_) << "absent mutable means writable";
  ASSERT_EQ(tasks->fields.size(), 1u);
  EXPECT_EQ(tasks->fields[0].type, FieldType::kString);
  EXPECT_EQ((*schema)->hash(), "c8c8e5e4");
}

TEST(SchemaParse, RejectsUnsupportedVersion) {
  auto error = parse_error(R"({"v":2,"models":{}})");
  EXPECT_EQ(error.code, "invalid_schema");
  EXPECT_NE(error.message.find("unsupported schema-JSON version 2 (expected 3)"), std::string::npos);
}

TEST(SchemaParse, NamesTheOffendingFieldForAnUnknownType) {
  auto error = parse_error(with_model(R"({"fields":{"title":{"type":"text"}},"relations":{}})"));
  EXPECT_EQ(error.code, "invalid_schema");
  EXPECT_EQ(error.param, "models.m.fields.title.type");
  EXPECT_NE(error.message.find("text"), std::string::npos);
}

TEST(SchemaParse, EnforcesCamelCaseFieldNames) {
  EXPECT_EQ(parse_error(with_model(R"({"fields":{"Title":{"type":"string"}},"relations":{}})")).code,
            "schema_field_not_camelcase");
  EXPECT_EQ(parse_error(with_model(R"({"fields":{"contentJSON":{"type":"json"}},"relations":{}})")).code,
            "schema_field_consecutive_caps");
  EXPECT_TRUE(Schema::parse_text(with_model(R"({"fields":{"id":{"type":"string"}},"relations":{}})")));
}

TEST(SchemaParse, DerivesScopeKinds) {
  auto schema = Schema::parse_text(R"({"v":3,"models":{
      "decks":{"fields":{},"relations":{},"scope":"deck"},
      "slideDecks":{"fields":{},"relations":{},"scope":true,"typename":"SlideDeck"},
      "notes":{"fields":{},"relations":{},"scope":false}},"identityRoles":[]})");
  ASSERT_TRUE(schema) << schema.error().message;
  EXPECT_EQ((*schema)->by_key("decks")->scope_kind, "deck");
  EXPECT_EQ((*schema)->by_key("slideDecks")->scope_kind, "slidedeck");
  EXPECT_FALSE((*schema)->by_key("notes")->scope_kind);
  auto error = parse_error(with_model(R"({"fields":{},"relations":{},"scope":"Deck"})"));
  EXPECT_EQ(error.code, "schema_scope_kind_invalid");
  EXPECT_EQ(error.param, "m.scope");
}

TEST(SchemaParse, ChecksGrants) {
  auto missing = parse_error(R"({"v":3,"models":{"members":{"fields":{},"relations":{},
      "grants":{"subject":"member","scope":"room"}}},"identityRoles":[]})");
  EXPECT_EQ(missing.code, "schema_grants_relation_missing");
  auto not_root = parse_error(R"({"v":3,"models":{"rooms":{"fields":{},"relations":{}},
      "members":{"fields":{},"relations":{
        "member":{"type":"belongsTo","target":"users","foreignKey":"userId"},
        "room":{"type":"belongsTo","target":"rooms","foreignKey":"roomId"}},
      "grants":{"subject":"member","scope":"room"}}},"identityRoles":[]})");
  EXPECT_EQ(not_root.code, "schema_grants_target_not_scope_root");
  EXPECT_EQ(not_root.param, "rooms.scope");
}

TEST(SchemaParse, RejectsBadColumnOverridesAndRoleKinds) {
  EXPECT_EQ(parse_error(with_model(R"({"fields":{"a":{"type":"string","column":"1bad"}},"relations":{}})")).param,
            "models.m.fields.a.column");
  auto roles = parse_error(R"({"v":3,"models":{},"identityRoles":[{"kind":"ORG","source":{"field":"o","multi":false}}]})");
  EXPECT_EQ(roles.code, "invalid_schema");
}

TEST(SchemaResolve, AcceptsEveryWireFormOfAModelName) {
  auto schema = *Schema::parse_text(R"({"v":3,"models":{"weatherReports":{"fields":{},"relations":{}},
      "tasks":{"fields":{},"relations":{},"typename":"TaskModel"}},"identityRoles":[]})");
  const Model* weather = schema->by_key("weatherReports");
  for (const char* name : {"weatherReports", "weatherreports", "WEATHERREPORTS"}) EXPECT_EQ(schema->resolve(name), weather);
  const Model* tasks = schema->by_key("tasks");
  for (const char* name : {"tasks", "TaskModel", "taskmodel", "task"}) EXPECT_EQ(schema->resolve(name), tasks) << name;
  EXPECT_EQ(schema->resolve("ghost"), nullptr);
}

TEST(SchemaResolve, ResolvesQueryColumnsInCamelAndSnakeCase) {
  auto schema = *Schema::parse_text(with_model(
      R"({"fields":{"deckId":{"type":"string"},"legacy":{"type":"string","column":"legacy_col"}},"relations":{}})"));
  const Model& m = *schema->by_key("m");
  EXPECT_EQ(m.resolve_column("deckId"), "deckId");
  EXPECT_EQ(m.resolve_column("deck_id"), "deckId");
  EXPECT_EQ(m.resolve_column("legacy_col"), "legacy");
  EXPECT_EQ(m.resolve_column("created_at"), "createdAt");
  EXPECT_FALSE(m.resolve_column("nope"));
}

TEST(CamelToSnake, MatchesTheReferenceExamples) {
  EXPECT_EQ(camel_to_snake("projectId"), "project_id");
  EXPECT_EQ(camel_to_snake("line2Text"), "line2_text");
  EXPECT_EQ(camel_to_snake("aBC"), "a_b_c");
  EXPECT_EQ(camel_to_snake("a_b"), "a_b");
}

RC_GTEST_PROP(CamelToSnake, NeverLeavesUppercaseLetters, (std::string name)) {
  for (char c : camel_to_snake(name)) RC_ASSERT(!(c >= 'A' && c <= 'Z'));
}

TEST(Schema, ModelTablesMayNotTakeTheServersOwnTableNames) {
  for (const char* model : {"settings", "sync_deltas", "_ablo_tasks"}) {
    auto parsed = Schema::parse_text(std::string(R"({"v":3,"models":{")") + model +
                                     R"(":{"fields":{},"relations":{}}},"identityRoles":[]})");
    ASSERT_FALSE(parsed) << model;
    EXPECT_NE(parsed.error().param.find("tableName"), std::string::npos) << parsed.error().param;
  }
  auto renamed = Schema::parse_text(
      R"({"v":3,"models":{"settings":{"tableName":"app_settings","fields":{},"relations":{}}},"identityRoles":[]})");
  EXPECT_TRUE(renamed) << "a tableName resolves the clash";
}

}  // namespace
}  // namespace ablo::schema
