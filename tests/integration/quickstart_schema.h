#pragma once
// The quickstart schema of protocol.md §7, as the 0.9.1 SDK serializes it.
namespace ablo::testing {

inline constexpr const char* kQuickstartSchema = R"({"v":3,"models":{"weatherReports":{"fields":{
  "location":{"type":"string","isOptional":false,"isIndexed":false},
  "status":{"type":"enum","enumValues":["pending","ready"],"isOptional":false,"isIndexed":false},
  "forecast":{"type":"string","isOptional":true,"isIndexed":false}},
  "relations":{},"load":"instant","typename":"weatherReports",
  "tenancy":{"kind":"column","column":"organization_id"},"plane":"tenant"}},"identityRoles":[]})";

}  // namespace ablo::testing
