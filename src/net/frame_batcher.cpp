#include "net/frame_batcher.h"

#include <iterator>

namespace ablo::net {

namespace asio = boost::asio;

void FrameBatcher::take(std::vector<OutgoingItem>& queued) {
  if (next_ == items_.size()) {
    // Everything earlier is sent: the queued vector becomes the batch, and the batch's
    // (cleared) storage goes back to the producers.
    items_.clear();
    message_begin_ = next_ = 0;
    items_.swap(queued);
    if (queued.capacity() > kRetainedItems) queued = std::vector<OutgoingItem>();
    return;
  }
  items_.insert(items_.end(), std::make_move_iterator(queued.begin()), std::make_move_iterator(queued.end()));
  queued.clear();
}

std::span<const asio::const_buffer> FrameBatcher::next_message() {
  gather_.clear();
  message_begin_ = next_;
  const OutgoingItem& first = items_[next_];
  if (!first.delta) {
    gather_.emplace_back(first.text.data(), first.text.size());
    ++next_;
    return gather_;
  }
  std::size_t run = 1;
  while (run < kMaxDeltasPerMessage && next_ + run < items_.size() && items_[next_ + run].delta) ++run;
  if (run == 1) {
    const std::string& frame = first.delta->frame();  // shared, sent as it is
    gather_.emplace_back(frame.data(), frame.size());
    ++next_;
    return gather_;
  }
  static constexpr std::string_view kComma = ",";
  gather_.emplace_back(kBatchPrefix.data(), kBatchPrefix.size());
  for (std::size_t i = 0; i < run; ++i) {
    if (i > 0) gather_.emplace_back(kComma.data(), kComma.size());
    const std::string_view json = items_[next_ + i].delta->json();
    gather_.emplace_back(json.data(), json.size());
  }
  gather_.emplace_back(kBatchSuffix.data(), kBatchSuffix.size());
  next_ += run;
  return gather_;
}

std::optional<std::chrono::steady_clock::time_point> FrameBatcher::message_encoded_at() const {
  for (std::size_t i = message_begin_; i < next_; ++i) {
    if (items_[i].delta) return items_[i].delta->encoded_at;
  }
  return std::nullopt;
}

std::size_t FrameBatcher::finish_message() {
  std::size_t bytes = 0;
  for (std::size_t i = message_begin_; i < next_; ++i) {
    bytes += items_[i].bytes();
    items_[i] = OutgoingItem{};  // the shared delta or the frame is released now, not at the next take
  }
  message_begin_ = next_;
  gather_.clear();  // at most 2 * kMaxDeltasPerMessage + 1 entries: kept
  return bytes;
}

std::size_t FrameBatcher::drop_unsent() {
  std::size_t bytes = 0;
  for (std::size_t i = next_; i < items_.size(); ++i) bytes += items_[i].bytes();
  // Erasing at the end moves nothing: the message being written keeps its buffers.
  items_.erase(items_.begin() + static_cast<std::ptrdiff_t>(next_), items_.end());
  return bytes;
}

}  // namespace ablo::net
