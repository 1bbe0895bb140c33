// The direct PostgreSQL source (selfHosted) against a real database: the conformance checks
// C1–C7 of datasource.md §2, atomic and idempotent commits, trigger capture of our own and of
// external writes, the numeric events cursor, list queries, LISTEN wake-ups, capture install,
// tenancy and reconnects. Each test gets a fresh database; skipped without ABLO_TEST_DATABASE_URL.
#include <atomic>
#include <chrono>
#include <set>
#include <thread>

#include <boost/json.hpp>
#include <fmt/format.h>
#include <gtest/gtest.h>

#include "source/pg_adapter.h"
#include "support/pg_database.h"

namespace ablo::source {
namespace {

namespace json = boost::json;

constexpr const char* kSchema = R"({"v":3,"models":{
  "task":{"fields":{
      "title":{"type":"string","isOptional":true,"isIndexed":false},
      "n":{"type":"number","isOptional":true,"isIndexed":false},
      "done":{"type":"boolean","isOptional":true,"isIndexed":false},
      "dueAt":{"type":"date","isOptional":true,"isIndexed":false},
      "meta":{"type":"json","isOptional":true,"isIndexed":false}},
    "relations":{},"load":"instant","typename":"Task","tenancy":{"kind":"none"},"plane":"tenant"},
  "note":{"fields":{"body":{"type":"string","isOptional":true,"isIndexed":false}},
    "relations":{},"load":"instant","typename":"Note","tableName":"notes",
    "tenancy":{"kind":"column","column":"organization_id"},"plane":"tenant"}},
  "identityRoles":[]})";

// The customer's tables as they already exist (not created by Ablo).
constexpr const char* kCustomerTables = R"sql(
CREATE TABLE task (id TEXT PRIMARY KEY, title TEXT, n DOUBLE PRECISION, done BOOLEAN, due_at TIMESTAMPTZ,
                   meta JSONB, created_at TIMESTAMPTZ, updated_at TIMESTAMPTZ, archived_at TIMESTAMPTZ);
CREATE TABLE notes (id TEXT PRIMARY KEY, organization_id TEXT NOT NULL, body TEXT);
)sql";

Operation op(std::string type, std::string model, std::string id, json::object input = {}) {
  Operation operation;
  operation.type = std::move(type);
  operation.model = std::move(model);
  operation.id = std::move(id);
  operation.input = std::move(input);
  return operation;
}

ChangeSet change_set(std::string client_tx_id, std::vector<Operation> operations) {
  ChangeSet set;
  set.client_tx_id = std::move(client_tx_id);
  set.operations = std::move(operations);
  return set;
}

class PgSourceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (testing::test_database_url().empty()) GTEST_SKIP() << "ABLO_TEST_DATABASE_URL is not set";
    database_ = std::make_unique<testing::TempPgDatabase>();
    auto conn = pg::Connection::open(database_->url());
    ASSERT_TRUE(conn) << conn.error().message;
    psql_ = std::move(*conn);
    ASSERT_TRUE(psql_->exec_script(kCustomerTables));
    auto parsed = schema::Schema::parse_text(kSchema);
    ASSERT_TRUE(parsed) << parsed.error().message;
    schema_ = *parsed;
    auto installed = install_capture(*psql_, *schema_);
    ASSERT_TRUE(installed) << installed.error().message;
    source_ = open("org_a");
    ASSERT_TRUE(source_);
  }

  // How long wait_for_events (10 s at most) took when another connection inserts 300 ms in.
  std::chrono::steady_clock::duration wait_woken_by_an_insert() {
    std::atomic<bool> stop{false};
    std::thread writer([&] {
      std::this_thread::sleep_for(std::chrono::milliseconds(300));
      auto conn = pg::Connection::open(database_->url());
      if (conn) (void)(*conn)->exec_script("INSERT INTO task (id) VALUES ('woke')");
    });
    const auto started = std::chrono::steady_clock::now();
    source_->wait_for_events(std::chrono::seconds(10), stop);
    const auto waited = std::chrono::steady_clock::now() - started;
    writer.join();
    return waited;
  }

  std::unique_ptr<DataAdapter> open(const std::string& organization_id) {
    auto source = open_pg_source({database_->url(), [this] { return schema_; }, organization_id});
    EXPECT_TRUE(source) << source.error().message;
    return source ? std::move(*source) : nullptr;
  }

  std::vector<json::object> commit(const ChangeSet& set) {
    auto rows = source_->commit(set);
    EXPECT_TRUE(rows) << rows.error().code << ": " << rows.error().message;
    return rows ? *rows : std::vector<json::object>{};
  }

  std::vector<Event> all_events() {
    auto page = source_->events(std::nullopt, 1000);
    EXPECT_TRUE(page) << page.error().message;
    return page ? page->events : std::vector<Event>{};
  }

  // Runs a statement as the customer's own code would (another connection, no Ablo session).
  void psql(const std::string& sql) {
    auto ran = psql_->exec_script(sql);
    ASSERT_TRUE(ran) << ran.error().message << "\n" << sql;
  }
  int64_t count(const std::string& table) {
    auto rows = psql_->exec("SELECT count(*) FROM " + pg::quote_identifier(table));
    EXPECT_TRUE(rows) << rows.error().message;
    return rows ? rows->int64(0, 0) : -1;
  }

  std::vector<std::string> listed_ids(const ListQuery& query, const std::string& model = "task") {
    auto page = source_->list(model, query, {});
    EXPECT_TRUE(page) << page.error().message;
    std::vector<std::string> ids;
    if (page) {
      for (const auto& row : page->rows) ids.emplace_back(row.at("id").as_string());
    }
    return ids;
  }

  std::unique_ptr<testing::TempPgDatabase> database_;
  std::unique_ptr<pg::Connection> psql_;
  std::shared_ptr<const schema::Schema> schema_;
  std::unique_ptr<DataAdapter> source_;
};

// ---- conformance C1–C7 (datasource.md §2) ------------------------------------------------------

TEST_F(PgSourceTest, C1_CommitAppliesACreateAndReturnsTheCanonicalRow) {
  EXPECT_EQ(source_->mode(), Mode::kSelfHosted);
  auto rows = commit(change_set("tx_create", {op("CREATE", "task", "t1", {{"title", "A"}})}));
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(rows[0].at("id"), "t1");
  EXPECT_EQ(rows[0].at("title"), "A");
  // System fields the table keeps, set by the adapter, as ISO-8601 'Z' strings.
  ASSERT_TRUE(rows[0].at("createdAt").is_string());
  EXPECT_TRUE(rows[0].at("createdAt").as_string().ends_with("Z"));
  EXPECT_TRUE(rows[0].at("archivedAt").is_null());
  EXPECT_FALSE(rows[0].contains("created_at")) << "rows are field-keyed";
}

TEST_F(PgSourceTest, C2_LoadReturnsACommittedRowAndNothingForAnUnknownId) {
  commit(change_set("tx1", {op("CREATE", "task", "t1", {{"title", "A"}})}));
  auto found = source_->load("task", "t1", {});
  ASSERT_TRUE(found && *found);
  EXPECT_EQ((**found).at("title"), "A");
  auto missing = source_->load("task", "nope", {});
  ASSERT_TRUE(missing);
  EXPECT_FALSE(*missing);
}

TEST_F(PgSourceTest, C3_ListReturnsCommittedRows) {
  commit(change_set("tx_list",
                    {op("CREATE", "task", "t1", {{"title", "A"}}), op("CREATE", "task", "t2", {{"title", "B"}})}));
  EXPECT_EQ(listed_ids({}), (std::vector<std::string>{"t1", "t2"}));
}

TEST_F(PgSourceTest, C4_DuplicateClientTxIdIsAppliedOnceAndReplaysTheSameRows) {
  const auto set = change_set("tx_dup", {op("CREATE", "task", "t1", {{"title", "A"}, {"n", 1}})});
  auto first = commit(set);
  auto second = commit(set);
  ASSERT_EQ(first.size(), 1u);
  EXPECT_EQ(first, second);
  EXPECT_EQ(listed_ids({}).size(), 1u);
  auto events = all_events();
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].client_tx_id, "tx_dup");
}

TEST_F(PgSourceTest, C5_CommitAppendsOutboxEventsWithTheOriginatingClientTxId) {
  commit(change_set("tx_evt", {op("CREATE", "task", "t1", {{"title", "A"}})}));
  auto events = all_events();
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].entity_id, "t1");
  EXPECT_EQ(events[0].model, "task");
  EXPECT_EQ(events[0].type, "CREATE");
  EXPECT_EQ(events[0].client_tx_id, "tx_evt");
  ASSERT_TRUE(events[0].data);
  EXPECT_EQ(events[0].data->at("title"), "A");
}

TEST_F(PgSourceTest, C6_EventsCursorAdvancesAndNeverRedeliversAPage) {
  commit(change_set("tx_a", {op("CREATE", "task", "t1")}));
  commit(change_set("tx_b", {op("CREATE", "task", "t2")}));
  auto first = source_->events(std::nullopt, 1);
  ASSERT_TRUE(first);
  ASSERT_EQ(first->events.size(), 1u);
  ASSERT_TRUE(first->next_cursor && !first->next_cursor->empty());
  auto second = source_->events(first->next_cursor, 100);
  ASSERT_TRUE(second);
  ASSERT_EQ(second->events.size(), 1u);
  EXPECT_NE(second->events[0].id, first->events[0].id);
  auto third = source_->events(second->next_cursor ? second->next_cursor : first->next_cursor, 100);
  ASSERT_TRUE(third);
  EXPECT_TRUE(third->events.empty());
  EXPECT_FALSE(third->next_cursor) << "an empty page keeps the caller's cursor";
}

TEST_F(PgSourceTest, C7_ALaterUpdateUnderANewClientTxIdIsApplied) {
  commit(change_set("tx_c1", {op("CREATE", "task", "t1", {{"title", "A"}})}));
  auto updated = commit(change_set("tx_u1", {op("UPDATE", "task", "t1", {{"title", "B"}})}));
  ASSERT_EQ(updated.size(), 1u);
  EXPECT_EQ(updated[0].at("title"), "B");
  auto loaded = source_->load("task", "t1", {});
  ASSERT_TRUE(loaded && *loaded);
  EXPECT_EQ((**loaded).at("title"), "B");
}

// ---- commits ----------------------------------------------------------------------------------

TEST_F(PgSourceTest, AFailingOperationLeavesNoRowNoEventAndNoLedgerEntry) {
  auto failed = source_->commit(change_set(
      "tx_atomic", {op("CREATE", "task", "t1", {{"title", "A"}}), op("UPDATE", "task", "missing", {{"title", "B"}}),
                    op("CREATE", "task", "t3", {{"title", "C"}})}));
  ASSERT_FALSE(failed);
  EXPECT_EQ(failed.error().code, "entity_not_found");
  EXPECT_EQ(count("task"), 0);
  EXPECT_EQ(count("ablo_outbox"), 0);
  EXPECT_EQ(count("ablo_idempotency"), 0);
  // Nothing was recorded, so the same clientTxId may carry a corrected batch.
  auto retried = source_->commit(change_set("tx_atomic", {op("CREATE", "task", "t1", {{"title", "A"}})}));
  EXPECT_TRUE(retried) << retried.error().message;
}

TEST_F(PgSourceTest, MissingRowsAndDuplicateCreatesAreRefused) {
  commit(change_set("tx_1", {op("CREATE", "task", "t1")}));
  for (const char* type : {"ARCHIVE", "UNARCHIVE", "DELETE"}) {
    auto refused = source_->commit(change_set(std::string("tx_missing_") + type, {op(type, "task", "ghost")}));
    ASSERT_FALSE(refused) << type;
    EXPECT_EQ(refused.error().code, "entity_not_found") << type;
  }
  auto duplicate = source_->commit(change_set("tx_dup_create", {op("CREATE", "task", "t1")}));
  ASSERT_FALSE(duplicate);
  EXPECT_EQ(duplicate.error().code, "unique_violation");
  auto unknown_field = source_->commit(change_set("tx_bad", {op("CREATE", "task", "t9", {{"nope", 1}})}));
  ASSERT_FALSE(unknown_field);
  EXPECT_EQ(unknown_field.error().code, "invalid_request");
  EXPECT_EQ(count("task"), 1);
}

TEST_F(PgSourceTest, ArchiveUnarchiveAndDeleteWriteTheRowAndReportTheirType) {
  commit(change_set("tx_1", {op("CREATE", "task", "t1", {{"title", "A"}})}));
  auto archived = commit(change_set("tx_2", {op("ARCHIVE", "task", "t1")}));
  ASSERT_EQ(archived.size(), 1u);
  EXPECT_TRUE(archived[0].at("archivedAt").is_string());
  auto unarchived = commit(change_set("tx_3", {op("UNARCHIVE", "task", "t1")}));
  ASSERT_EQ(unarchived.size(), 1u);
  EXPECT_TRUE(unarchived[0].at("archivedAt").is_null());
  auto deleted = commit(change_set("tx_4", {op("DELETE", "task", "t1")}));
  ASSERT_EQ(deleted.size(), 1u);
  EXPECT_EQ(deleted[0].at("id"), "t1");
  EXPECT_EQ(count("task"), 0);

  auto events = all_events();
  std::vector<std::string> types;
  for (const auto& event : events) types.push_back(event.type);
  EXPECT_EQ(types, (std::vector<std::string>{"CREATE", "ARCHIVE", "UNARCHIVE", "DELETE"}));
  EXPECT_FALSE(events.back().data) << "a DELETE carries no row";
}

TEST_F(PgSourceTest, TypedValuesAreWrittenAndReadBackAsTheFieldsCarryThem) {
  json::object input{{"title", "typed"},
                     {"n", 1.25},
                     {"done", false},
                     {"dueAt", 1767323045678},  // epoch ms, as JS dates travel
                     {"meta", json::object{{"nested", json::array{1, "two", nullptr}}}}};
  auto rows = commit(change_set("tx_typed", {op("CREATE", "task", "t1", input)}));
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(rows[0].at("n").to_number<double>(), 1.25);
  EXPECT_EQ(rows[0].at("done"), false);
  EXPECT_EQ(rows[0].at("dueAt"), "2026-01-02T03:04:05.678Z");
  EXPECT_EQ(rows[0].at("meta"), input.at("meta"));
  auto stored = psql_->exec("SELECT due_at = '2026-01-02T03:04:05.678Z'::timestamptz, meta->'nested'->>1 FROM task");
  ASSERT_TRUE(stored && stored->size() == 1);
  EXPECT_TRUE(stored->boolean(0, 0));
  EXPECT_EQ(stored->text(0, 1), "two");

  auto cleared = commit(change_set("tx_clear", {op("UPDATE", "task", "t1", {{"dueAt", nullptr}, {"title", "ISO"}})}));
  ASSERT_EQ(cleared.size(), 1u);
  EXPECT_TRUE(cleared[0].at("dueAt").is_null());
  EXPECT_EQ(cleared[0].at("n").to_number<double>(), 1.25) << "an UPDATE leaves the other fields";
  auto loaded = source_->load("task", "t1", {});
  ASSERT_TRUE(loaded && *loaded);
  EXPECT_EQ(**loaded, cleared[0]);
}

TEST_F(PgSourceTest, AReplayWithOtherOperationsIsAnIdempotencyConflict) {
  commit(change_set("tx_same", {op("CREATE", "task", "t1", {{"title", "A"}})}));
  auto conflict = source_->commit(change_set("tx_same", {op("CREATE", "task", "t1", {{"title", "other"}})}));
  ASSERT_FALSE(conflict);
  EXPECT_EQ(conflict.error().code, "idempotency_conflict");
  auto loaded = source_->load("task", "t1", {});
  ASSERT_TRUE(loaded && *loaded);
  EXPECT_EQ((**loaded).at("title"), "A");
  EXPECT_EQ(count("ablo_outbox"), 1);
}

TEST_F(PgSourceTest, ConcurrentIdenticalFirstAttemptsApplyOnceAndAnswerTheSameRows) {
  auto other = open("org_a");
  ASSERT_TRUE(other);
  for (int round = 0; round < 5; ++round) {
    const auto racing = change_set("tx_race_" + std::to_string(round),
                                   {op("CREATE", "task", "r" + std::to_string(round), {{"title", "A"}})});
    Result<std::vector<json::object>> mine, theirs;
    std::thread thread([&] { theirs = other->commit(racing); });
    mine = source_->commit(racing);
    thread.join();
    ASSERT_TRUE(mine) << mine.error().message;
    ASSERT_TRUE(theirs) << theirs.error().message;
    EXPECT_EQ(*mine, *theirs);
  }
  EXPECT_EQ(count("task"), 5);
  EXPECT_EQ(count("ablo_outbox"), 5);
  EXPECT_EQ(count("ablo_idempotency"), 5);
}

// ---- capture ----------------------------------------------------------------------------------

TEST_F(PgSourceTest, ExternalWritesAreEventsWithoutClientTxIdAndFieldKeyed) {
  // The writer's session time zone shapes to_jsonb's timestamps; events still carry 'Z'.
  psql("SET TIME ZONE 'Asia/Kolkata'");
  psql(
      "INSERT INTO task (id, title, n, done, due_at, meta) "
      "VALUES ('x1', 'typed in psql', 2.5, true, '2026-01-02 03:04:05.678+00', '{\"tags\":[\"a\"]}')");
  psql("UPDATE task SET title = 'renamed' WHERE id = 'x1'");
  psql("UPDATE task SET archived_at = now() WHERE id = 'x1'");
  psql("DELETE FROM task WHERE id = 'x1'");

  auto events = all_events();
  ASSERT_EQ(events.size(), 4u);
  std::vector<std::string> types;
  for (const auto& event : events) {
    types.push_back(event.type);
    EXPECT_EQ(event.client_tx_id, "") << "an external write";
    EXPECT_EQ(event.model, "task");
    EXPECT_EQ(event.entity_id, "x1");
    EXPECT_TRUE(event.occurred_at_ms);
  }
  EXPECT_EQ(types, (std::vector<std::string>{"CREATE", "UPDATE", "ARCHIVE", "DELETE"}));
  ASSERT_TRUE(events[0].data);
  const json::object& row = *events[0].data;
  EXPECT_EQ(row.at("id"), "x1");
  EXPECT_EQ(row.at("title"), "typed in psql");
  EXPECT_EQ(row.at("n").to_number<double>(), 2.5);
  EXPECT_EQ(row.at("done"), true);
  EXPECT_EQ(row.at("dueAt"), "2026-01-02T03:04:05.678Z");
  EXPECT_EQ(row.at("meta"), (json::object{{"tags", json::array{"a"}}}));
  EXPECT_FALSE(row.contains("due_at"));
  EXPECT_EQ(events[1].data->at("title"), "renamed");
  EXPECT_FALSE(events[3].data);
}

TEST_F(PgSourceTest, OurOwnCommitProducesOneEventPerRowCarryingTheClientTxId) {
  commit(change_set("tx_three", {op("CREATE", "task", "a", {{"title", "1"}}), op("CREATE", "task", "b"),
                                 op("UPDATE", "task", "a", {{"title", "2"}})}));
  psql("INSERT INTO task (id) VALUES ('external')");
  auto events = all_events();
  ASSERT_EQ(events.size(), 4u);
  for (int i = 0; i < 3; ++i) EXPECT_EQ(events[i].client_tx_id, "tx_three") << i;
  EXPECT_EQ(events[2].type, "UPDATE");
  EXPECT_EQ(events[2].data->at("title"), "2");
  EXPECT_EQ(events[3].client_tx_id, "") << "the setting is transaction-local";
  std::set<std::string> ids;
  for (const auto& event : events) ids.insert(event.id);
  EXPECT_EQ(ids.size(), 4u) << "event ids are unique";
}

TEST_F(PgSourceTest, TheEventsCursorIsNumeric) {
  for (int i = 1; i <= 12; ++i) psql("INSERT INTO task (id) VALUES ('e" + std::to_string(i) + "')");
  auto page = source_->events(std::string("9"), 100);
  ASSERT_TRUE(page) << page.error().message;
  ASSERT_EQ(page->events.size(), 3u) << "\"10\" sorts before \"9\" as text; the cursor must compare as a number";
  EXPECT_EQ(page->events[0].entity_id, "e10");
  EXPECT_EQ(page->events[2].entity_id, "e12");
  EXPECT_EQ(page->next_cursor, "12");
  for (const char* bad : {"abc", "9x", "-1"}) {
    auto refused = source_->events(std::string(bad), 10);
    ASSERT_FALSE(refused) << bad;
    EXPECT_EQ(refused.error().code, "invalid_request") << bad;
  }
}

// Cursors are drawn in commit order (pg_adapter.h), so a follower that persists the last cursor
// never passes an event whose transaction commits later: writers on several connections commit
// and roll back concurrently while a reader follows the feed; it must see every committed row.
TEST_F(PgSourceTest, AFollowerNeverSkipsAnEventThatCommitsLate) {
  constexpr int kTransactions = 60;  // per writer, 1-2 rows each, every 5th rolled back
  auto write_many = [&](const std::string& writer) {
    auto conn = pg::Connection::open(database_->url());
    ASSERT_TRUE(conn);
    for (int i = 0; i < kTransactions; ++i) {
      std::string script = "BEGIN;";
      for (int k = 0; k <= i % 2; ++k) {
        script += fmt::format("INSERT INTO task (id) VALUES ('{}-{}-{}');", writer, i, k);
      }
      if (i % 3 == 0) script += "SELECT pg_sleep(0.005);";  // hold the transaction open a moment
      script += i % 5 == 0 ? "ROLLBACK;" : "COMMIT;";
      ASSERT_TRUE((*conn)->exec_script(script));
    }
  };
  std::atomic<bool> writing{true};
  std::thread a([&] { write_many("a"); });
  std::thread b([&] { write_many("b"); });
  std::thread c([&] { write_many("c"); });
  std::thread stopper([&] {
    a.join();
    b.join();
    c.join();
    writing = false;
  });
  std::optional<std::string> cursor;
  std::set<std::string> seen;
  int64_t last = 0, out_of_order = 0;
  auto follow = [&] {
    auto page = source_->events(cursor, 7);
    ASSERT_TRUE(page) << page.error().message;
    for (const auto& event : page->events) {
      const int64_t position = std::stoll(event.id.substr(3));  // 'pg:<cursor>'
      if (position <= last) ++out_of_order;
      last = position;
      seen.insert(event.entity_id);
    }
    if (page->next_cursor) cursor = page->next_cursor;
  };
  while (writing) follow();
  stopper.join();
  for (int i = 0; i < 20; ++i) follow();

  int expected = 0;
  for (int i = 0; i < kTransactions; ++i) expected += i % 5 == 0 ? 0 : (i % 2) + 1;
  EXPECT_EQ(out_of_order, 0);
  EXPECT_EQ(count("task"), 3 * expected);
  EXPECT_EQ(static_cast<int64_t>(seen.size()), 3 * expected) << "the follower skipped events";
}

// Two writers touching the same rows in opposite order: without capture the second simply waits
// for the first. Capture must not turn that into a deadlock (its lock is taken per statement,
// before any row lock).
TEST_F(PgSourceTest, CaptureAddsNoDeadlockBetweenWritersOfTheSameRows) {
  psql("INSERT INTO task (id, n) VALUES ('x', 0), ('y', 0)");
  auto first = pg::Connection::open(database_->url());
  auto second = pg::Connection::open(database_->url());
  ASSERT_TRUE(first && second);
  ASSERT_TRUE((*first)->exec_script("BEGIN; UPDATE task SET n = 1 WHERE id = 'x'"));
  Status second_result;
  std::thread other(
      [&] { second_result = (*second)->exec_script("BEGIN; UPDATE task SET n = 2 WHERE id = 'y'; COMMIT"); });
  std::this_thread::sleep_for(std::chrono::milliseconds(300));  // the second is waiting by now
  auto first_result = (*first)->exec_script("UPDATE task SET n = 1 WHERE id = 'y'; COMMIT");
  other.join();
  EXPECT_TRUE(first_result) << first_result.error().message;
  EXPECT_TRUE(second_result) << second_result.error().message;
  EXPECT_EQ(all_events().size(), 5u);  // 2 inserts; x and y by the first; then y by the second
}

TEST_F(PgSourceTest, WithoutCaptureInstalledCommitsAndEventsSaySo) {
  psql("DROP TABLE ablo_outbox, ablo_idempotency CASCADE");
  psql("DROP FUNCTION ablo_capture() CASCADE");
  auto committed = source_->commit(change_set("tx_1", {op("CREATE", "task", "t1")}));
  ASSERT_FALSE(committed);
  EXPECT_NE(committed.error().message.find("install_capture"), std::string::npos) << committed.error().message;
  auto events = source_->events(std::nullopt, 10);
  ASSERT_FALSE(events);
  EXPECT_NE(events.error().message.find("install_capture"), std::string::npos) << events.error().message;
  EXPECT_EQ(count("task"), 0);
}

TEST_F(PgSourceTest, EventsOfTablesOutsideTheSchemaAreSkippedButTheCursorAdvances) {
  psql("CREATE TABLE legacy (id TEXT PRIMARY KEY)");
  psql("CREATE TRIGGER ablo_capture AFTER INSERT ON legacy FOR EACH ROW EXECUTE FUNCTION ablo_capture('legacy', '')");
  psql("INSERT INTO legacy (id) VALUES ('l1')");
  auto page = source_->events(std::nullopt, 100);
  ASSERT_TRUE(page) << page.error().message;
  EXPECT_TRUE(page->events.empty());
  EXPECT_EQ(page->next_cursor, "1");
}

TEST_F(PgSourceTest, EventsOfADroppedTableStillGoOut) {
  psql("INSERT INTO notes (id, organization_id, body) VALUES ('n1', 'org_a', 'kept')");
  psql("DROP TABLE notes");
  auto page = source_->events(std::nullopt, 100);
  ASSERT_TRUE(page) << page.error().message;
  ASSERT_EQ(page->events.size(), 1u) << "the feed must not stall on a table that is gone";
  EXPECT_EQ(page->events[0].model, "note");
  ASSERT_TRUE(page->events[0].data);
  EXPECT_EQ(page->events[0].data->at("body"), "kept");
  EXPECT_EQ(page->next_cursor, "1");
}

TEST_F(PgSourceTest, WaitForEventsWakesOnAnExternalInsertAndHonoursStop) {
  const auto waited = wait_woken_by_an_insert();
  EXPECT_LT(waited, std::chrono::milliseconds(1300)) << "woken by NOTIFY, not the timeout";
  EXPECT_EQ(all_events().size(), 1u);

  std::atomic<bool> stop{false};
  std::thread stopper([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    stop = true;
  });
  const auto stop_started = std::chrono::steady_clock::now();
  source_->wait_for_events(std::chrono::seconds(10), stop);
  stopper.join();
  EXPECT_LT(std::chrono::steady_clock::now() - stop_started, std::chrono::seconds(2));
}

TEST_F(PgSourceTest, InstallAndUninstallAreIdempotentAndReportedByCaptureStatus) {
  ASSERT_TRUE(install_capture(*psql_, *schema_));  // SetUp installed once already
  auto status = capture_status(*psql_, *schema_);
  ASSERT_TRUE(status) << status.error().message;
  EXPECT_TRUE(status->installed);
  EXPECT_EQ(status->tables_captured, (std::vector<std::string>{"notes", "task"}));
  EXPECT_EQ(status->outbox_rows, 0);

  psql("INSERT INTO task (id) VALUES ('one'), ('two')");
  status = capture_status(*psql_, *schema_);
  ASSERT_TRUE(status);
  EXPECT_EQ(status->outbox_rows, 2);
  EXPECT_EQ(status->head_cursor, 2);

  for (int i = 0; i < 2; ++i) {
    auto removed = uninstall_capture(*psql_, *schema_);
    ASSERT_TRUE(removed) << removed.error().message;
  }
  psql("INSERT INTO task (id) VALUES ('uncaptured')");
  status = capture_status(*psql_, *schema_);
  ASSERT_TRUE(status);
  EXPECT_FALSE(status->installed);
  EXPECT_TRUE(status->tables_captured.empty());
  EXPECT_EQ(status->outbox_rows, 2) << "uninstall keeps the outbox and its rows";

  ASSERT_TRUE(install_capture(*psql_, *schema_));
  psql("INSERT INTO task (id) VALUES ('captured again')");
  status = capture_status(*psql_, *schema_);
  ASSERT_TRUE(status);
  EXPECT_TRUE(status->installed);
  EXPECT_EQ(status->outbox_rows, 3);
}

TEST_F(PgSourceTest, InstallFailsWithoutChangingAnythingWhenAModelTableIsMissing) {
  ASSERT_TRUE(uninstall_capture(*psql_, *schema_));
  psql("DROP TABLE notes");
  auto installed = install_capture(*psql_, *schema_);
  ASSERT_FALSE(installed);
  EXPECT_EQ(installed.error().code, "invalid_request");
  auto status = capture_status(*psql_, *schema_);
  ASSERT_TRUE(status);
  EXPECT_TRUE(status->tables_captured.empty()) << "one transaction: task got no trigger either";
}

// ---- list -------------------------------------------------------------------------------------

TEST_F(PgSourceTest, ListFiltersOrdersAndPagesWithAnOpaqueCursor) {
  psql(
      "INSERT INTO task (id, title, n, done) VALUES "
      "('a', 'apple', 1, true), ('b', 'banana', 5, false), ('c', 'cherry', 3, true), ('d', 'date', 5, NULL), "
      "('e', 'elder', NULL, false), ('f', 'fig', 2, true), ('g', 'grape', 4, false)");
  // json::value: a lone json::array in json::array{…} would be a copy of it under clang, not nested.
  auto where = [](json::array tuple) { return json::array{json::value(std::move(tuple))}; };

  ListQuery by_n;
  by_n.order_by = "n";
  by_n.descending = true;
  by_n.limit = 2;
  std::vector<std::string> paged;
  for (int pages = 0; pages < 10; ++pages) {
    auto page = source_->list("task", by_n, {});
    ASSERT_TRUE(page) << page.error().message;
    for (const auto& row : page->rows) paged.emplace_back(row.at("id").as_string());
    if (!page->next_cursor) break;
    EXPECT_EQ(page->rows.size(), 2u) << "a cursor comes only with a full page";
    by_n.cursor = *page->next_cursor;
  }
  // n descending (NULLs first, as PostgreSQL orders them), ties by id descending.
  EXPECT_EQ(paged, (std::vector<std::string>{"e", "d", "b", "g", "c", "f", "a"}));

  ListQuery ascending;
  ascending.order_by = "n";
  ascending.limit = 3;
  std::vector<std::string> up;
  for (int pages = 0; pages < 10; ++pages) {
    auto page = source_->list("task", ascending, {});
    ASSERT_TRUE(page);
    for (const auto& row : page->rows) up.emplace_back(row.at("id").as_string());
    if (!page->next_cursor) break;
    ascending.cursor = *page->next_cursor;
  }
  EXPECT_EQ(up, (std::vector<std::string>{"a", "f", "c", "g", "b", "d", "e"}));

  ListQuery query;
  query.where = where({"n", ">=", 4});
  EXPECT_EQ(listed_ids(query), (std::vector<std::string>{"b", "d", "g"}));
  query.where = where({"done", true});
  EXPECT_EQ(listed_ids(query), (std::vector<std::string>{"a", "c", "f"}));
  query.where = where({"title", "IN", json::array{"fig", "date", "nothing"}});
  EXPECT_EQ(listed_ids(query), (std::vector<std::string>{"d", "f"}));
  query.where = where({"title", "NOT IN", json::array{"fig", "date"}});
  EXPECT_EQ(listed_ids(query).size(), 5u);
  query.where = where({"title", "ILIKE", "%A%E%"});
  EXPECT_EQ(listed_ids(query), (std::vector<std::string>{"a", "d", "g"}));
  query.where = where({"n", "IS", nullptr});
  EXPECT_EQ(listed_ids(query), (std::vector<std::string>{"e"}));
  query.where = where({"done", "IS NOT", nullptr});
  EXPECT_EQ(listed_ids(query).size(), 6u);
  query.where = json::array{json::array{"n", ">", 1}, json::array{"n", "!=", 5}};
  EXPECT_EQ(listed_ids(query), (std::vector<std::string>{"c", "f", "g"}));
  query.where = where({"title", "'; DROP TABLE task; --"});
  EXPECT_TRUE(listed_ids(query).empty()) << "values are parameters";
  EXPECT_EQ(count("task"), 7);

  for (json::array bad : {json::array{"nope", 1}, json::array{"n", "~", 1}, json::array{"n", "IN", 1}}) {
    ListQuery refused;
    refused.where = where(bad);
    auto page = source_->list("task", refused, {});
    ASSERT_FALSE(page) << json::serialize(bad);
    EXPECT_EQ(page.error().code, "invalid_request") << json::serialize(bad);
  }
  ListQuery bad_order;
  bad_order.order_by = "nope";
  EXPECT_EQ(source_->list("task", bad_order, {}).error().code, "invalid_request");
  ListQuery bad_cursor;
  bad_cursor.cursor = "zz";
  EXPECT_EQ(source_->list("task", bad_cursor, {}).error().code, "invalid_request");
  EXPECT_EQ(source_->list("nope", {}, {}).error().code, "model_not_found");
}

TEST_F(PgSourceTest, ListPagesByATimestampField) {
  for (const char* id : {"e", "d", "c", "b", "a"}) {  // created in this order, ids the other way round
    commit(change_set(std::string("tx_") + id, {op("CREATE", "task", id)}));
  }
  ListQuery query;
  query.order_by = "createdAt";
  query.limit = 2;
  std::vector<std::string> ids;
  for (int pages = 0; pages < 10; ++pages) {
    auto page = source_->list("task", query, {});
    ASSERT_TRUE(page) << page.error().message;
    for (const auto& row : page->rows) ids.emplace_back(row.at("id").as_string());
    if (!page->next_cursor) break;
    query.cursor = *page->next_cursor;
  }
  EXPECT_EQ(ids, (std::vector<std::string>{"e", "d", "c", "b", "a"}));
}

// ---- tenancy, schema changes, reconnects -------------------------------------------------------

TEST_F(PgSourceTest, ATableWithATenancyColumnIsFilteredAndWrittenByOrganization) {
  psql("INSERT INTO notes (id, organization_id, body) VALUES ('mine', 'org_a', 'A'), ('theirs', 'org_b', 'B')");
  EXPECT_EQ(listed_ids({}, "note"), (std::vector<std::string>{"mine"}));
  auto theirs = source_->load("note", "theirs", {});
  ASSERT_TRUE(theirs);
  EXPECT_FALSE(*theirs) << "another organization's row is not there for us";
  auto refused = source_->commit(change_set("tx_theirs", {op("UPDATE", "note", "theirs", {{"body", "hijacked"}})}));
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().code, "entity_not_found");

  commit(change_set("tx_note", {op("CREATE", "note", "new", {{"body", "C"}})}));
  auto stored = psql_->exec("SELECT organization_id FROM notes WHERE id = 'new'");
  ASSERT_TRUE(stored && stored->size() == 1);
  EXPECT_EQ(stored->text(0, 0), "org_a");

  auto events = all_events();
  ASSERT_EQ(events.size(), 3u);
  EXPECT_EQ(events[0].organization_id, "org_a");
  EXPECT_EQ(events[1].organization_id, "org_b");
  EXPECT_EQ(events[2].organization_id, "org_a");
  EXPECT_EQ(events[2].client_tx_id, "tx_note");
  EXPECT_FALSE(events[2].data->contains("organization_id"));
}

TEST_F(PgSourceTest, ASchemaChangeIsPickedUpOnTheNextCall) {
  psql("ALTER TABLE task ADD COLUMN priority INTEGER");
  auto refused = source_->commit(change_set("tx_p0", {op("CREATE", "task", "p0", {{"priority", 1}})}));
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().code, "invalid_request") << "not in the schema yet";

  std::string text = kSchema;
  text.replace(text.find(R"("title":)"), 0, R"("priority":{"type":"number","isOptional":true,"isIndexed":false},)");
  auto parsed = schema::Schema::parse_text(text);
  ASSERT_TRUE(parsed) << parsed.error().message;
  schema_ = *parsed;
  auto rows = commit(change_set("tx_p1", {op("CREATE", "task", "p1", {{"priority", 3}})}));
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(rows[0].at("priority").to_number<double>(), 3);
}

TEST_F(PgSourceTest, ALostConnectionIsReopenedOnTheNextCall) {
  commit(change_set("tx_before", {op("CREATE", "task", "t1", {{"title", "A"}})}));
  // What a restarted or failed-over database looks like to us: every session is gone.
  psql(
      "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
      "WHERE datname = current_database() AND pid <> pg_backend_pid()");
  auto loaded = source_->load("task", "t1", {});
  ASSERT_TRUE(loaded) << loaded.error().message;
  ASSERT_TRUE(*loaded);
  auto rows = source_->commit(change_set("tx_after", {op("CREATE", "task", "t2")}));
  EXPECT_TRUE(rows) << rows.error().message;

  // The listener reconnects too and still wakes on the next write.
  EXPECT_LT(wait_woken_by_an_insert(), std::chrono::milliseconds(1500));
}

TEST(PgSourceOpenTest, AnUnreachableDatabaseIsARetryableNetworkError) {
  auto source = open_pg_source(
      {"postgresql://nobody@127.0.0.1:1/none?connect_timeout=2", [] { return schema::Schema::empty(); }, ""});
  ASSERT_FALSE(source);
  EXPECT_EQ(source.error().code, "source_network_error");
}

}  // namespace
}  // namespace ablo::source
