#pragma once
// The schema the sdk unit tests share: schema.md §2's example (projects ← tasks → users), with
// `tasks.projectId` indexed and belongsTo projects/users.
#include <memory>

#include <gtest/gtest.h>

#include "schema/schema.h"

namespace ablo::sdk_test {

inline constexpr const char* kSdkTestSchema = R"({"v":3,"models":{
"projects":{"fields":{"name":{"type":"string","isIndexed":false,"isOptional":false},
  "status":{"type":"enum","isOptional":false,"isIndexed":false,"enumValues":["active","archived"]},
  "budget":{"type":"number","isOptional":true,"isIndexed":false}},
  "relations":{"tasks":{"type":"hasMany","target":"tasks","foreignKey":"projectId","foreignKeyColumn":"project_id"}},
  "load":"instant","typename":"Project","tenancy":{"kind":"column","column":"organization_id"},"plane":"tenant","mutable":true},
"tasks":{"fields":{"title":{"type":"string","isOptional":false,"isIndexed":false},
  "projectId":{"type":"string","isIndexed":true,"isOptional":false},
  "position":{"type":"number","isOptional":false,"isIndexed":false},
  "done":{"type":"boolean","isOptional":false,"isIndexed":false},
  "dueAt":{"type":"date","isOptional":true,"isIndexed":false},
  "tags":{"type":"json","isOptional":true,"isIndexed":false},
  "assigneeId":{"type":"string","isOptional":true,"isIndexed":false},
  "externalRef":{"type":"string","isIndexed":false,"column":"ext_ref","isOptional":true}},
  "relations":{"project":{"type":"belongsTo","target":"projects","foreignKey":"projectId","foreignKeyColumn":"project_id","options":{"parent":true,"fk":true}},
    "assignee":{"type":"belongsTo","target":"users","foreignKey":"assigneeId","foreignKeyColumn":"assignee_id"}},
  "load":"instant","typename":"Task","tenancy":{"kind":"column","column":"organization_id"},"plane":"tenant","mutable":true},
"users":{"fields":{"email":{"type":"string","isOptional":false,"isIndexed":false},
  "displayName":{"type":"string","isOptional":false,"isIndexed":false}},
  "relations":{},"load":"instant","typename":"User","tenancy":{"kind":"none"},"plane":"tenant"}},
"identityRoles":[]})";

inline std::shared_ptr<const schema::Schema> sdk_test_schema() {
  static const std::shared_ptr<const schema::Schema> parsed = [] {
    auto result = schema::Schema::parse_text(kSdkTestSchema);
    if (!result) {
      ADD_FAILURE() << "test schema rejected: " << result.error().message;
      return schema::Schema::empty();
    }
    return *result;
  }();
  return parsed;
}

}  // namespace ablo::sdk_test
