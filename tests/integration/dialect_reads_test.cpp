// The 0.49 HTTP read side (issue 12, notes/dialect-049.md §3): a request carrying
// Ablo-Protocol-Version gets the 0.49 shapes — model reads with a stamp and ModelClaims, lists
// with one evidence entry per row, a miss as `data: null` — while the same request without it
// keeps the 0.9.1 shapes. Also the routes 0.49 added: GET /v1/logs (authorized like every
// read), GET /v1/schema with the models' declared conflict policy, POST /v1/ephemeral_keys and
// POST /v1/capabilities/{id}/rotate.
#include <chrono>
#include <map>
#include <regex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <boost/json.hpp>
#include <gtest/gtest.h>

#include "client/transport.h"
#include "integration/server_fixture.h"
#include "integration/sync_client.h"

namespace ablo::testing {
namespace {

namespace json = boost::json;
using namespace std::chrono_literals;

// Teams are scope roots (group team:<id>); tasks inherit their team's group. weatherReports is
// the quickstart's model under its camelCase schema key.
constexpr const char* kSchema = R"({"v":3,"models":{
  "teams":{"fields":{"name":{"type":"string","isOptional":true}},"relations":{},"typename":"Team","scope":"team"},
  "tasks":{"fields":{"title":{"type":"string"},"teamId":{"type":"string"}},"relations":{
      "team":{"type":"belongsTo","target":"teams","foreignKey":"teamId","options":{"parent":true}}},"typename":"Task"},
  "weatherReports":{"fields":{"location":{"type":"string"},
      "status":{"type":"enum","enumValues":["pending","ready"],"isOptional":false,"isIndexed":false}},
      "relations":{},"typename":"weatherReports"}},
  "identityRoles":[]})";

using Headers = std::map<std::string, std::string>;
const Headers kClaims049{{"Ablo-Protocol-Version", "1"}};  // what every 0.49 HTTP request carries

class DialectReadsTest : public ::testing::Test {
 protected:
  ServerProcess server{kSchema};

  client::HttpResponse call(const std::string& token, const std::string& method, const std::string& target,
                            const std::string& body = {}, Headers headers = {}) {
    headers.emplace("Authorization", "Bearer " + token);
    headers.emplace("Content-Type", "application/json");
    auto response = client::http_request("127.0.0.1", server.port(), method, target, body, headers);
    EXPECT_TRUE(response) << (response ? "" : response.error().message);
    return response ? *response : client::HttpResponse{};
  }
  client::HttpResponse admin(const std::string& method, const std::string& target, const std::string& body = {},
                             Headers headers = {}) {
    return call(server.api_key(), method, target, body, std::move(headers));
  }
  static json::object body_of(const client::HttpResponse& response) {
    return response.body.empty() ? json::object{} : json::parse(response.body).as_object();
  }
  static std::string code_of(const client::HttpResponse& response) {
    auto body = body_of(response);
    return body.contains("code") ? std::string(body.at("code").as_string()) : "";
  }
  // A capability exchanged by the secret key (the 0.9.1 exchange): the parsed response.
  json::object capability(json::object request) {
    request["ttlSeconds"] = 3600;
    auto response = admin("POST", "/api/auth/capability", json::serialize(request));
    EXPECT_EQ(response.status, 200) << response.body;
    return body_of(response);
  }
  static std::string token_of(const json::object& minted) { return std::string(minted.at("token").as_string()); }

  void create_report(const std::string& id, const std::string& location) {
    auto created = admin("POST", "/v1/models/weatherReports",
                         json::serialize(json::object{{"id", id}, {"location", location}, {"status", "pending"}}));
    ASSERT_EQ(created.status, 200) << created.body;
  }
  // A 0.9.1-style PATCH (no dialect header: the write side is not what these tests are about).
  client::HttpResponse patch_report(const std::string& token, const std::string& id, const std::string& status,
                                    std::optional<int64_t> read_at) {
    json::object body{{"data", json::object{{"status", status}}}};
    if (read_at) body["readAt"] = *read_at;
    return call(token, "PATCH", "/v1/models/weatherReports/" + id, json::serialize(body));
  }
};

TEST_F(DialectReadsTest, ModelReadCarriesStampAndModelClaimsIn049AndIntentRecordsIn091) {
  create_report("r1", "Oslo");
  auto read = admin("GET", "/v1/models/weatherReports/r1", {}, kClaims049);
  ASSERT_EQ(read.status, 200) << read.body;
  auto body = body_of(read);
  EXPECT_EQ(keys_of(body), (std::set<std::string>{"object", "model", "id", "data", "stamp", "claims"}));
  EXPECT_EQ(body.at("object"), "model");
  EXPECT_EQ(body.at("model"), "weatherReports") << "the schema key as the 0.49 client wrote it in the path";
  EXPECT_EQ(body.at("id"), "r1");
  EXPECT_EQ(body.at("data").at("location"), "Oslo");
  EXPECT_TRUE(body.at("stamp").is_int64());
  EXPECT_GE(body.at("stamp").as_int64(), 1);
  EXPECT_TRUE(body.at("claims").as_array().empty());

  // An agent claims the row over HTTP; both dialects list the claim, each in its own shape.
  const auto agent = capability({{"participantKind", "agent"}, {"participantId", "summarizer"}, {"wideScope", true}});
  auto claimed = call(token_of(agent), "POST", "/v1/models/weatherReports/r1/claim",
                      R"({"description":"summarizing","ttl":60})");
  ASSERT_LT(claimed.status, 300) << claimed.body;

  auto with_claim = body_of(admin("GET", "/v1/models/weatherReports/r1", {}, kClaims049));
  ASSERT_EQ(with_claim.at("claims").as_array().size(), 1u) << json::serialize(with_claim);
  const auto& claim = with_claim.at("claims").as_array()[0].as_object();
  EXPECT_FALSE(claim.at("id").as_string().empty());
  EXPECT_EQ(claim.at("actor"), "summarizer");
  EXPECT_EQ(claim.at("participantKind"), "agent");
  ASSERT_TRUE(claim.at("expiresAt").is_int64()) << "ModelClaim.expiresAt is epoch ms, an integer";
  EXPECT_GT(claim.at("expiresAt").as_int64(), 1'700'000'000'000);
  EXPECT_EQ(claim.at("target").at("model"), "weatherReports");
  EXPECT_EQ(claim.at("target").at("id"), "r1");
  EXPECT_EQ(claim.at("status"), "active");
  EXPECT_EQ(claim.at("description"), "summarizing");
  for (const char* intent_era : {"object", "action", "heldBy", "createdAt"}) {
    EXPECT_FALSE(claim.contains(intent_era)) << intent_era;
  }

  auto old_read = admin("GET", "/v1/models/weatherReports/r1");
  ASSERT_EQ(old_read.status, 200) << old_read.body;
  auto old_body = body_of(old_read);
  EXPECT_EQ(old_body.at("model"), "weatherreports") << "0.9.1 keeps today's spelling";
  ASSERT_EQ(old_body.at("claims").as_array().size(), 1u);
  const auto& record = old_body.at("claims").as_array()[0].as_object();
  EXPECT_EQ(record.at("object"), "intent");
  EXPECT_TRUE(record.at("expiresAt").is_string()) << "0.9.1 claim records carry ISO times";
}

TEST_F(DialectReadsTest, AMissingRowIsDataNullFor049AndA404For091) {
  create_report("r1", "Oslo");
  auto missing = admin("GET", "/v1/models/weatherReports/nope", {}, kClaims049);
  ASSERT_EQ(missing.status, 200) << missing.body;
  auto body = body_of(missing);
  EXPECT_TRUE(body.at("data").is_null());
  EXPECT_EQ(body.at("id"), "nope");
  EXPECT_GE(body.at("stamp").as_int64(), 1) << "the watermark the absence was read at";
  EXPECT_TRUE(body.at("claims").as_array().empty());

  auto old = admin("GET", "/v1/models/weatherReports/nope");
  EXPECT_EQ(old.status, 404) << old.body;
  EXPECT_EQ(code_of(old), "model_not_found");

  // Out of scope reads as missing: a team-a capability does not learn a team-b row exists.
  ASSERT_EQ(admin("POST", "/v1/models/tasks", R"({"id":"tb","title":"B-ONLY-TITLE","teamId":"b"})").status, 200);
  const auto alice = capability({{"participantKind", "user"}, {"participantId", "alice"}, {"syncGroups", json::array{"team:a"}}});
  auto hidden = call(token_of(alice), "GET", "/v1/models/tasks/tb", {}, kClaims049);
  ASSERT_EQ(hidden.status, 200) << hidden.body;
  EXPECT_TRUE(body_of(hidden).at("data").is_null());
  EXPECT_EQ(hidden.body.find("B-ONLY-TITLE"), std::string::npos);
}

TEST_F(DialectReadsTest, AReadStampIsAReadAtThatPassesUntilAnotherParticipantWritesTheRow) {
  create_report("r1", "Oslo");
  const auto agent = capability({{"participantKind", "agent"}, {"participantId", "writer"}, {"wideScope", true}});
  const auto token = token_of(agent);

  // read -> write with readAt = stamp: passes (nothing changed since the read).
  const int64_t stamp = body_of(call(token, "GET", "/v1/models/weatherReports/r1", {}, kClaims049)).at("stamp").as_int64();
  auto first = patch_report(token, "r1", "ready", stamp);
  EXPECT_EQ(first.status, 200) << first.body;

  // read -> another participant writes the row -> the same readAt is stale.
  const int64_t again = body_of(call(token, "GET", "/v1/models/weatherReports/r1", {}, kClaims049)).at("stamp").as_int64();
  EXPECT_GT(again, stamp) << "the stamp follows the head past the agent's own write";
  ASSERT_EQ(patch_report(server.api_key(), "r1", "pending", std::nullopt).status, 200);
  auto stale = patch_report(token, "r1", "ready", again);
  EXPECT_EQ(stale.status, 409) << stale.body;
  EXPECT_EQ(code_of(stale), "stale_context");

  // A list's evidence stamps work the same way.
  auto list = body_of(call(token, "GET", "/v1/models/weatherReports", {}, kClaims049));
  const auto& evidence = list.at("evidence").as_array();
  ASSERT_EQ(evidence.size(), 1u);
  const int64_t evidence_stamp = evidence[0].at("stamp").as_int64();
  EXPECT_EQ(patch_report(token, "r1", "ready", evidence_stamp).status, 200);
  ASSERT_EQ(patch_report(server.api_key(), "r1", "pending", std::nullopt).status, 200);
  EXPECT_EQ(code_of(patch_report(token, "r1", "ready", evidence_stamp)), "stale_context");
}

TEST_F(DialectReadsTest, AListCarriesOneEvidenceEntryPerRowFor049Only) {
  for (const char* id : {"r1", "r2", "r3"}) create_report(id, std::string("city-") + id);
  auto page = admin("GET", "/v1/models/weatherReports?limit=2", {}, kClaims049);
  ASSERT_EQ(page.status, 200) << page.body;
  auto body = body_of(page);
  EXPECT_EQ(body.at("object"), "list");
  EXPECT_EQ(body.at("model"), "weatherReports");
  EXPECT_EQ(body.at("has_more"), true);
  EXPECT_TRUE(body.at("next_cursor").is_string());
  const int64_t stamp = body.at("stamp").as_int64();
  const auto& data = body.at("data").as_array();
  const auto& evidence = body.at("evidence").as_array();
  ASSERT_EQ(data.size(), 2u);
  ASSERT_EQ(evidence.size(), data.size());
  for (std::size_t i = 0; i < data.size(); ++i) {
    EXPECT_EQ(evidence[i].at("id"), data[i].at("id"));
    EXPECT_EQ(evidence[i].at("stamp").as_int64(), stamp);
  }
  auto rest = body_of(admin("GET", "/v1/models/weatherReports?limit=2&starting_after=" +
                                       std::string(body.at("next_cursor").as_string()), {}, kClaims049));
  ASSERT_EQ(rest.at("data").as_array().size(), 1u);
  EXPECT_EQ(rest.at("evidence").as_array()[0].at("id"), rest.at("data").as_array()[0].at("id"));
  EXPECT_TRUE(rest.at("next_cursor").is_null());

  auto old = body_of(admin("GET", "/v1/models/weatherReports?limit=2"));
  EXPECT_EQ(keys_of(old), (std::set<std::string>{"object", "model", "data", "has_more", "next_cursor", "stamp"}))
      << "0.9.1 list shape unchanged";
  EXPECT_EQ(old.at("model"), "weatherreports");
}

TEST_F(DialectReadsTest, LogsListOnlyWhatTheCallerMayReadFilteredByModelOpAndTime) {
  ASSERT_EQ(admin("POST", "/v1/models/tasks", R"({"id":"ta","title":"A","teamId":"a"})").status, 200);
  ASSERT_EQ(admin("POST", "/v1/models/tasks", R"({"id":"tb","title":"TEAM-B-SECRET","teamId":"b"})").status, 200);
  create_report("r1", "Oslo");
  ASSERT_EQ(admin("PATCH", "/v1/models/tasks/ta", R"({"data":{"title":"A2"}})").status, 200);

  // The secret key sees its whole tenant, oldest first, in the log_event shape.
  auto all = admin("GET", "/v1/logs?after=0", {}, kClaims049);
  ASSERT_EQ(all.status, 200) << all.body;
  auto page = body_of(all);
  EXPECT_EQ(page.at("object"), "list");
  EXPECT_EQ(page.at("has_more"), false);
  const auto& entries = page.at("data").as_array();
  ASSERT_EQ(entries.size(), 4u) << all.body;
  const auto& first = entries[0].as_object();
  EXPECT_EQ(keys_of(first), (std::set<std::string>{"object", "id", "at", "model", "op", "recordId", "actor", "delta"}));
  EXPECT_EQ(first.at("object"), "log_event");
  EXPECT_EQ(first.at("model"), "tasks");
  EXPECT_EQ(first.at("op"), "create");
  EXPECT_EQ(first.at("recordId"), "ta");
  EXPECT_TRUE(first.at("actor").is_string());
  EXPECT_EQ(first.at("delta").at("actionType"), "I");
  EXPECT_EQ(first.at("delta").at("modelId"), "ta");
  EXPECT_EQ(first.at("delta").at("data").at("title"), "A");
  EXPECT_EQ(entries[3].at("op"), "update");
  for (std::size_t i = 1; i < entries.size(); ++i) EXPECT_GT(entries[i].at("id").as_int64(), entries[i - 1].at("id").as_int64());
  const std::string head_cursor = std::string(page.at("next_cursor").as_string());
  EXPECT_EQ(head_cursor, std::to_string(entries[3].at("id").as_int64()) + ".0");

  // A team-a capability: only team a's task (and no trace of team b's title).
  const auto alice = capability({{"participantKind", "user"}, {"participantId", "alice"}, {"syncGroups", json::array{"team:a"}}});
  auto scoped = call(token_of(alice), "GET", "/v1/logs?after=0", {}, kClaims049);
  ASSERT_EQ(scoped.status, 200) << scoped.body;
  EXPECT_EQ(scoped.body.find("TEAM-B-SECRET"), std::string::npos);
  const auto scoped_entries = body_of(scoped).at("data").as_array();
  for (const auto& entry : scoped_entries) EXPECT_EQ(entry.at("recordId"), "ta") << scoped.body;
  EXPECT_EQ(scoped_entries.size(), 2u);

  // Filters: model (any spelling the schema resolves), op, since.
  auto reports = body_of(admin("GET", "/v1/logs?after=0&model=weatherReports", {}, kClaims049)).at("data").as_array();
  ASSERT_EQ(reports.size(), 1u);
  EXPECT_EQ(reports[0].at("recordId"), "r1");
  auto updates = body_of(admin("GET", "/v1/logs?after=0&op=update", {}, kClaims049)).at("data").as_array();
  ASSERT_EQ(updates.size(), 1u);
  EXPECT_EQ(updates[0].at("recordId"), "ta");
  EXPECT_TRUE(body_of(admin("GET", "/v1/logs?after=0&since=2999-01-01T00:00:00Z", {}, kClaims049))
                  .at("data").as_array().empty());

  // Paging forward: limit and the cursor walk the same entries.
  auto first_two = body_of(admin("GET", "/v1/logs?after=0&limit=2", {}, kClaims049));
  EXPECT_EQ(first_two.at("has_more"), true);
  ASSERT_EQ(first_two.at("data").as_array().size(), 2u);
  auto next = body_of(admin("GET", "/v1/logs?limit=2&after=" + std::string(first_two.at("next_cursor").as_string()),
                            {}, kClaims049));
  ASSERT_EQ(next.at("data").as_array().size(), 2u);
  EXPECT_EQ(next.at("data").as_array()[0].at("id"), entries[2].at("id"));

  // The tail (no cursor): the newest entries, oldest first, ending at the head.
  auto tail = body_of(admin("GET", "/v1/logs?limit=2", {}, kClaims049));
  ASSERT_EQ(tail.at("data").as_array().size(), 2u);
  EXPECT_EQ(tail.at("data").as_array()[0].at("id"), entries[2].at("id"));
  EXPECT_EQ(tail.at("data").as_array()[1].at("id"), entries[3].at("id"));
  EXPECT_EQ(tail.at("next_cursor"), head_cursor.c_str());
  auto idle = body_of(admin("GET", "/v1/logs?after=" + head_cursor, {}, kClaims049));
  EXPECT_TRUE(idle.at("data").as_array().empty());
  EXPECT_EQ(idle.at("next_cursor"), head_cursor.c_str());

  // A malformed cursor is an error, never a position.
  auto bad = admin("GET", "/v1/logs?after=1e3", {}, kClaims049);
  EXPECT_EQ(bad.status, 400) << bad.body;
  EXPECT_EQ(code_of(bad), "invalid_request");
}

TEST_F(DialectReadsTest, ASchemaWithConflictAndSessionSettingsIsAcceptedKeptAndApplied) {
  auto schema = json::parse(kSchema).as_object();
  schema["models"].as_object()["weatherReports"].as_object()["conflict"] = json::object{{"agent", "overwrite"}, {"user", "reject"}};
  schema["sessionSettings"] = json::object{{"app.org_id", "orgId"}, {"app.actor", "participantId"}};
  auto pushed = admin("POST", "/api/schema", json::serialize(json::object{{"schema", schema}}));
  ASSERT_EQ(pushed.status, 200) << pushed.body;

  auto read = admin("GET", "/v1/schema", {}, kClaims049);
  ASSERT_EQ(read.status, 200) << read.body;
  auto body = body_of(read);
  EXPECT_EQ(body.at("active"), true);
  for (const char* key : {"environment", "project", "models", "schemaId", "version", "hash", "pushedAt"}) {
    EXPECT_TRUE(body.contains(key)) << key;
  }
  std::map<std::string, json::object> models;
  for (const auto& model : body.at("models").as_array()) models[std::string(model.at("key").as_string())] = model.as_object();
  ASSERT_TRUE(models.count("weatherReports"));
  EXPECT_EQ(models["weatherReports"].at("conflict"), (json::object{{"agent", "overwrite"}, {"user", "reject"}}));
  EXPECT_TRUE(models["tasks"].at("conflict").is_null());
  EXPECT_EQ(models["tasks"].at("typename"), "Task");
  EXPECT_EQ(models["tasks"].at("fields").at("title").at("type"), "string");
  EXPECT_EQ(models["tasks"].at("relations").at("team").at("target"), "teams");
  EXPECT_TRUE(std::regex_match(std::string(models["tasks"].at("hash").as_string()), std::regex("[0-9a-f]{8}")));
  EXPECT_NE(models["tasks"].at("hash"), models["weatherReports"].at("hash"));
  // The pushed JSON keeps what it declared.
  auto stored = body_of(admin("GET", "/api/schema"));
  EXPECT_EQ(stored.at("active"), true) << "the 0.49 CLI reads /api/schema with the same schema";
  EXPECT_EQ(stored.at("models"), body.at("models"));
  EXPECT_EQ(stored.at("schema").at("sessionSettings").at("app.org_id"), "orgId");

  // The agent's default: a stale write that names no onStale overwrites; the model without a
  // policy still rejects.
  const auto agent = capability({{"participantKind", "agent"}, {"participantId", "bot"}, {"wideScope", true}});
  create_report("r1", "Oslo");
  const int64_t stamp = body_of(call(token_of(agent), "GET", "/v1/models/weatherReports/r1", {}, kClaims049)).at("stamp").as_int64();
  ASSERT_EQ(patch_report(server.api_key(), "r1", "ready", std::nullopt).status, 200);
  auto overwrite = patch_report(token_of(agent), "r1", "pending", stamp);
  EXPECT_EQ(overwrite.status, 200) << overwrite.body;
  ASSERT_EQ(admin("POST", "/v1/models/tasks", R"({"id":"t1","title":"x","teamId":"a"})").status, 200);
  const int64_t task_stamp = body_of(call(token_of(agent), "GET", "/v1/models/tasks/t1", {}, kClaims049)).at("stamp").as_int64();
  ASSERT_EQ(admin("PATCH", "/v1/models/tasks/t1", R"({"data":{"title":"y"}})").status, 200);
  auto rejected = call(token_of(agent), "PATCH", "/v1/models/tasks/t1",
                       json::serialize(json::object{{"data", json::object{{"title", "z"}}}, {"readAt", task_stamp}}));
  EXPECT_EQ(code_of(rejected), "stale_context") << rejected.body;

  // A policy value outside reject|overwrite|notify is refused, and nothing changes.
  schema["models"].as_object()["weatherReports"].as_object()["conflict"] = json::object{{"agent", "force"}};
  auto bad = admin("POST", "/api/schema", json::serialize(json::object{{"schema", schema}}));
  EXPECT_EQ(bad.status, 400) << bad.body;
  EXPECT_EQ(body_of(admin("GET", "/v1/schema")).at("version"), body.at("version"));
}

TEST_F(DialectReadsTest, AnEphemeralKeyIsAScopedUserBearerThatExpires) {
  create_report("r1", "Oslo");
  auto minted = admin("POST", "/v1/ephemeral_keys",
                      R"({"user":{"id":"user-7"},"operations":["weatherReports.read"],"ttlSeconds":3})", kClaims049);
  ASSERT_EQ(minted.status, 201) << minted.body;
  auto key = body_of(minted);
  for (const char* field : {"object", "id", "token", "expiresAt", "organizationId", "participantId", "projectId",
                            "branchId", "branchRoot", "syncGroups", "deliveryPartition", "operations"}) {
    EXPECT_TRUE(key.contains(field)) << field;
  }
  EXPECT_EQ(key.at("object"), "ephemeral_key");
  EXPECT_EQ(key.at("participantId"), "user-7");
  EXPECT_EQ(key.at("operations"), (json::array{"weatherReports.read"}));
  const std::string token = token_of(key);
  EXPECT_EQ(token.rfind("ek_", 0), 0u) << token;

  auto identity = body_of(call(token, "GET", "/api/auth/identity"));
  EXPECT_EQ(identity.at("participantKind"), "user");
  EXPECT_EQ(identity.at("participantId"), "user-7");
  EXPECT_EQ(call(token, "GET", "/v1/models/weatherReports/r1", {}, kClaims049).status, 200);
  auto write = call(token, "POST", "/v1/models/weatherReports", R"({"id":"r2","location":"x","status":"ready"})");
  EXPECT_EQ(write.status, 403) << write.body;
  EXPECT_EQ(code_of(write), "capability_scope_denied");

  // A write grant brings its read; a session cannot mint another; the grant must be named.
  auto writer = body_of(admin("POST", "/v1/ephemeral_keys", R"({"user":{"id":"u8"},"activeSchemaOperations":["update"]})"));
  std::set<std::string> granted;
  for (const auto& op : writer.at("operations").as_array()) granted.emplace(op.as_string());
  EXPECT_TRUE(granted.count("weatherReports.update") && granted.count("weatherReports.read") && granted.count("tasks.read"));
  auto self_mint = call(token, "POST", "/v1/ephemeral_keys", R"({"user":{"id":"x"},"operations":["weatherReports.read"]})");
  EXPECT_EQ(self_mint.status, 403) << self_mint.body;
  EXPECT_EQ(admin("POST", "/v1/ephemeral_keys", R"({"user":{"id":"x"}})").status, 400);
  EXPECT_EQ(admin("POST", "/v1/ephemeral_keys", R"({"user":{"id":"x"},"operations":["nosuch.read"]})").status, 400);

  std::this_thread::sleep_for(3500ms);
  auto expired = call(token, "GET", "/v1/models/weatherReports/r1", {}, kClaims049);
  EXPECT_EQ(expired.status, 401) << expired.body;
}

TEST_F(DialectReadsTest, RotatingGivesAWorkingTokenAndRetiresTheOldOneAfterTheGrace) {
  create_report("r1", "Oslo");
  const auto agent = capability({{"participantKind", "agent"}, {"participantId", "worker"}, {"wideScope", true}});
  const std::string old_token = token_of(agent);
  const std::string id(agent.at("capabilityId").as_string());
  // A token the agent exchanged for itself before the rotation dies with the old capability.
  auto child = call(old_token, "POST", "/api/auth/capability", R"({"ttlSeconds":3600})");
  ASSERT_EQ(child.status, 200) << child.body;
  const std::string child_token = token_of(body_of(child));

  auto rotated = admin("POST", "/v1/capabilities/" + id + "/rotate", R"({"graceSeconds":3,"ttlSeconds":600})");
  ASSERT_EQ(rotated.status, 201) << rotated.body;
  auto body = body_of(rotated);
  EXPECT_EQ(keys_of(body), (std::set<std::string>{"capabilityId", "token", "expiresAt", "organizationId", "branchRoot",
                                                  "scope", "rotatedFrom"}));
  EXPECT_NE(body.at("capabilityId"), id.c_str());
  EXPECT_EQ(body.at("rotatedFrom").at("capabilityId"), id.c_str());
  EXPECT_EQ(body.at("scope").at("participantId"), "worker");
  EXPECT_EQ(body.at("scope").at("participantKind"), "agent");
  const std::regex operation("^[^.\\s]+\\.(read|create|update|delete)$");
  for (const auto& op : body.at("scope").at("operations").as_array()) {
    EXPECT_TRUE(std::regex_match(std::string(op.as_string()), operation)) << op;
  }
  const std::string new_token = token_of(body);
  EXPECT_EQ(call(new_token, "GET", "/v1/models/weatherReports/r1").status, 200);
  EXPECT_EQ(body_of(call(new_token, "GET", "/api/auth/identity")).at("participantId"), "worker");
  EXPECT_EQ(call(old_token, "GET", "/v1/models/weatherReports/r1").status, 200) << "still inside the grace period";
  std::this_thread::sleep_for(3500ms);
  EXPECT_EQ(call(old_token, "GET", "/v1/models/weatherReports/r1").status, 401);
  EXPECT_EQ(code_of(call(child_token, "GET", "/v1/models/weatherReports/r1")), "capability_invalid");
  EXPECT_EQ(call(new_token, "GET", "/v1/models/weatherReports/r1").status, 200);

  // Without a grace the old token stops at once; only a secret key rotates.
  auto again = body_of(admin("POST", "/v1/capabilities/" + std::string(body.at("capabilityId").as_string()) + "/rotate"));
  EXPECT_EQ(call(new_token, "GET", "/v1/models/weatherReports/r1").status, 403);
  EXPECT_EQ(call(token_of(again), "GET", "/v1/models/weatherReports/r1").status, 200);
  auto by_capability = call(token_of(again), "POST", "/v1/capabilities/" + std::string(again.at("capabilityId").as_string()) +
                                                     "/rotate");
  EXPECT_EQ(by_capability.status, 403) << by_capability.body;
}

}  // namespace
}  // namespace ablo::testing
