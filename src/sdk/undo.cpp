// UndoManager, UndoScope, UndoGroup (client.h) over UndoHistory (undo_history.h): recording from
// the write path and replays as ordinary writes (design §10).
#include "sdk/undo.h"

#include <algorithm>
#include <utility>

#include "sdk/sdk_error_code.h"

namespace ablo {

using sdk_detail::ClientCore;
using sdk_detail::ReplayDirection;
using sdk_detail::sdk_error;
using ScopeState = UndoScope::State;

bool UndoScope::State::records_all_of(const std::string& model) const {
  if (!options.record_all) return false;
  return options.models.empty() || std::find(options.models.begin(), options.models.end(), model) != options.models.end();
}

struct UndoGroup::State {
  std::weak_ptr<ScopeState> scope;
};

namespace sdk_detail {

std::shared_ptr<ScopeState> UndoRegistry::scope(const std::string& name, const UndoScopeOptions& options,
                                                 const std::shared_ptr<ClientCore>& core) {
  std::lock_guard lock(mutex);
  auto& slot = scopes[name];
  if (!slot) slot = std::make_shared<ScopeState>(name, options, core);
  return slot;
}

std::vector<std::shared_ptr<ScopeState>> UndoRegistry::record(const WriteOptions& options, UndoOp forward,
                                                              const std::function<std::optional<JsonObject>()>& before,
                                                              const std::shared_ptr<ClientCore>& core) {
  std::vector<std::shared_ptr<ScopeState>> targets;
  if (!options.undo_scope.empty()) {
    // A named scope wins over record_all ones: the write is recorded once.
    targets.push_back(scope(options.undo_scope, UndoScopeOptions{}, core));
  } else {
    std::lock_guard lock(mutex);
    for (const auto& [name, state] : scopes) {
      if (state->records_all_of(forward.model)) targets.push_back(state);
    }
  }
  if (targets.empty()) return targets;
  auto step = make_undo_step(std::move(forward), before());
  if (!step) return {};
  for (const auto& target : targets) {
    std::lock_guard lock(target->mutex);
    target->history.record(*step);
  }
  return targets;
}

void notify_changed(const std::vector<std::shared_ptr<ScopeState>>& scopes) {
  for (const auto& scope : scopes) {
    std::vector<std::shared_ptr<Listener<UndoScope>>> listeners;
    {
      std::lock_guard lock(scope->mutex);
      listeners = scope->listeners;
    }
    for (const auto& listener : listeners) listener->deliver(UndoScope(scope));
  }
}

// ------------------------------------------------------------------------------------------
// Replays: one job at a time per scope; each op is written, and the next one planned against
// the replica, only after the previous one is confirmed.

namespace undo_replay {

struct Replay {
  std::shared_ptr<ScopeState> scope;
  ScopeState::Job job;
  UndoEntry entry;
  uint64_t recordings_at_start = 0;
  std::size_t next = 0;  // steps taken so far
  UndoResult result;
};

void start_next(const std::shared_ptr<ScopeState>& scope);

// The job is over (settled either way): the scope runs its next one.
void finish(const std::shared_ptr<Replay>& replay, Result<UndoResult> outcome, bool stacks_changed) {
  {
    std::lock_guard lock(replay->scope->mutex);
    replay->scope->replaying = false;
  }
  replay->job.result->settle(std::move(outcome));
  if (stacks_changed) notify_changed({replay->scope});
  start_next(replay->scope);
}

const UndoStep& step_at(const Replay& replay, std::size_t taken) {
  const auto& steps = replay.entry.steps;
  return replay.job.direction == ReplayDirection::kUndo ? steps[steps.size() - 1 - taken] : steps[taken];
}

void advance(const std::shared_ptr<Replay>& replay) {
  auto core = replay->scope->core.lock();
  if (!core || core->disposed()) {
    finish(replay, tl::unexpected(sdk_error("model_disposed", "the client was closed")), false);
    return;
  }
  while (replay->next < replay->entry.steps.size()) {
    const UndoStep& step = step_at(*replay, replay->next++);
    const UndoOp& op = replay_op(step, replay->job.direction);
    std::optional<JsonObject> current;
    {
      std::shared_lock lock(core->mutex);
      if (auto row = core->replica.view(op.model, op.id)) current = std::move(row->data);
    }
    auto kept = filter_op(op, paired_op(step, replay->job.direction), replay->scope->options.conflict_policy, current,
                          replay->result.skipped_fields);
    if (!kept) continue;
    // readAt = the row's current replica version (the write's default) with onStale reject: a
    // change this replica has not seen yet is refused by the server, never clobbered.
    WriteOptions options;
    options.on_stale = OnStale::kReject;
    auto written = core->write(kept->action, kept->model, kept->id, std::move(kept->data), std::move(options), std::nullopt,
                               WriteOrigin::kUndoReplay);
    ++replay->result.applied;
    // Continues on whichever thread confirms the write (usually the I/O thread, which writes
    // without waiting); never blocks.
    std::move(written).then(inline_executor(), [replay](Result<Receipt> receipt) {
      if (!receipt) {
        // The ops applied stay applied; the rest are not sent; the entry stays on its stack.
        finish(replay, tl::unexpected(std::move(receipt.error())), false);
        return;
      }
      replay->result.receipts.push_back(std::move(*receipt));
      advance(replay);
    });
    return;
  }
  bool changed = false;
  {
    std::lock_guard lock(replay->scope->mutex);
    changed = replay->scope->history.complete(replay->entry.serial, replay->job.direction, replay->recordings_at_start);
  }
  finish(replay, std::move(replay->result), changed);
}

void start_next(const std::shared_ptr<ScopeState>& scope) {
  auto replay = std::make_shared<Replay>();
  replay->scope = scope;
  std::optional<UndoEntry> entry;
  {
    std::lock_guard lock(scope->mutex);
    if (scope->replaying || scope->jobs.empty()) return;
    scope->replaying = true;
    replay->job = std::move(scope->jobs.front());
    scope->jobs.pop_front();
    entry = scope->history.top(replay->job.direction);
    replay->recordings_at_start = scope->history.recordings();
  }
  if (!entry) {  // nothing to undo (or redo): an empty result, nothing sent
    finish(replay, UndoResult{}, false);
    return;
  }
  replay->entry = std::move(*entry);
  replay->result.label = replay->entry.label;
  advance(replay);
}

Pending<UndoResult> enqueue(const std::shared_ptr<ScopeState>& scope, ReplayDirection direction) {
  auto core = scope->core.lock();
  if (!core || core->disposed()) {
    return settled_pending<UndoResult>(tl::unexpected(sdk_error("model_disposed", "the client was closed")), inline_executor());
  }
  auto result = make_pending_state<UndoResult>(core->io_thread_id, core->executor);
  {
    std::lock_guard lock(scope->mutex);
    scope->jobs.push_back(ScopeState::Job{direction, result});
  }
  start_next(scope);
  return Pending<UndoResult>(result);
}

}  // namespace undo_replay
}  // namespace sdk_detail

// ------------------------------------------------------------------------------------------
// Public handles.

namespace undo_handles {
bool alive(const ScopeState& scope) {
  auto core = scope.core.lock();
  return core && !core->disposed();
}
}  // namespace undo_handles

UndoScope UndoManager::scope(std::string name, UndoScopeOptions options) {
  return UndoScope(core_->undo_registry->scope(name, options, core_));
}

const std::string& UndoScope::name() const { return state_->name; }

bool UndoScope::can_undo() const { return undo_size() > 0; }
bool UndoScope::can_redo() const { return redo_size() > 0; }

std::size_t UndoScope::undo_size() const {
  if (!undo_handles::alive(*state_)) return 0;
  std::lock_guard lock(state_->mutex);
  return state_->history.undo_size();
}

std::size_t UndoScope::redo_size() const {
  if (!undo_handles::alive(*state_)) return 0;
  std::lock_guard lock(state_->mutex);
  return state_->history.redo_size();
}

UndoGroup UndoScope::begin_group(std::string label) {
  {
    std::lock_guard lock(state_->mutex);
    state_->history.begin_group(std::move(label));
  }
  auto group = std::make_shared<UndoGroup::State>();
  group->scope = state_;
  return UndoGroup(std::move(group));
}

Pending<UndoResult> UndoScope::undo() { return sdk_detail::undo_replay::enqueue(state_, ReplayDirection::kUndo); }
Pending<UndoResult> UndoScope::redo() { return sdk_detail::undo_replay::enqueue(state_, ReplayDirection::kRedo); }

void UndoScope::clear() {
  {
    std::lock_guard lock(state_->mutex);
    state_->history.clear();
  }
  sdk_detail::notify_changed({state_});
}

Observer UndoScope::on_change(std::function<void(const UndoScope&)> callback, std::shared_ptr<Executor> executor) const {
  auto core = state_->core.lock();
  if (!core || core->disposed()) return Observer();
  auto listener = std::make_shared<sdk_detail::Listener<UndoScope>>();
  listener->executor = executor ? std::move(executor) : core->executor;
  listener->callback = std::move(callback);
  {
    std::lock_guard lock(state_->mutex);
    state_->listeners.push_back(listener);
  }
  auto observer = std::make_shared<Observer::State>();
  observer->core = core;
  observer->cancel_listener = [weak = std::weak_ptr(state_), listener] {
    {
      std::lock_guard lock(listener->mutex);
      listener->cancelled = true;
    }
    if (auto scope = weak.lock()) {
      std::lock_guard lock(scope->mutex);
      std::erase(scope->listeners, listener);
    }
  };
  return Observer(std::move(observer));
}

// --- UndoGroup ---

namespace undo_handles {
// Closes the group at most once (`state` is then cleared); observers hear of a pushed entry.
void close_group(std::shared_ptr<UndoGroup::State>& state, bool cancel) {
  if (!state) return;
  auto scope = std::exchange(state, nullptr)->scope.lock();
  if (!scope) return;
  bool pushed = false;
  {
    std::lock_guard lock(scope->mutex);
    const auto before = scope->history.recordings();
    if (cancel) {
      scope->history.cancel_group();
    } else {
      scope->history.end_group();
    }
    pushed = scope->history.recordings() != before;
  }
  if (pushed) sdk_detail::notify_changed({scope});
}
}  // namespace undo_handles

UndoGroup::UndoGroup(UndoGroup&& other) noexcept : state_(std::move(other.state_)) {}
UndoGroup::~UndoGroup() { undo_handles::close_group(state_, false); }
void UndoGroup::cancel() { undo_handles::close_group(state_, true); }

}  // namespace ablo
