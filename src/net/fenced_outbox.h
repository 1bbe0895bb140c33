#pragma once
// A connection's outbox in front of its socket: forwards frames and deltas, and holds back
// the frames that must not reach the client before it has applied certain deltas
// (Outbox::push_after_deltas). Why: a 0.9.1 client whose queued claim is granted re-reads the
// row from its local store and stamps its next writes with the cursor it has acknowledged;
// an intent_granted that overtakes the previous holder's last write hands it a stale row
// and a readAt that the server then rejects as stale (client.md T41).
//
// A held frame is released when (1) this node has published the delta log through the
// frame's fence — from then on every delta up to the fence that this connection may see has
// been pushed to it — and (2) the client has acknowledged (`ack`) the last delta pushed to it
// at that point — deltas sent live or in catch-up answers alike. Frames pushed after a held
// one queue behind it, so claim frames keep their order; deltas and catch-up answers never
// wait (the client must get them to acknowledge them). A client that has
// not acknowledged anything on this connection is not waited for, and nothing is held longer
// than kMaxHold.
//
// Threading: any thread. One mutex guards the state; the socket is called under it (it never
// calls back). published_head is never called under it (the hub calls push_delta while
// holding the lock published_head takes).
#include <chrono>
#include <cstdint>
#include <list>
#include <functional>
#include <memory>
#include <mutex>
#include <span>
#include <string>

#include "fanout/hub.h"

namespace ablo::net {

class FencedOutbox final : public fanout::Outbox {
 public:
  static constexpr std::chrono::milliseconds kMaxHold{2000};
  static constexpr std::chrono::milliseconds kRecheck{20};
  using Clock = std::chrono::steady_clock;
  // Runs `task` after `delay` (on any thread); used to re-check held frames.
  using Schedule = std::function<void(std::chrono::milliseconds delay, std::function<void()> task)>;

  FencedOutbox(fanout::Outbox& socket, std::function<int64_t()> published_head, Schedule schedule,
               std::function<Clock::time_point()> clock = Clock::now);

  void push_frame(std::string frame) override;
  void push_delta(std::shared_ptr<const fanout::EncodedDelta> delta) override;
  void push_deltas(std::span<const std::shared_ptr<const fanout::EncodedDelta>> deltas) override;
  void push_catch_up(std::string frame, int64_t last_delta_id) override;
  void close(int code, std::string reason) override;
  void push_after_deltas(std::string frame, int64_t fence) override;

  // The client's `ack {lastSyncId}`.
  void acknowledged(int64_t last_sync_id);
  // Releases what may go now; called by the schedule while something is held.
  void recheck();

 private:
  struct Held {
    std::string frame;
    int64_t fence = -1;   // -1: an ordinary frame queued behind a held one
    int64_t target = -1;  // the ack that releases it, once known
    Clock::time_point deadline;
  };
  void release_locked(int64_t published_head, Clock::time_point now);
  void schedule_recheck_locked();

  fanout::Outbox& socket_;
  std::function<int64_t()> published_head_;
  Schedule schedule_;
  std::function<Clock::time_point()> clock_;

  std::mutex mutex_;
  // A list, not a deque: frames are held only while a fence is pending, and an empty
  // std::deque still allocates ~0.6 KiB, which every idle connection would pay.
  std::list<Held> held_;
  int64_t last_pushed_ = 0;  // the highest delta id sent to the socket (live or in a catch-up)
  int64_t acked_ = 0;
  bool ever_acked_ = false;
  bool recheck_pending_ = false;
  int64_t seen_head_ = 0;  // the highest published head observed
};

}  // namespace ablo::net
