#include "introspect/introspect.h"

#include "store/table_layout.h"

#include <algorithm>
#include <cctype>
#include <map>
#include <optional>
#include <regex>
#include <set>

#include <boost/json.hpp>
#include <fmt/format.h>

namespace ablo::introspect {

namespace json = boost::json;

namespace {

// ---------------------------------------------------------------------------------------
// The catalogue: what pg_catalog says about the tables of one PostgreSQL schema.

struct Column {
  std::string name;
  std::string type;          // pg_type.typname, domains resolved to their base ("text", "float8", "_text")
  std::string display_type;  // format_type(), for messages ("character varying(20)")
  char type_kind = 'b';      // pg_type.typtype: 'b' base, 'e' enum, ...
  std::string type_oid;
  bool not_null = false;
  bool has_default = false;
};

struct CheckConstraint {
  std::string name;
  std::string column;  // the one column it mentions ("" when several)
  std::string definition;
};

struct Table {
  std::string name;
  std::vector<Column> columns;
  std::vector<CheckConstraint> checks;
  std::set<std::string> indexed_columns;  // leading key of an index (after the tenant column)
  bool has_tenant_id_key = false;         // PRIMARY KEY or UNIQUE on exactly (_tenant, id)

  const Column* column(std::string_view column_name) const {
    for (const auto& c : columns) {
      if (c.name == column_name) return &c;
    }
    return nullptr;
  }
};

using Catalogue = std::map<std::string, Table>;  // by table name, so output order is stable

// Ordinary and partitioned tables (partitions are reached through their parent).
constexpr std::string_view kTablesSql = R"(
SELECT c.relname FROM pg_catalog.pg_class c
JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = $1 AND c.relkind IN ('r', 'p') AND NOT c.relispartition)";

constexpr std::string_view kColumnsSql = R"(
SELECT c.relname, a.attname, bt.typname, pg_catalog.format_type(a.atttypid, a.atttypmod),
       bt.typtype, bt.oid::text, a.attnotnull, a.atthasdef
FROM pg_catalog.pg_class c
JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
JOIN pg_catalog.pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
JOIN pg_catalog.pg_type t ON t.oid = a.atttypid
JOIN pg_catalog.pg_type bt ON bt.oid = CASE WHEN t.typtype = 'd' THEN t.typbasetype ELSE t.oid END
WHERE n.nspname = $1 AND c.relkind IN ('r', 'p') AND NOT c.relispartition
ORDER BY c.relname, a.attnum)";

constexpr std::string_view kChecksSql = R"(
SELECT c.relname, con.conname, pg_catalog.pg_get_constraintdef(con.oid),
       CASE WHEN array_length(con.conkey, 1) = 1 THEN
         (SELECT a.attname FROM pg_catalog.pg_attribute a WHERE a.attrelid = c.oid AND a.attnum = con.conkey[1])
       END
FROM pg_catalog.pg_constraint con
JOIN pg_catalog.pg_class c ON c.oid = con.conrelid
JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = $1 AND con.contype = 'c'
ORDER BY c.relname, con.conname)";

// Per index: its table, whether it is unique and unconditional, and its plain key columns in
// order (expression keys show as NULL and end the list).
constexpr std::string_view kIndexesSql = R"(
SELECT c.relname, (i.indisunique AND i.indpred IS NULL AND i.indnatts = i.indnkeyatts)::text,
       (SELECT string_agg(a.attname, ',' ORDER BY k.ord)
          FROM unnest(i.indkey::int2[]) WITH ORDINALITY AS k(attnum, ord)
          JOIN pg_catalog.pg_attribute a ON a.attrelid = c.oid AND a.attnum = k.attnum
         WHERE k.ord <= i.indnkeyatts)
FROM pg_catalog.pg_index i
JOIN pg_catalog.pg_class c ON c.oid = i.indrelid
JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = $1)";

std::vector<std::string> split_commas(const std::string& text) {
  std::vector<std::string> out;
  if (text.empty()) return out;
  std::size_t start = 0;
  for (auto comma = text.find(','); comma != std::string::npos; comma = text.find(',', start)) {
    out.push_back(text.substr(start, comma - start));
    start = comma + 1;
  }
  out.push_back(text.substr(start));
  return out;
}

// Index key columns are separated by ',' in kIndexesSql; a column name containing ',' would
// split wrongly, which at worst loses an isIndexed flag or the key check's precision.
void note_index(Table& table, bool unique, const std::vector<std::string>& keys) {
  if (keys.empty()) return;
  std::set<std::string> key_set(keys.begin(), keys.end());
  if (unique && keys.size() == 2 && key_set == std::set<std::string>{"_tenant", "id"}) table.has_tenant_id_key = true;
  // Ablo-style indexes lead with the tenant column; the field is the column after it.
  const bool tenant_first = keys[0] == "_tenant" || keys[0] == "organization_id";
  if (!tenant_first) table.indexed_columns.insert(keys[0]);
  else if (keys.size() > 1) table.indexed_columns.insert(keys[1]);
}

Result<Catalogue> read_catalogue(pg::Connection& conn, const std::string& pg_schema) {
  const pg::Params params{pg_schema};
  Catalogue catalogue;
  auto tables = conn.exec(kTablesSql, params);
  if (!tables) return tl::unexpected(tables.error());
  for (int r = 0; r < tables->size(); ++r) {
    const std::string name = tables->text(r, 0);
    catalogue[name].name = name;
  }
  auto columns = conn.exec(kColumnsSql, params);
  if (!columns) return tl::unexpected(columns.error());
  for (int r = 0; r < columns->size(); ++r) {
    Column column{.name = columns->text(r, 1),
                  .type = columns->text(r, 2),
                  .display_type = columns->text(r, 3),
                  .type_kind = columns->text(r, 4).empty() ? 'b' : columns->text(r, 4)[0],
                  .type_oid = columns->text(r, 5),
                  .not_null = columns->boolean(r, 6),
                  .has_default = columns->boolean(r, 7)};
    catalogue[columns->text(r, 0)].columns.push_back(std::move(column));
  }
  auto checks = conn.exec(kChecksSql, params);
  if (!checks) return tl::unexpected(checks.error());
  for (int r = 0; r < checks->size(); ++r) {
    catalogue[checks->text(r, 0)].checks.push_back(
        {.name = checks->text(r, 1), .column = checks->text(r, 3), .definition = checks->text(r, 2)});
  }
  auto indexes = conn.exec(kIndexesSql, params);
  if (!indexes) return tl::unexpected(indexes.error());
  for (int r = 0; r < indexes->size(); ++r) {
    note_index(catalogue[indexes->text(r, 0)], indexes->text(r, 1) == "true", split_commas(indexes->text(r, 2)));
  }
  return catalogue;
}

Result<bool> schema_exists(pg::Connection& conn, const std::string& pg_schema) {
  auto rows = conn.exec("SELECT 1 FROM pg_catalog.pg_namespace WHERE nspname = $1", {pg_schema});
  if (!rows) return tl::unexpected(rows.error());
  return !rows->empty();
}

// Runs `body` inside a READ ONLY transaction: one consistent view of the catalogue, and a
// guarantee from the server that introspection writes nothing. Always rolled back.
template <class Body>
auto in_read_only_transaction(pg::Connection& conn, Body&& body) -> decltype(body()) {
  if (auto begun = conn.exec("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY"); !begun) {
    return tl::unexpected(begun.error());
  }
  auto result = body();
  // Nothing to keep; a failed rollback means a broken connection, which the caller sees next.
  auto rolled_back = conn.exec("ROLLBACK");
  (void)rolled_back;
  return result;
}

std::string lower(std::string_view text) {
  std::string out(text);
  for (auto& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

// ---------------------------------------------------------------------------------------
// pull

// The server's own tables (schema.cpp refuses them as model tables, case-insensitively).
bool is_server_table(std::string_view table) {
  static constexpr std::string_view kInternal[] = {"sync_deltas", "idempotency", "api_keys",
                                                   "capabilities", "schemas",     "settings"};
  const std::string lowered = lower(table);
  return lowered.starts_with("_ablo_") ||
         std::find(std::begin(kInternal), std::end(kInternal), lowered) != std::end(kInternal);
}

// Columns every model has implicitly (id, timestamps, tenancy, sync groups): never fields.
bool is_base_column(std::string_view column) {
  static constexpr std::string_view kBase[] = {"id",         "_tenant",    "organization_id", "created_at",
                                               "updated_at", "created_by", "archived_at",     "_groups"};
  return std::find(std::begin(kBase), std::end(kBase), column) != std::end(kBase);
}

// Field names the store maps onto base columns whatever their declared column (row_codec.cpp).
bool is_base_field_name(std::string_view name) {
  static constexpr std::string_view kBase[] = {"id", "createdAt", "updatedAt", "createdBy", "archivedAt",
                                               "organizationId"};
  return std::find(std::begin(kBase), std::end(kBase), name) != std::end(kBase);
}

// schema.md §1.1 as schema.cpp enforces it: no leading capital, no two capitals in a row.
bool is_camel_case(std::string_view name) {
  if (name.empty() || std::isupper(static_cast<unsigned char>(name[0]))) return false;
  for (std::size_t i = 1; i < name.size(); ++i) {
    if (std::isupper(static_cast<unsigned char>(name[i])) && std::isupper(static_cast<unsigned char>(name[i - 1]))) {
      return false;
    }
  }
  return true;
}

// A field name for a column: snakeToCamel when that gives a valid camelCase name, otherwise
// ("Title", "URL", "_private") the same applied to the lowercased column without leading '_'.
std::string field_name_for_column(std::string_view column) {
  std::string name = snake_to_camel(column);
  if (is_camel_case(name)) return name;
  std::string lowered = lower(column);
  lowered.erase(0, lowered.find_first_not_of('_'));
  name = snake_to_camel(lowered);
  return name.empty() ? "column" : name;
}

// A key not yet in `taken` (compared case-insensitively when asked): `base`, `base2`, ...
std::string unique_name(const std::string& base, const std::set<std::string>& taken, bool fold_case) {
  auto is_taken = [&](const std::string& candidate) { return taken.count(fold_case ? lower(candidate) : candidate) > 0; };
  if (!is_taken(base)) return base;
  for (int n = 2;; ++n) {
    std::string candidate = base + std::to_string(n);
    if (!is_taken(candidate)) return candidate;
  }
}

// Inverse of schema.md §3.4 over pg_type.typname; nullopt for types Ablo has no field type for.
std::optional<std::string_view> field_type_for(std::string_view pg_type) {
  static const std::map<std::string_view, std::string_view> kTypes = {
      {"text", "string"},        {"varchar", "string"},   {"bpchar", "string"}, {"char", "string"},
      {"float8", "number"},      {"float4", "number"},    {"numeric", "number"}, {"int4", "number"},
      {"int8", "number"},        {"int2", "number"},      {"bool", "boolean"},   {"timestamptz", "date"},
      {"timestamp", "date"},     {"date", "date"},        {"json", "json"},      {"jsonb", "json"},
  };
  auto it = kTypes.find(pg_type);
  if (it == kTypes.end()) return std::nullopt;
  return it->second;
}

// Labels of PostgreSQL enum types, read once per type.
class EnumLabels {
 public:
  explicit EnumLabels(pg::Connection& conn) : conn_(conn) {}

  Result<std::vector<std::string>> of(const std::string& type_oid) {
    if (auto cached = labels_.find(type_oid); cached != labels_.end()) return cached->second;
    auto rows = conn_.exec("SELECT enumlabel FROM pg_catalog.pg_enum WHERE enumtypid = $1::oid ORDER BY enumsortorder",
                           {type_oid});
    if (!rows) return tl::unexpected(rows.error());
    std::vector<std::string> labels;
    for (int r = 0; r < rows->size(); ++r) labels.push_back(rows->text(r, 0));
    return labels_[type_oid] = std::move(labels);
  }

 private:
  pg::Connection& conn_;
  std::map<std::string, std::vector<std::string>> labels_;
};

struct PullContext {
  EnumLabels enum_labels;
  std::vector<std::string>& warnings;
};

// The FieldMeta of one column; a type without a field type becomes string with a warning.
Result<json::object> field_meta(PullContext& context, const Table& table, const Column& column) {
  json::object meta;
  std::vector<std::string> enum_values;
  if (column.type_kind == 'e') {
    auto labels = context.enum_labels.of(column.type_oid);
    if (!labels) return tl::unexpected(labels.error());
    enum_values = std::move(*labels);
    meta["type"] = "enum";
  } else if (auto type = field_type_for(column.type)) {
    meta["type"] = *type;
    if (*type == "string") {
      for (const auto& check : table.checks) {
        if (check.column != column.name) continue;
        enum_values = enum_values_of_check(check.definition, column.name);
        if (!enum_values.empty()) break;
      }
      if (!enum_values.empty()) meta["type"] = "enum";
    }
  } else {
    meta["type"] = "string";
    context.warnings.push_back(fmt::format("table \"{}\": column \"{}\" has type {}, which has no schema field type; "
                                           "pulled as string (ablo check reports it until the column is text)",
                                           table.name, column.name, column.display_type));
  }
  meta["isOptional"] = !column.not_null;
  meta["isIndexed"] = table.indexed_columns.count(column.name) > 0;
  if (!enum_values.empty()) {
    json::array values;
    for (auto& value : enum_values) values.emplace_back(value);
    meta["enumValues"] = std::move(values);
  }
  return meta;
}

const std::regex kColumnPattern("^[a-zA-Z_][a-zA-Z0-9_]{0,62}$");

Result<json::object> model_fields(PullContext& context, const Table& table) {
  json::object fields;
  std::set<std::string> taken;
  for (const auto& column : table.columns) {
    if (is_base_column(column.name)) continue;
    std::string name = field_name_for_column(column.name);
    if (is_base_field_name(name)) {
      context.warnings.push_back(fmt::format("table \"{}\": column \"{}\" skipped: as field '{}' it would be taken "
                                             "for the base field of that name",
                                             table.name, column.name, name));
      continue;
    }
    const bool needs_column = schema::camel_to_snake(name) != column.name;
    if (needs_column && !std::regex_match(column.name, kColumnPattern)) {
      context.warnings.push_back(fmt::format("table \"{}\": column \"{}\" skipped: schema JSON column names must "
                                             "match ^[a-zA-Z_][a-zA-Z0-9_]{{0,62}}$",
                                             table.name, column.name));
      continue;
    }
    if (const std::string unique = unique_name(name, taken, false); unique != name) {
      context.warnings.push_back(fmt::format("table \"{}\": column \"{}\" pulled as field '{}' because '{}' is taken",
                                             table.name, column.name, unique, name));
      name = unique;
    }
    auto meta = field_meta(context, table, column);
    if (!meta) return tl::unexpected(meta.error());
    // A renamed field must keep pointing at its column.
    if (schema::camel_to_snake(name) != column.name) (*meta)["column"] = column.name;
    taken.insert(name);
    fields[name] = std::move(*meta);
  }
  return fields;
}

Result<json::object> model_json(PullContext& context, const Table& table, const std::string& key) {
  auto fields = model_fields(context, table);
  if (!fields) return tl::unexpected(fields.error());
  json::object model;
  model["fields"] = std::move(*fields);
  model["relations"] = json::object{};
  model["load"] = "instant";
  model["typename"] = key;
  if (key != table.name) model["tableName"] = table.name;
  // Tables with a tenant column are per-organization; anything else is shared by all tenants.
  const bool tenant_scoped = table.column("_tenant") || table.column("organization_id");
  model["tenancy"] = tenant_scoped ? json::object{{"kind", "column"}, {"column", "organization_id"}}
                                   : json::object{{"kind", "none"}};
  model["plane"] = "tenant";
  return model;
}

std::string model_key_for_table(const std::string& table) {
  return table.find('_') == std::string::npos ? table : snake_to_camel(table);
}

// ---------------------------------------------------------------------------------------
// check

struct ExpectedType {
  std::string_view exact;                 // the type the store creates (pg_type.typname)
  std::vector<std::string_view> tolerated;  // works with the store's text parameters, with a warning
  std::string_view sql;                   // for messages
};

ExpectedType expected_type(schema::FieldType type) {
  switch (type) {
    case schema::FieldType::kString:
    case schema::FieldType::kEnum: return {"text", {"varchar"}, "text"};
    case schema::FieldType::kNumber: return {"float8", {"numeric"}, "double precision"};
    case schema::FieldType::kBoolean: return {"bool", {}, "boolean"};
    case schema::FieldType::kDate: return {"timestamptz", {}, "timestamp with time zone"};
    case schema::FieldType::kJson: return {"jsonb", {}, "jsonb"};
  }
  return {"text", {}, "text"};
}

struct BaseColumn {
  std::string_view name;
  std::string_view type;  // pg_type.typname
  std::string_view sql;
};

// The base columns the PostgreSQL store creates in every model table.
constexpr BaseColumn kStoreBaseColumns[] = {
    {"_tenant", "text", "text"},
    {"id", "text", "text"},
    {"created_at", "timestamptz", "timestamp with time zone"},
    {"updated_at", "timestamptz", "timestamp with time zone"},
    {"created_by", "text", "text"},
    {"archived_at", "timestamptz", "timestamp with time zone"},
    {"_groups", "_text", "text[]"},
};

// The store's own rule (store/table_layout.h): fields whose column (or name) is a base or
// tenancy column are absorbed into it.
bool has_own_column(const schema::Model& model, const schema::Field& field) {
  const auto own = store::column_fields(model);
  return std::find(own.begin(), own.end(), &field) != own.end();
}

// PostgreSQL cuts identifiers to NAMEDATALEN-1 = 63 bytes, at a character boundary, so a long
// `<table>_<col>_enum` is stored shortened.
std::string postgres_identifier(std::string name) {
  if (name.size() <= 63) return name;
  std::size_t cut = 63;
  while (cut > 0 && (static_cast<unsigned char>(name[cut]) & 0xC0) == 0x80) --cut;
  name.resize(cut);
  return name;
}

std::string join(const std::vector<std::string>& values) {
  std::string out;
  for (const auto& value : values) {
    if (!out.empty()) out += ", ";
    out += "'" + value + "'";
  }
  return out;
}

class ModelChecker {
 public:
  ModelChecker(const schema::Model& model, const Table& table, CheckReport& report)
      : model_(model), table_(table), report_(report) {}

  void run() {
    check_base_columns();
    std::set<std::string> used;
    for (const auto& base : kStoreBaseColumns) used.insert(std::string(base.name));
    for (const auto& field : model_.fields) {
      if (!has_own_column(model_, field)) continue;
      used.insert(field.column);
      check_field(field);
    }
    check_extra_columns(used);
    if (!table_.has_tenant_id_key) {
      warn("has no PRIMARY KEY or UNIQUE constraint on (_tenant, id); the store relies on one row per id");
    }
  }

 private:
  void problem(const std::string& text) {
    report_.problems.push_back(fmt::format("model '{}' (table \"{}\"): {}", model_.key, table_.name, text));
  }
  void warn(const std::string& text) {
    report_.warnings.push_back(fmt::format("model '{}' (table \"{}\"): {}", model_.key, table_.name, text));
  }

  void check_base_columns() {
    for (const auto& base : kStoreBaseColumns) {
      const Column* column = table_.column(base.name);
      if (!column) {
        problem(fmt::format("missing base column \"{}\" ({})", base.name, base.sql));
      } else if (column->type != base.type) {
        problem(fmt::format("base column \"{}\" is {}, expected {}", base.name, column->display_type, base.sql));
      }
    }
  }

  void check_field(const schema::Field& field) {
    const ExpectedType expected = expected_type(field.type);
    const std::string field_label = fmt::format("field '{}' ({})", field.name, schema::to_string(field.type));
    const Column* column = table_.column(field.column);
    if (!column) {
      problem(fmt::format("missing column \"{}\" for {}", field.column, field_label));
      return;
    }
    const bool tolerated =
        std::find(expected.tolerated.begin(), expected.tolerated.end(), column->type) != expected.tolerated.end();
    if (column->type != expected.exact && !tolerated) {
      problem(fmt::format("column \"{}\" for {} is {}, expected {}", field.column, field_label, column->display_type,
                          expected.sql));
      return;
    }
    if (tolerated) {
      warn(fmt::format("column \"{}\" for {} is {}; the store creates {} (values that do not fit are rejected)",
                       field.column, field_label, column->display_type, expected.sql));
    }
    if (field.optional && column->not_null && !column->has_default) {
      warn(fmt::format("column \"{}\" is NOT NULL but {} is optional; writes without it will fail", field.column,
                       field_label));
    }
    if (field.type == schema::FieldType::kEnum) check_enum_constraint(field);
  }

  void check_enum_constraint(const schema::Field& field) {
    const std::string name = postgres_identifier(table_.name + "_" + field.column + "_enum");
    auto check = std::find_if(table_.checks.begin(), table_.checks.end(),
                              [&](const CheckConstraint& c) { return c.name == name; });
    if (check == table_.checks.end()) {
      warn(fmt::format("enum field '{}' has no CHECK constraint \"{}\"; the database accepts any text in \"{}\"",
                       field.name, name, field.column));
      return;
    }
    auto allowed = enum_values_of_check(check->definition, field.column);
    std::set<std::string> allowed_set(allowed.begin(), allowed.end());
    std::set<std::string> declared_set(field.enum_values.begin(), field.enum_values.end());
    if (allowed_set != declared_set) {
      warn(fmt::format("CHECK constraint \"{}\" ({}) does not allow exactly the values of enum field '{}' ({})", name,
                       check->definition, field.name, join(field.enum_values)));
    }
  }

  // Extra columns are fine unless they demand a value the store never writes.
  void check_extra_columns(const std::set<std::string>& used) {
    for (const auto& column : table_.columns) {
      if (used.count(column.name) || !column.not_null || column.has_default) continue;
      warn(fmt::format("column \"{}\" is not in the schema and is NOT NULL without a default; inserts by Ablo will "
                       "fail",
                       column.name));
    }
  }

  const schema::Model& model_;
  const Table& table_;
  CheckReport& report_;
};

}  // namespace

std::string snake_to_camel(std::string_view name) {
  std::string out;
  out.reserve(name.size());
  for (std::size_t i = 0; i < name.size(); ++i) {
    if (name[i] != '_') {
      out.push_back(name[i]);
      continue;
    }
    std::size_t run_end = i;
    while (run_end < name.size() && name[run_end] == '_') ++run_end;
    if (run_end < name.size() && std::isalnum(static_cast<unsigned char>(name[run_end]))) {
      out.push_back(static_cast<char>(std::toupper(static_cast<unsigned char>(name[run_end]))));
      i = run_end;
    } else {
      out.append(name.substr(i, run_end - i));  // trailing underscores stay
      i = run_end - 1;
    }
  }
  return out;
}

std::vector<std::string> enum_values_of_check(std::string_view definition, std::string_view column) {
  // Take the string literals out ('' is an escaped quote) so the shape can be matched alone.
  std::string skeleton;
  std::vector<std::string> values;
  for (std::size_t i = 0; i < definition.size(); ++i) {
    if (definition[i] != '\'') {
      skeleton.push_back(definition[i]);
      continue;
    }
    std::string value;
    std::size_t j = i + 1;
    for (; j < definition.size(); ++j) {
      if (definition[j] != '\'') {
        value.push_back(definition[j]);
      } else if (j + 1 < definition.size() && definition[j + 1] == '\'') {
        value.push_back('\'');
        ++j;
      } else {
        break;
      }
    }
    if (j >= definition.size()) return {};  // unterminated literal: not something we understand
    values.push_back(std::move(value));
    skeleton.push_back('$');
    i = j;
  }
  // `col IN ('a','b')` prints as `col = ANY (ARRAY[...])`, with casts when the column is
  // varchar; a single value prints as `col = 'a'::text`.
  static const std::string kCast = R"((?:::[a-z ]+(?:\(\d+\))?))";
  static const std::string kArray = "ARRAY\\[\\$" + kCast + "?(?:, \\$" + kCast + "?)*\\]";
  static const std::regex kAnyArray("^CHECK \\(\\((.+) = ANY \\((?:" + kArray + "|\\(" + kArray +
                                    "\\)::[a-z ]+\\[\\])\\)\\)\\)( NOT VALID)?$");
  static const std::regex kSingle("^CHECK \\(\\((.+) = \\$" + kCast + "?\\)\\)( NOT VALID)?$");
  std::smatch match;
  if (!std::regex_match(skeleton, match, kAnyArray) && !std::regex_match(skeleton, match, kSingle)) return {};
  const std::string subject = match[1].str();
  const std::string bare(column), quoted = pg::quote_identifier(column);
  const bool names_column = subject == bare || subject == quoted || subject == "(" + bare + ")::text" ||
                            subject == "(" + quoted + ")::text";
  return names_column ? values : std::vector<std::string>{};
}

Result<PullResult> pull_schema(pg::Connection& conn, const std::string& pg_schema, const PullProgress& on_table) {
  return in_read_only_transaction(conn, [&]() -> Result<PullResult> {
    auto exists = schema_exists(conn, pg_schema);
    if (!exists) return tl::unexpected(exists.error());
    if (!*exists) return fail("invalid_request", fmt::format("PostgreSQL schema \"{}\" does not exist", pg_schema));
    auto catalogue = read_catalogue(conn, pg_schema);
    if (!catalogue) return tl::unexpected(catalogue.error());

    PullResult result;
    PullContext context{EnumLabels(conn), result.warnings};
    json::object models;
    std::set<std::string> taken_keys;  // lowercase: keys double as case-insensitive wire names
    std::size_t tables_done = 0;
    for (const auto& [name, table] : *catalogue) {
      if (on_table) on_table(tables_done++, catalogue->size(), name);
      if (is_server_table(name)) continue;
      const std::string wanted = model_key_for_table(name);
      const std::string key = unique_name(wanted, taken_keys, true);
      if (key != wanted) {
        result.warnings.push_back(
            fmt::format("table \"{}\" pulled as model '{}' because '{}' is taken", name, key, wanted));
      }
      if (!table.column("id")) {
        result.warnings.push_back(fmt::format("table \"{}\" has no id column; Ablo identifies rows by a text id", name));
      }
      auto model = model_json(context, table, key);
      if (!model) return tl::unexpected(model.error());
      taken_keys.insert(lower(key));
      models[key] = std::move(*model);
    }
    result.schema = json::object{{"v", 3}, {"models", std::move(models)}, {"identityRoles", json::array{}}};
    return result;
  });
}

Result<CheckReport> check_schema(pg::Connection& conn, const schema::Schema& schema, const std::string& pg_schema) {
  return in_read_only_transaction(conn, [&]() -> Result<CheckReport> {
    CheckReport report;
    auto exists = schema_exists(conn, pg_schema);
    if (!exists) return tl::unexpected(exists.error());
    if (!*exists) {
      report.problems.push_back(fmt::format("PostgreSQL schema \"{}\" does not exist", pg_schema));
      return report;
    }
    auto catalogue = read_catalogue(conn, pg_schema);
    if (!catalogue) return tl::unexpected(catalogue.error());
    for (const auto& model : schema.models()) {
      if (model.control_plane) continue;  // lives in the server's own store, not in this database
      auto table = catalogue->find(model.table);
      if (table == catalogue->end()) {
        report.problems.push_back(fmt::format("model '{}': table \"{}\" does not exist in PostgreSQL schema \"{}\"",
                                              model.key, model.table, pg_schema));
        continue;
      }
      ModelChecker(model, table->second, report).run();
    }
    return report;
  });
}

}  // namespace ablo::introspect
