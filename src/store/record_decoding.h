#pragma once
// Turning one result row into a store record (model row, delta, task, capability, webhook
// endpoint), shared by
// the SQL backends; private to store/. Each backend SELECTs the same columns in the same order
// (its own SQL renders dates as ISO text and arrays/JSON as JSON text) and hands over a view of
// one result row with
//   bool is_null(int), std::string text(int), int64_t int64(int), double real(int), bool boolean(int)
// so the column → field mapping below is written once.
#include <concepts>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

#include <boost/json/parse.hpp>
#include <boost/json/value.hpp>

#include "schema/schema.h"
#include "store/row_codec.h"
#include "store/store.h"
#include "store/table_layout.h"

namespace ablo::store {

template <class Columns>
concept ResultColumns = requires(const Columns& c, int column) {
  { c.is_null(column) } -> std::convertible_to<bool>;
  { c.text(column) } -> std::convertible_to<std::string>;
  { c.int64(column) } -> std::convertible_to<int64_t>;
  { c.real(column) } -> std::convertible_to<double>;
  { c.boolean(column) } -> std::convertible_to<bool>;
};

// The same, with text read in place (valid until the row is left; "" for NULL), for encoders
// that copy it on without a string per cell (row_text.h).
template <class Columns>
concept ResultColumnViews = ResultColumns<Columns> && requires(const Columns& c, int column) {
  { c.text_view(column) } -> std::convertible_to<std::string_view>;
  { c.text_if_set(column) } -> std::convertible_to<std::optional<std::string_view>>;  // nullopt for NULL
};

// A JSON object stored as text; an empty object when the text is not one (a corrupt cell must
// not take a whole read down).
inline boost::json::object object_from_text(const std::string& text) {
  boost::system::error_code ec;
  auto parsed = boost::json::parse(text, ec);
  return !ec && parsed.is_object() ? std::move(parsed.as_object()) : boost::json::object();
}

// One field column back in its JSON form. A JSON column that does not parse comes back as text.
template <ResultColumns Columns>
boost::json::value decode_field(const Columns& c, int column, schema::FieldType type) {
  if (c.is_null(column)) return nullptr;
  switch (type) {
    case schema::FieldType::kNumber: return number_value(c.real(column));
    case schema::FieldType::kBoolean: return c.boolean(column);
    case schema::FieldType::kJson: {
      boost::system::error_code ec;
      boost::json::value parsed = boost::json::parse(c.text(column), ec);
      return ec ? boost::json::value(c.text(column)) : parsed;
    }
    default: return boost::json::value(c.text(column));
  }
}

// Columns: tenant, id, created_at, updated_at, created_by, archived_at, groups (JSON array
// text), then the model's field columns in column_fields order.
template <ResultColumns Columns>
StoredRow decode_row(const Columns& c, const schema::Model& model) {
  StoredRow row;
  auto& data = row.data;
  data["id"] = c.text(1);
  data["organizationId"] = org_of_tenant(c.text(0));
  data["createdAt"] = c.text(2);
  data["updatedAt"] = c.text(3);
  data["createdBy"] = c.is_null(4) ? boost::json::value(nullptr) : boost::json::value(c.text(4));
  if (!c.is_null(5)) data["archivedAt"] = c.text(5);
  row.groups = string_list(c.text(6));
  int column = 7;
  for (const auto* field : column_fields(model)) data[field->name] = decode_field(c, column++, field->type);
  return row;
}

// Columns: id, tenant, action, model name, model id, data (JSON text), sync groups (JSON array
// text), transaction id, client tx id, participant id, participant kind, capability id,
// caused-by task id, created at (ms).
template <ResultColumns Columns>
Delta decode_delta(const Columns& c) {
  Delta d;
  d.id = c.int64(0);
  d.tenant = c.text(1);
  const auto action = c.text(2);
  d.action = action.empty() ? 'U' : action[0];
  d.model_name = c.text(3);
  d.model_id = c.text(4);
  if (!c.is_null(5)) d.data = object_from_text(c.text(5));
  d.sync_groups = string_list(c.text(6));
  d.transaction_id = c.text(7);
  d.client_tx_id = c.text(8);
  d.participant_id = c.text(9);
  d.participant_kind = c.text(10);
  d.capability_id = c.text(11);
  d.caused_by_task_id = c.text(12);
  d.created_at_ms = c.int64(13);
  return d;
}

// Columns: tenant, id, capability id, open, data (JSON text).
template <ResultColumns Columns>
TaskRecord decode_task(const Columns& c) {
  TaskRecord t;
  t.tenant = c.text(0);
  t.id = c.text(1);
  t.capability_id = c.text(2);
  t.open = c.boolean(3);
  t.data = object_from_text(c.text(4));
  return t;
}

// Columns: token hash, id, key id, org, sandbox, participant kind, participant id, sync groups,
// operations (JSON array text each), wide scope, label, user meta (JSON text), issued at (ms),
// expires at (ms), revoked, revoked at (ms, NULL when unknown), parent id (NULL when none).
template <ResultColumns Columns>
CapabilityRecord decode_capability(const Columns& c) {
  CapabilityRecord r;
  r.token_hash = c.text(0);
  r.id = c.text(1);
  r.key_id = c.text(2);
  r.org = c.text(3);
  r.sandbox = c.boolean(4);
  r.participant_kind = c.text(5);
  r.participant_id = c.text(6);
  r.sync_groups = string_list(c.text(7));
  r.operations = string_list(c.text(8));
  r.wide_scope = c.boolean(9);
  r.label = c.text(10);
  r.user_meta = object_from_text(c.text(11));
  r.issued_at_ms = c.int64(12);
  r.expires_at_ms = c.int64(13);
  r.revoked = c.boolean(14);
  r.revoked_at_ms = c.is_null(15) ? 0 : c.int64(15);
  r.parent_id = c.is_null(16) ? std::string() : c.text(16);
  return r;
}

// Columns: id, tenant, url, enabled_events (JSON list), description, secret, previous_secret,
// previous_secret_expires_at, enabled, disabled_reason, cursor, retry_count, next_attempt_at,
// last_success_at, last_error, created_at, lease_owner, lease_until (webhook_sql.h).
template <ResultColumns Columns>
WebhookEndpointRecord decode_webhook_endpoint(const Columns& c) {
  WebhookEndpointRecord e;
  e.id = c.text(0);
  e.tenant = c.text(1);
  e.url = c.text(2);
  e.enabled_events = string_list(c.text(3));
  e.description = c.text(4);
  e.secret = c.text(5);
  e.previous_secret = c.text(6);
  e.previous_secret_expires_at_ms = c.int64(7);
  e.enabled = c.boolean(8);
  e.disabled_reason = c.text(9);
  e.cursor = c.int64(10);
  e.retry_count = static_cast<int>(c.int64(11));
  e.next_attempt_at_ms = c.int64(12);
  e.last_success_at_ms = c.int64(13);
  e.last_error = c.text(14);
  e.created_at_ms = c.int64(15);
  e.lease_owner = c.text(16);
  e.lease_until_ms = c.int64(17);
  return e;
}

}  // namespace ablo::store
