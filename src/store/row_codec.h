#pragma once
// How a model row maps onto SQL columns: the base columns every table has, the declared
// field columns, and conversion between JSON values and column values. Shared by the SQL
// backends; private to store/.
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <boost/json/array.hpp>
#include <boost/json/object.hpp>
#include <boost/json/value.hpp>

#include "common/result.h"
#include "schema/schema.h"
#include "store/store.h"
#include "store/table_layout.h"

namespace ablo::store {

// camelCase name of a base column ("" for internal columns).
std::string_view base_field_for_column(std::string_view column);
// Base column for a base field name (createdAt -> created_at), "" when not a base field.
std::string_view base_column_for_field(std::string_view field);

// The org part of a tenant key ("org_1/live" -> "org_1").
std::string org_of_tenant(std::string_view tenant_key);

// The column (unquoted) and type a field name of a row query reads; nullopt when the model
// has no such column.
struct ColumnRef {
  std::string column;
  schema::FieldType type = schema::FieldType::kString;
};
std::optional<ColumnRef> column_for(const schema::Model& model, std::string_view field);

// A RowFilter checked against the model and sorted into the shapes the SQL backends render
// in their own dialect. Errors: query_invalid_identifier (unknown column), validation_error
// (IN without an array), query_unsupported_operator.
struct ResolvedFilter {
  enum class Shape {
    kList,        // op IN | NOT IN, values = the list (may be empty)
    kIsNull,      // = null, IS null
    kIsNotNull,   // != null, IS NOT null
    kCompare,     // op = != < <= > >=, one value
    kSame,        // IS value (null-safe equality)
    kNotSame,     // IS NOT value
    kPattern,     // op LIKE | NOT LIKE | ILIKE | NOT ILIKE, one value
  };
  Shape shape = Shape::kCompare;
  bool org = false;    // the filter is on organizationId: the org part of the tenant column
  ColumnRef column;    // otherwise this column
  std::string op;
  std::vector<boost::json::value> values;
};
Result<ResolvedFilter> resolve_filter(const schema::Model& model, const RowFilter& filter);

// Value conversions both backends use for JSON-in-text columns and REAL/DOUBLE columns.
std::string json_text(const boost::json::value& value);
// A JSON array of strings as boost::json::serialize writes it, without building the array
// (every commit's delta and row carry one).
std::string string_array_text(const std::vector<std::string>& items);
std::vector<std::string> string_list(const std::string& json_array_text);  // [] on bad input
// A number read from a floating column as JSON: integral values come back as integers.
boost::json::value number_value(double number);
// The string member `key` of `data` as a view ("" when absent or not a string): ablo::string_member
// without the copy, valid while `data` is unchanged (SQLite binds it as it stands).
std::string_view text_view_or_empty(const boost::json::object& data, std::string_view key);

}  // namespace ablo::store
