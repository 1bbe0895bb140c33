#pragma once
// The coordination plane's outbox for one socket: the Coordinator writes every frame in the
// 0.9.1 vocabulary (intent_*, presence_update with activeIntents); this adapter renders them in
// the socket's dialect (net/claims_codec.h for kClaims; kIntents frames pass as they are) and
// forwards them to the FencedOutbox, with their fences. It also carries the socket's replies
// whose form depends on the dialect (mutation_result), which go straight to the socket.
//
// Undecided socket: until a frame reveals the dialect (net/dialect.h) nothing is forwarded.
// The coordinator attaches at once (a revocation must reach an undecided socket too, and
// peers see it), so what it sends meanwhile — peers' presence, line snapshots, relayed events
// — and the answers to commits made meanwhile are held, in order, and rendered when the
// dialect is decided. Real clients reveal it in their first frames (0.9.1: sync_request;
// 0.49: update_subscription), so little is held; the hold is bounded (kMaxHeldFrames /
// kMaxHeldBytes): beyond it the socket is closed with 1013 (try again later; both clients
// reconnect and resume from their cursor) and what was held is freed.
//
// Only coordination frames pass here: deltas and sync_response go from the hub to the
// FencedOutbox directly, never parsed again.
//
// Threading: any thread (the coordinator pushes under its lock, commit answers come from the
// engine's commit syncer thread, which answers commits once durable). One mutex guards the
// state; the next outboxes are called under it (they never call back), so frames keep their
// order.
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <span>
#include <optional>
#include <string>
#include <vector>

#include "fanout/hub.h"
#include "net/dialect.h"

namespace ablo::net {

class DialectOutbox final : public fanout::Outbox {
 public:
  static constexpr std::size_t kMaxHeldFrames = 256;
  static constexpr std::size_t kMaxHeldBytes = 1 << 20;
  // A reply rendered for the socket's dialect once it is known.
  using Render = std::function<std::string(Dialect)>;

  // `coordination`: the FencedOutbox in front of the socket (must outlive every coordinator
  // push, i.e. the attach); `socket`: where replies go.
  DialectOutbox(fanout::Outbox& coordination, std::weak_ptr<fanout::Outbox> socket);

  std::optional<Dialect> dialect() const;
  // Sets the dialect (the first call wins) and forwards what was held, rendered.
  void decide(Dialect dialect);
  // Ends the socket with `code` before anything held is sent (an unsupported protocol version):
  // the held frames are dropped and nothing more is forwarded.
  void refuse(int code, std::string reason);

  // A reply to the client's own request whose form depends on the dialect: sent now when it
  // is known, else held with the coordination frames.
  void push_reply(Render render);

  void push_frame(std::string frame) override;
  void push_after_deltas(std::string frame, int64_t fence) override;
  void push_delta(std::shared_ptr<const fanout::EncodedDelta> delta) override;
  void push_deltas(std::span<const std::shared_ptr<const fanout::EncodedDelta>> deltas) override;
  void push_catch_up(std::string frame, int64_t last_delta_id) override;
  void close(int code, std::string reason) override;

 private:
  struct Held {
    std::string frame;              // a coordination frame (0.9.1 vocabulary), or
    Render reply;                   // a reply to render
    std::optional<int64_t> fence;   // coordination frames only
  };
  void hold_locked(Held held, std::size_t bytes);
  void forward_locked(std::string frame, std::optional<int64_t> fence);
  void reply_locked(const Render& render);

  fanout::Outbox& coordination_;
  std::weak_ptr<fanout::Outbox> socket_;
  mutable std::mutex mutex_;
  std::optional<Dialect> dialect_;
  bool ended_ = false;  // refused or over the hold bound: nothing more is forwarded
  // A vector (filled, then drained at once): an empty std::deque still allocates ~0.5 KiB,
  // which every idle connection would pay.
  std::vector<Held> held_;
  std::size_t held_bytes_ = 0;
};

}  // namespace ablo::net
