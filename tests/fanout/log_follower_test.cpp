#include "fanout/log_follower.h"

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <map>
#include <mutex>
#include <thread>
#include <vector>

#include <gtest/gtest.h>
#include <rapidcheck/gtest.h>

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


// One cluster node's view of the shared log, driven by a random script of what can happen to
// it: other nodes commit (their wake-up may come late or never), this node commits, a wake-up
// or safety poll arrives, a client drops and resumes from its cursor. Whatever the order:
//  * a resumed client's answer holds every delta it may see committed before it asked;
//  * across its connections a client sees each visible delta once, in id order, and nothing
//    it may not see;
//  * after a last wake-up every client has every visible delta.
class NodeModel {
 public:
  NodeModel() {
    follower_.start_at(0);
    hub_.set_log_follower([this](int64_t through) { return follower_.catch_up(through); });
    for (std::size_t c = 0; c < kClientGroups.size(); ++c) connect(c, 0);
  }
  ~NodeModel() {
    for (auto& client : clients_) hub_.unsubscribe(client.subscription);
  }

  void other_node_commits(int groups) { log_.append(next_delta(groups)); }
  void this_node_commits(int groups) {
    auto d = next_delta(groups);
    log_.append(d);
    RC_ASSERT(follower_.publish_committed({d}));
  }
  void wake_up() { RC_ASSERT(follower_.catch_up()); }
  void resume(std::size_t c) {
    auto& client = clients_[c];
    absorb(client);
    hub_.unsubscribe(client.subscription);
    const int64_t committed = head_;
    connect(c, client.cursor);
    absorb(clients_[c]);
    RC_ASSERT(clients_[c].seen == visible_to(c, committed));
  }
  // Every client's deltas so far: in id order, once each, only what it may see.
  void check_every_client() {
    for (std::size_t c = 0; c < clients_.size(); ++c) {
      absorb(clients_[c]);
      const auto& seen = clients_[c].seen;
      RC_ASSERT(std::is_sorted(seen.begin(), seen.end()));
      RC_ASSERT(std::adjacent_find(seen.begin(), seen.end()) == seen.end());
      const auto allowed = visible_to(c, head_);
      RC_ASSERT(std::includes(allowed.begin(), allowed.end(), seen.begin(), seen.end()));
    }
  }
  void check_all_delivered() {
    for (std::size_t c = 0; c < clients_.size(); ++c) {
      absorb(clients_[c]);
      RC_ASSERT(clients_[c].seen == visible_to(c, head_));
    }
  }

 private:
  // The groups each client subscribes to; a delta's groups are picked from kDeltaGroups.
  static inline const std::vector<std::vector<std::string>> kClientGroups = {{"org:org_1"}, {"team:a"}};
  static inline const std::vector<std::vector<std::string>> kDeltaGroups = {
      {"org:org_1"}, {"team:a"}, {"org:org_1", "team:a"}, {"team:other"}};

  struct Client {
    std::unique_ptr<RecordingOutbox> outbox;  // this connection's
    std::shared_ptr<Subscription> subscription;
    std::size_t absorbed = 0;  // outbox ids already in `seen`
    std::vector<int64_t> seen;  // across connections, as the client applied them
    int64_t cursor = 0;         // what it resumes from: its last delta id or currentSyncId
  };

  store::Delta next_delta(int groups) {
    return delta(++head_, kDeltaGroups[static_cast<std::size_t>(groups) % kDeltaGroups.size()]);
  }
  void connect(std::size_t c, int64_t cursor) {
    if (clients_.size() <= c) clients_.resize(c + 1);
    auto& client = clients_[c];
    client.outbox = std::make_unique<RecordingOutbox>();
    client.absorbed = 0;
    client.subscription = hub_.subscribe("org_1/test", kClientGroups[c], client.outbox.get());
    RC_ASSERT(hub_.catch_up(client.subscription, cursor));
  }
  // Moves what the client's connection received into what it has applied, and its cursor on.
  void absorb(Client& client) {
    const auto ids = client.outbox->received();
    for (std::size_t i = client.absorbed; i < ids.size(); ++i) client.seen.push_back(ids[i]);
    client.absorbed = ids.size();
    if (!client.seen.empty()) client.cursor = std::max(client.cursor, client.seen.back());
    std::lock_guard lock(client.outbox->mutex_);
    for (const auto& frame : client.outbox->frames) {
      if (frame.at("type") == "sync_response") {
        client.cursor = std::max(client.cursor, frame.at("payload").at("currentSyncId").as_int64());
      }
    }
  }
  std::vector<int64_t> visible_to(std::size_t c, int64_t through) {
    std::vector<int64_t> ids;
    const auto committed = log_.read("org_1/test", 0, through, INT32_MAX);
    for (const auto& d : *committed) {
      const auto& groups = kClientGroups[c];
      if (std::any_of(d.sync_groups.begin(), d.sync_groups.end(),
                      [&](const std::string& g) { return std::find(groups.begin(), groups.end(), g) != groups.end(); })) {
        ids.push_back(d.id);
      }
    }
    return ids;
  }

  FakeLog log_;
  Hub hub_{[this](const std::string& t, int64_t a, int64_t u, int l) { return log_.read(t, a, u, l); }, 3};
  LogFollower follower_{hub_, [this](int64_t after, int limit) { return log_.read("org_1/test", after, INT64_MAX, limit); }, 3};
  int64_t head_ = 0;  // the shared log's last committed id
  std::vector<Client> clients_;
};

RC_GTEST_PROP(ClusterNodeProperty, AResumedClientGetsEverythingCommittedBeforeItAskedOnceAndInOrder,
              (const std::vector<std::pair<uint8_t, uint8_t>>& script)) {
  NodeModel node;
  for (const auto& [what, arg] : script) {
    switch (what % 4) {
      case 0: node.other_node_commits(arg); break;
      case 1: node.this_node_commits(arg); break;
      case 2: node.wake_up(); break;
      case 3: node.resume(arg % 2); break;
    }
    node.check_every_client();
  }
  node.wake_up();
  node.check_all_delivered();
}

}  // namespace
}  // namespace ablo::fanout
