// One authorization rule on every path (issue 10): a capability scoped to sync group team:a,
// and one whose operations name one model, against the real server. Each path — bootstrap,
// /api/sync/query, /api/sync/entity, the REST model routes, WebSocket commits, live deltas,
// catch-up, claims over WebSocket and HTTP, presence, the intents list, usage, and every MCP
// tool, resource and notification — succeeds
// exactly when the rule allows it, and no byte of an out-of-scope row reaches the principal:
// every response body and every frame it receives is recorded and searched for the markers
// the out-of-scope rows carry.
#include <chrono>
#include <future>
#include <thread>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <boost/json.hpp>
#include <gtest/gtest.h>

#include "client/transport.h"
#include "integration/mcp_client.h"
#include "integration/server_fixture.h"

namespace ablo::testing {
namespace {

namespace json = boost::json;
using namespace std::chrono_literals;

// Teams are scope roots (group team:<id>); tasks and notes inherit their team's group.
constexpr const char* kTeamsSchema = R"({"v":3,"models":{
  "teams":{"fields":{"name":{"type":"string","isOptional":true}},"relations":{},"typename":"Team","scope":"team"},
  "tasks":{"fields":{"title":{"type":"string"},"teamId":{"type":"string"}},"relations":{
      "team":{"type":"belongsTo","target":"teams","foreignKey":"teamId","options":{"parent":true}}},"typename":"Task"},
  "notes":{"fields":{"body":{"type":"string"},"teamId":{"type":"string"}},"relations":{
      "team":{"type":"belongsTo","target":"teams","foreignKey":"teamId","options":{"parent":true}}},"typename":"Note"}},
  "identityRoles":[]})";

// Markers only out-of-scope rows carry.
constexpr const char* kTeamBMarker = "SECRET-TEAM-B-ROW";
constexpr const char* kNoteMarker = "NOTE-BODY-NOT-FOR-TASK-AGENTS";

// Everything one credential receives, over HTTP and WebSocket.
struct Seen {
  std::string bytes;
  bool contains(std::string_view marker) const { return bytes.find(marker) != std::string::npos; }
};

// A socket whose every frame is recorded.
class Socket {
 public:
  Socket(ServerProcess& server, const std::string& token, const std::vector<std::string>& groups, Seen& seen)
      : ws_(server.connect_ws(token, groups)), seen_(seen) {}

  void send(std::string_view type, json::object payload) {
    ws_->send_text(json::serialize(json::object{{"type", type}, {"payload", std::move(payload)}}));
  }
  // The first not yet consumed frame matching `matches`, reading more as needed.
  std::optional<json::object> await(const std::function<bool(const json::object&)>& matches,
                                    std::chrono::milliseconds timeout = 5s) {
    for (auto it = pending_.begin(); it != pending_.end(); ++it) {
      if (matches(*it)) {
        auto found = std::move(*it);
        pending_.erase(it);
        return found;
      }
    }
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < deadline) {
      auto text = ws_->receive(50ms);
      if (!text) {
        if (ws_->closed()) return std::nullopt;
        continue;
      }
      seen_.bytes += *text;
      auto frame = json::parse(*text).as_object();
      if (matches(frame)) return frame;
      pending_.push_back(std::move(frame));
    }
    return std::nullopt;
  }
  // Reads (and records) whatever arrives within `window`.
  void drain(std::chrono::milliseconds window = 300ms) {
    await([](const json::object&) { return false; }, window);
  }
  json::object sync(int64_t last_sync_id) {
    send("sync_request", {{"lastSyncId", last_sync_id}, {"cursor", nullptr}, {"versions", json::object{}}});
    auto response = await([](const json::object& f) { return f.at("type") == "sync_response"; });
    EXPECT_TRUE(response) << "no sync_response";
    return response ? response->at("payload").as_object() : json::object{};
  }
  json::object commit(const std::string& client_tx_id, json::object operation) {
    send("commit", {{"clientTxId", client_tx_id}, {"operations", json::array{std::move(operation)}}});
    auto result = await([&](const json::object& f) {
      return f.at("type") == "mutation_result" && f.at("payload").at("clientTxId") == client_tx_id.c_str();
    });
    EXPECT_TRUE(result) << "no mutation_result for " << client_tx_id;
    return result ? result->at("payload").as_object() : json::object{};
  }
  // The next live delta frame mentioning `model_id`.
  bool receives_delta_of(const std::string& model_id, std::chrono::milliseconds timeout = 5s) {
    return static_cast<bool>(await([&](const json::object& f) {
      return f.at("type") == "delta" && json::serialize(f).find("\"" + model_id + "\"") != std::string::npos;
    }, timeout));
  }
  std::optional<json::object> intent_frame(const std::string& intent_id) {
    auto frame = await([&](const json::object& f) {
      const auto type = f.at("type").as_string();
      return type.starts_with("intent_") && type != "intent_queue" && f.at("payload").at("intentId") == intent_id.c_str();
    });
    return frame;
  }
  client::WsConnection& ws() { return *ws_; }

 private:
  std::unique_ptr<client::WsConnection> ws_;
  Seen& seen_;
  std::vector<json::object> pending_;
};

json::object task_op(const char* type, const std::string& id, json::object input, const std::string& tx,
                     const char* model = "tasks") {
  return json::object{{"type", type}, {"model", model}, {"id", id}, {"input", std::move(input)}, {"transactionId", tx}};
}

class AuthzTest : public ::testing::Test {
 protected:
  ServerProcess server{kTeamsSchema};

  client::HttpResponse call(const std::string& token, const std::string& method, const std::string& target,
                            const std::string& body = {}, Seen* seen = nullptr) {
    std::map<std::string, std::string> headers{{"Authorization", "Bearer " + token},
                                               {"Content-Type", "application/json"}};
    auto response = client::http_request("127.0.0.1", server.port(), method, target, body, headers);
    EXPECT_TRUE(response) << (response ? "" : response.error().message);
    if (!response) return {};
    if (seen) seen->bytes += response->body;
    return *response;
  }
  client::HttpResponse admin(const std::string& method, const std::string& target, const json::object& body = {}) {
    auto response = call(server.api_key(), method, target, body.empty() ? "" : json::serialize(body));
    EXPECT_LT(response.status, 300) << method << " " << target << ": " << response.body;
    return response;
  }
  static json::object body_of(const client::HttpResponse& response) {
    return response.body.empty() ? json::object{} : json::parse(response.body).as_object();
  }
  static std::string code_of(const client::HttpResponse& response) {
    auto body = body_of(response);
    return body.contains("code") ? std::string(body.at("code").as_string()) : "";
  }

  // A capability exchanged by the secret key: the parsed /api/auth/capability response.
  json::object capability(json::object request) {
    request["ttlSeconds"] = 3600;
    auto response = call(server.api_key(), "POST", "/api/auth/capability", json::serialize(request));
    EXPECT_EQ(response.status, 200) << response.body;
    return body_of(response);
  }
  static std::string token_of(const json::object& exchanged) { return std::string(exchanged.at("token").as_string()); }

  // Rows of both teams, of both models. The first delta (id 1) is team a's task.
  void seed() {
    admin("POST", "/v1/models/tasks", {{"id", "task-a1"}, {"title", "team a task"}, {"teamId", "a"}});
    admin("POST", "/v1/models/tasks", {{"id", "task-b1"}, {"title", kTeamBMarker}, {"teamId", "b"}});
    admin("POST", "/v1/models/notes", {{"id", "note-a1"}, {"body", kNoteMarker}, {"teamId", "a"}});
    admin("POST", "/v1/models/notes", {{"id", "note-b1"}, {"body", kTeamBMarker}, {"teamId", "b"}});
  }
};

TEST_F(AuthzTest, AGroupScopedCapabilityReachesItsGroupOnEveryPathAndNothingElse) {
  seed();
  Seen seen;
  const auto alice = capability({{"participantKind", "user"}, {"participantId", "alice"}, {"syncGroups", json::array{"team:a"}}});
  const std::string token = token_of(alice);
  const std::vector<std::string> groups{"team:a"};

  // Reads: bootstrap, query, entity, REST list and get.
  auto bootstrap = call(token, "GET", "/api/sync/bootstrap", {}, &seen);
  ASSERT_EQ(bootstrap.status, 200) << bootstrap.body;
  EXPECT_NE(bootstrap.body.find("task-a1"), std::string::npos);
  EXPECT_EQ(bootstrap.body.find("task-b1"), std::string::npos);
  auto query = call(token, "POST", "/api/sync/query", R"({"queries":[{"model":"tasks"},{"model":"notes"}]})", &seen);
  ASSERT_EQ(query.status, 200) << query.body;
  EXPECT_NE(query.body.find("task-a1"), std::string::npos);
  EXPECT_NE(query.body.find("note-a1"), std::string::npos);
  auto by_id = call(token, "POST", "/api/sync/query", R"({"queries":[{"model":"tasks","ids":["task-b1"]}]})", &seen);
  EXPECT_EQ(by_id.status, 200);
  EXPECT_EQ(call(token, "GET", "/api/sync/entity/tasks/task-b1", {}, &seen).status, 404);
  EXPECT_EQ(call(token, "GET", "/api/sync/entity/tasks/task-a1", {}, &seen).status, 200);
  auto list = call(token, "GET", "/v1/models/tasks", {}, &seen);
  ASSERT_EQ(list.status, 200) << list.body;
  EXPECT_EQ(body_of(list).at("data").as_array().size(), 1u);
  EXPECT_EQ(call(token, "GET", "/v1/models/tasks/task-b1", {}, &seen).status, 404);
  EXPECT_EQ(call(token, "GET", "/v1/models/tasks/task-a1", {}, &seen).status, 200);

  // REST writes: only inside team a, and never moving a row out of it.
  EXPECT_EQ(call(token, "POST", "/v1/models/tasks", R"({"id":"task-a2","title":"mine","teamId":"a"})", &seen).status, 200);
  auto foreign_create = call(token, "POST", "/v1/models/tasks", R"({"id":"task-b2","title":"x","teamId":"b"})", &seen);
  EXPECT_EQ(foreign_create.status, 403) << foreign_create.body;
  EXPECT_EQ(code_of(foreign_create), "capability_scope_denied");
  auto foreign_patch = call(token, "PATCH", "/v1/models/tasks/task-b1", R"({"title":"hijacked"})", &seen);
  EXPECT_EQ(foreign_patch.status, 404) << foreign_patch.body;
  auto move_out = call(token, "PATCH", "/v1/models/tasks/task-a2", R"({"teamId":"b"})", &seen);
  EXPECT_EQ(move_out.status, 403) << move_out.body;
  EXPECT_EQ(call(token, "PATCH", "/v1/models/tasks/task-a2", R"({"title":"renamed"})", &seen).status, 200);
  EXPECT_EQ(call(token, "DELETE", "/v1/models/tasks/task-b1", {}, &seen).status, 404);
  EXPECT_EQ(call(server.api_key(), "GET", "/v1/models/tasks/task-b1").status, 200) << "team b's row is untouched";
  EXPECT_EQ(call(server.api_key(), "GET", "/v1/models/tasks/task-b2").status, 404) << "nothing was created in team b";

  // WebSocket commits.
  Socket socket(server, token, groups, seen);
  socket.sync(0);
  auto ws_update = socket.commit("ws-1", task_op("update", "task-b1", {{"title", "hijacked"}}, "tx-1"));
  EXPECT_EQ(ws_update.at("success"), false);
  EXPECT_EQ(ws_update.at("error").at("code"), "mutate_update_entity_not_found");
  auto ws_create = socket.commit("ws-2", task_op("create", "task-b3", {{"title", "x"}, {"teamId", "b"}}, "tx-2"));
  EXPECT_EQ(ws_create.at("success"), false);
  EXPECT_EQ(ws_create.at("error").at("code"), "capability_scope_denied");
  auto ws_delete = socket.commit("ws-3", task_op("delete", "task-b1", {}, "tx-3"));
  EXPECT_EQ(ws_delete.at("success"), false);
  auto ws_own = socket.commit("ws-4", task_op("create", "task-a3", {{"title", "own"}, {"teamId", "a"}}, "tx-4"));
  EXPECT_EQ(ws_own.at("success"), true) << json::serialize(ws_own);

  // Live deltas: team b's change is not delivered; team a's change after it is.
  admin("PATCH", "/v1/models/tasks/task-b1", {{"title", std::string(kTeamBMarker) + "-2"}});
  admin("PATCH", "/v1/models/tasks/task-a1", {{"title", "team a task, edited"}});
  EXPECT_TRUE(socket.receives_delta_of("task-a1"));

  // Catch-up from the first delta on a fresh socket.
  Socket resumed(server, token, groups, seen);
  auto catch_up = resumed.sync(1);
  const auto caught = json::serialize(catch_up);
  EXPECT_NE(caught.find("task-a2"), std::string::npos) << caught;
  EXPECT_EQ(caught.find("task-b1"), std::string::npos) << caught;

  // Claims over WebSocket: a row of team b cannot be claimed (team b is not locked out).
  socket.send("intent_begin", {{"intentId", "i-b"}, {"entityType", "tasks"}, {"entityId", "task-b1"},
                               {"action", "editing"}, {"queue", false}});
  auto rejected = socket.intent_frame("i-b");
  ASSERT_TRUE(rejected);
  EXPECT_EQ(rejected->at("type"), "intent_rejected");
  EXPECT_EQ(rejected->at("payload").at("error").at("code"), "entity_not_found");
  socket.send("intent_begin", {{"intentId", "i-bq"}, {"entityType", "tasks"}, {"entityId", "task-b1"},
                               {"action", "editing"}, {"queue", true}});
  auto lost = socket.intent_frame("i-bq");
  ASSERT_TRUE(lost);
  EXPECT_EQ(lost->at("type"), "intent_lost") << "a queued begin must hear an end, never intent_rejected";
  socket.send("intent_begin", {{"intentId", "i-a"}, {"entityType", "tasks"}, {"entityId", "task-a1"},
                               {"action", "editing"}, {"queue", false}});
  auto acquired = socket.intent_frame("i-a");
  ASSERT_TRUE(acquired);
  EXPECT_EQ(acquired->at("type"), "intent_acquired");

  // Claims over HTTP.
  auto http_claim = call(token, "POST", "/v1/models/tasks/task-b1/claim", "{}", &seen);
  EXPECT_EQ(http_claim.status, 404) << http_claim.body;
  auto http_intent = call(token, "POST", "/v1/intents",
                          R"({"target":{"model":"tasks","id":"task-b1"},"action":"editing"})", &seen);
  EXPECT_EQ(http_intent.status, 404) << http_intent.body;
  EXPECT_EQ(call(token, "POST", "/v1/models/tasks/task-a2/claim", "{}", &seen).status, 201);
  auto team_b_claim = call(server.api_key(), "POST", "/v1/models/tasks/task-b1/claim", "{}");
  EXPECT_EQ(team_b_claim.status, 201) << "team b's row was never claimed by team a: " << team_b_claim.body;

  // The intents list shows team a's claims, not team b's.
  auto intents = call(token, "GET", "/v1/intents", {}, &seen);
  ASSERT_EQ(intents.status, 200) << intents.body;
  EXPECT_NE(intents.body.find("task-a2"), std::string::npos) << intents.body;
  EXPECT_EQ(intents.body.find("task-b1"), std::string::npos) << intents.body;
  auto admin_intents = call(server.api_key(), "GET", "/v1/intents");
  EXPECT_NE(admin_intents.body.find("task-b1"), std::string::npos) << "the secret key sees every claim";

  // Presence only reaches sockets sharing a group.
  const auto bob = capability({{"participantKind", "user"}, {"participantId", "bob"}, {"syncGroups", json::array{"team:b"}}});
  Seen bob_seen;
  Socket bob_socket(server, token_of(bob), {"team:b"}, bob_seen);
  bob_socket.sync(0);
  bob_socket.send("presence_update", {{"status", "online"}, {"cursor", kTeamBMarker}});
  const auto carol = capability({{"participantKind", "user"}, {"participantId", "carol"}, {"syncGroups", json::array{"team:a"}}});
  Seen carol_seen;
  Socket carol_socket(server, token_of(carol), groups, carol_seen);
  carol_socket.sync(0);
  carol_socket.send("presence_update", {{"status", "online"}, {"cursor", "carol-was-here"}});
  EXPECT_TRUE(socket.await([](const json::object& f) {
    return f.at("type") == "presence_update" && f.at("payload").at("userId") == "carol";
  })) << "a peer of team a is seen";

  // A writer in both teams writing a team a row does not carry it to team b's sockets.
  const auto dave = capability(
      {{"participantKind", "user"}, {"participantId", "dave"}, {"syncGroups", json::array{"team:a", "team:b"}}});
  EXPECT_EQ(call(token_of(dave), "POST", "/v1/models/tasks", R"({"id":"task-a-dave","title":"DAVE-TEAM-A","teamId":"a"})")
                .status,
            200);
  admin("PATCH", "/v1/models/notes/note-b1", {{"body", std::string(kTeamBMarker) + "-3"}});
  EXPECT_TRUE(bob_socket.receives_delta_of("note-b1"));
  EXPECT_TRUE(socket.receives_delta_of("task-a-dave"));
  bob_socket.drain();
  EXPECT_FALSE(bob_seen.contains("DAVE-TEAM-A")) << "team b received a team a row: " << bob_seen.bytes;
  EXPECT_FALSE(bob_seen.contains("carol-was-here")) << "presence crossed teams";
  EXPECT_FALSE(seen.contains(kTeamBMarker)) << "presence crossed teams";

  // Usage is the tenant's, per key: secret keys only.
  EXPECT_EQ(call(token, "GET", "/v1/usage?starting_at=2020-01-01T00:00:00Z&ending_at=2020-02-01T00:00:00Z", {}, &seen)
                .status,
            403);

  socket.drain();
  resumed.drain();
  EXPECT_FALSE(seen.contains(kTeamBMarker)) << "a byte of a team b row reached team a";
  EXPECT_FALSE(seen.contains("hijacked"));
}

TEST_F(AuthzTest, AnOperationsAllowlistGovernsReadsDeltasCatchUpAndClaimsOfOtherModels) {
  seed();
  Seen seen;
  const auto agent = capability({{"participantKind", "agent"},
                                 {"participantId", "task-bot"},
                                 {"syncGroups", json::array{"team:a"}},
                                 {"operations", json::array{"tasks.read", "tasks.update"}}});
  const std::string token = token_of(agent);
  const std::vector<std::string> groups{"team:a"};

  auto bootstrap = call(token, "GET", "/api/sync/bootstrap", {}, &seen);
  ASSERT_EQ(bootstrap.status, 200) << bootstrap.body;
  EXPECT_NE(bootstrap.body.find("task-a1"), std::string::npos);
  EXPECT_EQ(bootstrap.body.find("note-a1"), std::string::npos);
  auto named = call(token, "GET", "/api/sync/bootstrap?models=Note,Task", {}, &seen);
  EXPECT_EQ(named.body.find("note-a1"), std::string::npos) << "asking by name does not widen it";
  auto query = call(token, "POST", "/api/sync/query", R"({"queries":[{"model":"notes"}]})", &seen);
  EXPECT_EQ(query.status, 403) << query.body;
  EXPECT_EQ(code_of(query), "capability_scope_denied");
  EXPECT_EQ(call(token, "POST", "/api/sync/query", R"({"queries":[{"model":"tasks"}]})", &seen).status, 200);
  EXPECT_EQ(call(token, "GET", "/api/sync/entity/notes/note-a1", {}, &seen).status, 403);
  EXPECT_EQ(call(token, "GET", "/v1/models/notes", {}, &seen).status, 403);
  EXPECT_EQ(call(token, "GET", "/v1/models/notes/note-a1", {}, &seen).status, 403);
  EXPECT_EQ(call(token, "GET", "/v1/models/tasks/task-a1", {}, &seen).status, 200);
  EXPECT_EQ(call(token, "POST", "/v1/models/tasks", R"({"id":"task-a9","title":"x","teamId":"a"})", &seen).status, 403)
      << "no tasks.create";
  EXPECT_EQ(call(token, "PATCH", "/v1/models/tasks/task-a1", R"({"title":"by the bot"})", &seen).status, 200);
  EXPECT_EQ(call(token, "DELETE", "/v1/models/tasks/task-a1", {}, &seen).status, 403) << "no tasks.delete";
  EXPECT_EQ(call(token, "PATCH", "/v1/models/notes/note-a1", R"({"body":"x"})", &seen).status, 403);

  Socket socket(server, token, groups, seen);
  socket.sync(0);
  auto note_update = socket.commit("ws-1", task_op("update", "note-a1", {{"body", "x"}}, "tx-1", "notes"));
  EXPECT_EQ(note_update.at("success"), false);
  EXPECT_EQ(note_update.at("error").at("code"), "capability_scope_denied");

  // Live: the note's change (same group, other model) is not delivered; the task's is.
  admin("PATCH", "/v1/models/notes/note-a1", {{"body", std::string(kNoteMarker) + "-2"}});
  admin("PATCH", "/v1/models/tasks/task-a1", {{"title", "edited by the key"}});
  EXPECT_TRUE(socket.receives_delta_of("task-a1"));

  // Catch-up from the start: tasks only.
  Socket resumed(server, token, groups, seen);
  const auto caught = json::serialize(resumed.sync(1));
  EXPECT_NE(caught.find("task-a1"), std::string::npos) << caught;
  EXPECT_EQ(caught.find("note-a1"), std::string::npos) << caught;

  // Claims need the write rule too: no notes.update, no claim on a note.
  socket.send("intent_begin", {{"intentId", "i-n"}, {"entityType", "notes"}, {"entityId", "note-a1"},
                               {"action", "editing"}, {"queue", false}});
  auto rejected = socket.intent_frame("i-n");
  ASSERT_TRUE(rejected);
  EXPECT_EQ(rejected->at("type"), "intent_rejected");
  EXPECT_EQ(rejected->at("payload").at("error").at("code"), "capability_scope_denied");
  EXPECT_EQ(call(token, "POST", "/v1/models/notes/note-a1/claim", "{}", &seen).status, 403);
  EXPECT_EQ(call(token, "POST", "/v1/models/tasks/task-a1/claim", "{}", &seen).status, 201);

  // Another participant's claim on a note is not listed to it.
  EXPECT_EQ(call(server.api_key(), "POST", "/v1/models/notes/note-a1/claim", "{}").status, 201);
  auto intents = call(token, "GET", "/v1/intents", {}, &seen);
  ASSERT_EQ(intents.status, 200);
  EXPECT_NE(intents.body.find("task-a1"), std::string::npos) << intents.body;
  EXPECT_EQ(intents.body.find("note-a1"), std::string::npos) << intents.body;

  socket.drain();
  resumed.drain();
  EXPECT_FALSE(seen.contains(kNoteMarker)) << "a byte of a note reached a tasks-only agent";
  EXPECT_FALSE(seen.contains(kTeamBMarker));
}

// A socket narrowed to one of its groups still receives the echo of its own write into
// another (it settles the client's pending write), and nobody in the narrowed group receives
// a row of a group they cannot read because of it.
TEST_F(AuthzTest, TheEchoOfAWriteReachesTheWritersSocketNotItsGroup) {
  Seen carol_seen, alice_seen;
  const auto carol = capability({{"participantKind", "user"}, {"participantId", "carol"},
                                 {"syncGroups", json::array{"team:a", "team:b"}}});
  const auto alice = capability({{"participantKind", "user"}, {"participantId", "alice"}, {"syncGroups", json::array{"team:a"}}});
  Socket carol_socket(server, token_of(carol), {"team:a"}, carol_seen);  // narrowed to team a
  Socket alice_socket(server, token_of(alice), {"team:a"}, alice_seen);
  carol_socket.sync(0);
  alice_socket.sync(0);
  auto written = carol_socket.commit("ctx-echo", task_op("CREATE", "task-b-echo", {{"title", kTeamBMarker}, {"teamId", "b"}},
                                                         "tx-echo"));
  ASSERT_EQ(written.at("success"), true) << json::serialize(written);
  EXPECT_TRUE(carol_socket.receives_delta_of("task-b-echo")) << "the writer gets the echo of its own write";
  alice_socket.drain(500ms);
  EXPECT_FALSE(alice_seen.contains(kTeamBMarker)) << "a team b row reached a team a member through the writer's group";
  EXPECT_FALSE(carol_seen.contains("~echo")) << "the echo route is never on the wire";
}

TEST_F(AuthzTest, ATokenExchangedFromACapabilityIsBoundByItsParent) {
  const auto parent = capability({{"participantKind", "agent"}, {"participantId", "worker"}, {"syncGroups", json::array{"team:a"}}});
  // Re-exchange a 60 s token for a week: it gets no more than its parent has left.
  auto short_lived = call(token_of(parent), "POST", "/api/auth/capability", R"({"ttlSeconds":60})");
  ASSERT_EQ(short_lived.status, 200) << short_lived.body;
  const auto child = body_of(short_lived);
  auto week = call(token_of(child), "POST", "/api/auth/capability", R"({"ttlSeconds":604800})");
  ASSERT_EQ(week.status, 200) << week.body;
  const auto grandchild = body_of(week);
  EXPECT_LE(grandchild.at("expiresAt").as_string(), child.at("expiresAt").as_string()) << "ISO times compare as text";
  EXPECT_EQ(grandchild.at("scope").at("syncGroups"), parent.at("scope").at("syncGroups"));

  Seen seen;
  Socket socket(server, token_of(grandchild), {"team:a"}, seen);
  socket.sync(0);
  auto revoked = call(server.api_key(), "DELETE", "/v1/capabilities/" + std::string(parent.at("capabilityId").as_string()));
  ASSERT_EQ(revoked.status, 200) << revoked.body;
  EXPECT_GE(body_of(revoked).at("activeSessionsClosed").as_int64(), 1);
  const auto deadline = std::chrono::steady_clock::now() + 5s;
  while (!socket.ws().closed() && std::chrono::steady_clock::now() < deadline) socket.ws().receive(50ms);
  EXPECT_TRUE(socket.ws().closed()) << "the derived token's socket is closed with its ancestor";
  EXPECT_EQ(socket.ws().close_code(), 4003);
  for (const auto& derived : {child, grandchild}) {
    auto refused = call(token_of(derived), "GET", "/v1/models/tasks");
    EXPECT_EQ(refused.status, 403) << refused.body;
    EXPECT_EQ(code_of(refused), "capability_invalid");
  }
}

// The 0.49 claim routes (Ablo-Protocol-Version: 1) go through the same rule as the 0.9.1 ones:
// claiming needs the write rule for the row, and listing shows only rows the caller may read.
TEST_F(AuthzTest, The049ClaimRoutesHonourTheSameRules) {
  seed();
  const std::string token = token_of(capability({{"participantKind", "agent"},
                                                 {"participantId", "task-bot"},
                                                 {"syncGroups", json::array{"team:a"}},
                                                 {"operations", json::array{"tasks.read", "tasks.update"}}}));
  const auto call_049 = [&](const std::string& bearer, const std::string& method, const std::string& target,
                            const std::string& body) {
    auto response = client::http_request("127.0.0.1", server.port(), method, target, body,
                                         {{"Authorization", "Bearer " + bearer},
                                          {"Content-Type", "application/json"},
                                          {"Ablo-Protocol-Version", "1"}});
    EXPECT_TRUE(response);
    return response ? *response : client::HttpResponse{};
  };
  EXPECT_EQ(call_049(token, "POST", "/v1/models/notes/note-a1/claim", R"({"description":"x","queue":false})").status,
            403)
      << "no notes.update";
  EXPECT_EQ(call_049(token, "POST", "/v1/claims", R"({"target":{"model":"notes","id":"note-a1"},"queue":false})").status,
            403)
      << "the ticket form is checked the same way";
  EXPECT_EQ(call_049(token, "POST", "/v1/models/tasks/task-a1/claim", R"({"description":"x","queue":false})").status,
            201);
  EXPECT_EQ(call_049(server.api_key(), "POST", "/v1/models/notes/note-a1/claim", R"({"description":"y"})").status, 201);
  auto listed = call_049(token, "GET", "/v1/claims", {});
  ASSERT_EQ(listed.status, 200) << listed.body;
  EXPECT_NE(listed.body.find("task-a1"), std::string::npos) << listed.body;
  EXPECT_EQ(listed.body.find("note-a1"), std::string::npos) << "a claim on a row it may not read is not listed";
}


// The MCP server (issue 14) makes every call through the REST API with the session's own
// credential, exchanged from the one presented: a team-scoped capability reaches team a, and
// not a byte of team b, through every tool, resource and notification.
TEST_F(AuthzTest, AGroupScopedCapabilityReachesOnlyItsGroupThroughEveryMcpToolAndNotification) {
  seed();
  Seen seen;
  const auto alice = capability({{"participantKind", "user"}, {"participantId", "alice"}, {"syncGroups", json::array{"team:a"}}});
  McpClient agent(server.port(), token_of(alice), "alice-agent");
  ASSERT_EQ(agent.initialize().status, 200);
  auto tool = [&](const char* name, json::object args) {
    auto reply = agent.call(name, std::move(args));
    seen.bytes += reply.body;
    return reply;
  };
  auto notifications = open_notifications(agent);
  auto subscribed = agent.request("resources/subscribe", {{"uri", "ablo://tasks/task-a1"}});
  ASSERT_TRUE(subscribed.response().contains("result")) << subscribed.body;
  seen.bytes += agent.request("resources/subscribe", {{"uri", "ablo://tasks/task-b1"}}).body;

  auto listed = tool("list_records", {{"model", "tasks"}});
  ASSERT_FALSE(tool_failed(listed)) << listed.body;
  EXPECT_EQ(tool_output(listed).at("data").as_array().size(), 1u);
  EXPECT_EQ(tool_output(tool("get_model", {{"model", "tasks"}, {"id", "task-b1"}})).at("data"), nullptr);
  EXPECT_EQ(tool_output(tool("get_model", {{"model", "tasks"}, {"id", "task-a1"}})).at("data").at("id"), "task-a1");
  seen.bytes += agent.request("resources/read", {{"uri", "ablo://tasks/task-b1"}}).body;

  EXPECT_TRUE(tool_failed(tool("create_model", {{"model", "tasks"}, {"id", "task-b9"},
                                                {"data", json::object{{"title", "x"}, {"teamId", "b"}}}})));
  EXPECT_TRUE(tool_failed(tool("update_model", {{"model", "tasks"}, {"id", "task-b1"},
                                                {"data", json::object{{"title", "hijacked"}}}})));
  EXPECT_TRUE(tool_failed(tool("delete_model", {{"model", "tasks"}, {"id", "task-b1"}})));
  EXPECT_TRUE(tool_failed(tool("claim_model", {{"model", "tasks"}, {"id", "task-b1"}, {"queue", false}})));
  EXPECT_EQ(call(server.api_key(), "POST", "/v1/models/tasks/task-b1/claim", "{}").status, 201);
  auto claims = tool("list_claims", {});
  ASSERT_FALSE(tool_failed(claims)) << claims.body;
  EXPECT_EQ(claims.body.find("task-b1"), std::string::npos) << claims.body;
  EXPECT_TRUE(tool_failed(tool("get_usage", {}))) << "usage is for secret keys";

  // Waits and subscriptions: team b's change is never reported; team a's after it is.
  auto waiting = std::async(std::launch::async, [&] {
    return agent.call("wait_for_change", {{"model", "tasks"}, {"timeoutSeconds", 20}});
  });
  std::this_thread::sleep_for(300ms);
  admin("PATCH", "/v1/models/tasks/task-b1", {{"title", std::string(kTeamBMarker) + "-mcp"}});
  admin("PATCH", "/v1/models/tasks/task-a1", {{"title", "team a, seen by the agent"}});
  ASSERT_EQ(waiting.wait_for(10s), std::future_status::ready);
  auto changed = waiting.get();
  seen.bytes += changed.body;
  ASSERT_EQ(tool_output(changed).at("changes").as_array().size(), 1u) << changed.body;
  EXPECT_EQ(tool_output(changed).at("changes").as_array()[0].at("recordId"), "task-a1");
  auto updated = notifications->next([](const json::object& m) { return m.at("method") == "notifications/resources/updated"; }, 5s);
  ASSERT_TRUE(updated);
  EXPECT_EQ(updated->at("params").at("uri"), "ablo://tasks/task-a1");
  seen.bytes += json::serialize(*updated);
  EXPECT_FALSE(notifications->next([](const json::object& m) {
    return m.at("params").at("uri") == "ablo://tasks/task-b1";
  }, 500ms)) << "a team b row was announced";
  seen.bytes += tool("tail_logs", {{"after", 0}, {"limit", 100}}).body;

  EXPECT_FALSE(seen.contains(kTeamBMarker)) << "a byte of a team b row reached team a over MCP: " << seen.bytes;
  EXPECT_FALSE(seen.contains("hijacked"));
}

}  // namespace
}  // namespace ablo::testing
