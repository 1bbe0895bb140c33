#pragma once
// Sync-group derivation (schema.md §4): identity -> allowed groups, row -> groups,
// and the request ∩ allowed narrowing.
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include <boost/json/object.hpp>

#include "schema/schema.h"

namespace ablo::schema {

// composeIdentitySyncGroups (§4.2): for each role in order, read identity[role.field];
// multi roles take each non-empty string element of an array; single roles take any truthy
// value as kind:String(value). Deduplicated, first occurrence kept.
std::vector<std::string> compose_role_groups(const std::vector<Role>& roles, const boost::json::object& source);

// Loads a parent row (by model key and id) for transitive parent inheritance; nullopt if absent.
using ParentLoader = std::function<std::optional<boost::json::object>(const Model& model, const std::string& id)>;

// Groups of a row of `model` (§4.5 steps 1-4): "org:<org>" (when org is non-empty), the row's
// own scope group, scope groups of its `parent` ancestors (transitively, cycle-safe, stops at
// a missing parent), and entity-role groups. The committer's groups are added by the caller.
std::vector<std::string> row_groups(const Schema& schema, const Model& model, const boost::json::object& row,
                                    const std::string& org, const ParentLoader& load_parent);

// §4.3: requested empty => allowed; else requested ∩ allowed; if nothing survives => allowed.
std::vector<std::string> narrow_groups(const std::vector<std::string>& requested,
                                       const std::vector<std::string>& allowed);

// True when the two group lists share at least one element.
bool groups_intersect(const std::vector<std::string>& a, const std::vector<std::string>& b);

}  // namespace ablo::schema
