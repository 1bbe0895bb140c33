#pragma once
// The quickstart schema of protocol.md §7, as the 0.9.1 SDK serializes it.
#include <string>

#include <boost/json/array.hpp>
#include <boost/json/object.hpp>

namespace ablo::testing {

inline constexpr const char* kQuickstartSchema = R"({"v":3,"models":{"weatherReports":{"fields":{
  "location":{"type":"string","isOptional":false,"isIndexed":false},
  "status":{"type":"enum","enumValues":["pending","ready"],"isOptional":false,"isIndexed":false},
  "forecast":{"type":"string","isOptional":true,"isIndexed":false}},
  "relations":{},"load":"instant","typename":"weatherReports",
  "tenancy":{"kind":"column","column":"organization_id"},"plane":"tenant"}},"identityRoles":[]})";

// The operations of one POST /v1/commits creating `count` weather reports, ids prefix0, prefix1, ...
inline boost::json::array weather_report_creates(int count, const std::string& prefix) {
  boost::json::array operations;
  for (int i = 0; i < count; ++i) {
    operations.push_back(boost::json::object{{"action", "create"},
                                             {"model", "weatherReports"},
                                             {"id", prefix + std::to_string(i)},
                                             {"data", boost::json::object{{"location", "Oslo"}, {"status", "pending"}}}});
  }
  return operations;
}

}  // namespace ablo::testing
