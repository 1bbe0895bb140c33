// The audit trail and commit history of the real server process (issue 13; http-api.md §6.4):
// one chained row per commit written with it, verify finding any edit, deletion or reordering
// of audit rows — or of a commit's deltas — made directly in the database at the exact seq,
// the access rule (a capability reads only its own rows, never another tenant's), the 0.49
// commit record shapes, pagination, CSV export and `ablo audit verify|export`.
// Runs on SQLite and on PostgreSQL (the tampering goes to the data file or the table).
#include <sqlite3.h>

#include <atomic>
#include <map>
#include <set>
#include <thread>

#include <boost/json.hpp>
#include <gtest/gtest.h>

#include "client/transport.h"
#include "integration/quickstart_schema.h"
#include "integration/server_fixture.h"
#include "pg/connection.h"

namespace ablo::testing {
namespace {

namespace json = boost::json;

std::set<std::string> keys_of(const json::object& object) {
  std::set<std::string> keys;
  for (const auto& member : object) keys.emplace(member.key());
  return keys;
}

class AuditTest : public ::testing::Test {
 protected:
  ServerProcess server{kQuickstartSchema};

  client::HttpResponse call(const std::string& method, const std::string& target, const std::string& body = {},
                            const std::string& bearer = {}, std::map<std::string, std::string> headers = {}) {
    headers.emplace("Authorization", "Bearer " + (bearer.empty() ? server.api_key() : bearer));
    if (!body.empty()) headers.emplace("Content-Type", "application/json");
    auto response = client::http_request("127.0.0.1", server.port(), method, target, body, headers);
    EXPECT_TRUE(response) << (response ? "" : response.error().message);
    return response ? *response : client::HttpResponse{};
  }
  static json::value body_of(const client::HttpResponse& response) { return json::parse(response.body); }

  // A create of a weather report; returns its clientTxId (the Idempotency-Key).
  std::string create(const std::string& id, const std::string& location, const std::string& bearer = {}) {
    const std::string key = "tx-" + id;
    json::object op{{"action", "create"}, {"model", "weatherReports"}, {"id", id},
                    {"data", json::object{{"location", location}, {"status", "pending"}}}};
    auto response = call("POST", "/v1/commits", json::serialize(json::object{{"operations", json::array{op}}}), bearer,
                         {{"Idempotency-Key", key}});
    EXPECT_EQ(response.status, 200) << response.body;
    return key;
  }

  json::object verify() {
    auto response = call("GET", "/v1/audit/verify");
    EXPECT_EQ(response.status, 200) << response.body;
    return body_of(response).as_object();
  }

  std::vector<json::object> audit_rows(const std::string& bearer = {}, const std::string& query = {}) {
    auto response = call("GET", "/v1/audit?limit=100" + query, {}, bearer);
    EXPECT_EQ(response.status, 200) << response.body;
    std::vector<json::object> rows;
    const auto body = body_of(response);
    for (const auto& row : body.at("data").as_array()) rows.push_back(row.as_object());
    return rows;
  }

  // Runs SQL on the server's database behind its back, as an editor of the database would.
  void tamper(const std::vector<std::string>& statements) {
    if (testing_postgres()) {
      auto conn = pg::Connection::open(server.database_url());
      ASSERT_TRUE(conn) << conn.error().message;
      for (const auto& sql : statements) {
        auto ran = (*conn)->exec_script(sql);
        ASSERT_TRUE(ran) << sql << ": " << ran.error().message;
      }
      return;
    }
    sqlite3* db = nullptr;
    ASSERT_EQ(sqlite3_open((server.data_dir() + "/ablo.db").c_str(), &db), SQLITE_OK);
    sqlite3_busy_timeout(db, 5000);
    for (const auto& sql : statements) {
      char* error = nullptr;
      const int rc = sqlite3_exec(db, sql.c_str(), nullptr, nullptr, &error);
      EXPECT_EQ(rc, SQLITE_OK) << sql << ": " << (error ? error : "");
      sqlite3_free(error);
    }
    sqlite3_close(db);
  }

  // Five commits: chain seqs 1..5 (the sandbox key's tenant). Returns their clientTxIds.
  std::vector<std::string> five_commits() {
    std::vector<std::string> ids;
    for (int i = 1; i <= 5; ++i) ids.push_back(create("r" + std::to_string(i), "City" + std::to_string(i)));
    return ids;
  }

  void expect_broken_at(int64_t seq, const std::string& reason) {
    auto report = verify();
    EXPECT_EQ(report.at("ok"), false) << json::serialize(report);
    EXPECT_EQ(report.at("brokenAtSeq"), seq) << json::serialize(report);
    EXPECT_EQ(report.at("reason"), reason.c_str()) << json::serialize(report);
  }
};

TEST_F(AuditTest, EveryCommitHasOneChainedAttributedRowWithoutFieldValues) {
  const auto ids = five_commits();
  // A refused commit writes no row: the row lives and dies with its commit.
  json::object bad{{"action", "create"}, {"model", "weatherReports"}, {"id", "bad"},
                   {"data", json::object{{"location", "Nowhere"}, {"status", "exploded"}}}};
  EXPECT_EQ(call("POST", "/v1/commits", json::serialize(json::object{{"operations", json::array{bad}}})).status, 400);

  auto rows = audit_rows();
  ASSERT_EQ(rows.size(), 5u);
  for (std::size_t i = 0; i < rows.size(); ++i) {
    const auto& row = rows[i];
    const int64_t seq = 5 - static_cast<int64_t>(i);  // newest first
    EXPECT_EQ(row.at("chainSeq"), seq);
    EXPECT_EQ(row.at("actionType"), "commit");
    EXPECT_EQ(row.at("actorKind"), "system");
    EXPECT_EQ(row.at("credentialLabel"), "development key");
    EXPECT_TRUE(row.at("delegationChainRoot").is_null()) << "a secret key has no human at its root";
    EXPECT_TRUE(row.at("modelName").is_null());
    EXPECT_EQ(row.at("commitId"), ids[static_cast<std::size_t>(seq - 1)].c_str());
    EXPECT_EQ(row.at("firstSyncId"), row.at("lastSyncId"));
    const auto& op = row.at("diffSummary").as_array().at(0).as_object();
    EXPECT_EQ(op.at("model"), "weatherReports");
    EXPECT_EQ(op.at("verb"), "create");
    EXPECT_EQ(op.at("fields"), (json::array{"location", "status"}));
    if (i + 1 < rows.size()) {
      EXPECT_EQ(row.at("prevHash"), rows[i + 1].at("rowHash"));
    }
  }
  EXPECT_EQ(rows.back().at("prevHash"), json::value("sha256:" + std::string(64, '0')));
  const auto listing = call("GET", "/v1/audit?limit=100").body;
  EXPECT_EQ(listing.find("City3"), std::string::npos) << "the audit trail holds field names, never values";

  auto report = verify();
  EXPECT_EQ(report.at("ok"), true) << json::serialize(report);
  EXPECT_EQ(report.at("rowsChecked"), 5);
  EXPECT_EQ(report.at("fromSeq"), 1);
  EXPECT_EQ(report.at("lastSeq"), 5);

  // The chain continues across a restart (the generated secret is kept in the data dir / DB).
  server.restart();
  create("r6", "City6");
  report = verify();
  EXPECT_EQ(report.at("ok"), true) << json::serialize(report);
  EXPECT_EQ(report.at("lastSeq"), 6);
}

// Commits from many connections land in shared groups, some refused: the refused ones roll back
// to their savepoint with the cached chain link, and the chain stays dense and intact.
TEST_F(AuditTest, ConcurrentCommitsWithRefusalsKeepTheChainDenseAndIntact) {
  std::atomic<int> applied{0};
  std::vector<std::thread> writers;
  for (int w = 0; w < 8; ++w) {
    writers.emplace_back([&, w] {
      for (int i = 0; i < 15; ++i) {
        const bool refused = (i % 3) == 2;
        json::object op{{"action", "create"}, {"model", "weatherReports"},
                        {"id", "w" + std::to_string(w) + "-" + std::to_string(i)},
                        {"data", json::object{{"location", "L"}, {"status", refused ? "exploded" : "pending"}}}};
        auto response = client::http_request("127.0.0.1", server.port(), "POST", "/v1/commits",
                                             json::serialize(json::object{{"operations", json::array{op}}}),
                                             {{"Authorization", "Bearer " + server.api_key()},
                                              {"Content-Type", "application/json"}});
        if (response && response->status == 200) ++applied;
      }
    });
  }
  for (auto& writer : writers) writer.join();
  EXPECT_EQ(applied.load(), 8 * 10);
  auto report = verify();
  EXPECT_EQ(report.at("ok"), true) << json::serialize(report);
  EXPECT_EQ(report.at("rowsChecked"), applied.load());
  EXPECT_EQ(report.at("lastSeq"), applied.load());
}

TEST_F(AuditTest, VerifyFindsAnEditedDiffSummaryAtItsSeq) {
  five_commits();
  tamper({R"(UPDATE _ablo_audit SET row_json = replace(row_json, '"fields":["location","status"]', '"fields":["location"]') WHERE chain_seq = 3)"});
  expect_broken_at(3, "hash_mismatch");
  auto report = verify();
  EXPECT_TRUE(report.at("expectedHash").as_string().starts_with("sha256:"));
  EXPECT_TRUE(report.at("foundHash").as_string().starts_with("sha256:"));
  EXPECT_NE(report.at("expectedHash"), report.at("foundHash"));
}

TEST_F(AuditTest, VerifyFindsADeletedRowAtItsSeq) {
  five_commits();
  tamper({"DELETE FROM _ablo_audit WHERE chain_seq = 3"});
  expect_broken_at(3, "seq_gap");
}

TEST_F(AuditTest, VerifyFindsTwoSwappedRowsAtTheFirstOfThem) {
  five_commits();
  tamper({"UPDATE _ablo_audit SET chain_seq = -2 WHERE chain_seq = 2",
          "UPDATE _ablo_audit SET chain_seq = 2 WHERE chain_seq = 4",
          "UPDATE _ablo_audit SET chain_seq = 4 WHERE chain_seq = -2"});
  expect_broken_at(2, "seq_mismatch");
}

TEST_F(AuditTest, VerifyFindsAnEditedDeltaOfACommitAtThatCommitsSeq) {
  five_commits();
  auto rows = audit_rows();
  const int64_t delta_of_third = rows.at(2).at("firstSyncId").as_int64();  // newest first: seq 3
  ASSERT_EQ(rows.at(2).at("chainSeq"), 3);
  tamper({"UPDATE sync_deltas SET model_id = 'forged' WHERE id = " + std::to_string(delta_of_third)});
  expect_broken_at(3, "delta_digest_mismatch");
}

TEST_F(AuditTest, VerifyFindsADeletedDeltaOfACommitAtThatCommitsSeq) {
  five_commits();
  auto rows = audit_rows();
  ASSERT_EQ(rows.at(1).at("chainSeq"), 4);
  tamper({"DELETE FROM sync_deltas WHERE id = " + std::to_string(rows.at(1).at("firstSyncId").as_int64())});
  expect_broken_at(4, "delta_digest_mismatch");
}

TEST_F(AuditTest, VerifyFindsARowRehashedWithoutTheSecret) {
  five_commits();
  // An editor who rewrites the row and its hash with a plain SHA-256 (no key) still breaks it.
  tamper({R"(UPDATE _ablo_audit SET row_json = replace(row_json, '"actorKind":"system"', '"actorKind":"user"'), row_hash = 'sha256:0123' WHERE chain_seq = 2)"});
  expect_broken_at(2, "hash_mismatch");
}

TEST_F(AuditTest, ACapabilityReadsOnlyTheRowsItAuthoredAndNoOtherTenantsRows) {
  auto minted = call("POST", "/v1/capabilities",
                     R"({"participantKind":"agent","participantId":"bot-1","wideScope":true,"ttlSeconds":600,"label":"nightly bot","userMeta":{"onBehalfOf":{"kind":"user","id":"usr_ada"}}})");
  ASSERT_EQ(minted.status, 200) << minted.body;
  const std::string token(body_of(minted).at("token").as_string());
  const std::string capability_id(body_of(minted).at("capabilityId").as_string());
  create("mine", "Oslo", token);
  create("theirs", "Rome");

  auto own = audit_rows(token);
  ASSERT_EQ(own.size(), 1u);
  EXPECT_EQ(own[0].at("actorKind"), "agent");
  EXPECT_EQ(own[0].at("actorId"), "bot-1");
  EXPECT_EQ(own[0].at("credentialId"), capability_id.c_str());
  EXPECT_EQ(own[0].at("credentialLabel"), "nightly bot");
  EXPECT_EQ(own[0].at("onBehalfOfKind"), "user");
  EXPECT_EQ(own[0].at("onBehalfOfId"), "usr_ada");
  EXPECT_EQ(own[0].at("delegationChainRoot"), "usr_ada");
  EXPECT_EQ(audit_rows().size(), 3u) << "the secret key reads the whole tenant (its mint, both commits)";
  EXPECT_EQ(audit_rows({}, "&actorKind=agent").size(), 1u);
  EXPECT_EQ(audit_rows({}, "&actorId=bot-1").size(), 1u);
  EXPECT_EQ(audit_rows({}, "&action=commit").size(), 2u);
  EXPECT_EQ(audit_rows({}, "&action=schema.push").size(), 0u);
  EXPECT_EQ(audit_rows({}, "&since=2999-01-01T00:00:00Z").size(), 0u);
  EXPECT_EQ(audit_rows({}, "&until=2000-01-01T00:00:00Z").size(), 0u);
  EXPECT_EQ(call("GET", "/v1/audit/verify", {}, token).status, 403) << "verify walks every row: secret keys only";
  // The commit history follows the same rule.
  EXPECT_EQ(call("GET", "/v1/commits/tx-theirs", {}, token).body, "null");
  EXPECT_NE(call("GET", "/v1/commits/tx-mine", {}, token).body, "null");

  // The org slug spellings: the caller's own organization only.
  const auto identity = body_of(call("GET", "/api/auth/identity"));
  std::string org;
  for (const char* name : {"organizationId", "orgId"}) {
    if (const auto* value = identity.as_object().if_contains(name); value && value->is_string()) org = value->as_string();
  }
  ASSERT_FALSE(org.empty()) << json::serialize(identity);
  auto by_slug = call("GET", "/api/orgs/" + org + "/audit?limit=10");
  ASSERT_EQ(by_slug.status, 200) << by_slug.body;
  EXPECT_EQ(body_of(by_slug).at("data").as_array().size(), 3u);
  EXPECT_EQ(body_of(call("GET", "/api/orgs/" + org + "/audit/verify-chain")).at("ok"), true);
  EXPECT_EQ(call("GET", "/api/orgs/org_someone_else/audit").status, 404);
  EXPECT_EQ(call("GET", "/api/orgs/org_someone_else/audit/verify-chain").status, 404);

  // Another tenant (the live environment of the organization) sees none of these rows.
  const std::string live_key = server.create_live_key();
  const auto live_rows = audit_rows(live_key);
  ASSERT_EQ(live_rows.size(), 1u) << "only the live key's own creation";
  EXPECT_EQ(live_rows[0].at("actionType"), "key.create");
  EXPECT_EQ(live_rows[0].at("chainSeq"), 1) << "a tenant's chain of its own";
  EXPECT_EQ(body_of(call("GET", "/v1/commits", {}, live_key)).at("data").as_array().size(), 0u);
  EXPECT_EQ(call("GET", "/v1/commits/tx-theirs", {}, live_key).body, "null");
  const auto live_verify = body_of(call("GET", "/v1/audit/verify", {}, live_key));
  EXPECT_EQ(live_verify.at("ok"), true) << json::serialize(live_verify);
  EXPECT_EQ(live_verify.at("rowsChecked"), 1);
  EXPECT_EQ(verify().at("ok"), true) << "the CLI's row went into the live chain, not the sandbox one";
}

TEST_F(AuditTest, CapabilityMintRevokeExchangeAndSchemaPushAreRowsOfTheSameChain) {
  create("first", "Oslo");
  auto minted = call("POST", "/v1/capabilities",
                     R"({"participantKind":"agent","participantId":"bot-2","wideScope":true,"ttlSeconds":600})");
  ASSERT_EQ(minted.status, 200) << minted.body;
  const std::string token(body_of(minted).at("token").as_string());
  const std::string capability_id(body_of(minted).at("capabilityId").as_string());
  auto exchanged = call("POST", "/api/auth/capability", R"({"participantKind":"agent"})", token);
  ASSERT_EQ(exchanged.status, 200) << exchanged.body;
  ASSERT_EQ(call("DELETE", "/v1/capabilities/" + capability_id).status, 200);
  auto pushed = call("POST", "/api/schema", json::serialize(json::object{{"schema", json::parse(kQuickstartSchema)}}));
  ASSERT_EQ(pushed.status, 200) << pushed.body;
  create("last", "Rome");

  auto rows = audit_rows();
  std::vector<std::string> actions;
  for (auto it = rows.rbegin(); it != rows.rend(); ++it) actions.emplace_back(it->at("actionType").as_string());
  EXPECT_EQ(actions, (std::vector<std::string>{"commit", "capability.mint", "capability.mint", "capability.revoke",
                                               "schema.push", "commit"}));
  const auto& mint = rows[rows.size() - 2];
  EXPECT_EQ(mint.at("diffSummary").at("capabilityId"), capability_id.c_str());
  const auto& exchange = rows[rows.size() - 3];
  EXPECT_EQ(exchange.at("actorId"), "bot-2") << "the exchange is attributed to the capability that exchanged";
  EXPECT_EQ(exchange.at("diffSummary").at("parentId"), capability_id.c_str());
  EXPECT_EQ(rows[1].at("diffSummary").at("models"), (json::array{"weatherReports"}));
  const auto listing = call("GET", "/v1/audit?limit=100").body;
  EXPECT_EQ(listing.find(token), std::string::npos) << "no token in the audit trail";
  auto report = verify();
  EXPECT_EQ(report.at("ok"), true) << json::serialize(report);
  EXPECT_EQ(report.at("rowsChecked"), 6);
}

// Two nodes on one PostgreSQL append to the same tenant chains: each group reads its link after
// the log-head lock, so concurrent commits on both nodes leave one dense, intact chain.
TEST_F(AuditTest, TwoNodesOnOnePostgresAppendToOneIntactChain) {
  if (!testing_postgres()) GTEST_SKIP() << "several nodes need PostgreSQL";
  ServerProcess other(kQuickstartSchema, server.database_url());
  ASSERT_EQ(other.api_key(), server.api_key()) << "the nodes share the dev key";
  std::atomic<int> applied{0};
  std::vector<std::thread> writers;
  for (int w = 0; w < 6; ++w) {
    writers.emplace_back([&, w] {
      const uint16_t port = w % 2 ? other.port() : server.port();
      for (int i = 0; i < 20; ++i) {
        json::object op{{"action", "create"}, {"model", "weatherReports"},
                        {"id", "n" + std::to_string(w) + "-" + std::to_string(i)},
                        {"data", json::object{{"location", "L"}, {"status", "pending"}}}};
        auto response = client::http_request("127.0.0.1", port, "POST", "/v1/commits",
                                             json::serialize(json::object{{"operations", json::array{op}}}),
                                             {{"Authorization", "Bearer " + server.api_key()},
                                              {"Content-Type", "application/json"}});
        if (response && response->status == 200) ++applied;
      }
    });
  }
  for (auto& writer : writers) writer.join();
  EXPECT_EQ(applied.load(), 120);
  for (uint16_t port : {server.port(), other.port()}) {
    auto response = client::http_request("127.0.0.1", port, "GET", "/v1/audit/verify", {},
                                         {{"Authorization", "Bearer " + server.api_key()}});
    ASSERT_TRUE(response);
    const auto report = json::parse(response->body).as_object();
    EXPECT_EQ(report.at("ok"), true) << response->body;
    EXPECT_EQ(report.at("rowsChecked"), 120) << response->body;
    EXPECT_EQ(report.at("lastSeq"), 120) << response->body;
  }
}

TEST_F(AuditTest, AuditListPagesWithNextCursorWithoutGapsOrRepeats) {
  for (int i = 0; i < 7; ++i) create("p" + std::to_string(i), "P");
  std::vector<int64_t> seen;
  std::string cursor;
  for (int page = 0; page < 10; ++page) {
    auto response = call("GET", "/v1/audit?limit=3" + (cursor.empty() ? "" : "&cursor=" + cursor));
    ASSERT_EQ(response.status, 200) << response.body;
    const auto body = body_of(response).as_object();
    for (const auto& row : body.at("data").as_array()) seen.push_back(row.at("chainSeq").as_int64());
    if (body.at("nextCursor").is_null()) break;
    cursor = body.at("nextCursor").as_string();
  }
  EXPECT_EQ(seen, (std::vector<int64_t>{7, 6, 5, 4, 3, 2, 1}));
  EXPECT_EQ(call("GET", "/v1/audit?cursor=abc").status, 400);
  EXPECT_EQ(call("GET", "/v1/audit?limit=0").status, 400);
  EXPECT_EQ(body_of(call("GET", "/v1/audit?limit=1000")).at("data").as_array().size(), 7u) << "limit is capped, not refused";
}

TEST_F(AuditTest, CommitRecordsHaveExactlyThe049Shape) {
  const auto first = create("c1", "Oslo");
  create("c2", "Rome");
  create("c3", "Lima");
  const std::map<std::string, std::string> v49{{"Ablo-Protocol-Version", "1"}};
  auto listed = call("GET", "/v1/commits?limit=2", {}, {}, v49);
  ASSERT_EQ(listed.status, 200) << listed.body;
  const auto list = body_of(listed).as_object();
  EXPECT_EQ(keys_of(list), (std::set<std::string>{"data", "nextCursor"}));
  ASSERT_EQ(list.at("data").as_array().size(), 2u);
  const auto& record = list.at("data").as_array()[0].as_object();
  EXPECT_EQ(keys_of(record), (std::set<std::string>{"status", "statusAt", "lastSyncId", "id", "attempts", "actor",
                                                    "authority", "claims", "createdAt", "readSet", "operations",
                                                    "receipt"}));
  EXPECT_EQ(record.at("status"), "confirmed");
  EXPECT_EQ(record.at("id"), "tx-c3");
  EXPECT_EQ(keys_of(record.at("attempts").as_array().at(0).as_object()),
            (std::set<std::string>{"id", "observedAt", "transport", "kind"}));
  EXPECT_EQ(keys_of(record.at("actor").as_object()), (std::set<std::string>{"kind", "id"}));
  EXPECT_EQ(keys_of(record.at("receipt").as_object()), (std::set<std::string>{"clientTxId", "serverTxId", "ops"}));
  EXPECT_EQ(keys_of(record.at("authority").as_object()),
            (std::set<std::string>{"organizationId", "projectId", "branchId", "syncGroups", "operations",
                                   "participantKind", "participantId", "deliveryPartition"}));
  const auto& op = record.at("operations").as_array().at(0).as_object();
  EXPECT_EQ(keys_of(op), (std::set<std::string>{"id", "action", "model", "data"}));
  EXPECT_EQ(op.at("data"), (json::object{{"retention", "redacted"}})) << "commit records never copy field values";
  EXPECT_EQ(record.at("lastSyncId"), std::stoll(std::string(record.at("receipt").at("serverTxId").as_string())));

  // Pagination: the next page holds the oldest commit, then there is no further cursor.
  ASSERT_TRUE(list.at("nextCursor").is_string());
  auto next = body_of(call("GET", "/v1/commits?limit=2&cursor=" + std::string(list.at("nextCursor").as_string()))).as_object();
  ASSERT_EQ(next.at("data").as_array().size(), 1u);
  EXPECT_EQ(next.at("data").as_array()[0].at("id"), first.c_str());
  EXPECT_TRUE(next.at("nextCursor").is_null());

  // One record by id, the same object; an unknown id is 200 null.
  auto one = call("GET", "/v1/commits/" + first, {}, {}, v49);
  ASSERT_EQ(one.status, 200);
  EXPECT_EQ(body_of(one).as_object(), next.at("data").as_array()[0].as_object());
  auto missing = call("GET", "/v1/commits/no-such-commit", {}, {}, v49);
  EXPECT_EQ(missing.status, 200);
  EXPECT_EQ(missing.body, "null");
  EXPECT_EQ(body_of(call("GET", "/v1/commits?status=rejected")).at("data").as_array().size(), 0u);
  EXPECT_EQ(body_of(call("GET", "/v1/commits?actorId=nobody")).at("data").as_array().size(), 0u);
  EXPECT_EQ(call("GET", "/v1/commits?status=bogus").status, 400);
}

TEST_F(AuditTest, ExportIsCsvOfEveryRowOldestFirst) {
  five_commits();
  auto exported = call("GET", "/v1/audit/export");
  ASSERT_EQ(exported.status, 200) << exported.body;
  const auto& csv = exported.body;
  EXPECT_TRUE(csv.starts_with("chainSeq,occurredAt,actorKind,")) << csv.substr(0, 80);
  std::vector<std::string> lines;
  for (std::size_t start = 0; start < csv.size();) {
    const auto end = csv.find("\r\n", start);
    lines.push_back(csv.substr(start, end - start));
    start = end + 2;
  }
  ASSERT_EQ(lines.size(), 6u);
  for (int i = 1; i <= 5; ++i) EXPECT_TRUE(lines[static_cast<std::size_t>(i)].starts_with(std::to_string(i) + ","));
  EXPECT_EQ(csv.find("City"), std::string::npos);

  // The CLI walks verify and writes the export.
  const std::string connection = " --port " + std::to_string(server.port()) + " --key " + server.api_key();
  FILE* pipe = popen((server_binary() + " audit verify" + connection + " 2>&1").c_str(), "r");
  ASSERT_NE(pipe, nullptr);
  char buffer[1024];
  std::string output;
  while (std::size_t n = fread(buffer, 1, sizeof buffer, pipe)) output.append(buffer, n);
  EXPECT_EQ(WEXITSTATUS(pclose(pipe)), 0) << output;
  EXPECT_NE(output.find(R"("ok":true)"), std::string::npos) << output;
  EXPECT_NE(output.find(R"("rowsChecked":5)"), std::string::npos) << output;
  tamper({"DELETE FROM _ablo_audit WHERE chain_seq = 2"});
  pipe = popen((server_binary() + " audit verify" + connection + " 2>&1").c_str(), "r");
  output.clear();
  while (std::size_t n = fread(buffer, 1, sizeof buffer, pipe)) output.append(buffer, n);
  EXPECT_EQ(WEXITSTATUS(pclose(pipe)), 2) << output;
  EXPECT_NE(output.find(R"("brokenAtSeq":2)"), std::string::npos) << output;
}

}  // namespace
}  // namespace ablo::testing
