#include "schema/diff.h"

#include <algorithm>
#include <cmath>

#include <boost/json.hpp>
#include <fmt/format.h>

#include "common/json_member.h"

namespace ablo::schema {

namespace json = boost::json;

namespace {

// The CLI passes `--backfill model.field=value` as text: true/false and numbers are typed.
json::value coerce_backfill(const json::value& value) {
  if (!value.is_string()) return value;
  const std::string text(value.as_string());
  if (text == "true" || text == "false") return text == "true";
  char* end = nullptr;
  const double number = std::strtod(text.c_str(), &end);
  if (!text.empty() && *end == '\0' && std::isfinite(number)) {
    if (number == std::floor(number) && std::fabs(number) < 9e15) return static_cast<int64_t>(number);
    return number;
  }
  return value;
}

const Field* find_field(const Model& model, std::string_view name) { return model.field(name); }

const Backfill* backfill_for(const MigrationHints& hints, const Model& model, const std::string& field) {
  for (const auto& b : hints.backfills) {
    if ((b.model == model.key || b.model == model.typename_) && b.field == field) return &b;
  }
  return nullptr;
}

const Rename* field_rename_to(const MigrationHints& hints, const Model& model, const std::string& to) {
  for (const auto& r : hints.renames) {
    if (!r.model.empty() && (r.model == model.key || r.model == model.typename_) && r.to == to) return &r;
  }
  return nullptr;
}

class Differ {
 public:
  Differ(const Schema& previous, const Schema& next, const MigrationHints& hints)
      : previous_(previous), next_(next), hints_(hints) {}

  MigrationPlan run() {
    std::vector<std::pair<const Model*, const Model*>> kept;  // (previous, next)
    std::vector<MigrationStep> renames;
    for (const auto& model : next_.models()) {
      if (model.control_plane) continue;
      const Model* before = previous_.by_key(model.key);
      if (!before) {
        if (const auto* hint = model_rename_to(model.key)) {
          before = previous_.by_key(hint->from);
          if (before) renames.push_back({StepKind::kRenameModel, model.key, {}, before->key, model.key});
        }
      }
      if (before) {
        kept.emplace_back(before, &model);
      } else {
        plan_.steps.push_back({StepKind::kCreateModel, model.key});
      }
    }
    plan_.steps.insert(plan_.steps.end(), renames.begin(), renames.end());
    for (const auto& [before, after] : kept) diff_fields(*before, *after);
    for (const auto& model : previous_.models()) {
      if (model.control_plane) continue;
      const bool still_there = std::any_of(kept.begin(), kept.end(), [&](const auto& k) { return k.first == &model; });
      if (still_there) continue;
      plan_.steps.push_back({StepKind::kDropModel, model.key});
      warn("drop_model", model.key, {}, fmt::format("model '{}' and its rows would be dropped", model.key));
    }
    return std::move(plan_);
  }

 private:
  const Rename* model_rename_to(const std::string& to) const {
    for (const auto& r : hints_.renames) {
      if (r.model.empty() && r.to == to) return &r;
    }
    return nullptr;
  }

  void warn(std::string code, std::string model, std::string field, std::string message) {
    plan_.warnings.push_back({std::move(code), std::move(model), std::move(field), std::move(message)});
  }
  void block(std::string code, std::string model, std::string field, std::string message) {
    plan_.blockers.push_back({std::move(code), std::move(model), std::move(field), std::move(message)});
  }

  void diff_fields(const Model& before, const Model& after) {
    std::vector<MigrationStep> renamed, added, altered, dropped;
    std::vector<std::string> consumed;  // previous field names matched to a next field
    for (const auto& field : after.fields) {
      const Field* old = find_field(before, field.name);
      const bool hinted_rename = !old;
      if (!old) {
        if (const auto* hint = field_rename_to(hints_, after, field.name); hint && find_field(before, hint->from)) {
          old = find_field(before, hint->from);
          renamed.push_back({StepKind::kRenameField, after.key, field.name, old->name, field.name});
        }
      }
      if (!old) {
        added.push_back(add_step(after, field));
        continue;
      }
      consumed.push_back(old->name);
      if (auto step = alter_step(after, *old, field, hinted_rename)) altered.push_back(std::move(*step));
    }
    for (const auto& field : before.fields) {
      if (std::find(consumed.begin(), consumed.end(), field.name) != consumed.end()) continue;
      dropped.push_back({StepKind::kDropField, after.key, field.name});
      warn("drop_field", after.key, field.name, fmt::format("field '{}.{}' and its values would be dropped", after.key, field.name));
    }
    for (auto* group : {&renamed, &added, &altered, &dropped}) {
      plan_.steps.insert(plan_.steps.end(), group->begin(), group->end());
    }
  }

  MigrationStep add_step(const Model& model, const Field& field) {
    MigrationStep step{StepKind::kAddField, model.key, field.name};
    const auto* backfill = backfill_for(hints_, model, field.name);
    if (backfill) step.backfill = backfill->value;
    if (!field.optional && !backfill) {
      block("required_field_added", model.key, field.name,
            fmt::format("required field '{}.{}' is new: existing rows need a backfill value", model.key, field.name));
    }
    return step;
  }

  // `renamed`: the column change is already the rename_field step.
  std::optional<MigrationStep> alter_step(const Model& model, const Field& old, const Field& now, bool renamed) {
    MigrationStep step{StepKind::kAlterField, model.key, now.name};
    bool changed = false;
    if (!renamed && old.column != now.column) {
      step.from = old.column;
      step.to = now.column;
      changed = true;
    }
    if (old.type != now.type) {
      step.type_changed = true;
      step.cast = classify_cast(old.type, now.type);
      changed = true;
      if (step.cast == Cast::kRisky) {
        warn("risky_cast", model.key, now.name,
             fmt::format("'{}.{}' changes from {} to {}; values that do not convert become null", model.key, now.name,
                         to_string(old.type), to_string(now.type)));
      } else if (step.cast == Cast::kLossy) {
        warn("lossy_recreate", model.key, now.name,
             fmt::format("'{}.{}' cannot be cast from {} to {}; its values would be cleared", model.key, now.name,
                         to_string(old.type), to_string(now.type)));
      }
    }
    if (old.type == FieldType::kEnum && now.type == FieldType::kEnum) {
      for (const auto& value : old.enum_values) {
        if (std::find(now.enum_values.begin(), now.enum_values.end(), value) == now.enum_values.end()) {
          step.enum_values_removed.push_back(value);
        }
      }
      if (!step.enum_values_removed.empty()) {
        changed = true;
        warn("enum_value_removed", model.key, now.name,
             fmt::format("'{}.{}' no longer allows {}", model.key, now.name, fmt::join(step.enum_values_removed, ", ")));
      }
      changed = changed || old.enum_values != now.enum_values;
    }
    if (old.optional && !now.optional) {
      step.made_required = true;
      changed = true;
      const auto* backfill = backfill_for(hints_, model, now.name);
      if (backfill) {
        step.backfill = backfill->value;
      } else {
        block("made_required", model.key, now.name,
              fmt::format("'{}.{}' becomes required: rows without a value need a backfill", model.key, now.name));
      }
    } else if (!old.optional && now.optional) {
      step.made_optional = true;
      changed = true;
    }
    if (old.indexed != now.indexed) changed = true;
    if (!changed) return std::nullopt;
    return step;
  }

  const Schema& previous_;
  const Schema& next_;
  const MigrationHints& hints_;
  MigrationPlan plan_;
};

json::array issues_json(const std::vector<MigrationIssue>& issues) {
  json::array out;
  for (const auto& i : issues) {
    json::object entry{{"code", i.code}, {"model", i.model}, {"message", i.message}};
    if (!i.field.empty()) entry["field"] = i.field;
    out.push_back(std::move(entry));
  }
  return out;
}

}  // namespace

std::string_view to_string(StepKind kind) {
  switch (kind) {
    case StepKind::kCreateModel: return "create_model";
    case StepKind::kRenameModel: return "rename_model";
    case StepKind::kDropModel: return "drop_model";
    case StepKind::kAddField: return "add_field";
    case StepKind::kRenameField: return "rename_field";
    case StepKind::kAlterField: return "alter_field";
    case StepKind::kDropField: return "drop_field";
  }
  return "unknown";
}

Cast classify_cast(FieldType from, FieldType to) {
  if (from == to || to == FieldType::kString) return Cast::kSafe;
  switch (to) {
    case FieldType::kEnum:
      return from == FieldType::kJson ? Cast::kLossy : Cast::kRisky;
    case FieldType::kNumber:
      return from == FieldType::kString || from == FieldType::kEnum ? Cast::kRisky : Cast::kLossy;
    case FieldType::kBoolean:
      return from == FieldType::kString || from == FieldType::kEnum || from == FieldType::kNumber ? Cast::kRisky
                                                                                                  : Cast::kLossy;
    case FieldType::kDate:
    case FieldType::kJson:
      return from == FieldType::kString || from == FieldType::kEnum ? Cast::kRisky : Cast::kLossy;
    default:
      return Cast::kSafe;
  }
}

Result<MigrationHints> parse_migration_hints(const json::object& body) {
  MigrationHints hints;
  if (const auto* renames = body.if_contains("renames"); renames && !renames->is_null()) {
    if (!renames->is_array()) return fail("invalid_request", "renames must be an array of {model?, from, to}", "renames");
    for (const auto& entry : renames->as_array()) {
      if (!entry.is_object()) return fail("invalid_request", "renames must be an array of {model?, from, to}", "renames");
      Rename r{string_member(entry.as_object(), "model"), string_member(entry.as_object(), "from"), string_member(entry.as_object(), "to")};
      // "model.field" spellings of the CLI's --rename old:new
      if (r.model.empty() && r.from.find('.') != std::string::npos && r.to.find('.') != std::string::npos) {
        r.model = r.from.substr(0, r.from.find('.'));
        r.from = r.from.substr(r.from.find('.') + 1);
        r.to = r.to.substr(r.to.find('.') + 1);
      }
      if (r.from.empty() || r.to.empty()) return fail("invalid_request", "a rename needs from and to", "renames");
      hints.renames.push_back(std::move(r));
    }
  }
  if (const auto* backfills = body.if_contains("backfills"); backfills && !backfills->is_null()) {
    if (!backfills->is_array()) {
      return fail("invalid_request", "backfills must be an array of {model, field, value}", "backfills");
    }
    for (const auto& entry : backfills->as_array()) {
      const auto* value = entry.is_object() ? entry.as_object().if_contains("value") : nullptr;
      Backfill b{entry.is_object() ? string_member(entry.as_object(), "model") : "",
                 entry.is_object() ? string_member(entry.as_object(), "field") : "", value ? coerce_backfill(*value) : nullptr};
      if (b.model.empty() || b.field.empty() || !value) {
        return fail("invalid_request", "a backfill needs model, field and value", "backfills");
      }
      hints.backfills.push_back(std::move(b));
    }
  }
  return hints;
}

MigrationPlan diff_schema(const Schema* previous, const Schema& next, const MigrationHints& hints) {
  if (!previous) {
    MigrationPlan plan;
    for (const auto& model : next.models()) {
      if (!model.control_plane) plan.steps.push_back({StepKind::kCreateModel, model.key});
    }
    return plan;
  }
  return Differ(*previous, next, hints).run();
}

json::object MigrationPlan::to_json() const {
  json::array steps_json;
  for (const auto& s : steps) {
    json::object entry{{"kind", to_string(s.kind)}, {"model", s.model}};
    if (!s.field.empty()) entry["field"] = s.field;
    if (!s.from.empty()) entry["from"] = s.from;
    if (!s.to.empty()) entry["to"] = s.to;
    if (s.backfill) entry["backfill"] = *s.backfill;
    steps_json.push_back(std::move(entry));
  }
  return json::object{{"steps", std::move(steps_json)}, {"warnings", issues_json(warnings)}, {"blockers", issues_json(blockers)}};
}

}  // namespace ablo::schema
