#include "source/pg_adapter.h"

#include <poll.h>

#include <algorithm>
#include <charconv>
#include <chrono>
#include <map>
#include <set>
#include <thread>

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <fmt/format.h>

#include "common/hex.h"
#include "common/json_number.h"
#include "common/time.h"

namespace ablo::source {

namespace json = boost::json;

// File-local, in a named namespace: the module compiles in unity batches, where the anonymous
// namespaces of its files merge.
namespace pg_direct {
namespace {

constexpr int kDefaultListLimit = 1000;
constexpr int kMaxListLimit = 5000;
constexpr int kDefaultEventsLimit = 100;
constexpr int kMaxEventsLimit = 1000;
constexpr std::string_view kOutboxChannel = "ablo_outbox";
constexpr std::string_view kTriggerName = "ablo_capture";
constexpr std::string_view kOrderTriggerName = "ablo_capture_order";

// ---------------------------------------------------------------------------------------------
// Capture DDL

constexpr std::string_view kAdapterTables = R"sql(
CREATE TABLE IF NOT EXISTS ablo_idempotency (
  client_tx_id TEXT PRIMARY KEY,
  response JSONB NOT NULL,
  created_at TIMESTAMPTZ NOT NULL DEFAULT now());
ALTER TABLE ablo_idempotency ADD COLUMN IF NOT EXISTS request_hash TEXT;
CREATE TABLE IF NOT EXISTS ablo_outbox (
  cursor BIGSERIAL PRIMARY KEY,
  id TEXT NOT NULL UNIQUE,
  model TEXT NOT NULL,
  entity_id TEXT NOT NULL,
  type TEXT NOT NULL,
  data JSONB,
  organization_id TEXT,
  client_tx_id TEXT,
  occurred_at BIGINT,
  created_at TIMESTAMPTZ NOT NULL DEFAULT now());
)sql";

// Takes the outbox's transaction-scoped advisory lock before a statement on a captured table
// touches any row (a BEFORE ... FOR EACH STATEMENT trigger). Were it first taken in the row
// trigger, a transaction would already hold the row's lock while waiting for it, and two
// writers touching the same rows in a different order would deadlock where without capture
// one would just wait for the other.
constexpr std::string_view kOrderFunction = R"sql(
CREATE OR REPLACE FUNCTION ablo_capture_order() RETURNS trigger LANGUAGE plpgsql AS $ablo$
BEGIN
  PERFORM pg_advisory_xact_lock(1633840239);  -- 'ablo': one writer of the outbox at a time
  RETURN NULL;
END
$ablo$;
)sql";

// One outbox row per row written; it must never make the customer's own write fail (hence the
// coalesce of a missing id). TG_ARGV[0] is the schema model key, TG_ARGV[1] the tenancy
// column ('' when the table has none). The transaction-scoped advisory lock is taken before the
// cursor is drawn and held until commit, so cursors commit in order (see pg_adapter.h).
constexpr std::string_view kCaptureFunction = R"sql(
CREATE OR REPLACE FUNCTION ablo_capture() RETURNS trigger LANGUAGE plpgsql AS $ablo$
DECLARE
  row_data jsonb;
  change text;
  next_cursor bigint;
BEGIN
  IF TG_OP = 'DELETE' THEN
    row_data := to_jsonb(OLD);
    change := 'DELETE';
  ELSIF TG_OP = 'INSERT' THEN
    row_data := to_jsonb(NEW);
    change := 'CREATE';
  ELSE
    row_data := to_jsonb(NEW);
    change := 'UPDATE';
    IF row_data ? 'archived_at' THEN
      IF jsonb_typeof(to_jsonb(OLD)->'archived_at') = 'null' AND jsonb_typeof(row_data->'archived_at') <> 'null' THEN
        change := 'ARCHIVE';
      ELSIF jsonb_typeof(to_jsonb(OLD)->'archived_at') <> 'null' AND jsonb_typeof(row_data->'archived_at') = 'null' THEN
        change := 'UNARCHIVE';
      END IF;
    END IF;
  END IF;
  PERFORM pg_advisory_xact_lock(1633840239);  -- held already (ablo_capture_order); re-entrant
  next_cursor := nextval(pg_get_serial_sequence('ablo_outbox', 'cursor'));
  INSERT INTO ablo_outbox (cursor, id, model, entity_id, type, data, organization_id, client_tx_id, occurred_at)
  VALUES (next_cursor, 'pg:' || next_cursor, TG_ARGV[0], coalesce(row_data->>'id', ''), change,
          CASE WHEN TG_OP = 'DELETE' THEN NULL ELSE row_data END,
          CASE WHEN TG_ARGV[1] = '' THEN NULL ELSE row_data->>TG_ARGV[1] END,
          NULLIF(current_setting('ablo.client_tx_id', true), ''),
          (extract(epoch FROM clock_timestamp()) * 1000)::bigint);
  PERFORM pg_notify('ablo_outbox', '');
  RETURN NULL;
END
$ablo$;
)sql";

// ---------------------------------------------------------------------------------------------
// Tables as they are

// The columns of one customer table (information_schema), looked up once per schema version.
struct TableInfo {
  std::map<std::string, std::string, std::less<>> column_types;  // column -> data_type
  std::string tenancy_column;  // the model's tenancy column when the table has it, else ""

  bool has(std::string_view column) const { return column_types.find(column) != column_types.end(); }
  std::string_view type_of(std::string_view column) const {
    auto found = column_types.find(column);
    return found == column_types.end() ? std::string_view() : std::string_view(found->second);
  }
};

bool is_timestamp_type(std::string_view type) { return type.starts_with("timestamp"); }
bool is_integer_type(std::string_view type) { return type == "integer" || type == "bigint" || type == "smallint"; }
bool is_json_type(std::string_view type) { return type == "json" || type == "jsonb"; }

Result<TableInfo> read_table_info(pg::Connection& conn, const schema::Model& model) {
  auto rows = conn.exec(
      "SELECT column_name, data_type FROM information_schema.columns "
      "WHERE table_schema = current_schema() AND table_name = $1",
      {model.table});
  if (!rows) return tl::unexpected(rows.error());
  if (rows->empty()) {
    return fail("invalid_request",
                fmt::format("model '{}': table \"{}\" does not exist in the source database", model.key, model.table));
  }
  TableInfo info;
  for (int i = 0; i < rows->size(); ++i) info.column_types.emplace(rows->text(i, 0), rows->text(i, 1));
  if (model.tenancy == schema::TenancyKind::kColumn && info.has(model.tenancy_column)) {
    info.tenancy_column = model.tenancy_column;
  }
  return info;
}

// The system fields a source row may carry, by field name and column.
struct SystemField {
  std::string_view field;
  std::string_view column;
};
constexpr SystemField kSystemFields[] = {
    {"createdAt", "created_at"}, {"updatedAt", "updated_at"}, {"archivedAt", "archived_at"}};

// The column of a field name usable in a query (declared fields, `id`, system fields the table
// has), or nullopt.
std::optional<std::string> query_column(const schema::Model& model, const TableInfo& table, std::string_view name) {
  if (name == "id") return std::string("id");
  for (const auto& system : kSystemFields) {
    if (name == system.field) {
      return table.has(system.column) ? std::optional<std::string>(system.column) : std::nullopt;
    }
  }
  const schema::Field* field = model.field(name);
  if (!field || !table.has(field->column)) return std::nullopt;
  return field->column;
}

// ---------------------------------------------------------------------------------------------
// Values in and out

// A timestamp as to_jsonb renders it ("2026-01-02T03:04:05.123456+00:00", or without an offset
// for `timestamp`) as JS would: "2026-01-02T03:04:05.123Z". Unparseable text is kept.
json::value iso_timestamp(const json::value& value) {
  if (!value.is_string()) return value;
  std::string text(value.get_string());
  const bool has_zone =
      text.ends_with("Z") || (text.size() > 6 && (text[text.size() - 6] == '+' || text[text.size() - 6] == '-') &&
                              text[text.size() - 3] == ':');
  if (!has_zone) text += "Z";  // `timestamp without time zone` columns hold UTC by convention
  auto ms = parse_iso8601_ms(text);
  return ms ? json::value(iso8601_from_ms(*ms)) : value;
}

// A JSON number as text every numeric column type parses: an integral value without a fraction
// (integer columns refuse "3.0"), anything else in its shortest round-trip form.
std::string number_text(const json::value& value) {
  if (auto exact = exact_int64(value)) return std::to_string(*exact);
  if (value.is_uint64()) return std::to_string(value.get_uint64());
  return fmt::format("{}", value.get_double());
}

// A JSON value as a text statement parameter for a column of `column_type`.
pg::Param to_param(const json::value& value, std::string_view column_type) {
  switch (value.kind()) {
    case json::kind::null:
      return std::nullopt;
    case json::kind::string:
      if (is_json_type(column_type)) return json::serialize(value);  // a JSON string, quoted
      return std::string(value.get_string());
    case json::kind::bool_:
      if (is_integer_type(column_type)) return std::string(value.get_bool() ? "1" : "0");
      return std::string(value.get_bool() ? "true" : "false");
    case json::kind::int64:
    case json::kind::uint64:
    case json::kind::double_:
      if (is_timestamp_type(column_type)) {
        if (auto ms = exact_int64(value)) return iso8601_from_ms(*ms);  // epoch ms, as JS dates travel
      }
      return number_text(value);
    default:
      return json::serialize(value);
  }
}

// A column value read through to_jsonb, as the field of `type` carries it.
json::value field_value(const json::value& value, schema::FieldType type, std::string_view column_type) {
  if (value.is_null()) return value;
  switch (type) {
    case schema::FieldType::kBoolean:
      if (auto n = number_as_double(value)) return json::value(*n != 0);
      return value;
    case schema::FieldType::kDate:
      // An unknown type (the table is gone) is most likely the timestamptz Ablo's tables use.
      return column_type.empty() || is_timestamp_type(column_type) ? iso_timestamp(value) : value;
    case schema::FieldType::kJson:
      if (value.is_string() && !is_json_type(column_type)) {  // JSON kept in a text column
        boost::system::error_code ec;
        json::value parsed = json::parse(value.get_string(), ec);
        if (!ec) return parsed;
      }
      return value;
    default:
      return value;
  }
}

std::string id_text(const json::value& value) {
  if (value.is_string()) return std::string(value.get_string());
  return value.is_null() ? std::string() : json::serialize(value);
}

// A column-keyed row (to_jsonb of the table's row) as a field-keyed row.
json::object field_row(const schema::Model& model, const TableInfo& table, const json::object& columns) {
  json::object row;
  if (auto id = columns.if_contains("id")) row["id"] = id_text(*id);
  for (const auto& field : model.fields) {
    if (auto value = columns.if_contains(field.column)) {
      row[field.name] = field_value(*value, field.type, table.type_of(field.column));
    }
  }
  for (const auto& system : kSystemFields) {
    if (auto value = columns.if_contains(system.column)) {
      row[system.field] = value->is_null() ? *value : iso_timestamp(*value);
    }
  }
  return row;
}

Result<json::object> parse_object(std::string_view text, std::string_view what) {
  boost::system::error_code ec;
  json::value value = json::parse(text, ec);
  if (ec || !value.is_object()) return fail("internal_error", fmt::format("{} is not a JSON object", what));
  return std::move(value.get_object());
}

// ---------------------------------------------------------------------------------------------
// List cursors: hex of the JSON [orderValue, id] of the last row of a page (opaque to callers).

struct ListPosition {
  json::value order_value;
  std::string id;
};

Result<ListPosition> decode_list_cursor(std::string_view cursor) {
  auto bad = [] { return fail("invalid_request", "list cursor is not one this source returned", "cursor"); };
  auto text = hex_decode(cursor);
  if (!text) return bad();
  boost::system::error_code ec;
  json::value value = json::parse(*text, ec);
  if (ec || !value.is_array() || value.get_array().size() != 2 || !value.get_array()[1].is_string()) return bad();
  return ListPosition{value.get_array()[0], std::string(value.get_array()[1].get_string())};
}

// ---------------------------------------------------------------------------------------------
// Statements

// Positional parameters collected while a statement is built.
struct Bindings {
  pg::Params params;
  std::string add(pg::Param param) {
    params.push_back(std::move(param));
    return "$" + std::to_string(params.size());
  }
};

std::string quoted(std::string_view name) { return pg::quote_identifier(name); }

// A PostgreSQL array literal of text elements ({"a","b",NULL}) for `= ANY($n)`.
std::string array_literal(const json::array& values, std::string_view column_type) {
  std::string out = "{";
  for (std::size_t i = 0; i < values.size(); ++i) {
    if (i) out += ',';
    auto element = to_param(values[i], column_type);
    if (!element) {
      out += "NULL";
      continue;
    }
    out += '"';
    for (char c : *element) {
      if (c == '"' || c == '\\') out += '\\';
      out += c;
    }
    out += '"';
  }
  return out + "}";
}

// One `where` tuple ([field, value] or [field, op, value]) as a condition.
Result<std::string> where_condition(const schema::Model& model, const TableInfo& table, const json::value& tuple,
                                    Bindings& bindings) {
  const json::array* parts = tuple.if_array();
  if (!parts || (parts->size() != 2 && parts->size() != 3) || !(*parts)[0].is_string()) {
    return fail("invalid_request", "a where entry is [field, value] or [field, op, value]", "where");
  }
  const std::string field(parts->front().get_string());
  auto column = query_column(model, table, field);
  if (!column)
    return fail("invalid_request", fmt::format("unknown field '{}' of model '{}'", field, model.key), "where");
  std::string op = "=";
  if (parts->size() == 3) {
    if (!(*parts)[1].is_string()) return fail("invalid_request", "a where operator is a string", "where");
    op = std::string((*parts)[1].get_string());
    std::transform(op.begin(), op.end(), op.begin(), [](unsigned char c) { return std::toupper(c); });
  }
  const json::value& value = parts->back();
  const std::string target = quoted(*column);
  const std::string_view type = table.type_of(*column);

  static const std::set<std::string, std::less<>> kComparisons = {"=", "!=", "<", "<=", ">", ">="};
  static const std::set<std::string, std::less<>> kPatterns = {"LIKE", "NOT LIKE", "ILIKE", "NOT ILIKE"};
  if (kComparisons.count(op)) {
    if (value.is_null() && (op == "=" || op == "!=")) return target + (op == "=" ? " IS NULL" : " IS NOT NULL");
    if (value.is_array() || value.is_object()) {
      return fail("invalid_request", fmt::format("where '{}' {}: the value must be a scalar", field, op), "where");
    }
    return fmt::format("{} {} {}", target, op == "!=" ? "<>" : op, bindings.add(to_param(value, type)));
  }
  if (op == "IN" || op == "NOT IN") {
    if (!value.is_array())
      return fail("invalid_request", fmt::format("where '{}' {}: the value must be an array", field, op), "where");
    const std::string array = bindings.add(array_literal(value.get_array(), type));
    return op == "IN" ? fmt::format("{} = ANY({})", target, array) : fmt::format("{} <> ALL({})", target, array);
  }
  if (op == "IS" || op == "IS NOT") {
    std::string operand;
    if (value.is_null()) {
      operand = "NULL";
    } else if (value.is_bool()) {
      operand = value.get_bool() ? "TRUE" : "FALSE";
    } else {
      return fail("invalid_request", fmt::format("where '{}' {}: the value must be null or a boolean", field, op),
                  "where");
    }
    return fmt::format("{} {} {}", target, op, operand);
  }
  if (kPatterns.count(op)) {
    if (!value.is_string())
      return fail("invalid_request", fmt::format("where '{}' {}: the value must be a string", field, op), "where");
    return fmt::format("{}::text {} {}", target, op, bindings.add(std::string(value.get_string())));
  }
  return fail("invalid_request", fmt::format("unsupported where operator '{}'", op), "where");
}

// The keyset condition that continues after `after` in ORDER BY column, id (ascending: NULLs
// last; descending: NULLs first, PostgreSQL's defaults).
std::string keyset_condition(const std::string& column, std::string_view type, bool descending,
                             const ListPosition& after, Bindings& bindings) {
  const std::string target = quoted(column);
  const std::string id = bindings.add(after.id);
  const char* beyond = descending ? "<" : ">";
  if (column == "id") return fmt::format("\"id\" {} {}", beyond, id);
  if (after.order_value.is_null()) {
    const std::string same_nulls = fmt::format("({} IS NULL AND \"id\" {} {})", target, beyond, id);
    return descending ? fmt::format("({} OR {} IS NOT NULL)", same_nulls, target) : same_nulls;
  }
  const std::string value = bindings.add(to_param(after.order_value, type));
  std::string condition = fmt::format("({0} {1} {2} OR ({0} = {2} AND \"id\" {1} {3})", target, beyond, value, id);
  if (!descending) condition += fmt::format(" OR {} IS NULL", target);
  return condition + ")";
}

// The SQL text of a JSON-object row of table alias t, read as text.
constexpr std::string_view kRowJson = "to_jsonb(t.*)::text";

// ---------------------------------------------------------------------------------------------

// A statement on ablo_idempotency / ablo_outbox failed because they are not there
// (undefined_table): say what to do instead of passing on PostgreSQL's words alone.
Error with_install_hint(Error error) {
  if (auto state = error.details.if_contains("sqlstate"); state && *state == "42P01") {
    error.message = "change capture is not installed in the source database (install_capture): " + error.message;
  }
  return error;
}

Error network_error(const Error& cause) {
  Error error("source_network_error", "the source database is unreachable (retry): " + cause.message);
  error.details = cause.details;
  return error;
}

// Failures that may succeed when repeated become source_network_error (adapter.h).
Error as_source_error(Error error) {
  if (is_store_failure(error)) return network_error(error);
  return error;
}

class PgSource final : public DataAdapter {
 public:
  explicit PgSource(PgSourceOptions options) : options_(std::move(options)) {}

  Status connect() {
    auto conn = pg::Connection::open(options_.url);
    if (!conn) return tl::unexpected(network_error(conn.error()));
    conn_ = std::move(*conn);
    (void)listen();  // best effort: wait_for_events connects again when this failed
    return {};
  }

  Mode mode() const override { return Mode::kSelfHosted; }

  Result<std::optional<json::object>> load(const std::string& model, const std::string& id, const Scope&) override {
    return run([&](pg::Connection& conn) -> Result<std::optional<json::object>> {
      auto view = model_view(conn, model);
      if (!view) return tl::unexpected(view.error());
      Bindings bindings;
      std::string sql = fmt::format("SELECT {} FROM {} AS t WHERE \"id\" = {}", kRowJson, quoted(view->model->table),
                                    bindings.add(id));
      sql += tenancy_condition(*view->table, bindings);
      auto rows = conn.exec(sql, bindings.params);
      if (!rows) return tl::unexpected(rows.error());
      if (rows->empty()) return std::optional<json::object>();
      auto columns = parse_object(rows->text(0, 0), "a row");
      if (!columns) return tl::unexpected(columns.error());
      return std::optional<json::object>(field_row(*view->model, *view->table, *columns));
    });
  }

  Result<ListPage> list(const std::string& model, const ListQuery& query, const Scope&) override {
    return run([&](pg::Connection& conn) -> Result<ListPage> {
      auto view = model_view(conn, model);
      if (!view) return tl::unexpected(view.error());
      return list_page(conn, *view->model, *view->table, query);
    });
  }

  Result<std::vector<json::object>> commit(const ChangeSet& change_set) override {
    if (change_set.client_tx_id.empty()) return fail("invalid_request", "a commit needs a clientTxId", "clientTxId");
    if (change_set.operations.empty())
      return fail("commit_operation_required", "a commit needs at least one operation");
    // Safe to repeat after a lost connection: the ledger replays a commit that did land.
    return run([&](pg::Connection& conn) { return commit_once(conn, change_set); });
  }

  Result<EventsPage> events(const std::optional<std::string>& cursor, int limit) override {
    int64_t after = 0;
    if (cursor && !cursor->empty()) {
      auto parsed = parse_cursor(*cursor);
      if (!parsed) return tl::unexpected(parsed.error());
      after = *parsed;
    }
    limit = limit <= 0 ? kDefaultEventsLimit : std::min(limit, kMaxEventsLimit);
    return run([&](pg::Connection& conn) { return events_after(conn, after, limit); });
  }

  void wait_for_events(std::chrono::milliseconds timeout, const std::atomic<bool>& stop) override {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    auto remaining = [&] {
      return std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    };
    bool reconnected = false;  // once per call: a connect to a lost host may block for a while
    if (listener_ && !listener_->healthy()) listener_.reset();
    while (!stop.load() && remaining().count() > 0) {
      const int slice = static_cast<int>(std::min<int64_t>(100, remaining().count()));
      if (!listener_) {
        if (reconnected || !listen()) {  // the database is away: wait out the call
          reconnected = true;
          std::this_thread::sleep_for(std::chrono::milliseconds(slice));
          continue;
        }
        reconnected = true;
      }
      // Read before polling: a notification libpq already buffered (healthy() reads the socket)
      // no longer shows on the socket.
      auto channels = listener_->take_notifications();
      if (!channels) {  // the connection broke
        listener_.reset();
        continue;
      }
      if (std::find(channels->begin(), channels->end(), kOutboxChannel) != channels->end()) return;
      pollfd ready{listener_->socket(), POLLIN, 0};
      (void)::poll(&ready, 1, slice);
    }
  }

 private:
  struct ModelView {
    const schema::Model* model;
    const TableInfo* table;
  };

  Status listen() {
    listener_.reset();
    auto conn = pg::Connection::open(options_.url);
    if (!conn) return tl::unexpected(conn.error());
    if (auto ok = (*conn)->exec_script("LISTEN " + std::string(kOutboxChannel)); !ok) return ok;
    listener_ = std::move(*conn);
    return {};
  }

  // Runs `call` on the connection, reopening it first when it broke, and once more on a fresh
  // connection when the database went away during the call (a restarted PostgreSQL just works).
  template <class Call>
  auto run(Call&& call) -> decltype(call(std::declval<pg::Connection&>())) {
    for (int attempt = 0;; ++attempt) {
      if (!conn_ || !conn_->healthy()) {
        conn_.reset();
        auto conn = pg::Connection::open(options_.url);
        if (!conn) return tl::unexpected(network_error(conn.error()));
        conn_ = std::move(*conn);
      }
      auto result = call(*conn_);
      if (result || !pg::is_unavailable(result.error())) {
        if (!result) return tl::unexpected(as_source_error(std::move(result.error())));
        return result;
      }
      conn_.reset();
      if (attempt == 1) return tl::unexpected(network_error(result.error()));
    }
  }

  // The active schema, dropping the cached table layouts when it changed.
  const schema::Schema& current_schema() {
    auto active = options_.schema ? options_.schema() : nullptr;
    if (!active) active = schema::Schema::empty();
    if (active != schema_) {
      schema_ = std::move(active);
      tables_.clear();
    }
    return *schema_;
  }

  const schema::Model* find_model(std::string_view key) {
    const schema::Model* model = current_schema().by_key(key);
    return model ? model : schema_->resolve(key);
  }

  Result<ModelView> model_view(pg::Connection& conn, std::string_view key) {
    const schema::Model* model = find_model(key);
    if (!model) return fail("model_not_found", fmt::format("model '{}' is not in the schema", key), "model");
    auto found = tables_.find(model->key);
    if (found == tables_.end()) {
      auto info = read_table_info(conn, *model);
      if (!info) return tl::unexpected(info.error());
      found = tables_.emplace(model->key, std::move(*info)).first;
    }
    return ModelView{model, &found->second};
  }

  // " AND tenancy = $n" when the table is per-organization and we act for one.
  std::string tenancy_condition(const TableInfo& table, Bindings& bindings) const {
    if (table.tenancy_column.empty() || options_.organization_id.empty()) return "";
    return fmt::format(" AND {} = {}", quoted(table.tenancy_column), bindings.add(options_.organization_id));
  }

  Result<ListPage> list_page(pg::Connection& conn, const schema::Model& model, const TableInfo& table,
                             const ListQuery& query) {
    int limit = query.limit.value_or(kDefaultListLimit);
    if (limit <= 0) return fail("invalid_request", "limit must be positive", "limit");
    limit = std::min(limit, kMaxListLimit);
    std::string order_column = "id";
    if (!query.order_by.empty()) {
      auto column = query_column(model, table, query.order_by);
      if (!column) return fail("invalid_request", fmt::format("unknown orderBy field '{}'", query.order_by), "orderBy");
      if (is_json_type(table.type_of(*column))) {
        return fail("invalid_request", fmt::format("cannot order by the JSON field '{}'", query.order_by), "orderBy");
      }
      order_column = *column;
    }

    Bindings bindings;
    std::string sql = fmt::format("SELECT {} FROM {} AS t WHERE TRUE", kRowJson, quoted(model.table));
    sql += tenancy_condition(table, bindings);
    for (const auto& tuple : query.where) {
      auto condition = where_condition(model, table, tuple, bindings);
      if (!condition) return tl::unexpected(condition.error());
      sql += " AND " + *condition;
    }
    if (!query.cursor.empty()) {
      auto after = decode_list_cursor(query.cursor);
      if (!after) return tl::unexpected(after.error());
      sql += " AND " + keyset_condition(order_column, table.type_of(order_column), query.descending, *after, bindings);
    }
    const char* direction = query.descending ? "DESC" : "ASC";
    sql += order_column == "id" ? fmt::format(" ORDER BY \"id\" {}", direction)
                                : fmt::format(" ORDER BY {} {}, \"id\" {}", quoted(order_column), direction, direction);
    sql += " LIMIT " + std::to_string(limit);

    auto rows = conn.exec(sql, bindings.params);
    if (!rows) return tl::unexpected(rows.error());
    ListPage page;
    json::object last;
    for (int i = 0; i < rows->size(); ++i) {
      auto columns = parse_object(rows->text(i, 0), "a row");
      if (!columns) return tl::unexpected(columns.error());
      page.rows.push_back(field_row(model, table, *columns));
      last = std::move(*columns);
    }
    if (rows->size() == limit) {  // a full page: there may be more
      const json::value* order_value = last.if_contains(order_column);
      json::array position{order_value ? *order_value : json::value(nullptr), id_text(last["id"])};
      page.next_cursor = hex_encode(json::serialize(position));
    }
    return page;
  }

  // ---- commit ---------------------------------------------------------------------------------

  // The operations as canonical JSON: what a replay must repeat to be the same request.
  static std::string request_text(const ChangeSet& change_set) {
    json::array operations;
    for (const auto& op : change_set.operations) {
      operations.push_back(json::object{{"type", op.type}, {"model", op.model}, {"id", op.id}, {"input", op.input}});
    }
    return schema::canonical_json(operations);
  }

  // The stored answer for `client_tx_id`, nullopt when there is none; idempotency_conflict when
  // it was stored for other operations.
  static Result<std::optional<std::vector<json::object>>> ledger_lookup(pg::Connection& conn,
                                                                        const std::string& client_tx_id,
                                                                        const std::string& request) {
    auto rows = conn.exec(
        "SELECT response::text, request_hash IS NULL OR request_hash = encode(sha256(convert_to($2, 'UTF8')), 'hex') "
        "FROM ablo_idempotency WHERE client_tx_id = $1",
        {client_tx_id, request});
    if (!rows) return tl::unexpected(rows.error());
    if (rows->empty()) return std::optional<std::vector<json::object>>();
    if (!rows->boolean(0, 1)) {
      return fail("idempotency_conflict",
                  fmt::format("clientTxId '{}' was already used for different operations", client_tx_id), "clientTxId");
    }
    boost::system::error_code ec;
    json::value stored = json::parse(rows->text(0, 0), ec);
    if (ec || !stored.is_array())
      return fail("internal_error", "ablo_idempotency holds a response that is not an array");
    std::vector<json::object> answer;
    for (auto& row : stored.get_array()) {
      answer.push_back(row.is_object() ? std::move(row.get_object()) : json::object{});
    }
    return std::optional<std::vector<json::object>>(std::move(answer));
  }

  // The ledger entry is claimed first, before any row is touched: a concurrent identical first
  // attempt then waits on that key instead of failing on one of the rows (a CREATE's id), and
  // once the winner commits it finds the entry and replays it (READ COMMITTED: the next
  // statement sees the committed row). A winner that rolls back leaves nothing to find.
  Result<std::vector<json::object>> commit_once(pg::Connection& conn, const ChangeSet& change_set) {
    const std::string request = request_text(change_set);
    if (auto begun = conn.exec_script("BEGIN"); !begun) return tl::unexpected(begun.error());
    auto abandon = [&](Error error) -> Result<std::vector<json::object>> {
      (void)conn.exec_script("ROLLBACK");
      return tl::unexpected(std::move(error));
    };
    // Read by the capture trigger, so the events of this transaction carry its clientTxId.
    if (auto set = conn.exec("SELECT set_config('ablo.client_tx_id', $1, true)", {change_set.client_tx_id}); !set) {
      return abandon(set.error());
    }
    auto claimed = conn.exec(
        "INSERT INTO ablo_idempotency (client_tx_id, request_hash, response) "
        "VALUES ($1, encode(sha256(convert_to($2, 'UTF8')), 'hex'), '[]') "
        "ON CONFLICT (client_tx_id) DO NOTHING RETURNING 1",
        {change_set.client_tx_id, request});
    if (!claimed) return abandon(with_install_hint(claimed.error()));
    if (claimed->empty()) {  // applied before: answer what was stored, touch nothing
      auto replay = ledger_lookup(conn, change_set.client_tx_id, request);
      (void)conn.exec_script("ROLLBACK");
      if (!replay) return tl::unexpected(replay.error());
      if (!*replay) return fail("internal_error", "the idempotency ledger lost a committed entry");
      return std::move(**replay);
    }

    std::vector<json::object> rows;
    json::array response;
    for (std::size_t i = 0; i < change_set.operations.size(); ++i) {
      auto row = apply(conn, change_set.operations[i], i);
      if (!row) return abandon(row.error());
      response.emplace_back(*row);
      rows.push_back(std::move(*row));
    }
    auto recorded = conn.exec("UPDATE ablo_idempotency SET response = $2::jsonb WHERE client_tx_id = $1",
                              {change_set.client_tx_id, json::serialize(response)});
    if (!recorded) return abandon(recorded.error());
    if (auto committed = conn.exec_script("COMMIT"); !committed) return abandon(committed.error());
    return rows;
  }

  // One operation inside the commit's transaction; its canonical row.
  Result<json::object> apply(pg::Connection& conn, const Operation& op, std::size_t index) {
    const std::string where = fmt::format("operations[{}]", index);
    auto view = model_view(conn, op.model);
    if (!view) return tl::unexpected(view.error());
    const schema::Model& model = *view->model;
    const TableInfo& table = *view->table;

    std::string id = op.id;
    if (id.empty()) {
      if (auto input_id = op.input.if_contains("id"); input_id && input_id->is_string()) id = input_id->get_string();
    }
    if (id.empty() && op.type != "CREATE") return fail("invalid_request", where + ": an id is required", where + ".id");

    // The input's fields as column assignments (system fields are the adapter's to set).
    std::vector<std::pair<std::string, pg::Param>> assignments;
    for (const auto& member : op.input) {
      // A named reference, not the structured binding: clang 14 (the fuzz build) cannot
      // capture a binding in a lambda.
      const std::string_view key = member.key();
      const auto& value = member.value();
      if (key == "id" || key == "organizationId" ||
          std::any_of(std::begin(kSystemFields), std::end(kSystemFields),
                      [&](const SystemField& system) { return system.field == key; })) {
        continue;
      }
      const schema::Field* field = model.field(key);
      if (!field)
        return fail("invalid_request",
                    fmt::format("{}: unknown field '{}' of model '{}'", where, std::string(key), model.key),
                    where + ".input");
      if (!table.has(field->column)) {
        return fail("invalid_request",
                    fmt::format("{}: table \"{}\" has no column \"{}\" for field '{}'", where, model.table,
                                field->column, field->name),
                    where + ".input");
      }
      assignments.emplace_back(field->column, to_param(value, table.type_of(field->column)));
    }

    Bindings bindings;
    std::string sql;
    if (op.type == "CREATE") {
      std::vector<std::string> columns, values;
      if (!id.empty()) {
        columns.push_back("\"id\"");
        values.push_back(bindings.add(id));
      }
      for (auto& [column, param] : assignments) {
        columns.push_back(quoted(column));
        values.push_back(bindings.add(std::move(param)));
      }
      for (std::string_view stamp : {"created_at", "updated_at"}) {
        if (table.has(stamp)) {
          columns.push_back(quoted(stamp));
          values.push_back("now()");
        }
      }
      if (!table.tenancy_column.empty() && !options_.organization_id.empty()) {
        columns.push_back(quoted(table.tenancy_column));
        values.push_back(bindings.add(options_.organization_id));
      }
      sql = columns.empty()
                ? fmt::format("INSERT INTO {} AS t DEFAULT VALUES RETURNING {}", quoted(model.table), kRowJson)
                : fmt::format("INSERT INTO {} AS t ({}) VALUES ({}) RETURNING {}", quoted(model.table),
                              fmt::join(columns, ", "), fmt::join(values, ", "), kRowJson);
    } else if (op.type == "UPDATE" || op.type == "ARCHIVE" || op.type == "UNARCHIVE") {
      std::vector<std::string> sets;
      for (auto& [column, param] : assignments) sets.push_back(quoted(column) + " = " + bindings.add(std::move(param)));
      if (op.type != "UPDATE") {
        if (!table.has("archived_at")) {
          return fail("invalid_request", fmt::format("{}: table \"{}\" has no archived_at column", where, model.table),
                      where + ".type");
        }
        sets.push_back(op.type == "ARCHIVE" ? "\"archived_at\" = now()" : "\"archived_at\" = NULL");
      }
      if (table.has("updated_at")) sets.push_back("\"updated_at\" = now()");
      if (sets.empty()) sets.push_back("\"id\" = \"id\"");  // still a write: the row is returned and captured
      sql = fmt::format("UPDATE {} AS t SET {} WHERE \"id\" = {}", quoted(model.table), fmt::join(sets, ", "),
                        bindings.add(id));
      sql += tenancy_condition(table, bindings);
      sql += fmt::format(" RETURNING {}", kRowJson);
    } else if (op.type == "DELETE") {
      sql = fmt::format("DELETE FROM {} AS t WHERE \"id\" = {}", quoted(model.table), bindings.add(id));
      sql += tenancy_condition(table, bindings);
      sql += fmt::format(" RETURNING {}", kRowJson);
    } else {
      return fail("commit_operation_unsupported", fmt::format("{}: unknown operation type '{}'", where, op.type),
                  where + ".type");
    }

    auto rows = conn.exec(sql, bindings.params);
    if (!rows) {
      Error error = std::move(rows.error());
      error.message = where + ": " + error.message;
      return tl::unexpected(std::move(error));
    }
    if (rows->empty()) {
      return fail("entity_not_found", fmt::format("{}: {} '{}' does not exist", where, model.key, id), where + ".id");
    }
    auto columns = parse_object(rows->text(0, 0), "a written row");
    if (!columns) return tl::unexpected(columns.error());
    if (op.type == "DELETE") return json::object{{"id", id}};
    return field_row(model, table, *columns);
  }

  // ---- events ---------------------------------------------------------------------------------

  static Result<int64_t> parse_cursor(const std::string& cursor) {
    int64_t value = 0;
    const auto [end, ec] = std::from_chars(cursor.data(), cursor.data() + cursor.size(), value);
    if (ec != std::errc() || end != cursor.data() + cursor.size() || value < 0) {
      return fail("invalid_request", fmt::format("events cursor '{}' is not a non-negative integer", cursor), "cursor");
    }
    return value;
  }

  Result<EventsPage> events_after(pg::Connection& conn, int64_t after, int limit) {
    auto rows = conn.exec(
        "SELECT cursor, id, model, entity_id, type, data::text, organization_id, client_tx_id, occurred_at "
        "FROM ablo_outbox WHERE cursor > $1 ORDER BY cursor LIMIT $2",
        {std::to_string(after), std::to_string(limit)});
    if (!rows) return tl::unexpected(with_install_hint(rows.error()));
    EventsPage page;
    for (int i = 0; i < rows->size(); ++i) {
      auto row = rows->row(i);
      page.next_cursor = row.text(0);  // also past events of models the schema no longer has
      auto found = model_view(conn, row.text(2));
      if (!found && found.error().code == "model_not_found") continue;
      if (!found && found.error().code != "invalid_request") return tl::unexpected(found.error());
      // A table dropped since the write (invalid_request) must not stall the feed: its events
      // still go out, their values mapped without the column types.
      static const TableInfo kUnknownTable;
      const ModelView view = found ? *found : ModelView{find_model(row.text(2)), &kUnknownTable};
      Event event;
      event.id = row.text(1);
      event.model = view.model->key;
      event.entity_id = row.text(3);
      event.type = row.text(4);
      if (!row.is_null(5)) {
        auto columns = parse_object(row.text(5), "an outbox row's data");
        if (!columns) return tl::unexpected(columns.error());
        event.data = field_row(*view.model, *view.table, *columns);
      }
      event.organization_id = row.text(6);
      event.client_tx_id = row.text(7);
      if (!row.is_null(8)) event.occurred_at_ms = row.int64(8);
      page.events.push_back(std::move(event));
    }
    return page;
  }

  PgSourceOptions options_;
  std::unique_ptr<pg::Connection> conn_;
  std::unique_ptr<pg::Connection> listener_;  // LISTEN ablo_outbox
  std::shared_ptr<const schema::Schema> schema_;
  std::map<std::string, TableInfo, std::less<>> tables_;  // model key -> its table's columns
};

// ---------------------------------------------------------------------------------------------
// Capture install / status

// The tables of the schema's models that live in the customer database.
std::vector<const schema::Model*> captured_models(const schema::Schema& schema) {
  std::vector<const schema::Model*> models;
  for (const auto& model : schema.models()) {
    if (!model.control_plane) models.push_back(&model);
  }
  return models;
}

// Runs `script` in one transaction.
Status in_transaction(pg::Connection& conn, const std::string& script) {
  if (auto begun = conn.exec_script("BEGIN"); !begun) return begun;
  if (auto ok = conn.exec_script(script); !ok) {
    (void)conn.exec_script("ROLLBACK");
    return ok;
  }
  return conn.exec_script("COMMIT");
}

}  // namespace
}  // namespace pg_direct

Result<std::unique_ptr<DataAdapter>> open_pg_source(PgSourceOptions options) {
  if (options.url.empty()) return fail("invalid_request", "the source database URL is empty", "connectionString");
  auto source = std::make_unique<pg_direct::PgSource>(std::move(options));
  if (auto connected = source->connect(); !connected) return tl::unexpected(connected.error());
  return std::unique_ptr<DataAdapter>(std::move(source));
}

Status install_capture(pg::Connection& conn, const schema::Schema& schema) {
  std::string script(pg_direct::kAdapterTables);
  script += pg_direct::kOrderFunction;
  script += pg_direct::kCaptureFunction;
  for (const auto* model : pg_direct::captured_models(schema)) {
    auto table = pg_direct::read_table_info(conn, *model);
    if (!table) return tl::unexpected(table.error());
    const std::string target = pg::quote_identifier(model->table);
    script += fmt::format(
        "DROP TRIGGER IF EXISTS {0} ON {1};\n"
        "CREATE TRIGGER {0} BEFORE INSERT OR UPDATE OR DELETE ON {1} FOR EACH STATEMENT "
        "EXECUTE FUNCTION ablo_capture_order();\n",
        pg_direct::kOrderTriggerName, target);
    script += fmt::format(
        "DROP TRIGGER IF EXISTS {0} ON {1};\n"
        "CREATE TRIGGER {0} AFTER INSERT OR UPDATE OR DELETE ON {1} FOR EACH ROW "
        "EXECUTE FUNCTION ablo_capture({2}, {3});\n",
        pg_direct::kTriggerName, target, pg::quote_literal(model->key), pg::quote_literal(table->tenancy_column));
  }
  return pg_direct::in_transaction(conn, script);
}

Status uninstall_capture(pg::Connection& conn, const schema::Schema& schema) {
  // A table of the schema that does not exist has nothing to drop: skip it rather than fail.
  std::string script;
  for (const auto* model : pg_direct::captured_models(schema)) {
    auto exists = conn.exec("SELECT to_regclass($1) IS NOT NULL", {pg::quote_identifier(model->table)});
    if (!exists) return tl::unexpected(exists.error());
    if (exists->boolean(0, 0)) {
      for (auto trigger : {pg_direct::kTriggerName, pg_direct::kOrderTriggerName}) {
        script += fmt::format("DROP TRIGGER IF EXISTS {} ON {};\n", trigger, pg::quote_identifier(model->table));
      }
    }
  }
  // CASCADE: also the triggers of tables whose models left the schema since the install.
  script += "DROP FUNCTION IF EXISTS ablo_capture() CASCADE;\n";
  script += "DROP FUNCTION IF EXISTS ablo_capture_order() CASCADE;\n";
  return pg_direct::in_transaction(conn, script);
}

Result<CaptureStatus> capture_status(pg::Connection& conn, const schema::Schema& schema) {
  CaptureStatus status;
  auto function = conn.exec(
      "SELECT count(*) FROM pg_proc WHERE proname IN ('ablo_capture', 'ablo_capture_order') "
      "AND pronamespace = current_schema()::regnamespace");
  if (!function) return tl::unexpected(function.error());
  std::vector<std::string> tables;
  for (const auto* model : pg_direct::captured_models(schema)) tables.push_back(model->table);
  std::sort(tables.begin(), tables.end());
  tables.erase(std::unique(tables.begin(), tables.end()), tables.end());
  for (const auto& table : tables) {
    auto triggered = conn.exec(
        "SELECT count(*) FROM pg_trigger tg JOIN pg_class c ON c.oid = tg.tgrelid "
        "WHERE tg.tgname IN ($1, $2) AND c.relname = $3 AND c.relnamespace = current_schema()::regnamespace",
        {std::string(pg_direct::kTriggerName), std::string(pg_direct::kOrderTriggerName), table});
    if (!triggered) return tl::unexpected(triggered.error());
    if (triggered->int64(0, 0) == 2) status.tables_captured.push_back(table);
  }
  status.installed = function->int64(0, 0) == 2 && status.tables_captured.size() == tables.size();
  auto outbox = conn.exec("SELECT to_regclass('ablo_outbox') IS NOT NULL");
  if (!outbox) return tl::unexpected(outbox.error());
  if (outbox->boolean(0, 0)) {
    auto counts = conn.exec("SELECT count(*), coalesce(max(cursor), 0) FROM ablo_outbox");
    if (!counts) return tl::unexpected(counts.error());
    status.outbox_rows = counts->int64(0, 0);
    status.head_cursor = counts->int64(0, 1);
  }
  return status;
}

}  // namespace ablo::source
