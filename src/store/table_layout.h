#pragma once
// The table layout both SQL stores give a model (schema.md §3.3): the base columns every table
// has and which declared fields get a column of their own. Public so tools that inspect a
// database (`ablo check`) apply the same rule as the stores.
#include <string_view>
#include <vector>

#include "schema/schema.h"

namespace ablo::store {

// Base columns present in every model table, in table order.
inline constexpr std::string_view kBaseColumns[] = {"_tenant", "id",          "created_at", "updated_at",
                                                    "created_by", "archived_at", "_groups"};

// The declared fields that get their own column (fields whose column collides with a base or
// tenancy column are absorbed into it, as the reference DDL does).
std::vector<const schema::Field*> column_fields(const schema::Model& model);

}  // namespace ablo::store
