// U2 (docs/client-library.md §14.1): frames, order, immutability, coalescing, classification,
// the connected-time retry window, rollback and confirmation.
#include "sdk/outbox.h"

#include <algorithm>
#include <set>

#include <boost/json.hpp>
#include <gtest/gtest.h>

#include "errors/registry.h"
#include "sdk/sdk_test_schema.h"

namespace ablo::sdk_detail::outbox_test_helpers {
namespace {

namespace json = boost::json;
using std::chrono::milliseconds;

OutboxEntry entry(int64_t seq, Action action, std::string model, std::string row_id, JsonObject data = {}) {
  OutboxEntry out;
  out.seq = seq;
  out.action = action;
  out.model = std::move(model);
  out.row_id = std::move(row_id);
  out.data = std::move(data);
  out.transaction_id = "tx_" + std::to_string(seq);
  if (action != Action::kCreate) {
    out.read_at = 10;
    out.on_stale = OnStale::kReject;
  }
  return out;
}

OutboxEntry update(int64_t seq, std::string row_id, JsonObject patch) {
  return entry(seq, Action::kUpdate, "tasks", std::move(row_id), std::move(patch));
}

class OutboxTest : public ::testing::Test {
 protected:
  Outbox make(OutboxPolicy policy = {}) {
    return Outbox(sdk_test::sdk_test_schema(), policy, [this] { return "uuid" + std::to_string(++ids_); },
                  [this] { return jitter_; });
  }
  void add(Outbox& outbox, OutboxEntry e) {
    auto appended = outbox.append(std::move(e));
    ASSERT_TRUE(appended) << appended.error().message;
    ASSERT_FALSE(appended->merged);
  }
  static json::object parse(const Frame& frame) { return json::parse(frame.wire).as_object(); }
  static std::vector<std::string> wire_ids(const Frame& frame) {
    std::vector<std::string> out;
    const json::object wire = parse(frame);  // kept alive: the loop walks into it
    for (const auto& op : wire.at("payload").at("operations").as_array()) {
      out.push_back(std::string(op.at("type").as_string()) + ":" + std::string(op.at("id").as_string()));
    }
    return out;
  }

  int ids_ = 0;
  double jitter_ = 0.0;
};

TEST_F(OutboxTest, FramesTakeTheOldestEntriesInSeqOrderAtMostFiftyOneInFlight) {
  Outbox outbox = make();
  for (int i = 1; i <= 120; ++i) add(outbox, update(i, "t" + std::to_string(i), {{"position", i}}));
  auto first = outbox.next_frame(Lane::kModel);
  ASSERT_TRUE(first);
  EXPECT_TRUE(first->first_send);
  ASSERT_EQ(first->seqs.size(), 50u);
  EXPECT_EQ(first->seqs.front(), 1);
  EXPECT_EQ(first->seqs.back(), 50);
  EXPECT_TRUE(std::is_sorted(first->seqs.begin(), first->seqs.end()));
  EXPECT_EQ(first->client_tx_id, "ctx_uuid1");
  outbox.mark_sent(*first);
  EXPECT_FALSE(outbox.next_frame(Lane::kModel));  // one frame in flight on the model lane
  outbox.on_success(first->client_tx_id, 500);
  auto second = outbox.next_frame(Lane::kModel);
  ASSERT_TRUE(second);
  EXPECT_EQ(second->seqs.front(), 51);
  EXPECT_EQ(second->seqs.size(), 50u);
  outbox.mark_sent(*second);
  outbox.on_success(second->client_tx_id, 600);
  auto third = outbox.next_frame(Lane::kModel);
  ASSERT_TRUE(third);
  EXPECT_EQ(third->seqs.size(), 20u);
  EXPECT_NE(third->client_tx_id, second->client_tx_id);
}

TEST_F(OutboxTest, CommitFrameHasTheWireShapeTheServerParses) {
  Outbox outbox = make();
  add(outbox, entry(1, Action::kCreate, "tasks", "t1", {{"title", "a"}, {"projectId", "p1"}}));
  add(outbox, update(2, "t2", {{"title", "b"}}));
  OutboxEntry forced = entry(3, Action::kDelete, "tasks", "t3");
  forced.read_at.reset();
  forced.on_stale = OnStale::kForce;
  add(outbox, forced);
  add(outbox, entry(4, Action::kArchive, "projects", "p9"));
  auto frame = outbox.next_frame(Lane::kModel);
  ASSERT_TRUE(frame);
  const json::object wire = parse(*frame);
  EXPECT_EQ(wire.at("type"), "commit");
  const auto& payload = wire.at("payload").as_object();
  EXPECT_EQ(payload.at("clientTxId").as_string(), frame->client_tx_id);
  const auto& ops = payload.at("operations").as_array();
  ASSERT_EQ(ops.size(), 4u);
  const auto& create = ops[0].as_object();
  EXPECT_EQ(create.at("type"), "CREATE");
  EXPECT_EQ(create.at("model"), "task");  // 0.9.1 form: typename lowercased
  EXPECT_EQ(create.at("id"), "t1");
  EXPECT_EQ(create.at("input").at("title"), "a");
  EXPECT_EQ(create.at("transactionId"), "tx_1");
  EXPECT_FALSE(create.contains("readAt"));
  EXPECT_FALSE(create.contains("onStale"));
  const auto& patch = ops[1].as_object();
  EXPECT_EQ(patch.at("type"), "UPDATE");
  EXPECT_EQ(patch.at("readAt"), 10);
  EXPECT_EQ(patch.at("onStale"), "reject");
  const auto& removal = ops[2].as_object();
  EXPECT_EQ(removal.at("type"), "DELETE");
  EXPECT_FALSE(removal.contains("input"));
  EXPECT_FALSE(removal.contains("readAt"));
  EXPECT_EQ(removal.at("onStale"), "force");
  EXPECT_EQ(ops[3].at("type"), "ARCHIVE");
  EXPECT_EQ(ops[3].at("model"), "project");
}

TEST_F(OutboxTest, ParentCreateGoesFirstAndTheChildsLaterOpsFollowIt) {  // T13
  Outbox outbox = make();
  add(outbox, entry(1, Action::kCreate, "tasks", "t1", {{"title", "child"}, {"projectId", "p1"}}));
  add(outbox, update(2, "t1", {{"title", "child2"}}));
  add(outbox, entry(3, Action::kCreate, "users", "u1", {{"email", "x"}}));
  add(outbox, entry(4, Action::kCreate, "projects", "p1", {{"name", "parent"}}));
  add(outbox, entry(5, Action::kCreate, "tasks", "t2", {{"title", "sibling"}, {"projectId", "p1"}}));
  add(outbox, entry(6, Action::kCreate, "tasks", "t3", {{"title", "old parent"}, {"projectId", "p0"}}));
  auto frame = outbox.next_frame(Lane::kModel);
  ASSERT_TRUE(frame);
  EXPECT_EQ(wire_ids(*frame), (std::vector<std::string>{"CREATE:u1", "CREATE:p1", "CREATE:t1", "UPDATE:t1",
                                                        "CREATE:t2", "CREATE:t3"}));
  EXPECT_EQ(frame->seqs, (std::vector<int64_t>{3, 4, 1, 2, 5, 6}));
}

TEST_F(OutboxTest, ParentCreatedAfterTheChildInAChainOfThree) {
  // users ← tasks.assigneeId; projects ← tasks.projectId: the child waits for the later of both.
  Outbox outbox = make();
  add(outbox, entry(1, Action::kCreate, "tasks", "t1", {{"projectId", "p1"}, {"assigneeId", "u1"}}));
  add(outbox, entry(2, Action::kCreate, "projects", "p1", {{"name", "p"}}));
  add(outbox, entry(3, Action::kCreate, "users", "u1", {{"email", "e"}}));
  auto frame = outbox.next_frame(Lane::kModel);
  ASSERT_TRUE(frame);
  const auto order = wire_ids(*frame);
  const auto at = [&](const std::string& id) { return std::find(order.begin(), order.end(), id) - order.begin(); };
  EXPECT_EQ(order.size(), 3u);
  EXPECT_LT(at("CREATE:p1"), at("CREATE:t1"));
}

TEST_F(OutboxTest, ASentFrameIsImmutableAndReSentByteIdentical) {  // D11
  Outbox outbox = make();
  add(outbox, entry(1, Action::kCreate, "tasks", "t1", {{"title", "a"}}));
  add(outbox, update(2, "t2", {{"title", "b"}}));
  auto sent = outbox.next_frame(Lane::kModel);
  ASSERT_TRUE(sent);
  outbox.mark_sent(*sent);
  // Writes made meanwhile neither join nor coalesce into the sent frame.
  auto later = outbox.append(update(3, "t2", {{"title", "c"}}));
  ASSERT_TRUE(later);
  EXPECT_FALSE(later->merged);
  auto decision = outbox.on_failure(sent->client_tx_id, Error("commit_no_result", "no answer"), milliseconds(15000));
  EXPECT_EQ(decision.kind, FailureDecision::Kind::kRetry);
  auto resent = outbox.next_frame(Lane::kModel);
  ASSERT_TRUE(resent);
  EXPECT_FALSE(resent->first_send);
  EXPECT_EQ(resent->client_tx_id, sent->client_tx_id);
  EXPECT_EQ(resent->wire, sent->wire);
  EXPECT_EQ(resent->seqs, sent->seqs);

  // After a restart: the entries read back from the store rebuild the same bytes.
  Outbox reopened = make();
  for (const OutboxEntry* stored : outbox.entries()) ASSERT_TRUE(reopened.restore(*stored));
  auto replayed = reopened.next_frame(Lane::kModel);
  ASSERT_TRUE(replayed);
  EXPECT_EQ(replayed->wire, sent->wire);
  // The write made after the send goes in the next frame, with a new id.
  reopened.mark_sent(*replayed);
  reopened.on_success(replayed->client_tx_id, 40);
  auto next = reopened.next_frame(Lane::kModel);
  ASSERT_TRUE(next);
  EXPECT_EQ(next->seqs, (std::vector<int64_t>{3}));
  EXPECT_NE(next->client_tx_id, sent->client_tx_id);
}

TEST_F(OutboxTest, CoalescesOnlyIntoTheRowsLastUnsentUpdate) {  // D2 / T15
  Outbox outbox = make();
  add(outbox, update(1, "t1", {{"title", "a"}, {"metadata", json::object{{"x", 1}, {"y", 1}}}}));
  auto merged = outbox.append(update(2, "t1", {{"done", true}, {"title", "b"}, {"metadata", json::object{{"y", 2}}}}));
  ASSERT_TRUE(merged);
  EXPECT_TRUE(merged->merged);
  EXPECT_EQ(merged->seq, 1);  // the absorbed write settles with seq 1
  ASSERT_EQ(outbox.size(), 1u);
  const OutboxEntry* absorber = outbox.find(1);
  EXPECT_EQ(absorber->data.at("title"), "b");
  EXPECT_EQ(absorber->data.at("done"), true);
  EXPECT_EQ(absorber->data.at("metadata"), (json::object{{"x", 1}, {"y", 2}}));  // metadata per key
  EXPECT_EQ(absorber->read_at, 10);
  EXPECT_FALSE(outbox.append(update(2, "t1", {})));  // a spent seq is never reused

  // A caller idempotency key on either side: no merge.
  OutboxEntry keyed = update(3, "t1", {{"title", "k"}});
  keyed.has_idempotency_key = true;
  EXPECT_FALSE(outbox.append(keyed)->merged);
  EXPECT_FALSE(outbox.append(update(4, "t1", {{"title", "after keyed"}}))->merged);

  // A different onStale: no merge.
  OutboxEntry flagged = update(5, "t1", {{"title", "f"}});
  flagged.on_stale = OnStale::kFlag;
  EXPECT_FALSE(outbox.append(flagged)->merged);

  // Not the row's last entry (a delete came between), or not an update: no merge.
  add(outbox, entry(6, Action::kDelete, "tasks", "t1"));
  EXPECT_FALSE(outbox.append(update(7, "t1", {{"title", "x"}}))->merged);
  add(outbox, entry(8, Action::kCreate, "tasks", "t9", {{"title", "new"}}));
  EXPECT_FALSE(outbox.append(update(9, "t9", {{"title", "y"}}))->merged);

  // Already sent: no merge.
  Outbox other = make();
  add(other, update(1, "t1", {{"title", "a"}}));
  auto frame = other.next_frame(Lane::kModel);
  ASSERT_TRUE(frame);
  EXPECT_FALSE(other.append(update(2, "t1", {{"title", "b"}}))->merged);
}

TEST_F(OutboxTest, ClassificationFollowsTheRegistryExceptTheFinalList) {
  std::set<std::string_view> final_despite_retryable = {"stale_context", "entity_claimed", "claim_conflict",
                                                        "intent_conflict", "claim_lost", "model_claimed",
                                                        "model_claimed_timeout"};
  struct RegistryRow {
    std::string_view code;
    bool retryable;
  };
#define ABLO_ERROR(wire_code, category, status, retry, message) RegistryRow{wire_code, retry},
  static constexpr RegistryRow kRegistry[] = {
#include "errors/registry_table.inc"
  };
#undef ABLO_ERROR
  int transient = 0, finals = 0;
  for (const RegistryRow& row : kRegistry) {
    Error error;
    error.code = row.code;
    const bool expect_transient = row.retryable && !final_despite_retryable.contains(row.code);
    EXPECT_EQ(classify_commit_failure(error), expect_transient ? FailureClass::kTransient : FailureClass::kFinal)
        << row.code;
    (expect_transient ? transient : finals)++;
  }
  EXPECT_GT(transient, 10);
  EXPECT_GT(finals, 50);
  for (std::string_view code : {"commit_failed", "source_network_error", "internal_error", "quota_exceeded",
                                "connection_limit_exceeded", "instance_at_capacity", "commit_no_result"}) {
    Error error;
    error.code = code;
    EXPECT_EQ(classify_commit_failure(error), FailureClass::kTransient) << code;
  }
  for (std::string_view code : {"stale_context", "entity_claimed", "claim_lost", "invalid_request", "forbidden",
                                "no_such_code_yet"}) {
    Error error;
    error.code = code;
    EXPECT_EQ(classify_commit_failure(error), FailureClass::kFinal) << code;
  }
}

TEST_F(OutboxTest, RetryWindowCountsConnectedTimeOnly) {  // D3
  OutboxPolicy policy;
  policy.retry_window = milliseconds(120000);
  Outbox outbox = make(policy);
  add(outbox, update(1, "t1", {{"title", "a"}}));
  const Error busy("internal_error", "try later");
  auto frame = outbox.next_frame(Lane::kModel);
  // Hours offline contribute nothing: each attempt reports 0 ms of connected time.
  for (int i = 0; i < 100; ++i) {
    outbox.mark_sent(*frame);
    ASSERT_EQ(outbox.on_failure(frame->client_tx_id, busy, milliseconds(0)).kind, FailureDecision::Kind::kRetry);
  }
  outbox.mark_sent(*frame);
  EXPECT_EQ(outbox.on_failure(frame->client_tx_id, busy, milliseconds(60000)).kind, FailureDecision::Kind::kRetry);
  outbox.mark_sent(*frame);
  EXPECT_EQ(outbox.on_failure(frame->client_tx_id, busy, milliseconds(60000)).kind, FailureDecision::Kind::kRetry);
  EXPECT_EQ(outbox.find(1)->retry_spent_ms, 120000);
  outbox.mark_sent(*frame);
  auto last = outbox.on_failure(frame->client_tx_id, busy, milliseconds(1));
  EXPECT_EQ(last.kind, FailureDecision::Kind::kFinal);
  EXPECT_EQ(last.error.code, "internal_error");
  ASSERT_EQ(last.rolled_back.size(), 1u);
  EXPECT_EQ(outbox.size(), 0u);
}

TEST_F(OutboxTest, RetryDelaysBackOffWithJitterCapAndRetryAfter) {
  Outbox outbox = make();
  add(outbox, update(1, "t1", {{"title", "a"}}));
  auto frame = outbox.next_frame(Lane::kModel);
  const Error busy("commit_failed", "busy");
  std::vector<int64_t> delays;
  jitter_ = 0.0;  // the top of [d/2, d]
  for (int i = 0; i < 8; ++i) delays.push_back(outbox.on_failure(frame->client_tx_id, busy, milliseconds(1)).delay.count());
  EXPECT_EQ(delays, (std::vector<int64_t>{200, 400, 800, 1600, 3200, 5000, 5000, 5000}));
  jitter_ = 0.999;  // the bottom: d·(1 − 0.5)
  const auto low = outbox.on_failure(frame->client_tx_id, busy, milliseconds(1)).delay.count();
  EXPECT_GE(low, 2500);
  EXPECT_LT(low, 2510);
  Error limited("rate_limit_exceeded", "slow down");
  limited.details["retryAfter"] = 30;
  EXPECT_EQ(outbox.on_failure(frame->client_tx_id, limited, milliseconds(1)).delay.count(), 30000);
}

TEST_F(OutboxTest, AFinalErrorRollsBackTheWholeFrameAndOrphansOfItsCreates) {  // T25
  Outbox outbox = make();
  add(outbox, entry(1, Action::kCreate, "tasks", "t1", {{"title", "a"}}));
  add(outbox, update(2, "t2", {{"title", "b"}}));
  auto frame = outbox.next_frame(Lane::kModel);
  ASSERT_EQ(frame->seqs.size(), 2u);
  outbox.mark_sent(*frame);
  add(outbox, update(3, "t1", {{"title", "a2"}}));          // on the create being rolled back
  add(outbox, entry(4, Action::kDelete, "tasks", "t1"));    // likewise
  add(outbox, update(5, "t3", {{"title", "unrelated"}}));
  // The error names no operation: the frame is refused as a whole.
  auto decision = outbox.on_failure(frame->client_tx_id, Error("stale_context", "moved"), milliseconds(5));
  EXPECT_EQ(decision.kind, FailureDecision::Kind::kFinal);
  EXPECT_EQ(decision.error.code, "stale_context");
  EXPECT_TRUE(decision.requeued.empty());
  ASSERT_EQ(decision.rolled_back.size(), 2u);
  EXPECT_EQ(decision.rolled_back[0].seq, 1);
  EXPECT_EQ(decision.rolled_back[1].seq, 2);
  ASSERT_EQ(decision.cascaded.size(), 2u);
  EXPECT_EQ(decision.cascaded[0].seq, 3);
  EXPECT_EQ(decision.cascaded[1].seq, 4);
  EXPECT_EQ(decision.cascade_error.code, "entity_not_found");
  ASSERT_EQ(outbox.size(), 1u);
  auto next = outbox.next_frame(Lane::kModel);
  ASSERT_TRUE(next);
  EXPECT_EQ(next->seqs, (std::vector<int64_t>{5}));
  // A late answer for the rolled-back frame changes nothing.
  EXPECT_EQ(outbox.on_failure(frame->client_tx_id, Error("internal_error", "x"), milliseconds(1)).kind,
            FailureDecision::Kind::kUnknownFrame);
}

// The server names the refused operation: only it (and what depends on it) rolls back; its
// frame-mates were merely batched with it and go out again in a new frame.
TEST_F(OutboxTest, AFinalErrorNamingOneOperationRollsBackOnlyThatOne) {
  Outbox outbox = make();
  add(outbox, update(1, "t1", {{"title", "stale"}}));
  add(outbox, entry(2, Action::kCreate, "tasks", "t2", {{"title", "innocent"}}));
  add(outbox, update(3, "t3", {{"title", "innocent too"}}));
  auto frame = outbox.next_frame(Lane::kModel);
  ASSERT_EQ(frame->seqs, (std::vector<int64_t>{1, 2, 3}));
  outbox.mark_sent(*frame);
  auto decision = outbox.on_failure(frame->client_tx_id,
                                    Error("stale_context", "operations[0]: tasks 't1' changed", "operations[0].readAt"),
                                    milliseconds(5));
  EXPECT_EQ(decision.kind, FailureDecision::Kind::kFinal);
  ASSERT_EQ(decision.rolled_back.size(), 1u);
  EXPECT_EQ(decision.rolled_back[0].seq, 1);
  EXPECT_EQ(decision.requeued, (std::vector<int64_t>{2, 3}));
  auto next = outbox.next_frame(Lane::kModel);
  ASSERT_TRUE(next);
  EXPECT_EQ(next->seqs, (std::vector<int64_t>{2, 3}));
  EXPECT_NE(next->client_tx_id, frame->client_tx_id) << "a new frame, not the refused one again";
  EXPECT_TRUE(next->first_send);
  // An index past the frame, or none at all, refuses the frame as a whole.
  EXPECT_EQ(failing_operation(Error("stale_context", "x", "operations[12].readAt")), std::optional<std::size_t>(12));
  EXPECT_FALSE(failing_operation(Error("stale_context", "reads[0]: moved", "reads[0]")));
  EXPECT_FALSE(failing_operation(Error("stale_context", "operations[]")));
}

TEST_F(OutboxTest, ConfirmedNeedsTheAckAndTheCursor) {  // §5.6, T18/T19
  Outbox outbox = make();
  add(outbox, update(1, "t1", {{"title", "a"}}));
  add(outbox, update(2, "t2", {{"title", "b"}}));
  EXPECT_TRUE(outbox.confirmed(1000).empty());  // not acked: never confirmed by the cursor alone
  auto frame = outbox.next_frame(Lane::kModel);
  outbox.mark_sent(*frame);
  auto success = outbox.on_success(frame->client_tx_id, 42);
  EXPECT_EQ(success.acked, (std::vector<int64_t>{1, 2}));
  EXPECT_TRUE(success.completed.empty());
  EXPECT_FALSE(outbox.in_flight(Lane::kModel));
  EXPECT_EQ(outbox.find(1)->acked_sync_id, 42);
  EXPECT_FALSE(outbox.next_frame(Lane::kModel));  // acked entries are not re-sent
  EXPECT_TRUE(outbox.confirmed(41).empty());
  auto done = outbox.confirmed(42);
  ASSERT_EQ(done.size(), 2u);
  EXPECT_EQ(done[0].seq, 1);
  EXPECT_EQ(outbox.size(), 0u);

  add(outbox, update(3, "t3", {{"title", "c"}}));
  auto zero = outbox.next_frame(Lane::kModel);
  outbox.mark_sent(*zero);
  outbox.on_success(zero->client_tx_id, 0);  // L = 0: confirmed at once
  EXPECT_EQ(outbox.confirmed(0).size(), 1u);
}

TEST_F(OutboxTest, TheCommitLaneIsIndependentAndKeepsItsClientTxId) {  // §5.8
  Outbox outbox = make();
  add(outbox, update(1, "t1", {{"title", "a"}}));
  OutboxEntry commit_a = entry(2, Action::kCreate, "projects", "p1", {{"name", "x"}});
  commit_a.lane = Lane::kCommit;
  commit_a.frame_id = "idem-key-1";
  OutboxEntry commit_b = entry(3, Action::kCreate, "tasks", "t5", {{"projectId", "p1"}});
  commit_b.lane = Lane::kCommit;
  commit_b.frame_id = "idem-key-1";
  OutboxEntry commit_c = entry(4, Action::kUpdate, "tasks", "t1", {{"title", "z"}});
  commit_c.lane = Lane::kCommit;
  commit_c.frame_id = "ctx_other";
  add(outbox, commit_a);
  add(outbox, commit_b);
  add(outbox, commit_c);  // a commit-lane update never coalesces
  OutboxEntry missing_id = entry(5, Action::kDelete, "tasks", "t1");
  missing_id.lane = Lane::kCommit;
  EXPECT_FALSE(outbox.append(missing_id));

  auto model = outbox.next_frame(Lane::kModel);
  ASSERT_TRUE(model);
  EXPECT_EQ(model->seqs, (std::vector<int64_t>{1}));
  outbox.mark_sent(*model);
  auto commit = outbox.next_frame(Lane::kCommit);  // not blocked by the model lane
  ASSERT_TRUE(commit);
  EXPECT_EQ(commit->client_tx_id, "idem-key-1");
  EXPECT_EQ(commit->seqs, (std::vector<int64_t>{2, 3}));
  outbox.mark_sent(*commit);
  EXPECT_FALSE(outbox.next_frame(Lane::kCommit));
  EXPECT_EQ(outbox.on_failure("idem-key-1", Error("commit_failed", "x"), milliseconds(1)).kind,
            FailureDecision::Kind::kRetry);
  auto again = outbox.next_frame(Lane::kCommit);
  EXPECT_EQ(again->wire, commit->wire);
  outbox.mark_sent(*again);
  auto success = outbox.on_success("idem-key-1", 77);
  EXPECT_TRUE(success.acked.empty());
  ASSERT_EQ(success.completed.size(), 2u);  // the commit lane resolves on mutation_result
  EXPECT_EQ(outbox.next_frame(Lane::kCommit)->client_tx_id, "ctx_other");
}

TEST_F(OutboxTest, AppendRejectsSeqsOutOfOrder) {
  Outbox outbox = make();
  add(outbox, update(5, "t1", {{"title", "a"}}));
  auto stale = outbox.append(entry(5, Action::kCreate, "tasks", "t2"));
  ASSERT_FALSE(stale);
  EXPECT_EQ(stale.error().code, "invalid_request");
  EXPECT_FALSE(outbox.restore(entry(3, Action::kCreate, "tasks", "t3")));
}

TEST(OutboxWire, ModelNamesUseThe091Form) {
  const auto schema = sdk_test::sdk_test_schema();
  EXPECT_EQ(wire_model_name(*schema, "tasks"), "task");
  EXPECT_EQ(wire_model_name(*schema, "projects"), "project");
  EXPECT_EQ(wire_model_name(*schema, "Unknown"), "unknown");
}

// Design §3.6 row 4: a store of another participant hands over every entry, nothing stays in
// flight, and the next write starts a fresh frame.
TEST_F(OutboxTest, TakeAllEmptiesTheOutboxAndClearsTheFramesInFlight) {
  Outbox outbox = make();
  add(outbox, update(1, "a", {{"title", "x"}}));
  add(outbox, update(2, "b", {{"title", "y"}}));
  auto frame = outbox.next_frame(Lane::kModel);
  ASSERT_TRUE(frame);
  outbox.mark_sent(*frame);
  ASSERT_TRUE(outbox.in_flight(Lane::kModel));

  const auto taken = outbox.take_all();
  ASSERT_EQ(taken.size(), 2u);
  EXPECT_EQ(taken[0].seq, 1);
  EXPECT_EQ(taken[1].seq, 2);
  EXPECT_EQ(outbox.size(), 0u);
  EXPECT_FALSE(outbox.in_flight(Lane::kModel));
  EXPECT_FALSE(outbox.next_frame(Lane::kModel));

  add(outbox, update(3, "c", {{"title", "z"}}));
  auto next = outbox.next_frame(Lane::kModel);
  ASSERT_TRUE(next);
  EXPECT_EQ(wire_ids(*next), std::vector<std::string>{"UPDATE:c"});
}

}  // namespace
}  // namespace ablo::sdk_detail::outbox_test_helpers
