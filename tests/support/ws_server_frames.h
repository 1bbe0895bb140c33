#pragma once
// A server's WebSocket frames read back from the bytes it wrote (RFC 6455 §5.2), for tests that
// check the wire: raw-socket readers (tests/integration/limits_test.cpp) and the frame batcher's
// writes (tests/net/frame_batcher_test.cpp).
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace ablo::testing {

struct WireFrame {
  uint8_t first_byte = 0;  // FIN, the RSV bits, the opcode
  bool masked = false;     // a server must never mask its frames
  std::string payload;     // as it was on the wire (left masked if it was)

  bool fin() const { return (first_byte & 0x80) != 0; }
  uint8_t opcode() const { return first_byte & 0x0f; }
};

// Takes every complete frame off the front of `buffer`; an incomplete one stays for more bytes.
inline std::vector<WireFrame> take_frames(std::string& buffer) {
  std::vector<WireFrame> frames;
  std::size_t at = 0;
  while (buffer.size() - at >= 2) {
    const auto byte = [&](std::size_t i) { return static_cast<uint8_t>(buffer[at + i]); };
    const bool masked = (byte(1) & 0x80) != 0;
    uint64_t length = byte(1) & 0x7f;
    std::size_t header = 2;
    if (length >= 126) {
      header += length == 126 ? 2 : 8;
      if (buffer.size() - at < header) break;
      length = 0;
      for (std::size_t i = 2; i < header; ++i) length = (length << 8) | byte(i);
    }
    if (masked) header += 4;  // the masking key
    if (buffer.size() - at < header || buffer.size() - at - header < length) break;
    frames.push_back(WireFrame{byte(0), masked, buffer.substr(at + header, length)});
    at += header + length;
  }
  buffer.erase(0, at);
  return frames;
}

}  // namespace ablo::testing
