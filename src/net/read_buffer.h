#pragma once
// The inbound-message buffer of one WebSocket (net/server.cpp), sized for idle sockets.
//
// Why: Beast's websocket async_read prepares its dynamic buffer (~1.5 KiB, a TCP frame) before
// any byte arrives, and an idle socket spends its whole life in that pending read. So each
// message is read in two steps: async_read_some with kFirstReadBytes as the limit (all an idle
// socket holds, and the whole of a short client frame such as an ack), then — only if
// the message is longer — async_read for the rest into the same buffer. After a message longer
// than kFirstReadBytes the buffer's memory is released, so a socket that once received a large
// message does not keep its capacity while idle. A message costs one extra read operation only
// when it is longer than kFirstReadBytes; the per-message frame bound (read_message_max) is
// unchanged: Beast counts it across both steps.
//
// Threading: none of its own; used on the socket's event loop thread only.
#include <cstddef>

#include <boost/beast/core/flat_buffer.hpp>

namespace ablo::net {

class MessageReadBuffer {
 public:
  static constexpr std::size_t kFirstReadBytes = 128;

  boost::beast::flat_buffer& buffer() { return buffer_; }
  // The message has been handed on: empties the buffer and frees its memory when a long
  // message grew it beyond what the next first read needs.
  void finish_message() {
    buffer_.consume(buffer_.size());
    if (buffer_.capacity() > kFirstReadBytes) buffer_.shrink_to_fit();
  }
  std::size_t capacity() const { return buffer_.capacity(); }

 private:
  boost::beast::flat_buffer buffer_;
};

}  // namespace ablo::net
