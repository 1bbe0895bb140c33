// The developer commands of the real `ablo` binary (issue 15): init, dev, whoami, status,
// doctor, logs, the global --json and the one-line error format.
#include <signal.h>
#include <sys/wait.h>

#include <chrono>
#include <cstdio>
#include <fstream>
#include <sstream>
#include <thread>

#include <boost/json.hpp>
#include <gtest/gtest.h>

#include "integration/cli_run.h"
#include "integration/quickstart_schema.h"
#include "integration/server_fixture.h"
#include "support/child_process.h"
#include "support/temp_dir.h"

namespace ablo::testing {
namespace {

namespace json = boost::json;
using namespace std::chrono_literals;

// The value of NAME=value in a .env file.
std::string env_value(const std::filesystem::path& env_file, const std::string& name) {
  std::istringstream lines(read_text(env_file));
  for (std::string line; std::getline(lines, line);) {
    if (line.rfind(name + "=", 0) == 0) return line.substr(name.size() + 1);
  }
  return {};
}

// A long-running `ablo serve|dev` child whose stdout is collected while it runs (kept open:
// `ablo dev` prints on every schema change), with no ABLO_API_* from the test's own environment.
class LongRunning : public ChildProcess {
 public:
  LongRunning(const std::filesystem::path& cwd, std::vector<std::string> args)
      : ChildProcess(server_binary(), std::move(args), {.cwd = cwd, .unset_env = {"ABLO_API_KEY", "ABLO_API_URL"}}) {}

  uint16_t port() {
    constexpr std::string_view kListening = "ablo: listening on http://127.0.0.1:";
    const auto out = output();
    const auto at = out.find(kListening);
    return at == std::string::npos ? 0 : static_cast<uint16_t>(std::stoi(out.substr(at + kListening.size())));
  }
};

client::HttpResponse get(uint16_t port, const std::string& target, const std::string& key) {
  auto response = client::http_request("127.0.0.1", port, "GET", target, {}, {{"Authorization", "Bearer " + key}});
  EXPECT_TRUE(response) << (response ? "" : response.error().message);
  return response ? *response : client::HttpResponse{};
}

// The active schema's pushed JSON as text (GET /api/schema), "" when none.
std::string active_schema_text(uint16_t port, const std::string& key) {
  auto response = get(port, "/api/schema", key);
  if (response.status != 200) return {};
  const auto read = json::parse(response.body);
  const auto* schema = read.as_object().if_contains("schema");
  return schema ? json::serialize(*schema) : std::string();
}

// The starter schema `ablo init` writes, edited: `edit` replaces the first `from` with `to`.
void edit_file(const std::filesystem::path& path, const std::string& from, const std::string& to) {
  auto text = read_text(path);
  const auto at = text.find(from);
  ASSERT_NE(at, std::string::npos) << from << " not in " << text;
  text.replace(at, from.size(), to);
  // A new name each time and an atomic rename, as editors save: the watcher never sees half a file.
  const auto temporary = path.string() + ".tmp";
  std::ofstream(temporary) << text;
  std::filesystem::rename(temporary, path);
}

bool one_error_line(const std::string& err, const std::string& code) {
  return err.rfind("ablo: " + code + ": ", 0) == 0 && err.find("(hint: ") != std::string::npos &&
         err.find('\n') == err.size() - 1;
}

// How soon `ablo dev` applies or reports an edit (a 300 ms poll; sanitized servers are slower).
constexpr auto kDevReacts = kSanitizedBuild ? 10s : 3s;

std::string url_of(uint16_t port) { return " --url http://127.0.0.1:" + std::to_string(port); }

class CliDevTest : public ::testing::Test {
 protected:
  TempDir dir;
};

TEST_F(CliDevTest, InitWritesSchemaAndEnvWhoseKeyTheServerAccepts) {
  const auto project = dir.path() / "app";
  auto init = run_ablo_in(dir.path(), "init app");
  ASSERT_EQ(init.exit_code, 0) << init.out << init.err;
  EXPECT_NE(init.out.find("ablo dev"), std::string::npos) << "the README snippet says how to start: " << init.out;
  EXPECT_NE(init.out.find("baseURL"), std::string::npos) << init.out;
  const auto key = env_value(project / ".env", "ABLO_API_KEY");
  EXPECT_TRUE(key.starts_with("sk_test_")) << key;
  EXPECT_EQ(env_value(project / ".env", "ABLO_API_URL"), "http://127.0.0.1:8787");
  EXPECT_NE(read_text(project / "schema.json").find("\"task\""), std::string::npos);

  LongRunning server(project, {"serve", "--port", "0", "--data-dir", "ablo-data", "--schema", "schema.json"});
  ASSERT_TRUE(server.wait_for("test API key", 20s)) << server.output();
  EXPECT_EQ(get(server.port(), "/api/auth/identity", key).status, 200);
  // In the project directory the key comes from .env: whoami needs only the URL.
  auto whoami = run_ablo_in(project, "whoami" + url_of(server.port()));
  EXPECT_EQ(whoami.exit_code, 0) << whoami.err;
  EXPECT_NE(whoami.out.find("participant: "), std::string::npos) << whoami.out;
}

TEST_F(CliDevTest, InitRefusesToOverwriteUnlessForced) {
  ASSERT_EQ(run_ablo_in(dir.path(), "init .").exit_code, 0);
  std::ofstream(dir.path() / "schema.json") << "{\"mine\": true}";
  auto again = run_ablo_in(dir.path(), "init .");
  EXPECT_NE(again.exit_code, 0);
  EXPECT_TRUE(one_error_line(again.err, "invalid_request")) << again.err;
  EXPECT_NE(again.err.find("already exists"), std::string::npos) << again.err;
  EXPECT_NE(again.err.find("--force"), std::string::npos) << again.err;
  EXPECT_EQ(read_text(dir.path() / "schema.json"), "{\"mine\": true}") << "nothing was overwritten";

  auto forced = run_ablo_in(dir.path(), "init . --force");
  EXPECT_EQ(forced.exit_code, 0) << forced.err;
  EXPECT_NE(read_text(dir.path() / "schema.json").find("\"task\""), std::string::npos);
}

TEST_F(CliDevTest, DevAppliesSafeEditsAndKeepsTheLastGoodSchemaOtherwise) {
  ASSERT_EQ(run_ablo_in(dir.path(), "init .").exit_code, 0);
  const auto key = env_value(dir.path() / ".env", "ABLO_API_KEY");
  const auto schema_file = dir.path() / "schema.json";
  LongRunning dev(dir.path(), {"dev", "--port", "0", "--data-dir", "ablo-data"});
  ASSERT_TRUE(dev.wait_for("applied as version", 20s)) << dev.output();
  const auto port = dev.port();
  EXPECT_NE(dev.output().find("+ model task"), std::string::npos) << dev.output();

  // A new optional field: safe, applied within a few seconds, the plan printed.
  edit_file(schema_file, R"("notes": {)", R"("priority": {"type": "number", "isOptional": true, "isIndexed": false},
        "notes": {)");
  ASSERT_TRUE(dev.wait_for("applied as version", kDevReacts, 2)) << dev.output();
  EXPECT_NE(dev.output().find("+ field task.priority"), std::string::npos) << dev.output();
  EXPECT_NE(active_schema_text(port, key).find("priority"), std::string::npos);

  // Dropping a field needs --force: not applied, the fix printed, the old schema still served.
  const auto before = active_schema_text(port, key);
  edit_file(schema_file, R"("notes": {"type": "string", "isOptional": true, "isIndexed": false})",
            R"("memo": {"type": "string", "isOptional": true, "isIndexed": false})");
  ASSERT_TRUE(dev.wait_for("not applied", kDevReacts)) << dev.output();
  EXPECT_NE(dev.output().find("ablo schema push schema.json --force"), std::string::npos) << dev.output();
  EXPECT_NE(dev.output().find("--rename task.notes:task.memo"), std::string::npos) << dev.output();
  EXPECT_EQ(active_schema_text(port, key), before);
  EXPECT_EQ(get(port, "/api/health", key).status, 200);

  // A new required field needs a value for the existing rows: the backfill command is printed.
  edit_file(schema_file, R"("memo": {"type": "string", "isOptional": true, "isIndexed": false})",
            R"("notes": {"type": "string", "isOptional": true, "isIndexed": false},
        "owner": {"type": "string", "isOptional": false, "isIndexed": false})");
  ASSERT_TRUE(dev.wait_for("not applied", kDevReacts, 2)) << dev.output();
  EXPECT_NE(dev.output().find("run: ablo schema push schema.json --backfill task.owner=<value>"), std::string::npos)
      << dev.output();
  EXPECT_EQ(active_schema_text(port, key), before);

  // An unparsable file: the parse error, and still serving.
  std::ofstream(schema_file) << "{ not json";
  ASSERT_TRUE(dev.wait_for("is not valid JSON", kDevReacts)) << dev.output();
  EXPECT_EQ(active_schema_text(port, key), before);

  EXPECT_EQ(dev.stop(SIGINT), 0) << "Ctrl-C stops cleanly";
}

TEST_F(CliDevTest, DevWithJsonPrintsOnlyJsonLines) {
  ASSERT_EQ(run_ablo_in(dir.path(), "init .").exit_code, 0);
  LongRunning dev(dir.path(), {"--json", "dev", "--port", "0", "--data-dir", "ablo-data"});
  ASSERT_TRUE(dev.wait_for(R"("event":"schema_applied")", 20s)) << dev.output();
  EXPECT_EQ(dev.stop(SIGINT), 0);
  std::istringstream lines(dev.output());
  int events = 0;
  for (std::string line; std::getline(lines, line); ++events) {
    const auto event = json::parse(line).as_object();  // throws (fails the test) on a text line
    EXPECT_TRUE(event.contains("event")) << line;
  }
  EXPECT_EQ(events, 2) << "listening, then the first push: " << dev.output();
}

class CliAgainstServerTest : public ::testing::Test {
 protected:
  TempDir dir;
  ServerProcess server{kQuickstartSchema};
  std::string api() const { return url_of(server.port()) + " --key " + server.api_key(); }

  // A REST write (POST /v1/commits, or PATCH of one row) that must succeed.
  void write(const std::string& method, const std::string& target, const json::object& body) {
    auto response =
        client::http_request("127.0.0.1", server.port(), method, target, json::serialize(body),
                             {{"Authorization", "Bearer " + server.api_key()}, {"Content-Type", "application/json"}});
    ASSERT_TRUE(response && response->status == 200) << (response ? response->body : response.error().message);
  }
  void create_report(const std::string& id, const std::string& location) {
    json::object op{{"action", "create"},
                    {"model", "weatherReports"},
                    {"id", id},
                    {"data", json::object{{"location", location}, {"status", "pending"}}}};
    write("POST", "/v1/commits", json::object{{"operations", json::array{op}}});
  }
};

TEST_F(CliAgainstServerTest, WhoamiAndStatusInTextAndJson) {
  create_report("r1", "Oslo");
  auto whoami = run_ablo_in(dir.path(), "whoami --json" + api());
  ASSERT_EQ(whoami.exit_code, 0) << whoami.err;
  const auto identity = json::parse(whoami.out).as_object();
  EXPECT_TRUE(identity.contains("participantKind"));
  EXPECT_TRUE(identity.contains("organizationId"));
  auto text = run_ablo_in(dir.path(), "whoami" + api());
  EXPECT_NE(text.out.find("organization: " + std::string(identity.at("organizationId").as_string())), std::string::npos)
      << text.out;

  // --json before the subcommand works as well.
  auto status = run_ablo_in(dir.path(), "--json status" + api());
  ASSERT_EQ(status.exit_code, 0) << status.err;
  const auto report = json::parse(status.out).as_object();
  EXPECT_EQ(report.at("health"), "healthy");
  EXPECT_EQ(report.at("ready").at("status"), "ready");
  EXPECT_EQ(report.at("ready").at("dataLocation").as_string(), server.data_dir());
  EXPECT_FALSE(report.at("ready").at("version").as_string().empty());
  EXPECT_TRUE(report.at("metrics").as_object().contains("ablo_websocket_connections")) << status.out;
  EXPECT_GE(report.at("metrics").at("ablo_commits_total").to_number<double>(), 1.0) << status.out;
  EXPECT_TRUE(report.at("identity").as_object().contains("participantId"));
  auto status_text = run_ablo_in(dir.path(), "status" + api());
  EXPECT_NE(status_text.out.find("data: " + server.data_dir()), std::string::npos) << status_text.out;
}

TEST_F(CliAgainstServerTest, DoctorPassesAndFailsWithAWrongKeyNamingTheFix) {
  std::ofstream(dir.path() / "schema.json") << kQuickstartSchema;
  auto healthy = run_ablo_in(dir.path(), "doctor --json" + api());
  EXPECT_EQ(healthy.exit_code, 0) << healthy.out;
  const auto checks = json::parse(healthy.out).at("checks").as_array();
  EXPECT_GE(checks.size(), 5u);
  for (const auto& check : checks) {
    EXPECT_NE(check.at("status"), "fail") << json::serialize(check);
    if (check.at("name") == "schema file") {
      EXPECT_EQ(check.at("status"), "ok") << json::serialize(check);
    }
  }

  auto wrong = run_ablo_in(dir.path(), "doctor" + url_of(server.port()) + " --key sk_test_not_a_real_key");
  EXPECT_EQ(wrong.exit_code, 1) << wrong.out;
  EXPECT_NE(wrong.out.find("fail  key accepted"), std::string::npos) << wrong.out;
  EXPECT_NE(wrong.out.find("fix: create a key"), std::string::npos) << wrong.out;
  EXPECT_NE(wrong.out.find("ABLO_API_KEY"), std::string::npos) << wrong.out;
}

TEST_F(CliAgainstServerTest, LogsPrintsRestWritesAndFiltersByModel) {
  create_report("r1", "Oslo");
  create_report("r2", "Bergen");
  write("PATCH", "/v1/models/weatherReports/r1", json::object{{"data", json::object{{"forecast", "rain"}}}});
  auto logs = run_ablo_in(dir.path(), "logs --model weatherReports" + api());
  ASSERT_EQ(logs.exit_code, 0) << logs.err;
  EXPECT_NE(logs.out.find("create weatherReports r1 [location,status]"), std::string::npos) << logs.out;
  EXPECT_NE(logs.out.find("create weatherReports r2 [location,status]"), std::string::npos) << logs.out;
  EXPECT_NE(logs.out.find("update weatherReports r1 [forecast"), std::string::npos) << logs.out;

  auto as_json = run_ablo_in(dir.path(), "logs --json --after 0" + api());
  ASSERT_EQ(as_json.exit_code, 0) << as_json.err;
  const auto events = json::parse(as_json.out).at("data").as_array();
  ASSERT_EQ(events.size(), 3u) << as_json.out;
  EXPECT_EQ(events[1].at("recordId"), "r2");
  EXPECT_EQ(events[2].at("op"), "update");

  auto unknown = run_ablo_in(dir.path(), "logs --model nothingLikeThis" + api());
  EXPECT_NE(unknown.exit_code, 0);
  EXPECT_TRUE(one_error_line(unknown.err, "model_not_found")) << unknown.err;

  // --follow prints what arrives later, until Ctrl-C.
  LongRunning follow(dir.path(), {"logs", "--follow", "--url", "http://127.0.0.1:" + std::to_string(server.port()),
                                  "--key", server.api_key()});
  ASSERT_TRUE(follow.wait_for("update weatherReports r1", 10s)) << follow.output();
  create_report("r3", "Tromsø");
  EXPECT_TRUE(follow.wait_for("weatherReports r3", 5s)) << follow.output();
  EXPECT_EQ(follow.stop(SIGINT), 0);
}

TEST_F(CliDevTest, ErrorsAreOneLineWithCodeAndHint) {
  auto no_key = run_ablo_in(dir.path(), "whoami --url http://127.0.0.1:9");
  EXPECT_EQ(no_key.exit_code, 1);
  EXPECT_TRUE(one_error_line(no_key.err, "apikey_missing")) << no_key.err;

  auto unreachable = run_ablo_in(dir.path(), "status --url http://127.0.0.1:9 --json");
  EXPECT_EQ(unreachable.exit_code, 1);
  EXPECT_TRUE(one_error_line(unreachable.err, "connection_failed")) << unreachable.err;
  EXPECT_NE(unreachable.err.find("ablo dev"), std::string::npos) << unreachable.err;
  EXPECT_TRUE(unreachable.out.empty()) << unreachable.out;

  ServerProcess server(kQuickstartSchema);
  auto wrong_key = run_ablo_in(dir.path(), "whoami" + url_of(server.port()) + " --key sk_test_wrong");
  EXPECT_EQ(wrong_key.exit_code, 1);
  EXPECT_TRUE(one_error_line(wrong_key.err, "apikey_invalid")) << wrong_key.err;
}

}  // namespace
}  // namespace ablo::testing
