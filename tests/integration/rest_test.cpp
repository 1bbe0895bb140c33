// The public REST API of the real server process (http-api.md §3, §4): /v1/commits with
// Idempotency-Key, the per-model routes, keyset pagination, and bad input.
#include <algorithm>
#include <map>
#include <set>
#include <thread>

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

class RestTest : public ::testing::Test {
 protected:
  ServerProcess server{kQuickstartSchema};

  client::HttpResponse call(const std::string& method, const std::string& target, const std::string& body = {},
                            std::map<std::string, std::string> headers = {}) {
    headers.emplace("Authorization", "Bearer " + server.api_key());
    headers.emplace("Content-Type", "application/json");
    auto response = client::http_request("127.0.0.1", server.port(), method, target, body, headers);
    EXPECT_TRUE(response) << (response ? "" : response.error().message);
    return response ? *response : client::HttpResponse{};
  }
  static json::object body_of(const client::HttpResponse& response) { return json::parse(response.body).as_object(); }

  static std::string report_op(const std::string& action, const std::string& id, json::object data = {}) {
    json::object op{{"action", action}, {"model", "weatherReports"}, {"id", id}};
    if (!data.empty()) op["data"] = std::move(data);
    return json::serialize(json::object{{"operations", json::array{op}}});
  }
  static json::object report(const std::string& location) {
    return {{"location", location}, {"status", "pending"}};
  }
};

TEST_F(RestTest, CommitAppliesAtomicallyAndItsDeltaReachesASubscriber) {
  auto subscriber = Client::connect(server);
  auto response = call("POST", "/v1/commits", report_op("create", "r1", report("Oslo")));
  ASSERT_EQ(response.status, 200) << response.body;
  auto receipt = body_of(response);
  EXPECT_EQ(receipt.at("object"), "commit_receipt");
  EXPECT_EQ(receipt.at("status"), "confirmed");
  EXPECT_EQ(receipt.at("success"), true);
  EXPECT_EQ(receipt.at("ops"), 1);
  const int64_t id = receipt.at("lastSyncId").as_int64();
  EXPECT_EQ(receipt.at("serverTxId"), std::to_string(id).c_str());
  auto delta = subscriber.await([&](const json::object& f) { return is_delta_with_id(f, id); });
  ASSERT_TRUE(delta) << "an HTTP commit fans out like a WebSocket one";
  EXPECT_EQ(delta_with_id(*delta, id).at("modelId"), "r1");

  // One bad op rejects the whole batch: nothing of it is applied.
  json::object batch{{"operations", json::array{
      json::object{{"action", "create"}, {"model", "weatherReports"}, {"id", "r2"}, {"data", report("Bergen")}},
      json::object{{"action", "update"}, {"model", "weatherReports"}, {"id", "r1"},
                   {"data", json::object{{"status", "exploded"}}}}}}};
  auto rejected = call("POST", "/api/v1/commits", json::serialize(batch));
  EXPECT_EQ(rejected.status, 400) << rejected.body;
  auto rejection = body_of(rejected);
  EXPECT_EQ(rejection.at("object"), "commit_receipt");
  EXPECT_EQ(rejection.at("success"), false);
  EXPECT_EQ(rejection.at("status"), "rejected");
  EXPECT_FALSE(rejection.at("code").as_string().empty());
  EXPECT_EQ(rejection.at("error").at("code"), rejection.at("code"));
  EXPECT_EQ(call("GET", "/v1/models/weatherReports/r2").status, 404);
}

TEST_F(RestTest, IdempotencyKeyReplaysTheSameBodyAndRefusesAnotherBody) {
  const auto body = report_op("create", "r10", report("Oslo"));
  auto first = call("POST", "/v1/commits", body, {{"Idempotency-Key", "order-42"}});
  ASSERT_EQ(first.status, 200) << first.body;
  auto replay = call("POST", "/v1/commits", body, {{"Idempotency-Key", "order-42"}});
  ASSERT_EQ(replay.status, 200) << replay.body;
  EXPECT_EQ(body_of(replay).at("lastSyncId"), body_of(first).at("lastSyncId")) << "the same receipt, replayed";
  EXPECT_EQ(body_of(replay).at("clientTxId"), "order-42");

  auto conflict = call("POST", "/v1/commits", report_op("create", "r11", report("Rome")), {{"Idempotency-Key", "order-42"}});
  EXPECT_EQ(conflict.status, 409);
  EXPECT_EQ(body_of(conflict).at("code"), "idempotency_conflict");
  EXPECT_EQ(call("GET", "/v1/models/weatherReports/r11").status, 404) << "nothing applied";

  auto head = body_of(call("GET", "/v1/models/weatherReports/r10")).at("stamp");
  EXPECT_EQ(head, body_of(first).at("lastSyncId")) << "the replay wrote no second delta";
  EXPECT_EQ(call("POST", "/v1/commits", body, {{"Idempotency-Key", std::string(256, 'k')}}).status, 400);
}

TEST_F(RestTest, ModelRoutesCreateReadUpdateAndDelete) {
  auto created = call("POST", "/api/v1/models/weatherReports",
                      json::serialize(json::object{{"idempotencyKey", "c1"}, {"id", "w1"}, {"data", report("Oslo")}}));
  ASSERT_EQ(created.status, 200) << created.body;
  auto read = call("GET", "/v1/models/weatherReports/w1");
  ASSERT_EQ(read.status, 200) << read.body;
  auto record = body_of(read);
  EXPECT_EQ(record.at("object"), "model");
  EXPECT_EQ(record.at("model"), "weatherreports");
  EXPECT_EQ(record.at("data").at("location"), "Oslo");
  EXPECT_TRUE(record.at("claims").as_array().empty());
  const int64_t stamp = record.at("stamp").as_int64();
  EXPECT_GE(stamp, body_of(created).at("lastSyncId").as_int64());

  // A flat body (what clients generated from the OpenAPI send) is the row itself.
  auto flat = call("POST", "/v1/models/weatherreports", R"({"id":"w2","location":"Rome","status":"ready"})");
  ASSERT_EQ(flat.status, 200) << flat.body;
  EXPECT_EQ(body_of(call("GET", "/v1/models/weatherReports/w2")).at("data").at("location"), "Rome");

  auto patched = call("PATCH", "/v1/models/weatherReports/w1",
                      json::serialize(json::object{{"data", {{"forecast", "sunny"}}}, {"readAt", stamp}, {"onStale", "reject"}}));
  ASSERT_EQ(patched.status, 200) << patched.body;
  EXPECT_EQ(body_of(call("GET", "/v1/models/weatherReports/w1")).at("data").at("forecast"), "sunny");

  auto deleted = call("DELETE", "/v1/models/weatherReports/w1", "{}");
  ASSERT_EQ(deleted.status, 200) << deleted.body;
  auto gone = call("GET", "/v1/models/weatherReports/w1");
  EXPECT_EQ(gone.status, 404);
  EXPECT_EQ(body_of(gone).at("code"), "model_not_found");
  EXPECT_EQ(call("PATCH", "/v1/models/weatherReports/w1", R"({"data":{"forecast":"x"}})").status, 404);
}

TEST_F(RestTest, ListPagesThroughAThousandRowsWithoutGapsOrRepeats) {
  for (int batch = 0; batch < 2; ++batch) {
    json::array ops;
    for (int i = 0; i < 500; ++i) {
      const int n = batch * 500 + i;
      char id[16];
      std::snprintf(id, sizeof id, "row-%04d", n);
      ops.push_back(json::object{{"action", "create"}, {"model", "weatherReports"}, {"id", id},
                                 {"data", {{"location", "L" + std::to_string(n % 7)}, {"status", n % 2 ? "ready" : "pending"}}}});
    }
    ASSERT_EQ(call("POST", "/v1/commits", json::serialize(json::object{{"operations", ops}})).status, 200);
  }
  for (const std::string order : {"", "&order_by=location&order=desc"}) {
    std::set<std::string> seen;
    std::string cursor;
    int pages = 0;
    while (true) {
      auto page = call("GET", "/v1/models/weatherReports?limit=100" + order + (cursor.empty() ? "" : "&starting_after=" + cursor));
      ASSERT_EQ(page.status, 200) << page.body;
      auto body = body_of(page);
      for (const auto& row : body.at("data").as_array()) {
        EXPECT_TRUE(seen.insert(std::string(row.at("id").as_string())).second) << "repeated " << row.at("id");
      }
      ++pages;
      if (!body.at("has_more").as_bool()) {
        EXPECT_TRUE(body.at("next_cursor").is_null());
        break;
      }
      cursor = std::string(body.at("next_cursor").as_string());
      ASSERT_LT(pages, 20);
    }
    EXPECT_EQ(seen.size(), 1000u) << "order" << order;
  }
  auto filtered = body_of(call("GET", "/v1/models/weatherReports?status=ready&limit=100&location=L3"));
  for (const auto& row : filtered.at("data").as_array()) {
    EXPECT_EQ(row.at("status"), "ready");
    EXPECT_EQ(row.at("location"), "L3");
  }
  EXPECT_FALSE(filtered.at("data").as_array().empty());
  auto either = body_of(call("GET", "/v1/models/weatherReports?location=L1&location=L2&limit=100"));
  std::set<std::string> locations;
  for (const auto& row : either.at("data").as_array()) locations.insert(std::string(row.at("location").as_string()));
  EXPECT_EQ(locations, (std::set<std::string>{"L1", "L2"})) << "a repeated filter matches any of its values";
  EXPECT_EQ(body_of(call("GET", "/v1/models/weatherReports?limit=500")).at("data").as_array().size(), 100u)
      << "limit is clamped to 100";
  ASSERT_EQ(call("POST", "/v1/commits", report_op("archive", "row-0001")).status, 200);
  auto live = body_of(call("GET", "/v1/models/weatherReports?limit=3"));
  EXPECT_EQ(live.at("data").as_array()[1].at("id"), "row-0002") << "archived rows are left out by default";
  auto archived = body_of(call("GET", "/v1/models/weatherReports?archived=true"));
  ASSERT_EQ(archived.at("data").as_array().size(), 1u);
  EXPECT_EQ(archived.at("data").as_array()[0].at("id"), "row-0001");
  EXPECT_EQ(body_of(call("GET", "/v1/models/weatherReports?archived=all&limit=3")).at("data").as_array()[1].at("id"),
            "row-0001");
  EXPECT_EQ(call("GET", "/v1/models/weatherReports?archived=maybe").status, 400);
}

TEST_F(RestTest, BadInputGetsTheRightCodeAndNamesTheField) {
  auto not_json = call("POST", "/api/v1/commits", "{not json");
  EXPECT_EQ(not_json.status, 400);
  EXPECT_EQ(body_of(not_json).at("code"), "invalid_json");
  EXPECT_EQ(body_of(call("POST", "/v1/commits", R"({"operations":[]})")).at("code"), "commit_operation_required");
  EXPECT_EQ(body_of(call("POST", "/v1/commits", R"({"operation":{},"operations":[]})")).at("code"),
            "commit_operations_ambiguous");
  auto unknown_model = call("GET", "/v1/models/nope");
  EXPECT_EQ(unknown_model.status, 404);
  EXPECT_EQ(body_of(unknown_model).at("code"), "model_not_found");
  auto unknown_filter = call("GET", "/v1/models/weatherReports?colour=red");
  EXPECT_EQ(unknown_filter.status, 400);
  EXPECT_EQ(body_of(unknown_filter).at("code"), "query_invalid_identifier");
  EXPECT_EQ(body_of(unknown_filter).at("param"), "colour");
  EXPECT_EQ(body_of(call("GET", "/v1/models/weatherReports?limit=0")).at("param"), "limit");
  auto bad_cursor = call("GET", "/v1/models/weatherReports?starting_after=zz");
  EXPECT_EQ(bad_cursor.status, 400);
  EXPECT_EQ(body_of(bad_cursor).at("param"), "starting_after");
  auto wrong_type = call("POST", "/v1/models/weatherReports", R"({"id":"b1","data":{"location":5,"status":"ready"}})");
  EXPECT_EQ(wrong_type.status, 400) << wrong_type.body;
  EXPECT_NE(json::serialize(body_of(wrong_type).at("param")).find("location"), std::string::npos);
  EXPECT_EQ(call("GET", "/v1/models/weatherReports/b1").status, 404) << "nothing applied";
  auto form = client::http_request("127.0.0.1", server.port(), "POST", "/v1/commits", "operations=1",
                                   {{"Authorization", "Bearer " + server.api_key()},
                                    {"Content-Type", "application/x-www-form-urlencoded"}});
  EXPECT_EQ(form.value().status, 400);
  EXPECT_EQ(body_of(form.value()).at("param"), "Content-Type");
}

TEST_F(RestTest, WritesToARowClaimedBySomeoneElseAreRefused) {
  ASSERT_EQ(call("POST", "/v1/commits", report_op("create", "t22", report("Oslo"))).status, 200);
  auto holder = Client::connect(server);
  holder.ws->send_text(json::serialize(json::object{
      {"type", "intent_begin"},
      {"payload", {{"intentId", "u1"}, {"entityType", "weatherReports"}, {"entityId", "t22"}, {"action", "editing"}, {"queue", true}}}}));
  ASSERT_TRUE(holder.await([](const json::object& f) { return f.at("type") == "intent_acquired"; }));
  auto refused = call("PATCH", "/api/v1/models/weatherReports/t22", R"({"data":{"forecast":"mine"}})");
  EXPECT_EQ(refused.status, 409);
  EXPECT_EQ(body_of(refused).at("code"), "entity_claimed");
  EXPECT_EQ(body_of(refused).at("type"), "AbloClaimedError");
  EXPECT_EQ(body_of(refused).at("heldByIntentId"), "u1");
  auto read = body_of(call("GET", "/v1/models/weatherReports/t22"));
  ASSERT_EQ(read.at("claims").as_array().size(), 1u) << "reads are not gated, claims ride along";
  EXPECT_EQ(read.at("claims").as_array()[0].at("id"), "u1");
}

TEST_F(RestTest, CapabilitiesAreMintedScopedInspectedAndRevokedEverywhere) {
  auto minted = call("POST", "/v1/capabilities",
                     R"({"participantKind":"agent","participantId":"agent-7","syncGroups":["default"],)"
                     R"("operations":["weatherReports.read","weatherReports.update"],"ttlSeconds":600,"label":"run-1"})");
  ASSERT_EQ(minted.status, 200) << minted.body;
  auto capability = body_of(minted);
  const std::string token(capability.at("token").as_string());
  const std::string id(capability.at("id").as_string());
  EXPECT_EQ(token.rfind("rk_test_", 0), 0u);
  EXPECT_EQ(capability.at("object"), "capability");
  EXPECT_EQ(capability.at("status"), "active");
  EXPECT_EQ(capability.at("allowedOperations"), capability.at("operations"));
  EXPECT_FALSE(capability.at("syncGroups").as_array().empty()) << "['default'] inherits the key's scope";

  auto inspected = call("GET", "/api/v1/capabilities/" + id);
  ASSERT_EQ(inspected.status, 200);
  EXPECT_FALSE(body_of(inspected).contains("token")) << "a token is shown once";
  EXPECT_EQ(body_of(inspected).at("label"), "run-1");

  auto as_agent = [&](const std::string& method, const std::string& target, const std::string& body = {}) {
    return client::http_request("127.0.0.1", server.port(), method, target, body,
                                {{"Authorization", "Bearer " + token}, {"Content-Type", "application/json"}})
        .value();
  };
  EXPECT_EQ(as_agent("GET", "/v1/models/weatherReports").status, 200);
  auto create = as_agent("POST", "/v1/models/weatherReports", R"({"id":"a1","data":{"location":"Oslo","status":"ready"}})");
  EXPECT_EQ(create.status, 403) << "the capability may read and update, not create";
  EXPECT_EQ(body_of(create).at("code"), "capability_scope_denied");
  EXPECT_EQ(body_of(create).at("requiredCapability").at("scope"), "weatherReports.create");
  ASSERT_EQ(call("POST", "/v1/models/weatherReports", R"({"id":"a1","data":{"location":"Oslo","status":"ready"}})").status, 200);
  auto update = as_agent("PATCH", "/v1/models/weatherReports/a1", R"({"data":{"forecast":"rain"}})");
  EXPECT_EQ(update.status, 200) << update.body;
  EXPECT_EQ(as_agent("POST", "/v1/capabilities", R"({"participantKind":"agent","ttlSeconds":60,"wideScope":true})").status,
            403) << "agents cannot self-mint";

  auto socket = server.connect_ws(token, {});
  auto revoked = call("DELETE", "/v1/capabilities/" + id);
  ASSERT_EQ(revoked.status, 200) << revoked.body;
  EXPECT_EQ(body_of(revoked).at("deleted"), true);
  EXPECT_EQ(body_of(revoked).at("activeSessionsClosed"), 1);
  EXPECT_EQ(body_of(revoked).at("status"), "revoked");
  const auto revoked_at = body_of(revoked).at("revokedAt");
  ASSERT_TRUE(revoked_at.is_string()) << revoked.body;
  auto inspected_after = call("GET", "/v1/capabilities/" + id);
  EXPECT_EQ(body_of(inspected_after).at("status"), "revoked");
  EXPECT_EQ(body_of(inspected_after).at("revokedAt"), revoked_at) << "the revocation time is kept";
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  while (!socket->closed() && std::chrono::steady_clock::now() < deadline) socket->receive(std::chrono::milliseconds(50));
  EXPECT_TRUE(socket->closed());
  EXPECT_EQ(socket->close_code(), 4003);
  auto refused = as_agent("GET", "/v1/models/weatherReports");
  EXPECT_EQ(refused.status, 403);
  EXPECT_EQ(body_of(refused).at("code"), "capability_invalid");
  auto upgrade = client::WsConnection::connect("127.0.0.1", server.port(), "/api/sync/ws",
                                               {"ablo.bearer." + token, "ablo.sync.v1"});
  EXPECT_FALSE(upgrade) << "a new socket with a revoked token is refused";
  auto again = call("DELETE", "/v1/capabilities/" + id);
  EXPECT_EQ(again.status, 200) << "revoking twice is fine";
  EXPECT_EQ(body_of(again).at("revokedAt"), revoked_at) << "a second revocation does not move the time";
}

// GET /v1/capabilities: a secret key lists its tenant's capabilities, a capability only the
// ones it exchanged itself for, another tenant none of them; pages follow each other without
// gaps or repeats, newest first.
TEST_F(RestTest, CapabilitiesListThoseTheCallerMayInspectPagedNewestFirst) {
  auto with_token = [&](const std::string& token, const std::string& method, const std::string& target,
                        const std::string& body = {}) {
    return client::http_request("127.0.0.1", server.port(), method, target, body,
                                {{"Authorization", "Bearer " + token}, {"Content-Type", "application/json"}})
        .value();
  };
  std::set<std::string> minted_by_key;
  std::string parent_token, parent_id, revoked_id;
  for (int i = 0; i < 5; ++i) {
    auto minted = call("POST", "/v1/capabilities",
                       R"({"participantKind":"agent","participantId":"agent-)" + std::to_string(i) +
                           R"(","wideScope":true,"ttlSeconds":600})");
    ASSERT_EQ(minted.status, 200) << minted.body;
    const std::string id(body_of(minted).at("id").as_string());
    minted_by_key.insert(id);
    if (i == 0) parent_token = std::string(body_of(minted).at("token").as_string()), parent_id = id;
    if (i == 1) revoked_id = id;
  }
  std::set<std::string> children;
  for (int i = 0; i < 2; ++i) {
    auto exchanged = with_token(parent_token, "POST", "/api/auth/capability", R"({"participantKind":"agent"})");
    ASSERT_EQ(exchanged.status, 200) << exchanged.body;
    children.insert(std::string(body_of(exchanged).at("capabilityId").as_string()));
  }
  ASSERT_EQ(children.size(), 2u);
  ASSERT_EQ(call("DELETE", "/v1/capabilities/" + revoked_id).status, 200);

  // Every page of `target` (limit appended by the caller) as `token`: the ids in order, checking
  // each page's shape and order on the way.
  auto all_pages = [&](const std::string& token, const std::string& target) {
    std::vector<std::string> ids;
    std::string after;
    for (int pages = 0; pages < 20; ++pages) {
      auto response = with_token(token, "GET", target + (after.empty() ? "" : "&starting_after=" + after));
      EXPECT_EQ(response.status, 200) << response.body;
      if (response.status != 200) break;
      auto page = body_of(response);
      EXPECT_EQ(page.at("object"), "list");
      std::string previous_issued;
      for (const auto& item : page.at("data").as_array()) {
        const auto& capability = item.as_object();
        EXPECT_EQ(capability.at("object"), "capability");
        EXPECT_FALSE(capability.contains("token")) << "a listing never shows a token";
        const std::string issued(capability.at("issuedAt").as_string());
        if (!previous_issued.empty()) {
          EXPECT_LE(issued, previous_issued) << "newest first";
        }
        previous_issued = issued;
        ids.emplace_back(capability.at("id").as_string());
      }
      if (!page.at("has_more").as_bool() || ids.empty()) break;
      after = ids.back();
    }
    return ids;
  };

  // The secret key: all seven, two to a page, none twice; the first is the newest.
  const auto everything = all_pages(server.api_key(), "/v1/capabilities?limit=2");
  std::set<std::string> expected = minted_by_key;
  expected.insert(children.begin(), children.end());
  EXPECT_EQ(everything.size(), expected.size()) << "no repeats across pages";
  EXPECT_EQ(std::set<std::string>(everything.begin(), everything.end()), expected) << "no gaps across pages";
  const auto one_page = body_of(call("GET", "/v1/capabilities"));
  EXPECT_EQ(one_page.at("data").as_array().size(), expected.size());
  EXPECT_EQ(one_page.at("has_more"), false);
  EXPECT_EQ(body_of(call("GET", "/v1/capabilities/" + everything.front())), one_page.at("data").as_array()[0])
      << "each entry is what GET /v1/capabilities/{id} answers";

  // status filters.
  const auto revoked = all_pages(server.api_key(), "/v1/capabilities?status=revoked&limit=100");
  EXPECT_EQ(revoked, std::vector<std::string>{revoked_id});
  const auto active = all_pages(server.api_key(), "/v1/capabilities?status=active&limit=3");
  EXPECT_EQ(active.size(), expected.size() - 1);
  EXPECT_EQ(std::count(active.begin(), active.end(), revoked_id), 0);

  // A capability: only its own children, one to a page; a child has none; another
  // capability's cursor is refused.
  const auto own = all_pages(parent_token, "/v1/capabilities?limit=1");
  EXPECT_EQ(std::set<std::string>(own.begin(), own.end()), children);
  EXPECT_EQ(own.size(), 2u);
  auto outside_cursor = with_token(parent_token, "GET", "/v1/capabilities?starting_after=" + revoked_id);
  EXPECT_EQ(outside_cursor.status, 400) << outside_cursor.body;
  EXPECT_EQ(body_of(outside_cursor).at("param"), "starting_after");
  EXPECT_EQ(call("GET", "/v1/capabilities?starting_after=cap_nope").status, 400);

  // Bad input.
  for (const std::string query : {"limit=0", "limit=-1", "limit=ten", "status=expired"}) {
    auto bad = call("GET", "/v1/capabilities?" + query);
    EXPECT_EQ(bad.status, 400) << query << ": " << bad.body;
    EXPECT_EQ(body_of(bad).at("code"), "invalid_request") << query;
  }
  EXPECT_EQ(call("GET", "/v1/capabilities?limit=1000").status, 200) << "a large limit is capped at 100";

  // Another tenant (the organization's live environment) sees none of them.
  const std::string live_key = server.create_live_key();
  auto live = with_token(live_key, "GET", "/v1/capabilities");
  ASSERT_EQ(live.status, 200) << live.body;
  EXPECT_TRUE(body_of(live).at("data").as_array().empty()) << live.body;
  EXPECT_EQ(with_token(live_key, "GET", "/v1/capabilities?starting_after=" + parent_id).status, 400)
      << "another tenant's id is no cursor";
}

TEST_F(RestTest, CapabilityMintingRejectsBadRequests) {
  auto user = call("POST", "/v1/capabilities", R"({"participantKind":"user","ttlSeconds":60,"wideScope":true})");
  EXPECT_EQ(body_of(user).at("code"), "invalid_participant_kind");
  auto narrow = call("POST", "/v1/capabilities", R"({"participantKind":"agent","ttlSeconds":60})");
  EXPECT_EQ(narrow.status, 400);
  EXPECT_EQ(body_of(narrow).at("code"), "narrow_scope_required");
  auto no_ttl = call("POST", "/v1/capabilities", R"({"participantKind":"agent","wideScope":true})");
  EXPECT_EQ(body_of(no_ttl).at("param"), "ttlSeconds");
  auto unknown = call("GET", "/v1/capabilities/cap_nope");
  EXPECT_EQ(unknown.status, 404);
  EXPECT_EQ(body_of(unknown).at("code"), "capability_not_found");
}

// The quickstart schema with `forecast` made required and/or an extra optional `humidity`.
std::string weather_schema(bool forecast_required, bool with_humidity) {
  std::string fields = R"("location":{"type":"string","isOptional":false,"isIndexed":false},)"
                       R"("status":{"type":"enum","enumValues":["pending","ready"],"isOptional":false,"isIndexed":false},)";
  fields += std::string(R"("forecast":{"type":"string","isOptional":)") + (forecast_required ? "false" : "true") +
            R"(,"isIndexed":false})";
  if (with_humidity) fields += R"(,"humidity":{"type":"number","isOptional":true,"isIndexed":false})";
  return R"({"v":3,"models":{"weatherReports":{"fields":{)" + fields +
         R"(},"relations":{},"load":"instant","typename":"weatherReports",)"
         R"("tenancy":{"kind":"column","column":"organization_id"},"plane":"tenant"}},"identityRoles":[]})";
}

TEST_F(RestTest, SchemaPushAppliesSafeChangesAndRefusesUnsafeOnesUntilResolved) {
  ASSERT_EQ(call("POST", "/v1/commits", report_op("create", "m1", report("Oslo"))).status, 200);
  auto version_now = [&] { return body_of(call("GET", "/api/schema")).at("version").as_int64(); };
  const int64_t first = version_now();

  auto added = call("POST", "/api/schema", R"({"schema":)" + weather_schema(false, true) + "}");
  ASSERT_EQ(added.status, 200) << added.body;
  EXPECT_EQ(version_now(), first + 1);
  EXPECT_EQ(body_of(added).at("migration").at("steps").as_array()[0].at("kind"), "add_field");
  ASSERT_EQ(call("PATCH", "/v1/models/weatherReports/m1", R"({"data":{"humidity":71}})").status, 200);

  auto blocked = call("POST", "/api/schema", R"({"schema":)" + weather_schema(true, true) + "}");
  EXPECT_EQ(blocked.status, 409) << blocked.body;
  EXPECT_EQ(body_of(blocked).at("code"), "incompatible_change");
  EXPECT_EQ(body_of(blocked).at("blockers").as_array()[0].at("code"), "made_required");
  EXPECT_EQ(body_of(blocked).at("blockers").as_array()[0].at("field"), "forecast");
  EXPECT_EQ(version_now(), first + 1) << "nothing activated";
  EXPECT_TRUE(body_of(call("GET", "/v1/models/weatherReports/m1")).at("data").at("forecast").is_null());

  auto backfilled = call("POST", "/api/schema",
                         R"({"schema":)" + weather_schema(true, true) +
                             R"(,"backfills":[{"model":"weatherReports","field":"forecast","value":"unknown"}]})");
  ASSERT_EQ(backfilled.status, 200) << backfilled.body;
  EXPECT_EQ(version_now(), first + 2);
  auto row = body_of(call("GET", "/v1/models/weatherReports/m1")).at("data").as_object();
  EXPECT_EQ(row.at("forecast"), "unknown") << "existing rows got the backfill";
  EXPECT_EQ(row.at("humidity"), 71);

  auto drop = call("POST", "/api/schema", R"({"schema":)" + weather_schema(true, false) + "}");
  EXPECT_EQ(drop.status, 409);
  EXPECT_EQ(body_of(drop).at("warnings").as_array()[0].at("code"), "drop_field");
  auto forced = call("POST", "/api/schema", R"({"force":true,"schema":)" + weather_schema(true, false) + "}");
  ASSERT_EQ(forced.status, 200) << forced.body;
  row = body_of(call("GET", "/v1/models/weatherReports/m1")).at("data").as_object();
  EXPECT_FALSE(row.contains("humidity"));
  EXPECT_EQ(row.at("location"), "Oslo") << "the rest of the row survives the drop";
}

// GET /v1/schema/versions: the history newest first, each version with its change from the one
// before, paged by limit.
TEST_F(RestTest, SchemaVersionsListEachPushWithItsChange) {
  auto added = call("POST", "/api/schema", R"({"schema":)" + weather_schema(false, true) + "}");
  ASSERT_EQ(added.status, 200) << added.body;
  const int64_t newest = body_of(added).at("version").as_int64();

  auto listed = call("GET", "/v1/schema/versions");
  ASSERT_EQ(listed.status, 200) << listed.body;
  const auto versions = body_of(listed).at("data").as_array();
  ASSERT_EQ(versions.size(), 2u) << listed.body;
  EXPECT_FALSE(body_of(listed).at("has_more").as_bool());
  EXPECT_EQ(versions[0].at("version"), newest);
  EXPECT_EQ(versions[1].at("version"), newest - 1);
  EXPECT_TRUE(versions[0].at("pushedAt").is_string());
  const auto steps = versions[0].at("changes").at("steps").as_array();
  ASSERT_EQ(steps.size(), 1u) << listed.body;
  EXPECT_EQ(steps[0].at("kind"), "add_field");
  EXPECT_EQ(steps[0].at("field"), "humidity");
  EXPECT_GE(versions[1].at("changes").at("steps").as_array().size(), 1u) << "the first version adds its models";

  auto first_page = call("GET", "/v1/schema/versions?limit=1");
  ASSERT_EQ(first_page.status, 200);
  EXPECT_EQ(body_of(first_page).at("data").as_array().size(), 1u);
  EXPECT_TRUE(body_of(first_page).at("has_more").as_bool());
  EXPECT_EQ(body_of(first_page).at("data").at(0).at("changes"), versions[0].at("changes"))
      << "the oldest shown is still diffed against its predecessor";

  auto bad = call("GET", "/v1/schema/versions?limit=0");
  EXPECT_EQ(bad.status, 400);
  EXPECT_EQ(body_of(bad).at("param"), "limit");
  auto anonymous = client::http_request("127.0.0.1", server.port(), "GET", "/v1/schema/versions", {}, {});
  ASSERT_TRUE(anonymous);
  EXPECT_EQ(anonymous->status, 401);
}

TEST_F(RestTest, AgentTasksAttributeCommitsAndMeterUsage) {
  auto minted = body_of(call("POST", "/v1/capabilities",
                             R"({"participantKind":"agent","participantId":"agent-1","wideScope":true,"ttlSeconds":600})"));
  const std::string token(minted.at("token").as_string());
  auto as_agent = [&](const std::string& method, const std::string& target, const std::string& body) {
    return client::http_request("127.0.0.1", server.port(), method, target, body,
                                {{"Authorization", "Bearer " + token}, {"Content-Type", "application/json"}})
        .value();
  };
  auto opened = as_agent("POST", "/v1/tasks", R"({"prompt":"forecast Oslo","surface":"agent"})");
  ASSERT_EQ(opened.status, 200) << opened.body;
  auto task = body_of(opened);
  const std::string task_id(task.at("id").as_string());
  EXPECT_EQ(task.at("status"), "open");
  EXPECT_EQ(task.at("surface"), "other") << "unknown surfaces are stored as other";
  EXPECT_EQ(task.at("promptHash").as_string().rfind("sha256:", 0), 0u);

  auto subscriber = Client::connect(server);
  auto committed = as_agent("POST", "/v1/commits", report_op("create", "k1", report("Oslo")));
  ASSERT_EQ(committed.status, 200) << committed.body;
  const int64_t id = body_of(committed).at("lastSyncId").as_int64();
  auto delta = subscriber.await([&](const json::object& f) { return is_delta_with_id(f, id); });
  ASSERT_TRUE(delta);
  EXPECT_EQ(delta_with_id(*delta, id).at("causedByTaskId"), task_id.c_str())
      << "the capability's single open task is inferred";

  auto foreign = call("POST", "/v1/commits",
                      json::serialize(json::object{{"causedByTaskId", "task_nope"},
                                                   {"operations", json::parse(report_op("create", "k2", report("Rome"))).at("operations")}}));
  EXPECT_EQ(foreign.status, 404);
  EXPECT_EQ(body_of(foreign).at("code"), "turn_not_found");

  EXPECT_EQ(as_agent("POST", "/v1/tasks/" + task_id + "/close", R"({"costInputTokens":-1})").status, 400);
  auto closed = as_agent("POST", "/v1/tasks/" + task_id + "/close",
                         R"({"costInputTokens":120,"costOutputTokens":30,"costComputeMs":900})");
  ASSERT_EQ(closed.status, 200) << closed.body;
  EXPECT_EQ(body_of(closed).at("alreadyClosed"), false);
  EXPECT_EQ(body_of(as_agent("POST", "/v1/tasks/" + task_id + "/close", "{}")).at("alreadyClosed"), true);
  EXPECT_EQ(body_of(as_agent("POST", "/v1/tasks/task_nope/close", "{}")).at("code"), "turn_not_found");

  auto user = body_of(call("POST", "/api/auth/capability", R"({"participantKind":"user","participantId":"u1"})"));
  auto as_user = client::http_request("127.0.0.1", server.port(), "POST", "/v1/tasks", R"({"prompt":"x"})",
                                      {{"Authorization", "Bearer " + std::string(user.at("token").as_string())}});
  EXPECT_EQ(as_user.value().status, 403) << "a user session cannot open a task";

  // Deliveries are metered in memory and written with a commit group at most once a second.
  std::this_thread::sleep_for(std::chrono::milliseconds(1'100));
  ASSERT_EQ(call("POST", "/v1/commits", report_op("create", "k3", report("Bergen"))).status, 200);
  const std::string today = iso8601_from_ms(now_ms()).substr(0, 10);
  auto usage = call("GET", "/v1/usage?starting_at=" + today + "T00:00:00Z&ending_at=" +
                               iso8601_from_ms(now_ms() + 86'400'000).substr(0, 10) + "T00:00:00Z");
  ASSERT_EQ(usage.status, 200) << usage.body;
  std::map<std::string, double> totals;
  const auto usage_body = body_of(usage);
  for (const auto& row : usage_body.at("data").as_array()) {
    EXPECT_EQ(row.at("day"), today.c_str());
    totals[std::string(row.at("event_name").as_string())] += std::stod(std::string(row.at("total").as_string()));
  }
  EXPECT_EQ(totals["commit_ops"], 2) << "two applied single-op commits (agent's and key's); the refused one is not";
  EXPECT_EQ(totals["task_input_tokens"], 120);
  EXPECT_GE(totals["deltas_delivered"], 1) << "the subscriber's delivery of k1";
  EXPECT_GE(totals["ws_connections"], 1);
  EXPECT_EQ(body_of(call("GET", "/v1/usage?starting_at=" + today + "T00:00:00Z")).at("code"), "usage_invalid");
  EXPECT_EQ(call("GET", "/v1/usage?starting_at=2026-01-01T00:00:00Z&ending_at=2026-01-02T00:00:00Z&bucket_width=1h").status, 400);
}

// Every "$ref" in `value` points at an existing component.
void expect_refs_resolve(const json::value& value, const json::object& schemas) {
  if (value.is_object()) {
    for (const auto& [key, member] : value.as_object()) {
      if (key == "$ref") {
        const std::string target(member.as_string());
        const std::string prefix = "#/components/schemas/";
        ASSERT_EQ(target.rfind(prefix, 0), 0u) << target;
        EXPECT_TRUE(schemas.contains(target.substr(prefix.size()))) << target;
      } else {
        expect_refs_resolve(member, schemas);
      }
    }
  } else if (value.is_array()) {
    for (const auto& item : value.as_array()) expect_refs_resolve(item, schemas);
  }
}

TEST_F(RestTest, OpenApiIsGeneratedFromTheLiveSchema) {
  auto response = call("GET", "/v1/openapi.json");
  ASSERT_EQ(response.status, 200) << response.body;
  auto doc = body_of(response);
  EXPECT_EQ(doc.at("openapi"), "3.1.0");
  const auto& schemas = doc.at("components").at("schemas").as_object();
  const auto& model = schemas.at("WeatherReports").as_object();
  EXPECT_EQ(model.at("required"), json::parse(R"(["id","location","status"])"));
  EXPECT_EQ(model.at("properties").at("status").at("enum"), json::parse(R"(["pending","ready"])"));
  const auto& paths = doc.at("paths").as_object();
  for (const char* path : {"/v1/models/weatherReports", "/v1/models/weatherReports/{id}",
                           "/v1/models/weatherReports/{id}/claim", "/v1/models/weatherReports/{id}/claim/reorder",
                           "/v1/commits"}) {
    EXPECT_TRUE(paths.contains(path)) << path;
  }
  expect_refs_resolve(doc, schemas);
  // A pushed field shows up at once.
  ASSERT_EQ(call("POST", "/api/schema", R"({"schema":)" + weather_schema(false, true) + "}").status, 200);
  auto after = body_of(call("GET", "/api/v1/openapi.json"));
  EXPECT_TRUE(after.at("components").at("schemas").at("WeatherReports").at("properties").as_object().contains("humidity"));
}

}  // namespace
}  // namespace ablo::testing
