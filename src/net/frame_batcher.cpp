#include "net/frame_batcher.h"

#include <iterator>

namespace ablo::net {

namespace asio = boost::asio;

void FrameBatcher::take(std::vector<OutgoingItem>& queued) {
  if (next_ == items_.size()) {
    // Everything earlier is sent: the queued vector becomes the batch, and the batch's
    // (cleared) storage goes back to the producers.
    items_.clear();
    write_begin_ = next_ = 0;
    items_.swap(queued);
    if (queued.capacity() > kRetainedItems) queued = std::vector<OutgoingItem>();
    return;
  }
  items_.insert(items_.end(), std::make_move_iterator(queued.begin()), std::make_move_iterator(queued.end()));
  queued.clear();
}

std::size_t FrameBatcher::delta_run_at(std::size_t index) const {
  std::size_t run = 0;
  while (run < kMaxDeltasPerMessage && index + run < items_.size() && items_[index + run].delta) ++run;
  return run;
}

std::span<const asio::const_buffer> FrameBatcher::next_write() {
  gather_.clear();
  write_begin_ = next_;
  std::size_t messages = 0;
  while (next_ < items_.size() && messages < kMaxMessagesPerWrite) {
    const std::size_t run = delta_run_at(next_);
    const std::size_t buffers = run == 1 ? 1 : run == 0 ? 2 : 2 * run + 2;
    if (messages > 0 && gather_.size() + buffers > kMaxBuffersPerWrite) break;  // the first always goes
    append_message(run, messages++);
  }
  return gather_;
}

void FrameBatcher::append_message(std::size_t run, std::size_t index) {
  if (run == 1) {
    // Its shared frame, header included, as it is: one buffer (a header apart costs the kernel
    // 0.3-0.9 us more per send, docs/performance.md).
    const std::string& wire = items_[next_].delta->wire_frame();
    gather_.emplace_back(wire.data(), wire.size());
    ++next_;
    return;
  }
  if (headers_.empty()) headers_.resize(kMaxMessagesPerWrite);  // once: gather_ points into it
  const std::size_t header_at = gather_.size();
  gather_.emplace_back();  // the header, once the payload's size is known
  append_payload(run);
  std::size_t payload_bytes = 0;
  for (std::size_t i = header_at + 1; i < gather_.size(); ++i) payload_bytes += gather_[i].size();
  auto& header = headers_[index];
  gather_[header_at] = asio::const_buffer(header.data(), encode_text_frame_header(payload_bytes, header));
}

void FrameBatcher::append_payload(std::size_t run) {
  if (run == 0) {
    const std::string& text = items_[next_].text;
    gather_.emplace_back(text.data(), text.size());
    ++next_;
    return;
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
}

std::optional<std::chrono::steady_clock::time_point> FrameBatcher::write_encoded_at() const {
  for (std::size_t i = write_begin_; i < next_; ++i) {
    if (items_[i].delta) return items_[i].delta->encoded_at;
  }
  return std::nullopt;
}

std::size_t FrameBatcher::release_written() {
  std::size_t bytes = 0;
  for (std::size_t i = write_begin_; i < next_; ++i) {
    bytes += items_[i].bytes();
    items_[i] = OutgoingItem{};  // the shared delta or the frame is released now, not at the next take
  }
  write_begin_ = next_;
  gather_.clear();  // at most kMaxBuffersPerWrite entries, or one batch's 2 * kMaxDeltasPerMessage + 2: kept
  return bytes;
}

std::size_t FrameBatcher::drop_unsent() {
  std::size_t bytes = 0;
  for (std::size_t i = next_; i < items_.size(); ++i) bytes += items_[i].bytes();
  // Erasing at the end moves nothing: the write in flight keeps its buffers.
  items_.erase(items_.begin() + static_cast<std::ptrdiff_t>(next_), items_.end());
  return bytes;
}

}  // namespace ablo::net
