#include "net/frame_batcher.h"

#include <array>

#include <gtest/gtest.h>

#include <boost/json.hpp>

#include "support/ws_server_frames.h"

namespace ablo::net {
namespace {

namespace json = boost::json;
namespace asio = boost::asio;

std::shared_ptr<const fanout::EncodedDelta> delta(int64_t id) {
  return std::make_shared<const fanout::EncodedDelta>(
      id, json::serialize(json::object{{"id", id}, {"modelName", "tasks"}, {"data", {{"title", "row " + std::to_string(id)}}}}));
}

OutgoingItem item(std::shared_ptr<const fanout::EncodedDelta> d) { return OutgoingItem{{}, std::move(d)}; }
OutgoingItem item(std::string text) { return OutgoingItem{std::move(text), nullptr}; }

// The payloads of the frames of one write, after checking each header: whole unmasked text
// frames whose length fields say exactly how many bytes follow (RFC 6455 §5.2).
std::vector<std::string> frames_of(std::span<const asio::const_buffer> buffers) {
  std::string wire;
  for (const auto& b : buffers) wire.append(static_cast<const char*>(b.data()), b.size());
  std::vector<std::string> payloads;
  for (auto& frame : ablo::testing::take_frames(wire)) {
    EXPECT_EQ(frame.first_byte, 0x81) << "FIN + text, no RSV bits";
    EXPECT_FALSE(frame.masked) << "a server's frames are not masked";
    payloads.push_back(std::move(frame.payload));
  }
  EXPECT_TRUE(wire.empty()) << "bytes the frames' lengths do not account for";
  return payloads;
}

// The payload of a write that must be exactly one frame.
std::string payload_of(std::span<const asio::const_buffer> buffers) {
  auto frames = frames_of(buffers);
  EXPECT_EQ(frames.size(), 1u);
  return frames.empty() ? std::string() : frames.front();
}

std::string header_of(std::size_t payload_bytes) {
  std::array<unsigned char, 10> out{};
  const std::size_t size = ablo::encode_text_frame_header(payload_bytes, out);
  return std::string(reinterpret_cast<const char*>(out.data()), size);
}

// The frames the session built before the batcher, as strings (the form clients have read).
std::string old_single_delta_frame(const fanout::EncodedDelta& d) {
  return R"({"type":"delta","payload":)" + std::string(d.json()) + "}";
}
std::string old_batched_frame(const std::vector<std::shared_ptr<const fanout::EncodedDelta>>& run) {
  std::string text = R"({"type":"delta","payload":{"deltas":[)";
  for (std::size_t i = 0; i < run.size(); ++i) {
    if (i) text.push_back(',');
    text += run[i]->json();
  }
  return text + "]}}";
}

// Every message the batcher produces from `items`, written one after another; `writes` counts
// the writes they took.
std::vector<std::string> messages_of(FrameBatcher& batcher, std::vector<OutgoingItem> items, std::size_t* bytes = nullptr,
                                     std::size_t* writes = nullptr) {
  batcher.take(items);
  std::vector<std::string> out;
  while (batcher.has_unsent()) {
    for (auto& frame : frames_of(batcher.next_write())) out.push_back(std::move(frame));
    const std::size_t written = batcher.release_written();
    if (bytes) *bytes += written;
    if (writes) ++*writes;
  }
  return out;
}

std::vector<OutgoingItem> text_items(int count) {
  std::vector<OutgoingItem> items;
  for (int i = 0; i < count; ++i) items.push_back(item(std::to_string(i)));
  return items;
}

TEST(EncodedDeltaTest, FrameWrapsTheDeltaObject) {
  const auto d = delta(7);
  EXPECT_EQ(d->id, 7);
  const auto frame = json::parse(d->frame()).as_object();
  EXPECT_EQ(frame.at("type"), "delta");
  EXPECT_EQ(json::serialize(frame.at("payload")), d->json());
  EXPECT_EQ(d->frame(), old_single_delta_frame(*d));
}

TEST(FrameBatcherTest, ALoneDeltaIsSentAsItsSharedFrameWithoutACopy) {
  FrameBatcher batcher;
  const auto d = delta(1);
  std::vector<OutgoingItem> queued{item(d)};
  batcher.take(queued);
  const auto buffers = batcher.next_write();
  ASSERT_EQ(buffers.size(), 1u);  // header and payload in one buffer
  EXPECT_EQ(payload_of(buffers), d->frame());
  EXPECT_EQ(buffers[0].data(), d->wire_frame().data());  // the very buffer every recipient shares
  EXPECT_EQ(buffers[0].size(), d->wire_frame().size());
  EXPECT_EQ(batcher.release_written(), d->frame().size());
  EXPECT_FALSE(batcher.has_unsent());
}

TEST(FrameBatcherTest, ConsecutiveDeltasBecomeOneBatchedFrameEqualToTheOldStringForm) {
  FrameBatcher batcher;
  std::vector<std::shared_ptr<const fanout::EncodedDelta>> run{delta(1), delta(2), delta(3)};
  std::vector<OutgoingItem> queued;
  for (const auto& d : run) queued.push_back(item(d));
  batcher.take(queued);
  const auto buffers = batcher.next_write();
  EXPECT_EQ(payload_of(buffers), old_batched_frame(run));
  // Gathered over the shared encodings: the delta objects are not copied.
  EXPECT_EQ(buffers[2].data(), run[0]->json().data());  // [0] header, [1] the batch prefix
  EXPECT_EQ(buffers[4].data(), run[1]->json().data());
  const auto parsed = json::parse(payload_of(buffers)).as_object();
  EXPECT_EQ(parsed.at("payload").at("deltas").as_array().size(), 3u);
}

TEST(FrameBatcherTest, TextFramesSplitRunsAndKeepTheirOrder) {
  FrameBatcher batcher;
  const auto d1 = delta(1), d2 = delta(2), d3 = delta(3);
  std::size_t bytes = 0, writes = 0;
  const auto messages = messages_of(batcher, [&] {
    std::vector<OutgoingItem> items;
    items.push_back(item(d1));
    items.push_back(item(d2));
    items.push_back(item(std::string(R"({"type":"pong"})")));
    items.push_back(item(d3));
    items.push_back(item(std::string(R"({"type":"mutation_result","payload":{}})")));
    return items;
  }(), &bytes, &writes);
  EXPECT_EQ(writes, 1u) << "four messages, one write";
  ASSERT_EQ(messages.size(), 4u);
  EXPECT_EQ(messages[0], old_batched_frame({d1, d2}));
  EXPECT_EQ(messages[1], R"({"type":"pong"})");
  EXPECT_EQ(messages[2], old_single_delta_frame(*d3));
  EXPECT_EQ(messages[3], R"({"type":"mutation_result","payload":{}})");
  // Every item's bytes are released once, when its message is written.
  EXPECT_EQ(bytes, d1->frame().size() + d2->frame().size() + d3->frame().size() + 15 + 39);
}

TEST(FrameBatcherTest, ARunIsCutAtTheMessageBound) {
  FrameBatcher batcher;
  std::vector<std::shared_ptr<const fanout::EncodedDelta>> all;
  std::vector<OutgoingItem> items;
  for (int64_t id = 1; id <= static_cast<int64_t>(FrameBatcher::kMaxDeltasPerMessage) + 2; ++id) {
    all.push_back(delta(id));
    items.push_back(item(all.back()));
  }
  const auto messages = messages_of(batcher, std::move(items));
  ASSERT_EQ(messages.size(), 2u);
  std::vector<std::shared_ptr<const fanout::EncodedDelta>> first(all.begin(), all.begin() + FrameBatcher::kMaxDeltasPerMessage);
  std::vector<std::shared_ptr<const fanout::EncodedDelta>> rest(all.begin() + FrameBatcher::kMaxDeltasPerMessage, all.end());
  EXPECT_EQ(messages[0], old_batched_frame(first));
  EXPECT_EQ(messages[1], old_batched_frame(rest));
}

TEST(FrameBatcherTest, StorageIsHandedBackAndReused) {
  FrameBatcher batcher;
  std::vector<OutgoingItem> queued;
  queued.reserve(8);
  queued.push_back(item(delta(1)));
  const auto* first_storage = queued.data();
  batcher.take(queued);
  EXPECT_TRUE(queued.empty());
  batcher.next_write();
  batcher.release_written();
  // The next burst is queued into storage of its own; taking it gives the first one back.
  queued.push_back(item(delta(2)));
  batcher.take(queued);
  EXPECT_EQ(queued.data(), first_storage);
  EXPECT_EQ(queued.capacity(), 8u);
}

TEST(FrameBatcherTest, ItemsAreReleasedWhenTheirMessageIsWritten) {
  FrameBatcher batcher;
  auto d = delta(1);
  std::weak_ptr<const fanout::EncodedDelta> watch = d;
  std::vector<OutgoingItem> queued{item(std::move(d))};
  batcher.take(queued);
  batcher.next_write();
  EXPECT_FALSE(watch.expired());  // the write in flight uses it
  batcher.release_written();
  EXPECT_TRUE(watch.expired());
}

TEST(FrameBatcherTest, DroppingKeepsTheWriteOutAndFreesTheRest) {
  FrameBatcher batcher;
  const auto d1 = delta(1);
  auto queued = text_items(FrameBatcher::kMaxMessagesPerWrite);  // a full write
  queued.push_back(item(d1));
  queued.push_back(item(delta(2)));
  batcher.take(queued);
  const auto buffers = batcher.next_write();  // the text frames are being written
  const auto before = frames_of(buffers);
  ASSERT_EQ(before.size(), FrameBatcher::kMaxMessagesPerWrite);
  EXPECT_EQ(batcher.drop_unsent(), d1->frame().size() + delta(2)->frame().size());
  EXPECT_EQ(frames_of(buffers), before);  // still valid for the write in flight
  EXPECT_FALSE(batcher.has_unsent());
  std::size_t text_bytes = 0;
  for (const auto& frame : before) text_bytes += frame.size();
  EXPECT_EQ(batcher.release_written(), text_bytes);
}

TEST(FrameBatcherTest, ItemsTakenWhileSomeAreUnsentGoAfterThem) {
  FrameBatcher batcher;
  auto queued = text_items(FrameBatcher::kMaxMessagesPerWrite + 1);
  batcher.take(queued);
  const auto first = frames_of(batcher.next_write());
  ASSERT_EQ(first.size(), FrameBatcher::kMaxMessagesPerWrite);
  EXPECT_EQ(first.front(), "0");
  batcher.release_written();
  queued.push_back(item(std::string("late")));
  batcher.take(queued);
  EXPECT_EQ(frames_of(batcher.next_write()),
            (std::vector<std::string>{std::to_string(FrameBatcher::kMaxMessagesPerWrite), "late"}));
  batcher.release_written();
  EXPECT_FALSE(batcher.has_unsent());
}

TEST(FrameBatcherTest, AWriteStopsAtTheBufferBoundAndALargerMessageGoesAlone) {
  FrameBatcher batcher;
  std::vector<OutgoingItem> items;
  items.push_back(item(std::string("before")));
  for (int64_t id = 1; id <= 40; ++id) items.push_back(item(delta(id)));  // 2 x 40 + 2 buffers
  items.push_back(item(std::string("after")));
  batcher.take(items);
  std::vector<std::size_t> buffers_per_write, frames_per_write;
  while (batcher.has_unsent()) {
    const auto buffers = batcher.next_write();
    buffers_per_write.push_back(buffers.size());
    frames_per_write.push_back(frames_of(buffers).size());
    batcher.release_written();
  }
  EXPECT_EQ(buffers_per_write, (std::vector<std::size_t>{2, 82, 2}));
  EXPECT_EQ(frames_per_write, (std::vector<std::size_t>{1, 1, 1}));
}

TEST(FrameHeaderTest, UsesTheShortestLengthFormAtEveryBoundary) {
  EXPECT_EQ(header_of(0), std::string("\x81\x00", 2));
  EXPECT_EQ(header_of(125), "\x81\x7D");
  EXPECT_EQ(header_of(126), std::string("\x81\x7E\x00\x7E", 4));
  EXPECT_EQ(header_of(65535), "\x81\x7E\xFF\xFF");
  EXPECT_EQ(header_of(65536), std::string("\x81\x7F\x00\x00\x00\x00\x00\x01\x00\x00", 10));
  EXPECT_EQ(header_of(0x0102030405ULL), std::string("\x81\x7F\x00\x00\x00\x01\x02\x03\x04\x05", 10));
}

TEST(FrameHeaderTest, EveryMessageIsOneFrameWhoseLengthIsItsPayload) {
  FrameBatcher batcher;
  std::vector<OutgoingItem> items;
  items.push_back(item(std::string(125, 'a')));
  items.push_back(item(std::string(126, 'b')));
  items.push_back(item(std::string(70000, 'c')));
  batcher.take(items);
  std::vector<std::size_t> sizes;
  for (const auto& frame : frames_of(batcher.next_write())) sizes.push_back(frame.size());  // headers checked
  EXPECT_EQ(sizes, (std::vector<std::size_t>{125, 126, 70000}));
  batcher.release_written();
  EXPECT_FALSE(batcher.has_unsent());
}

}  // namespace
}  // namespace ablo::net
