#include "net/frame_batcher.h"

#include <cstdint>
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

std::size_t encode_text_frame_header(std::size_t payload_bytes, std::span<unsigned char, 10> out) {
  constexpr unsigned char kFinText = 0x81;  // FIN, opcode 1 (text); RSV bits clear: no extension
  out[0] = kFinText;
  if (payload_bytes < 126) {
    out[1] = static_cast<unsigned char>(payload_bytes);
    return 2;
  }
  const bool fits_16_bits = payload_bytes <= 0xFFFF;
  out[1] = fits_16_bits ? 126 : 127;
  const std::size_t length_bytes = fits_16_bits ? 2 : 8;
  for (std::size_t i = 0; i < length_bytes; ++i) {  // network byte order
    out[2 + i] = static_cast<unsigned char>(static_cast<uint64_t>(payload_bytes) >> (8 * (length_bytes - 1 - i)));
  }
  return 2 + length_bytes;
}

std::span<const asio::const_buffer> FrameBatcher::next_message() {
  gather_.clear();
  gather_.emplace_back();  // the header, once the payload's size is known
  message_begin_ = next_;
  append_payload();
  std::size_t payload_bytes = 0;
  for (std::size_t i = 1; i < gather_.size(); ++i) payload_bytes += gather_[i].size();
  gather_[0] = asio::const_buffer(header_.data(), encode_text_frame_header(payload_bytes, header_));
  return gather_;
}

void FrameBatcher::append_payload() {
  const OutgoingItem& first = items_[next_];
  if (!first.delta) {
    gather_.emplace_back(first.text.data(), first.text.size());
    ++next_;
    return;
  }
  std::size_t run = 1;
  while (run < kMaxDeltasPerMessage && next_ + run < items_.size() && items_[next_ + run].delta) ++run;
  if (run == 1) {
    const std::string& frame = first.delta->frame();  // shared, sent as it is
    gather_.emplace_back(frame.data(), frame.size());
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
  gather_.clear();  // at most 2 * kMaxDeltasPerMessage + 2 entries: kept
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
