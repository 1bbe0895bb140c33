#include "store/row_codec.h"

#include <algorithm>
#include <cmath>

#include <boost/json.hpp>

#include "store/row_text.h"

namespace ablo::store {

namespace {

struct BaseMapping {
  std::string_view column;
  std::string_view field;
};

constexpr BaseMapping kBaseMappings[] = {
    {"id", "id"},
    {"created_at", "createdAt"},
    {"updated_at", "updatedAt"},
    {"created_by", "createdBy"},
    {"archived_at", "archivedAt"},
};

}  // namespace

std::string_view base_field_for_column(std::string_view column) {
  for (const auto& m : kBaseMappings) {
    if (m.column == column) return m.field;
  }
  return {};
}

std::string_view base_column_for_field(std::string_view field) {
  for (const auto& m : kBaseMappings) {
    if (m.field == field) return m.column;
  }
  return {};
}

std::vector<const schema::Field*> column_fields(const schema::Model& model) {
  std::vector<const schema::Field*> out;
  for (const auto& field : model.fields) {
    const bool is_base = std::find(std::begin(kBaseColumns), std::end(kBaseColumns), field.column) !=
                         std::end(kBaseColumns);
    if (is_base || field.column == "organization_id" || field.column == model.tenancy_column) continue;
    if (!base_column_for_field(field.name).empty() || field.name == "organizationId") continue;
    out.push_back(&field);
  }
  return out;
}

std::string org_of_tenant(std::string_view tenant_key) {
  const auto slash = tenant_key.rfind('/');
  return std::string(slash == std::string_view::npos ? tenant_key : tenant_key.substr(0, slash));
}

std::optional<ColumnRef> column_for(const schema::Model& model, std::string_view field) {
  if (auto base = base_column_for_field(field); !base.empty()) return ColumnRef{std::string(base)};
  for (const auto* f : column_fields(model)) {
    if (f->name == field) return ColumnRef{f->column, f->type};
  }
  return std::nullopt;
}

Result<ResolvedFilter> resolve_filter(const schema::Model& model, const RowFilter& filter) {
  using Shape = ResolvedFilter::Shape;
  ResolvedFilter out;
  out.op = filter.op;
  if (filter.field == "organizationId") {
    out.org = true;
  } else if (auto column = column_for(model, filter.field)) {
    out.column = std::move(*column);
  } else {
    return fail("query_invalid_identifier", "unknown column '" + filter.field + "'", "where");
  }
  const std::string& op = filter.op;
  if (op == "IN" || op == "NOT IN") {
    if (!filter.value.is_array()) return fail("invalid_request", op + " takes an array", "where");
    out.shape = Shape::kList;
    out.values.assign(filter.value.as_array().begin(), filter.value.as_array().end());
    return out;
  }
  if (filter.value.is_null() && (op == "=" || op == "IS")) return (out.shape = Shape::kIsNull, out);
  if (filter.value.is_null() && (op == "!=" || op == "IS NOT")) return (out.shape = Shape::kIsNotNull, out);
  out.values = {filter.value};
  if (op == "=" || op == "!=" || op == "<" || op == "<=" || op == ">" || op == ">=") {
    out.shape = Shape::kCompare;
  } else if (op == "IS" || op == "IS NOT") {
    out.shape = op == "IS" ? Shape::kSame : Shape::kNotSame;
  } else if (op == "LIKE" || op == "NOT LIKE" || op == "ILIKE" || op == "NOT ILIKE") {
    out.shape = Shape::kPattern;
  } else {
    return fail("query_unsupported_operator", "unsupported operator '" + op + "'", "where");
  }
  return out;
}

std::string json_text(const boost::json::value& value) { return boost::json::serialize(value); }

std::string string_array_text(const std::vector<std::string>& items) {
  std::string out = "[";
  for (const auto& item : items) {
    if (out.size() > 1) out.push_back(',');
    append_json_string(out, item);
  }
  out.push_back(']');
  return out;
}

std::vector<std::string> string_list(const std::string& json_array_text) {
  std::vector<std::string> out;
  boost::system::error_code ec;
  boost::json::value parsed = boost::json::parse(json_array_text, ec);
  if (ec || !parsed.is_array()) return out;
  for (const auto& item : parsed.as_array()) {
    if (item.is_string()) out.emplace_back(item.as_string());
  }
  return out;
}

boost::json::value number_value(double number) {
  if (std::nearbyint(number) == number && std::fabs(number) < 9007199254740992.0) {
    return static_cast<int64_t>(number);
  }
  return number;
}

std::string_view text_view_or_empty(const boost::json::object& data, std::string_view key) {
  const auto* found = data.if_contains(key);
  return found && found->is_string() ? std::string_view(found->as_string()) : std::string_view();
}

}  // namespace ablo::store
