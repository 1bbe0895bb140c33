#include "schema/validate.h"

#include <algorithm>

#include <boost/json.hpp>
#include <fmt/format.h>

#include "common/json_number.h"
#include "common/time.h"

namespace ablo::schema {

namespace json = boost::json;

namespace {

// Keys the server owns: stamped from the authenticated context, never taken from input.
constexpr std::string_view kServerOwned[] = {"id", "createdAt", "updatedAt", "organizationId", "createdBy", "archivedAt"};

tl::unexpected<Error> field_error(const Model& model, const std::string& field, const std::string& problem) {
  return tl::unexpected<Error>(
      Error("invalid_request", fmt::format("field '{}' of model '{}': {}", field, model.key, problem), field));
}

std::string kind_of(const json::value& v) {
  switch (v.kind()) {
    case json::kind::string: return "a string";
    case json::kind::bool_: return "a boolean";
    case json::kind::array: return "an array";
    case json::kind::object: return "an object";
    case json::kind::null: return "null";
    default: return "a number";
  }
}

// Checks one value against its field and returns the value to store.
Result<json::value> check_value(const Model& model, const Field& field, const json::value& value) {
  if (value.is_null()) return value;  // columns are nullable (schema.md §6.3)
  switch (field.type) {
    case FieldType::kString:
      if (!value.is_string()) return field_error(model, field.name, "expected a string, got " + kind_of(value));
      return value;
    case FieldType::kEnum: {
      if (!value.is_string()) return field_error(model, field.name, "expected a string, got " + kind_of(value));
      const std::string text(value.as_string());
      if (!field.enum_values.empty() &&
          std::find(field.enum_values.begin(), field.enum_values.end(), text) == field.enum_values.end()) {
        return field_error(model, field.name,
                           fmt::format("value '{}' is not one of [{}]", text, fmt::join(field.enum_values, ", ")));
      }
      return value;
    }
    case FieldType::kNumber:
      if (!value.is_number()) return field_error(model, field.name, "expected a number, got " + kind_of(value));
      return value;
    case FieldType::kBoolean:
      if (!value.is_bool()) return field_error(model, field.name, "expected true or false, got " + kind_of(value));
      return value;
    case FieldType::kDate: {
      if (value.is_number()) {
        // Epoch milliseconds: a whole number a JS Date can hold, nothing else.
        if (auto ms = exact_int64_in(value, -kMaxTimeMs, kMaxTimeMs)) return json::value(iso8601_from_ms(*ms));
        return field_error(model, field.name,
                           fmt::format("{} is not epoch milliseconds within ±{}", json::serialize(value), kMaxTimeMs));
      }
      if (value.is_string()) {
        if (auto ms = parse_iso8601_ms(value.as_string())) return json::value(iso8601_from_ms(*ms));
        return field_error(model, field.name, fmt::format("'{}' is not an ISO-8601 date", std::string_view(value.as_string())));
      }
      return field_error(model, field.name, "expected an ISO-8601 string or epoch milliseconds, got " + kind_of(value));
    }
    case FieldType::kJson:
      return value;
  }
  return value;
}

}  // namespace

Result<json::object> validate_input(const Model& model, const json::object& input, WriteKind) {
  json::object clean;
  for (const auto& [key, value] : input) {
    const std::string name(key);
    if (std::find(std::begin(kServerOwned), std::end(kServerOwned), name) != std::end(kServerOwned)) continue;
    const Field* field = model.field(name);
    if (!field) return field_error(model, name, "unknown field");
    auto checked = check_value(model, *field, value);
    if (!checked) return tl::unexpected(checked.error());
    clean[name] = std::move(*checked);
  }
  return clean;
}

Status validate_row_id(std::string_view id) {
  if (id.empty()) return fail("invalid_id", "the row id must be a non-empty string", "id");
  if (id.size() > 255) return fail("invalid_id", "the row id must be at most 255 bytes", "id");
  for (unsigned char c : id) {
    if (c < 0x20 || c == 0x7f) return fail("invalid_id", "the row id must not contain control characters", "id");
  }
  return {};
}

}  // namespace ablo::schema
