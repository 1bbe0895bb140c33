// Several `ablo serve` nodes on one PostgreSQL (run in the postgres pass of the suite): the
// shared delta log reaches every node's subscribers in order, clients of a killed node resume
// elsewhere with every confirmed write exactly once, claims have one holder and one FIFO line
// across nodes and a claim held through a killed node lapses within its TTL, a PostgreSQL
// restart fails in-flight commits retryably without applying half of any, and a client
// resuming on a node that missed its wake-ups gets nothing twice. The cluster tests
// run once with LISTEN/NOTIFY wake-ups and once with Redis pub/sub, each time with the safety
// poll slowed to a minute, so every delivery inside a test's deadlines is the wake-up's doing.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <map>
#include <set>
#include <thread>

#include <boost/json.hpp>
#include <gtest/gtest.h>

#include "client/transport.h"
#include "integration/quickstart_schema.h"
#include "integration/server_fixture.h"
#include "integration/sync_client.h"
#include "support/pg_database.h"
#include "support/private_postgres.h"
#include "support/private_redis.h"

namespace ablo::testing {
namespace {

namespace json = boost::json;
using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

// No safety poll within any test's deadlines.
const std::vector<std::string> kWakeupsOnly = {"--cluster-poll-ms", "60000"};

std::vector<std::string> with_redis(const PrivateRedis& redis, std::vector<std::string> args = kWakeupsOnly) {
  args.insert(args.end(), {"--redis", redis.url()});
  return args;
}

// The parameter: how nodes wake each other, "notify" (PostgreSQL) or "redis".
class ClusterTest : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    if (!testing_postgres()) GTEST_SKIP() << "cluster tests run in the PostgreSQL pass";
    database = std::make_unique<TempPgDatabase>();
    if (GetParam() == "redis") redis = std::make_unique<PrivateRedis>();
  }
  std::unique_ptr<ServerProcess> node() {
    return std::make_unique<ServerProcess>(kQuickstartSchema, database->url(),
                                           redis ? with_redis(*redis) : kWakeupsOnly);
  }
  std::unique_ptr<TempPgDatabase> database;
  std::unique_ptr<PrivateRedis> redis;
};

INSTANTIATE_TEST_SUITE_P(Wakeups, ClusterTest, ::testing::Values("notify", "redis"),
                         [](const auto& info) { return info.param; });

// Reads frames until `done` holds for the deltas gathered so far (or the timeout passes).
std::vector<json::object> gather(Client& client, std::vector<json::object> gathered,
                                 const std::function<bool(const std::vector<json::object>&)>& done,
                                 std::chrono::milliseconds timeout = 15s) {
  const auto deadline = Clock::now() + timeout;
  for (auto& frame : client.unread) {
    for (auto& d : deltas_in(frame)) gathered.push_back(std::move(d));
  }
  client.unread.clear();
  while (!done(gathered) && Clock::now() < deadline) {
    auto frame = receive_until(*client.ws, [](const json::object&) { return true; }, 200ms);
    if (!frame) continue;
    for (auto& d : deltas_in(*frame)) gathered.push_back(std::move(d));
  }
  return gathered;
}

std::vector<int64_t> ids_of(const std::vector<json::object>& deltas) {
  std::vector<int64_t> ids;
  for (const auto& d : deltas) ids.push_back(d.at("id").as_int64());
  return ids;
}

bool has_row(const std::vector<json::object>& deltas, const std::string& id) {
  return std::any_of(deltas.begin(), deltas.end(), [&](const json::object& d) { return d.at("modelId") == id.c_str(); });
}

// Whether a delta for row `id` reaches `client` within `timeout`.
bool delivered(Client& client, const std::string& id, std::chrono::milliseconds timeout) {
  return has_row(gather(client, {}, [&](const auto& got) { return has_row(got, id); }, timeout), id);
}

json::array create(const std::string& id, const std::string& tx) {
  return json::array{op("CREATE", id, {{"location", "x"}, {"status", "pending"}}, tx)};
}

TEST_P(ClusterTest, CommitsOnAnyNodeReachEverySubscriberOnEveryNodeInOrderWithoutGaps) {
  auto a = node(), b = node(), c = node();
  std::vector<Client> subscribers;
  for (auto* server : {a.get(), b.get(), c.get()}) subscribers.push_back(Client::connect(*server));

  constexpr int kPerWriter = 40;
  auto write = [&](ServerProcess& server, const std::string& prefix) {
    auto writer = Client::connect(server);
    std::vector<std::string> txs;
    for (int i = 0; i < kPerWriter; ++i) txs.push_back(writer.commit(create(prefix + std::to_string(i), prefix + std::to_string(i))));
    for (const auto& tx : txs) EXPECT_EQ(writer.result_of(tx).at("success"), true);
  };
  std::thread on_a([&] { write(*a, "a"); });
  std::thread on_c([&] { write(*c, "c"); });
  on_a.join();
  on_c.join();

  for (std::size_t n = 0; n < subscribers.size(); ++n) {
    auto deltas = gather(subscribers[n], {}, [](const auto& got) { return got.size() >= 2 * kPerWriter; });
    ASSERT_EQ(deltas.size(), 2u * kPerWriter) << "subscriber on node " << n;
    const auto ids = ids_of(deltas);
    for (std::size_t i = 1; i < ids.size(); ++i) ASSERT_EQ(ids[i], ids[i - 1] + 1) << "node " << n << " at " << i;
    std::set<std::string> rows;
    for (const auto& d : deltas) rows.insert(std::string(d.at("modelId").as_string()));
    EXPECT_EQ(rows.size(), 2u * kPerWriter);
  }
}

TEST_P(ClusterTest, ClientsOfAKilledNodeResumeElsewhereWithEveryConfirmedWriteExactlyOnce) {
  auto a = node(), b = node(), c = node();
  auto subscriber = Client::connect(*a);
  auto writer = Client::connect(*a);
  constexpr int kCommits = 60;
  std::vector<std::string> txs;
  for (int i = 0; i < kCommits; ++i) txs.push_back(writer.commit(create("k" + std::to_string(i), "k" + std::to_string(i))));
  // Kill the node after some of the stream is confirmed, with the rest in flight.
  std::set<std::string> confirmed;
  while (confirmed.size() < 10) {
    auto result = writer.await([](const json::object& f) { return f.at("type") == "mutation_result"; });
    ASSERT_TRUE(result);
    if (result->at("payload").at("success") == true) {
      confirmed.insert(std::string(result->at("payload").at("clientTxId").as_string()));
    }
  }
  auto before = gather(subscriber, {}, [](const auto& got) { return got.size() >= 5; });
  a->kill_hard();
  while (auto result = writer.await([](const json::object& f) { return f.at("type") == "mutation_result"; }, 1s)) {
    if (result->at("payload").at("success") == true) {
      confirmed.insert(std::string(result->at("payload").at("clientTxId").as_string()));
    }
  }

  // The writer resends what it never heard about, with the same ids, to another node.
  writer.reconnect(*b, 0);
  std::vector<std::string> resent;
  for (int i = 0; i < kCommits; ++i) {
    const std::string& tx = txs[static_cast<std::size_t>(i)];
    if (confirmed.count(tx)) continue;
    writer.ws->send_text(json::serialize(json::object{
        {"type", "commit"},
        {"payload", {{"operations", create("k" + std::to_string(i), "k" + std::to_string(i))}, {"clientTxId", tx}}}}));
    resent.push_back(tx);
  }
  for (const auto& tx : resent) EXPECT_EQ(writer.result_of(tx).at("success"), true) << tx;

  // The subscriber resumes from its cursor on a third node.
  const int64_t cursor = before.empty() ? 0 : before.back().at("id").as_int64();
  subscriber.reconnect(*c, cursor);
  auto after = gather(subscriber, deltas_in(subscriber.first_sync), [&](const auto& got) {
    return before.size() + got.size() >= static_cast<std::size_t>(kCommits);
  });
  std::map<std::string, int> seen;
  int64_t last = 0;
  for (const auto* part : {&before, &after}) {
    for (const auto& d : *part) {
      EXPECT_GT(d.at("id").as_int64(), last);
      last = d.at("id").as_int64();
      ++seen[std::string(d.at("modelId").as_string())];
    }
  }
  EXPECT_EQ(seen.size(), static_cast<std::size_t>(kCommits));
  for (const auto& [row, times] : seen) EXPECT_EQ(times, 1) << row;
}

// A node killed between its commit and its wake-up leaves the others unaware of that commit
// until their safety poll (a minute here), and when every write a client resends elsewhere was
// among those, no later commit wakes them either. Stood in for by a node that announces on a
// Redis no other node listens to. A client resuming on another node — its cursor below what
// that node has published, so nothing looks missing — still gets the commit in its answer.
TEST_P(ClusterTest, AResumingClientGetsEveryCommittedDeltaThoughItsWakeUpWasLost) {
  PrivateRedis unheard;
  auto heard = node();
  auto silent = std::make_unique<ServerProcess>(kQuickstartSchema, database->url(), with_redis(unheard));
  auto subscriber = Client::connect(*heard);
  auto writer = Client::connect(*heard);
  const auto first = writer.result_of(writer.commit(create("w1", "tx-w1")));
  ASSERT_EQ(first.at("success"), true);
  const int64_t cursor = first.at("lastSyncId").as_int64();
  ASSERT_TRUE(delivered(subscriber, "w1", 10s));

  auto unannounced_writer = Client::connect(*silent);
  ASSERT_EQ(unannounced_writer.result_of(unannounced_writer.commit(create("w2", "tx-w2"))).at("success"), true);
  ASSERT_FALSE(delivered(subscriber, "w2", 1s)) << "the wake-up reached the node: this test shows nothing";

  subscriber.reconnect(*heard, cursor);
  const auto answer = deltas_in(subscriber.first_sync);
  EXPECT_TRUE(has_row(answer, "w2")) << "the resumed client's answer left out a committed delta";
  EXPECT_FALSE(has_row(answer, "w1")) << "resent what the cursor covers";
}

TEST_P(ClusterTest, ClaimsHaveOneHolderAcrossNodesAndLapseWithinTheTtlWhenTheHoldersNodeDies) {
  auto a = node(), b = node(), c = node();
  auto holder = Client::connect(*a);
  auto waiter = Client::connect(*b);
  auto bystander = Client::connect(*c);
  constexpr int64_t kTtlMs = 2000;
  begin_claim(holder, "int-holder", "r1", /*queue=*/false, kTtlMs);
  ASSERT_TRUE(await_intent(holder, "intent_acquired", "int-holder"));
  // Presence crosses nodes: the bystander on node c sees the holder's claim.
  auto presence = bystander.await([&](const json::object& f) {
    return f.at("type") == "presence_update" && f.at("payload").at("activeIntents").as_array().size() == 1;
  });
  ASSERT_TRUE(presence);
  const auto holder_id = presence->at("payload").at("userId");
  // One holder: a non-queued claim on another node is refused, naming the holder.
  begin_claim(bystander, "int-bystander", "r1", /*queue=*/false, kTtlMs);
  auto rejected = await_intent(bystander, "intent_rejected", "int-bystander");
  ASSERT_TRUE(rejected);
  EXPECT_EQ(rejected->at("heldBy"), holder_id);
  // FIFO across nodes: the waiter on node b queues behind it.
  begin_claim(waiter, "int-waiter", "r1", /*queue=*/true, kTtlMs);
  auto queued = await_intent(waiter, "intent_queued", "int-waiter");
  ASSERT_TRUE(queued);
  EXPECT_EQ(queued->at("position"), 0);

  std::this_thread::sleep_for(1500ms);  // past half the TTL: the holder's node has renewed it
  EXPECT_FALSE(await_intent(waiter, "intent_granted", "int-waiter", 100ms)) << "granted while the holder was alive";
  const auto killed_at = Clock::now();
  a->kill_hard();
  auto granted = await_intent(waiter, "intent_granted", "int-waiter", 10s);
  ASSERT_TRUE(granted) << "the claim of the dead node's client never lapsed";
  const auto waited = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - killed_at);
  // The claim lapses at its expiresAt, at most one TTL after the crash (the last renewal came
  // before it); the slack covers the sweep interval (100 ms) and applying the op, also under
  // sanitizers.
  EXPECT_LE(waited.count(), 2000 + 1500) << "lapsed later than the TTL (2 s) after the crash";
  EXPECT_EQ(granted->at("intentId"), "int-waiter");
}

// client.md T41 across nodes: the release happens on node a, the waiter is on node b; its
// grant still waits until it has acknowledged the holder's last write, which node b may
// publish after it applied the release (the op carries node a's delta head as the fence).
TEST_P(ClusterTest, AGrantOnAnotherNodeWaitsUntilTheWaiterAcknowledgedTheHoldersLastWrite) {
  auto a = node(), b = node();
  auto holder = Client::connect(*a);
  auto waiter = Client::connect(*b);
  const auto created = holder.result_of(holder.commit(create("r2", "tx-r2")));
  ASSERT_EQ(created.at("success"), true);
  const int64_t created_id = created.at("lastSyncId").as_int64();
  ASSERT_TRUE(waiter.await([&](const json::object& f) { return is_delta_with_id(f, created_id); }, 10s));
  send_frame(waiter, "ack", {{"lastSyncId", created_id}});  // it acknowledges what it applies, as 0.9.1 does

  begin_claim(holder, "int-a", "r2");
  ASSERT_TRUE(await_intent(holder, "intent_acquired", "int-a"));
  begin_claim(waiter, "int-b", "r2");
  ASSERT_TRUE(await_intent(waiter, "intent_queued", "int-b"));
  auto written = holder.result_of(holder.commit(json::array{op("UPDATE", "r2", {{"forecast", "from a"}}, "tx-r2-a")}));
  ASSERT_EQ(written.at("success"), true);
  const int64_t write_id = written.at("lastSyncId").as_int64();
  abandon_claim(holder, "int-a");

  ASSERT_TRUE(waiter.await([&](const json::object& f) { return is_delta_with_id(f, write_id); }, 10s));
  EXPECT_FALSE(await_intent(waiter, "intent_granted", "int-b", 400ms))
      << "granted before the waiter acknowledged the write it would re-read";
  send_frame(waiter, "ack", {{"lastSyncId", write_id}});
  EXPECT_TRUE(await_intent(waiter, "intent_granted", "int-b", 1s)) << "the acknowledgement did not release the grant";
}

// Issue 12 across nodes: the 0.49 claims dialect (claim_*, Ablo-Protocol-Version: 1) and the
// 0.9.1 intents dialect share one line per row on every node of the cluster.

void begin_claim_049(Client& c, const std::string& claim_id, const std::string& row, bool queue) {
  send_frame(c, "claim_begin", {{"claimId", claim_id}, {"entityType", "weatherreports"}, {"entityId", row},
                                {"description", "cluster"}, {"queue", queue}});
}

// An HTTP call with `bearer`; `dialect_049` adds the 0.49 client's version header.
client::HttpResponse call(const ServerProcess& server, const std::string& bearer, const std::string& method,
                          const std::string& target, const std::string& body, bool dialect_049) {
  std::map<std::string, std::string> headers = {{"Authorization", "Bearer " + bearer},
                                                {"Content-Type", "application/json"}};
  if (dialect_049) headers["Ablo-Protocol-Version"] = "1";
  auto response = client::http_request("127.0.0.1", server.port(), method, target, body, headers);
  EXPECT_TRUE(response) << (response ? "" : response.error().message);
  return response ? *response : client::HttpResponse{};
}

// The error code of an HTTP answer: top-level `code` (0.49) or `error.code` (0.9.1).
std::string error_code_of(const client::HttpResponse& response) {
  auto parsed = json::parse(response.body);
  if (!parsed.is_object()) return {};
  const auto& body = parsed.as_object();
  if (const auto* code = body.if_contains("code"); code && code->is_string()) return std::string(code->as_string());
  if (const auto* error = body.if_contains("error"); error && error->is_object()) {
    if (const auto* code = error->as_object().if_contains("code"); code && code->is_string()) {
      return std::string(code->as_string());
    }
  }
  return {};
}

TEST_P(ClusterTest, OneFifoLineAcrossNodesAndDialectsEachGrantInItsOwnVocabulary) {
  auto a = node(), b = node(), c = node();
  auto first = Client::connect(*a);            // 0.9.1 on node a
  auto second = connect_claims_client(*b);     // 0.49 on node b
  auto third = Client::connect(*c);            // 0.9.1 on node c
  const std::string ticket_owner(c->exchange().at("token").as_string());  // 0.49 HTTP on node c
  const std::string row = "d1";

  begin_claim(first, "i-first", row, /*queue=*/false);
  auto acquired = await_intent(first, "intent_acquired", "i-first");
  ASSERT_TRUE(acquired) << "node a did not acquire the free row";
  const int64_t first_fence = acquired->at("fenceToken").as_int64();

  begin_claim_049(second, "c-second", row, /*queue=*/true);
  auto queued = await_claim(second, "claim_queued", "c-second");
  ASSERT_TRUE(queued) << "the 0.49 socket on node b did not queue";
  EXPECT_EQ(queued->at("position"), 0);
  begin_claim(third, "i-third", row, /*queue=*/true);
  auto third_queued = await_intent(third, "intent_queued", "i-third");
  ASSERT_TRUE(third_queued) << "the 0.9.1 socket on node c did not queue";
  EXPECT_EQ(third_queued->at("position"), 1);
  auto ticket = call(*c, ticket_owner, "POST", "/api/v1/models/weatherReports/" + row + "/claim",
                     R"({"description":"ticket","ttl":"5m","queue":true})", /*dialect_049=*/true);
  ASSERT_EQ(ticket.status, 202) << ticket.body;
  const auto ticket_body = json::parse(ticket.body).as_object();
  EXPECT_EQ(ticket_body.at("status"), "queued");
  EXPECT_EQ(ticket_body.at("position"), 2);
  const std::string ticket_id(ticket_body.at("id").as_string());

  // The holder on node a releases: only the head of the line, the 0.49 socket on node b, is granted.
  abandon_claim(first, "i-first");
  auto second_granted = await_claim(second, "claim_granted", "c-second", 10s);
  ASSERT_TRUE(second_granted) << "the 0.49 waiter on node b was not granted";
  EXPECT_GT(second_granted->at("fenceToken").as_int64(), first_fence);
  EXPECT_FALSE(await_intent(third, "intent_granted", "i-third", 500ms)) << "granted out of FIFO order";

  // It releases in its vocabulary: the 0.9.1 socket on node c is next, with a later fence.
  send_frame(second, "claim_abandon", {{"claimId", "c-second"}});
  auto third_granted = await_intent(third, "intent_granted", "i-third", 10s);
  ASSERT_TRUE(third_granted) << "the 0.9.1 waiter on node c was not granted";
  EXPECT_GT(third_granted->at("fenceToken").as_int64(), second_granted->at("fenceToken").as_int64());
  auto waiting = call(*c, ticket_owner, "POST", "/api/v1/claims/" + ticket_id + "/heartbeat", "{}", true);
  ASSERT_EQ(waiting.status, 200) << waiting.body;
  EXPECT_EQ(json::parse(waiting.body).at("status"), "queued") << "the HTTP ticket skipped the line";
  EXPECT_EQ(json::parse(waiting.body).at("position"), 0);

  // Then the HTTP ticket, last in line, holds it with the latest fence.
  abandon_claim(third, "i-third");
  std::string status;
  for (auto deadline = Clock::now() + 10s; status != "held" && Clock::now() < deadline;
       std::this_thread::sleep_for(50ms)) {
    auto beat = call(*c, ticket_owner, "POST", "/api/v1/claims/" + ticket_id + "/heartbeat", "{}", true);
    ASSERT_EQ(beat.status, 200) << beat.body;
    status = std::string(json::parse(beat.body).at("status").as_string());
  }
  ASSERT_EQ(status, "held") << "the HTTP ticket was never granted";
  auto held = call(*c, ticket_owner, "GET", "/api/v1/claims/" + ticket_id, {}, true);
  ASSERT_EQ(held.status, 200) << held.body;
  EXPECT_EQ(json::parse(held.body).at("status"), "active");
  EXPECT_GT(json::parse(held.body).at("fenceToken").as_int64(), third_granted->at("fenceToken").as_int64());

  // Each socket heard only its own vocabulary.
  for (auto* legacy : {&first, &third}) {
    for (const auto& frame : legacy->unread) {
      EXPECT_FALSE(frame.at("type").as_string().starts_with("claim_")) << json::serialize(frame);
    }
  }
  for (const auto& frame : second.unread) {
    EXPECT_FALSE(frame.at("type").as_string().starts_with("intent_")) << json::serialize(frame);
  }
}

TEST(ClusterFaultTest, APostgresRestartFailsInFlightCommitsRetryablyAndAppliesNoneHalfway) {
  if (!testing_postgres()) GTEST_SKIP() << "cluster tests run in the PostgreSQL pass";
  PrivatePostgres postgres;
  ServerProcess a(kQuickstartSchema, postgres.url()), b(kQuickstartSchema, postgres.url());
  auto writer = Client::connect(a);
  auto watcher = Client::connect(b);

  struct Outcome {
    bool success = false;
    std::string code;
    bool retryable = false;
  };
  std::map<int, Outcome> outcomes;
  std::atomic<int> successes{0};
  std::atomic<bool> stop{false};
  std::thread load([&] {
    for (int i = 0; !stop; ++i) {
      const std::string n = std::to_string(i);
      auto result = writer.result_of(writer.commit(json::array{
          op("CREATE", "p" + n + "a", {{"location", "x"}, {"status", "pending"}}, "p" + n + "a"),
          op("CREATE", "p" + n + "b", {{"location", "x"}, {"status", "pending"}}, "p" + n + "b")}));
      Outcome outcome;
      outcome.success = result.at("success") == true;
      if (!outcome.success && result.contains("error")) {
        outcome.code = std::string(result.at("error").at("code").as_string());
        outcome.retryable = result.at("error").as_object().contains("retryable") &&
                            result.at("error").at("retryable") == true;
      }
      outcomes[i] = outcome;
      if (outcome.success) ++successes;
    }
  });
  while (successes < 20) std::this_thread::sleep_for(10ms);
  postgres.restart();
  const int after_restart = successes + 20;
  const auto deadline = Clock::now() + 30s;
  while (successes < after_restart && Clock::now() < deadline) std::this_thread::sleep_for(10ms);
  stop = true;
  load.join();
  ASSERT_GE(successes.load(), after_restart) << "commits never succeeded again after the restart";

  int failed = 0;
  for (const auto& [i, outcome] : outcomes) {
    if (outcome.success) continue;
    ++failed;
    EXPECT_EQ(outcome.code, kStoreUnavailable.view()) << "commit " << i;
    EXPECT_TRUE(outcome.retryable) << "commit " << i;
  }
  EXPECT_GT(failed, 0) << "no commit was in flight during the restart";

  // Every commit is all or nothing: both of its rows, or (failed) neither — as the log says.
  auto bootstrap = client::http_request("127.0.0.1", b.port(), "GET", "/api/sync/bootstrap", {},
                                        {{"Authorization", "Bearer " + writer.token}});
  ASSERT_TRUE(bootstrap);
  ASSERT_EQ(bootstrap->status, 200) << bootstrap->body;
  const auto snapshot = json::parse(bootstrap->body);  // kept alive: the loop walks into it
  std::set<std::string> rows;
  for (const auto& row : snapshot.at("models").at("weatherReports").as_array()) {
    rows.insert(std::string(row.at("id").as_string()));
  }
  for (const auto& [i, outcome] : outcomes) {
    const std::string n = std::to_string(i);
    const bool has_a = rows.count("p" + n + "a") > 0, has_b = rows.count("p" + n + "b") > 0;
    EXPECT_EQ(has_a, has_b) << "commit " << i << " half applied";
    if (outcome.success) {
      EXPECT_TRUE(has_a) << "confirmed commit " << i << " is missing";
    }
  }
  // The other node still follows the log after the restart: it saw the last confirmed write.
  const std::string last = "p" + std::to_string(outcomes.rbegin()->first) + "a";
  EXPECT_TRUE(delivered(watcher, last, 15s)) << "node b stopped delivering after the restart";
}

// With the shared PostgreSQL down no node can order a claim, so none may grant one: every
// dialect's claim fails closed on every node, and claims are granted again once it is back.
TEST(ClusterFaultTest, WithThePostgresDownEveryNodeRefusesClaimsInEveryDialectAndGrantsNone) {
  if (!testing_postgres()) GTEST_SKIP() << "cluster tests run in the PostgreSQL pass";
  PrivatePostgres postgres;
  std::vector<std::unique_ptr<ServerProcess>> nodes;
  for (int n = 0; n < 3; ++n) nodes.push_back(std::make_unique<ServerProcess>(kQuickstartSchema, postgres.url()));
  std::vector<Client> legacy, modern;
  for (auto& server : nodes) {
    legacy.push_back(Client::connect(*server));
    modern.push_back(connect_claims_client(*server));
  }
  std::vector<std::string> tokens;
  for (auto& server : nodes) tokens.emplace_back(server->exchange().at("token").as_string());

  postgres.stop();
  for (std::size_t n = 0; n < nodes.size(); ++n) {
    const ServerProcess& server = *nodes[n];
    const std::string row = "down-" + std::to_string(n);
    auto as_049 = call(server, tokens[n], "POST", "/api/v1/models/weatherReports/" + row + "/claim",
                       R"({"description":"x","queue":true})", /*dialect_049=*/true);
    EXPECT_EQ(as_049.status, 503) << "node " << n << ": " << as_049.body;
    // The claim routes read the row for its write rule before they ask for the lease, so the
    // store's outage answers first: 503, retryable, and nothing held.
    EXPECT_EQ(error_code_of(as_049), "source_network_error") << "node " << n << ": " << as_049.body;
    auto as_091 = call(server, tokens[n], "POST", "/v1/models/weatherReports/" + row + "/claim",
                       R"({"action":"editing"})", /*dialect_049=*/false);
    EXPECT_EQ(as_091.status, 503) << "node " << n << ": " << as_091.body;
    EXPECT_EQ(error_code_of(as_091), "source_network_error") << "node " << n << ": " << as_091.body;
    auto intents_091 = call(server, tokens[n], "POST", "/v1/intents",
                            json::serialize(json::object{{"intentId", "int_down_" + row},
                                                         {"target", {{"model", "weatherReports"}, {"id", row}}},
                                                         {"action", "editing"}}),
                            /*dialect_049=*/false);
    EXPECT_EQ(intents_091.status, 503) << "node " << n << ": " << intents_091.body;
    EXPECT_EQ(error_code_of(intents_091), "source_network_error") << "node " << n << ": " << intents_091.body;

    begin_claim_049(modern[n], "c-down", row, /*queue=*/false);
    auto refused = await_claim(modern[n], "claim_rejected", "c-down", 10s);
    ASSERT_TRUE(refused) << "node " << n << ": a 0.49 claim_begin went unanswered";
    EXPECT_EQ(refused->at("reason"), "coordination_unavailable") << "node " << n << ": " << json::serialize(*refused);
    begin_claim(legacy[n], "i-down", row, /*queue=*/false);
    auto rejected = await_intent(legacy[n], "intent_rejected", "i-down", 10s);
    ASSERT_TRUE(rejected) << "node " << n << ": a 0.9.1 intent_begin went unanswered";
    EXPECT_EQ(rejected->at("error").at("code"), "source_network_error") << json::serialize(*rejected);
  }
  // Nothing was granted meanwhile, on any node, in any dialect.
  for (auto* clients : {&legacy, &modern}) {
    for (auto& client : *clients) {
      client.await([](const json::object&) { return false; }, 300ms);
      for (const auto& frame : client.unread) {
        const std::string_view type = frame.at("type").as_string();
        EXPECT_TRUE(type != "intent_acquired" && type != "intent_granted" && type != "claim_acquired" &&
                    type != "claim_granted") << "granted during the outage: " << json::serialize(frame);
      }
    }
  }

  postgres.start();
  const auto deadline = Clock::now() + 30s;
  int status = 0;
  for (int attempt = 0; status != 201 && Clock::now() < deadline; ++attempt) {
    std::this_thread::sleep_for(200ms);
    status = call(*nodes[1], tokens[1], "POST", "/api/v1/models/weatherReports/up-" + std::to_string(attempt) + "/claim",
                  R"({"description":"back","queue":true})", /*dialect_049=*/true).status;
  }
  EXPECT_EQ(status, 201) << "no claim was granted after PostgreSQL came back";
  begin_claim(legacy[2], "i-up", "up-socket", /*queue=*/false);
  EXPECT_TRUE(await_intent(legacy[2], "intent_acquired", "i-up", 10s)) << "a 0.9.1 socket could not claim again";
}

// Two nodes woken through one Redis, with the safety poll at a minute: while Redis is down,
// nothing wakes a node.
class ClusterRedisFaultTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!testing_postgres()) GTEST_SKIP() << "cluster tests run in the PostgreSQL pass";
    database = std::make_unique<TempPgDatabase>();
    redis = std::make_unique<PrivateRedis>();
    a = std::make_unique<ServerProcess>(kQuickstartSchema, database->url(), with_redis(*redis));
    b = std::make_unique<ServerProcess>(kQuickstartSchema, database->url(), with_redis(*redis));
  }
  std::unique_ptr<TempPgDatabase> database;
  std::unique_ptr<PrivateRedis> redis;
  std::unique_ptr<ServerProcess> a, b;
};

TEST_F(ClusterRedisFaultTest, ARedisRestartOnlyPausesWakeUpsAndLosesNothing) {
  auto writer = Client::connect(*a);
  auto watcher = Client::connect(*b);
  auto commit_row = [&](const std::string& id) {
    EXPECT_EQ(writer.result_of(writer.commit(create(id, id))).at("success"), true) << "commits do not need Redis: " << id;
  };

  commit_row("before");
  EXPECT_TRUE(delivered(watcher, "before", 10s));
  redis->stop();
  commit_row("during");
  // With the safety poll at a minute, nothing wakes node b while Redis is down.
  EXPECT_FALSE(delivered(watcher, "during", 1500ms)) << "delivered without Redis: this test would prove nothing";
  redis->start();
  EXPECT_TRUE(delivered(watcher, "during", 10s)) << "node b did not resubscribe and catch up";
  commit_row("after");
  EXPECT_TRUE(delivered(watcher, "after", 10s)) << "node a did not resume publishing";
}

TEST_F(ClusterRedisFaultTest, AClientResumingOnANodeThatMissedTheWakeUpsGetsEveryDeltaOnce) {
  auto subscriber = Client::connect(*a);
  auto writer = Client::connect(*a);
  // Node b hears of none of these.
  redis->stop();
  for (int i = 0; i < 5; ++i) {
    const std::string id = "k" + std::to_string(i);
    EXPECT_EQ(writer.result_of(writer.commit(create(id, id))).at("success"), true);
  }
  auto before = gather(subscriber, {}, [](const auto& got) { return got.size() >= 5; });
  ASSERT_EQ(before.size(), 5u);
  const int64_t cursor = before.back().at("id").as_int64();

  // The subscriber resumes on node b from its cursor: nothing again, the cursor kept ...
  subscriber.reconnect(*b, cursor);
  EXPECT_TRUE(deltas_in(subscriber.first_sync).empty());
  EXPECT_EQ(subscriber.first_sync.at("payload").at("currentSyncId").as_int64(), cursor);
  // ... and the next write reaches it once, alone.
  auto writer_on_b = Client::connect(*b);
  EXPECT_EQ(writer_on_b.result_of(writer_on_b.commit(create("k5", "k5"))).at("success"), true);
  auto after = gather(subscriber, {}, [](const auto& got) { return has_row(got, "k5"); }, 10s);
  ASSERT_TRUE(has_row(after, "k5"));
  EXPECT_EQ(ids_of(after), (std::vector<int64_t>{cursor + 1})) << "deltas the client already had were sent again";
}

}  // namespace
}  // namespace ablo::testing
