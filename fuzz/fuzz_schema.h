#pragma once
// The schema every fuzz target runs against: one model with every field type and a read-only one.
namespace ablo::fuzz {

inline constexpr const char* kSchema = R"({"v":3,"models":{
  "tasks":{"fields":{
     "title":{"type":"string","isOptional":false,"isIndexed":true},
     "status":{"type":"enum","enumValues":["todo","done"],"isOptional":true,"isIndexed":false},
     "points":{"type":"number","isOptional":true,"isIndexed":false},
     "done":{"type":"boolean","isOptional":true,"isIndexed":false},
     "dueAt":{"type":"date","isOptional":true,"isIndexed":false},
     "meta":{"type":"json","isOptional":true,"isIndexed":false}},
   "relations":{},"load":"instant","typename":"Task","tenancy":{"kind":"column","column":"organization_id"},"plane":"tenant"},
  "logs":{"fields":{"line":{"type":"string","isOptional":false,"isIndexed":false}},"relations":{},"load":"instant",
   "typename":"logs","tenancy":{"kind":"column","column":"organization_id"},"plane":"tenant","mutable":false}},
 "identityRoles":[]})";

}  // namespace ablo::fuzz
