// The pure half of undo/redo (undo_history.h; design §10).
#include "sdk/undo_history.h"

#include <algorithm>
#include <utility>

namespace ablo::sdk_detail {

namespace undo_history_detail {
UndoOp op_of(Action action, const UndoOp& like, JsonObject data = {}) {
  return UndoOp{action, like.model, like.id, std::move(data)};
}

// update: the value each field set had just before (null when the row lacked it).
JsonObject previous_of(const JsonObject& fields, const JsonObject& before) {
  JsonObject previous;
  for (const auto& [key, value] : fields) {
    const auto* old = before.if_contains(key);
    previous[key] = old ? *old : Json(nullptr);
  }
  return previous;
}

// delete: the row to re-create. updatedAt is the server's to stamp on the re-creation.
JsonObject recreation_of(JsonObject row) {
  row.erase("updatedAt");
  return row;
}

std::string field_path(const UndoOp& op, std::string_view field) { return op.model + "/" + op.id + "." + std::string(field); }
}  // namespace undo_history_detail

std::optional<UndoStep> make_undo_step(UndoOp forward, const std::optional<JsonObject>& before) {
  using namespace undo_history_detail;
  UndoOp inverse;
  switch (forward.action) {
    case Action::kCreate: inverse = op_of(Action::kDelete, forward); break;
    case Action::kUpdate:
      if (!before) return std::nullopt;
      inverse = op_of(Action::kUpdate, forward, previous_of(forward.data, *before));
      break;
    case Action::kDelete:
      if (!before) return std::nullopt;
      inverse = op_of(Action::kCreate, forward, recreation_of(*before));
      break;
    case Action::kArchive: inverse = op_of(Action::kUnarchive, forward); break;
    case Action::kUnarchive: inverse = op_of(Action::kArchive, forward); break;
  }
  return UndoStep{std::move(forward), std::move(inverse)};
}

const UndoOp& replay_op(const UndoStep& step, ReplayDirection direction) {
  return direction == ReplayDirection::kUndo ? step.inverse : step.forward;
}

const UndoOp& paired_op(const UndoStep& step, ReplayDirection direction) {
  return direction == ReplayDirection::kUndo ? step.forward : step.inverse;
}

std::optional<UndoOp> filter_op(const UndoOp& op, const UndoOp& paired, ConflictPolicy policy,
                                const std::optional<JsonObject>& current, std::vector<std::string>& skipped_fields) {
  using namespace undo_history_detail;
  if (op.action == Action::kDelete && !current) return std::nullopt;  // already gone: nothing to undo
  if (policy == ConflictPolicy::kLastWriterWins) return op;
  if (op.action == Action::kArchive || op.action == Action::kUnarchive) {
    if (!current) return std::nullopt;
    return op;
  }
  if (op.action != Action::kUpdate) return op;
  UndoOp kept = op_of(op.action, op);
  for (const auto& [key, value] : op.data) {
    const auto* established = paired.data.if_contains(key);
    const auto* now = current ? current->if_contains(key) : nullptr;
    // A field absent from the row reads as null (the schema's optional fields).
    const Json now_value = now ? *now : Json(nullptr);
    if (current && established && now_value == *established) {
      kept.data[key] = value;
    } else {
      skipped_fields.push_back(field_path(op, key));
    }
  }
  if (kept.data.empty()) return std::nullopt;
  return kept;
}

ReplayPlan plan_replay(const UndoEntry& entry, ReplayDirection direction, ConflictPolicy policy, const ViewLookup& view) {
  ReplayPlan plan;
  auto visit = [&](const UndoStep& step) {
    const UndoOp& op = replay_op(step, direction);
    if (auto kept = filter_op(op, paired_op(step, direction), policy, view(op.model, op.id), plan.skipped_fields)) {
      plan.ops.push_back(std::move(*kept));
    }
  };
  if (direction == ReplayDirection::kUndo) {
    std::for_each(entry.steps.rbegin(), entry.steps.rend(), visit);
  } else {
    std::for_each(entry.steps.begin(), entry.steps.end(), visit);
  }
  return plan;
}

// --- UndoHistory ---

void UndoHistory::push(std::vector<UndoEntry>& stack, UndoEntry entry) {
  stack.push_back(std::move(entry));
  if (stack.size() > max_history_) stack.erase(stack.begin(), stack.begin() + static_cast<std::ptrdiff_t>(stack.size() - max_history_));
}

void UndoHistory::record(UndoStep step) {
  if (group_depth_ > 0) {
    group_.steps.push_back(std::move(step));
    return;
  }
  UndoEntry entry;
  entry.serial = next_serial_++;
  entry.steps.push_back(std::move(step));
  ++recordings_;
  redo_.clear();
  push(undo_, std::move(entry));
}

void UndoHistory::begin_group(std::string label) {
  if (group_depth_++ > 0) return;  // a nested group joins the outermost
  group_ = UndoEntry{};
  group_.label = std::move(label);
  group_cancelled_ = false;
}

void UndoHistory::end_group() {
  if (group_depth_ == 0 || --group_depth_ > 0) return;
  auto entry = std::exchange(group_, UndoEntry{});
  if (group_cancelled_ || entry.steps.empty()) return;
  entry.serial = next_serial_++;
  ++recordings_;
  redo_.clear();
  push(undo_, std::move(entry));
}

void UndoHistory::cancel_group() {
  if (group_depth_ == 0) return;
  group_cancelled_ = true;
  end_group();
}

std::optional<UndoEntry> UndoHistory::top(ReplayDirection direction) const {
  const auto& stack = direction == ReplayDirection::kUndo ? undo_ : redo_;
  if (stack.empty()) return std::nullopt;
  return stack.back();
}

bool UndoHistory::complete(uint64_t serial, ReplayDirection direction, uint64_t recordings_at_start) {
  auto& from = direction == ReplayDirection::kUndo ? undo_ : redo_;
  auto& to = direction == ReplayDirection::kUndo ? redo_ : undo_;
  const auto found = std::find_if(from.begin(), from.end(), [&](const UndoEntry& entry) { return entry.serial == serial; });
  if (found == from.end()) return false;
  auto entry = std::move(*found);
  from.erase(found);
  // A gesture recorded after an undo began clears redo: the undone entry would land on a redo
  // stack that, in call order, was already cleared.
  const bool superseded = direction == ReplayDirection::kUndo && recordings_ != recordings_at_start;
  if (!superseded) push(to, std::move(entry));
  return true;
}

void UndoHistory::clear() {
  undo_.clear();
  redo_.clear();
  group_.steps.clear();
}

}  // namespace ablo::sdk_detail
