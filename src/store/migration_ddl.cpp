#include "store/migration_ddl.h"

#include <mutex>

#include "store/migration_progress.h"

namespace ablo::store {

namespace {

Status apply_alter(const schema::Schema& previous, const schema::Model& model, const schema::MigrationStep& step,
                   MigrationDdl& ddl) {
  const auto* field = model.field(step.field);
  if (!field) return {};
  if (!step.from.empty() && !step.to.empty()) {
    if (auto ok = ddl.rename_column(model.table, step.from, step.to); !ok) return ok;
  }
  if (step.type_changed) {
    const auto* before_model = previous.by_key(step.model);
    const auto* before = before_model ? before_model->field(step.field) : nullptr;
    if (auto ok = ddl.change_type(model, *field, before, step.cast); !ok) return ok;
  }
  return step.backfill ? ddl.backfill(model.table, *field, *step.backfill) : Status{};
}

Status apply_step(const schema::Schema& previous, const schema::Schema& next, const schema::MigrationStep& step,
                  MigrationDdl& ddl) {
  using schema::StepKind;
  const schema::Model* after = next.by_key(step.model);
  switch (step.kind) {
    case StepKind::kCreateModel:
      return {};  // install_schema creates it
    case StepKind::kDropModel: {
      const auto* before = previous.by_key(step.model);
      return before ? ddl.drop_table(before->table) : Status{};
    }
    case StepKind::kRenameModel: {
      const auto* before = previous.by_key(step.from);
      if (!before || !after || before->table == after->table) return {};
      return ddl.rename_table(before->table, after->table);
    }
    case StepKind::kRenameField: {
      const auto* before = previous.by_key(step.model);
      const auto* old_field = before ? before->field(step.from) : nullptr;
      const auto* new_field = after ? after->field(step.to) : nullptr;
      if (!old_field || !new_field || old_field->column == new_field->column) return {};
      return ddl.rename_column(after->table, old_field->column, new_field->column);
    }
    case StepKind::kDropField: {
      const auto* model = after ? after : previous.by_key(step.model);
      const auto* before = previous.by_key(step.model);
      const auto* field = before ? before->field(step.field) : nullptr;
      if (!model || !field) return {};
      return ddl.drop_column(model->table, field->column);
    }
    case StepKind::kAddField: {
      const auto* field = after ? after->field(step.field) : nullptr;
      if (!field) return {};
      if (auto added = ddl.add_column(after->table, *field); !added) return added;
      return step.backfill ? ddl.backfill(after->table, *field, *step.backfill) : Status{};
    }
    case StepKind::kAlterField:
      return after ? apply_alter(previous, *after, step, ddl) : Status{};
  }
  return {};
}

}  // namespace

namespace {

std::mutex observer_mutex;
MigrationStepObserver step_observer;  // guarded by observer_mutex

void observe_step(std::size_t done, std::size_t total, const schema::MigrationStep& step) {
  MigrationStepObserver observer;
  {
    std::lock_guard lock(observer_mutex);
    observer = step_observer;
  }
  if (observer) observer(done, total, step);
}

}  // namespace

void set_migration_step_observer(MigrationStepObserver observer) {
  std::lock_guard lock(observer_mutex);
  step_observer = std::move(observer);
}

Status apply_migration_steps(const schema::Schema& previous, const schema::Schema& next,
                             const schema::MigrationPlan& plan, MigrationDdl& ddl) {
  for (std::size_t done = 0; done < plan.steps.size(); ++done) {
    observe_step(done, plan.steps.size(), plan.steps[done]);
    if (auto ok = apply_step(previous, next, plan.steps[done], ddl); !ok) return ok;
  }
  return {};
}

}  // namespace ablo::store
