#pragma once
// How one WebSocket's queued frames become writes (the session's send path, net/server.cpp).
//
// What is queued: whole text frames (sync_response, mutation_result, presence, …) and shared
// deltas (fanout::EncodedDelta, encoded once for every recipient). Each queued text frame and each
// run of consecutive deltas becomes one WebSocket message, sent as one frame (FIN set, text,
// unmasked as a server's frames are): its header (common/ws_frame_header.h), then the payload:
//  * a text frame: its own buffer;
//  * a lone delta: its shared single-delta frame, header included (one buffer), as it is;
//  * consecutive deltas: one batched `delta` frame {"type":"delta","payload":{"deltas":[…]}} —
//    a constant prefix, each delta's object inside its shared frame, commas, a constant suffix —
//    which the client applies as one batch. At most kMaxDeltasPerMessage per message, so the
//    gather list (and one batch on the client) stays bounded.
// Each write carries several such frames back to back — up to kMaxMessagesPerWrite messages and
// kMaxBuffersPerWrite buffers (what one sendmsg takes through Asio; a larger first message goes
// alone) — as one gather list over buffers already in memory, so a socket's queue goes out in as
// few system calls as it can.
// Why: every delta goes to every subscriber; building a string per socket (an allocation and a
// copy per delivery) and a write per delta (a sendmsg each) were most of the fan-out's CPU.
//
// Storage is reused: the vector producers fill and the batch being written swap (take), and
// the gather list and the headers keep their capacity, so a steady stream of writes allocates
// nothing. Beyond kRetainedItems a burst's storage is released rather than kept by an idle socket.
//
// Threading: none of its own. The session fills a std::vector<OutgoingItem> under its lock and
// hands it over (take) on its socket strand, which alone uses the batcher. Buffers returned by
// next_write stay valid until release_written: items are not moved while a write is out.
#include <array>
#include <chrono>
#include <cstddef>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <boost/asio/buffer.hpp>

#include "common/ws_frame_header.h"
#include "fanout/hub.h"

namespace ablo::net {

struct OutgoingItem {
  std::string text;                                   // a whole frame, or
  std::shared_ptr<const fanout::EncodedDelta> delta;  // one delta (then text is empty)

  // What it counts for against the socket's send-queue bound.
  std::size_t bytes() const { return delta ? delta->frame().size() : text.size(); }
};

class FrameBatcher {
 public:
  static constexpr std::size_t kMaxDeltasPerMessage = 128;
  static constexpr std::size_t kMaxMessagesPerWrite = 16;
  static constexpr std::size_t kMaxBuffersPerWrite = 64;
  static constexpr std::size_t kRetainedItems = 256;
  static constexpr std::string_view kBatchPrefix = R"({"type":"delta","payload":{"deltas":[)";
  static constexpr std::string_view kBatchSuffix = "]}}";

  // Appends `queued` (in order) to what is left to send; `queued` comes back empty, holding
  // the storage of an earlier batch for the producers to fill next. Not while a write is out.
  void take(std::vector<OutgoingItem>& queued);
  // Items not yet in a write.
  bool has_unsent() const { return next_ < items_.size(); }
  // Builds the next write from the unsent items: one or more whole frames, back to back
  // (precondition: has_unsent(), no write out).
  std::span<const boost::asio::const_buffer> next_write();
  // When the first delta of the write out was encoded (its deltas are in id order, so the
  // oldest); nullopt when it carries no delta.
  std::optional<std::chrono::steady_clock::time_point> write_encoded_at() const;
  // The write from next_write is done (or has failed): releases its items and returns the
  // bytes they counted for.
  std::size_t release_written();
  // Frees every item not in the write out; returns the bytes they counted for.
  std::size_t drop_unsent();

 private:
  // Consecutive deltas from items_[index] (at most kMaxDeltasPerMessage); 0 for a text frame.
  std::size_t delta_run_at(std::size_t index) const;
  // Appends the next message (the write's `index`-th) to gather_ and advances next_.
  void append_message(std::size_t run, std::size_t index);
  // Appends a message's payload buffers: a text frame (`run` 0) or a batch of `run` deltas.
  void append_payload(std::size_t run);

  std::vector<OutgoingItem> items_;
  std::size_t write_begin_ = 0;  // items [write_begin_, next_) are the write out
  std::size_t next_ = 0;         // the first item not yet in a write
  std::vector<boost::asio::const_buffer> gather_;  // the write out: frames, each a header and its payload
  // The headers of the write out (kMaxMessagesPerWrite once a socket has written a text frame or
  // a batch; none for one that only ever sent lone deltas, which carry their own).
  std::vector<std::array<unsigned char, kMaxTextFrameHeaderBytes>> headers_;
};

}  // namespace ablo::net
