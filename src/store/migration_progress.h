#pragma once
// Watches a schema migration's steps as the store applies them, for `ablo migrate`'s progress
// bar. Process-wide (one migration at a time runs in the CLI); set before the push, cleared
// after. The observer runs on the thread that applies the migration (the engine's writer).
#include <cstddef>
#include <functional>

#include "schema/diff.h"

namespace ablo::store {

using MigrationStepObserver =
    std::function<void(std::size_t steps_done, std::size_t steps_total, const schema::MigrationStep& next_step)>;

// An empty observer clears it.
void set_migration_step_observer(MigrationStepObserver observer);

}  // namespace ablo::store
