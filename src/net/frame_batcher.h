#pragma once
// How one WebSocket's queued frames become writes (the session's send path, net/server.cpp).
//
// What is queued: whole text frames (sync_response, mutation_result, presence, …) and shared
// deltas (fanout::EncodedDelta, encoded once for every recipient). Each write is one WebSocket
// frame (a whole message: FIN set, text, unmasked as a server's frames are) handed to the socket
// as a gather list over buffers already in memory — its header (common/ws_frame_header.h), then
// the payload:
//  * a text frame: its own buffer;
//  * a lone delta: its shared single-delta frame, header included (one buffer), as it is;
//  * consecutive deltas: one batched `delta` frame {"type":"delta","payload":{"deltas":[…]}} —
//    a constant prefix, each delta's object inside its shared frame, commas, a constant suffix —
//    which the client applies as one batch. At most kMaxDeltasPerMessage per message, so the
//    gather list (and one batch on the client) stays bounded.
// Why: every delta goes to every subscriber; building a string per socket (an allocation and a
// copy per delivery) and a write per delta (a sendmsg each) were most of the fan-out's CPU.
//
// Storage is reused: the vector producers fill and the batch being written swap (take), and
// the gather list keeps its capacity, so a steady stream of writes allocates nothing. Beyond
// kRetainedItems a burst's storage is released rather than kept by an idle socket.
//
// Threading: none of its own. The session fills a std::vector<OutgoingItem> under its lock and
// hands it over (take) on its socket strand, which alone uses the batcher. Buffers returned by
// next_message stay valid until finish_message: items are not moved while a message is out.
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
  static constexpr std::size_t kRetainedItems = 256;
  static constexpr std::string_view kBatchPrefix = R"({"type":"delta","payload":{"deltas":[)";
  static constexpr std::string_view kBatchSuffix = "]}}";

  // Appends `queued` (in order) to what is left to send; `queued` comes back empty, holding
  // the storage of an earlier batch for the producers to fill next. Not while a message is out.
  void take(std::vector<OutgoingItem>& queued);
  // Items not yet in a message.
  bool has_unsent() const { return next_ < items_.size(); }
  // Builds the next message from the unsent items, as one frame: header, then payload
  // (precondition: has_unsent(), no message out).
  std::span<const boost::asio::const_buffer> next_message();
  // When the first delta of the message out was encoded (its deltas are in id order, so the
  // oldest); nullopt when the message carries no delta.
  std::optional<std::chrono::steady_clock::time_point> message_encoded_at() const;
  // The message from next_message has been written (or has failed): releases its items and
  // returns the bytes they counted for.
  std::size_t finish_message();
  // Frees every item not in the message being written; returns the bytes they counted for.
  std::size_t drop_unsent();

 private:
  // Appends the next message's payload buffers to gather_ and advances next_: a text frame
  // (`run` 0) or a batch of `run` deltas.
  void append_payload(std::size_t run);

  std::vector<OutgoingItem> items_;
  std::size_t message_begin_ = 0;  // items [message_begin_, next_) are the message out
  std::size_t next_ = 0;           // the first item not yet in a message
  std::vector<boost::asio::const_buffer> gather_;  // the message out: header, payload (or a lone delta's whole frame)
  std::array<unsigned char, kMaxTextFrameHeaderBytes> header_{};
};

}  // namespace ablo::net
