#include "source/contract.h"

#include <fmt/format.h>

#include <boost/json/serialize.hpp>

#include "common/json_number.h"

namespace ablo::source::contract {

namespace json = boost::json;

namespace {

std::string with_scope(json::object body, const Scope& scope) {
  body["scope"] = scope.to_json();
  return json::serialize(body);
}

Result<const json::object*> object_of(const json::value& value, std::string_view what) {
  if (!value.is_object()) return fail("invalid_request", fmt::format("the data source answered {} that is not a JSON object", what));
  return &value.as_object();
}

Result<std::optional<std::string>> optional_string(const json::object& object, std::string_view key,
                                                   std::string_view where) {
  const auto* value = object.if_contains(key);
  if (!value || value->is_null()) return std::optional<std::string>();
  if (!value->is_string()) return fail("invalid_request", fmt::format("{}.{} is not a string", where, key));
  return std::optional<std::string>(std::string(value->as_string()));
}

Result<std::vector<json::object>> rows_of(const json::value& value, std::string_view where) {
  if (!value.is_array()) return fail("invalid_request", fmt::format("{} is not an array", where));
  const auto& array = value.as_array();
  if (array.size() > kMaxRowsPerPage) {
    return fail("invalid_request", fmt::format("{} holds {} rows; at most {} are read at once", where, array.size(),
                                               kMaxRowsPerPage));
  }
  std::vector<json::object> rows;
  rows.reserve(array.size());
  for (std::size_t i = 0; i < array.size(); ++i) {
    if (!array[i].is_object()) return fail("invalid_request", fmt::format("{}[{}] is not an object", where, i));
    rows.push_back(array[i].as_object());
  }
  return rows;
}

}  // namespace

bool is_operation_type(std::string_view type) {
  return type == "CREATE" || type == "UPDATE" || type == "DELETE" || type == "ARCHIVE" || type == "UNARCHIVE";
}

std::string load_request(const std::string& model, const std::string& id, const Scope& scope) {
  return with_scope(json::object{{"type", "load"}, {"model", model}, {"id", id}}, scope);
}

std::string list_request(const std::string& model, const ListQuery& query, const Scope& scope) {
  json::object wire;
  if (!query.where.empty()) wire["where"] = query.where;
  if (query.limit) wire["limit"] = *query.limit;
  if (!query.order_by.empty()) {
    wire["orderBy"] = query.order_by;
    wire["order"] = query.descending ? "desc" : "asc";
  }
  if (!query.cursor.empty()) wire["cursor"] = query.cursor;
  return with_scope(json::object{{"type", "list"}, {"model", model}, {"query", std::move(wire)}}, scope);
}

std::string commit_request(const ChangeSet& change_set) {
  json::array operations;
  for (const auto& op : change_set.operations) {
    json::object wire{{"type", op.type}, {"model", op.model}, {"id", op.id}, {"input", op.input}};
    if (!op.transaction_id.empty()) wire["transactionId"] = op.transaction_id;
    if (op.read_at) wire["readAt"] = *op.read_at;
    if (!op.on_stale.empty()) wire["onStale"] = op.on_stale;
    operations.emplace_back(std::move(wire));
  }
  json::object body{{"type", "commit"}, {"clientTxId", change_set.client_tx_id}, {"operations", std::move(operations)}};
  // The single-model hint lets hand-written endpoints route without a top-level commit handler.
  if (!change_set.operations.empty()) {
    const std::string& first = change_set.operations.front().model;
    bool one_model = true;
    for (const auto& op : change_set.operations) one_model = one_model && op.model == first;
    if (one_model) body["model"] = first;
  }
  return with_scope(std::move(body), change_set.scope);
}

std::string events_request(const std::optional<std::string>& cursor, int limit) {
  json::object body{{"type", "events"}, {"limit", limit}};
  if (cursor) body["cursor"] = *cursor;
  return json::serialize(body);
}

Result<std::optional<json::object>> read_load(const json::value& response) {
  auto object = object_of(response, "a load");
  if (!object) return tl::unexpected(object.error());
  const auto* row = (*object)->if_contains("row");
  if (!row || row->is_null()) return std::optional<json::object>();
  if (!row->is_object()) return fail("invalid_request", "the data source's load answer: row is not an object");
  return std::optional<json::object>(row->as_object());
}

Result<ListPage> read_list(const json::value& response) {
  ListPage page;
  if (response.is_array()) {
    auto rows = rows_of(response, "the list answer");
    if (!rows) return tl::unexpected(rows.error());
    page.rows = std::move(*rows);
    return page;
  }
  auto object = object_of(response, "a list");
  if (!object) return tl::unexpected(object.error());
  const auto* rows = (*object)->if_contains("rows");
  if (!rows) return fail("invalid_request", "the data source's list answer has no rows");
  auto read = rows_of(*rows, "the list answer's rows");
  if (!read) return tl::unexpected(read.error());
  page.rows = std::move(*read);
  auto cursor = optional_string(**object, "nextCursor", "the list answer");
  if (!cursor) return tl::unexpected(cursor.error());
  if (*cursor && !(*cursor)->empty()) page.next_cursor = std::move(*cursor);
  return page;
}

Result<std::vector<json::object>> read_commit(const json::value& response) {
  auto object = object_of(response, "a commit");
  if (!object) return tl::unexpected(object.error());
  if (const auto* rows = (*object)->if_contains("rows")) return rows_of(*rows, "the commit answer's rows");
  // The explicit form: one delta per operation, its data the row (absent for a delete).
  const auto* deltas = (*object)->if_contains("deltas");
  if (!deltas) return fail("invalid_request", "the data source's commit answer has neither rows nor deltas");
  auto read = rows_of(*deltas, "the commit answer's deltas");
  if (!read) return tl::unexpected(read.error());
  std::vector<json::object> rows;
  for (auto& delta : *read) {
    json::object row;
    if (const auto* data = delta.if_contains("data"); data && data->is_object()) row = data->as_object();
    if (const auto* id = delta.if_contains("id"); id && id->is_string() && !row.contains("id")) row["id"] = *id;
    rows.push_back(std::move(row));
  }
  return rows;
}

namespace {

// One event of a page or a push; `index` names it in errors.
Result<Event> read_event(const json::value& value, std::size_t index) {
  const std::string where = fmt::format("events[{}]", index);
  if (!value.is_object()) return fail("invalid_request", where + " is not an object");
  const auto& object = value.as_object();
  Event event;
  auto text = [&](std::string_view key, std::string& into, bool required) -> Status {
    auto read = optional_string(object, key, where);
    if (!read) return tl::unexpected(read.error());
    if (!*read || (*read)->empty()) {
      if (required) return fail("invalid_request", fmt::format("{}.{} is missing", where, key));
      return {};
    }
    into = std::move(**read);
    return {};
  };
  for (auto [key, into, required] : {std::tuple<std::string_view, std::string*, bool>{"id", &event.id, true},
                                     {"model", &event.model, true},
                                     {"entityId", &event.entity_id, true},
                                     {"type", &event.type, true},
                                     {"organizationId", &event.organization_id, false},
                                     {"clientTxId", &event.client_tx_id, false}}) {
    if (auto ok = text(key, *into, required); !ok) return tl::unexpected(ok.error());
  }
  if (!is_operation_type(event.type)) {
    return fail("invalid_request", fmt::format("{}.type '{}' is not an operation type", where, event.type));
  }
  if (const auto* data = object.if_contains("data"); data && !data->is_null()) {
    if (!data->is_object()) return fail("invalid_request", where + ".data is not an object");
    event.data = data->as_object();
  }
  if (const auto* at = object.if_contains("occurredAt"); at && !at->is_null()) event.occurred_at_ms = exact_int64(*at);
  return event;
}

}  // namespace

Result<EventsPage> read_events(const json::value& response) {
  auto object = object_of(response, "an events page");
  if (!object) return tl::unexpected(object.error());
  const auto* events = (*object)->if_contains("events");
  if (!events || !events->is_array()) return fail("events_required", "the events page has no events array");
  const auto& array = events->as_array();
  if (array.size() > kMaxEventsPerPage) {
    return fail("invalid_request",
                fmt::format("{} events in one page; at most {} are accepted", array.size(), kMaxEventsPerPage));
  }
  EventsPage page;
  for (std::size_t i = 0; i < array.size(); ++i) {
    auto event = read_event(array[i], i);
    if (!event) return tl::unexpected(event.error());
    page.events.push_back(std::move(*event));
  }
  auto cursor = optional_string(**object, "nextCursor", "the events page");
  if (!cursor) return tl::unexpected(cursor.error());
  if (*cursor && !(*cursor)->empty()) page.next_cursor = std::move(*cursor);
  return page;
}

}  // namespace ablo::source::contract
