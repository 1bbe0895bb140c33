#include "fanout/log_follower.h"

#include <atomic>
#include <condition_variable>
#include <mutex>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "fanout/fakes.h"

namespace ablo::fanout {
namespace {

using namespace fakes;
using namespace std::chrono_literals;

// The shared log behind a LogFollower, whose reads can be held before they return, to line callers up.
struct LogFollowerTest : ::testing::Test {
  FakeLog log;
  Hub hub{[this](const std::string& t, int64_t a, int64_t u, int l) { return log.read(t, a, u, l); }};
  std::mutex gate_mutex;
  std::condition_variable gate_changed;
  bool gate_open = true;
  int reads_started = 0;  // guarded by gate_mutex
  // A read sees the log as it is when the read starts, then waits for the gate to return it.
  LogFollower follower{hub, [this](int64_t after, int limit) {
                         auto page = log.read("org_1/test", after, INT64_MAX, limit);
                         std::unique_lock lock(gate_mutex);
                         ++reads_started;
                         gate_changed.notify_all();
                         gate_changed.wait(lock, [this] { return gate_open; });
                         return page;
                       }};

  int reads() {
    std::lock_guard lock(gate_mutex);
    return reads_started;
  }
  void set_gate(bool open) {
    std::lock_guard lock(gate_mutex);
    gate_open = open;
    gate_changed.notify_all();
  }
  // Whether `n` reads have started within a few seconds.
  bool await_reads(int n) {
    std::unique_lock lock(gate_mutex);
    return gate_changed.wait_for(lock, 5s, [&] { return reads_started >= n; });
  }
};

TEST_F(LogFollowerTest, PublishesEveryCommittedDeltaInIdOrderFromWhereItStarted) {
  RecordingOutbox outbox;
  auto sub = hub.subscribe("org_1/test", {"org:org_1"}, &outbox);
  ASSERT_TRUE(hub.catch_up(sub, 0));
  follower.start_at(1);  // 1 is history
  for (int64_t id = 1; id <= 4; ++id) log.append(delta(id, {"org:org_1"}));
  ASSERT_TRUE(follower.catch_up());
  EXPECT_EQ(outbox.live_ids, (std::vector<int64_t>{2, 3, 4}));
  EXPECT_EQ(follower.published_through(), 4);
  ASSERT_TRUE(follower.catch_up());
  EXPECT_EQ(outbox.live_ids, (std::vector<int64_t>{2, 3, 4})) << "nothing twice";
  hub.unsubscribe(sub);
}

// Calls that wait while a read is under way share the next read: it began after each of them,
// so it sees everything each would have. A call never returns on a read that began before it.
TEST_F(LogFollowerTest, CallersThatWaitTogetherShareOneReadThatBeganAfterThem) {
  constexpr int kWaiting = 8;
  log.append(delta(1, {"org:org_1"}));
  set_gate(false);
  std::thread first([&] { EXPECT_TRUE(follower.catch_up()); });
  if (!await_reads(1)) {  // the first read is in progress, before delta 2 was committed
    set_gate(true);
    first.join();
    FAIL() << "the first call never read the log";
  }
  log.append(delta(2, {"org:org_1"}));
  std::atomic<int> returned{0};
  std::vector<std::thread> waiting;
  for (int i = 0; i < kWaiting; ++i) {
    waiting.emplace_back([&] {
      EXPECT_TRUE(follower.catch_up());
      EXPECT_EQ(follower.published_through(), 2) << "returned before delta 2, committed before the call, was published";
      ++returned;
    });
  }
  std::this_thread::sleep_for(100ms);  // let them reach the follower's lock
  EXPECT_EQ(returned.load(), 0) << "no caller may settle for the read that began before it";
  set_gate(true);
  first.join();
  for (auto& t : waiting) t.join();
  EXPECT_EQ(returned.load(), kWaiting);
  // One read for the first call and one shared by the rest. A waiter the scheduler kept from
  // reaching the lock for 100 ms would start a read of its own; all of them, one each.
  EXPECT_GE(reads(), 2);
  EXPECT_LT(reads(), 1 + kWaiting) << "every waiting caller read the log itself";
}

// A read that failed covers no one: the next call reads again.
TEST_F(LogFollowerTest, AFailedReadIsNotSharedWithLaterCalls) {
  int calls = 0;
  bool failing = true;
  LogFollower flaky(hub, [&](int64_t after, int limit) -> Result<std::vector<store::Delta>> {
    ++calls;
    if (failing) return tl::unexpected(Error(kStoreUnavailable, "down"));
    return log.read("org_1/test", after, INT64_MAX, limit);
  });
  log.append(delta(1, {"org:org_1"}));
  EXPECT_FALSE(flaky.catch_up());
  failing = false;
  ASSERT_TRUE(flaky.catch_up());
  EXPECT_EQ(calls, 2);
  EXPECT_EQ(flaky.published_through(), 1);
}

}  // namespace
}  // namespace ablo::fanout
