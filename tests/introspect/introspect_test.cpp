#include "introspect/introspect.h"

#include <cstdlib>

#include <boost/json.hpp>
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "common/random.h"

namespace ablo::introspect {
namespace {

namespace json = boost::json;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

// ---- pure helpers (no database)

TEST(SnakeToCamel, FollowsSchemaSpecSection3_2) {
  EXPECT_EQ(snake_to_camel("due_at"), "dueAt");
  EXPECT_EQ(snake_to_camel("line2_text"), "line2Text");
  EXPECT_EQ(snake_to_camel("x1_y"), "x1Y");
  EXPECT_EQ(snake_to_camel("a__b"), "aB") << "a run of underscores folds into one capital";
  EXPECT_EQ(snake_to_camel("a_1"), "a1");
  EXPECT_EQ(snake_to_camel("title"), "title");
  EXPECT_EQ(snake_to_camel("trailing_"), "trailing_");
  EXPECT_EQ(snake_to_camel("projectId"), "projectId") << "camelCase names round-trip";
}

TEST(EnumValuesOfCheck, ReadsTheFormsPostgresPrints) {
  EXPECT_THAT(enum_values_of_check("CHECK ((status = ANY (ARRAY['a'::text, 'b''c'::text])))", "status"),
              ElementsAre("a", "b'c"));
  EXPECT_THAT(enum_values_of_check("CHECK (((kind)::text = ANY ((ARRAY['x'::character varying, "
                                   "'y'::character varying])::text[])))",
                                   "kind"),
              ElementsAre("x", "y"));
  EXPECT_THAT(enum_values_of_check(R"(CHECK (("order" = ANY (ARRAY['p'::text, 'q'::text]))))", "order"),
              ElementsAre("p", "q"));
  EXPECT_THAT(enum_values_of_check("CHECK ((one = 'z'::text))", "one"), ElementsAre("z"));
  EXPECT_THAT(enum_values_of_check("CHECK ((status = ANY (ARRAY['a'::text]))) NOT VALID", "status"), ElementsAre("a"));
}

TEST(EnumValuesOfCheck, IgnoresOtherConstraints) {
  EXPECT_THAT(enum_values_of_check("CHECK ((status = ANY (ARRAY['a'::text, 'b'::text])))", "other"), IsEmpty());
  EXPECT_THAT(enum_values_of_check("CHECK ((length(status) > 3))", "status"), IsEmpty());
  EXPECT_THAT(enum_values_of_check("CHECK ((n = ANY (ARRAY[1, 2])))", "n"), IsEmpty());
  EXPECT_THAT(enum_values_of_check("CHECK (((status = 'a'::text) OR (status = 'b'::text)))", "status"), IsEmpty());
  EXPECT_THAT(enum_values_of_check("CHECK (((status = 'a'::text) AND (other = 'b'::text)))", "status"), IsEmpty());
}

// ---- against PostgreSQL: each test works in a PostgreSQL schema of its own, dropped at the end.

constexpr const char* kStoreBaseColumns =
    "_tenant TEXT NOT NULL, id TEXT NOT NULL, created_at TIMESTAMPTZ NOT NULL, updated_at TIMESTAMPTZ NOT NULL, "
    "created_by TEXT, archived_at TIMESTAMPTZ, _groups TEXT[] NOT NULL, PRIMARY KEY (_tenant, id)";

class IntrospectDbTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const char* url = std::getenv("ABLO_TEST_DATABASE_URL");
    if (!url || !*url) GTEST_SKIP() << "ABLO_TEST_DATABASE_URL is not set";
    auto opened = pg::Connection::open(url);
    ASSERT_TRUE(opened) << opened.error().message;
    conn_ = std::move(*opened);
    std::string suffix = random_base62(12);
    for (auto& c : suffix) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    pg_schema_ = "introspect_" + suffix;
    ASSERT_TRUE(conn_->exec_script("CREATE SCHEMA " + pg::quote_identifier(pg_schema_)));
  }

  void TearDown() override {
    if (conn_) {
      EXPECT_TRUE(conn_->exec_script("DROP SCHEMA " + pg::quote_identifier(pg_schema_) + " CASCADE"));
    }
  }

  // Runs DDL with the test's schema first on the search path.
  void sql(const std::string& script) {
    auto ran = conn_->exec_script("SET search_path TO " + pg::quote_identifier(pg_schema_) + "; " + script +
                                  "; RESET search_path");
    ASSERT_TRUE(ran) << ran.error().message << "\n" << script;
  }

  // A table as the PostgreSQL store creates it: base columns, then nullable field columns.
  void create_store_table(const std::string& table, const std::string& field_columns = "") {
    sql("CREATE TABLE " + pg::quote_identifier(table) + " (" + kStoreBaseColumns +
        (field_columns.empty() ? "" : ", " + field_columns) + ")");
  }

  PullResult pull() {
    auto pulled = pull_schema(*conn_, pg_schema_);
    EXPECT_TRUE(pulled) << pulled.error().message;
    return pulled ? *pulled : PullResult{};
  }

  CheckReport check(const std::string& schema_text) {
    auto schema = schema::Schema::parse_text(schema_text);
    EXPECT_TRUE(schema) << schema.error().message;
    if (!schema) return {};
    auto report = check_schema(*conn_, **schema, pg_schema_);
    EXPECT_TRUE(report) << report.error().message;
    return report ? *report : CheckReport{};
  }

  std::unique_ptr<pg::Connection> conn_;
  std::string pg_schema_;
};

std::string joined(const std::vector<std::string>& lines) {
  std::string out;
  for (const auto& line : lines) out += line + "\n";
  return out;
}

const json::object& field(const json::object& schema, const std::string& model, const std::string& name) {
  return schema.at("models").at(model).at("fields").at(name).as_object();
}

TEST_F(IntrospectDbTest, PullMapsColumnsToTypedFieldsAndRoundTripsThroughParse) {
  sql(R"(CREATE TABLE work_items (
           id TEXT PRIMARY KEY, organization_id TEXT NOT NULL, created_at TIMESTAMPTZ NOT NULL,
           updated_at TIMESTAMPTZ NOT NULL, created_by TEXT, archived_at TIMESTAMPTZ,
           title TEXT NOT NULL, notes VARCHAR(200), code CHAR(3),
           estimate DOUBLE PRECISION, ratio REAL, points INTEGER NOT NULL, big BIGINT, small SMALLINT,
           price NUMERIC(10,2), done BOOLEAN NOT NULL, due_at TIMESTAMPTZ, local_at TIMESTAMP, day DATE,
           meta JSONB, raw JSON, status TEXT NOT NULL, address INET, "externalRef" TEXT,
           kind VARCHAR(10) CHECK (kind IN ('x', 'y')), "order" TEXT CHECK ("order" IN ('asc')),
           CONSTRAINT work_items_status_enum CHECK (status IN ('open', 'in''progress', 'done')));
         CREATE INDEX work_items_points ON work_items (points))");

  const PullResult pulled = pull();
  const json::object& models = pulled.schema.at("models").as_object();
  ASSERT_EQ(models.size(), 1u);
  const json::object& model = models.at("workItems").as_object();
  EXPECT_EQ(model.at("tableName"), "work_items");
  EXPECT_EQ(model.at("tenancy"), (json::object{{"kind", "column"}, {"column", "organization_id"}}));
  EXPECT_EQ(model.at("plane"), "tenant");

  const json::object& fields = model.at("fields").as_object();
  for (const char* base : {"id", "organizationId", "createdAt", "updatedAt", "createdBy", "archivedAt"}) {
    EXPECT_FALSE(fields.contains(base)) << base << " is a base column, not a field";
  }
  const auto expect_field = [&](const char* name, const char* type, bool optional) {
    SCOPED_TRACE(name);
    ASSERT_TRUE(fields.contains(name));
    EXPECT_EQ(field(pulled.schema, "workItems", name).at("type"), type);
    EXPECT_EQ(field(pulled.schema, "workItems", name).at("isOptional"), optional);
  };
  expect_field("title", "string", false);
  expect_field("notes", "string", true);
  expect_field("code", "string", true);
  expect_field("estimate", "number", true);
  expect_field("ratio", "number", true);
  expect_field("points", "number", false);
  expect_field("big", "number", true);
  expect_field("small", "number", true);
  expect_field("price", "number", true);
  expect_field("done", "boolean", false);
  expect_field("dueAt", "date", true);
  expect_field("localAt", "date", true);
  expect_field("day", "date", true);
  expect_field("meta", "json", true);
  expect_field("raw", "json", true);
  expect_field("status", "enum", false);
  expect_field("address", "string", true);
  expect_field("externalRef", "string", true);
  expect_field("kind", "enum", true);
  expect_field("order", "enum", true);

  EXPECT_EQ(field(pulled.schema, "workItems", "status").at("enumValues"), (json::array{"open", "in'progress", "done"}));
  EXPECT_EQ(field(pulled.schema, "workItems", "kind").at("enumValues"), (json::array{"x", "y"}));
  EXPECT_EQ(field(pulled.schema, "workItems", "order").at("enumValues"), (json::array{"asc"}));
  EXPECT_FALSE(field(pulled.schema, "workItems", "dueAt").contains("column")) << "due_at round-trips via camelToSnake";
  EXPECT_EQ(field(pulled.schema, "workItems", "externalRef").at("column"), "externalRef");
  EXPECT_EQ(field(pulled.schema, "workItems", "points").at("isIndexed"), true);
  EXPECT_EQ(field(pulled.schema, "workItems", "title").at("isIndexed"), false);
  ASSERT_EQ(pulled.warnings.size(), 1u) << joined(pulled.warnings);
  EXPECT_THAT(pulled.warnings[0], HasSubstr("\"address\""));
  EXPECT_THAT(pulled.warnings[0], HasSubstr("inet"));

  auto parsed = schema::Schema::parse(pulled.schema);
  ASSERT_TRUE(parsed) << parsed.error().message << "\n" << json::serialize(pulled.schema);
  const schema::Model* work_items = (*parsed)->by_key("workItems");
  ASSERT_NE(work_items, nullptr);
  EXPECT_EQ(work_items->table, "work_items");
  ASSERT_NE(work_items->field("dueAt"), nullptr);
  EXPECT_EQ(work_items->field("dueAt")->column, "due_at");
  EXPECT_EQ(work_items->field("externalRef")->column, "externalRef");
  EXPECT_EQ(work_items->field("status")->type, schema::FieldType::kEnum);
}

TEST_F(IntrospectDbTest, PullSkipsServerTablesAndReadsEnumTypesAndTenancy) {
  create_store_table("tasks", "title TEXT, priority DOUBLE PRECISION");
  sql(R"(CREATE TYPE mood AS ENUM ('happy', 'sad');
         CREATE TABLE countries (id TEXT PRIMARY KEY, name TEXT NOT NULL, feeling mood);
         CREATE TABLE sync_deltas (seq BIGINT);
         CREATE TABLE settings (key TEXT);
         CREATE TABLE _ablo_meta (key TEXT);
         CREATE TABLE "Legacy" ("Title" TEXT, "URL" TEXT, "_hidden" TEXT, "createdAt" TEXT))");

  const PullResult pulled = pull();
  const json::object& models = pulled.schema.at("models").as_object();
  EXPECT_EQ(models.size(), 3u) << json::serialize(pulled.schema);
  EXPECT_FALSE(models.contains("syncDeltas"));
  EXPECT_FALSE(models.contains("settings"));
  EXPECT_FALSE(models.contains("AbloMeta"));

  const json::object& tasks = models.at("tasks").as_object();
  EXPECT_FALSE(tasks.contains("tableName")) << "a key without '_' is the table name already";
  EXPECT_EQ(tasks.at("fields").as_object().size(), 2u) << "_tenant and _groups are base columns";
  EXPECT_EQ(tasks.at("tenancy").at("kind"), "column");

  EXPECT_EQ(models.at("countries").at("tenancy"), (json::object{{"kind", "none"}}));
  EXPECT_EQ(field(pulled.schema, "countries", "feeling").at("type"), "enum");
  EXPECT_EQ(field(pulled.schema, "countries", "feeling").at("enumValues"), (json::array{"happy", "sad"}));

  // Column names that are not camelCase-able keep their column under a valid field name.
  EXPECT_EQ(field(pulled.schema, "Legacy", "title").at("column"), "Title");
  EXPECT_EQ(field(pulled.schema, "Legacy", "url").at("column"), "URL");
  EXPECT_EQ(field(pulled.schema, "Legacy", "hidden").at("column"), "_hidden");
  EXPECT_FALSE(models.at("Legacy").at("fields").as_object().contains("createdAt"));
  EXPECT_THAT(joined(pulled.warnings), HasSubstr("\"createdAt\" skipped"));

  auto parsed = schema::Schema::parse(pulled.schema);
  EXPECT_TRUE(parsed) << parsed.error().message << "\n" << json::serialize(pulled.schema);
}

TEST_F(IntrospectDbTest, PullOfAnEmptySchemaIsTheEmptyDocument) {
  const PullResult pulled = pull();
  EXPECT_EQ(json::serialize(pulled.schema), R"({"v":3,"models":{},"identityRoles":[]})");
  EXPECT_TRUE(schema::Schema::parse(pulled.schema));
}

TEST_F(IntrospectDbTest, PullOfAMissingSchemaFails) {
  auto pulled = pull_schema(*conn_, pg_schema_ + "_missing");
  ASSERT_FALSE(pulled);
  EXPECT_THAT(pulled.error().message, HasSubstr("does not exist"));
}

constexpr const char* kTasksSchema = R"({"v":3,"models":{
  "tasks":{"fields":{
      "title":{"type":"string","isOptional":false,"isIndexed":false},
      "estimate":{"type":"number","isOptional":true,"isIndexed":false},
      "done":{"type":"boolean","isOptional":true,"isIndexed":false},
      "dueAt":{"type":"date","isOptional":true,"isIndexed":false},
      "meta":{"type":"json","isOptional":true,"isIndexed":false},
      "status":{"type":"enum","isOptional":false,"isIndexed":false,"enumValues":["open","done"]},
      "legacyName":{"type":"string","isOptional":true,"isIndexed":false,"column":"legacy_col"},
      "organizationId":{"type":"string","isOptional":false,"isIndexed":false},
      "createdAt":{"type":"date","isOptional":false,"isIndexed":false}},
    "relations":{},"load":"instant","typename":"Task","tenancy":{"kind":"column","column":"organization_id"},
    "plane":"tenant"},
  "accounts":{"fields":{"email":{"type":"string","isOptional":false,"isIndexed":false}},
    "relations":{},"load":"instant","typename":"Account","tenancy":{"kind":"none"},"plane":"control"}},
  "identityRoles":[]})";

constexpr const char* kTasksColumns =
    R"(title TEXT, estimate DOUBLE PRECISION, done BOOLEAN, due_at TIMESTAMPTZ, meta JSONB, status TEXT,
       legacy_col TEXT)";

TEST_F(IntrospectDbTest, CheckAcceptsTheStoreLayout) {
  create_store_table("tasks", kTasksColumns);
  sql(R"(ALTER TABLE tasks ADD CONSTRAINT tasks_status_enum CHECK ("status" IN ('open', 'done'));
         ALTER TABLE tasks ADD COLUMN unrelated TEXT;
         CREATE TABLE other_things (x INT))");
  const CheckReport report = check(kTasksSchema);
  EXPECT_TRUE(report.ok()) << joined(report.problems);
  EXPECT_THAT(report.warnings, IsEmpty()) << joined(report.warnings);
}

TEST_F(IntrospectDbTest, CheckNamesAMissingTable) {
  const CheckReport report = check(kTasksSchema);
  ASSERT_EQ(report.problems.size(), 1u) << joined(report.problems) << "the control-plane model needs no table";
  EXPECT_THAT(report.problems[0], HasSubstr("table \"tasks\" does not exist"));
}

TEST_F(IntrospectDbTest, CheckNamesAMissingColumn) {
  create_store_table("tasks", "title TEXT, estimate DOUBLE PRECISION, done BOOLEAN, due_at TIMESTAMPTZ, "
                              "meta JSONB, status TEXT");
  sql("ALTER TABLE tasks ADD CONSTRAINT tasks_status_enum CHECK (status IN ('open', 'done'))");
  const CheckReport report = check(kTasksSchema);
  ASSERT_EQ(report.problems.size(), 1u) << joined(report.problems);
  EXPECT_THAT(report.problems[0], HasSubstr("missing column \"legacy_col\""));
  EXPECT_THAT(report.problems[0], HasSubstr("legacyName"));
}

TEST_F(IntrospectDbTest, CheckNamesAMissingBaseColumn) {
  sql("CREATE TABLE tasks (id TEXT PRIMARY KEY, _tenant TEXT, created_at TIMESTAMPTZ, updated_at TIMESTAMPTZ, "
      "created_by TEXT, archived_at TIMESTAMPTZ, " + std::string(kTasksColumns) + ")");
  const CheckReport report = check(kTasksSchema);
  EXPECT_FALSE(report.ok());
  EXPECT_THAT(joined(report.problems), HasSubstr("missing base column \"_groups\""));
}

TEST_F(IntrospectDbTest, CheckNamesAWrongColumnType) {
  create_store_table("tasks", R"(title TEXT, estimate INTEGER, done BOOLEAN, due_at TIMESTAMPTZ, meta JSONB,
                                 status TEXT, legacy_col TEXT)");
  sql("ALTER TABLE tasks ADD CONSTRAINT tasks_status_enum CHECK (status IN ('open', 'done'))");
  const CheckReport report = check(kTasksSchema);
  ASSERT_EQ(report.problems.size(), 1u) << joined(report.problems);
  EXPECT_THAT(report.problems[0], HasSubstr("column \"estimate\""));
  EXPECT_THAT(report.problems[0], HasSubstr("is integer, expected double precision"));
}

TEST_F(IntrospectDbTest, CheckWarnsOnlyForAMissingOrDifferentEnumConstraint) {
  create_store_table("tasks", kTasksColumns);
  CheckReport report = check(kTasksSchema);
  EXPECT_TRUE(report.ok()) << joined(report.problems);
  ASSERT_EQ(report.warnings.size(), 1u) << joined(report.warnings);
  EXPECT_THAT(report.warnings[0], HasSubstr("tasks_status_enum"));

  sql("ALTER TABLE tasks ADD CONSTRAINT tasks_status_enum CHECK (status IN ('open', 'closed'))");
  report = check(kTasksSchema);
  EXPECT_TRUE(report.ok()) << joined(report.problems);
  ASSERT_EQ(report.warnings.size(), 1u) << joined(report.warnings);
  EXPECT_THAT(report.warnings[0], HasSubstr("does not allow exactly"));
}

TEST_F(IntrospectDbTest, CheckOfAMissingSchemaIsAProblem) {
  auto schema = schema::Schema::parse_text(kTasksSchema);
  ASSERT_TRUE(schema);
  auto report = check_schema(*conn_, **schema, pg_schema_ + "_missing");
  ASSERT_TRUE(report) << report.error().message;
  ASSERT_EQ(report->problems.size(), 1u);
  EXPECT_THAT(report->problems[0], HasSubstr("does not exist"));
}

TEST_F(IntrospectDbTest, PulledSchemaOfStoreTablesChecksOk) {
  create_store_table("tasks", kTasksColumns);
  create_store_table("project_notes", "body TEXT, pinned BOOLEAN");
  sql("ALTER TABLE tasks ADD CONSTRAINT tasks_status_enum CHECK (status IN ('open', 'done'))");
  const PullResult pulled = pull();
  EXPECT_THAT(pulled.warnings, IsEmpty()) << joined(pulled.warnings);
  auto schema = schema::Schema::parse(pulled.schema);
  ASSERT_TRUE(schema) << schema.error().message;
  auto report = check_schema(*conn_, **schema, pg_schema_);
  ASSERT_TRUE(report) << report.error().message;
  EXPECT_TRUE(report->ok()) << joined(report->problems);
  EXPECT_THAT(report->warnings, IsEmpty()) << joined(report->warnings);
}

TEST_F(IntrospectDbTest, IntrospectionWritesNothingAndLeavesNoTransactionOpen) {
  create_store_table("tasks", kTasksColumns);
  ASSERT_TRUE(pull_schema(*conn_, pg_schema_));
  // Inside the READ ONLY transaction introspection uses this would read "on".
  auto read_only = conn_->exec("SHOW transaction_read_only");
  ASSERT_TRUE(read_only) << read_only.error().message;
  EXPECT_EQ(read_only->text(0, 0), "off") << "the read-only transaction must be closed";
}

}  // namespace
}  // namespace ablo::introspect
