// The MCP tool catalog: input schemas generated from a schema document and an authority, and
// the argument check that enforces them (tool_catalog.h).
#include <boost/json.hpp>
#include <gtest/gtest.h>
#include <rapidcheck.h>
#include <rapidcheck/gtest.h>

#include "mcp/tool_catalog.h"

namespace ablo::mcp {
namespace {

namespace json = boost::json;

// The shape GET /v1/schema answers.
const json::object& schema_doc() {
  static const json::object doc = json::parse(R"({"models":[
    {"key":"task","fields":{
      "title":{"type":"string","isOptional":false},
      "status":{"type":"enum","isOptional":false,"enumValues":["todo","done"]},
      "points":{"type":"number","isOptional":true},
      "done":{"type":"boolean","isOptional":true},
      "dueAt":{"type":"date","isOptional":true},
      "meta":{"type":"json","isOptional":true}}},
    {"key":"note","fields":{"text":{"type":"string","isOptional":false}}}]})").as_object();
  return doc;
}

std::optional<std::string> check(const ToolCatalog& catalog, const char* tool, const char* args) {
  return check_arguments(*catalog.input_schema(tool), json::parse(args));
}

TEST(ToolCatalogTest, AnUnrestrictedAuthorityGetsEveryToolOverEveryModel) {
  const auto catalog = build_catalog(schema_doc(), {});
  for (const char* tool : {"get_schema", "list_records", "get_model", "create_model", "update_model", "delete_model",
                           "claim_model", "release_claim", "list_claims", "wait_for_change", "tail_logs", "get_usage"}) {
    EXPECT_TRUE(catalog.has(tool)) << tool;
  }
  EXPECT_EQ(catalog.readable_models, (std::vector<std::string>{"task", "note"}));
  EXPECT_EQ(catalog.input_schema("create_model")->at("properties").at("model").at("enum"), (json::array{"task", "note"}));
}

TEST(ToolCatalogTest, TheAuthorityDecidesWhichModelsEachToolOffers) {
  const auto reader = build_catalog(schema_doc(), {"task.read", "note.read"});
  EXPECT_TRUE(reader.has("get_model"));
  EXPECT_FALSE(reader.has("create_model"));
  EXPECT_FALSE(reader.has("claim_model")) << "a claim needs the write rule";
  const auto mixed = build_catalog(schema_doc(), {"task.read", "task.update", "note.read", "note.create"});
  EXPECT_EQ(mixed.input_schema("update_model")->at("properties").at("model").at("enum"), (json::array{"task"}));
  EXPECT_EQ(mixed.input_schema("create_model")->at("properties").at("model").at("enum"), (json::array{"note"}));
  EXPECT_FALSE(mixed.has("delete_model"));
  const auto nothing = build_catalog(schema_doc(), {"other.read"});
  EXPECT_FALSE(nothing.has("get_model")) << "no readable model: no read tools (an empty enum is no schema)";
  EXPECT_TRUE(nothing.has("get_schema"));
}

TEST(ToolCatalogTest, CreateArgumentsFollowTheModelsFieldsTypesAndRequiredFields) {
  const auto catalog = build_catalog(schema_doc(), {});
  EXPECT_EQ(check(catalog, "create_model", R"({"model":"task","data":{"title":"a","status":"todo"}})"), std::nullopt);
  EXPECT_EQ(check(catalog, "create_model",
                  R"({"model":"task","data":{"title":"a","status":"done","points":1.5,"done":null,"dueAt":"2026-01-01T00:00:00Z","meta":{"a":[1]}}})"),
            std::nullopt);
  EXPECT_EQ(check(catalog, "create_model", R"({"model":"note","data":{"text":"x"}})"), std::nullopt);
  EXPECT_EQ(check(catalog, "create_model", R"({"model":"task","data":{"title":"a"}})"), "data.status: required");
  EXPECT_EQ(check(catalog, "create_model", R"({"model":"task","data":{"title":"a","status":"later"}})"),
            R"(data.status: "later" is not one of ["todo","done"])");
  EXPECT_EQ(check(catalog, "create_model", R"({"model":"task","data":{"title":1,"status":"todo"}})"),
            "data.title: expected string, got integer");
  EXPECT_EQ(check(catalog, "create_model", R"({"model":"note","data":{"title":"a","text":"x"}})"),
            "data.title: unknown member (known: text)") << "another model's field";
  EXPECT_EQ(check(catalog, "create_model", R"({"model":"planet","data":{}})"),
            R"(model: "planet" is not one of ["task","note"])");
  EXPECT_EQ(check(catalog, "create_model", R"({"model":"task"})"), "data: required");
  EXPECT_EQ(check(catalog, "create_model", R"({"model":"task","data":{"title":"a","status":"todo"},"extra":1})"),
            "extra: unknown member (known: model, data, id, idempotencyKey)");
}

TEST(ToolCatalogTest, UpdatesArePartialButNotEmptyAndGuardsAreTyped) {
  const auto catalog = build_catalog(schema_doc(), {});
  EXPECT_EQ(check(catalog, "update_model", R"({"model":"task","id":"t","data":{"points":2}})"), std::nullopt);
  EXPECT_EQ(check(catalog, "update_model", R"({"model":"task","id":"t","data":{}})"),
            "data: must name at least 1 member(s)");
  EXPECT_EQ(check(catalog, "update_model", R"({"model":"task","id":"t","data":{"points":2},"onStale":"maybe"})"),
            R"(onStale: "maybe" is not one of ["reject","overwrite","notify"])");
  EXPECT_EQ(check(catalog, "update_model", R"({"model":"task","id":"t","data":{"points":2},"readAt":-1})"),
            "readAt: must be at least 0");
  EXPECT_EQ(check(catalog, "update_model", R"({"model":"task","id":"","data":{"points":2}})"), "id: must not be empty");
  EXPECT_EQ(check(catalog, "claim_model", R"({"model":"task","id":"t","ttlSeconds":0})"), "ttlSeconds: must be at least 1");
  EXPECT_EQ(check(catalog, "claim_model", R"({"model":"task","id":"t","ttlSeconds":1.5})"),
            "ttlSeconds: expected integer, got number");
  EXPECT_EQ(check(catalog, "claim_model", R"({"model":"task","id":"t","fields":["title",3]})"),
            "fields[1]: expected string, got integer");
  EXPECT_EQ(check(catalog, "list_records", R"({"model":"task","where":{"status":"todo","done":true}})"), std::nullopt);
  EXPECT_EQ(check(catalog, "list_records", R"({"model":"task","where":{"colour":"red"}})"),
            "where.colour: unknown member (known: title, status, points, done, dueAt, meta)");
}

// Property: a create built from any choice of the model's fields passes exactly when every
// required field is present and every value has the declared type.
RC_GTEST_PROP(ToolCatalogProperty, CreateIsAcceptedExactlyWhenRequiredFieldsArePresentAndTyped, ()) {
  static const auto catalog = build_catalog(schema_doc(), {});
  const bool with_title = *rc::gen::arbitrary<bool>();
  const bool with_status = *rc::gen::arbitrary<bool>();
  const bool bad_status = *rc::gen::arbitrary<bool>();
  const bool with_points = *rc::gen::arbitrary<bool>();
  const bool points_as_text = *rc::gen::arbitrary<bool>();
  json::object data;
  if (with_title) data["title"] = *rc::gen::arbitrary<std::string>();
  if (with_status) data["status"] = bad_status ? "nope" : "todo";
  if (with_points) {
    if (points_as_text) {
      data["points"] = "three";
    } else {
      data["points"] = *rc::gen::inRange(-1000, 1000);
    }
  }
  const bool valid = with_title && with_status && !bad_status && !(with_points && points_as_text);
  const auto problem =
      check_arguments(*catalog.input_schema("create_model"), json::object{{"model", "task"}, {"data", data}});
  RC_ASSERT(problem.has_value() == !valid);
}

}  // namespace
}  // namespace ablo::mcp
