#pragma once
// Schema migrations (schema.md §3.10): the steps from the active schema to a pushed one, and
// what stands in their way. Pure logic; the store lowers the steps to its own DDL.
//
// Safe changes (new models, new optional fields, widening casts, index changes) apply as they
// are. Warnings (dropping a model or field, a risky or lossy cast, a removed enum value) need
// `force`. Blockers (a new required field, a field made required) need a backfill value for
// that (model, field). A field or model that disappears while another appears is a drop plus
// an add unless a rename hint says otherwise.
#include <optional>
#include <string>
#include <vector>

#include <boost/json/array.hpp>
#include <boost/json/value.hpp>

#include "common/result.h"
#include "schema/schema.h"

namespace ablo::schema {

enum class StepKind { kCreateModel, kRenameModel, kDropModel, kAddField, kRenameField, kAlterField, kDropField };
enum class Cast { kSafe, kRisky, kLossy };

struct MigrationStep {
  StepKind kind;
  std::string model;      // schema key in the new schema (the old one for drops)
  std::string field;      // field name in the new schema (the old one for drops)
  std::string from, to;   // renames: old and new names
  // alter_field details
  bool type_changed = false;
  Cast cast = Cast::kSafe;
  bool made_required = false;
  bool made_optional = false;
  std::vector<std::string> enum_values_removed;
  std::optional<boost::json::value> backfill;  // value for rows where the column is null
};

struct MigrationIssue {
  std::string code;  // drop_model | drop_field | risky_cast | lossy_recreate | enum_value_removed |
                     // required_field_added | made_required
  std::string model;
  std::string field;
  std::string message;
};

struct Rename {
  std::string model;  // empty: a model rename `from` -> `to`
  std::string from, to;
};

struct Backfill {
  std::string model;
  std::string field;
  boost::json::value value;
};

struct MigrationHints {
  std::vector<Rename> renames;
  std::vector<Backfill> backfills;
};

struct MigrationPlan {
  std::vector<MigrationStep> steps;
  std::vector<MigrationIssue> warnings;  // need force
  std::vector<MigrationIssue> blockers;  // need a backfill; the ones left here had none
  bool applicable(bool force) const { return blockers.empty() && (force || warnings.empty()); }
  boost::json::object to_json() const;
};

// Parses {force, renames:[{model?, from, to}], backfills:[{model, field, value}]} of a push
// body (schema.md §2.6); backfill strings "true"/"false"/numbers are coerced like the CLI does.
Result<MigrationHints> parse_migration_hints(const boost::json::object& body);

// `previous` null = first push: one create per model.
MigrationPlan diff_schema(const Schema* previous, const Schema& next, const MigrationHints& hints);

Cast classify_cast(FieldType from, FieldType to);
std::string_view to_string(StepKind kind);

}  // namespace ablo::schema
