#include "schema/validate.h"

#include <boost/json.hpp>
#include <gtest/gtest.h>
#include <rapidcheck/gtest.h>

namespace ablo::schema {
namespace {

namespace json = boost::json;

const Model& projects() {
  static const auto schema = *Schema::parse_text(R"({"v":3,"models":{"projects":{"fields":{
      "name":{"type":"string","isOptional":false,"isIndexed":false},
      "status":{"type":"enum","enumValues":["active","archived"],"isOptional":false,"isIndexed":false},
      "budget":{"type":"number","isOptional":true,"isIndexed":false},
      "open":{"type":"boolean","isOptional":true,"isIndexed":false},
      "dueAt":{"type":"date","isOptional":true,"isIndexed":false},
      "tags":{"type":"json","isOptional":false,"isIndexed":false}},"relations":{}}},"identityRoles":[]})");
  return *schema->by_key("projects");
}

Error rejection(json::object input) {
  auto result = validate_input(projects(), input, WriteKind::kCreate);
  EXPECT_FALSE(result);
  return result ? Error{} : result.error();
}

TEST(ValidateInput, AcceptsWellTypedValuesAndMissingRequiredFields) {
  auto result = validate_input(projects(), {{"name", "x"}, {"budget", 1.5}, {"open", false}, {"tags", json::array{"a"}}},
                               WriteKind::kCreate);
  ASSERT_TRUE(result) << result.error().message;
  EXPECT_EQ(result->size(), 4u);
}

TEST(ValidateInput, RejectsAnEnumValueNamingFieldAndChoices) {
  auto error = rejection({{"status", "deleted"}});
  EXPECT_EQ(error.code, "invalid_request");
  EXPECT_EQ(error.param, "status");
  EXPECT_NE(error.message.find("active, archived"), std::string::npos) << error.message;
}

TEST(ValidateInput, DatesAsEpochMillisecondsMustFitAJsDate) {
  auto ok = validate_input(projects(), {{"dueAt", 1700000000000}}, WriteKind::kUpdate);
  ASSERT_TRUE(ok) << ok.error().message;
  EXPECT_EQ(ok->at("dueAt"), "2023-11-14T22:13:20.000Z");
  auto at_limit = validate_input(projects(), {{"dueAt", -8'640'000'000'000'000}}, WriteKind::kUpdate);
  ASSERT_TRUE(at_limit) << at_limit.error().message;
  EXPECT_EQ(at_limit->at("dueAt"), "-271821-04-20T00:00:00.000Z");
  for (const char* bad : {"18446744073709551615", "9223372036854775807", "8640000000000001", "1e300", "1.5"}) {
    auto result = validate_input(projects(), {{"dueAt", json::parse(bad)}}, WriteKind::kUpdate);
    ASSERT_FALSE(result) << bad;
    EXPECT_EQ(result.error().code, "invalid_request") << bad;
    EXPECT_EQ(result.error().param, "dueAt") << bad;
  }
}

TEST(ValidateRowId, BadIdsAreInvalidId) {
  auto empty = validate_row_id("");
  ASSERT_FALSE(empty);
  EXPECT_EQ(empty.error().code, "invalid_id");
}

TEST(ValidateInput, RejectsWrongTypes) {
  EXPECT_EQ(rejection({{"budget", "5"}}).param, "budget");
  EXPECT_EQ(rejection({{"open", 1}}).param, "open");
  EXPECT_EQ(rejection({{"name", 3}}).param, "name");
  EXPECT_EQ(rejection({{"dueAt", "tomorrow"}}).param, "dueAt");
}

TEST(ValidateInput, RejectsUnknownFields) {
  auto error = rejection({{"foo", 1}});
  EXPECT_EQ(error.param, "foo");
  EXPECT_NE(error.message.find("unknown field"), std::string::npos);
}

TEST(ValidateInput, StripsServerOwnedKeysAndAllowsNull) {
  auto result = validate_input(projects(), {{"organizationId", "other"}, {"id", "x"}, {"budget", nullptr}},
                               WriteKind::kUpdate);
  ASSERT_TRUE(result);
  EXPECT_FALSE(result->contains("organizationId"));
  EXPECT_FALSE(result->contains("id"));
  EXPECT_TRUE(result->at("budget").is_null());
}

TEST(ValidateInput, NormalizesDatesToIsoUtc) {
  auto iso = validate_input(projects(), {{"dueAt", "2025-01-02T05:04:05.678+02:00"}}, WriteKind::kUpdate);
  ASSERT_TRUE(iso);
  EXPECT_EQ(iso->at("dueAt"), "2025-01-02T03:04:05.678Z");
  auto epoch = validate_input(projects(), {{"dueAt", 0}}, WriteKind::kUpdate);
  ASSERT_TRUE(epoch);
  EXPECT_EQ(epoch->at("dueAt"), "1970-01-01T00:00:00.000Z");
}

TEST(ValidateRowId, RejectsEmptyLongAndControlCharacters) {
  EXPECT_TRUE(validate_row_id("3f1f7b2e-6a53-4c59-9d1a-000000000001"));
  EXPECT_FALSE(validate_row_id(""));
  EXPECT_FALSE(validate_row_id(std::string(256, 'a')));
  EXPECT_FALSE(validate_row_id("a\nb"));
}

RC_GTEST_PROP(ValidateInput, NeverReturnsUndeclaredKeys, (std::string key, std::string value)) {
  auto result = validate_input(projects(), {{key, value}}, WriteKind::kUpdate);
  if (!result) return;
  for (const auto& [name, _] : *result) RC_ASSERT(projects().field(name) != nullptr);
}

}  // namespace
}  // namespace ablo::schema
