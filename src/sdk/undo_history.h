#pragma once
// The pure half of undo/redo (design docs/client-library.md §10): the inverse of one write taken
// from the row just before it, one scope's undo and redo stacks with grouping and the history
// cap, and the conflict filter a replay applies. No locks, no client: unit-tested alone
// (tests/sdk/undo_test.cpp); sdk/undo.cpp wires it to the write path.
#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "sdk/client.h"

namespace ablo::sdk_detail {

// One write as undo sees it: what it did, or what undoes it.
struct UndoOp {
  Action action = Action::kUpdate;
  std::string model;  // schema key
  std::string id;
  JsonObject data;    // create: the full row; update: the fields set; others: empty
};

// One recorded write: the forward op (what was sent) and its inverse (from the view just before).
struct UndoStep {
  UndoOp forward;
  UndoOp inverse;
};

// The inverse of `forward` given the row as the replica showed it just before the write (defect
// D16: not the session's first value). create → delete; update → update of the previous values
// of the fields set (null when the row lacked one); delete → create with the same id and fields
// (updatedAt left for the server to stamp); archive ↔ unarchive. nullopt when there is nothing to
// invert (an update or delete of a row the view lacked).
std::optional<UndoStep> make_undo_step(UndoOp forward, const std::optional<JsonObject>& before);

// One gesture: the steps of one write, or of every write recorded while a group was open.
struct UndoEntry {
  uint64_t serial = 0;  // identifies the entry while a replay of it runs
  std::string label;
  std::vector<UndoStep> steps;  // in recording order
};

// Which way a replay goes: undo applies the inverses newest first, paired with the forwards
// (the values this client set); redo applies the forwards oldest first, paired with the inverses.
enum class ReplayDirection { kUndo, kRedo };

// The ops one replay sends, in order, and the fields the conflict policy left alone.
struct ReplayPlan {
  std::vector<UndoOp> ops;
  std::vector<std::string> skipped_fields;  // "model/id.field"
};

// The row's current view (nullopt: not in the replica).
using ViewLookup = std::function<std::optional<JsonObject>(const std::string& model, const std::string& id)>;

// The ops of replaying `entry` against the current view. Under kSkipStale an update keeps only the
// fields whose current value deep-equals what the paired op established (the others are listed in
// skipped_fields) and is dropped when none is left or the row is gone; a delete of a row already
// gone is dropped (both policies); create/archive/unarchive are kept. kLastWriterWins keeps
// updates verbatim.
ReplayPlan plan_replay(const UndoEntry& entry, ReplayDirection direction, ConflictPolicy policy, const ViewLookup& view);

// The ops of one step in one direction, before any filter (a replay applies plan_replay's ops one
// at a time, re-planning each against the view of that moment).
const UndoOp& replay_op(const UndoStep& step, ReplayDirection direction);
const UndoOp& paired_op(const UndoStep& step, ReplayDirection direction);
// One op through the conflict filter; nullopt = nothing to send for it.
std::optional<UndoOp> filter_op(const UndoOp& op, const UndoOp& paired, ConflictPolicy policy,
                                const std::optional<JsonObject>& current, std::vector<std::string>& skipped_fields);

// One scope's stacks. Recording pushes onto undo and clears redo; both stacks keep at most
// `max_history` entries (the oldest dropped). While a group is open, recorded steps join one
// entry, pushed when the outermost group closes (nothing when empty or cancelled).
class UndoHistory {
 public:
  explicit UndoHistory(std::size_t max_history) : max_history_(max_history) {}

  void record(UndoStep step);

  // Groups nest: the outermost one decides the label and when the entry is pushed. Cancelling
  // any level drops the whole gesture (its writes stay applied; they are just not undoable).
  void begin_group(std::string label);
  void end_group();
  void cancel_group();
  bool group_open() const { return group_depth_ > 0; }

  // The entry a replay would take, copied (the stacks may change while it runs).
  std::optional<UndoEntry> top(ReplayDirection direction) const;
  // A replay of entry `serial` in `direction` completed: it moves to the other stack. If a new
  // recording happened since the replay began (`recordings_at_start` != recordings()), the redo
  // stack was cleared by it, so an undone entry is dropped instead of landing on redo. If the
  // entry is gone (clear(), the cap) nothing happens. Returns whether the stacks changed.
  bool complete(uint64_t serial, ReplayDirection direction, uint64_t recordings_at_start);

  void clear();
  std::size_t undo_size() const { return undo_.size(); }
  std::size_t redo_size() const { return redo_.size(); }
  uint64_t recordings() const { return recordings_; }  // entries recorded so far

 private:
  void push(std::vector<UndoEntry>& stack, UndoEntry entry);

  std::size_t max_history_;
  std::vector<UndoEntry> undo_, redo_;  // newest last
  uint64_t next_serial_ = 1;
  uint64_t recordings_ = 0;
  int group_depth_ = 0;
  bool group_cancelled_ = false;
  UndoEntry group_;
};

}  // namespace ablo::sdk_detail
