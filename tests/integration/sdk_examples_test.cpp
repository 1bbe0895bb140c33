// The example programs of the native client library (issue 16 item 9) as their users run them:
// two sdk-agent processes share 20 open todos, each processed exactly once; two sdk-todo
// processes driven through stdin converge on the same list.
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include <boost/json.hpp>
#include <gtest/gtest.h>

#include "client/transport.h"
#include "integration/server_fixture.h"
#include "sdk/client.h"
#include "support/child_process.h"

namespace ablo::testing {
namespace examples_test {  // named: the integration tests compile in unity batches

namespace json = boost::json;
using namespace std::chrono_literals;

std::string examples_schema() {
  std::ifstream file(ABLO_EXAMPLE_SCHEMA);
  std::stringstream text;
  text << file.rdbuf();
  return text.str();
}

class SdkExamplesTest : public ::testing::Test {
 protected:
  ServerProcess server{examples_schema()};

  // An example program against this server, configured through the environment as a user would.
  std::unique_ptr<ChildProcess> run(const std::string& binary, std::vector<std::string> args, bool pipe_stdin = false) {
    return std::make_unique<ChildProcess>(
        binary, std::move(args),
        ChildOptions{.set_env = {{"ABLO_API_URL", "http://127.0.0.1:" + std::to_string(server.port())},
                                 {"ABLO_API_KEY", server.api_key()}},
                     .pipe_stdin = pipe_stdin});
  }

  // The server's copy of a todo (GET /v1/models/todos/{id}): its data.
  json::object server_row(const std::string& id) {
    auto response = client::http_request("127.0.0.1", server.port(), "GET", "/v1/models/todos/" + id, {},
                                         {{"Authorization", "Bearer " + server.api_key()}});
    EXPECT_TRUE(response && response->status == 200) << id;
    if (!response || response->status != 200) return {};
    return json::parse(response->body).at("data").as_object();
  }
};

// The ids an agent reported ("done <id>" lines).
std::vector<std::string> done_ids(const std::string& output) {
  std::vector<std::string> ids;
  std::istringstream lines(output);
  for (std::string line; std::getline(lines, line);) {
    if (line.rfind("done ", 0) == 0) ids.push_back(line.substr(5));
  }
  return ids;
}

TEST_F(SdkExamplesTest, TwoAgentsProcessEveryTodoExactlyOnce) {
  {
    Options options;
    options.base_url = "http://127.0.0.1:" + std::to_string(server.port());
    options.api_key = server.api_key();
    options.schema = examples_schema();
    Client seeder(std::move(options));
    seeder.ready().wait();
    std::vector<Pending<Receipt>> writes;
    for (int i = 0; i < 20; ++i) {
      writes.push_back(seeder.model("todos").create({{"title", "task " + std::to_string(i)}, {"status", "todo"}, {"position", i}},
                                                    {.id = "t" + std::to_string(i)}));
    }
    for (auto& write : writes) write.wait();
  }

  auto first = run(ABLO_SDK_AGENT_BINARY, {"--name", "agent-1", "--think-ms", "20", "--until-empty"});
  auto second = run(ABLO_SDK_AGENT_BINARY, {"--name", "agent-2", "--think-ms", "20", "--until-empty"});
  EXPECT_EQ(first->wait_exit(120s), 0) << first->output();
  EXPECT_EQ(second->wait_exit(120s), 0) << second->output();

  // Each row reported by exactly one agent…
  std::map<std::string, std::string> handled_by;
  for (const auto& [agent, child] : {std::pair{"agent-1", first.get()}, std::pair{"agent-2", second.get()}}) {
    for (const auto& id : done_ids(child->output())) {
      const std::string name = agent;
      EXPECT_TRUE(handled_by.emplace(id, name).second) << id << " processed twice";
    }
  }
  EXPECT_EQ(handled_by.size(), 20u);
  // …and written once on the server, by that agent (runs counts the agents' writes).
  for (int i = 0; i < 20; ++i) {
    const std::string id = "t" + std::to_string(i);
    const auto data = server_row(id);
    EXPECT_EQ(data.at("status"), "done") << id;
    EXPECT_EQ(data.at("runs").to_number<int64_t>(), 1) << id;
    EXPECT_EQ(data.at("handledBy").as_string(), handled_by[id]) << id;
  }
}

// The last list a sdk-todo process printed ("todos:" … "(N items)").
std::string last_list(const std::string& output) {
  const auto start = output.rfind("todos:\n");
  if (start == std::string::npos) return {};
  const auto end = output.find(" items)\n", start);
  return end == std::string::npos ? std::string() : output.substr(start, end - start);
}

TEST_F(SdkExamplesTest, TwoTodoListsDrivenThroughStdinConverge) {
  auto alice = run(ABLO_SDK_TODO_BINARY, {}, true);
  auto bob = run(ABLO_SDK_TODO_BINARY, {}, true);
  ASSERT_TRUE(alice->wait_for("(0 items)", 30s)) << alice->output();
  ASSERT_TRUE(bob->wait_for("(0 items)", 30s)) << bob->output();

  alice->write_stdin("add buy milk\n");
  ASSERT_TRUE(bob->wait_for("[ ] buy milk", 30s)) << bob->output();
  bob->write_stdin("add write the C API\n");
  ASSERT_TRUE(alice->wait_for("[ ] write the C API", 30s)) << alice->output();
  alice->write_stdin("done 2\n");  // the item bob added (ordered by position: added later)
  bob->write_stdin("add walk the dog\n");
  ASSERT_TRUE(bob->wait_for("[x] write the C API", 30s)) << bob->output();
  bob->write_stdin("rm 1\n");

  const std::string expected = "todos:\n  1. [x] write the C API\n  2. [ ] walk the dog\n(2";
  EXPECT_TRUE(eventually([&] { return last_list(alice->output()) == expected && last_list(bob->output()) == expected; }, 30s))
      << "alice:\n" << alice->output() << "\nbob:\n" << bob->output();

  alice->write_stdin("quit\n");
  bob->close_stdin();  // end of input quits too
  EXPECT_EQ(alice->wait_exit(30s), 0);
  EXPECT_EQ(bob->wait_exit(30s), 0);
}

}  // namespace examples_test
}  // namespace ablo::testing
