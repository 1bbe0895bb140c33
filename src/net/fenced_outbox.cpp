#include "net/fenced_outbox.h"

#include <algorithm>

namespace ablo::net {

FencedOutbox::FencedOutbox(fanout::Outbox& socket, std::function<int64_t()> published_head, Schedule schedule,
                           std::function<Clock::time_point()> clock)
    : socket_(socket), published_head_(std::move(published_head)), schedule_(std::move(schedule)), clock_(std::move(clock)) {}

void FencedOutbox::push_frame(std::string frame) {
  std::lock_guard lock(mutex_);
  if (held_.empty()) {
    socket_.push_frame(std::move(frame));
    return;
  }
  held_.push_back(Held{std::move(frame), -1, -1, {}});
}

void FencedOutbox::push_delta(std::shared_ptr<const fanout::EncodedDelta> delta) { push_deltas({&delta, 1}); }

void FencedOutbox::push_deltas(std::span<const std::shared_ptr<const fanout::EncodedDelta>> deltas) {
  if (deltas.empty()) return;
  std::lock_guard lock(mutex_);
  last_pushed_ = std::max(last_pushed_, deltas.back()->id);
  // The hub publishes in id order, so the head has reached this id.
  seen_head_ = std::max(seen_head_, deltas.back()->id);
  socket_.push_deltas(deltas);
}

void FencedOutbox::push_catch_up(std::string frame, int64_t last_delta_id) {
  std::lock_guard lock(mutex_);
  last_pushed_ = std::max(last_pushed_, last_delta_id);
  seen_head_ = std::max(seen_head_, last_delta_id);  // a catch-up reads only what was published
  socket_.push_frame(std::move(frame));
}

void FencedOutbox::close(int code, std::string reason) {
  std::lock_guard lock(mutex_);
  for (auto& held : held_) socket_.push_frame(std::move(held.frame));  // the close goes after them
  held_.clear();
  socket_.close(code, std::move(reason));
}

void FencedOutbox::push_after_deltas(std::string frame, int64_t fence) {
  std::lock_guard lock(mutex_);
  if (!ever_acked_ && held_.empty()) {
    socket_.push_frame(std::move(frame));
    return;
  }
  held_.push_back(Held{std::move(frame), fence, -1, clock_() + kMaxHold});
  release_locked(seen_head_, clock_());
  schedule_recheck_locked();
}

void FencedOutbox::acknowledged(int64_t last_sync_id) {
  std::lock_guard lock(mutex_);
  acked_ = std::max(acked_, last_sync_id);
  ever_acked_ = true;
  if (!held_.empty()) release_locked(seen_head_, clock_());
}

void FencedOutbox::recheck() {
  const int64_t head = published_head_();  // outside the lock (see the header)
  std::lock_guard lock(mutex_);
  recheck_pending_ = false;
  release_locked(head, clock_());
  schedule_recheck_locked();
}

void FencedOutbox::release_locked(int64_t published_head, Clock::time_point now) {
  seen_head_ = std::max(seen_head_, published_head);
  while (!held_.empty()) {
    Held& front = held_.front();
    if (front.fence >= 0 && now < front.deadline) {
      if (front.target < 0) {
        if (seen_head_ < front.fence) return;  // this node has not published the fence yet
        front.target = last_pushed_;
      }
      if (ever_acked_ && acked_ < front.target) return;
    }
    socket_.push_frame(std::move(front.frame));
    held_.pop_front();
  }
}

void FencedOutbox::schedule_recheck_locked() {
  if (held_.empty() || recheck_pending_) return;
  recheck_pending_ = true;
  schedule_(kRecheck, [this] { recheck(); });
}

}  // namespace ablo::net
