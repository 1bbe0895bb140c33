#pragma once
// Undo/redo wired to the client (design docs/client-library.md §10): the scopes of one client,
// recording from the write path, and replays as ordinary writes. Internal to ablo_sdk.
//
// Locks: ClientCore::mutex → UndoRegistry::mutex → UndoScope::State::mutex (core.h). A replay
// holds none of them while it writes; observers are called with none held.
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "sdk/core.h"
#include "sdk/undo_history.h"

namespace ablo {

struct UndoScope::State : std::enable_shared_from_this<UndoScope::State> {
  State(std::string name, UndoScopeOptions options, std::weak_ptr<sdk_detail::ClientCore> core)
      : name(std::move(name)), options(std::move(options)), core(std::move(core)), history(this->options.max_history) {}
  // Whether a write of `model` (schema key) not naming a scope is recorded here.
  bool records_all_of(const std::string& model) const;

  const std::string name;
  const UndoScopeOptions options;
  const std::weak_ptr<sdk_detail::ClientCore> core;

  struct Job {
    sdk_detail::ReplayDirection direction;
    std::shared_ptr<sdk_detail::PendingState<UndoResult>> result;
  };
  std::mutex mutex;
  sdk_detail::UndoHistory history;  // (mutex)
  std::deque<Job> jobs;             // (mutex) undo()/redo() calls not started yet, in call order
  bool replaying = false;           // (mutex) a job runs; the next starts when it ends
  std::vector<std::shared_ptr<sdk_detail::Listener<UndoScope>>> listeners;  // (mutex)
};

namespace sdk_detail {

// The scopes of one client, found by name. Lives in ClientCore (the write path records here).
struct UndoRegistry {
  // The scope `name`, created with `options` on first use.
  std::shared_ptr<UndoScope::State> scope(const std::string& name, const UndoScopeOptions& options,
                                          const std::shared_ptr<ClientCore>& core);

  // Called by ClientCore::write under ClientCore::mutex, once the write is applied: records it in
  // the scope it names (created with default options if new), else in every record_all scope
  // tracking its model. `before` gives the row just before the write (its writable members),
  // called only when some scope records it. Returns the scopes whose observers are due (call
  // notify_changed once no client lock is held).
  std::vector<std::shared_ptr<UndoScope::State>> record(const WriteOptions& options, UndoOp forward,
                                                        const std::function<std::optional<JsonObject>()>& before,
                                                        const std::shared_ptr<ClientCore>& core);

  std::mutex mutex;
  std::map<std::string, std::shared_ptr<UndoScope::State>> scopes;  // (mutex)
};

// Calls the on_change observers of each scope (no client lock held).
void notify_changed(const std::vector<std::shared_ptr<UndoScope::State>>& scopes);

}  // namespace sdk_detail
}  // namespace ablo
