#include "store/sqlite_store.h"

#include <boost/json.hpp>
#include <gtest/gtest.h>

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

struct SqliteStoreTest : ::testing::Test {
  testing::TempDir dir;
  std::unique_ptr<Store> store = *open_sqlite_store(dir.path());
  std::shared_ptr<const schema::Schema> schema = test_schema();
  const schema::Model& notes = *schema->by_key("notes");

  void SetUp() override {
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
};

TEST_F(SqliteStoreTest, RowsRoundTripEveryFieldType) {
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

TEST_F(SqliteStoreTest, TenantsDoNotSeeEachOthersRows) {
  ASSERT_TRUE(store->write([&](WriteTransaction& txn) { return txn.insert_row(notes, "org_1/test", note("n1", {{"body", "a"}})); }));
  auto other = store->get_row(notes, "org_1/live", "n1");
  ASSERT_TRUE(other);
  EXPECT_FALSE(*other);
}

TEST_F(SqliteStoreTest, FailedWriteRollsBackEverything) {
  auto failed = store->write([&](WriteTransaction& txn) -> Status {
    if (auto ok = txn.insert_row(notes, "org_1/test", note("n1", {{"body", "a"}})); !ok) return ok;
    return fail("internal_error", "boom");
  });
  EXPECT_FALSE(failed);
  auto row = store->get_row(notes, "org_1/test", "n1");
  ASSERT_TRUE(row);
  EXPECT_FALSE(*row);
}

TEST_F(SqliteStoreTest, SavepointRollbackKeepsEarlierWorkOfTheTransaction) {
  ASSERT_TRUE(store->write([&](WriteTransaction& txn) -> Status {
    if (auto ok = txn.insert_row(notes, "org_1/test", note("kept", {{"body", "a"}})); !ok) return ok;
    if (auto ok = txn.savepoint(); !ok) return ok;
    if (auto ok = txn.insert_row(notes, "org_1/test", note("dropped", {{"body", "b"}})); !ok) return ok;
    return txn.rollback_to_savepoint();
  }));
  EXPECT_TRUE(*store->get_row(notes, "org_1/test", "kept"));
  EXPECT_FALSE(*store->get_row(notes, "org_1/test", "dropped"));
}

TEST_F(SqliteStoreTest, DeltaIdsIncreaseAndReadBackInOrderPerTenant) {
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

TEST_F(SqliteStoreTest, ScanFiltersWithInAndComparisons) {
  ASSERT_TRUE(store->write([&](WriteTransaction& txn) -> Status {
    for (int i = 1; i <= 4; ++i) {
      auto ok = txn.insert_row(notes, "org_1/test", note("n" + std::to_string(i), {{"body", "b"}, {"count", i}}));
      if (!ok) return ok;
    }
    return {};
  }));
  RowQuery query;
  query.model = &notes;
  query.tenant = "org_1/test";
  query.where = {{"count", ">", 1}, {"id", "NOT IN", json::array{"n3"}}};
  query.order_by = "count";
  query.descending = true;
  std::vector<std::string> seen;
  ASSERT_TRUE(store->scan_rows(query, [&](StoredRow&& row) {
    seen.emplace_back(row.data.at("id").as_string());
    return true;
  }));
  EXPECT_EQ(seen, (std::vector<std::string>{"n4", "n2"}));
}

TEST_F(SqliteStoreTest, SchemaInstallIsAdditiveAndVersioned) {
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

TEST_F(SqliteStoreTest, CapabilitiesAndKeysAreFoundByHash) {
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
  EXPECT_FALSE(*store->find_capability("nope"));
}

}  // namespace
}  // namespace ablo::store
