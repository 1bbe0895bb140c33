#pragma once
// What applying a coordination op does outside the replica's state: frames for, and closes
// of, this node's sockets. The state machine (Coordinator::apply_locked) only collects them;
// the Coordinator delivers them to the outboxes right after, under the same lock, so every
// socket still sees claim frames in the order the state changed.
#include <cstdint>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "fanout/hub.h"

namespace ablo::coord {

namespace effect {

// A frame for one of this node's sockets. `after_deltas`: held back until the socket has the
// deltas up to that id (Outbox::push_after_deltas) — grants and acquisitions are fenced so.
struct Send {
  fanout::Outbox* outbox = nullptr;
  std::string frame;
  std::optional<int64_t> after_deltas;
};

// Ends one of this node's sockets (revoked credential, node declared down).
struct Close {
  fanout::Outbox* outbox = nullptr;
  int code = 1000;
  std::string reason;
};

}  // namespace effect

using Effect = std::variant<effect::Send, effect::Close>;
using Effects = std::vector<Effect>;

}  // namespace ablo::coord
