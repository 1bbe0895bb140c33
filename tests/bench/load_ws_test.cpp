// The load generator's client WebSocket codec (bench/load_ws.h): what it sends must be valid
// masked frames, and what it reads must come out as the server's messages however the bytes
// are cut by the socket's reads. The generator's figures are only as good as this.
#include <algorithm>
#include <array>
#include <string>
#include <utility>
#include <vector>

#include <gtest/gtest.h>
#include <rapidcheck.h>
#include <rapidcheck/gtest.h>

#include "common/ws_frame_header.h"
#include "load_ws.h"

namespace ablo::bench::ws {
namespace {

// A server frame (unmasked) carrying `payload`: the server's own header with its first byte set
// for `opcode` and `fin`.
std::string server_frame(Opcode opcode, std::string_view payload, bool fin = true) {
  std::array<unsigned char, kMaxTextFrameHeaderBytes> header{};
  const std::size_t size = encode_text_frame_header(payload.size(), header);
  header[0] = static_cast<unsigned char>((fin ? 0x80 : 0) | static_cast<uint8_t>(opcode));
  return std::string(reinterpret_cast<const char*>(header.data()), size) + std::string(payload);
}

using Messages = std::vector<std::pair<Opcode, std::string>>;

// Feeds `bytes` in pieces cut at `cuts` (offsets) and collects the messages.
std::pair<bool, Messages> read_in_pieces(const std::string& bytes, std::vector<std::size_t> cuts,
                                         std::size_t max_message = 1 << 20) {
  MessageReader reader(max_message);
  Messages messages;
  std::sort(cuts.begin(), cuts.end());
  std::size_t from = 0;
  bool valid = true;
  cuts.push_back(bytes.size());
  for (std::size_t cut : cuts) {
    cut = std::min(cut, bytes.size());
    if (cut < from) continue;
    valid = valid && reader.feed(std::string_view(bytes).substr(from, cut - from), [&](Opcode op, std::string_view p) {
      messages.emplace_back(op, std::string(p));
    });
    from = cut;
  }
  return {valid, messages};
}

TEST(LoadWs, AClientFrameIsMaskedAndUnmasksToItsPayload) {
  for (std::size_t size : {0u, 5u, 125u, 126u, 65535u, 65536u}) {
    const std::string payload(size, 'p');
    std::string frame;
    append_client_frame(frame, Opcode::text, payload, 0x01020304);
    ASSERT_GE(frame.size(), 6u);
    EXPECT_EQ(static_cast<uint8_t>(frame[0]), 0x81);
    EXPECT_TRUE(static_cast<uint8_t>(frame[1]) & 0x80) << "client frames must be masked";
    const std::size_t header = size < 126 ? 2 : size <= 0xFFFF ? 4 : 10;
    ASSERT_EQ(frame.size(), header + 4 + size);
    const std::string mask = frame.substr(header, 4);
    EXPECT_EQ(mask, std::string("\x01\x02\x03\x04", 4));
    std::string unmasked = frame.substr(header + 4);
    for (std::size_t i = 0; i < unmasked.size(); ++i) unmasked[i] = static_cast<char>(unmasked[i] ^ mask[i % 4]);
    EXPECT_EQ(unmasked, payload);
  }
}

TEST(LoadWs, TheUpgradeAnswerEndsAtItsBlankLine) {
  EXPECT_EQ(parse_upgrade_reply("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket").state,
            UpgradeReply::State::incomplete);
  const std::string head = "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n";
  const auto reply = parse_upgrade_reply(head + "\x81\x02hi");
  EXPECT_EQ(reply.state, UpgradeReply::State::accepted);
  EXPECT_EQ(reply.size, head.size());
  EXPECT_EQ(parse_upgrade_reply("HTTP/1.1 401 Unauthorized\r\n\r\n").state, UpgradeReply::State::refused);
  EXPECT_NE(upgrade_request("h:1", "/ws?x=1", "a, b").find("GET /ws?x=1 HTTP/1.1\r\nHost: h:1\r\n"), std::string::npos);
}

TEST(LoadWs, FragmentsReassembleAndControlFramesPassBetweenThem) {
  const std::string bytes = server_frame(Opcode::text, "hel", /*fin=*/false) + server_frame(Opcode::ping, "p") +
                            server_frame(Opcode::continuation, "lo", /*fin=*/false) +
                            server_frame(Opcode::continuation, "!") + server_frame(Opcode::text, "next");
  const auto [valid, messages] = read_in_pieces(bytes, {});
  ASSERT_TRUE(valid);
  const Messages expected = {{Opcode::ping, "p"}, {Opcode::text, "hello!"}, {Opcode::text, "next"}};
  EXPECT_EQ(messages, expected);
}

TEST(LoadWs, InvalidStreamsAreRefused) {
  const auto refused = [](const std::string& bytes, std::size_t max = 1 << 20) {
    return !read_in_pieces(bytes, {}, max).first;
  };
  std::string masked = server_frame(Opcode::text, "x");
  masked[1] = static_cast<char>(masked[1] | 0x80);
  EXPECT_TRUE(refused(masked));
  EXPECT_TRUE(refused(server_frame(Opcode::continuation, "orphan")));
  EXPECT_TRUE(refused(server_frame(Opcode::ping, "x", /*fin=*/false)));
  EXPECT_TRUE(refused(server_frame(Opcode::ping, std::string(126, 'x'))));
  EXPECT_TRUE(refused(server_frame(Opcode::text, std::string(11, 'x')), 10));
  EXPECT_TRUE(refused(std::string("\x83\x00", 2)));  // reserved opcode 3
  EXPECT_TRUE(refused(server_frame(Opcode::text, "a", false) + server_frame(Opcode::text, "b")));
}

// However the socket's reads cut the bytes, the same messages come out, in order.
RC_GTEST_PROP(LoadWs, MessagesDoNotDependOnWhereReadsCutTheStream, ()) {
  const auto payloads = *rc::gen::container<std::vector<std::string>>(rc::gen::oneOf(
      rc::gen::container<std::string>(rc::gen::arbitrary<char>()),
      rc::gen::map(rc::gen::inRange<std::size_t>(120, 70'000), [](std::size_t n) { return std::string(n, 'z'); })));
  std::string bytes;
  Messages expected;
  for (const auto& payload : payloads) {
    // Some as one frame, some in two fragments.
    if (payload.size() > 1 && payload.size() % 2 == 0) {
      const auto half = payload.size() / 2;
      bytes += server_frame(Opcode::text, payload.substr(0, half), false) +
               server_frame(Opcode::continuation, payload.substr(half));
    } else {
      bytes += server_frame(Opcode::text, payload);
    }
    expected.emplace_back(Opcode::text, payload);
  }
  const auto cuts = *rc::gen::container<std::vector<std::size_t>>(rc::gen::inRange<std::size_t>(0, bytes.size() + 1));
  const auto [valid, messages] = read_in_pieces(bytes, cuts);
  RC_ASSERT(valid);
  RC_ASSERT(messages == expected);
}

}  // namespace
}  // namespace ablo::bench::ws
