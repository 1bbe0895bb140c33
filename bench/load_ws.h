// The client side of RFC 6455 that `ablo_load`'s sockets need, and nothing more: the HTTP
// upgrade, masked frames out, and the server's unmasked frames in.
//
// Why not Beast's websocket::stream, as before: reading one message through it cost the
// generator ~3 µs of CPU (its UTF-8 check, the type-erased executor copied per operation, an
// operation object per read) beside ~4 µs in the kernel, so at 1,000 subscribers the generator,
// not the server, set the write → delivered latency and ran at 80–85% of its core (the
// refusal line). Here a lane reads every ready socket into one shared buffer and splits the
// frames in place.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

namespace ablo::bench::ws {

enum class Opcode : uint8_t { continuation = 0, text = 1, binary = 2, close = 8, ping = 9, pong = 10 };

// GET `path` with the upgrade headers, offering `protocols` (Sec-WebSocket-Protocol).
std::string upgrade_request(std::string_view host, std::string_view path, std::string_view protocols);

// The server's answer to the upgrade, read so far.
struct UpgradeReply {
  enum class State { incomplete, accepted, refused } state = State::incomplete;
  std::size_t size = 0;  // bytes of the answer (its head): what follows are frames
};
UpgradeReply parse_upgrade_reply(std::string_view received);

// Appends one masked frame (FIN set) carrying `payload` to `out`.
void append_client_frame(std::string& out, Opcode opcode, std::string_view payload, uint32_t mask_key);

// One frame split off the front of the bytes received from the server.
struct ServerFrame {
  enum class State { incomplete, complete, invalid } state = State::incomplete;
  Opcode opcode = Opcode::continuation;
  bool fin = false;
  std::string_view payload;  // into the bytes given
  std::size_t size = 0;      // header + payload
};
// `invalid`: masked (a server must not mask), reserved bits, an unknown opcode, a fragmented or
// oversized control frame, or a payload above `max_payload`.
ServerFrame parse_server_frame(std::string_view data, std::size_t max_payload);

// Reassembles the server's messages from the bytes of one socket, as they arrive in any pieces.
// Control frames (ping, pong, close) are delivered as they come, between a message's fragments.
class MessageReader {
 public:
  explicit MessageReader(std::size_t max_message) : max_message_(max_message) {}

  // Calls on_message(Opcode, std::string_view payload) for each whole message in `data`
  // (the payload is valid during the call only). False when the stream is invalid.
  template <class OnMessage>
  bool feed(std::string_view data, OnMessage&& on_message);

 private:
  // Delivers the whole frames at the front of `data`: the bytes they took, or nothing when the
  // stream is invalid.
  template <class OnMessage>
  std::optional<std::size_t> split_frames(std::string_view data, OnMessage& on_message);
  template <class OnMessage>
  bool deliver(const ServerFrame& frame, OnMessage& on_message);

  std::size_t max_message_;
  std::string partial_;           // the bytes of a frame not yet complete (usually empty)
  std::string fragments_;         // a fragmented message so far
  Opcode fragmented_ = Opcode::continuation;  // its opcode; continuation: none in progress
};

template <class OnMessage>
bool MessageReader::feed(std::string_view data, OnMessage&& on_message) {
  // The common case splits frames straight from `data`. A frame cut by a read boundary waits in
  // partial_, which later reads extend: a large message arriving in many reads is appended, not
  // copied again on every read.
  const bool held = !partial_.empty();
  if (held) partial_.append(data);
  const std::string_view bytes = held ? std::string_view(partial_) : data;
  const auto consumed = split_frames(bytes, on_message);
  if (!consumed) return false;
  if (held) partial_.erase(0, *consumed);
  else partial_.assign(data.substr(*consumed));
  return true;
}

template <class OnMessage>
std::optional<std::size_t> MessageReader::split_frames(std::string_view data, OnMessage& on_message) {
  std::size_t consumed = 0;
  while (consumed < data.size()) {
    const ServerFrame frame = parse_server_frame(data.substr(consumed), max_message_);
    if (frame.state == ServerFrame::State::invalid) return std::nullopt;
    if (frame.state == ServerFrame::State::incomplete) break;
    if (!deliver(frame, on_message)) return std::nullopt;
    consumed += frame.size;
  }
  return consumed;
}

template <class OnMessage>
bool MessageReader::deliver(const ServerFrame& frame, OnMessage& on_message) {
  const bool control = static_cast<uint8_t>(frame.opcode) >= 8;
  if (control) {
    on_message(frame.opcode, frame.payload);
    return true;
  }
  if (frame.opcode != Opcode::continuation) {  // a message starts
    if (fragmented_ != Opcode::continuation) return false;
    if (frame.fin) {
      on_message(frame.opcode, frame.payload);
      return true;
    }
    fragmented_ = frame.opcode;
    fragments_.assign(frame.payload);
    return true;
  }
  if (fragmented_ == Opcode::continuation) return false;  // a continuation of nothing
  if (fragments_.size() + frame.payload.size() > max_message_) return false;
  fragments_.append(frame.payload);
  if (!frame.fin) return true;
  on_message(std::exchange(fragmented_, Opcode::continuation), std::string_view(fragments_));
  fragments_.clear();
  return true;
}

}  // namespace ablo::bench::ws
