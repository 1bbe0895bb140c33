// The MCP server at /mcp (issue 14) against the real `ablo serve`, on SQLite and PostgreSQL
// (the suite's two passes): sessions, tools generated from the live schema, the stale and claim
// guards, FIFO claim lines with progress, change waits, resource subscriptions, schema pushes,
// presence, credentials revoked mid-session, and every kind of bad input the issue lists.
#include <future>
#include <set>
#include <thread>

#include <boost/json.hpp>
#include <gtest/gtest.h>

#include "client/transport.h"
#include "integration/mcp_client.h"
#include "integration/quickstart_schema.h"
#include "integration/server_fixture.h"
#include "integration/sync_client.h"

namespace ablo::testing {
namespace {

namespace json = boost::json;
using namespace std::chrono_literals;

constexpr const char* kModel = "weatherReports";

class McpTest : public ::testing::Test {
 protected:
  ServerProcess server{kQuickstartSchema};

  McpClient session(const std::string& name = "agent", std::string key = {}) {
    McpClient client(server.port(), key.empty() ? server.api_key() : key, name);
    auto reply = client.initialize();
    EXPECT_EQ(reply.status, 200) << reply.body;
    return client;
  }

  client::HttpResponse rest(const std::string& method, const std::string& target, const std::string& body = {},
                            const std::string& key = {}) {
    auto response = client::http_request("127.0.0.1", server.port(), method, target, body,
                                         {{"Authorization", "Bearer " + (key.empty() ? server.api_key() : key)},
                                          {"Content-Type", "application/json"},
                                          {"Ablo-Protocol-Version", "1"}});
    EXPECT_TRUE(response) << (response ? "" : response.error().message);
    return response ? *response : client::HttpResponse{};
  }

  void create(McpClient& agent, const std::string& id, const std::string& location = "Oslo") {
    auto reply = agent.call("create_model", {{"model", kModel},
                                             {"id", id},
                                             {"data", json::object{{"location", location}, {"status", "pending"}}}});
    ASSERT_FALSE(tool_failed(reply)) << reply.body;
  }

  // A write by another participant (the secret key itself, over REST).
  void write_elsewhere(const std::string& id, const std::string& location) {
    auto response = rest("PATCH", std::string("/v1/models/") + kModel + "/" + id,
                         json::serialize(json::object{{"data", json::object{{"location", location}}}}));
    ASSERT_EQ(response.status, 200) << response.body;
  }

  static std::string error_code(const McpReply& reply) {
    const auto output = tool_output(reply);
    const auto* error = output.if_contains("error");
    return error ? std::string(error->at("code").as_string()) : std::string();
  }
  static int rpc_error(const McpReply& reply) {
    const auto response = reply.response();
    const auto* error = response.if_contains("error");
    return error ? static_cast<int>(error->at("code").as_int64()) : 0;
  }
  static std::set<std::string> tool_names(const McpReply& reply) {
    std::set<std::string> names;
    const auto response = reply.response();
    for (const auto& tool : response.at("result").at("tools").as_array()) {
      names.insert(std::string(tool.at("name").as_string()));
    }
    return names;
  }
  static json::object tool_schema(const McpReply& reply, const std::string& name) {
    const auto response = reply.response();
    for (const auto& tool : response.at("result").at("tools").as_array()) {
      if (tool.at("name") == name.c_str()) return tool.at("inputSchema").as_object();
    }
    return {};
  }
};

TEST_F(McpTest, InitializeNegotiatesAVersionAndListsToolsGeneratedFromTheSchema) {
  auto agent = session();
  EXPECT_EQ(agent.negotiated(), "2025-06-18");
  EXPECT_FALSE(agent.session().empty());
  EXPECT_EQ(agent.participant().rfind("mcp_agent_", 0), 0u) << agent.participant();

  auto tools = agent.request("tools/list");
  ASSERT_EQ(tools.status, 200) << tools.body;
  const std::set<std::string> expected{"get_schema", "list_records", "get_model", "create_model", "update_model",
                                       "delete_model", "claim_model", "release_claim", "list_claims",
                                       "wait_for_change", "tail_logs", "get_usage"};
  EXPECT_EQ(tool_names(tools), expected);
  // The per-model data schema: field types, enum values, required fields.
  const auto create = tool_schema(tools, "create_model");
  EXPECT_EQ(create.at("properties").at("model").at("enum"), (json::array{kModel}));
  const auto& data = create.at("allOf").as_array()[0].at("then").at("properties").at("data").as_object();
  EXPECT_EQ(data.at("properties").at("status").at("enum"), (json::array{"pending", "ready"}));
  EXPECT_EQ(data.at("required"), (json::array{"location", "status"}));
  EXPECT_EQ(data.at("additionalProperties"), false);

  McpClient older(server.port(), server.api_key(), "older", "2025-03-26");
  ASSERT_EQ(older.initialize().status, 200);
  EXPECT_EQ(older.negotiated(), "2025-03-26");
  McpClient future(server.port(), server.api_key(), "future", "2099-01-01");
  ASSERT_EQ(future.initialize().status, 200);
  EXPECT_EQ(future.negotiated(), "2025-06-18") << "an unknown version gets the latest one";
}

TEST_F(McpTest, ReadsAndWritesGoThroughTheStaleGuardByDefault) {
  auto agent = session();
  create(agent, "r1");
  auto read = agent.call("get_model", {{"model", kModel}, {"id", "r1"}});
  ASSERT_FALSE(tool_failed(read)) << read.body;
  EXPECT_EQ(tool_output(read).at("data").at("location"), "Oslo");
  EXPECT_TRUE(tool_output(read).at("stamp").is_int64());

  // Someone else changes the row after the agent read it: the agent's write (readAt defaults
  // to the stamp it read) is refused as stale, with what to do next.
  write_elsewhere("r1", "Bergen");
  auto stale = agent.call("update_model", {{"model", kModel}, {"id", "r1"}, {"data", json::object{{"forecast", "rain"}}}});
  ASSERT_TRUE(tool_failed(stale)) << stale.body;
  EXPECT_EQ(error_code(stale), "stale_context");
  EXPECT_NE(tool_output(stale).at("error").at("hint").as_string().find("get_model"), json::string::npos);
  EXPECT_EQ(json::parse(rest("GET", std::string("/v1/models/") + kModel + "/r1").body).at("data").at("forecast"),
            nullptr) << "nothing applied";

  // Re-read, then the write passes; overwrite applies over a newer foreign write.
  ASSERT_FALSE(tool_failed(agent.call("get_model", {{"model", kModel}, {"id", "r1"}})));
  auto ok = agent.call("update_model", {{"model", kModel}, {"id", "r1"}, {"data", json::object{{"forecast", "rain"}}}});
  ASSERT_FALSE(tool_failed(ok)) << ok.body;
  write_elsewhere("r1", "Tromsø");
  auto forced = agent.call("update_model", {{"model", kModel}, {"id", "r1"}, {"onStale", "overwrite"},
                                            {"data", json::object{{"forecast", "snow"}}}});
  ASSERT_FALSE(tool_failed(forced)) << forced.body;

  auto listed = agent.call("list_records", {{"model", kModel}, {"where", json::object{{"forecast", "snow"}}}});
  ASSERT_FALSE(tool_failed(listed)) << listed.body;
  ASSERT_EQ(tool_output(listed).at("data").as_array().size(), 1u);
  EXPECT_EQ(tool_output(listed).at("data").as_array()[0].at("location"), "Tromsø");

  auto removed = agent.call("delete_model", {{"model", kModel}, {"id", "r1"}, {"idempotencyKey", "delete-r1"}});
  ASSERT_FALSE(tool_failed(removed)) << removed.body;
  EXPECT_EQ(tool_output(agent.call("get_model", {{"model", kModel}, {"id", "r1"}})).at("data"), nullptr);
}

TEST_F(McpTest, IdempotencyKeyAppliesACreateOnce) {
  auto agent = session();
  json::object args{{"model", kModel}, {"data", json::object{{"location", "Oslo"}, {"status", "pending"}}},
                    {"id", "once"}, {"idempotencyKey", "order-42-created"}};
  auto first = agent.call("create_model", args);
  auto again = agent.call("create_model", args);
  ASSERT_FALSE(tool_failed(first)) << first.body;
  ASSERT_FALSE(tool_failed(again)) << again.body;
  EXPECT_EQ(tool_output(first).at("lastSyncId"), tool_output(again).at("lastSyncId")) << "replayed, not re-applied";
  args["data"].as_object()["location"] = "Paris";
  auto other = agent.call("create_model", args);
  EXPECT_EQ(error_code(other), "idempotency_conflict") << other.body;
}

TEST_F(McpTest, TwoAgentsContendingForOneRowAreServedInFifoOrderAndSeeEachOthersWrites) {
  auto first = session("first");
  auto second = session("second");
  auto third = session("third");
  create(first, "row");
  auto granted = first.call("claim_model", {{"model", kModel}, {"id", "row"}, {"ttlSeconds", 30}});
  ASSERT_FALSE(tool_failed(granted)) << granted.body;
  EXPECT_EQ(tool_output(granted).at("status"), "granted");

  // The same key, but each session is its own participant: the others queue, in order.
  auto second_wait = std::async(std::launch::async, [&] {
    return second.call("claim_model", {{"model", kModel}, {"id", "row"}, {"waitSeconds", 30}});
  });
  std::this_thread::sleep_for(300ms);
  auto third_wait = std::async(std::launch::async, [&] {
    return third.call("claim_model", {{"model", kModel}, {"id", "row"}, {"waitSeconds", 30}});
  });
  std::this_thread::sleep_for(300ms);

  // While it holds the row, the others cannot write it, and are told how to get it.
  auto refused = second.call("update_model", {{"model", kModel}, {"id", "row"}, {"data", json::object{{"forecast", "x"}}}});
  EXPECT_EQ(error_code(refused), "entity_claimed") << refused.body;
  EXPECT_NE(tool_output(refused).at("error").at("hint").as_string().find("claim_model"), json::string::npos);

  auto wrote = first.call("update_model", {{"model", kModel}, {"id", "row"}, {"data", json::object{{"forecast", "by first"}}}});
  ASSERT_FALSE(tool_failed(wrote)) << wrote.body;
  ASSERT_FALSE(tool_failed(first.call("release_claim", {{"model", kModel}, {"id", "row"}})));

  ASSERT_EQ(second_wait.wait_for(10s), std::future_status::ready) << "the second agent is granted next";
  auto second_grant = second_wait.get();
  ASSERT_FALSE(tool_failed(second_grant)) << second_grant.body;
  EXPECT_EQ(tool_output(second_grant).at("data").at("forecast"), "by first") << "the fresh row shows the first write";
  ASSERT_FALSE(second_grant.progress().empty()) << "queued calls report their place in line";
  EXPECT_NE(second_grant.progress()[0].at("message").as_string().find("place 1"), json::string::npos);
  EXPECT_EQ(third_wait.wait_for(500ms), std::future_status::timeout) << "the third waits behind the second";

  // The second writes under its claim (readAt = the granted row's stamp, fence token sent).
  auto second_write =
      second.call("update_model", {{"model", kModel}, {"id", "row"}, {"data", json::object{{"forecast", "by second"}}}});
  ASSERT_FALSE(tool_failed(second_write)) << second_write.body;
  ASSERT_FALSE(tool_failed(second.call("release_claim", {{"model", kModel}, {"id", "row"}})));
  ASSERT_EQ(third_wait.wait_for(10s), std::future_status::ready);
  auto third_grant = third_wait.get();
  ASSERT_FALSE(tool_failed(third_grant)) << third_grant.body;
  EXPECT_EQ(tool_output(third_grant).at("data").at("forecast"), "by second");
  EXPECT_NE(third_grant.progress()[0].at("message").as_string().find("place 2"), json::string::npos);
  EXPECT_GT(tool_output(third_grant).at("fenceToken").as_int64(), tool_output(second_grant).at("fenceToken").as_int64());
}

TEST_F(McpTest, AClientThatDisconnectsWhileQueuedLeavesTheLine) {
  auto holder = session("holder");
  auto quitter = session("quitter");
  create(holder, "row");
  ASSERT_FALSE(tool_failed(holder.call("claim_model", {{"model", kModel}, {"id", "row"}})));
  const auto body = json::serialize(json::object{
      {"jsonrpc", "2.0"}, {"id", 7}, {"method", "tools/call"},
      {"params", json::object{{"name", "claim_model"}, {"arguments", json::object{{"model", kModel}, {"id", "row"}}},
                              {"_meta", json::object{{"progressToken", 1}}}}}});
  RawStream waiting(server.port(), "POST", body,
                    {{"Authorization", "Bearer " + server.api_key()}, {"Content-Type", "application/json"},
                     {"Accept", "application/json, text/event-stream"}, {"Mcp-Session-Id", quitter.session()}});
  ASSERT_TRUE(waiting.next([](const json::object& m) { return m.contains("method"); }, 5s)) << "queued: progress";
  auto claims = [&] { return tool_output(holder.call("list_claims", {{"model", kModel}, {"id", "row"}})).at("data").as_array(); };
  ASSERT_EQ(claims().size(), 2u) << "holder + the queued quitter";
  waiting.close();
  const auto deadline = std::chrono::steady_clock::now() + 5s;
  while (claims().size() != 1 && std::chrono::steady_clock::now() < deadline) std::this_thread::sleep_for(50ms);
  EXPECT_EQ(claims().size(), 1u) << "the quitter left the line when its connection closed";
}

TEST_F(McpTest, ClaimsAreRenewedWhileTheSessionLivesAndLapseAfterItEnds) {
  auto agent = session("renewer");
  create(agent, "leased");
  ASSERT_FALSE(tool_failed(agent.call("claim_model", {{"model", kModel}, {"id", "leased"}, {"ttlSeconds", 3}})));
  auto active = [&] {
    auto listed = rest("GET", std::string("/v1/models/") + kModel + "/leased");
    return json::parse(listed.body).at("claims").as_array().size();
  };
  std::this_thread::sleep_for(6s);  // two lease lengths
  EXPECT_EQ(active(), 1u) << "the session renewed its claim";
  ASSERT_EQ(agent.end().status, 200);
  EXPECT_EQ(active(), 1u) << "a held claim outlives its session until its lease ends";
  const auto deadline = std::chrono::steady_clock::now() + 10s;
  while (active() != 0 && std::chrono::steady_clock::now() < deadline) std::this_thread::sleep_for(100ms);
  EXPECT_EQ(active(), 0u) << "then it lapses";
}

TEST_F(McpTest, WaitForChangeReturnsAnotherClientsWriteAndTimesOutQuietly) {
  auto agent = session();
  create(agent, "watched");
  ASSERT_FALSE(tool_failed(agent.call("get_model", {{"model", kModel}, {"id", "watched"}})));
  auto waiting = std::async(std::launch::async, [&] {
    return agent.call("wait_for_change", {{"model", kModel}, {"id", "watched"}, {"timeoutSeconds", 20}});
  });
  std::this_thread::sleep_for(300ms);
  write_elsewhere("watched", "Lima");
  ASSERT_EQ(waiting.wait_for(10s), std::future_status::ready);
  auto changed = waiting.get();
  ASSERT_FALSE(tool_failed(changed)) << changed.body;
  const auto output = tool_output(changed);
  EXPECT_EQ(output.at("changed"), true);
  ASSERT_EQ(output.at("changes").as_array().size(), 1u);
  EXPECT_EQ(output.at("changes").as_array()[0].at("data").at("location"), "Lima");
  // Having seen it, the agent's next write is checked from that version: it passes.
  ASSERT_FALSE(tool_failed(agent.call("update_model", {{"model", kModel}, {"id", "watched"},
                                                      {"data", json::object{{"forecast", "sun"}}}})));

  auto quiet = agent.call("wait_for_change", {{"model", kModel}, {"id", "watched"}, {"timeoutSeconds", 1}});
  ASSERT_FALSE(tool_failed(quiet)) << quiet.body;
  EXPECT_EQ(tool_output(quiet).at("changed"), false);

  // A model-wide wait filtered by field values.
  auto filtered = std::async(std::launch::async, [&] {
    return agent.call("wait_for_change", {{"model", kModel}, {"where", json::object{{"location", "Quito"}}},
                                          {"timeoutSeconds", 20}});
  });
  std::this_thread::sleep_for(300ms);
  write_elsewhere("watched", "Cusco");  // does not match
  write_elsewhere("watched", "Quito");
  ASSERT_EQ(filtered.wait_for(10s), std::future_status::ready);
  const auto filtered_output = tool_output(filtered.get());
  ASSERT_EQ(filtered_output.at("changes").as_array().size(), 1u);
  EXPECT_EQ(filtered_output.at("changes").as_array()[0].at("data").at("location"), "Quito");
}

TEST_F(McpTest, ASubscribedRowNotifiesWhenAnotherClientWritesIt) {
  auto agent = session();
  create(agent, "sub");
  auto stream = open_notifications(agent);
  auto subscribed = agent.request("resources/subscribe", {{"uri", std::string("ablo://") + kModel + "/sub"}});
  ASSERT_EQ(subscribed.status, 200) << subscribed.body;
  ASSERT_TRUE(subscribed.response().contains("result")) << subscribed.body;
  const auto started = std::chrono::steady_clock::now();
  write_elsewhere("sub", "Nairobi");
  auto updated = stream->next([](const json::object& m) { return m.at("method") == "notifications/resources/updated"; }, 5s);
  ASSERT_TRUE(updated) << "no notifications/resources/updated";
  EXPECT_EQ(updated->at("params").at("uri").as_string(), std::string("ablo://") + kModel + "/sub");
  std::printf("resources/updated %lld ms after the write\n",
              static_cast<long long>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                         std::chrono::steady_clock::now() - started).count()));
  auto read = agent.request("resources/read", {{"uri", std::string("ablo://") + kModel + "/sub"}});
  const auto text = read.response().at("result").at("contents").as_array()[0].at("text").as_string();
  EXPECT_EQ(json::parse(text).at("location"), "Nairobi");
  auto missing = agent.request("resources/read", {{"uri", std::string("ablo://") + kModel + "/nope"}});
  EXPECT_EQ(rpc_error(missing), -32002) << missing.body;
}

TEST_F(McpTest, ANotificationSentWhileNoStreamIsOpenArrivesWhenOneOpens) {
  auto agent = session();
  create(agent, "later");
  ASSERT_EQ(agent.request("resources/subscribe", {{"uri", std::string("ablo://") + kModel + "/later"}}).status, 200);
  write_elsewhere("later", "Accra");
  std::this_thread::sleep_for(1500ms);  // past the safety poll: the update is waiting for a stream
  auto stream = open_notifications(agent);
  auto updated = stream->next([](const json::object& m) { return m.at("method") == "notifications/resources/updated"; }, 5s);
  ASSERT_TRUE(updated) << "the notification was lost between streams";
  EXPECT_EQ(updated->at("params").at("uri").as_string(), std::string("ablo://") + kModel + "/later");
}

TEST_F(McpTest, ASchemaPushChangesTheToolList) {
  auto agent = session();
  auto stream = open_notifications(agent);
  std::this_thread::sleep_for(200ms);
  auto pushed = json::parse(kQuickstartSchema).as_object();
  pushed["models"].as_object()["notes"] = json::object{
      {"fields", json::object{{"text", json::object{{"type", "string"}, {"isOptional", false}, {"isIndexed", false}}}}},
      {"relations", json::object{}}, {"load", "instant"}, {"typename", "notes"},
      {"tenancy", json::object{{"kind", "column"}, {"column", "organization_id"}}}, {"plane", "tenant"}};
  auto response = rest("POST", "/api/schema", json::serialize(json::object{{"schema", pushed}}));
  ASSERT_EQ(response.status, 200) << response.body;
  auto changed = stream->next([](const json::object& m) { return m.at("method") == "notifications/tools/list_changed"; }, 5s);
  ASSERT_TRUE(changed) << "no notifications/tools/list_changed";
  auto tools = agent.request("tools/list");
  const auto models = tool_schema(tools, "create_model").at("properties").at("model").at("enum").as_array();
  EXPECT_NE(std::find(models.begin(), models.end(), json::value("notes")), models.end()) << json::serialize(models);
  auto made = agent.call("create_model", {{"model", "notes"}, {"data", json::object{{"text", "hi"}}}});
  EXPECT_FALSE(tool_failed(made)) << made.body;
}

TEST_F(McpTest, APersonSeesAnAgentsClaimInPresence) {
  auto person = Client::connect(server);
  send_frame(person, "presence_update", {{"status", "online"}});
  auto agent = session("claimer");
  create(agent, "shared");
  ASSERT_FALSE(tool_failed(agent.call("claim_model", {{"model", kModel}, {"id", "shared"}})));
  auto presence = person.await([&](const json::object& f) {
    if (f.at("type") != "presence_update") return false;
    const auto& payload = f.at("payload").as_object();
    return payload.at("userId") == agent.participant().c_str() && !payload.at("activeIntents").as_array().empty();
  }, 5s);
  ASSERT_TRUE(presence) << "the person never saw the agent's claim";
  const auto& intent = presence->at("payload").at("activeIntents").as_array()[0];
  EXPECT_EQ(intent.at("entityId"), "shared");
}

TEST_F(McpTest, ARevokedCredentialEndsTheSessionMidway) {
  auto minted = rest("POST", "/v1/capabilities",
                     json::serialize(json::object{{"participantKind", "agent"}, {"wideScope", true}, {"ttlSeconds", 600}}));
  ASSERT_EQ(minted.status, 200) << minted.body;
  const auto capability = json::parse(minted.body).as_object();
  const std::string token(capability.at("token").as_string());
  auto agent = session("revoked", token);
  create(agent, "r");
  ASSERT_EQ(rest("DELETE", "/v1/capabilities/" + std::string(capability.at("id").as_string())).status, 200);
  auto refused = agent.call("get_model", {{"model", kModel}, {"id", "r"}});
  EXPECT_TRUE(tool_failed(refused)) << refused.body;
  EXPECT_FALSE(error_code(refused).empty());
  EXPECT_EQ(agent.request("tools/list").status, 404) << "the session ended with its credential";
  McpClient again(server.port(), token, "again");
  EXPECT_EQ(again.initialize().status, 401);
}

TEST_F(McpTest, BadInputGetsAClearErrorAndChangesNothing) {
  auto agent = session();
  create(agent, "keep");
  auto bad_call = [&](const char* tool, json::object args) { return rpc_error(agent.call(tool, std::move(args))); };
  EXPECT_EQ(bad_call("no_such_tool", {}), -32602);
  EXPECT_EQ(bad_call("create_model", {{"model", kModel}, {"data", json::object{{"location", "x"}, {"status", "gone"}}}}),
            -32602) << "an enum value the schema does not list";
  EXPECT_EQ(bad_call("create_model", {{"model", kModel}, {"data", json::object{{"location", "x"}}}}), -32602)
      << "a required field missing";
  EXPECT_EQ(bad_call("create_model", {{"model", kModel}, {"data", json::object{{"location", 5}, {"status", "ready"}}}}),
            -32602) << "a wrong type";
  EXPECT_EQ(bad_call("update_model", {{"model", kModel}, {"id", "keep"}, {"data", json::object{{"colour", "red"}}}}),
            -32602) << "a field that does not exist";
  EXPECT_EQ(bad_call("get_model", {{"model", "planets"}, {"id", "keep"}}), -32602) << "a model that does not exist";
  EXPECT_EQ(bad_call("claim_model", {{"model", kModel}, {"id", "keep"}, {"ttlSeconds", 100000}}), -32602);
  EXPECT_EQ(rpc_error(agent.request("no/such/method")), -32601);

  auto unparsable = agent.post_raw("{not json");
  EXPECT_EQ(unparsable.status, 400);
  EXPECT_EQ(rpc_error(unparsable), -32700);
  auto batch = agent.post_raw(R"([{"jsonrpc":"2.0","id":1,"method":"ping"}])");
  EXPECT_EQ(batch.status, 400);
  EXPECT_EQ(rpc_error(batch), -32600);
  EXPECT_EQ(agent.post_raw(R"({"id":1,"method":"ping"})").status, 400) << "jsonrpc missing";
  EXPECT_EQ(agent.post_raw(R"({"jsonrpc":"2.0","id":{"x":1},"method":"ping"})").status, 400) << "an object id";

  // Sessions: none, unknown, another credential's; no bearer; unknown protocol; a foreign origin.
  EXPECT_EQ(agent.post_raw(R"({"jsonrpc":"2.0","id":1,"method":"ping"})", false).status, 400);
  EXPECT_EQ(agent.post_raw(R"({"jsonrpc":"2.0","id":1,"method":"ping"})", false, {{"Mcp-Session-Id", "nope"}}).status, 404);
  auto other_key = json::parse(rest("POST", "/v1/capabilities", R"({"participantKind":"agent","wideScope":true,"ttlSeconds":600})").body);
  McpClient intruder(server.port(), std::string(other_key.at("token").as_string()));
  EXPECT_EQ(intruder.post_raw(R"({"jsonrpc":"2.0","id":1,"method":"ping"})", false,
                              {{"Mcp-Session-Id", agent.session()}}).status,
            404) << "another credential cannot use (or learn of) this session";
  auto anonymous = client::http_request("127.0.0.1", server.port(), "POST", "/mcp",
                                        R"({"jsonrpc":"2.0","id":1,"method":"ping"})",
                                        {{"Content-Type", "application/json"}, {"Mcp-Session-Id", agent.session()}});
  ASSERT_TRUE(anonymous);
  EXPECT_EQ(anonymous->status, 401);
  EXPECT_EQ(agent.post_raw(R"({"jsonrpc":"2.0","id":1,"method":"ping"})", true,
                           {{"MCP-Protocol-Version", "1999-01-01"}}).status, 400);
  EXPECT_EQ(agent.post_raw(R"({"jsonrpc":"2.0","id":1,"method":"ping"})", true,
                           {{"Origin", "http://evil.example"}}).status, 403);

  EXPECT_EQ(agent.request("ping").status, 200) << "the session survived all of it";
  auto row = json::parse(rest("GET", std::string("/v1/models/") + kModel + "/keep").body);
  EXPECT_EQ(row.at("data").at("location"), "Oslo") << "nothing was changed";
  EXPECT_EQ(agent.end().status, 200);
  EXPECT_EQ(agent.request("ping").status, 404) << "an ended session is gone";
}

TEST_F(McpTest, AReadOnlyCapabilitySeesOnlyReadToolsAndCannotWrite) {
  auto minted = rest("POST", "/v1/capabilities",
                     json::serialize(json::object{{"participantKind", "agent"}, {"wideScope", true},
                                                  {"ttlSeconds", 600}, {"operations", json::array{std::string(kModel) + ".read"}}}));
  ASSERT_EQ(minted.status, 200) << minted.body;
  auto reader = session("reader", std::string(json::parse(minted.body).at("token").as_string()));
  auto names = tool_names(reader.request("tools/list"));
  EXPECT_TRUE(names.contains("get_model"));
  EXPECT_FALSE(names.contains("create_model"));
  EXPECT_FALSE(names.contains("claim_model"));
  EXPECT_EQ(rpc_error(reader.call("create_model", {{"model", kModel}, {"data", json::object{{"location", "x"}, {"status", "ready"}}}})),
            -32602);
}

TEST_F(McpTest, AHundredConcurrentSessionsAreServed) {
  auto setup = session();
  create(setup, "hot");
  constexpr int kSessions = 100;
  constexpr int kThreads = 10;
  std::atomic<int> served{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kSessions / kThreads; ++i) {
        McpClient client(server.port(), server.api_key(), "crowd" + std::to_string(t));
        if (client.initialize().status != 200) continue;
        auto read = client.call("get_model", {{"model", kModel}, {"id", "hot"}});
        if (!tool_failed(read) && tool_output(read).at("data").at("location") == "Oslo") ++served;
      }
    });
  }
  for (auto& thread : threads) thread.join();
  EXPECT_EQ(served.load(), kSessions);
}

}  // namespace
}  // namespace ablo::testing
