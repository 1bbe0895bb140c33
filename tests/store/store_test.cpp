// Every behaviour of the Store interface, checked against both implementations: the embedded
// SQLite store and the PostgreSQL store (on the server scripts/with-postgres.sh provides).
#include <algorithm>
#include <set>

#include <boost/json.hpp>
#include <fmt/format.h>
#include <gtest/gtest.h>

#include "store/pg_store.h"
#include "store/sqlite_db.h"
#include "store/sqlite_store.h"
#include "support/pg_database.h"
#include "support/temp_dir.h"

namespace ablo::store {
namespace {

namespace json = boost::json;

std::shared_ptr<const schema::Schema> test_schema() {
  auto parsed = schema::Schema::parse_text(R"({"v":3,"models":{"notes":{"fields":{
      "body":{"type":"string","isOptional":false,"isIndexed":false},
      "count":{"type":"number","isOptional":true,"isIndexed":false},
      "done":{"type":"boolean","isOptional":true,"isIndexed":false},
      "extra":{"type":"json","isOptional":true,"isIndexed":false},
      "legacyName":{"type":"string","isOptional":true,"isIndexed":false,"column":"legacy_col"}},
    "relations":{},"load":"instant","typename":"Note","tenancy":{"kind":"column","column":"organization_id"},
    "plane":"tenant"}},"identityRoles":[]})");
  EXPECT_TRUE(parsed) << (parsed ? "" : parsed.error().message);
  return *parsed;
}

// The store under test: "sqlite", "postgres", or "postgres_icu" (PostgreSQL on a database whose
// default collation is a natural-language one, kIcuEnglish).
struct StoreTest : ::testing::TestWithParam<std::string> {
  testing::TempDir dir;
  std::unique_ptr<testing::TempPgDatabase> database;
  std::unique_ptr<Store> store;
  std::shared_ptr<const schema::Schema> schema = test_schema();
  const schema::Model& notes = *schema->by_key("notes");

  void SetUp() override {
    if (GetParam() != "sqlite") {
      if (testing::test_database_url().empty()) GTEST_SKIP() << "ABLO_TEST_DATABASE_URL is not set";
      database = std::make_unique<testing::TempPgDatabase>(GetParam() == "postgres_icu" ? testing::kIcuEnglish : "");
      auto opened = open_pg_store(database->url());
      ASSERT_TRUE(opened) << opened.error().message;
      store = std::move(*opened);
    } else {
      store = *open_sqlite_store(dir.path());
    }
    ASSERT_TRUE(store->write([&](WriteTransaction& txn) -> Status {
      auto version = txn.install_schema(*schema);
      if (!version) return tl::unexpected(version.error());
      return {};
    }));
  }

  StoredRow note(std::string id, json::object fields) {
    StoredRow row;
    row.data = std::move(fields);
    row.data["id"] = std::move(id);
    row.data["createdAt"] = "2025-01-02T03:04:05.678Z";
    row.data["updatedAt"] = "2025-01-02T03:04:05.678Z";
    row.groups = {"org:org_1"};
    return row;
  }

  // The ids scan_rows returns for notes of org_1/test, in its order.
  std::vector<std::string> scanned_ids(std::vector<RowFilter> where, std::string order_by, bool descending) {
    RowQuery query;
    query.model = &notes;
    query.tenant = "org_1/test";
    query.where = std::move(where);
    query.order_by = std::move(order_by);
    query.descending = descending;
    std::vector<std::string> ids;
    EXPECT_TRUE(store->scan_rows(query, [&](StoredRow&& row) {
      ids.emplace_back(row.data.at("id").as_string());
      return true;
    }));
    return ids;
  }
};

TEST_P(StoreTest, RowsRoundTripEveryFieldType) {
  ASSERT_TRUE(store->write([&](WriteTransaction& txn) {
    return txn.insert_row(notes, "org_1/test",
                          note("n1", {{"body", "hi"}, {"count", 3}, {"done", true}, {"extra", json::array{1, "x"}},
                                      {"legacyName", "old"}}));
  }));
  auto row = store->get_row(notes, "org_1/test", "n1");
  ASSERT_TRUE(row && *row);
  const auto& data = (*row)->data;
  EXPECT_EQ(data.at("body"), "hi");
  EXPECT_EQ(data.at("count").as_int64(), 3);
  EXPECT_EQ(data.at("done"), true);
  EXPECT_EQ(data.at("extra"), (json::array{1, "x"}));
  EXPECT_EQ(data.at("legacyName"), "old");
  EXPECT_EQ(data.at("organizationId"), "org_1");
  EXPECT_EQ((*row)->groups, (std::vector<std::string>{"org:org_1"}));
}

TEST_P(StoreTest, AnUpdateReplacesTheWholeRowInPlace) {
  ASSERT_TRUE(store->write([&](WriteTransaction& txn) {
    return txn.insert_row(notes, "org_1/test", note("n1", {{"body", "a"}, {"count", 1}, {"legacyName", "old"}}));
  }));
  auto changed = note("n1", {{"body", "b"}});
  changed.groups = {"org:org_1", "team:t1"};
  ASSERT_TRUE(store->write([&](WriteTransaction& txn) { return txn.update_row(notes, "org_1/test", changed); }));
  auto row = store->get_row(notes, "org_1/test", "n1");
  ASSERT_TRUE(row && *row);
  EXPECT_EQ((*row)->data.at("body"), "b");
  EXPECT_TRUE((*row)->data.at("count").is_null()) << "a field the new row leaves out is cleared";
  EXPECT_TRUE((*row)->data.at("legacyName").is_null());
  EXPECT_EQ((*row)->groups, (std::vector<std::string>{"org:org_1", "team:t1"}));
  int rows = 0;
  ASSERT_TRUE(store->scan_rows(RowQuery{&notes, "org_1/test"}, [&](StoredRow&&) { return ++rows, true; }));
  EXPECT_EQ(rows, 1);
}

// write_unsynced + sync (the commit pipeline's pair): the next write builds on an unsynced one,
// and a read that would see it is answered (the store makes it durable first, store.h).
TEST_P(StoreTest, UnsyncedWritesAreBuiltOnAndReadOnceDurable) {
  ASSERT_TRUE(store->write_unsynced([&](WriteTransaction& txn) {
    return txn.insert_row(notes, "org_1/test", note("n1", {{"body", "a"}}));
  }));
  ASSERT_TRUE(store->write_unsynced([&](WriteTransaction& txn) -> Status {
    auto seen = txn.get_row(notes, "org_1/test", "n1");
    if (!seen || !*seen) return fail("internal_error", "the unsynced row is not visible to the next write");
    return txn.insert_row(notes, "org_1/test", note("n2", {{"body", "b"}}));
  }));
  auto row = store->get_row(notes, "org_1/test", "n2");
  ASSERT_TRUE(row) << row.error().message;
  EXPECT_TRUE(*row);
  EXPECT_TRUE(store->sync());
  EXPECT_TRUE(store->sync()) << "a sync with nothing new to flush succeeds";
}

TEST_P(StoreTest, TenantsDoNotSeeEachOthersRows) {
  ASSERT_TRUE(store->write([&](WriteTransaction& txn) { return txn.insert_row(notes, "org_1/test", note("n1", {{"body", "a"}})); }));
  auto other = store->get_row(notes, "org_1/live", "n1");
  ASSERT_TRUE(other);
  EXPECT_FALSE(*other);
}

TEST_P(StoreTest, FailedWriteRollsBackEverything) {
  auto failed = store->write([&](WriteTransaction& txn) -> Status {
    if (auto ok = txn.insert_row(notes, "org_1/test", note("n1", {{"body", "a"}})); !ok) return ok;
    return fail("internal_error", "boom");
  });
  EXPECT_FALSE(failed);
  auto row = store->get_row(notes, "org_1/test", "n1");
  ASSERT_TRUE(row);
  EXPECT_FALSE(*row);
}

TEST_P(StoreTest, SavepointRollbackKeepsEarlierWorkOfTheTransaction) {
  ASSERT_TRUE(store->write([&](WriteTransaction& txn) -> Status {
    if (auto ok = txn.insert_row(notes, "org_1/test", note("kept", {{"body", "a"}})); !ok) return ok;
    if (auto ok = txn.savepoint(); !ok) return ok;
    if (auto ok = txn.insert_row(notes, "org_1/test", note("dropped", {{"body", "b"}})); !ok) return ok;
    return txn.rollback_to_savepoint();
  }));
  EXPECT_TRUE(*store->get_row(notes, "org_1/test", "kept"));
  EXPECT_FALSE(*store->get_row(notes, "org_1/test", "dropped"));
}

TEST_P(StoreTest, IdempotencyRecordsAreFoundManyAtOnceInTheOrderAsked) {
  ASSERT_TRUE(store->write([&](WriteTransaction& txn) -> Status {
    if (auto ok = txn.put_idempotency("org_1/test", "ctx:a", "A"); !ok) return ok;
    if (auto ok = txn.put_idempotency("org_1/live", "ctx:a", "live A"); !ok) return ok;
    return txn.put_idempotency("org_1/test", "op:b \"quoted\", {braced}", "B");
  }));
  ASSERT_TRUE(store->write([&](WriteTransaction& txn) -> Status {
    // Held back by a store until needed: the lookup must still see it.
    if (auto ok = txn.put_idempotency("org_1/test", "ctx:c", "C"); !ok) return ok;
    auto found = txn.find_idempotency_many({{"org_1/test", "op:b \"quoted\", {braced}"},
                                            {"org_1/test", "ctx:missing"},
                                            {"org_1/live", "ctx:a"},
                                            {"org_1/test", "ctx:a"},
                                            {"org_1/test", "ctx:c"},
                                            {"org_1/test", "ctx:a"}});
    if (!found) return tl::unexpected(found.error());
    const std::vector<std::optional<std::string>> expected = {"B", std::nullopt, "live A", "A", "C", "A"};
    EXPECT_EQ(*found, expected);
    auto none = txn.find_idempotency_many({});
    if (!none) return tl::unexpected(none.error());
    EXPECT_TRUE(none->empty());
    return {};
  }));
}

TEST_P(StoreTest, DeltaIdsIncreaseAndReadBackInOrderPerTenant) {
  std::vector<int64_t> ids;
  ASSERT_TRUE(store->write([&](WriteTransaction& txn) -> Status {
    for (const char* tenant : {"org_1/test", "org_2/test", "org_1/test"}) {
      Delta d;
      d.tenant = tenant;
      d.model_name = "Note";
      d.model_id = "n1";
      d.data = json::object{{"id", "n1"}};
      d.sync_groups = {"org:org_1"};
      d.participant_id = "p1";
      auto id = txn.append_delta(d);
      if (!id) return tl::unexpected(id.error());
      ids.push_back(*id);
    }
    return {};
  }));
  ASSERT_EQ(ids.size(), 3u);
  EXPECT_LT(ids[0], ids[1]);
  EXPECT_LT(ids[1], ids[2]);
  auto deltas = store->read_deltas("org_1/test", 0, ids[2], 10);
  ASSERT_TRUE(deltas);
  ASSERT_EQ(deltas->size(), 2u);
  EXPECT_EQ((*deltas)[0].id, ids[0]);
  EXPECT_EQ((*deltas)[1].id, ids[2]);
  EXPECT_EQ((*deltas)[1].data->at("id"), "n1");
  EXPECT_EQ(*store->head_sync_id(), ids[2]);
}

TEST_P(StoreTest, ScanFiltersWithInAndComparisons) {
  ASSERT_TRUE(store->write([&](WriteTransaction& txn) -> Status {
    for (int i = 1; i <= 4; ++i) {
      auto ok = txn.insert_row(notes, "org_1/test", note("n" + std::to_string(i), {{"body", "b"}, {"count", i}}));
      if (!ok) return ok;
    }
    return {};
  }));
  EXPECT_EQ(scanned_ids({{"count", ">", 1}, {"id", "NOT IN", json::array{"n3"}}}, "count", true),
            (std::vector<std::string>{"n4", "n2"}));
}

// The schema's order for text is code point order on every store (docs/client-library.md), also on a
// PostgreSQL database whose locale sorts "apple" before "Banana" and ignores "_" and case first.
TEST_P(StoreTest, TextSortsAndComparesByCodePointOnEveryStore) {
  const std::vector<std::pair<std::string, std::string>> rows{
      {"n1", "apple"}, {"n2", "Banana"}, {"n3", "cherry"}, {"n4", "Zebra"}, {"n5", "\u00e9clair"},
      {"n6", "_under"}, {"B7", "apple"}, {"a8", "apple"}};
  ASSERT_TRUE(store->write([&](WriteTransaction& txn) -> Status {
    for (const auto& [id, body] : rows) {
      if (auto ok = txn.insert_row(notes, "org_1/test", note(id, {{"body", body}})); !ok) return ok;
    }
    return {};
  }));
  auto scan = [&](std::vector<RowFilter> where, bool descending) {
    return scanned_ids(std::move(where), "body", descending);
  };
  // "B" < "Z" < "_" < "a" < "c" < "é"; equal bodies by id, also in code points ("B7" < "a8" < "n1").
  EXPECT_EQ(scan({}, false), (std::vector<std::string>{"n2", "n4", "n6", "B7", "a8", "n1", "n3", "n5"}));
  EXPECT_EQ(scan({}, true), (std::vector<std::string>{"n5", "n3", "B7", "a8", "n1", "n6", "n4", "n2"}));
  EXPECT_EQ(scan({{"body", ">", "Zebra"}}, false), (std::vector<std::string>{"n6", "B7", "a8", "n1", "n3", "n5"}));
  EXPECT_EQ(scan({{"body", "<", "apple"}, {"id", ">=", "n4"}}, false), (std::vector<std::string>{"n4", "n6"}));
  EXPECT_EQ(scan({{"body", "=", "apple"}}, false), (std::vector<std::string>{"B7", "a8", "n1"}));
}

TEST_P(StoreTest, SchemaInstallIsAdditiveAndVersioned) {
  auto first = store->active_schema();
  ASSERT_TRUE(first && *first);
  EXPECT_EQ((*first)->hash, schema->hash());
  ASSERT_TRUE(store->write([&](WriteTransaction& txn) -> Status {
    auto again = txn.install_schema(*schema);
    if (!again) return tl::unexpected(again.error());
    EXPECT_EQ(*again, (*first)->version + 1);
    return {};
  }));
}

TEST_P(StoreTest, CapabilitiesAndKeysAreFoundByHash) {
  CapabilityRecord cap;
  cap.id = "cap_1";
  cap.token_hash = "h1";
  cap.org = "org_1";
  cap.participant_kind = "system";
  cap.participant_id = "p1";
  cap.sync_groups = {"org:org_1", "user:p1"};
  cap.expires_at_ms = 42;
  ASSERT_TRUE(store->put_capability(cap));
  auto found = store->find_capability("h1");
  ASSERT_TRUE(found && *found);
  EXPECT_EQ((*found)->sync_groups, cap.sync_groups);
  EXPECT_EQ((*found)->expires_at_ms, 42);
  EXPECT_FALSE((*found)->revoked);
  EXPECT_EQ((*found)->revoked_at_ms, 0);
  EXPECT_FALSE(*store->find_capability("nope"));

  cap.revoked = true;
  cap.revoked_at_ms = 1234;
  ASSERT_TRUE(store->put_capability(cap));
  auto revoked = store->find_capability_by_id("cap_1");
  ASSERT_TRUE(revoked && *revoked);
  EXPECT_TRUE((*revoked)->revoked);
  EXPECT_EQ((*revoked)->revoked_at_ms, 1234);
  EXPECT_TRUE((*revoked)->parent_id.empty());
}

TEST_P(StoreTest, CapabilitiesRememberTheirParentAndAreFoundByIt) {
  CapabilityRecord parent;
  parent.id = "cap_parent";
  parent.token_hash = "hp";
  parent.org = "org_1";
  parent.participant_kind = "agent";
  parent.participant_id = "p1";
  ASSERT_TRUE(store->put_capability(parent));
  for (const char* id : {"cap_c1", "cap_c2"}) {
    CapabilityRecord child = parent;
    child.id = id;
    child.token_hash = std::string("h_") + id;
    child.parent_id = parent.id;
    ASSERT_TRUE(store->put_capability(child));
  }
  auto child = store->find_capability_by_id("cap_c1");
  ASSERT_TRUE(child && *child);
  EXPECT_EQ((*child)->parent_id, "cap_parent");
  auto children = store->child_capabilities("cap_parent");
  ASSERT_TRUE(children) << children.error().message;
  std::set<std::string> ids;
  for (const auto& c : *children) ids.insert(c.id);
  EXPECT_EQ(ids, (std::set<std::string>{"cap_c1", "cap_c2"}));
  auto none = store->child_capabilities("cap_c1");
  ASSERT_TRUE(none);
  EXPECT_TRUE(none->empty());
}

TEST(SqliteStoreUpgradeTest, ADataDirectoryFromBeforeRevocationTimesKeepsItsCapabilities) {
  testing::TempDir dir;
  {
    // The capabilities table as the first releases created it, with a revoked capability.
    auto old = sqlite::Connection::open((dir.path() / "ablo.db").string());
    ASSERT_TRUE(old);
    ASSERT_TRUE((*old)->exec(
        "CREATE TABLE capabilities (token_hash TEXT PRIMARY KEY, id TEXT NOT NULL, key_id TEXT, org TEXT NOT NULL, "
        "sandbox INTEGER NOT NULL, participant_kind TEXT NOT NULL, participant_id TEXT NOT NULL, sync_groups TEXT "
        "NOT NULL, operations TEXT NOT NULL, wide_scope INTEGER NOT NULL, label TEXT, user_meta TEXT NOT NULL, "
        "issued_at INTEGER NOT NULL, expires_at INTEGER NOT NULL, revoked INTEGER NOT NULL DEFAULT 0);"
        "INSERT INTO capabilities VALUES ('h1', 'cap_1', 'key_1', 'org_1', 1, 'agent', 'p1', '[]', '[]', 0, '', "
        "'{}', 1, 99, 1);"));
  }
  auto store = open_sqlite_store(dir.path());
  ASSERT_TRUE(store) << store.error().message;
  auto found = (*store)->find_capability("h1");
  ASSERT_TRUE(found && *found) << (found ? "not found" : found.error().message);
  EXPECT_TRUE((*found)->revoked);
  EXPECT_EQ((*found)->revoked_at_ms, 0) << "when it was revoked is unknown";
  CapabilityRecord cap = **found;
  cap.token_hash = "h2";
  cap.id = "cap_2";
  cap.revoked_at_ms = 5678;
  ASSERT_TRUE((*store)->put_capability(cap));
  cap.parent_id = "cap_1";
  ASSERT_TRUE((*store)->put_capability(cap));
  auto kept = (*store)->find_capability("h2");
  ASSERT_TRUE(kept && *kept);
  EXPECT_EQ((*kept)->revoked_at_ms, 5678);
  EXPECT_EQ((*kept)->parent_id, "cap_1") << "the parent column was added on open";
  EXPECT_TRUE((*found)->parent_id.empty());
}

Delta note_delta(const std::string& tenant, const std::string& id) {
  Delta d;
  d.tenant = tenant;
  d.model_name = "Note";
  d.model_id = id;
  d.data = json::object{{"id", id}};
  d.sync_groups = {"org:org_1"};
  d.participant_id = "p1";
  return d;
}

TEST_P(StoreTest, RolledBackDeltasLeaveNoHoleInTheIds) {
  int64_t kept = 0, after = 0;
  ASSERT_TRUE(store->write([&](WriteTransaction& txn) -> Status {
    auto first = txn.append_delta(note_delta("org_1/test", "a"));
    if (!first) return tl::unexpected(first.error());
    kept = *first;
    if (auto ok = txn.savepoint(); !ok) return ok;
    if (auto dropped = txn.append_delta(note_delta("org_1/test", "b")); !dropped) return tl::unexpected(dropped.error());
    return txn.rollback_to_savepoint();
  }));
  EXPECT_FALSE(store->write([&](WriteTransaction& txn) -> Status {
    if (auto dropped = txn.append_delta(note_delta("org_1/test", "c")); !dropped) return tl::unexpected(dropped.error());
    return fail("internal_error", "roll the whole transaction back");
  }));
  ASSERT_TRUE(store->write([&](WriteTransaction& txn) -> Status {
    auto next = txn.append_delta(note_delta("org_1/test", "d"));
    if (!next) return tl::unexpected(next.error());
    after = *next;
    return {};
  }));
  EXPECT_EQ(after, kept + 1);
  auto log = store->read_log(0, 10);
  ASSERT_TRUE(log);
  ASSERT_EQ(log->size(), 2u);
  EXPECT_EQ((*log)[0].model_id, "a");
  EXPECT_EQ((*log)[1].model_id, "d");
}

// WriteTransaction::begin_batch: a store that batches (PostgreSQL) answers the announced reads
// from one round trip and holds the writes until COMMIT; one that does not (SQLite) reads as
// usual. Both must give the same answers.
TEST_P(StoreTest, ABatchedGroupAnswersItsReadsAsTheUnbatchedOneWould) {
  const std::string tenant = "org_1/test";
  int64_t foreign_id = 0;
  ASSERT_TRUE(store->write([&](WriteTransaction& txn) -> Status {
    if (auto ok = txn.insert_row(notes, tenant, note("a", {{"body", "a"}})); !ok) return ok;
    if (auto ok = txn.put_idempotency(tenant, "ctx:x", "X"); !ok) return ok;
    Delta d = note_delta(tenant, "a");
    d.participant_id = "p2";
    auto id = txn.append_delta(d);
    if (!id) return tl::unexpected(id.error());
    foreign_id = *id;
    return {};
  }));
  int64_t kept_id = 0, second_id = 0;
  ASSERT_TRUE(store->write([&](WriteTransaction& txn) -> Status {
    GroupReads reads;
    reads.rows = {{&notes, tenant, "a"}, {&notes, tenant, "missing"}};
    reads.foreign_writes = {{tenant, "Note", "a", 0, "p1"}, {tenant, "Note", "a", foreign_id, "p1"}};
    reads.idempotency = {{tenant, "ctx:x"}, {tenant, "ctx:none"}};
    reads.audit_tenants = {tenant};
    reads.open_tasks = {{tenant, "cap_1"}};
    if (auto began = txn.begin_batch(reads); !began) return tl::unexpected(began.error());
    auto a = txn.get_row(notes, tenant, "a");
    if (!a) return tl::unexpected(a.error());
    EXPECT_TRUE(*a && (*a)->data.at("body").as_string() == "a");
    auto missing = txn.get_row(notes, tenant, "missing");
    EXPECT_TRUE(missing && !*missing);
    EXPECT_TRUE(*txn.has_foreign_write_since(tenant, "Note", "a", 0, "p1"));
    EXPECT_FALSE(*txn.has_foreign_write_since(tenant, "Note", "a", foreign_id, "p1"));
    EXPECT_FALSE(*txn.has_foreign_write_since(tenant, "Note", "a", 0, "p2"));  // not announced
    auto keys = txn.find_idempotency_many({{tenant, "ctx:x"}, {tenant, "ctx:none"}});
    if (!keys) return tl::unexpected(keys.error());
    EXPECT_EQ(*keys, (std::vector<std::optional<std::string>>{"X", std::nullopt}));
    EXPECT_FALSE(*txn.last_audit_link(tenant));
    EXPECT_TRUE(txn.open_task_ids_of_capability(tenant, "cap_1")->empty());
    // A commit that rolls back leaves nothing, and its delta id is drawn again.
    if (auto ok = txn.savepoint(); !ok) return ok;
    if (auto ok = txn.insert_row(notes, tenant, note("dropped", {{"body", "d"}})); !ok) return ok;
    if (auto ok = txn.put_idempotency(tenant, "ctx:none", "dropped"); !ok) return ok;
    auto dropped = txn.append_delta(note_delta(tenant, "dropped"));
    if (!dropped) return tl::unexpected(dropped.error());
    if (auto ok = txn.flush(); !ok) return ok;
    if (auto ok = txn.rollback_to_savepoint(); !ok) return ok;
    // The next commit writes a row the group read: a later read sees the write as stored.
    if (auto ok = txn.savepoint(); !ok) return ok;
    if (auto ok = txn.update_row(notes, tenant, note("a", {{"body", "b"}})); !ok) return ok;
    Delta by_p3 = note_delta(tenant, "a");
    by_p3.participant_id = "p3";
    auto kept = txn.append_delta(by_p3);
    if (!kept) return tl::unexpected(kept.error());
    kept_id = *kept;
    if (auto ok = txn.flush(); !ok) return ok;
    if (auto ok = txn.release_savepoint(); !ok) return ok;
    auto b = txn.get_row(notes, tenant, "a");
    if (!b) return tl::unexpected(b.error());
    EXPECT_TRUE(*b && (*b)->data.at("body").as_string() == "b");
    // This transaction's own delta by p3 counts as foreign to p1, not to p3.
    EXPECT_TRUE(*txn.has_foreign_write_since(tenant, "Note", "a", foreign_id, "p1"));
    EXPECT_FALSE(*txn.has_foreign_write_since(tenant, "Note", "a", foreign_id, "p3"));
    EXPECT_FALSE(*txn.find_idempotency(tenant, "ctx:none"));
    // A read the group did not announce, in the middle of a commit that then rolls back.
    if (auto ok = txn.savepoint(); !ok) return ok;
    if (auto ok = txn.insert_row(notes, tenant, note("read_then_dropped", {{"body", "r"}})); !ok) return ok;
    auto read_back = txn.get_row(notes, tenant, "read_then_dropped");
    EXPECT_TRUE(read_back && *read_back);
    if (auto ok = txn.rollback_to_savepoint(); !ok) return ok;
    if (auto ok = txn.savepoint(); !ok) return ok;
    auto second = txn.append_delta(note_delta(tenant, "second"));
    if (!second) return tl::unexpected(second.error());
    second_id = *second;
    return txn.release_savepoint();
  }));
  EXPECT_EQ(kept_id, foreign_id + 1);
  EXPECT_EQ(second_id, kept_id + 1);
  EXPECT_EQ(store->get_row(notes, tenant, "a")->value().data.at("body").as_string(), "b");
  EXPECT_FALSE(*store->get_row(notes, tenant, "dropped"));
  EXPECT_FALSE(*store->get_row(notes, tenant, "read_then_dropped"));
  auto log = store->read_log(0, 10);
  ASSERT_TRUE(log);
  ASSERT_EQ(log->size(), 3u);
  EXPECT_EQ((*log)[1].participant_id, "p3");
  EXPECT_EQ((*log)[2].model_id, "second");
  EXPECT_EQ(*store->head_sync_id(), second_id);
}

// A batched group's rows, deltas, idempotency and audit records go out as one many-row
// statement per table: they read back as the single-row statements wrote them.
TEST_P(StoreTest, ABatchedGroupsManyRowWritesReadBackAsSingleRowOnes) {
  const std::string tenant = "org_1/test";
  const auto every_type = [&](const std::string& id) {
    auto row = note(id, {{"body", "hi \"quoted\" {braced}, \\"}, {"count", 3.5}, {"done", true},
                         {"extra", json::object{{"k", json::array{1, "x", nullptr}}}}, {"legacyName", nullptr}});
    row.data["archivedAt"] = "2025-02-03T04:05:06.789Z";
    row.groups = {"org:org_1", "team:a,b"};
    return row;
  };
  const auto write_group = [&](const std::string& prefix, bool batched) {
    return store->write([&](WriteTransaction& txn) -> Status {
      if (batched) {
        if (auto began = txn.begin_batch({}); !began) return tl::unexpected(began.error());
      }
      for (const char* n : {"1", "2", "3"}) {
        const std::string id = prefix + n;
        if (auto ok = txn.insert_row(notes, tenant, every_type(id)); !ok) return ok;
        Delta d = note_delta(tenant, id);
        d.data = every_type(id).data;
        if (auto appended = txn.append_delta(d); !appended) return tl::unexpected(appended.error());
        if (auto ok = txn.put_idempotency(tenant, "op:" + prefix, id); !ok) return ok;  // the last one stays
      }
      return {};
    });
  };
  ASSERT_TRUE(write_group("single", false));
  ASSERT_TRUE(write_group("many", true));
  for (const char* n : {"1", "2", "3"}) {
    auto single = store->get_row(notes, tenant, std::string("single") + n);
    auto many = store->get_row(notes, tenant, std::string("many") + n);
    ASSERT_TRUE(single && *single && many && *many);
    auto expected = (*single)->data;
    expected["id"] = std::string("many") + n;
    EXPECT_EQ((*many)->data, expected);
    EXPECT_EQ((*many)->groups, (*single)->groups);
  }
  auto log = store->read_log(0, 10);
  ASSERT_TRUE(log);
  ASSERT_EQ(log->size(), 6u);
  for (std::size_t i = 0; i < 3; ++i) {
    EXPECT_EQ((*log)[i + 3].id, (*log)[i].id + 3);
    ASSERT_TRUE((*log)[i].data && (*log)[i + 3].data);
    auto expected = *(*log)[i].data;
    expected["id"] = (*log)[i + 3].data->at("id");
    EXPECT_EQ(*(*log)[i + 3].data, expected);
    EXPECT_EQ((*log)[i + 3].sync_groups, (*log)[i].sync_groups);
  }
  ASSERT_TRUE(store->write([&](WriteTransaction& txn) -> Status {
    auto found = txn.find_idempotency_many({{tenant, "op:single"}, {tenant, "op:many"}});
    if (!found) return tl::unexpected(found.error());
    EXPECT_EQ(*found, (std::vector<std::optional<std::string>>{"single3", "many3"}));
    return {};
  }));
}

// A write the database refuses in a batched group fails the whole transaction: nothing of the
// group stays (the commit pipeline then runs the group again unbatched).
TEST_P(StoreTest, ABatchedWriteTheDatabaseRefusesFailsTheWholeTransaction) {
  const std::string tenant = "org_1/test";
  ASSERT_TRUE(store->write([&](WriteTransaction& txn) { return txn.insert_row(notes, tenant, note("dup", {{"body", "a"}})); }));
  auto written = store->write([&](WriteTransaction& txn) -> Status {
    if (auto began = txn.begin_batch({}); !began) return tl::unexpected(began.error());
    if (auto ok = txn.insert_row(notes, tenant, note("first", {{"body", "a"}})); !ok) return ok;
    if (auto ok = txn.savepoint(); !ok) return ok;
    if (auto ok = txn.insert_row(notes, tenant, note("dup", {{"body", "b"}})); !ok) return ok;
    if (auto ok = txn.flush(); !ok) return ok;
    return txn.release_savepoint();
  });
  EXPECT_FALSE(written);
  EXPECT_FALSE(*store->get_row(notes, tenant, "first"));
  EXPECT_EQ(store->get_row(notes, tenant, "dup")->value().data.at("body").as_string(), "a");
}

TEST_P(StoreTest, DatesAndEnumsRoundTrip) {
  auto parsed = schema::Schema::parse_text(R"({"v":3,"models":{"events":{"fields":{
      "at":{"type":"date","isOptional":true,"isIndexed":false},
      "status":{"type":"enum","values":["open","closed"],"isOptional":true,"isIndexed":false}},
    "relations":{},"load":"instant","typename":"Event","tenancy":{"kind":"column","column":"organization_id"},
    "plane":"tenant"}},"identityRoles":[]})");
  ASSERT_TRUE(parsed) << parsed.error().message;
  const auto& events = *(*parsed)->by_key("events");
  ASSERT_TRUE(store->write([&](WriteTransaction& txn) -> Status {
    if (auto v = txn.install_schema(**parsed); !v) return tl::unexpected(v.error());
    return txn.insert_row(events, "org_1/test", note("e1", {{"at", "2026-03-04T05:06:07.089Z"}, {"status", "open"}}));
  }));
  auto row = store->get_row(events, "org_1/test", "e1");
  ASSERT_TRUE(row && *row);
  EXPECT_EQ((*row)->data.at("at"), "2026-03-04T05:06:07.089Z");
  EXPECT_EQ((*row)->data.at("createdAt"), "2025-01-02T03:04:05.678Z");
  EXPECT_EQ((*row)->data.at("status"), "open");
  RowQuery query;
  query.model = &events;
  query.tenant = "org_1/test";
  query.where = {{"at", ">", "2026-01-01T00:00:00.000Z"}, {"status", "LIKE", "op%"}};
  int matched = 0;
  ASSERT_TRUE(store->scan_rows(query, [&](StoredRow&&) { return ++matched, true; }));
  EXPECT_EQ(matched, 1);
}

TEST_P(StoreTest, SettingIfAbsentKeepsTheFirstValue) {
  EXPECT_TRUE(*store->put_setting_if_absent("k", "first"));
  EXPECT_FALSE(*store->put_setting_if_absent("k", "second"));
  EXPECT_EQ(*store->get_setting("k"), "first");
}

// --- webhooks (issue 13) ---
// Endpoint leases: one owner at a time; a node that lost the lease cannot move the cursor;
// after the lease lapses another node takes the endpoint; the cursor never moves back.
TEST_P(StoreTest, WebhookLeasesGateTheCursor) {
  WebhookEndpointRecord e;
  e.id = "we_1";
  e.tenant = "org_1/test";
  e.url = "http://127.0.0.1:9/hook";
  e.enabled_events = {"*", "task.updated"};
  e.secret = "whsec_AAAA";
  e.cursor = 5;
  e.created_at_ms = 1000;
  ASSERT_TRUE(store->put_webhook_endpoint(e));
  auto found = store->find_webhook_endpoint("org_1/test", "we_1");
  ASSERT_TRUE(found && *found);
  EXPECT_EQ((*found)->enabled_events, e.enabled_events);
  EXPECT_FALSE(*store->find_webhook_endpoint("org_2/test", "we_1")) << "another tenant does not see it";

  auto by_a = store->lease_webhook_endpoints("node-a", 10'000, 20'000, 10);
  ASSERT_TRUE(by_a);
  ASSERT_EQ(by_a->size(), 1u);
  EXPECT_TRUE(store->lease_webhook_endpoints("node-b", 11'000, 21'000, 10)->empty()) << "held by node-a";
  WebhookAttemptRecord attempt{"we_1", "node-b", 9, 0, 0, 11'000, "", false, {}};
  EXPECT_FALSE(*store->record_webhook_attempt(attempt)) << "node-b holds no lease";
  attempt.owner = "node-a";
  EXPECT_TRUE(*store->record_webhook_attempt(attempt));

  auto by_b = store->lease_webhook_endpoints("node-b", 20'001, 30'000, 10);  // node-a's lapsed
  ASSERT_TRUE(by_b);
  ASSERT_EQ(by_b->size(), 1u);
  EXPECT_EQ(by_b->front().cursor, 9);
  attempt.cursor = 12;
  EXPECT_FALSE(*store->record_webhook_attempt(attempt)) << "node-a lost the lease: its cursor write is refused";
  attempt.owner = "node-b";
  attempt.cursor = 7;
  EXPECT_TRUE(*store->record_webhook_attempt(attempt));
  EXPECT_EQ((*store->find_webhook_endpoint("org_1/test", "we_1"))->cursor, 9) << "never moves back";

  // Retries exhausted: disabled with the reason; a disabled endpoint is leased by nobody.
  attempt.disable = true;
  attempt.disabled_reason = "8 delivery attempts failed";
  EXPECT_TRUE(*store->record_webhook_attempt(attempt));
  auto disabled = **store->find_webhook_endpoint("org_1/test", "we_1");
  EXPECT_FALSE(disabled.enabled);
  EXPECT_EQ(disabled.disabled_reason, "8 delivery attempts failed");
  EXPECT_TRUE(store->lease_webhook_endpoints("node-b", 21'000, 31'000, 10)->empty());
  disabled.enabled = true;
  disabled.disabled_reason.clear();
  disabled.retry_count = 0;
  EXPECT_TRUE(*store->update_webhook_endpoint_settings(disabled));
  EXPECT_EQ(store->lease_webhook_endpoints("node-b", 21'000, 31'000, 10)->size(), 1u);
  ASSERT_TRUE(store->release_webhook_leases("node-b"));
  EXPECT_EQ(store->lease_webhook_endpoints("node-c", 21'001, 31'000, 10)->size(), 1u) << "released: taken at once";
  EXPECT_EQ(store->list_webhook_endpoints("org_1/test")->size(), 1u);
  EXPECT_TRUE(*store->delete_webhook_endpoint("org_1/test", "we_1"));
  EXPECT_FALSE(*store->delete_webhook_endpoint("org_1/test", "we_1"));
}

// --- rows as text (the bootstrap's scan, issue 17 item 5) ---
// scan_row_texts writes each row from its columns; its text is exactly what serializing
// scan_rows' row with "__typename" added last gives, for every kind of cell: escapes, unicode,
// nested JSON, nulls, floating numbers, archived rows, and JSON text in forms that must not be
// copied as they are (the store keeps a JSON field's string value as raw text on SQLite).
TEST_P(StoreTest, RowTextsAreTheSerializedRowsForEveryKindOfCell) {
  const bool sqlite = GetParam() == "sqlite";
  json::array deep;
  for (int i = 0; i < 20; ++i) deep = json::array{std::move(deep)};
  std::vector<json::value> extras = {
      nullptr,
      json::object{{"quote", "a\"b\\c/d\n\t\b\f\r\x01\x1f\x7f end"},
                   {"unicode", "Troms\u00f8 \u2603 \U0001F600 e\u0301"},
                   {"nested", json::object{{"deep", json::array{nullptr, true, false, 0, -1, 1234567890123456789LL,
                                                                 9223372036854775807LL, 18446744073709551615ULL}}}},
                   {"floats", json::array{1.5, -0.25, 1e300, 0.1, -0.0, 1.0}},
                   {"empty", json::object{}},
                   {"emptyArray", json::array{}},
                   {"", "empty key"}},
      json::array{1, "x", json::object{{"k", nullptr}}},
      "a plain string",
      42,
      std::move(deep),
      // Raw JSON text on SQLite (a JSON string on PostgreSQL): forms serialize prints differently.
      R"({"a": 1 , "b" :[ 1,2 ] })",
      R"({"a":1,"a":2})",
      R"("\/ \u00E9 \u0041 \u0008 \u000b \u001F \ud83d\ude00")",
      "01",
      "-0",
      "1.0",
      "1e5",
      "123456789012345678901234567890",
      "not json",
      "  [true] ",
      "",
      R"({"ok":"\u000b\n\"\\"})",
  };
  if (sqlite) {  // text PostgreSQL refuses to store
    extras.emplace_back("\"bad utf-8 \xff\xfe\"");
    extras.emplace_back("\"surrogate \xed\xa0\x80\"");
    extras.emplace_back("\"cut \xe2\x98\"");
  }
  std::vector<StoredRow> rows;
  for (std::size_t i = 0; i < extras.size(); ++i) {
    json::object fields{{"body", i % 2 ? "line\nbreak \"quoted\" \\ \x01 \u00e9" : "plain"},
                        {"extra", extras[i]}};
    if (i % 3 == 0) fields["count"] = static_cast<double>(i) * 1.5;
    if (i % 3 == 1) fields["count"] = 1e20;
    if (i % 4 != 3) fields["done"] = i % 2 == 0;
    if (i % 5 == 0) fields["legacyName"] = "old";
    auto row = note(fmt::format("n{:02}\"", i), std::move(fields));
    if (i % 2) row.data["createdBy"] = "user \"1\"";
    if (i % 4 == 1) row.data["archivedAt"] = "2025-02-03T04:05:06.789Z";
    if (i % 3 == 1) row.groups = {"org:org_1", "team:a"};
    if (i % 3 == 2) row.groups = {};
    if (i == 4) row.groups = {"org:org_1", "gruppe:\u00f8", "q\"uote"};  // not the plain-ASCII fast read
    rows.push_back(std::move(row));
  }
  if (sqlite) {
    StoredRow invalid = note("n99", {{"body", std::string("bad utf-8 \xff in text")}, {"extra", "\"\xc3\""}});
    rows.push_back(std::move(invalid));
  }
  ASSERT_TRUE(store->write([&](WriteTransaction& txn) -> Status {
    for (const auto& row : rows) {
      if (auto inserted = txn.insert_row(notes, "org_1/test", row); !inserted) return inserted;
    }
    return {};
  }));

  RowQuery query;
  query.model = &notes;
  query.tenant = "org_1/test";
  std::vector<std::string> expected;
  std::vector<std::vector<std::string>> expected_groups;
  ASSERT_TRUE(store->scan_rows(query, [&](StoredRow&& row) {
    expected_groups.push_back(row.groups);
    row.data["__typename"] = "Note \"N\"";
    expected.push_back(json::serialize(row.data));
    return true;
  }));
  ASSERT_EQ(expected.size(), rows.size());

  std::vector<std::string> texts;
  std::vector<std::vector<std::string>> groups;
  RowTextScan scan;
  scan.type_name = "Note \"N\"";
  scan.wanted = [&](const std::vector<std::string>& row_groups) {
    groups.push_back(row_groups);
    return true;
  };
  scan.take = [&](std::string_view text) {
    texts.emplace_back(text);
    return true;
  };
  ASSERT_TRUE(store->scan_row_texts(query, scan));
  ASSERT_EQ(texts.size(), expected.size());
  for (std::size_t i = 0; i < texts.size(); ++i) EXPECT_EQ(texts[i], expected[i]) << "row " << i;
  EXPECT_EQ(groups, expected_groups);

  // The interface's default (serializing scan_rows' rows) is the same text.
  std::vector<std::string> defaults;
  scan.take = [&](std::string_view text) {
    defaults.emplace_back(text);
    return true;
  };
  ASSERT_TRUE(store->Store::scan_row_texts(query, scan));
  EXPECT_EQ(defaults, expected);

  // A row that is not wanted is skipped; take returning false stops the scan.
  std::size_t taken = 0;
  scan.wanted = [](const std::vector<std::string>& row_groups) {
    return std::find(row_groups.begin(), row_groups.end(), "team:a") != row_groups.end();
  };
  scan.take = [&](std::string_view) { return ++taken < 2; };
  ASSERT_TRUE(store->scan_row_texts(query, scan));
  EXPECT_EQ(taken, 2u);
}

// Consecutive rows with the same groups are asked about once (the store keeps the answer while
// the groups column's text stays the same), and the answer holds for every one of them.
TEST_P(StoreTest, RowTextsAskWantedOncePerRunOfEqualGroups) {
  const std::vector<std::vector<std::string>> row_groups = {
      {"team:a"}, {"team:a"}, {"team:a"}, {"team:b"}, {"team:b"}, {"team:a"}, {}, {}};
  ASSERT_TRUE(store->write([&](WriteTransaction& txn) -> Status {
    for (std::size_t i = 0; i < row_groups.size(); ++i) {
      auto row = note(fmt::format("n{}", i), {{"body", "b"}});
      row.groups = row_groups[i];
      if (auto inserted = txn.insert_row(notes, "org_1/test", row); !inserted) return inserted;
    }
    return {};
  }));
  RowQuery query;
  query.model = &notes;
  query.tenant = "org_1/test";
  std::vector<std::vector<std::string>> asked;
  std::vector<std::string> ids;
  RowTextScan scan;
  scan.type_name = "Note";
  scan.wanted = [&](const std::vector<std::string>& groups) {
    asked.push_back(groups);
    return groups.size() == 1 && groups[0] == "team:a";
  };
  scan.take = [&](std::string_view text) {
    ids.push_back(json::parse(text).at("id").as_string().c_str());
    return true;
  };
  ASSERT_TRUE(store->scan_row_texts(query, scan));
  EXPECT_EQ(ids, (std::vector<std::string>{"n0", "n1", "n2", "n5"}));
  EXPECT_EQ(asked, (std::vector<std::vector<std::string>>{{"team:a"}, {"team:b"}, {"team:a"}, {}}));
}

INSTANTIATE_TEST_SUITE_P(Stores, StoreTest, ::testing::Values("sqlite", "postgres", "postgres_icu"),
                         [](const auto& info) { return info.param; });

}  // namespace
}  // namespace ablo::store
