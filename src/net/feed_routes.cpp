#include "net/feed_routes.h"

#include <algorithm>
#include <charconv>

#include <boost/json.hpp>
#include <fmt/format.h>

#include "common/time.h"
#include "net/http_json.h"
#include "net/router.h"
#include "schema/diff.h"
#include "schema/schema.h"

namespace ablo::net {

namespace json = boost::json;

namespace {

constexpr int kDefaultVersionLimit = 20;
constexpr int kMaxVersionLimit = 100;

// A stored time (0: unknown) as the API shows it.
json::value time_or_null(int64_t ms) { return ms > 0 ? json::value(iso8601_from_ms(ms)) : json::value(nullptr); }

int64_t data_model_count(const schema::Schema& schema) {
  return std::count_if(schema.models().begin(), schema.models().end(),
                       [](const schema::Model& model) { return !model.control_plane; });
}

constexpr int kDefaultLogLimit = 50;
constexpr int kMaxLogLimit = 500;

// The log reader's word for each stored action letter (0.49 `LOG_OP_BY_ACTION`).
constexpr std::pair<char, std::string_view> kLogOps[] = {
    {'I', "create"}, {'U', "update"}, {'D', "delete"}, {'A', "archive"},
    {'V', "revive"}, {'C', "visible"}, {'G', "group_added"}, {'S', "group_removed"}};

std::string_view op_of(char action) {
  for (const auto& [letter, op] : kLogOps) {
    if (letter == action) return op;
  }
  return "update";
}

std::optional<char> action_of(std::string_view op) {
  for (const auto& [letter, name] : kLogOps) {
    if (name == op) return letter;
  }
  return std::nullopt;
}

// A feed cursor "<log>[.<claims>]" (0.49 `parseFeedCursor`): digits only; a malformed one is an
// error, never a position. This server has no claim-event arm, so the claims position is kept
// at 0.
Result<int64_t> parse_feed_cursor(std::string_view cursor) {
  const auto dot = cursor.find('.');
  auto log = parse_query_digits(cursor.substr(0, dot));
  if (!log || (dot != std::string_view::npos && !parse_query_digits(cursor.substr(dot + 1)))) {
    return fail("invalid_request", "after must be a cursor of the form <log>[.<claims>], e.g. 4210.17", "after");
  }
  return *log;
}

json::object log_event(const store::Delta& delta, const schema::Model& model) {
  const bool has_actor = !delta.participant_id.empty();
  json::object row_delta{{"id", delta.id},
                         {"actionType", std::string(1, delta.action)},
                         {"modelName", delta.model_name},
                         {"modelId", delta.model_id},
                         {"data", delta.data ? json::value(*delta.data) : json::value(nullptr)},
                         {"createdAt", iso8601_from_ms(delta.created_at_ms)},
                         {"actor", has_actor ? json::value(json::object{{"kind", delta.participant_kind},
                                                                        {"id", delta.participant_id}})
                                             : json::value(nullptr)},
                         {"capabilityId", delta.capability_id.empty() ? json::value(nullptr)
                                                                      : json::value(delta.capability_id)}};
  return json::object{{"object", "log_event"},
                      {"id", delta.id},
                      {"at", iso8601_from_ms(delta.created_at_ms)},
                      {"model", model.key},
                      {"op", op_of(delta.action)},
                      {"recordId", delta.model_id},
                      {"actor", has_actor ? json::value(delta.participant_kind + ":" + delta.participant_id)
                                          : json::value(nullptr)},
                      {"delta", std::move(row_delta)}};
}

Result<engine::LogRequest> parse_log_query(const HttpRequest& request, const schema::Schema& schema) {
  engine::LogRequest log;
  log.limit = kDefaultLogLimit;
  for (const auto& [name, value] : query_pairs(request.target)) {
    if (name == "after") {
      auto after = parse_feed_cursor(value);
      if (!after) return tl::unexpected(after.error());
      log.after = *after;
    } else if (name == "limit") {
      auto limit = parse_page_limit(value, kMaxLogLimit);
      if (!limit) return tl::unexpected(limit.error());
      log.limit = *limit;
    } else if (name == "model") {
      log.model = schema.resolve(value);
      if (!log.model || log.model->control_plane) {
        return fail("model_not_found", fmt::format("unknown model '{}'", value), "model");
      }
    } else if (name == "op") {
      log.action = action_of(value);
      if (!log.action) {
        return fail("invalid_request",
                    "op must be one of create, update, delete, archive, revive, visible, group_added, group_removed",
                    "op");
      }
    } else if (name == "recordId") {  // one row's history (the console's row view)
      if (value.empty()) return fail("invalid_request", "recordId must not be empty", "recordId");
      log.record_id = value;
    } else if (name == "since") {
      log.since_ms = parse_iso8601_ms(value);
      if (!log.since_ms) return fail("invalid_request", "since must be an ISO 8601 time", "since");
    }
  }
  return log;
}

// A model's entry of the pushed schema JSON, for its content hash (0.49 `modelHash`).
json::value model_json(const json::value& schema_json, const std::string& key) {
  if (!schema_json.is_object()) return nullptr;
  const auto* models = schema_json.as_object().if_contains("models");
  if (!models || !models->is_object()) return nullptr;
  const auto* model = models->as_object().if_contains(key);
  return model ? *model : json::value(nullptr);
}

json::value conflict_json(const schema::ConflictPolicy& conflict) {
  if (!conflict.declared) return nullptr;
  json::object out;
  if (conflict.user) out["user"] = schema::to_string(*conflict.user);
  if (conflict.agent) out["agent"] = schema::to_string(*conflict.agent);
  if (conflict.system) out["system"] = schema::to_string(*conflict.system);
  return out;
}

std::string_view relation_type(schema::RelationType type) {
  switch (type) {
    case schema::RelationType::kHasMany: return "hasMany";
    case schema::RelationType::kHasOne: return "hasOne";
    case schema::RelationType::kBelongsTo: break;
  }
  return "belongsTo";
}

json::object schema_model(const schema::Model& model, const json::value& schema_json) {
  json::object fields;
  for (const auto& field : model.fields) {
    json::object meta{{"type", schema::to_string(field.type)},
                      {"isOptional", field.optional},
                      {"isIndexed", field.indexed},
                      {"column", field.column}};
    if (field.type == schema::FieldType::kEnum) meta["enumValues"] = string_array(field.enum_values);
    fields[field.name] = std::move(meta);
  }
  json::object relations;
  for (const auto& relation : model.relations) {
    relations[relation.name] = json::object{{"type", relation_type(relation.type)},
                                            {"target", relation.target},
                                            {"foreignKey", relation.foreign_key}};
  }
  return json::object{{"key", model.key},
                      {"typename", model.typename_},
                      {"conflict", conflict_json(model.conflict)},
                      {"hash", schema::schema_hash(model_json(schema_json, model.key))},
                      {"fields", std::move(fields)},
                      {"relations", std::move(relations)}};
}

}  // namespace

FeedRoutes::FeedRoutes(engine::Engine& engine) : engine_(engine) {}

std::optional<Result<HttpResponse>> FeedRoutes::route(const HttpRequest& request, const std::vector<std::string>& parts,
                                                      const auth::Principal& principal) const {
  if (request.method != "GET") return std::nullopt;
  if (parts.size() == 3 && parts[1] == "schema" && parts[2] == "versions") return schema_versions(request);
  if (parts.size() != 2) return std::nullopt;
  if (parts[1] == "logs") return logs(request, principal);
  if (parts[1] == "schema") return schema(principal);
  return std::nullopt;
}

Result<HttpResponse> FeedRoutes::schema_versions(const HttpRequest& request) const {
  int limit = kDefaultVersionLimit;
  for (const auto& [name, value] : query_pairs(request.target)) {
    if (name != "limit") continue;
    auto parsed = parse_page_limit(value, kMaxVersionLimit);
    if (!parsed) return tl::unexpected(parsed.error());
    limit = *parsed;
  }
  // One more than shown: the oldest one shown is diffed against its predecessor.
  auto versions = engine_.schema_versions(limit + 1);
  if (!versions) return tl::unexpected(versions.error());
  std::vector<std::shared_ptr<const schema::Schema>> parsed;
  for (const auto& version : *versions) {
    auto schema = schema::Schema::parse_text(version.json_text);
    parsed.push_back(schema ? *schema : nullptr);  // a version this build cannot read shows no diff
  }
  json::array data;
  for (std::size_t i = 0; i < versions->size() && static_cast<int>(i) < limit; ++i) {
    const auto& version = (*versions)[i];
    const bool has_previous = i + 1 < versions->size();
    json::value changes = nullptr;
    if (parsed[i] && (!has_previous || parsed[i + 1])) {
      changes = schema::diff_schema(has_previous ? parsed[i + 1].get() : nullptr, *parsed[i], {}).to_json();
    }
    data.push_back(json::object{
        {"version", version.version},
        {"hash", version.hash},
        {"pushedAt", time_or_null(version.created_at_ms)},
        {"models", parsed[i] ? json::value(data_model_count(*parsed[i])) : json::value(nullptr)},
        {"changes", std::move(changes)}});
  }
  const bool has_more = static_cast<int>(versions->size()) > limit;
  return json_response(200, json::object{{"object", "list"}, {"data", std::move(data)}, {"has_more", has_more}});
}

Result<HttpResponse> FeedRoutes::logs(const HttpRequest& request, const auth::Principal& principal) const {
  const auto schema = engine_.schema();
  auto query = parse_log_query(request, *schema);
  if (!query) return tl::unexpected(query.error());
  auto page = engine_.log(principal, *query);
  if (!page) return tl::unexpected(page.error());
  json::array data;
  for (const auto& delta : page->deltas) {
    // engine::log returns only deltas whose model resolves.
    if (const auto* model = schema->resolve(delta.model_name)) data.push_back(log_event(delta, *model));
  }
  return json_response(200, json::object{{"object", "list"},
                                         {"data", std::move(data)},
                                         {"has_more", page->has_more},
                                         {"next_cursor", fmt::format("{}.0", page->position)}});
}

Result<HttpResponse> FeedRoutes::schema(const auth::Principal& principal, bool with_pushed_json) const {
  auto active = engine_.active_schema_version();
  if (!active) return tl::unexpected(active.error());
  const std::string environment = principal.tenant.sandbox ? "test" : "live";
  if (!*active) {
    json::object read{{"active", false}, {"environment", environment}, {"project", nullptr}, {"models", json::array{}},
                      {"version", 0}};
    if (with_pushed_json) read["schema"] = nullptr;
    return json_response(200, read);
  }
  const auto schema = engine_.schema();
  boost::system::error_code ec;
  const json::value schema_json = json::parse((*active)->json_text, ec);
  json::array models;
  for (const auto& model : schema->models()) {
    if (!model.control_plane) models.push_back(schema_model(model, ec ? json::value(nullptr) : schema_json));
  }
  json::object read{{"active", true},
                    {"environment", environment},
                    {"project", nullptr},
                    {"models", std::move(models)},
                    {"schemaId", fmt::format("schema_v{}", (*active)->version)},
                    {"version", (*active)->version},
                    {"hash", (*active)->hash},
                    {"pushedAt", time_or_null((*active)->created_at_ms)}};
  if (with_pushed_json) read["schema"] = ec ? json::value(nullptr) : schema_json;
  return json_response(200, read);
}

}  // namespace ablo::net
