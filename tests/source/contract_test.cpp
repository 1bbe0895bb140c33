// The readers of what a Data Source endpoint answers (datasource.md §1.6, §1.8).
#include <gtest/gtest.h>

#include <boost/json.hpp>

#include "source/contract.h"

namespace ablo::source::contract {
namespace {

namespace json = boost::json;

TEST(SourceContractTest, ReadsEventsAndOmitsWhatIsAbsent) {
  auto page = read_events(json::parse(R"({"events":[
    {"id":"tx:0","model":"task","entityId":"t1","type":"CREATE","data":{"id":"t1"},"clientTxId":"tx","occurredAt":5},
    {"id":"ext:2","model":"task","entityId":"t1","type":"DELETE","data":null}],"nextCursor":"2"})"));
  ASSERT_TRUE(page) << page.error().message;
  ASSERT_EQ(page->events.size(), 2u);
  EXPECT_EQ(page->events[0].client_tx_id, "tx");
  EXPECT_EQ(page->events[0].occurred_at_ms, 5);
  EXPECT_FALSE(page->events[1].data);
  EXPECT_TRUE(page->events[1].client_tx_id.empty());
  EXPECT_EQ(page->next_cursor, "2");
  auto drained = read_events(json::parse(R"({"events":[]})"));
  ASSERT_TRUE(drained);
  EXPECT_FALSE(drained->next_cursor);
}

TEST(SourceContractTest, RefusesEventsItCannotApplyNamingTheFirstProblem) {
  const auto refused = [](const char* text) {
    auto page = read_events(json::parse(text));
    return page ? std::string("accepted") : page.error().message;
  };
  EXPECT_NE(refused(R"({"events":[{"model":"task","entityId":"t1","type":"CREATE"}]})").find("events[0].id"),
            std::string::npos);
  EXPECT_NE(refused(R"({"events":[{"id":"e","model":"task","entityId":"t1","type":"UPSERT"}]})").find("UPSERT"),
            std::string::npos);
  EXPECT_NE(refused(R"({"events":[{"id":"e","model":"task","entityId":"t1","type":"CREATE","data":[1]}]})")
                .find("data"),
            std::string::npos);
  EXPECT_EQ(read_events(json::parse(R"({"rows":[]})")).error().code, "events_required");
  json::array many;
  for (std::size_t i = 0; i <= kMaxEventsPerPage; ++i) {
    many.push_back(json::object{{"id", std::to_string(i)}, {"model", "m"}, {"entityId", "e"}, {"type", "CREATE"}});
  }
  EXPECT_FALSE(read_events(json::object{{"events", many}})) << "a larger page is refused, not truncated";
}

TEST(SourceContractTest, ReadsCommitRowsOrDeltasAndListsInBothShapes) {
  auto rows = read_commit(json::parse(R"({"rows":[{"id":"a","title":"A"}]})"));
  ASSERT_TRUE(rows);
  EXPECT_EQ(rows->at(0).at("title"), "A");
  auto deltas = read_commit(json::parse(R"({"deltas":[{"model":"task","id":"b","type":"CREATE","data":{"title":"B"}}]})"));
  ASSERT_TRUE(deltas);
  EXPECT_EQ(deltas->at(0).at("id"), "b");
  EXPECT_FALSE(read_commit(json::parse(R"({"ok":true})")));
  EXPECT_FALSE(read_commit(json::parse(R"({"rows":[1]})")));
  auto bare = read_list(json::parse(R"([{"id":"a"}])"));
  ASSERT_TRUE(bare);
  EXPECT_FALSE(bare->next_cursor);
  auto paged = read_list(json::parse(R"({"rows":[{"id":"a"}],"nextCursor":"x"})"));
  ASSERT_TRUE(paged);
  EXPECT_EQ(paged->next_cursor, "x");
  auto missing = read_load(json::parse(R"({"row":null})"));
  ASSERT_TRUE(missing);
  EXPECT_FALSE(*missing);
}

TEST(SourceContractTest, CommitRequestsCarryTheClientTxIdScopeAndASingleModelHint) {
  ChangeSet change_set{"tx_1", {Operation{"CREATE", "task", "t1", {{"title", "A"}}, "op1", 7, "reject"}},
                       Scope{"user_1", "user", "org_1", {"org:org_1"}, true}};
  auto body = json::parse(commit_request(change_set)).as_object();
  EXPECT_EQ(body.at("type"), "commit");
  EXPECT_EQ(body.at("clientTxId"), "tx_1");
  EXPECT_EQ(body.at("model"), "task");
  EXPECT_EQ(body.at("scope").at("mode"), "test");
  const auto& op = body.at("operations").at(0).as_object();
  EXPECT_EQ(op.at("readAt"), 7);
  EXPECT_EQ(op.at("onStale"), "reject");
  change_set.operations.push_back(Operation{"DELETE", "note", "n1", {}, {}, {}, {}});
  EXPECT_FALSE(json::parse(commit_request(change_set)).as_object().contains("model"));
}

}  // namespace
}  // namespace ablo::source::contract
