#pragma once
// The header of an unfragmented, unmasked WebSocket text frame (RFC 6455 §5.2) as a server writes
// it: FIN set, opcode 1 (text), no RSV bits (the server negotiates no extension), the payload
// length in its shortest form. Used where frames are encoded ahead of the socket: a delta's frame,
// once for all its recipients (fanout/hub.h), and each message a session writes (net/frame_batcher.h).
#include <cstddef>
#include <cstdint>
#include <span>

namespace ablo {

inline constexpr std::size_t kMaxTextFrameHeaderBytes = 10;

// Writes the header for `payload_bytes` into `out`; returns its length (2, 4 or 10 bytes).
inline std::size_t encode_text_frame_header(std::size_t payload_bytes,
                                            std::span<unsigned char, kMaxTextFrameHeaderBytes> out) {
  constexpr unsigned char kFinText = 0x81;
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

}  // namespace ablo
