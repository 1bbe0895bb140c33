#pragma once
// The MCP tools this server offers and their input schemas, generated from the live schema
// (GET /v1/schema) and the session credential's authority (its `<model>.<verb>` operations), so
// an LLM sees exactly which models it may read or write, their fields, types, enum values and
// required fields. The same schemas validate the arguments of every call (check_arguments).
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <boost/json/array.hpp>
#include <boost/json/object.hpp>
#include <boost/json/value.hpp>

namespace ablo::mcp {

struct ToolCatalog {
  boost::json::array tools;  // tools/list `tools`
  std::vector<std::string> readable_models;  // schema keys the credential may read
  // The input schema of a tool; null when there is no such tool.
  const boost::json::object* input_schema(std::string_view tool) const;
  bool has(std::string_view tool) const { return input_schema(tool) != nullptr; }
};

// `schema_doc`: the body of GET /v1/schema ({models: [{key, fields: {…}}]}). `operations`:
// the credential's authority (`task.read`, `task.update`, …).
ToolCatalog build_catalog(const boost::json::object& schema_doc, const std::vector<std::string>& operations);

// Validates `args` against `schema` (the JSON Schema subset the catalog emits: type, enum, const,
// properties, required, additionalProperties:false, minProperties, minimum/maximum,
// minLength/maxLength, items/maxItems, allOf, if/then). The first problem, as
// "<path>: <what is wrong>", or nullopt when valid.
std::optional<std::string> check_arguments(const boost::json::value& schema, const boost::json::value& args);

}  // namespace ablo::mcp
