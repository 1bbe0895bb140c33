#include "net/read_buffer.h"

#include <cstring>
#include <string>

#include <gtest/gtest.h>

namespace ablo::net {
namespace {

// Stands in for Beast appending a message of `bytes` to the buffer.
void receive(MessageReadBuffer& read, std::size_t bytes) {
  auto space = read.buffer().prepare(bytes);
  std::memset(space.data(), 'x', space.size());
  read.buffer().commit(bytes);
}

TEST(MessageReadBuffer, ReleasesItsMemoryAfterAMessageLongerThanTheFirstRead) {
  MessageReadBuffer read;
  receive(read, 64 * 1024);
  ASSERT_GE(read.capacity(), 64u * 1024);
  read.finish_message();
  EXPECT_EQ(read.buffer().size(), 0u);
  EXPECT_EQ(read.capacity(), 0u);  // an idle socket keeps nothing of the long message
}

TEST(MessageReadBuffer, KeepsTheFirstReadsMemoryAfterAShortMessage) {
  MessageReadBuffer read;
  receive(read, MessageReadBuffer::kFirstReadBytes);
  const std::size_t capacity = read.capacity();
  ASSERT_GE(capacity, MessageReadBuffer::kFirstReadBytes);
  read.finish_message();
  EXPECT_EQ(read.buffer().size(), 0u);
  EXPECT_EQ(read.capacity(), capacity);  // reused by the next message: no allocation per message
}

TEST(MessageReadBuffer, ABufferEmptiedByFinishMessageStillReceives) {
  MessageReadBuffer read;
  receive(read, 4096);
  read.finish_message();
  receive(read, 10);
  EXPECT_EQ(read.buffer().size(), 10u);
}

}  // namespace
}  // namespace ablo::net
