#include "schema/sync_groups.h"

#include <algorithm>
#include <cmath>
#include <forward_list>
#include <set>

#include <boost/json.hpp>
#include <fmt/format.h>

namespace ablo::schema {

namespace json = boost::json;

namespace {

void add_unique(std::vector<std::string>& groups, std::string group) {
  if (std::find(groups.begin(), groups.end(), group) == groups.end()) groups.push_back(std::move(group));
}

// JavaScript String(value) for the scalar and array values an identity or row may carry.
std::string js_string(const json::value& v) {
  switch (v.kind()) {
    case json::kind::string: return std::string(v.get_string());
    case json::kind::bool_: return v.get_bool() ? "true" : "false";
    case json::kind::int64: return std::to_string(v.get_int64());
    case json::kind::uint64: return std::to_string(v.get_uint64());
    case json::kind::double_: {
      const double d = v.get_double();
      if (std::nearbyint(d) == d && std::fabs(d) < 1e21) return fmt::format("{:.0f}", d);
      return fmt::format("{}", d);
    }
    case json::kind::array: {
      std::string out;
      bool first = true;
      for (const auto& item : v.get_array()) {
        if (!first) out.push_back(',');
        first = false;
        if (!item.is_null()) out += js_string(item);
      }
      return out;
    }
    case json::kind::object: return "[object Object]";
    case json::kind::null: return "null";
  }
  return {};
}

bool truthy(const json::value& v) {
  switch (v.kind()) {
    case json::kind::null: return false;
    case json::kind::bool_: return v.get_bool();
    case json::kind::string: return !v.get_string().empty();
    case json::kind::int64: return v.get_int64() != 0;
    case json::kind::uint64: return v.get_uint64() != 0;
    case json::kind::double_: return v.get_double() != 0 && !std::isnan(v.get_double());
    default: return true;
  }
}

std::string string_field(const json::object& row, const std::string& key) {
  const auto* v = row.if_contains(key);
  if (!v || v->is_null()) return {};
  return v->is_string() ? std::string(v->as_string()) : js_string(*v);
}

}  // namespace

std::vector<std::string> compose_role_groups(const std::vector<Role>& roles, const json::object& source) {
  std::vector<std::string> groups;
  for (const auto& role : roles) {
    const auto* value = source.if_contains(role.field);
    if (!value) continue;
    if (role.multi) {
      if (!value->is_array()) continue;
      for (const auto& item : value->as_array()) {
        if (item.is_string() && !item.as_string().empty()) add_unique(groups, role.kind + ":" + std::string(item.as_string()));
      }
    } else if (truthy(*value)) {
      add_unique(groups, role.kind + ":" + js_string(*value));
    }
  }
  return groups;
}

namespace {

// A relation whose target's groups the row inherits (schema.md §4.5 step 3).
bool inherits_from(const Relation& relation) { return relation.type == RelationType::kBelongsTo && relation.parent; }

bool has_parent(const Model& model) { return std::any_of(model.relations.begin(), model.relations.end(), inherits_from); }

// Parent inheritance, transitively, guarded against cycles (schema.md §4.5 step 3). The row is
// walked in place; only the parents read on the way are held (a list: their addresses stay put).
void add_parent_groups(const Schema& schema, const Model& model, const json::object& row, const std::string& id,
                       const ParentLoader& load_parent, std::vector<std::string>& groups) {
  std::set<std::pair<std::string, std::string>> visited{{model.key, id}};
  std::forward_list<json::object> parents;
  std::vector<std::pair<const Model*, const json::object*>> frontier{{&model, &row}};
  while (!frontier.empty()) {
    const auto [current, current_row] = frontier.back();
    frontier.pop_back();
    for (const auto& relation : current->relations) {
      if (!inherits_from(relation)) continue;
      const std::string parent_id = string_field(*current_row, relation.foreign_key);
      const Model* target = schema.by_key(relation.target);
      if (parent_id.empty() || !target) continue;
      if (target->scope_kind) add_unique(groups, *target->scope_kind + ":" + parent_id);
      if (!visited.insert({target->key, parent_id}).second) continue;
      if (auto parent_row = load_parent(*target, parent_id)) {
        parents.push_front(std::move(*parent_row));
        frontier.emplace_back(target, &parents.front());
      }
    }
  }
}

}  // namespace

// On the commit path for every row written: it allocates only the groups it returns unless the
// model inherits from a parent.
std::vector<std::string> row_groups(const Schema& schema, const Model& model, const json::object& row,
                                    const std::string& org, const ParentLoader& load_parent) {
  std::vector<std::string> groups;
  if (!org.empty()) add_unique(groups, "org:" + org);
  const std::string id = string_field(row, "id");
  if (model.scope_kind && !id.empty()) add_unique(groups, *model.scope_kind + ":" + id);
  if (has_parent(model)) add_parent_groups(schema, model, row, id, load_parent, groups);
  for (auto& group : compose_role_groups(model.entity_roles, row)) add_unique(groups, std::move(group));
  return groups;
}

std::vector<std::string> narrow_groups(const std::vector<std::string>& requested,
                                       const std::vector<std::string>& allowed) {
  if (requested.empty()) return allowed;
  std::vector<std::string> kept;
  for (const auto& group : requested) {
    if (std::find(allowed.begin(), allowed.end(), group) != allowed.end()) add_unique(kept, group);
  }
  return kept.empty() ? allowed : kept;
}

bool groups_intersect(const std::vector<std::string>& a, const std::vector<std::string>& b) {
  for (const auto& group : a) {
    if (std::find(b.begin(), b.end(), group) != b.end()) return true;
  }
  return false;
}

}  // namespace ablo::schema
