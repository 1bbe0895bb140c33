// FencedOutbox: a frame pushed after deltas reaches the socket only once this node has
// published through its fence and the client has acknowledged what it was sent; everything
// else keeps its order and nothing waits forever.
#include "net/fenced_outbox.h"

#include <functional>
#include <string>
#include <vector>

#include <gtest/gtest.h>

namespace ablo::net {
namespace {

using namespace std::chrono_literals;

// What reached the socket, in order: frames as text, deltas as "delta:<id>", a close as "close:<code>".
struct RecordingSocket : fanout::Outbox {
  void push_frame(std::string frame) override { sent.push_back(std::move(frame)); }
  void push_delta(std::shared_ptr<const fanout::EncodedDelta> delta) override {
    sent.push_back("delta:" + std::to_string(delta->id));
  }
  void close(int code, std::string) override { sent.push_back("close:" + std::to_string(code)); }
  std::vector<std::string> sent;
};

class FencedOutboxTest : public ::testing::Test {
 protected:
  std::shared_ptr<const fanout::EncodedDelta> delta(int64_t id) {
    return std::make_shared<fanout::EncodedDelta>(fanout::EncodedDelta{id, "{}"});
  }
  // Runs the rechecks the outbox scheduled (each may schedule the next).
  void run_rechecks() {
    auto due = std::move(scheduled);
    scheduled.clear();
    for (auto& task : due) task();
  }

  RecordingSocket socket;
  int64_t published_head = 0;
  std::vector<std::function<void()>> scheduled;
  FencedOutbox::Clock::time_point now{};
  FencedOutbox outbox{socket, [this] { return published_head; },
                      [this](std::chrono::milliseconds, std::function<void()> task) { scheduled.push_back(std::move(task)); },
                      [this] { return now; }};
};

TEST_F(FencedOutboxTest, AClientThatNeverAcknowledgedGetsFencedFramesAtOnce) {
  outbox.push_delta(delta(1));
  outbox.push_after_deltas("granted", 1);
  EXPECT_EQ(socket.sent, (std::vector<std::string>{"delta:1", "granted"}));
}

TEST_F(FencedOutboxTest, AGrantWaitsUntilTheClientAcknowledgedTheDeltasBeforeIt) {
  outbox.push_delta(delta(1));
  outbox.acknowledged(1);
  outbox.push_delta(delta(2));  // the previous holder's last write
  published_head = 2;
  outbox.push_after_deltas("granted", 2);
  outbox.push_frame("presence");  // queues behind the grant
  outbox.push_delta(delta(3));    // deltas never wait
  EXPECT_EQ(socket.sent, (std::vector<std::string>{"delta:1", "delta:2", "delta:3"}));

  outbox.acknowledged(1);  // a repeated old ack changes nothing
  EXPECT_EQ(socket.sent.size(), 3u);
  outbox.acknowledged(2);  // the client has applied the write: the grant goes, then what queued behind it
  EXPECT_EQ(socket.sent, (std::vector<std::string>{"delta:1", "delta:2", "delta:3", "granted", "presence"}));
  outbox.push_frame("after");
  EXPECT_EQ(socket.sent.back(), "after") << "nothing is held any more";
}

TEST_F(FencedOutboxTest, AFenceThisNodeHasNotPublishedYetWaitsForTheHead) {
  outbox.push_delta(delta(4));
  outbox.acknowledged(4);
  // The release happened on another node after a write this node has not published yet.
  outbox.push_after_deltas("granted", 5);
  run_rechecks();
  EXPECT_EQ(socket.sent, (std::vector<std::string>{"delta:4"})) << "acked everything sent, but the fence is ahead";
  outbox.push_delta(delta(5));  // published here now
  published_head = 5;
  run_rechecks();
  EXPECT_EQ(socket.sent, (std::vector<std::string>{"delta:4", "delta:5"}));
  outbox.acknowledged(5);
  EXPECT_EQ(socket.sent.back(), "granted");
}

TEST_F(FencedOutboxTest, AFenceReachedThroughDeltasThisClientCannotSeeReleasesOnTheAckOfWhatItGot) {
  outbox.push_delta(delta(3));
  outbox.acknowledged(3);
  outbox.push_after_deltas("granted", 9);  // 4..9 went to other groups
  EXPECT_TRUE(socket.sent.back() == "delta:3");
  published_head = 9;
  run_rechecks();
  EXPECT_EQ(socket.sent.back(), "granted");
}

TEST_F(FencedOutboxTest, AGrantWaitsForTheAcknowledgementOfDeltasThatCameInACatchUpAnswer) {
  // A client resuming on a new socket: ack of its cursor, then the catch-up answer carrying
  // the previous holder's last write (7), then the re-sent claim is granted.
  outbox.acknowledged(5);
  outbox.push_catch_up("sync_response", 7);
  published_head = 7;
  outbox.push_after_deltas("granted", 7);
  EXPECT_EQ(socket.sent, (std::vector<std::string>{"sync_response"}));
  outbox.acknowledged(7);
  EXPECT_EQ(socket.sent, (std::vector<std::string>{"sync_response", "granted"}));
}

TEST_F(FencedOutboxTest, CatchUpAnswersDoNotQueueBehindAHeldFrame) {
  outbox.push_delta(delta(1));
  outbox.acknowledged(1);
  outbox.push_delta(delta(2));
  published_head = 2;
  outbox.push_after_deltas("granted", 2);
  outbox.push_catch_up("sync_response", 0);  // the client must get it to go on
  EXPECT_EQ(socket.sent, (std::vector<std::string>{"delta:1", "delta:2", "sync_response"}));
  outbox.acknowledged(2);
  EXPECT_EQ(socket.sent.back(), "granted");
}

TEST_F(FencedOutboxTest, NothingIsHeldLongerThanTheCap) {
  outbox.push_delta(delta(1));
  outbox.acknowledged(1);
  outbox.push_delta(delta(2));
  published_head = 2;
  outbox.push_after_deltas("granted", 2);
  now += FencedOutbox::kMaxHold - 1ms;
  run_rechecks();
  EXPECT_EQ(socket.sent.back(), "delta:2");
  ASSERT_FALSE(scheduled.empty()) << "still held, so another recheck is due";
  now += 1ms;
  run_rechecks();
  EXPECT_EQ(socket.sent.back(), "granted");
  EXPECT_TRUE(scheduled.empty()) << "nothing held: no more rechecks";
}

TEST_F(FencedOutboxTest, ACloseSendsWhatWasHeldFirst) {
  outbox.push_delta(delta(1));
  outbox.acknowledged(0);
  published_head = 1;
  outbox.push_after_deltas("granted", 1);
  outbox.close(4003, "revoked");
  EXPECT_EQ(socket.sent, (std::vector<std::string>{"delta:1", "granted", "close:4003"}));
}

}  // namespace
}  // namespace ablo::net
