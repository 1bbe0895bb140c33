#include "store/row_codec.h"

#include <algorithm>

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

}  // namespace ablo::store
