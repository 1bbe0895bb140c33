// The database commands of the `ablo` binary against a real PostgreSQL (postgres pass):
// migrate (plan first, --dry-run changes nothing), check (read-only fit check) and pull.
#include <cstdio>
#include <fstream>

#include <boost/json.hpp>
#include <gtest/gtest.h>
#include <sys/wait.h>

#include "integration/quickstart_schema.h"
#include "integration/server_fixture.h"
#include "support/pg_database.h"
#include "support/temp_dir.h"

namespace ablo::testing {
namespace {

namespace json = boost::json;

struct Run {
  int exit_code = -1;
  std::string output;  // stdout and stderr
};

Run ablo(const std::string& args) {
  Run run;
  FILE* pipe = popen((server_binary() + " " + args + " 2>&1").c_str(), "r");
  if (!pipe) return run;
  char buffer[4096];
  while (std::size_t n = fread(buffer, 1, sizeof buffer, pipe)) run.output.append(buffer, n);
  const int status = pclose(pipe);
  run.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return run;
}

int64_t count(const std::string& url, const std::string& sql) {
  auto conn = pg::Connection::open(url);
  EXPECT_TRUE(conn);
  auto rows = (*conn)->exec(sql);
  EXPECT_TRUE(rows) << (rows ? "" : rows.error().message);
  return rows ? rows->int64(0, 0) : -1;
}

class CliTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!testing_postgres()) GTEST_SKIP() << "database commands run in the PostgreSQL pass";
    database = std::make_unique<TempPgDatabase>();
    schema_file = (dir.path() / "schema.json").string();
    std::ofstream(schema_file) << kQuickstartSchema;
  }
  std::string on_db() const { return " --database " + database->url(); }
  int64_t tables(const std::string& name) const {
    return count(database->url(), "SELECT count(*) FROM information_schema.tables WHERE table_name = '" + name + "'");
  }

  TempDir dir;
  std::unique_ptr<TempPgDatabase> database;
  std::string schema_file;
};

TEST_F(CliTest, MigratePrintsThePlanAndDryRunChangesNothing) {
  auto dry = ablo("migrate " + schema_file + on_db() + " --dry-run");
  EXPECT_EQ(dry.exit_code, 0) << dry.output;
  EXPECT_NE(dry.output.find("create_model"), std::string::npos) << dry.output;
  EXPECT_EQ(tables("weatherReports"), 0);

  auto applied = ablo("migrate " + schema_file + on_db());
  EXPECT_EQ(applied.exit_code, 0) << applied.output;
  EXPECT_EQ(tables("weatherReports"), 1);
  auto again = ablo("migrate " + schema_file + on_db() + " --dry-run");
  EXPECT_EQ(again.output.find("create_model"), std::string::npos) << "nothing left to do: " << again.output;
}

TEST_F(CliTest, CheckPassesForMigratedTablesAndNamesAMissingColumn) {
  ASSERT_EQ(ablo("migrate " + schema_file + on_db()).exit_code, 0);
  auto fits = ablo("check " + schema_file + on_db());
  EXPECT_EQ(fits.exit_code, 0) << fits.output;

  auto conn = pg::Connection::open(database->url());
  ASSERT_TRUE(conn);
  ASSERT_TRUE((*conn)->exec_script(R"(ALTER TABLE "weatherReports" DROP COLUMN forecast)"));
  auto broken = ablo("check " + schema_file + on_db());
  EXPECT_EQ(broken.exit_code, 1) << broken.output;
  EXPECT_NE(broken.output.find("forecast"), std::string::npos) << broken.output;
}

TEST_F(CliTest, PullWritesASchemaThatDescribesTheTables) {
  ASSERT_EQ(ablo("migrate " + schema_file + on_db()).exit_code, 0);
  const std::string out = (dir.path() / "pulled.json").string();
  auto pulled = ablo("pull -o " + out + on_db());
  ASSERT_EQ(pulled.exit_code, 0) << pulled.output;
  std::ifstream in(out);
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  const auto document = json::parse(text);
  const auto& fields = document.at("models").at("weatherReports").at("fields").as_object();
  EXPECT_TRUE(fields.contains("location"));
  EXPECT_EQ(fields.at("status").at("type"), "enum");
  auto fits = ablo("check " + out + on_db());
  EXPECT_EQ(fits.exit_code, 0) << "a pulled schema fits its own tables: " << fits.output;
}

}  // namespace
}  // namespace ablo::testing
