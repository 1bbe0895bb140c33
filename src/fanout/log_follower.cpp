#include "fanout/log_follower.h"

#include <spdlog/spdlog.h>

namespace ablo::fanout {

LogFollower::LogFollower(Hub& hub, LogReader reader, int page_size)
    : hub_(hub), reader_(std::move(reader)), page_size_(page_size) {}

void LogFollower::start_at(int64_t head) {
  std::lock_guard lock(mutex_);
  published_ = head;
}

int64_t LogFollower::published_through() const {
  std::lock_guard lock(mutex_);
  return published_;
}

Status LogFollower::publish_committed(const std::vector<store::Delta>& deltas) {
  if (deltas.empty()) return {};
  {
    std::lock_guard lock(mutex_);
    if (deltas.front().id == published_ + 1 &&
        deltas.back().id == published_ + static_cast<int64_t>(deltas.size())) {
      hub_.publish(deltas);
      published_ = deltas.back().id;
      return {};
    }
  }
  return catch_up(deltas.back().id);  // other nodes committed in between: read them in order
}

Status LogFollower::catch_up(int64_t at_least) {
  const uint64_t begun_before_call = reads_begun_.load();
  std::lock_guard lock(mutex_);
  if (reads_completed_ > begun_before_call && published_ >= at_least) return {};
  const uint64_t this_read = reads_begun_.fetch_add(1) + 1;
  auto status = read_and_publish(at_least);
  if (status) reads_completed_ = this_read;
  return status;
}

Status LogFollower::read_and_publish(int64_t at_least) {
  while (true) {
    auto page = reader_(published_, page_size_);
    if (!page) return tl::unexpected(page.error());
    std::size_t usable = 0;
    for (const auto& delta : *page) {
      // Ids are dense by construction; a hole would mean a delta we could skip for good, so
      // stop before it and read again on the next call rather than publish past it.
      if (delta.id != published_ + static_cast<int64_t>(usable) + 1) {
        spdlog::error("delta log hole after id {} (next read {}); waiting", published_ + static_cast<int64_t>(usable),
                      delta.id);
        break;
      }
      ++usable;
    }
    if (usable == 0) return {};
    page->resize(usable);
    hub_.publish(*page);
    published_ = page->back().id;
    if (published_ >= at_least && static_cast<int>(usable) < page_size_) return {};
  }
}

}  // namespace ablo::fanout
