#include "engine/engine.h"

#include <chrono>
#include <condition_variable>
#include <future>
#include <mutex>
#include <thread>
#include <variant>

#include <boost/json.hpp>
#include <gtest/gtest.h>

#include "pg/connection.h"
#include "support/test_store.h"

namespace ablo::engine {
namespace {

namespace json = boost::json;

constexpr const char* kSchema = R"({"v":3,"models":{
  "tasks":{"fields":{
     "title":{"type":"string","isOptional":false,"isIndexed":false},
     "status":{"type":"enum","enumValues":["todo","done"],"isOptional":false,"isIndexed":false},
     "points":{"type":"number","isOptional":true,"isIndexed":false},
     "dueAt":{"type":"date","isOptional":true,"isIndexed":false},
     "meta":{"type":"json","isOptional":true,"isIndexed":false}},
   "relations":{},"load":"instant","typename":"Task","tenancy":{"kind":"column","column":"organization_id"},"plane":"tenant"},
  "logs":{"fields":{"line":{"type":"string","isOptional":false,"isIndexed":false}},"relations":{},"load":"instant",
   "typename":"logs","tenancy":{"kind":"column","column":"organization_id"},"plane":"tenant","mutable":false}},
 "identityRoles":[]})";

class CapturingOutbox : public fanout::Outbox {
 public:
  void push_frame(std::string) override {}
  void push_delta(std::shared_ptr<const fanout::EncodedDelta> delta) override {
    std::lock_guard lock(mutex);
    deltas.push_back(json::parse(delta->json()).as_object());
  }
  std::mutex mutex;
  std::vector<json::object> deltas;
};

// Runs against every store (testing::test_stores()).
struct EngineTest : ::testing::TestWithParam<std::string> {
  testing::TestStore backing{GetParam()};
  std::unique_ptr<store::Store>& store = backing.store;
  fanout::Hub hub{[this](const std::string& t, int64_t a, int64_t u, int l) { return store->read_deltas(t, a, u, l); }};
  // Every commit also writes its audit row (issue 13), as in the server.
  Engine engine{*store, hub, EngineOptions{.audit_key = "engine-test-audit-key-0123456789abcdef"}};

  void SetUp() override {
    ASSERT_TRUE(engine.start());
    auto pushed = engine.push_schema(json::parse(kSchema));
    ASSERT_TRUE(pushed) << pushed.error().message;
  }

  static auth::Principal participant(std::string id) {
    auth::Principal p;
    p.tenant = {"org_1", true};
    p.participant_id = std::move(id);
    p.participant_kind = "system";
    p.allowed_groups = {"org:org_1"};
    return p;
  }

  Result<CommitReceipt> commit(const std::string& who, std::vector<Operation> ops, std::string client_tx_id = "") {
    CommitRequest request;
    request.principal = participant(who);
    request.client_tx_id = client_tx_id.empty() ? "ctx-" + std::to_string(++counter) : client_tx_id;
    request.operations = std::move(ops);
    return engine.commit_sync(std::move(request));
  }

  // A one-row create by p1 under client tx id `id`, answered once durable.
  static Result<CommitReceipt> commit_with(Engine& engine, const std::string& id) {
    CommitRequest request;
    request.principal = participant("p1");
    request.client_tx_id = id;
    request.operations = {create(id, {{"title", id}, {"status", "todo"}})};
    return engine.commit_sync(std::move(request));
  }

  static Operation create(std::string id, json::object input, std::string tx = "") {
    Operation op;
    op.type = OpType::kCreate;
    op.model = "task";  // lowercased typename, as the model proxy sends it
    op.id = std::move(id);
    op.input = std::move(input);
    op.transaction_id = std::move(tx);
    return op;
  }
  static Operation update(std::string id, json::object input, std::optional<int64_t> read_at = {}) {
    Operation op = create(std::move(id), std::move(input));
    op.type = OpType::kUpdate;
    op.read_at = read_at;
    return op;
  }

  json::object row(const std::string& id) {
    auto found = engine.entity(participant("reader"), {"org:org_1"}, "Task", id);
    EXPECT_TRUE(found) << (found ? "" : found.error().message);
    return found ? *found : json::object{};
  }

  int counter = 0;
};

TEST_P(EngineTest, CreateThenUpdateProducesConsecutiveDeltasAndTheFullRow) {
  auto created = commit("p1", {create("t1", {{"title", "a"}, {"status", "todo"}})});
  ASSERT_TRUE(created) << created.error().message;
  auto updated = commit("p1", {update("t1", {{"status", "done"}})});
  ASSERT_TRUE(updated) << updated.error().message;
  EXPECT_EQ(updated->last_sync_id, created->last_sync_id + 1);
  const auto r = row("t1");
  EXPECT_EQ(r.at("title"), "a");
  EXPECT_EQ(r.at("status"), "done");
  EXPECT_EQ(r.at("organizationId"), "org_1");
  EXPECT_EQ(r.at("createdBy"), "p1");
  EXPECT_EQ(r.at("__typename"), "Task");
}

TEST_P(EngineTest, AllOpsOfACommitApplyAtomically) {
  auto result = commit("p1", {create("t1", {{"title", "a"}, {"status", "todo"}}),
                              create("t2", {{"title", "b"}, {"status", "maybe"}})});
  ASSERT_FALSE(result);
  EXPECT_EQ(result.error().code, "invalid_request");
  EXPECT_NE(result.error().param.find("status"), std::string::npos) << result.error().param;
  EXPECT_FALSE(engine.entity(participant("r"), {"org:org_1"}, "Task", "t1")) << "first op must roll back";
  EXPECT_EQ(hub.head(), 0);
}

TEST_P(EngineTest, RejectsUnknownFieldsAndReadOnlyModels) {
  auto unknown = commit("p1", {create("t1", {{"title", "a"}, {"colour", "red"}})});
  ASSERT_FALSE(unknown);
  EXPECT_EQ(unknown.error().code, "invalid_request");
  Operation log = create("l1", {{"line", "x"}});
  log.model = "logs";
  auto read_only = commit("p1", {log});
  ASSERT_FALSE(read_only);
  EXPECT_EQ(read_only.error().code, "invalid_model");
  EXPECT_NE(read_only.error().message.find("read-only"), std::string::npos);
}

TEST_P(EngineTest, StaleCheckIgnoresTheCommittersOwnWrites) {
  ASSERT_TRUE(commit("p1", {create("t1", {{"title", "a"}, {"status", "todo"}})}));
  // readAt 0 is older than the create, but the create was p1's own (protocol.md §8.1).
  auto own = commit("p1", {update("t1", {{"status", "done"}}, 0)});
  EXPECT_TRUE(own) << own.error().message;
}

TEST_P(EngineTest, StaleCheckRejectsAnotherParticipantsNewerWrite) {
  auto created = commit("p1", {create("t1", {{"title", "a"}, {"status", "todo"}})});
  ASSERT_TRUE(created);
  ASSERT_TRUE(commit("p2", {update("t1", {{"title", "b"}})}));
  auto stale = commit("p1", {update("t1", {{"status", "done"}}, created->last_sync_id)});
  ASSERT_FALSE(stale);
  EXPECT_EQ(stale.error().code, "stale_context");
  EXPECT_EQ(row("t1").at("status"), "todo");

  Operation forced = update("t1", {{"status", "done"}}, created->last_sync_id);
  forced.on_stale = OnStale::kForce;
  EXPECT_TRUE(commit("p1", {forced}));
}

TEST_P(EngineTest, ReplayedClientTxIdReturnsTheSameReceiptWithoutReapplying) {
  auto first = commit("p1", {create("t1", {{"title", "a"}, {"status", "todo"}})}, "same");
  ASSERT_TRUE(first);
  auto replay = commit("p1", {create("t1", {{"title", "a"}, {"status", "todo"}})}, "same");
  ASSERT_TRUE(replay) << replay.error().message;
  EXPECT_EQ(replay->last_sync_id, first->last_sync_id);
  EXPECT_EQ(hub.head(), first->last_sync_id);
}

TEST_P(EngineTest, RetriedOpWithSameTransactionIdIsNotAppliedTwice) {
  auto first = commit("p1", {create("t1", {{"title", "a"}, {"status", "todo"}}, "tx_1")});
  ASSERT_TRUE(first);
  auto retry = commit("p1", {create("t1", {{"title", "a"}, {"status", "todo"}}, "tx_1")});
  ASSERT_TRUE(retry) << retry.error().message;
  EXPECT_EQ(retry->last_sync_id, first->last_sync_id);
}

// Issue 10: an op key is bound to who sent the op and what it does; any other reuse is refused
// instead of being confirmed with the first op's receipt and silently dropped.
TEST_P(EngineTest, TransactionIdReusedByAnotherParticipantIsAConflictAndNotApplied) {
  ASSERT_TRUE(commit("p1", {create("t1", {{"title", "a"}, {"status", "todo"}}, "tx_1")}));
  const int64_t head = hub.head();
  Operation other = update("t1", {{"title", "from p2"}});
  other.transaction_id = "tx_1";
  auto reused = commit("p2", {other});
  ASSERT_FALSE(reused);
  EXPECT_EQ(reused.error().code, "idempotency_conflict");
  EXPECT_EQ(reused.error().param, "operations[0].transactionId");
  EXPECT_EQ(hub.head(), head);
  EXPECT_EQ(row("t1").at("title"), "a");
}

TEST_P(EngineTest, TransactionIdReusedForOtherContentIsAConflict) {
  ASSERT_TRUE(commit("p1", {create("t1", {{"title", "a"}, {"status", "todo"}}, "tx_1")}));
  auto reused = commit("p1", {create("t2", {{"title", "b"}, {"status", "todo"}}, "tx_1")});
  ASSERT_FALSE(reused);
  EXPECT_EQ(reused.error().code, "idempotency_conflict");
  EXPECT_FALSE(engine.entity(participant("r"), {"org:org_1"}, "Task", "t2")) << "nothing of it was applied";
  // The same op again (a retry whose result was lost) still replays.
  EXPECT_TRUE(commit("p1", {create("t1", {{"title", "a"}, {"status", "todo"}}, "tx_1")}));
}

TEST_P(EngineTest, ClientTxIdReusedByAnotherParticipantOrForOtherOperationsIsAConflict) {
  ASSERT_TRUE(commit("p1", {create("t1", {{"title", "a"}, {"status", "todo"}})}, "ctx_same"));
  auto foreign = commit("p2", {create("t1", {{"title", "a"}, {"status", "todo"}})}, "ctx_same");
  ASSERT_FALSE(foreign);
  EXPECT_EQ(foreign.error().code, "idempotency_conflict");
  auto other_ops = commit("p1", {create("t2", {{"title", "b"}, {"status", "todo"}})}, "ctx_same");
  ASSERT_FALSE(other_ops);
  EXPECT_EQ(other_ops.error().code, "idempotency_conflict");
  EXPECT_FALSE(engine.entity(participant("r"), {"org:org_1"}, "Task", "t2"));
}

// Holds the writer in before_group until released, so commits submitted meanwhile queue up
// and are applied together as the next group.
class HoldingGate : public WriteGate {
 public:
  Status before_group() override {
    std::unique_lock lock(mutex_);
    entered_ = true;
    changed_.notify_all();
    changed_.wait(lock, [this] { return released_; });
    return {};
  }
  Status check_write(const auth::Principal&, const schema::Model&, const Operation&) override { return {}; }
  void wait_until_held() {
    std::unique_lock lock(mutex_);
    changed_.wait(lock, [this] { return entered_; });
  }
  void release() {
    std::lock_guard lock(mutex_);
    released_ = true;
    changed_.notify_all();
  }

 private:
  std::mutex mutex_;
  std::condition_variable changed_;
  bool entered_ = false, released_ = false;
};

TEST_P(EngineTest, IdempotencyInsideOneGroupSeesEarlierCommitsAndForgetsRolledBackOnes) {
  auto gate = std::make_shared<HoldingGate>();
  engine.set_write_gate(gate);
  std::vector<std::promise<Result<CommitReceipt>>> results(4);
  auto submit = [&](std::size_t slot, std::vector<Operation> ops, std::string client_tx_id) {
    CommitRequest request;
    request.principal = participant("p1");
    request.client_tx_id = std::move(client_tx_id);
    request.operations = std::move(ops);
    engine.commit(std::move(request), [&results, slot](Result<CommitReceipt> r) { results[slot].set_value(std::move(r)); });
  };
  submit(0, {create("t0", {{"title", "blocker"}, {"status", "todo"}})}, "blocker");
  gate->wait_until_held();
  // One group: A applies op tx_1 and then fails (its savepoint is rolled back), B carries the
  // same op transactionId and must apply it, C repeats B's clientTxId and must replay B.
  submit(1, {create("t1", {{"title", "a"}, {"status", "todo"}}, "tx_1"), create("t2", {{"title", "b"}, {"status", "maybe"}})}, "ctx_a");
  submit(2, {create("t1", {{"title", "a"}, {"status", "todo"}}, "tx_1")}, "ctx_b");
  submit(3, {create("t1", {{"title", "a"}, {"status", "todo"}}, "tx_1")}, "ctx_b");
  gate->release();
  auto blocker = results[0].get_future().get();
  auto a = results[1].get_future().get();
  auto b = results[2].get_future().get();
  auto c = results[3].get_future().get();
  ASSERT_TRUE(blocker);
  ASSERT_FALSE(a);
  EXPECT_EQ(a.error().code, "invalid_request");
  ASSERT_TRUE(b) << b.error().message;
  EXPECT_EQ(b->last_sync_id, blocker->last_sync_id + 1) << "op tx_1 was applied by B, not taken for A's rolled-back one";
  ASSERT_TRUE(c) << c.error().message;
  EXPECT_EQ(c->last_sync_id, b->last_sync_id) << "C replays B";
  EXPECT_EQ(hub.head(), b->last_sync_id);
  EXPECT_EQ(row("t1").at("title"), "a");
}

// PostgreSQL applies a commit group batched (its writes go out with COMMIT). A write the
// database refuses there fails the batch as a whole; the writer then runs the group commit by
// commit, so only the refused commit fails and the others apply, with dense ids and one audit
// row each.
TEST_P(EngineTest, ACommitTheDatabaseRefusesFailsAloneInABatchedGroup) {
  if (GetParam() != "postgres") GTEST_SKIP() << "the batched group is PostgreSQL's";
  {
    // A rule the schema does not know, so only the database can refuse the commit.
    auto conn = pg::Connection::open(backing.database->url());
    ASSERT_TRUE(conn) << conn.error().message;
    ASSERT_TRUE((*conn)->exec_script("ALTER TABLE tasks ADD CONSTRAINT no_refused CHECK (title <> 'refused')"));
  }
  auto gate = std::make_shared<HoldingGate>();
  engine.set_write_gate(gate);
  std::vector<std::promise<Result<CommitReceipt>>> results(4);
  auto submit = [&](std::size_t slot, const std::string& id, const std::string& title) {
    CommitRequest request;
    request.principal = participant("p1");
    request.client_tx_id = "ctx_" + id;
    request.operations = {create(id, {{"title", title}, {"status", "todo"}}, "tx_" + id)};
    engine.commit(std::move(request), [&results, slot](Result<CommitReceipt> r) { results[slot].set_value(std::move(r)); });
  };
  submit(0, "blocker", "blocker");
  gate->wait_until_held();
  submit(1, "before", "fine");
  submit(2, "refused", "refused");
  submit(3, "after", "fine");
  gate->release();
  std::vector<Result<CommitReceipt>> answers;
  for (auto& result : results) answers.push_back(result.get_future().get());
  ASSERT_TRUE(answers[0]);
  ASSERT_TRUE(answers[1]) << answers[1].error().message;
  ASSERT_FALSE(answers[2]);
  ASSERT_TRUE(answers[3]) << answers[3].error().message;
  EXPECT_EQ(answers[1]->last_sync_id, answers[0]->last_sync_id + 1);
  EXPECT_EQ(answers[3]->last_sync_id, answers[1]->last_sync_id + 1) << "the refused commit's id was drawn again";
  EXPECT_EQ(hub.head(), answers[3]->last_sync_id);
  EXPECT_EQ(row("before").at("title"), "fine");
  EXPECT_EQ(row("after").at("title"), "fine");
  EXPECT_FALSE(engine.entity(participant("reader"), {"org:org_1"}, "Task", "refused"));
  // Nothing of the refused commit stayed: its keys are free, its audit row was not written.
  auto retried = commit("p1", {create("refused", {{"title", "now fine"}, {"status", "todo"}}, "tx_refused")}, "ctx_refused");
  ASSERT_TRUE(retried) << retried.error().message;
  EXPECT_FALSE(retried->replayed);
  EXPECT_EQ(retried->last_sync_id, answers[3]->last_sync_id + 1);
  auto audit = store->read_audit(store::AuditQuery{.tenant = "org_1/test", .descending = false, .limit = 100});
  ASSERT_TRUE(audit);
  std::vector<std::string> commits;
  for (const auto& record : *audit) {
    if (!record.commit_id.empty()) commits.push_back(record.commit_id);
  }
  EXPECT_EQ(commits, (std::vector<std::string>{"ctx_blocker", "ctx_before", "ctx_after", "ctx_refused"}));
}

// Audit rows in one commit group: a commit rolled back to its savepoint leaves no row and
// gives its chain link back (the writer's per-group cache), two tenants keep separate chains,
// and a replay writes nothing.
TEST_P(EngineTest, AuditRowsOfOneGroupChainDenselyPerTenantAcrossARolledBackCommit) {
  auto gate = std::make_shared<HoldingGate>();
  engine.set_write_gate(gate);
  std::vector<std::promise<Result<CommitReceipt>>> results(6);
  auto submit = [&](std::size_t slot, std::string org, std::vector<Operation> ops, std::string client_tx_id) {
    CommitRequest request;
    request.principal = participant("p1");
    request.principal.tenant.org = std::move(org);
    request.principal.allowed_groups = {"org:" + request.principal.tenant.org};
    request.client_tx_id = std::move(client_tx_id);
    request.operations = std::move(ops);
    engine.commit(std::move(request), [&results, slot](Result<CommitReceipt> r) { results[slot].set_value(std::move(r)); });
  };
  submit(0, "org_1", {create("t0", {{"title", "blocker"}, {"status", "todo"}})}, "blocker");
  gate->wait_until_held();
  submit(1, "org_1", {create("t1", {{"title", "a"}, {"status", "todo"}})}, "ok_1");
  submit(2, "org_2", {create("t1", {{"title", "a"}, {"status", "todo"}})}, "other_tenant");
  submit(3, "org_1", {create("t2", {{"title", "b"}, {"status", "todo"}}), create("t3", {{"title", "c"}, {"status", "maybe"}})},
         "refused");
  submit(4, "org_1", {create("t4", {{"title", "d"}, {"status", "todo"}})}, "ok_2");
  submit(5, "org_1", {create("t4", {{"title", "d"}, {"status", "todo"}})}, "ok_2");  // a replay
  gate->release();
  for (std::size_t i = 0; i < results.size(); ++i) {
    auto result = results[i].get_future().get();
    EXPECT_EQ(result.has_value(), i != 3) << i;
  }
  const auto seqs_and_commits = [&](const std::string& tenant) {
    auto rows = engine.audit().rows(store::AuditQuery{.tenant = tenant, .descending = false, .limit = 100});
    EXPECT_TRUE(rows) << (rows ? "" : rows.error().message);
    std::vector<std::pair<int64_t, std::string>> out;
    for (const auto& row : *rows) out.emplace_back(row.chain_seq, row.commit_id.value_or(""));
    return out;
  };
  // The schema push of SetUp is no audited row (it has no principal here); the blocker is 1.
  EXPECT_EQ(seqs_and_commits("org_1/test"),
            (std::vector<std::pair<int64_t, std::string>>{{1, "blocker"}, {2, "ok_1"}, {3, "ok_2"}}));
  EXPECT_EQ(seqs_and_commits("org_2/test"), (std::vector<std::pair<int64_t, std::string>>{{1, "other_tenant"}}));
  for (const char* tenant : {"org_1/test", "org_2/test"}) {
    auto report = engine.audit().verify(tenant, 1, 1000);
    ASSERT_TRUE(report) << report.error().message;
    EXPECT_FALSE(report->broken) << tenant << ": " << report->broken->reason << " at " << report->broken->broken_at_seq;
    EXPECT_TRUE(report->complete);
  }
  // Verify in bounded stretches: two rows per call, continuing where the previous one ended.
  auto first = engine.audit().verify("org_1/test", 1, 2);
  ASSERT_TRUE(first);
  EXPECT_EQ(first->rows_checked, 2);
  EXPECT_FALSE(first->complete);
  auto rest = engine.audit().verify("org_1/test", first->last_seq + 1, 2);
  ASSERT_TRUE(rest);
  EXPECT_EQ(rest->rows_checked, 1);
  EXPECT_EQ(rest->last_seq, 3);
  EXPECT_TRUE(rest->complete);  // The delta budget bounds a call too: one delta per call checks one commit row per call.
  auto one = engine.audit().verify("org_1/test", 1, 1000, 1);
  ASSERT_TRUE(one);
  EXPECT_EQ(one->rows_checked, 1);
  EXPECT_EQ(one->last_seq, 1);
  EXPECT_FALSE(one->complete);
}

// A claim event's row (Engine::record_audit_later, issue 13): queued without waiting, written
// by the writer's next group before that group's commits, in queue order, on the same chain.
audit::AuditRow claim_row(std::string tenant, std::string claim_id) {
  audit::AuditRow row;
  row.tenant = std::move(tenant);
  row.occurred_at_ms = 1'700'000'000'000;
  row.actor_kind = "agent";
  row.actor_id = "bot";
  row.credential_id = "cap_bot";
  row.action_type = "claim.grant";
  row.diff_summary = json::object{{"claimId", std::move(claim_id)}, {"model", "tasks"}, {"id", "t1"}};
  return row;
}

std::vector<std::pair<int64_t, std::string>> chain_of(const Engine& engine, const std::string& tenant) {
  auto rows = engine.audit().rows(store::AuditQuery{.tenant = tenant, .descending = false, .limit = 100});
  EXPECT_TRUE(rows) << (rows ? "" : rows.error().message);
  std::vector<std::pair<int64_t, std::string>> out;
  if (!rows) return out;
  for (const auto& row : *rows) {
    out.emplace_back(row.chain_seq, row.commit_id ? *row.commit_id
                                                  : std::string(row.diff_summary.at("claimId").as_string()));
  }
  return out;
}

void expect_chain_verifies(const Engine& engine, const std::string& tenant) {
  auto report = engine.audit().verify(tenant, 1, 100'000);
  ASSERT_TRUE(report) << report.error().message;
  EXPECT_FALSE(report->broken) << tenant << ": " << report->broken->reason << " at " << report->broken->broken_at_seq;
  EXPECT_TRUE(report->complete);
}

TEST_P(EngineTest, QueuedAuditRowsAreWrittenInQueueOrderBeforeTheNextGroupsCommits) {
  auto gate = std::make_shared<HoldingGate>();
  engine.set_write_gate(gate);
  std::promise<Result<CommitReceipt>> blocker, after;
  auto submit = [&](std::promise<Result<CommitReceipt>>& result, std::string id) {
    CommitRequest request;
    request.principal = participant("p1");
    request.client_tx_id = id;
    request.operations = {create(id, {{"title", id}, {"status", "todo"}})};
    engine.commit(std::move(request), [&result](Result<CommitReceipt> r) { result.set_value(std::move(r)); });
  };
  submit(blocker, "blocker");
  gate->wait_until_held();  // the writer is inside the blocker's group
  engine.record_audit_later(claim_row("org_1/test", "claim_1"));
  engine.record_audit_later(claim_row("org_2/test", "claim_other_tenant"));
  engine.record_audit_later(claim_row("org_1/test", "claim_2"));
  submit(after, "after");
  engine.record_audit_later(claim_row("org_1/test", "claim_3"));
  gate->release();
  ASSERT_TRUE(blocker.get_future().get());
  ASSERT_TRUE(after.get_future().get());
  EXPECT_EQ(chain_of(engine, "org_1/test"), (std::vector<std::pair<int64_t, std::string>>{
                                                 {1, "blocker"}, {2, "claim_1"}, {3, "claim_2"}, {4, "claim_3"}, {5, "after"}}));
  // A group of audit rows only: nothing else is queued.
  engine.record_audit_later(claim_row("org_1/test", "claim_4"));
  for (int i = 0; i < 500 && chain_of(engine, "org_1/test").size() < 6; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  EXPECT_EQ(chain_of(engine, "org_1/test").back(), (std::pair<int64_t, std::string>{6, "claim_4"}));
  EXPECT_EQ(chain_of(engine, "org_2/test"), (std::vector<std::pair<int64_t, std::string>>{{1, "claim_other_tenant"}}));
  expect_chain_verifies(engine, "org_1/test");
  expect_chain_verifies(engine, "org_2/test");
  EXPECT_EQ(engine.audit_rows_dropped(), 0u);
}

TEST_P(EngineTest, UpdateOfMissingRowSaysNoRowsInResultSet) {
  auto missing = commit("p1", {update("ghost", {{"title", "x"}})});
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().code, "mutate_update_entity_not_found");
  EXPECT_NE(missing.error().message.find("no rows in result set"), std::string::npos);
}

TEST_P(EngineTest, PublishesDeltasWithTypenameTransactionIdAndCommitterGroups) {
  CapturingOutbox outbox;
  auto sub = hub.subscribe("org_1/test", {"org:org_1"}, &outbox);
  ASSERT_TRUE(hub.catch_up(sub, 0));
  ASSERT_TRUE(commit("p1", {create("t1", {{"title", "a"}, {"status", "todo"}}, "tx_9")}));
  Operation del = create("t1", {});
  del.type = OpType::kDelete;
  ASSERT_TRUE(commit("p1", {del}));
  hub.unsubscribe(sub);
  ASSERT_EQ(outbox.deltas.size(), 2u);
  const auto& insert = outbox.deltas[0];
  EXPECT_EQ(insert.at("actionType"), "I");
  EXPECT_EQ(insert.at("modelName"), "Task");
  EXPECT_EQ(insert.at("transactionId"), "tx_9");
  EXPECT_EQ(insert.at("data").at("title"), "a");
  EXPECT_EQ(outbox.deltas[1].at("actionType"), "D");
  EXPECT_TRUE(outbox.deltas[1].at("data").is_null());
  EXPECT_LT(insert.at("id").as_int64(), outbox.deltas[1].at("id").as_int64());
}

TEST_P(EngineTest, BootstrapReturnsVisibleRowsKeyedByTypename) {
  ASSERT_TRUE(commit("p1", {create("t1", {{"title", "a"}, {"status", "todo"}})}));
  auto visible_text = engine.bootstrap(participant("r"), {"org:org_1"}, {"Task"});
  ASSERT_TRUE(visible_text);
  const auto visible = json::parse(*visible_text).as_object();
  EXPECT_EQ(visible.at("type"), "full");
  EXPECT_EQ(visible.at("models").at("Task").as_array().size(), 1u);
  EXPECT_EQ(visible.at("lastSyncId").as_int64(), 1);
  EXPECT_TRUE(visible.at("timestamp").is_int64());
  auto hidden_text = engine.bootstrap(participant("r"), {"team:x"}, {"Task"});
  ASSERT_TRUE(hidden_text);
  EXPECT_TRUE(json::parse(*hidden_text).at("models").at("Task").as_array().empty());
}

// The bootstrap writes rows from the store's columns (no JSON tree per row); its text is the
// rows a query returns, serialized, byte for byte: escapes, unicode, nested JSON, floating
// numbers, nulls, several models, rows outside the requested groups left out.
TEST_P(EngineTest, BootstrapRowsAreTheQueriedRowsSerializedByteForByte) {
  ASSERT_TRUE(commit("p1", {create("t1", {{"title", "quote \" backslash \\ newline \n \x01 Troms\u00f8 \u2603"},
                                          {"status", "todo"},
                                          {"points", 2.5},
                                          {"meta", json::object{{"nested", json::array{nullptr, 1, "\u00e9", 1e300}},
                                                                {"s", "tab\t"}}}}),
                            create("t2", {{"title", "plain"}, {"status", "done"}, {"points", 3},
                                          {"dueAt", "2026-03-04T05:06:07.089Z"}, {"meta", "raw \"text\""}}),
                            create("t3", {{"title", ""}, {"status", "todo"}, {"meta", json::array{}}})}));
  auto text = engine.bootstrap(participant("r"), {"org:org_1"}, {});
  ASSERT_TRUE(text) << text.error().message;
  const auto parsed = json::parse(*text).as_object();
  std::string expected = R"({"type":"full","lastSyncId":)" + json::serialize(parsed.at("lastSyncId")) + ",";
  if (parsed.contains("storeId")) expected += R"("storeId":)" + json::serialize(parsed.at("storeId")) + ",";
  expected += R"("models":{)";
  std::size_t rows = 0;
  for (const auto& model : parsed.at("models").as_object()) {
    if (&model != &*parsed.at("models").as_object().begin()) expected += ",";
    expected += json::serialize(json::string(model.key())) + ":[";
    json::object body;
    body["queries"].emplace_array().emplace_back(json::object{{"model", model.key()}});
    auto queried = engine.query(participant("r"), {"org:org_1"}, body);
    ASSERT_TRUE(queried) << queried.error().message;
    const auto& found = queried->at("results").as_array()[0].as_array();
    for (std::size_t i = 0; i < found.size(); ++i) expected += (i ? "," : "") + json::serialize(found[i]);
    rows += found.size();
    expected += "]";
  }
  expected += R"(},"timestamp":)" + json::serialize(parsed.at("timestamp")) + "}";
  EXPECT_EQ(rows, 3u);
  EXPECT_EQ(parsed.at("models").as_object().size(), 2u) << "Task and the (read-only, empty) logs";
  EXPECT_EQ(*text, expected);
  auto other_groups = engine.bootstrap(participant("r"), {"team:x"}, {});
  ASSERT_TRUE(other_groups);
  const auto outside = json::parse(*other_groups);
  for (const auto& model : outside.at("models").as_object()) {
    EXPECT_TRUE(model.value().as_array().empty()) << model.key();
  }
}

TEST_P(EngineTest, QueryFiltersOrdersAndLimits) {
  ASSERT_TRUE(commit("p1", {create("t1", {{"title", "a"}, {"status", "todo"}, {"points", 3}}),
                            create("t2", {{"title", "b"}, {"status", "done"}, {"points", 1}}),
                            create("t3", {{"title", "c"}, {"status", "todo"}, {"points", 2}})}));
  auto body = json::parse(R"({"queries":[
      {"model":"Task","where":[["status","todo"]],"orderBy":"points","order":"desc"},
      {"model":"Task","where":[["id","IN",["t1","t2"]]],"limit":1,"orderBy":"id"},
      {"model":"Task","where":[["points",">=",2],["title","!=","c"]]}]})").as_object();
  auto result = engine.query(participant("r"), {"org:org_1"}, body);
  ASSERT_TRUE(result) << result.error().message;
  const auto& results = result->at("results").as_array();
  ASSERT_EQ(results.size(), 3u);
  ASSERT_EQ(results[0].as_array().size(), 2u);
  EXPECT_EQ(results[0].as_array()[0].at("id"), "t1");
  EXPECT_EQ(results[0].as_array()[0].at("points").as_int64(), 3);
  ASSERT_EQ(results[1].as_array().size(), 1u);
  EXPECT_EQ(results[1].as_array()[0].at("id"), "t1");
  ASSERT_EQ(results[2].as_array().size(), 1u);
  EXPECT_EQ(results[2].as_array()[0].at("id"), "t1");
}

TEST_P(EngineTest, QueryRejectsUnknownColumns) {
  auto body = json::parse(R"({"queries":[{"model":"Task","where":[["nope","x"]]}]})").as_object();
  auto result = engine.query(participant("r"), {"org:org_1"}, body);
  ASSERT_FALSE(result);
  EXPECT_EQ(result.error().code, "query_invalid_identifier");
}

TEST_P(EngineTest, SchemaAndLogSurviveRestart) {
  ASSERT_TRUE(commit("p1", {create("t1", {{"title", "a"}, {"status", "todo"}})}));
  engine.stop();
  fanout::Hub hub2{[this](const std::string& t, int64_t a, int64_t u, int l) { return store->read_deltas(t, a, u, l); }};
  Engine restarted(*store, hub2);
  ASSERT_TRUE(restarted.start());
  EXPECT_EQ(hub2.head(), 1);
  EXPECT_NE(restarted.schema()->resolve("Task"), nullptr);
}

TEST_P(EngineTest, AStaleRowPremiseRejectsTheCommitAndNotifyAppliesItWithANotice) {
  auto created = commit("p1", {create("t1", {{"title", "a"}, {"status", "todo"}})});
  ASSERT_TRUE(created);
  ASSERT_TRUE(commit("p2", {update("t1", {{"title", "b"}})}));
  const auto with_premise = [&](std::string id, std::optional<OnStale> on_stale) {
    CommitRequest request;
    request.principal = participant("p1");
    request.client_tx_id = "premise-" + id;
    request.operations = {create(id, {{"title", "x"}, {"status", "todo"}})};
    request.reads = {RowPremise{"Task", "t1", {"title"}, created->last_sync_id, on_stale}};
    return engine.commit_sync(std::move(request));
  };
  auto stale = with_premise("t2", std::nullopt);
  ASSERT_FALSE(stale);
  EXPECT_EQ(stale.error().code, "stale_context");
  EXPECT_EQ(stale.error().param, "reads[0].readAt");
  EXPECT_FALSE(engine.entity(participant("r"), {"org:org_1"}, "Task", "t2")) << "nothing applied";

  auto notified = with_premise("t3", OnStale::kFlag);
  ASSERT_TRUE(notified) << notified.error().message;
  ASSERT_EQ(notified->stale_notices.size(), 1u);
  const auto& notice = notified->stale_notices[0];
  EXPECT_EQ(notice.id, "t1");
  EXPECT_EQ(notice.written_by_id, "p2");
  EXPECT_EQ(notice.observed_sync_id, created->last_sync_id + 1);
  EXPECT_EQ(notice.current_values, (json::object{{"title", "b"}}));
  EXPECT_FALSE(notice.group);
  EXPECT_TRUE(with_premise("t4", OnStale::kForce));
}

TEST_P(EngineTest, AReplayKeepsTheCommitsCreationTime) {
  auto first = commit("p1", {create("t1", {{"title", "a"}, {"status", "todo"}})}, "same");
  ASSERT_TRUE(first);
  EXPECT_GT(first->created_at_ms, 0);
  EXPECT_GE(first->status_at_ms, first->created_at_ms);
  std::this_thread::sleep_for(std::chrono::milliseconds(5));
  auto replay = commit("p1", {create("t1", {{"title", "a"}, {"status", "todo"}})}, "same");
  ASSERT_TRUE(replay);
  EXPECT_EQ(replay->created_at_ms, first->created_at_ms);
  EXPECT_GT(replay->status_at_ms, first->created_at_ms);
}

TEST(ReadPremises, ParseRowsAndGroupsAndBoundTheirNumber) {
  auto parsed = parse_read_premises(json::parse(R"({"reads":[
      {"model":"task","id":"t1","fields":["title"],"readAt":7,"onStale":"notify"},
      {"group":"team:a","readAt":3}],"track":[{"model":"task","id":"t9"}]})").as_object());
  ASSERT_TRUE(parsed) << parsed.error().message;
  ASSERT_EQ(parsed->size(), 2u);
  const auto& row = std::get<RowPremise>((*parsed)[0]);
  EXPECT_EQ(row.read_at, 7);
  EXPECT_EQ(row.on_stale, OnStale::kFlag) << "notify is 0.9.1's flag";
  EXPECT_EQ(row.fields, std::vector<std::string>{"title"});
  EXPECT_EQ(std::get<GroupPremise>((*parsed)[1]).group, "team:a");

  for (const char* bad : {R"({"reads":[{"model":"task","id":"t1"}]})", R"({"reads":[{"readAt":1}]})",
                          R"({"reads":{}})", R"({"track":[{"readAt":1}]})",
                          R"({"reads":[{"group":"g:1","readAt":-1}]})"}) {
    auto refused = parse_read_premises(json::parse(bad).as_object());
    ASSERT_FALSE(refused) << bad;
    EXPECT_EQ(refused.error().code, "commit_operation_invalid") << bad;
  }
  json::array many(kMaxReadDependencies + 1, json::object{{"group", "g:1"}, {"readAt", 0}});
  auto too_many = parse_read_premises(json::object{{"track", many}});
  ASSERT_FALSE(too_many);
  EXPECT_EQ(too_many.error().code, "commit_operation_invalid");
}

TEST(StaleGuard, BothOnStaleVocabulariesParse) {
  const std::pair<const char*, OnStale> names[] = {{"reject", OnStale::kReject}, {"force", OnStale::kForce},
                                                   {"overwrite", OnStale::kForce}, {"flag", OnStale::kFlag},
                                                   {"notify", OnStale::kFlag},  {"merge", OnStale::kMerge}};
  for (const auto& [name, policy] : names) {
    auto guard = parse_stale_guard(json::object{{"onStale", name}});
    ASSERT_TRUE(guard) << name;
    EXPECT_EQ(guard->on_stale, policy) << name;
  }
  EXPECT_FALSE(parse_stale_guard(json::object{{"onStale", "sometimes"}}));
}

TEST(CommitPayload, OperationsCarryClaimIdAndFenceToken) {
  auto parsed = parse_commit_payload(json::parse(R"({"clientTxId":"c","operations":[
      {"type":"UPDATE","model":"task","id":"t1","input":{},"claimId":"clm_1","fenceToken":4}]})").as_object());
  ASSERT_TRUE(parsed) << parsed.error().message;
  EXPECT_EQ(parsed->operations[0].claim_id, "clm_1");
  EXPECT_EQ(parsed->operations[0].fence_token, 4);
}

// A write transaction that passes everything to the store's own, except that it refuses the
// flush that follows the delta of one row (as a store that holds writes back refuses a
// duplicate another node created meanwhile): the refusal comes after the commit wrote.
class RefusingFlushTransaction final : public store::WriteTransaction {
 public:
  RefusingFlushTransaction(store::WriteTransaction& inner, std::string refused_row_id)
      : inner_(inner), refused_row_id_(std::move(refused_row_id)) {}

  bool failed_statement_keeps_transaction() const override { return inner_.failed_statement_keeps_transaction(); }
  Status savepoint() override { return inner_.savepoint(); }
  Status release_savepoint() override { return inner_.release_savepoint(); }
  Status rollback_to_savepoint() override { return inner_.rollback_to_savepoint(); }
  Status flush() override {
    if (std::exchange(refuse_next_flush_, false)) {
      return fail("unique_violation", "row '" + refused_row_id_ + "' was created meanwhile");
    }
    return inner_.flush();
  }
  Result<std::optional<store::StoredRow>> get_row(const schema::Model& m, const std::string& t,
                                                  const std::string& id) override {
    return inner_.get_row(m, t, id);
  }
  Status insert_row(const schema::Model& m, const std::string& t, const store::StoredRow& r) override {
    return inner_.insert_row(m, t, r);
  }
  Status update_row(const schema::Model& m, const std::string& t, const store::StoredRow& r) override {
    return inner_.update_row(m, t, r);
  }
  Status delete_row(const schema::Model& m, const std::string& t, const std::string& id) override {
    return inner_.delete_row(m, t, id);
  }
  Result<int64_t> append_delta(const store::Delta& delta) override {
    if (delta.model_id == refused_row_id_) refuse_next_flush_ = true;
    return inner_.append_delta(delta);
  }
  Result<bool> has_foreign_write_since(const std::string& t, const std::string& m, const std::string& id, int64_t after,
                                       const std::string& p) override {
    return inner_.has_foreign_write_since(t, m, id, after, p);
  }
  Status add_usage(const std::string& t, const std::string& d, const std::string& k, const std::string& e, double q,
                   int64_t c) override {
    return inner_.add_usage(t, d, k, e, q, c);
  }
  Result<std::optional<std::string>> find_idempotency(const std::string& t, const std::string& k) override {
    return inner_.find_idempotency(t, k);
  }
  Result<std::vector<std::optional<std::string>>> find_idempotency_many(
      const std::vector<std::pair<std::string, std::string>>& keys) override {
    return inner_.find_idempotency_many(keys);
  }
  Status put_idempotency(const std::string& t, const std::string& k, const std::string& v) override {
    return inner_.put_idempotency(t, k, v);
  }
  Result<std::vector<std::string>> open_task_ids_of_capability(const std::string& t, const std::string& c) override {
    return inner_.open_task_ids_of_capability(t, c);
  }
  Result<int64_t> install_schema(const schema::Schema& s) override { return inner_.install_schema(s); }
  Status apply_migration(const schema::Schema& p, const schema::Schema& n, const schema::MigrationPlan& plan) override {
    return inner_.apply_migration(p, n, plan);
  }
  Status append_audit(const store::AuditRecord& r) override { return inner_.append_audit(r); }
  Result<std::optional<std::pair<int64_t, std::string>>> last_audit_link(const std::string& t) override {
    return inner_.last_audit_link(t);
  }

 private:
  store::WriteTransaction& inner_;
  std::string refused_row_id_;
  bool refuse_next_flush_ = false;
};

// A store whose sync() the test can hold (to see what happens while an fsync runs) or fail;
// everything else is the real SQLite store underneath.
class HeldSyncStore final : public store::Store {
 public:
  explicit HeldSyncStore(store::Store& inner) : inner_(inner) {}

  // sync() blocks until release() while held; the next sync fails after fail_next_sync().
  void hold() {
    std::lock_guard lock(mutex_);
    held_ = true;
  }
  void release() {
    std::lock_guard lock(mutex_);
    held_ = false;
    changed_.notify_all();
  }
  void fail_next_sync() {
    std::lock_guard lock(mutex_);
    fail_next_ = true;
  }
  // After `skip` more write transactions, the next one fails after its body ran (its work is
  // rolled back).
  void fail_write_after(int skip) {
    std::lock_guard lock(mutex_);
    writes_to_skip_ = skip;
  }
  // Every later write transaction refuses the flush after the delta of row `id`
  // (RefusingFlushTransaction).
  void refuse_flush_after_delta_of(std::string id) {
    std::lock_guard lock(mutex_);
    refused_row_id_ = std::move(id);
  }
  // Write transactions run so far (each write_unsynced call, failed ones included).
  int writes_started() {
    std::lock_guard lock(mutex_);
    return writes_started_;
  }
  // Waits until a sync is blocked in hold().
  bool wait_until_sync_blocked() {
    std::unique_lock lock(mutex_);
    return changed_.wait_for(lock, std::chrono::seconds(10), [this] { return blocked_; });
  }
  // Waits until `writes` write_unsynced calls returned in all.
  bool wait_for_writes(int writes) {
    std::unique_lock lock(mutex_);
    return changed_.wait_for(lock, std::chrono::seconds(10), [&] { return writes_ >= writes; });
  }
  int writes() {
    std::lock_guard lock(mutex_);
    return writes_;
  }

  Status write(const std::function<Status(store::WriteTransaction&)>& body) override {
    if (auto ok = write_unsynced(body); !ok) return ok;
    return sync();
  }
  Status write_unsynced(const std::function<Status(store::WriteTransaction&)>& body) override {
    bool fail_this = false;
    std::string refused_row_id;
    {
      std::lock_guard lock(mutex_);
      if (writes_to_skip_ == 0) fail_this = true;
      if (writes_to_skip_ >= 0) --writes_to_skip_;
      refused_row_id = refused_row_id_;
      ++writes_started_;
    }
    // A failing write runs its body, then the database goes away: the backend rolls it back.
    auto ok = inner_.write_unsynced([&](store::WriteTransaction& txn) -> Status {
      std::optional<RefusingFlushTransaction> refusing;
      if (!refused_row_id.empty()) refusing.emplace(txn, refused_row_id);
      if (auto done = refusing ? body(*refusing) : body(txn); !done) return done;
      if (fail_this) return fail(kStoreUnavailable, "the database connection was lost");
      return {};
    });
    std::lock_guard lock(mutex_);
    ++writes_;
    changed_.notify_all();
    return ok;
  }
  Status sync() override {
    {
      std::unique_lock lock(mutex_);
      blocked_ = held_;
      changed_.notify_all();
      changed_.wait(lock, [this] { return !held_; });
      blocked_ = false;
      if (std::exchange(fail_next_, false)) return fail(kStoreUnavailable, "fsync of the write-ahead log failed: EIO");
    }
    return inner_.sync();
  }

  Result<std::optional<store::SchemaVersion>> active_schema() override { return inner_.active_schema(); }
  Result<std::vector<store::SchemaVersion>> schema_versions(int limit) override { return inner_.schema_versions(limit); }
  Result<int64_t> head_sync_id() override { return inner_.head_sync_id(); }
  Result<std::vector<store::Delta>> read_deltas(const std::string& t, int64_t a, int64_t u, int l) override {
    return inner_.read_deltas(t, a, u, l);
  }
  Result<std::vector<store::Delta>> read_log(int64_t a, int l) override { return inner_.read_log(a, l); }
  Result<std::optional<store::StoredRow>> get_row(const schema::Model& m, const std::string& t,
                                                  const std::string& id) override {
    return inner_.get_row(m, t, id);
  }
  Status scan_rows(const store::RowQuery& q, const std::function<bool(store::StoredRow&&)>& v) override {
    return inner_.scan_rows(q, v);
  }
  Status scan_row_texts(const store::RowQuery& q, const store::RowTextScan& s) override {
    return inner_.scan_row_texts(q, s);
  }
  Status put_api_key(const store::ApiKeyRecord& k) override { return inner_.put_api_key(k); }
  Result<std::optional<store::ApiKeyRecord>> find_api_key(const std::string& h) override { return inner_.find_api_key(h); }
  Status put_capability(const store::CapabilityRecord& c) override { return inner_.put_capability(c); }
  Result<std::optional<store::CapabilityRecord>> find_capability(const std::string& h) override {
    return inner_.find_capability(h);
  }
  Result<std::optional<store::CapabilityRecord>> find_capability_by_id(const std::string& id) override {
    return inner_.find_capability_by_id(id);
  }
  Result<std::vector<store::CapabilityRecord>> child_capabilities(const std::string& p) override {
    return inner_.child_capabilities(p);
  }
  Result<std::vector<store::CapabilityRecord>> list_capabilities(const store::CapabilityListQuery& q) override {
    return inner_.list_capabilities(q);
  }
  Status put_task(const store::TaskRecord& t) override { return inner_.put_task(t); }
  Result<std::optional<store::TaskRecord>> find_task(const std::string& t, const std::string& id) override {
    return inner_.find_task(t, id);
  }
  Result<std::vector<store::TaskRecord>> open_tasks_of_capability(const std::string& t, const std::string& c) override {
    return inner_.open_tasks_of_capability(t, c);
  }
  Result<std::vector<store::UsageRow>> usage(const std::string& t, const std::string& f, const std::string& to) override {
    return inner_.usage(t, f, to);
  }
  Result<std::optional<std::string>> get_setting(const std::string& k) override { return inner_.get_setting(k); }
  Status put_setting(const std::string& k, const std::string& v) override { return inner_.put_setting(k, v); }
  Result<bool> put_setting_if_absent(const std::string& k, const std::string& v) override {
    return inner_.put_setting_if_absent(k, v);
  }
  Result<std::vector<store::AuditRecord>> read_audit(const store::AuditQuery& q) override {
    return inner_.read_audit(q);
  }

 private:
  store::Store& inner_;
  std::mutex mutex_;
  std::condition_variable changed_;
  bool held_ = false, blocked_ = false, fail_next_ = false;
  int writes_to_skip_ = -1;  // fail_write_after: -1 = no write fails
  int writes_ = 0;
  int writes_started_ = 0;
  std::string refused_row_id_;  // refuse_flush_after_delta_of
};

// The commit pipeline's promise (engine/commit_pipeline.h): the writer applies the next group
// while the previous group's sync runs, and nothing is published or acknowledged before the
// sync that covers it returned, in commit order.
struct CommitPipelineTest : ::testing::Test {
  testing::TestStore backing{"sqlite"};
  HeldSyncStore store{*backing.store};
  fanout::Hub hub{[this](const std::string& t, int64_t a, int64_t u, int l) { return store.read_deltas(t, a, u, l); }};
  Engine engine{store, hub};

  void SetUp() override {
    ASSERT_TRUE(engine.start());
    auto pushed = engine.push_schema(json::parse(kSchema));
    ASSERT_TRUE(pushed) << pushed.error().message;
  }

  // Submits a one-row create; its answer is appended to `answers` (in answer order).
  std::shared_ptr<std::promise<Result<CommitReceipt>>> submit(const std::string& id) {
    auto answered = std::make_shared<std::promise<Result<CommitReceipt>>>();
    CommitRequest request;
    request.principal = EngineTest::participant("p1");
    request.client_tx_id = "ctx-" + id;
    request.operations = {EngineTest::create(id, {{"title", id}, {"status", "todo"}}, "tx-" + id)};
    engine.commit(std::move(request), [this, id, answered](Result<CommitReceipt> result) {
      {
        std::lock_guard lock(mutex);
        answers.push_back(id);
        heads_at_answer.push_back(hub.head());
      }
      answered->set_value(std::move(result));
    });
    return answered;
  }
  std::vector<std::string> answered_ids() {
    std::lock_guard lock(mutex);
    return answers;
  }

  std::mutex mutex;
  std::vector<std::string> answers;
  std::vector<int64_t> heads_at_answer;
};

TEST_F(CommitPipelineTest, AcksWaitForTheSyncThatCoversThemAndComeInCommitOrder) {
  const int64_t head_before = hub.head();
  const int writes_before = store.writes();
  store.hold();
  auto a = submit("a");
  ASSERT_TRUE(store.wait_until_sync_blocked()) << "a's group never reached its sync";
  // a is committed but its sync has not returned: not published, not answered.
  auto b = submit("b");
  ASSERT_TRUE(store.wait_for_writes(writes_before + 2)) << "the writer did not apply b while a's sync ran";
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  EXPECT_TRUE(answered_ids().empty()) << "a commit was answered before its sync returned";
  EXPECT_EQ(hub.head(), head_before) << "a delta was published before its sync returned";
  store.release();
  auto a_result = a->get_future().get();
  auto b_result = b->get_future().get();
  ASSERT_TRUE(a_result) << a_result.error().message;
  ASSERT_TRUE(b_result) << b_result.error().message;
  EXPECT_LT(a_result->last_sync_id, b_result->last_sync_id);
  EXPECT_EQ(answered_ids(), (std::vector<std::string>{"a", "b"}));
  std::lock_guard lock(mutex);
  // Each answer came after its own delta was published (the hub's head covers it).
  EXPECT_GE(heads_at_answer[0], a_result->last_sync_id);
  EXPECT_GE(heads_at_answer[1], b_result->last_sync_id);
}

TEST_F(CommitPipelineTest, AFailedSyncFailsItsGroupAndNothingOfItIsPublishedOrAcknowledged) {
  const int64_t head_before = hub.head();
  CapturingOutbox outbox;
  auto sub = hub.subscribe("org_1/test", {"org:org_1"}, &outbox);
  ASSERT_TRUE(hub.catch_up(sub, 0));
  store.fail_next_sync();
  auto lost = submit("lost")->get_future().get();
  ASSERT_FALSE(lost) << "a commit whose sync failed was acknowledged";
  EXPECT_EQ(lost.error().code, std::string(kStoreUnavailable.view()));
  EXPECT_EQ(hub.head(), head_before);
  {
    std::lock_guard lock(outbox.mutex);
    EXPECT_TRUE(outbox.deltas.empty()) << "a delta of the failed group was published";
  }
  hub.unsubscribe(sub);
}

// A commit of one operation runs without a savepoint of its own (commit_pipeline.cpp). When
// one fails after it wrote, its group is applied again with savepoints: it fails alone and
// leaves nothing behind (no row, no delta, no idempotency record), its neighbours apply.
TEST_F(CommitPipelineTest, ASingleOpCommitRefusedAfterItWroteFailsAloneAndLeavesNothing) {
  auto gate = std::make_shared<HoldingGate>();
  engine.set_write_gate(gate);
  auto blocker = submit("blocker");
  gate->wait_until_held();
  store.refuse_flush_after_delta_of("refused");
  const int writes_before = store.writes_started();
  auto before = submit("before");
  auto refused = submit("refused");
  auto after = submit("after");
  gate->release();
  ASSERT_TRUE(blocker->get_future().get());
  auto before_result = before->get_future().get();
  auto refused_result = refused->get_future().get();
  auto after_result = after->get_future().get();
  ASSERT_TRUE(before_result) << before_result.error().message;
  ASSERT_TRUE(after_result) << after_result.error().message;
  ASSERT_FALSE(refused_result) << "a refused commit was acknowledged";
  EXPECT_EQ(refused_result.error().code, "unique_violation");
  EXPECT_EQ(after_result->last_sync_id, before_result->last_sync_id + 1) << "the refused commit kept a delta";
  // The blocker's group, then the group of three twice: without savepoints, then with them.
  EXPECT_EQ(store.writes_started(), writes_before + 3) << "the group was not applied again with savepoints";
  engine.set_write_gate(nullptr);
  auto deltas = store.read_deltas("org_1/test", 0, hub.head(), 100);
  ASSERT_TRUE(deltas);
  for (const auto& delta : *deltas) EXPECT_NE(delta.model_id, "refused");
  EXPECT_FALSE(engine.entity(EngineTest::participant("r"), {"org:org_1"}, "Task", "refused"));
  // Nothing of it was recorded: once the store takes it, the same commit applies afresh.
  store.refuse_flush_after_delta_of("");
  auto retried = submit("refused")->get_future().get();
  ASSERT_TRUE(retried) << retried.error().message;
  EXPECT_FALSE(retried->replayed);
  EXPECT_GT(retried->last_sync_id, after_result->last_sync_id);
}

TEST_F(CommitPipelineTest, ASchemaPushIsAnsweredOnlyOnceDurable) {
  store.hold();
  std::promise<Result<SchemaPush>> pushed;
  std::thread pusher([&] { pushed.set_value(engine.push_schema(json::parse(kSchema))); });
  auto answer = pushed.get_future();
  ASSERT_TRUE(store.wait_until_sync_blocked());
  EXPECT_EQ(answer.wait_for(std::chrono::milliseconds(50)), std::future_status::timeout)
      << "the push was answered before its sync returned";
  store.release();
  pusher.join();
  EXPECT_TRUE(answer.get());
}

// The audit queue under faults (issue 13): a group that fails keeps its queued rows for a later
// group (written once, in order), and the queue is bounded.
struct AuditQueueTest : ::testing::TestWithParam<std::string> {
  testing::TestStore backing{GetParam()};
  HeldSyncStore store{*backing.store};
  fanout::Hub hub{[this](const std::string& t, int64_t a, int64_t u, int l) { return store.read_deltas(t, a, u, l); }};
  // A small bound: filling the default one (kMaxQueuedAuditRows) took 30-55 s under TSan.
  static constexpr std::size_t kAuditBound = 1000;
  Engine engine{store, hub,
                EngineOptions{.audit_key = "engine-test-audit-key-0123456789abcdef", .max_queued_audit_rows = kAuditBound}};

  void SetUp() override {
    ASSERT_TRUE(engine.start());
    auto pushed = engine.push_schema(json::parse(kSchema));
    ASSERT_TRUE(pushed) << pushed.error().message;
  }
};

TEST_P(AuditQueueTest, RowsOfAFailedGroupAreWrittenOnceByALaterGroupInOrder) {
  const int writes_before = store.writes();
  store.fail_write_after(0);  // the next group: audit rows only
  engine.record_audit_later(claim_row("org_1/test", "claim_1"));
  engine.record_audit_later(claim_row("org_1/test", "claim_2"));
  ASSERT_TRUE(store.wait_for_writes(writes_before + 1));
  // Nothing else is queued: the kept rows are retried alone (after kAuditRetryDelay at most).
  for (int i = 0; i < 500 && chain_of(engine, "org_1/test").size() < 2; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  // Counted once the write returned, which is after its COMMIT: the chain may show the rows a
  // moment before the count does (seen on PostgreSQL), so the count is waited for.
  EXPECT_TRUE(store.wait_for_writes(writes_before + 2)) << "the rows were written by a later group";
  auto committed = EngineTest::commit_with(engine, "after");
  ASSERT_TRUE(committed) << committed.error().message;
  EXPECT_EQ(chain_of(engine, "org_1/test"),
            (std::vector<std::pair<int64_t, std::string>>{{1, "claim_1"}, {2, "claim_2"}, {3, "after"}}));
  expect_chain_verifies(engine, "org_1/test");
  EXPECT_EQ(engine.audit_rows_dropped(), 0u);
}

TEST_P(AuditQueueTest, ACommitGroupThatFailsTakesItsQueuedRowsAlongAndTheNextGroupWritesThem) {
  // Hold the writer in a group, queue a row and a commit behind it, and fail the group after.
  auto gate = std::make_shared<HoldingGate>();
  engine.set_write_gate(gate);
  std::promise<Result<CommitReceipt>> first;
  {
    CommitRequest request;
    request.principal = EngineTest::participant("p1");
    request.client_tx_id = "first";
    request.operations = {EngineTest::create("first", {{"title", "x"}, {"status", "todo"}})};
    engine.commit(std::move(request), [&first](Result<CommitReceipt> r) { first.set_value(std::move(r)); });
  }
  gate->wait_until_held();
  store.fail_write_after(1);  // "first"'s group writes; the next one fails
  engine.record_audit_later(claim_row("org_1/test", "claim_1"));
  std::promise<Result<CommitReceipt>> failing;
  {
    CommitRequest request;
    request.principal = EngineTest::participant("p1");
    request.client_tx_id = "failing";
    request.operations = {EngineTest::create("failing", {{"title", "x"}, {"status", "todo"}})};
    engine.commit(std::move(request), [&failing](Result<CommitReceipt> r) { failing.set_value(std::move(r)); });
  }
  gate->release();
  ASSERT_TRUE(first.get_future().get());
  auto failed = failing.get_future().get();
  ASSERT_FALSE(failed) << "the group's transaction failed";
  EXPECT_EQ(failed.error().code, std::string(kStoreUnavailable.view()));
  auto committed = EngineTest::commit_with(engine, "after");
  ASSERT_TRUE(committed) << committed.error().message;
  EXPECT_EQ(chain_of(engine, "org_1/test"),
            (std::vector<std::pair<int64_t, std::string>>{{1, "first"}, {2, "claim_1"}, {3, "after"}}));
  expect_chain_verifies(engine, "org_1/test");
}

TEST_P(AuditQueueTest, RowsQueuedAMomentApartWithoutCommitsShareOneTransaction) {
  const int writes_before = store.writes();
  // One row every 3 ms, as a stream of claim events: without coalescing the idle writer would
  // write each alone (a transaction and an fsync per event).
  for (int i = 0; i < 10; ++i) {
    engine.record_audit_later(claim_row("org_1/test", "claim_" + std::to_string(i)));
    std::this_thread::sleep_for(std::chrono::milliseconds(3));
  }
  for (int i = 0; i < 500 && chain_of(engine, "org_1/test").size() < 10; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  ASSERT_EQ(chain_of(engine, "org_1/test").size(), 10u);
  EXPECT_LE(store.writes() - writes_before, 3) << "ten rows in ~30 ms: one coalescing window (two on a slow machine)";
  expect_chain_verifies(engine, "org_1/test");
}

TEST_P(AuditQueueTest, BeyondTheBoundARowIsDroppedAndCounted) {
  auto gate = std::make_shared<HoldingGate>();
  engine.set_write_gate(gate);
  std::promise<Result<CommitReceipt>> blocker;
  {
    CommitRequest request;
    request.principal = EngineTest::participant("p1");
    request.client_tx_id = "blocker";
    request.operations = {EngineTest::create("blocker", {{"title", "x"}, {"status", "todo"}})};
    engine.commit(std::move(request), [&blocker](Result<CommitReceipt> r) { blocker.set_value(std::move(r)); });
  }
  gate->wait_until_held();
  const auto bound = kAuditBound;
  for (std::size_t i = 0; i < bound + 2; ++i) engine.record_audit_later(claim_row("org_1/test", "c"));
  EXPECT_EQ(engine.audit_rows_dropped(), 2u);
  gate->release();
  ASSERT_TRUE(blocker.get_future().get());
  auto committed = EngineTest::commit_with(engine, "after");  // written after every queued row
  ASSERT_TRUE(committed) << committed.error().message;
  auto newest = engine.audit().rows(store::AuditQuery{.tenant = "org_1/test", .descending = true, .limit = 1});
  ASSERT_TRUE(newest && newest->size() == 1u);
  EXPECT_EQ(newest->front().chain_seq, static_cast<int64_t>(bound) + 2) << "the blocker, the bound's rows, then after";
  EXPECT_EQ(newest->front().commit_id, "after");
}

INSTANTIATE_TEST_SUITE_P(Stores, AuditQueueTest, ::testing::ValuesIn(testing::test_stores()),
                         [](const auto& info) { return info.param; });

// The idempotency record is written from to_json_text (no tree): the same bytes as the tree.
TEST(CommitReceiptTest, ItsTextIsTheSerializedTree) {
  CommitReceipt receipt;
  receipt.client_tx_id = "tx \"quoted\" \\ \n\x01 ünï";
  receipt.last_sync_id = 9'007'199'254'740'993;
  receipt.ops = 3;
  EXPECT_EQ(receipt.to_json_text(), json::serialize(receipt.to_json()));
  receipt.flagged_stale = true;
  receipt.client_tx_id.clear();
  EXPECT_EQ(receipt.to_json_text(), json::serialize(receipt.to_json()));
}

INSTANTIATE_TEST_SUITE_P(Stores, EngineTest, ::testing::ValuesIn(testing::test_stores()),
                         [](const auto& info) { return info.param; });

}  // namespace
}  // namespace ablo::engine
