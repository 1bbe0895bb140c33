#include "mcp/tool_catalog.h"

#include <algorithm>
#include <cmath>
#include <functional>
#include <set>

#include <boost/json/serialize.hpp>
#include <fmt/format.h>

namespace ablo::mcp {
namespace json = boost::json;

namespace {

// ---------------------------------------------------------------- schema building blocks

json::object string_schema(std::string description = {}) {
  json::object s{{"type", "string"}, {"minLength", 1}};
  if (!description.empty()) s.emplace("description", std::move(description));
  return s;
}

json::object integer_schema(int64_t minimum, int64_t maximum, std::string description) {
  return json::object{{"type", "integer"}, {"minimum", minimum}, {"maximum", maximum},
                      {"description", std::move(description)}};
}

json::object enum_schema(const std::vector<std::string>& values, std::string description = {}) {
  json::array list;
  for (const auto& value : values) list.emplace_back(value);
  json::object s{{"type", "string"}, {"enum", std::move(list)}};
  if (!description.empty()) s.emplace("description", std::move(description));
  return s;
}

// One field of a model, as a JSON Schema (what the REST API accepts for it).
json::object field_schema(const json::object& field) {
  const auto* type = field.if_contains("type");
  const std::string kind = type && type->is_string() ? std::string(type->as_string()) : "json";
  const auto* optional_flag = field.if_contains("isOptional");
  const bool optional = optional_flag && optional_flag->is_bool() && optional_flag->as_bool();
  json::object s;
  if (kind == "enum") {
    json::array values;
    if (const auto* listed = field.if_contains("enumValues"); listed && listed->is_array()) values = listed->as_array();
    if (optional) values.emplace_back(nullptr);
    s.emplace("enum", std::move(values));
    return s;
  }
  std::string json_type = kind == "number" ? "number" : kind == "boolean" ? "boolean" : "string";
  if (kind == "json") {
    s.emplace("description", "any JSON value");
    return s;
  }
  if (optional) {
    s.emplace("type", json::array{json::value(json_type), json::value("null")});
  } else {
    s.emplace("type", json_type);
  }
  if (kind == "date") {
    s.emplace("format", "date-time");
    s.emplace("description", "ISO-8601 date and time, e.g. 2026-01-31T12:00:00Z");
  }
  return s;
}

struct ModelShape {
  std::string key;
  json::object fields;  // name -> field schema
  std::vector<std::string> required;
};

std::vector<ModelShape> models_of(const json::object& schema_doc) {
  std::vector<ModelShape> shapes;
  const auto* models = schema_doc.if_contains("models");
  if (!models || !models->is_array()) return shapes;
  for (const auto& entry : models->as_array()) {
    if (!entry.is_object()) continue;
    const auto& model = entry.as_object();
    const auto* key = model.if_contains("key");
    if (!key || !key->is_string()) continue;
    ModelShape shape{std::string(key->as_string()), {}, {}};
    if (const auto* fields = model.if_contains("fields"); fields && fields->is_object()) {
      for (const auto& [name, field] : fields->as_object()) {
        if (!field.is_object()) continue;
        shape.fields.emplace(name, field_schema(field.as_object()));
        const auto* optional = field.as_object().if_contains("isOptional");
        if (!(optional && optional->is_bool() && optional->as_bool())) shape.required.emplace_back(name);
      }
    }
    shapes.push_back(std::move(shape));
  }
  return shapes;
}

// Models whose `<key>.<verb>` the authority allows (an empty authority allows everything).
std::vector<const ModelShape*> allowed(const std::vector<ModelShape>& models, const std::vector<std::string>& operations,
                                       std::string_view verb) {
  std::vector<const ModelShape*> out;
  for (const auto& model : models) {
    const std::string operation = model.key + "." + std::string(verb);
    if (operations.empty() || std::find(operations.begin(), operations.end(), operation) != operations.end()) {
      out.push_back(&model);
    }
  }
  return out;
}

std::vector<std::string> keys_of(const std::vector<const ModelShape*>& models) {
  std::vector<std::string> keys;
  for (const auto* model : models) keys.push_back(model->key);
  return keys;
}

// `data` of one model: every field typed; `whole` (create) also requires the required ones.
json::object data_schema(const ModelShape& model, bool whole) {
  json::object s{{"type", "object"}, {"properties", model.fields}, {"additionalProperties", false}};
  if (whole) {
    json::array required;
    for (const auto& name : model.required) required.emplace_back(name);
    if (!required.empty()) s.emplace("required", std::move(required));
  } else {
    s.emplace("minProperties", 1);
  }
  return s;
}

// Equality filters on one model's fields.
json::object where_schema(const ModelShape& model) {
  return json::object{{"type", "object"},
                      {"properties", model.fields},
                      {"additionalProperties", false},
                      {"description", "equality filters: {field: value}, all must hold"}};
}

// allOf [{if: {model: key}, then: {member: schema-of(key)}}] for each model: ties a per-model
// member (data, where) to the `model` argument while the top level stays one object schema.
json::array per_model(const std::vector<const ModelShape*>& models, std::string_view member,
                      const std::function<json::object(const ModelShape&)>& schema_of) {
  json::array rules;
  for (const auto* model : models) {
    rules.push_back(json::object{
        {"if", json::object{{"properties", json::object{{"model", json::object{{"const", model->key}}}}},
                            {"required", json::array{"model"}}}},
        {"then", json::object{{"properties", json::object{{member, schema_of(*model)}}}}}});
  }
  return rules;
}

json::object object_schema(json::object properties, std::vector<std::string> required, json::array rules = {}) {
  json::array names;
  for (auto& name : required) names.emplace_back(name);
  json::object s{{"type", "object"}, {"properties", std::move(properties)}, {"additionalProperties", false}};
  if (!names.empty()) s.emplace("required", std::move(names));
  if (!rules.empty()) s.emplace("allOf", std::move(rules));
  return s;
}

json::object tool(std::string name, std::string title, std::string description, json::object input,
                  json::object annotations) {
  annotations.emplace("title", title);
  return json::object{{"name", std::move(name)},
                      {"title", std::move(title)},
                      {"description", std::move(description)},
                      {"inputSchema", std::move(input)},
                      {"annotations", std::move(annotations)}};
}

json::object read_only() { return json::object{{"readOnlyHint", true}, {"openWorldHint", false}}; }
json::object writes(bool destructive, bool idempotent) {
  return json::object{{"readOnlyHint", false},
                      {"destructiveHint", destructive},
                      {"idempotentHint", idempotent},
                      {"openWorldHint", false}};
}

json::object stale_guard_properties(json::object properties) {
  properties.emplace("readAt", integer_schema(0, 9'007'199'254'740'991,
                                              "the stamp of the row version this write is based on; default: the "
                                              "stamp this session last read for the row (get_model, list_records, "
                                              "claim_model)"));
  properties.emplace("onStale", enum_schema({"reject", "overwrite", "notify"},
                                            "when another participant changed the row after readAt: reject "
                                            "(default) refuses the write, overwrite applies it, notify applies it "
                                            "and reports the conflict"));
  properties.emplace("idempotencyKey",
                     string_schema("derive it from the business event: a retry with the same key applies once"));
  return properties;
}

void add_read_tools(json::array& tools, const std::vector<const ModelShape*>& readable) {
  const auto model_arg = enum_schema(keys_of(readable), "the model (schema key)");
  tools.push_back(tool(
      "list_records", "List records",
      "Lists rows of a model, optionally filtered by field equality and ordered; pages with starting_after. "
      "Returns {data, has_more, next_cursor, stamp}.",
      object_schema({{"model", model_arg},
                     {"where", json::object{{"type", "object"}}},
                     {"order_by", string_schema("a field to order by")},
                     {"order", enum_schema({"asc", "desc"})},
                     {"limit", integer_schema(1, 100, "rows per page, default 20")},
                     {"starting_after", string_schema("next_cursor of the previous page")}},
                    {"model"}, per_model(readable, "where", where_schema)),
      read_only()));
  tools.push_back(tool("get_model", "Get a record",
                       "Reads one row with its stamp (pass it as readAt when writing) and the claims on it. "
                       "Returns {data (null when absent), stamp, claims}.",
                       object_schema({{"model", model_arg}, {"id", string_schema()}}, {"model", "id"}), read_only()));
  tools.push_back(tool(
      "wait_for_change", "Wait for a change",
      "Blocks until a row (id) or any row of a model (optionally matching `where`) changes after `after` "
      "(default: the stamp this session last read for the row, else now), or until timeoutSeconds. Returns "
      "{changed, changes, stamp}.",
      object_schema({{"model", model_arg},
                     {"id", string_schema()},
                     {"where", json::object{{"type", "object"}}},
                     {"after", integer_schema(0, 9'007'199'254'740'991, "a stamp / log position")},
                     {"timeoutSeconds", integer_schema(0, 600, "default 30")}},
                    {"model"}, per_model(readable, "where", where_schema)),
      read_only()));
  tools.push_back(tool("list_claims", "List claims",
                       "Lists active and queued claims, optionally on one model or row.",
                       object_schema({{"model", model_arg}, {"id", string_schema()}}, {}), read_only()));
}

void add_write_tools(json::array& tools, const std::vector<ModelShape>& models,
                     const std::vector<std::string>& operations) {
  const auto creatable = allowed(models, operations, "create");
  const auto updatable = allowed(models, operations, "update");
  const auto deletable = allowed(models, operations, "delete");
  if (!creatable.empty()) {
    tools.push_back(tool(
        "create_model", "Create a record",
        "Creates a row. `data` holds the model's fields (required ones included). Returns {id, lastSyncId, stamp}.",
        object_schema({{"model", enum_schema(keys_of(creatable), "the model (schema key)")},
                       {"data", json::object{{"type", "object"}}},
                       {"id", string_schema("optional: the new row's id")},
                       {"idempotencyKey", string_schema("derive it from the business event: a retry applies once")}},
                      {"model", "data"},
                      per_model(creatable, "data", [](const ModelShape& m) { return data_schema(m, true); })),
        writes(false, false)));
  }
  if (!updatable.empty()) {
    tools.push_back(tool(
        "update_model", "Update a record",
        "Changes some fields of a row, stale-checked against readAt (default: the stamp this session last read "
        "for it). A row claimed by another participant is refused: claim_model first.",
        object_schema(stale_guard_properties({{"model", enum_schema(keys_of(updatable), "the model (schema key)")},
                                              {"id", string_schema()},
                                              {"data", json::object{{"type", "object"}}}}),
                      {"model", "id", "data"},
                      per_model(updatable, "data", [](const ModelShape& m) { return data_schema(m, false); })),
        writes(false, false)));
    json::object claim_properties{
        {"model", enum_schema(keys_of(updatable), "the model (schema key)")},
        {"id", string_schema()},
        {"fields", json::object{{"type", "array"}, {"items", string_schema()}, {"maxItems", 64},
                                {"description", "claim only these fields (claims on disjoint fields coexist)"}}},
        {"ttlSeconds", integer_schema(1, 600, "lease length, default 60; renewed while this session lives")},
        {"queue", json::object{{"type", "boolean"},
                               {"description", "wait in the fair FIFO line when held (default true)"}}},
        {"waitSeconds", integer_schema(0, 600, "how long to wait in line, default 60")},
        {"description", string_schema("what you are doing, shown to others")}};
    tools.push_back(tool("claim_model", "Claim a record",
                         "Takes the exclusive claim on a row before a slow edit. When another participant holds "
                         "it, waits in a fair FIFO line (progress reports the position) and returns when granted, "
                         "with the fresh row. Returns {status, claimId, fenceToken, expiresAt, data, stamp}.",
                         object_schema(std::move(claim_properties), {"model", "id"}), writes(false, true)));
    tools.push_back(tool("release_claim", "Release a claim",
                         "Releases this session's claim on a row (or leaves its line). Returns {released}.",
                         object_schema({{"model", enum_schema(keys_of(updatable), "the model (schema key)")},
                                        {"id", string_schema()}},
                                       {"model", "id"}),
                         writes(false, true)));
  }
  if (!deletable.empty()) {
    tools.push_back(tool(
        "delete_model", "Delete a record", "Deletes a row, with the same stale and claim guards as update_model.",
        object_schema(stale_guard_properties({{"model", enum_schema(keys_of(deletable), "the model (schema key)")},
                                              {"id", string_schema()}}),
                      {"model", "id"}),
        writes(true, false)));
  }
}

void add_account_tools(json::array& tools) {
  tools.push_back(tool("get_schema", "Get the schema",
                       "The active schema: every model with its fields, types, enum values and relations.",
                       object_schema({}, {}), read_only()));
  tools.push_back(tool("tail_logs", "Tail the change log",
                       "Pages the ordered change log (rows this session may read). Returns {data: [log_event], "
                       "has_more, next_cursor}.",
                       object_schema({{"after", integer_schema(0, 9'007'199'254'740'991, "a log position")},
                                      {"limit", integer_schema(1, 100, "events per page, default 20")},
                                      {"model", string_schema()},
                                      {"op", enum_schema({"create", "update", "delete", "archive", "unarchive"})}},
                                     {}),
                       read_only()));
  tools.push_back(tool("get_usage", "Get usage",
                       "Daily commit and task usage of this key (secret keys only). Default: the last 7 days.",
                       object_schema({{"startingAt", string_schema("ISO-8601")}, {"endingAt", string_schema("ISO-8601")}},
                                     {}),
                       read_only()));
}

// ---------------------------------------------------------------- validation

std::string type_name(const json::value& v) {
  switch (v.kind()) {
    case json::kind::null: return "null";
    case json::kind::bool_: return "boolean";
    case json::kind::string: return "string";
    case json::kind::array: return "array";
    case json::kind::object: return "object";
    case json::kind::double_: return "number";
    default: return "integer";
  }
}

bool is_integral(const json::value& v) {
  if (v.is_int64() || v.is_uint64()) return true;
  return v.is_double() && std::isfinite(v.as_double()) && std::floor(v.as_double()) == v.as_double();
}

bool matches_type(std::string_view type, const json::value& v) {
  if (type == "number") return v.is_number();
  if (type == "integer") return v.is_number() && is_integral(v);
  return type_name(v) == type || (type == "number" && type_name(v) == "integer");
}

double number_of(const json::value& v) { return v.is_double() ? v.as_double() : v.is_int64() ? double(v.as_int64()) : double(v.as_uint64()); }

std::string path_join(const std::string& path, std::string_view member) {
  return path.empty() ? std::string(member) : path + "." + std::string(member);
}

std::optional<std::string> check(const json::value& schema, const json::value& v, const std::string& path);

std::optional<std::string> check_type(const json::object& s, const json::value& v, const std::string& path) {
  const auto* type = s.if_contains("type");
  if (!type) return std::nullopt;
  bool ok = false;
  std::string expected;
  if (type->is_string()) {
    ok = matches_type(type->as_string(), v);
    expected = std::string(type->as_string());
  } else if (type->is_array()) {
    for (const auto& t : type->as_array()) {
      if (!t.is_string()) continue;
      ok = ok || matches_type(t.as_string(), v);
      expected += (expected.empty() ? "" : " or ") + std::string(t.as_string());
    }
  }
  if (ok) return std::nullopt;
  return fmt::format("{}: expected {}, got {}", path.empty() ? "arguments" : path, expected, type_name(v));
}

std::optional<std::string> check_scalars(const json::object& s, const json::value& v, const std::string& path) {
  const std::string where = path.empty() ? "arguments" : path;
  if (const auto* values = s.if_contains("enum"); values && values->is_array()) {
    const auto& list = values->as_array();
    if (std::find(list.begin(), list.end(), v) == list.end()) {
      return fmt::format("{}: {} is not one of {}", where, json::serialize(v), json::serialize(*values));
    }
  }
  if (const auto* constant = s.if_contains("const"); constant && *constant != v) {
    return fmt::format("{}: must be {}", where, json::serialize(*constant));
  }
  if (v.is_number()) {
    if (const auto* min = s.if_contains("minimum"); min && min->is_number() && number_of(v) < number_of(*min)) {
      return fmt::format("{}: must be at least {}", where, json::serialize(*min));
    }
    if (const auto* max = s.if_contains("maximum"); max && max->is_number() && number_of(v) > number_of(*max)) {
      return fmt::format("{}: must be at most {}", where, json::serialize(*max));
    }
  }
  if (v.is_string()) {
    const auto size = static_cast<int64_t>(v.as_string().size());
    if (const auto* min = s.if_contains("minLength"); min && min->is_int64() && size < min->as_int64()) {
      return fmt::format("{}: must not be empty", where);
    }
    if (const auto* max = s.if_contains("maxLength"); max && max->is_int64() && size > max->as_int64()) {
      return fmt::format("{}: longer than {} characters", where, max->as_int64());
    }
  }
  return std::nullopt;
}

std::optional<std::string> check_object(const json::object& s, const json::object& v, const std::string& path) {
  const auto* properties = s.if_contains("properties");
  if (const auto* required = s.if_contains("required"); required && required->is_array()) {
    for (const auto& name : required->as_array()) {
      if (name.is_string() && !v.contains(name.as_string())) {
        return fmt::format("{}: required", path_join(path, name.as_string()));
      }
    }
  }
  if (const auto* min = s.if_contains("minProperties"); min && min->is_int64() && int64_t(v.size()) < min->as_int64()) {
    return fmt::format("{}: must name at least {} member(s)", path.empty() ? "arguments" : path, min->as_int64());
  }
  const auto* additional = s.if_contains("additionalProperties");
  const bool closed = additional && additional->is_bool() && !additional->as_bool();
  for (const auto& [name, member] : v) {
    const json::value* member_schema =
        properties && properties->is_object() ? properties->as_object().if_contains(name) : nullptr;
    if (!member_schema) {
      if (closed) {
        std::string known;
        if (properties && properties->is_object()) {
          for (const auto& [key, unused] : properties->as_object()) known += (known.empty() ? "" : ", ") + std::string(key);
        }
        return fmt::format("{}: unknown member (known: {})", path_join(path, name), known.empty() ? "none" : known);
      }
      continue;
    }
    if (auto problem = check(*member_schema, member, path_join(path, name))) return problem;
  }
  return std::nullopt;
}

std::optional<std::string> check_array(const json::object& s, const json::array& v, const std::string& path) {
  if (const auto* max = s.if_contains("maxItems"); max && max->is_int64() && int64_t(v.size()) > max->as_int64()) {
    return fmt::format("{}: at most {} items", path, max->as_int64());
  }
  if (const auto* items = s.if_contains("items")) {
    for (std::size_t i = 0; i < v.size(); ++i) {
      if (auto problem = check(*items, v[i], fmt::format("{}[{}]", path, i))) return problem;
    }
  }
  return std::nullopt;
}

std::optional<std::string> check(const json::value& schema, const json::value& v, const std::string& path) {
  if (!schema.is_object()) return std::nullopt;
  const auto& s = schema.as_object();
  if (auto problem = check_type(s, v, path)) return problem;
  if (auto problem = check_scalars(s, v, path)) return problem;
  if (v.is_object()) {
    if (auto problem = check_object(s, v.as_object(), path)) return problem;
  }
  if (v.is_array()) {
    if (auto problem = check_array(s, v.as_array(), path)) return problem;
  }
  if (const auto* all = s.if_contains("allOf"); all && all->is_array()) {
    for (const auto& rule : all->as_array()) {
      if (!rule.is_object()) continue;
      const auto* condition = rule.as_object().if_contains("if");
      const auto* then = rule.as_object().if_contains("then");
      if (condition && then) {
        if (!check(*condition, v, path)) {
          if (auto problem = check(*then, v, path)) return problem;
        }
      } else if (auto problem = check(rule, v, path)) {
        return problem;
      }
    }
  }
  return std::nullopt;
}

}  // namespace

const json::object* ToolCatalog::input_schema(std::string_view name) const {
  for (const auto& entry : tools) {
    const auto& t = entry.as_object();
    if (t.at("name").as_string() == name) return &t.at("inputSchema").as_object();
  }
  return nullptr;
}

ToolCatalog build_catalog(const json::object& schema_doc, const std::vector<std::string>& operations) {
  const auto models = models_of(schema_doc);
  ToolCatalog catalog;
  const auto readable = allowed(models, operations, "read");
  catalog.readable_models = keys_of(readable);
  add_account_tools(catalog.tools);
  if (!readable.empty()) add_read_tools(catalog.tools, readable);
  add_write_tools(catalog.tools, models, operations);
  return catalog;
}

std::optional<std::string> check_arguments(const json::value& schema, const json::value& args) {
  return check(schema, args, "");
}

}  // namespace ablo::mcp
