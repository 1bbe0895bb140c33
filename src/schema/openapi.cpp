#include "schema/openapi.h"

#include <boost/json.hpp>

namespace ablo::schema {

namespace json = boost::json;

namespace {

std::string pascal(const std::string& key) {
  std::string out = key;
  if (!out.empty()) out[0] = static_cast<char>(std::toupper(static_cast<unsigned char>(out[0])));
  return out;
}

json::object field_schema(const Field& field) {
  switch (field.type) {
    case FieldType::kNumber: return {{"type", "number"}};
    case FieldType::kBoolean: return {{"type", "boolean"}};
    case FieldType::kDate: return {{"type", "string"}, {"format", "date-time"}};
    case FieldType::kEnum: {
      json::array values;
      for (const auto& v : field.enum_values) values.emplace_back(v);
      return {{"type", "string"}, {"enum", std::move(values)}};
    }
    case FieldType::kJson: return {{"type", "object"}, {"additionalProperties", true}};
    case FieldType::kString: return {{"type", "string"}};
  }
  return {{"type", "string"}};
}

json::object ref(const std::string& component) { return {{"$ref", "#/components/schemas/" + component}}; }

json::object json_content(json::object schema) {
  return {{"application/json", json::object{{"schema", std::move(schema)}}}};
}

json::object ok(json::object schema, std::string description = "OK") {
  return {{"200", json::object{{"description", std::move(description)}, {"content", json_content(std::move(schema))}}}};
}

json::object error_responses(json::object responses) {
  responses["default"] = json::object{{"description", "Error envelope"}, {"content", json_content(ref("Error"))}};
  return responses;
}

json::object operation(const std::string& tag, std::string id, json::object responses, json::object body = {},
                       json::array parameters = {}) {
  json::object op{{"tags", json::array{json::value(tag)}}, {"operationId", std::move(id)},
                  {"responses", error_responses(std::move(responses))}};
  if (!body.empty()) op["requestBody"] = json::object{{"required", true}, {"content", json_content(std::move(body))}};
  if (!parameters.empty()) op["parameters"] = std::move(parameters);
  return op;
}

json::object parameter(const char* name, const char* in, json::object schema, bool required = false) {
  return {{"name", name}, {"in", in}, {"required", required}, {"schema", std::move(schema)}};
}

json::object model_paths_item(const Model& model, json::object& paths) {
  const std::string& k = model.key;
  const std::string component = pascal(k);
  json::object write_body{{"type", "object"}, {"properties", json::object{}}};
  for (const auto& field : model.fields) write_body["properties"].as_object()[field.name] = field_schema(field);
  const json::object write_request{{"type", "object"},
                                   {"properties", json::object{{"idempotencyKey", {{"type", "string"}}},
                                                               {"readAt", {{"type", "integer"}}},
                                                               {"onStale", {{"type", "string"}}},
                                                               {"id", {{"type", "string"}}},
                                                               {"data", write_body}}}};
  const json::value id_param = parameter("id", "path", {{"type", "string"}}, true);
  paths["/v1/models/" + k] = json::object{
      {"get", operation(k, "list_" + k,
                        ok({{"type", "object"},
                            {"properties", json::object{{"object", {{"const", "list"}}},
                                                        {"data", {{"type", "array"}, {"items", ref(component)}}},
                                                        {"has_more", {{"type", "boolean"}}},
                                                        {"next_cursor", {{"type", json::array{"string", "null"}}}},
                                                        {"stamp", {{"type", "integer"}}}}}}),
                        {}, json::array{parameter("limit", "query", {{"type", "integer"}, {"minimum", 1}, {"maximum", 100}}),
                                        parameter("order_by", "query", {{"type", "string"}}),
                                        parameter("order", "query", {{"type", "string"}, {"enum", {"asc", "desc"}}}),
                                        parameter("starting_after", "query", {{"type", "string"}})})},
      {"post", operation(k, "create_" + k, ok(ref("CommitReceipt")), write_request)}};
  paths["/v1/models/" + k + "/{id}"] = json::object{
      {"parameters", json::array{id_param}},
      {"get", operation(k, "get_" + k,
                        ok({{"type", "object"},
                            {"properties", json::object{{"object", {{"const", "model"}}},
                                                        {"data", ref(component)},
                                                        {"stamp", {{"type", "integer"}}},
                                                        {"claims", {{"type", "array"}, {"items", ref("Intent")}}}}}}))},
      {"patch", operation(k, "update_" + k, ok(ref("CommitReceipt")), write_request)},
      {"delete", operation(k, "delete_" + k, ok(ref("CommitReceipt")))}};
  paths["/v1/models/" + k + "/{id}/claim"] = json::object{
      {"parameters", json::array{id_param}},
      {"post", operation(k, "claim_" + k, ok(ref("Intent")))},
      {"delete", operation(k, "release_" + k, ok({{"type", "object"}}))}};
  paths["/v1/models/" + k + "/{id}/claim/reorder"] = json::object{
      {"parameters", json::array{id_param}}, {"post", operation(k, "reorder_" + k, ok({{"type", "object"}}))}};
  json::object properties{{"id", {{"type", "string"}, {"description", "Server-assigned row id"}}}};
  json::array required{"id"};
  for (const auto& field : model.fields) {
    properties[field.name] = field_schema(field);
    if (!field.optional && field.name != "id") required.emplace_back(field.name);
  }
  return {{"type", "object"}, {"properties", std::move(properties)}, {"required", std::move(required)}};
}

json::object shared_components() {
  return {
      {"CommitReceipt",
       {{"type", "object"},
        {"required", {"object", "success"}},
        {"properties", json::object{{"object", {{"const", "commit_receipt"}}},
                                    {"clientTxId", {{"type", "string"}}},
                                    {"serverTxId", {{"type", "string"}}},
                                    {"success", {{"type", "boolean"}}},
                                    {"status", {{"type", "string"}, {"enum", {"confirmed", "rejected"}}}},
                                    {"lastSyncId", {{"type", "integer"}}},
                                    {"ops", {{"type", "integer"}}}}}}},
      {"Intent",
       {{"type", "object"},
        {"properties", json::object{{"object", {{"const", "intent"}}},
                                    {"id", {{"type", "string"}}},
                                    {"status", {{"type", "string"}}},
                                    {"actor", {{"type", "string"}}},
                                    {"participantKind", {{"type", "string"}}},
                                    {"action", {{"type", "string"}}},
                                    {"expiresAt", {{"type", "string"}, {"format", "date-time"}}},
                                    {"target", {{"type", "object"}}}}}}},
      {"Error",
       {{"type", "object"},
        {"required", {"type", "message"}},
        {"additionalProperties", true},
        {"properties", json::object{{"type", {{"type", "string"}}},
                                    {"code", {{"type", "string"}}},
                                    {"param", {{"type", "string"}}},
                                    {"message", {{"type", "string"}}},
                                    {"doc_url", {{"type", "string"}}},
                                    {"request_id", {{"type", "string"}}}}}}}};
}

}  // namespace

json::object openapi_document(const Schema& schema, const OpenApiOptions& options) {
  json::object paths;
  json::object components = shared_components();
  json::array tags;
  for (const auto& model : schema.models()) {
    if (model.control_plane) continue;
    components[pascal(model.key)] = model_paths_item(model, paths);
    tags.push_back(json::object{{"name", model.key}});
  }
  paths["/v1/commits"] = json::object{
      {"post", operation("commits", "createCommit", ok(ref("CommitReceipt")),
                         {{"type", "object"},
                          {"required", {"operations"}},
                          {"properties", json::object{{"clientTxId", {{"type", "string"}}},
                                                      {"operations", {{"type", "array"}, {"items", {{"type", "object"}}}}}}}},
                         json::array{parameter("Idempotency-Key", "header", {{"type", "string"}, {"maxLength", 255}})})}};
  return {{"openapi", "3.1.0"},
          {"info", json::object{{"title", options.title}, {"version", options.version}, {"x-schema-hash", schema.hash()}}},
          {"servers", json::array{json::object{{"url", options.server_url}}}},
          {"security", json::array{json::object{{"bearerAuth", json::array{}}}}},
          {"tags", std::move(tags)},
          {"paths", std::move(paths)},
          {"components", json::object{{"schemas", std::move(components)},
                                      {"securitySchemes",
                                       json::object{{"bearerAuth", json::object{{"type", "http"},
                                                                                {"scheme", "bearer"},
                                                                                {"description", "sk_… / rk_… / ek_…"}}}}}}}};
}

}  // namespace ablo::schema
