// The 0.49 HTTP write path of the real server (notes/dialect-049.md §2, §3): requests that
// announce Ablo-Protocol-Version get the strict commit receipt (exactly its keys, statusAt >=
// createdAt, an EffectiveAuthority of `<model>.<verb>` operations, clientTxId = Idempotency-Key),
// 0.49 write bodies (claim, reads[] premises, onStale overwrite|notify, the strict commits body)
// and the 0.49 identity and capability shapes; requests without the header keep the 0.9.1 forms.
#include <map>
#include <regex>
#include <set>
#include <string>

#include <boost/json.hpp>
#include <gtest/gtest.h>

#include "client/transport.h"
#include "common/time.h"
#include "integration/quickstart_schema.h"
#include "integration/server_fixture.h"
#include "integration/sync_client.h"

namespace ablo::testing {
namespace {

namespace json = boost::json;

const std::set<std::string> kLooseReceiptKeys = {"object", "clientTxId", "serverTxId", "success",
                                                 "status", "lastSyncId", "ops"};

// Every entry is `<model>.<read|create|update|delete>` (0.49 effectiveAuthoritySchema).
void expect_effective_authority(const json::value& authority) {
  ASSERT_TRUE(authority.is_object()) << json::serialize(authority);
  const auto& object = authority.as_object();
  EXPECT_FALSE(object.at("organizationId").as_string().empty());
  // One project and one branch per organization; the 0.49 live client needs a branch.
  EXPECT_EQ(object.at("projectId").as_string(), "proj_" + std::string(object.at("organizationId").as_string()));
  EXPECT_EQ(object.at("branchId"), "branch_main");
  EXPECT_TRUE(object.at("syncGroups").is_array());
  EXPECT_FALSE(object.at("participantId").as_string().empty());
  const std::string kind(object.at("participantKind").as_string());
  EXPECT_TRUE(kind == "user" || kind == "agent" || kind == "system") << kind;
  static const std::regex kOperation(R"(^[^.\s]+\.(read|create|update|delete)$)");
  for (const auto& operation : object.at("operations").as_array()) {
    ASSERT_TRUE(operation.is_string());
    EXPECT_TRUE(std::regex_match(std::string(operation.as_string()), kOperation)) << operation;
  }
}

class DialectHttpTest : public ::testing::Test {
 protected:
  ServerProcess server{kQuickstartSchema};

  client::HttpResponse send(const std::string& bearer, const std::string& method, const std::string& target,
                            const std::string& body, std::map<std::string, std::string> headers) {
    headers.emplace("Authorization", "Bearer " + bearer);
    headers.emplace("Content-Type", "application/json");
    auto response = client::http_request("127.0.0.1", server.port(), method, target, body, headers);
    EXPECT_TRUE(response) << (response ? "" : response.error().message);
    return response ? *response : client::HttpResponse{};
  }
  // A 0.49 request: the protocol-version header, the key in Idempotency-Key when given.
  client::HttpResponse call49(const std::string& method, const std::string& target, const std::string& body = {},
                              const std::string& key = {}, const std::string& bearer = {}) {
    std::map<std::string, std::string> headers{{"Ablo-Protocol-Version", "1"}};
    if (!key.empty()) headers.emplace("Idempotency-Key", key);
    return send(bearer.empty() ? server.api_key() : bearer, method, target, body, std::move(headers));
  }
  // A 0.9.1 request: no protocol-version header.
  client::HttpResponse call091(const std::string& method, const std::string& target, const std::string& body = {},
                               std::map<std::string, std::string> headers = {}) {
    return send(server.api_key(), method, target, body, std::move(headers));
  }
  static json::object body_of(const client::HttpResponse& response) { return json::parse(response.body).as_object(); }

  // A strict receipt: exactly its keys, confirmed, statusAt >= createdAt, a valid authority.
  static json::object expect_strict_receipt(const client::HttpResponse& response, const std::string& key) {
    EXPECT_EQ(response.status, 200) << response.body;
    auto receipt = body_of(response);
    auto keys = keys_of(receipt);
    keys.erase("notifications");  // allowed, and present only after onStale notify
    EXPECT_EQ(keys, kStrictReceiptKeys) << response.body;
    EXPECT_EQ(receipt.at("object"), "commit_receipt");
    EXPECT_EQ(receipt.at("clientTxId"), key.c_str()) << "clientTxId is the Idempotency-Key";
    EXPECT_EQ(receipt.at("success"), true);
    EXPECT_EQ(receipt.at("status"), "confirmed");
    EXPECT_GT(receipt.at("lastSyncId").as_int64(), 0);
    EXPECT_FALSE(receipt.at("serverTxId").as_string().empty());
    const auto created = parse_iso8601_ms(receipt.at("createdAt").as_string());
    const auto status_at = parse_iso8601_ms(receipt.at("statusAt").as_string());
    EXPECT_TRUE(created && status_at) << response.body;
    if (created && status_at) {
      EXPECT_GE(*status_at, *created);
    }
    expect_effective_authority(receipt.at("authority"));
    return receipt;
  }

  static std::string report_body(const std::string& id, const std::string& location) {
    return json::serialize(json::object{{"id", id}, {"data", {{"location", location}, {"status", "pending"}}}});
  }
  int64_t stamp_of(const std::string& id) {
    auto read = call49("GET", "/api/v1/models/weatherReports/" + id);
    EXPECT_EQ(read.status, 200) << read.body;
    return read.status == 200 ? body_of(read).at("stamp").as_int64() : -1;
  }
  // A 0.49 read answers a missing row with data: null.
  bool exists(const std::string& id) {
    auto read = call49("GET", "/api/v1/models/weatherReports/" + id);
    return read.status == 200 && !body_of(read).at("data").is_null();
  }

  // An agent capability: another participant than the secret key.
  std::string agent_token() {
    auto minted = call091("POST", "/v1/capabilities",
                          R"({"participantKind":"agent","participantId":"other-agent","wideScope":true,"ttlSeconds":600})");
    EXPECT_EQ(minted.status, 200) << minted.body;
    return minted.status == 200 ? std::string(body_of(minted).at("token").as_string()) : std::string();
  }
  // Another participant changes the row after the caller read it.
  void change_by_another_participant(const std::string& id, const std::string& forecast) {
    auto changed = call49("PATCH", "/api/v1/models/weatherReports/" + id,
                          json::serialize(json::object{{"data", {{"forecast", forecast}}}}), "other-" + forecast,
                          agent_token());
    ASSERT_EQ(changed.status, 200) << changed.body;
  }
};

TEST_F(DialectHttpTest, ModelWritesAnswerTheStrictReceiptAndReplayIt) {
  auto created = call49("POST", "/api/v1/models/weatherReports", report_body("s1", "Oslo"), "create-s1");
  auto receipt = expect_strict_receipt(created, "create-s1");
  EXPECT_EQ(receipt.at("ops"), 1);
  // A secret key may do everything: its allowlist is spelled out per model and verb.
  std::set<std::string> operations;
  for (const auto& op : receipt.at("authority").at("operations").as_array()) operations.emplace(op.as_string());
  EXPECT_EQ(operations, (std::set<std::string>{"weatherReports.read", "weatherReports.create", "weatherReports.update",
                                               "weatherReports.delete"}));

  auto replayed = call49("POST", "/api/v1/models/weatherReports", report_body("s1", "Oslo"), "create-s1");
  auto replay = expect_strict_receipt(replayed, "create-s1");
  EXPECT_EQ(replay.at("lastSyncId"), receipt.at("lastSyncId")) << "the same commit, replayed";
  EXPECT_EQ(replay.at("createdAt"), receipt.at("createdAt")) << "a replay keeps the commit's creation time";
  auto other_body = call49("POST", "/api/v1/models/weatherReports", report_body("s9", "Rome"), "create-s1");
  EXPECT_EQ(other_body.status, 409) << other_body.body;
  EXPECT_EQ(body_of(other_body).at("code"), "idempotency_conflict");
  EXPECT_FALSE(exists("s9"));

  auto patched = call49("PATCH", "/api/v1/models/weatherReports/s1", R"({"data":{"forecast":"sunny"}})", "patch-s1");
  expect_strict_receipt(patched, "patch-s1");
  EXPECT_EQ(body_of(call49("GET", "/api/v1/models/weatherReports/s1")).at("data").at("forecast"), "sunny");
  auto deleted = call49("DELETE", "/api/v1/models/weatherReports/s1", "{}", "delete-s1");
  expect_strict_receipt(deleted, "delete-s1");
  EXPECT_FALSE(exists("s1"));
}

TEST_F(DialectHttpTest, CommitsTakeTheStrictBodyWithTheKeyInTheHeader) {
  const auto body = json::serialize(json::object{
      {"operations", json::array{json::object{{"action", "create"}, {"model", "weatherReports"}, {"id", "c1"},
                                              {"data", {{"location", "Oslo"}, {"status", "pending"}}}},
                                 json::object{{"action", "create"}, {"model", "weatherReports"}, {"id", "c2"},
                                              {"data", {{"location", "Rome"}, {"status", "ready"}}}}}}});
  auto receipt = expect_strict_receipt(call49("POST", "/api/v1/commits", body, "batch-1"), "batch-1");
  EXPECT_EQ(receipt.at("ops"), 2);
  EXPECT_TRUE(exists("c1") && exists("c2"));
  auto replay = expect_strict_receipt(call49("POST", "/api/v1/commits", body, "batch-1"), "batch-1");
  EXPECT_EQ(replay.at("lastSyncId"), receipt.at("lastSyncId"));

  // clientTxId belongs in the header for 0.49; an unknown member makes the body invalid.
  auto with_tx_id = call49("POST", "/api/v1/commits",
                           R"({"clientTxId":"x","operations":[{"action":"delete","model":"weatherReports","id":"c1"}]})",
                           "batch-2");
  EXPECT_EQ(with_tx_id.status, 400) << with_tx_id.body;
  EXPECT_EQ(body_of(with_tx_id).at("code"), "commit_operation_invalid");
  EXPECT_TRUE(exists("c1")) << "nothing applied";

  // A rejection is an error envelope with a non-2xx status, not a receipt.
  auto rejected = call49("POST", "/api/v1/commits",
                         R"({"operations":[{"action":"update","model":"weatherReports","id":"c1","data":{"status":"exploded"}}]})",
                         "batch-3");
  EXPECT_EQ(rejected.status, 400) << rejected.body;
  auto envelope = body_of(rejected);
  EXPECT_FALSE(envelope.at("code").as_string().empty());
  EXPECT_FALSE(envelope.contains("success"));
  EXPECT_FALSE(envelope.contains("object"));
}

TEST_F(DialectHttpTest, AStaleRowPremiseRejectsTheWholeCommitUnlessOverwriteOrNotify) {
  ASSERT_EQ(call49("POST", "/api/v1/models/weatherReports", report_body("p1", "Oslo"), "p1").status, 200);
  const int64_t read_at = stamp_of("p1");
  change_by_another_participant("p1", "rain");

  // The premise names a row the commit does not write: the commit is refused, nothing applied.
  const auto commit_with = [&](const std::string& id, const json::object& premise) {
    return json::serialize(json::object{
        {"operations", json::array{json::object{{"action", "create"}, {"model", "weatherReports"}, {"id", id},
                                                {"data", {{"location", "Bergen"}, {"status", "pending"}}}}}},
        {"reads", json::array{premise}}});
  };
  const json::object premise{{"model", "weatherReports"}, {"id", "p1"}, {"readAt", read_at}};
  auto stale = call49("POST", "/api/v1/commits", commit_with("q1", premise), "premise-1");
  EXPECT_EQ(stale.status, 409) << stale.body;
  EXPECT_EQ(body_of(stale).at("code"), "stale_context");
  EXPECT_FALSE(exists("q1")) << "a stale premise applies nothing";

  // A model write carries reads too.
  auto stale_write = call49("POST", "/api/v1/models/weatherReports",
                            json::serialize(json::object{{"id", "q2"},
                                                         {"data", {{"location", "Bergen"}, {"status", "pending"}}},
                                                         {"reads", json::array{premise}}}),
                            "premise-2");
  EXPECT_EQ(stale_write.status, 409) << stale_write.body;
  EXPECT_FALSE(exists("q2"));

  json::object overwrite = premise;
  overwrite["onStale"] = "overwrite";
  expect_strict_receipt(call49("POST", "/api/v1/commits", commit_with("q3", overwrite), "premise-3"), "premise-3");
  EXPECT_TRUE(exists("q3"));
  json::object notify = premise;
  notify["onStale"] = "notify";
  notify["fields"] = json::array{"forecast"};
  auto notified =
      expect_strict_receipt(call49("POST", "/api/v1/commits", commit_with("q4", notify), "premise-4"), "premise-4");
  EXPECT_TRUE(exists("q4"));
  // notify tells what moved: the row, who wrote it, and its values now.
  ASSERT_TRUE(notified.contains("notifications")) << json::serialize(notified);
  ASSERT_EQ(notified.at("notifications").as_array().size(), 1u);
  const auto& notice = notified.at("notifications").as_array()[0].as_object();
  EXPECT_EQ(notice.at("object"), "stale_notification");
  EXPECT_EQ(notice.at("scope"), "row");
  EXPECT_EQ(notice.at("target"), (json::object{{"model", "weatherReports"}, {"id", "p1"}}));
  EXPECT_EQ(notice.at("readAt"), read_at);
  EXPECT_GT(notice.at("observedSyncId").as_int64(), read_at);
  EXPECT_EQ(notice.at("writtenBy"), (json::object{{"kind", "agent"}, {"id", "other-agent"}}));
  EXPECT_EQ(notice.at("currentValues"), (json::object{{"forecast", "rain"}}));

  // A fresh premise holds; the caller's own later writes never make it stale.
  const int64_t fresh = stamp_of("p1");
  ASSERT_EQ(call49("PATCH", "/api/v1/models/weatherReports/p1", R"({"data":{"forecast":"fog"}})", "own-1").status, 200);
  json::object current{{"model", "weatherReports"}, {"id", "p1"}, {"readAt", fresh}};
  expect_strict_receipt(call49("POST", "/api/v1/commits", commit_with("q5", current), "premise-5"), "premise-5");
  EXPECT_TRUE(exists("q5"));
}

TEST_F(DialectHttpTest, AStaleGroupPremiseRejectsTheCommit) {
  ASSERT_EQ(call49("POST", "/api/v1/models/weatherReports", report_body("g1", "Oslo"), "g1").status, 200);
  const int64_t read_at = stamp_of("g1");
  auto identity = body_of(call49("GET", "/api/auth/identity"));
  ASSERT_FALSE(identity.at("syncGroups").as_array().empty());
  const std::string group(identity.at("syncGroups").as_array()[0].as_string());
  const auto commit_with = [&](const std::string& id, int64_t at) {
    return json::serialize(json::object{
        {"operations", json::array{json::object{{"action", "create"}, {"model", "weatherReports"}, {"id", id},
                                                {"data", {{"location", "Bergen"}, {"status", "pending"}}}}}},
        {"reads", json::array{json::object{{"group", group}, {"readAt", at}}}}});
  };
  expect_strict_receipt(call49("POST", "/api/v1/commits", commit_with("h1", read_at), "group-1"), "group-1");
  change_by_another_participant("g1", "snow");
  auto stale = call49("POST", "/api/v1/commits", commit_with("h2", read_at), "group-2");
  EXPECT_EQ(stale.status, 409) << stale.body;
  EXPECT_EQ(body_of(stale).at("code"), "stale_context");
  EXPECT_FALSE(exists("h2"));

  // Under notify the commit applies and names the row that moved in the group.
  auto body = json::parse(commit_with("h3", read_at)).as_object();
  body["reads"].as_array()[0].as_object()["onStale"] = "notify";
  auto notified = expect_strict_receipt(call49("POST", "/api/v1/commits", json::serialize(body), "group-3"), "group-3");
  EXPECT_TRUE(exists("h3"));
  ASSERT_TRUE(notified.contains("notifications")) << json::serialize(notified);
  const auto& notice = notified.at("notifications").as_array().at(0).as_object();
  EXPECT_EQ(notice.at("scope"), "group");
  EXPECT_EQ(notice.at("group"), group.c_str());
  EXPECT_EQ(notice.at("target").at("id"), "g1");
  EXPECT_EQ(notice.at("writtenBy").at("id"), "other-agent");
}

TEST_F(DialectHttpTest, OnStaleSpeaksBothVocabularies) {
  ASSERT_EQ(call49("POST", "/api/v1/models/weatherReports", report_body("o1", "Oslo"), "o1").status, 200);
  const int64_t read_at = stamp_of("o1");
  change_by_another_participant("o1", "hail");
  const auto patch = [&](const std::string& on_stale) {
    return json::serialize(json::object{{"data", {{"forecast", on_stale}}}, {"readAt", read_at}, {"onStale", on_stale}});
  };
  auto rejected = call49("PATCH", "/api/v1/models/weatherReports/o1", patch("reject"), "o-reject");
  EXPECT_EQ(rejected.status, 409) << rejected.body;
  EXPECT_EQ(body_of(rejected).at("code"), "stale_context");
  expect_strict_receipt(call49("PATCH", "/api/v1/models/weatherReports/o1", patch("overwrite"), "o-overwrite"),
                        "o-overwrite");
  EXPECT_EQ(body_of(call49("GET", "/api/v1/models/weatherReports/o1")).at("data").at("forecast"), "overwrite");
  auto notified =
      expect_strict_receipt(call49("PATCH", "/api/v1/models/weatherReports/o1", patch("notify"), "o-notify"), "o-notify");
  ASSERT_TRUE(notified.contains("notifications")) << json::serialize(notified);
  EXPECT_EQ(notified.at("notifications").as_array().at(0).at("currentValues").at("forecast"), "overwrite")
      << "the row as it stood before this write";
  EXPECT_EQ(body_of(call49("GET", "/api/v1/models/weatherReports/o1")).at("data").at("forecast"), "notify");
  // The 0.9.1 names still work, and 0.9.1 may use the new ones too.
  EXPECT_EQ(call091("PATCH", "/v1/models/weatherReports/o1", patch("force")).status, 200);
  EXPECT_EQ(call091("PATCH", "/v1/models/weatherReports/o1", patch("overwrite")).status, 200);
  auto bogus = call49("PATCH", "/api/v1/models/weatherReports/o1", patch("sometimes"), "o-bogus");
  EXPECT_EQ(bogus.status, 400) << bogus.body;
}

TEST_F(DialectHttpTest, ReadsAndTrackAreBounded) {
  json::array reads;
  for (int i = 0; i < 300; ++i) reads.push_back(json::object{{"model", "weatherReports"}, {"id", "x"}, {"readAt", 0}});
  json::array track;
  for (int i = 0; i < 201; ++i) track.push_back(json::object{{"model", "weatherreports"}, {"id", "x"}});
  auto too_many = call49("POST", "/api/v1/commits",
                         json::serialize(json::object{
                             {"operations", json::array{json::object{{"action", "create"}, {"model", "weatherReports"},
                                                                     {"id", "b1"},
                                                                     {"data", {{"location", "Oslo"}, {"status", "ready"}}}}}},
                             {"reads", reads},
                             {"track", track}}),
                         "bounded-1");
  EXPECT_EQ(too_many.status, 400) << too_many.body;
  EXPECT_EQ(body_of(too_many).at("code"), "commit_operation_invalid");
  EXPECT_FALSE(exists("b1"));
  // Without the header the same refusal speaks the 0.9.1 registry.
  auto old = call091("POST", "/v1/models/weatherReports",
                     json::serialize(json::object{{"id", "b2"}, {"data", {{"location", "Oslo"}, {"status", "ready"}}},
                                                  {"reads", reads}, {"track", track}}));
  EXPECT_EQ(old.status, 400) << old.body;
  EXPECT_EQ(body_of(old).at("code"), "invalid_request");
  // Track entries are accepted (and not acted on).
  track.resize(3);
  auto tracked = call49("POST", "/api/v1/commits",
                        json::serialize(json::object{
                            {"operations", json::array{json::object{{"action", "create"}, {"model", "weatherReports"},
                                                                    {"id", "b3"},
                                                                    {"data", {{"location", "Oslo"}, {"status", "ready"}}}}}},
                            {"track", track}}),
                        "bounded-3");
  expect_strict_receipt(tracked, "bounded-3");
}

TEST_F(DialectHttpTest, ZeroNineOneRequestsKeepTheLooseReceipt) {
  auto created = call091("POST", "/v1/models/weatherReports",
                         json::serialize(json::object{{"idempotencyKey", "old-1"}, {"id", "l1"},
                                                      {"data", {{"location", "Oslo"}, {"status", "pending"}}}}));
  ASSERT_EQ(created.status, 200) << created.body;
  EXPECT_EQ(keys_of(body_of(created)), kLooseReceiptKeys) << created.body;
  EXPECT_EQ(body_of(created).at("clientTxId"), "old-1");
  // `intent` and `claim` both name the claim a write is made under.
  auto unheld = call091("PATCH", "/v1/models/weatherReports/l1", R"({"data":{"forecast":"x"},"intent":"int_nope"})");
  EXPECT_EQ(unheld.status, 409) << unheld.body;
  EXPECT_EQ(body_of(unheld).at("code"), "claim_lost");
  auto unheld49 = call49("PATCH", "/api/v1/models/weatherReports/l1", R"({"data":{"forecast":"x"},"claim":"int_nope"})",
                         "claimed-1");
  EXPECT_EQ(unheld49.status, 409) << unheld49.body;
  EXPECT_EQ(body_of(unheld49).at("code"), "claim_lost");
}

TEST_F(DialectHttpTest, IdentityAndCapabilityMintCarryTheEffectiveAuthority) {
  for (const bool with_header : {true, false}) {
    auto identity = with_header ? call49("GET", "/api/auth/identity") : call091("GET", "/api/auth/identity");
    ASSERT_EQ(identity.status, 200) << identity.body;
    auto body = body_of(identity);
    EXPECT_EQ(body.at("projectId"), body.at("authority").at("projectId"));
    EXPECT_EQ(body.at("branchId"), "branch_main");
    EXPECT_EQ(body.at("branchRoot"), true);
    EXPECT_FALSE(body.at("accountScope").as_string().empty());
    EXPECT_TRUE(body.at("userMeta").is_object());
    expect_effective_authority(body.at("authority"));
  }

  // 0.49's exchange: POST /api/v1/capabilities with the body its client sends.
  auto minted = call49("POST", "/api/v1/capabilities",
                       R"({"participantKind":"system","wideScope":true,"ttlSeconds":3600})");
  ASSERT_EQ(minted.status, 200) << minted.body;
  auto mint = body_of(minted);
  EXPECT_FALSE(mint.at("capabilityId").as_string().empty());
  EXPECT_FALSE(mint.at("token").as_string().empty());
  EXPECT_TRUE(parse_iso8601_ms(mint.at("expiresAt").as_string()));
  EXPECT_FALSE(mint.at("organizationId").as_string().empty());
  EXPECT_EQ(mint.at("branchRoot"), true);
  EXPECT_TRUE(mint.at("userMeta").is_object());
  expect_effective_authority(mint.at("scope"));
  EXPECT_EQ(mint.at("scope").at("participantKind"), "system");
  const std::string token(mint.at("token").as_string());
  auto receipt = expect_strict_receipt(
      call49("POST", "/api/v1/models/weatherReports", report_body("m1", "Oslo"), "minted-1", token), "minted-1");
  EXPECT_EQ(receipt.at("authority").at("participantId"), mint.at("scope").at("participantId"));

  // A narrow allowlist is reported as it is enforced: entries that grant nothing are left out.
  auto narrow = call49("POST", "/api/v1/capabilities",
                       R"({"participantKind":"agent","participantId":"reader","ttlSeconds":600,)"
                       R"("syncGroups":["default"],"operations":["weatherreports.read","weatherReports.update","*"]})");
  ASSERT_EQ(narrow.status, 200) << narrow.body;
  EXPECT_EQ(body_of(narrow).at("scope").at("operations"),
            (json::array{"weatherReports.read", "weatherReports.update"}));
  // Without the header the mint keeps its 0.9.1 shape.
  auto old = call091("POST", "/v1/capabilities",
                     R"({"participantKind":"agent","participantId":"reader","ttlSeconds":600,)"
                     R"("syncGroups":["default"],"operations":["weatherreports.read","*"]})");
  ASSERT_EQ(old.status, 200) << old.body;
  EXPECT_EQ(body_of(old).at("scope").at("operations"), (json::array{"weatherreports.read", "*"}));
  // ... plus the branch the 0.49 live client needs (it mints without announcing its version).
  EXPECT_EQ(body_of(old).at("branchRoot"), true);
  EXPECT_EQ(body_of(old).at("scope").at("branchId"), "branch_main");
}

}  // namespace
}  // namespace ablo::testing
