// Issue 16 item 1, typed models (docs/client-library.md §14.3 "GeneratedHeaderRoundTrip", §17)
// against the real server: the client class and structs of `ablo generate --lang cpp`.
//
// The header is the golden file tests/schema/golden/ablo_models.h, which
// tests/schema/codegen_cpp_test.cpp holds byte-equal to the generator's output for
// tests/schema/golden/codegen_schema.json — so this is the generated code, and its schema
// (kSchemaJson) is what the server is started with. Generating it at build time instead would
// run the `ablo` binary inside the build and test the same bytes a second time.
#include <set>
#include <string>

#include <boost/json.hpp>
#include <gtest/gtest.h>

#include "client/transport.h"
#include "integration/sdk_support.h"
#include "integration/server_fixture.h"
#include "schema/golden/ablo_models.h"
#include "support/tcp_proxy.h"

namespace ablo::testing {
namespace sdk_typed_test {

namespace json = boost::json;
using namespace std::chrono_literals;
using ablo_gen::Project;
using ablo_gen::Task;
using ablo_gen::TaskStatus;

constexpr Timestamp kStartedAt{std::chrono::milliseconds(1735787045678)};  // 2025-01-02T03:04:05.678Z

// Options for the generated client: the schema left empty, so the client class fills in its own.
Options typed_options(uint16_t port, const std::string& api_key) {
  Options options = sdk_options(port, api_key);
  options.schema.clear();
  return options;
}

Project sample_project(const std::string& id) {
  return Project{.id = id, .name = "Apollo", .status = ablo_gen::ProjectStatus::kArchived, .budget = 1500.5};
}

// Every field type set, enums with a non-identifier value.
Task sample_task(const std::string& id, const std::string& project_id) {
  Task task;
  task.id = id;
  task.title = "Ship the typed client";
  task.project_id = project_id;
  task.status = TaskStatus::kWonTFix;
  task.review_state = ablo_gen::TaskReviewState::kOpen;
  task.position = 2.5;
  task.estimate = 3;
  task.done = false;
  task.started_at = kStartedAt;
  task.due_at = kStartedAt + 36h;
  task.meta = json::object{{"color", "red"}, {"n", 1}};
  task.tags = json::array{"a", "b"};
  task.assignee_id = "u1";
  task.class_ = "urgent";
  return task;
}

// `expected` with the server-owned timestamps of `read` (the only members the server sets).
template <class Model>
Model with_server_timestamps(Model expected, const Model& read) {
  expected.created_at = read.created_at;
  expected.updated_at = read.updated_at;
  expected.archived_at = read.archived_at;
  return expected;
}

client::HttpResponse call(const ServerProcess& server, const std::string& method, const std::string& target,
                          const std::string& body = {}) {
  std::map<std::string, std::string> headers{{"Authorization", "Bearer " + server.api_key()}};
  if (!body.empty()) headers.emplace("Content-Type", "application/json");
  auto response = client::http_request("127.0.0.1", server.port(), method, target, body, headers);
  EXPECT_TRUE(response) << (response ? "" : response.error().message);
  return response ? *response : client::HttpResponse{};
}

// The operations this client sent for row `id` (commit frames captured by the proxy).
std::vector<json::object> operations_sent_for(const TcpProxy& proxy, const std::string& id) {
  std::vector<json::object> sent;
  for (const auto& connection : proxy.captured_upstream()) {
    for (const auto& text : TcpProxy::websocket_client_texts(connection)) {
      auto frame = json::parse(text).as_object();
      if (frame.at("type") != "commit") continue;
      for (const auto& op : frame.at("payload").at("operations").as_array()) {
        if (op.at("id") == json::value(id)) sent.push_back(op.as_object());
      }
    }
  }
  return sent;
}

std::set<std::string> keys_of(const json::object& object) {
  std::set<std::string> keys;
  for (const auto& [key, value] : object) keys.emplace(key);
  return keys;
}

class SdkTypedTest : public ::testing::Test {
 protected:
  ServerProcess server{std::string(ablo_gen::kSchemaJson)};
};

TEST_F(SdkTypedTest, ATypedCreateIsConfirmedAndReadBackEqualByBothClients) {
  ablo_gen::Client a(typed_options(server.port(), server.api_key()));
  ablo_gen::Client b(typed_options(server.port(), server.api_key()));
  a.ready().wait();
  b.ready().wait();
  EXPECT_EQ(a.schema_hash(), ablo_gen::kSchemaHash) << "the client runs on the header's schema";

  ASSERT_TRUE(a.projects().create(sample_project("p1")).wait().row);
  const Task task = sample_task("t1", "p1");
  const Receipt receipt = a.tasks().create(task).wait();
  ASSERT_TRUE(receipt.row);
  const auto confirmed = a.tasks().get("t1");
  ASSERT_TRUE(confirmed);
  EXPECT_FALSE(a.tasks().untyped().get("t1")->pending) << "confirmed: the server's row is the base";
  EXPECT_TRUE(confirmed->created_at && confirmed->updated_at) << "server-set timestamps are read";
  EXPECT_EQ(*confirmed, with_server_timestamps(task, *confirmed)) << "every field came back as written";
  EXPECT_EQ(receipt.row->as<Task>(), *confirmed);

  ASSERT_TRUE(eventually([&] { return b.tasks().get("t1").has_value(); })) << "fanned out to the other client";
  EXPECT_EQ(*b.tasks().get("t1"), *confirmed);
  EXPECT_EQ(*b.projects().get("p1"), with_server_timestamps(sample_project("p1"), *b.projects().get("p1")));
  // The wire form the server holds: the enum's value, the date as ISO-8601.
  const Row raw = *b.tasks().untyped().get("t1");
  EXPECT_EQ(raw.data.at("status").as_string(), "won't fix");
  EXPECT_EQ(typed::timestamp_from_json(raw.data.at("dueAt")), kStartedAt + 36h);
  EXPECT_EQ(raw.data.at("class").as_string(), "urgent");
  // Queries take the wire value of an enum.
  auto fixed = b.tasks().where("status", Op::kEq, Json(to_string(TaskStatus::kWonTFix))).count();
  ASSERT_TRUE(fixed);
  EXPECT_EQ(*fixed, 1u);
}

TEST_F(SdkTypedTest, UpdatingAStructSendsTheChangedFieldsOnlyAndANoOpSendsNothing) {
  TcpProxy proxy(server.port());
  ablo_gen::Client a(typed_options(proxy.port(), server.api_key()));
  a.ready().wait();
  a.projects().create(sample_project("p1")).wait();
  a.tasks().create(sample_task("t2", "p1")).wait();

  Task edited = *a.tasks().get("t2");
  const Receipt unchanged = a.tasks().update(edited).wait();
  EXPECT_TRUE(unchanged.transaction_id.empty()) << "nothing differs from the replica: no write";
  ASSERT_TRUE(unchanged.row);
  EXPECT_EQ(unchanged.row->as<Task>(), edited);

  edited.title = "Renamed";
  edited.status = TaskStatus::kDone;
  edited.due_at.reset();
  edited.review_state = ablo_gen::TaskReviewState::kClosed;
  const Receipt changed = a.tasks().update(edited).wait();
  EXPECT_FALSE(changed.transaction_id.empty());
  const auto read = a.tasks().get("t2");
  ASSERT_TRUE(read);
  EXPECT_EQ(*read, with_server_timestamps(edited, *read));
  EXPECT_EQ(read->created_at, edited.created_at);

  const auto sent = operations_sent_for(proxy, "t2");
  ASSERT_EQ(sent.size(), 2u) << "the create and one update: the no-op sent nothing";
  EXPECT_EQ(sent[1].at("transactionId").as_string(), changed.transaction_id);
  EXPECT_EQ(keys_of(sent[1].at("input").as_object()), (std::set<std::string>{"title", "status", "dueAt", "reviewState"}))
      << json::serialize(sent[1]);
  EXPECT_TRUE(sent[1].at("input").at("dueAt").is_null()) << "a reset optional clears the field";

  const auto history = call(server, "GET", "/v1/logs?model=tasks&recordId=t2");
  ASSERT_EQ(history.status, 200) << history.body;
  EXPECT_EQ(json::parse(history.body).at("data").as_array().size(), 2u) << "two deltas at the server";
}

// §6.6 / §14.2 "Schema push adds a field while running", the typed half: the compiled structs do
// not know the new field; reading rows that carry it works, and writes of the old fields confirm.
TEST_F(SdkTypedTest, AFieldPushedWhileTheClientRunsIsIgnoredByTypedReads) {
  ablo_gen::Client a(typed_options(server.port(), server.api_key()));
  a.ready().wait();
  a.projects().create(sample_project("p1")).wait();
  const Task original = sample_task("t3", "p1");
  a.tasks().create(original).wait();

  auto schema = json::parse(ablo_gen::kSchemaJson).as_object();
  schema["models"].as_object()["tasks"].as_object()["fields"].as_object()["priority"] =
      json::object{{"type", "string"}, {"isOptional", true}, {"isIndexed", false}};
  const auto pushed = call(server, "POST", "/api/schema", json::serialize(json::object{{"schema", schema}}));
  ASSERT_EQ(pushed.status, 200) << pushed.body;
  const auto patched = call(server, "PATCH", "/v1/models/tasks/t3", R"({"priority":"high","title":"From REST"})");
  ASSERT_EQ(patched.status, 200) << patched.body;

  ASSERT_TRUE(eventually([&] {
    const auto row = a.tasks().untyped().get("t3");
    return row && row->data.contains("priority");
  })) << "the delta carrying the unknown field is applied";
  const auto read = a.tasks().get("t3");
  ASSERT_TRUE(read) << "typed reads ignore the unknown key";
  Task expected = original;
  expected.title = "From REST";
  EXPECT_EQ(*read, with_server_timestamps(expected, *read));

  Task edited = *read;
  edited.done = true;
  EXPECT_TRUE(a.tasks().update(edited).wait_result()) << "a write of the old fields still confirms";
  EXPECT_TRUE(a.tasks().create(sample_task("t4", "p1")).wait_result());
  EXPECT_TRUE(a.tasks().get("t3")->done);
  EXPECT_EQ(a.tasks().untyped().get("t3")->data.at("priority").as_string(), "high") << "the struct's write left it alone";
}

}  // namespace sdk_typed_test
}  // namespace ablo::testing
