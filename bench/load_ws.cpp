#include "load_ws.h"

#include <array>

#include "common/ws_frame_header.h"

namespace ablo::bench::ws {

namespace {

constexpr std::string_view kHeadEnd = "\r\n\r\n";

bool known_opcode(uint8_t opcode) { return opcode <= 2 || (opcode >= 8 && opcode <= 10); }

}  // namespace

std::string upgrade_request(std::string_view host, std::string_view path, std::string_view protocols) {
  std::string request;
  request.reserve(256 + path.size() + protocols.size());
  request.append("GET ").append(path).append(" HTTP/1.1\r\nHost: ").append(host);
  // The key only has to be 16 bytes in base64; the generator does not check the answer's digest
  // of it (the server is ours, on loopback).
  request.append(
      "\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n"
      "Sec-WebSocket-Key: YWJsby1sb2FkLWdlbmVyYQ==\r\nSec-WebSocket-Protocol: ");
  request.append(protocols).append("\r\n\r\n");
  return request;
}

UpgradeReply parse_upgrade_reply(std::string_view received) {
  const auto end = received.find(kHeadEnd);
  if (end == std::string_view::npos) return {};
  const bool switched = received.starts_with("HTTP/1.1 101 ");
  return {switched ? UpgradeReply::State::accepted : UpgradeReply::State::refused, end + kHeadEnd.size()};
}

void append_client_frame(std::string& out, Opcode opcode, std::string_view payload, uint32_t mask_key) {
  // The length is encoded as the server encodes it; a client's frame differs in its first byte
  // (any opcode, not only text) and in the mask bit and key.
  std::array<unsigned char, kMaxTextFrameHeaderBytes> header{};
  const std::size_t header_size = encode_text_frame_header(payload.size(), header);
  header[0] = static_cast<unsigned char>(0x80 | static_cast<uint8_t>(opcode));  // FIN
  header[1] |= 0x80;                                                              // masked
  out.append(reinterpret_cast<const char*>(header.data()), header_size);
  std::array<char, 4> mask{};
  for (int i = 0; i < 4; ++i) mask[i] = static_cast<char>((mask_key >> (24 - 8 * i)) & 0xFF);
  out.append(mask.data(), mask.size());
  const std::size_t start = out.size();
  out.append(payload);
  for (std::size_t i = 0; i < payload.size(); ++i) out[start + i] = static_cast<char>(out[start + i] ^ mask[i % 4]);
}

ServerFrame parse_server_frame(std::string_view data, std::size_t max_payload) {
  ServerFrame frame;
  if (data.size() < 2) return frame;
  const auto* bytes = reinterpret_cast<const uint8_t*>(data.data());
  const uint8_t opcode = bytes[0] & 0x0F;
  frame.fin = (bytes[0] & 0x80) != 0;
  const bool reserved_bits = (bytes[0] & 0x70) != 0;
  const bool masked = (bytes[1] & 0x80) != 0;
  if (reserved_bits || masked || !known_opcode(opcode)) return {ServerFrame::State::invalid};
  frame.opcode = static_cast<Opcode>(opcode);

  uint64_t length = bytes[1] & 0x7F;
  std::size_t header = 2;
  if (length >= 126) {
    const std::size_t extra = length == 126 ? 2 : 8;
    if (data.size() < header + extra) return frame;
    length = 0;
    for (std::size_t i = 0; i < extra; ++i) length = (length << 8) | bytes[header + i];
    header += extra;
  }
  const bool control = opcode >= 8;
  if ((control && (!frame.fin || length > 125)) || length > max_payload) return {ServerFrame::State::invalid};
  if (data.size() - header < length) return frame;
  frame.state = ServerFrame::State::complete;
  frame.payload = data.substr(header, length);
  frame.size = header + length;
  return frame;
}

}  // namespace ablo::bench::ws
