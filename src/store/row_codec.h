#pragma once
// How a model row maps onto SQL columns: the base columns every table has, the declared
// field columns, and conversion between JSON values and column values. Shared by the SQL
// backends; private to store/.
#include <string>
#include <string_view>
#include <vector>

#include <boost/json/array.hpp>
#include <boost/json/object.hpp>
#include <boost/json/value.hpp>

#include "schema/schema.h"
#include "store/table_layout.h"

namespace ablo::store {

// camelCase name of a base column ("" for internal columns).
std::string_view base_field_for_column(std::string_view column);
// Base column for a base field name (createdAt -> created_at), "" when not a base field.
std::string_view base_column_for_field(std::string_view field);

// The org part of a tenant key ("org_1/live" -> "org_1").
std::string org_of_tenant(std::string_view tenant_key);

// Value conversions both backends use for JSON-in-text columns and REAL/DOUBLE columns.
std::string json_text(const boost::json::value& value);
boost::json::array to_json_array(const std::vector<std::string>& items);
std::vector<std::string> string_list(const std::string& json_array_text);  // [] on bad input
// A number read from a floating column as JSON: integral values come back as integers.
boost::json::value number_value(double number);
std::string text_or_empty(const boost::json::object& data, std::string_view key);

}  // namespace ablo::store
