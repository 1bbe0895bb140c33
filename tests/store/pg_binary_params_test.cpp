// TEXT[] parameters in PostgreSQL's binary format (pg::binary_text_array): what a commit group's
// many-row writes send. Every value must come back from the server exactly as sent — quotes,
// backslashes, braces, commas, non-ASCII text, empty strings and NULLs included — both alone
// and in a pipeline beside text parameters.
#include <optional>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <rapidcheck.h>
#include <rapidcheck/gtest.h>

#include "pg/connection.h"
#include "support/pg_database.h"

namespace ablo::pg {
namespace {

constexpr std::string_view kUnnest = "SELECT v FROM unnest($1::text[]) WITH ORDINALITY AS u(v, n) ORDER BY n";

std::vector<const Param*> pointers(const std::vector<Param>& values) {
  std::vector<const Param*> out;
  for (const auto& value : values) out.push_back(&value);
  return out;
}

std::vector<Param> read_back(const Rows& rows) {
  std::vector<Param> out;
  for (int i = 0; i < rows.size(); ++i) out.push_back(rows.is_null(i, 0) ? Param() : Param(rows.text(i, 0)));
  return out;
}

std::unique_ptr<Connection> connect(const testing::TempPgDatabase& database) {
  auto conn = Connection::open(database.url());
  if (!conn) throw std::runtime_error(conn.error().message);
  return std::move(*conn);
}

TEST(PgBinaryParams, EveryTextArrayElementComesBackAsSent) {
  if (testing::test_database_url().empty()) GTEST_SKIP() << "ABLO_TEST_DATABASE_URL is not set";
  testing::TempPgDatabase database;
  auto conn = connect(database);
  const std::vector<Param> values = {
      Param(""),
      Param("plain"),
      Param(R"(a "quote", a \backslash\, {braces} and NULL)"),
      Param(),
      Param("ünïcödé ✓ 日本"),
      Param(std::string(100'000, 'x') + "\"\\"),
      Param(),
  };
  auto rows = conn->exec(kUnnest, {binary_text_array(pointers(values))}, {Connection::kBinary});
  ASSERT_TRUE(rows) << rows.error().message;
  EXPECT_EQ(read_back(*rows), values);
}

TEST(PgBinaryParams, AnEmptyArrayHasNoElements) {
  if (testing::test_database_url().empty()) GTEST_SKIP() << "ABLO_TEST_DATABASE_URL is not set";
  testing::TempPgDatabase database;
  auto conn = connect(database);
  auto rows = conn->exec(kUnnest, {binary_text_array({})}, {Connection::kBinary});
  ASSERT_TRUE(rows) << rows.error().message;
  EXPECT_EQ(rows->size(), 0);
}

// The pipeline path (several statements in one round trip) with binary and text parameters
// mixed in one statement and across statements, and the values cast to other column types.
TEST(PgBinaryParams, PipelinedStatementsMixBinaryAndTextParameters) {
  if (testing::test_database_url().empty()) GTEST_SKIP() << "ABLO_TEST_DATABASE_URL is not set";
  testing::TempPgDatabase database;
  auto conn = connect(database);
  ASSERT_TRUE(conn->exec_script("CREATE TABLE t (id BIGINT, label TEXT, doc JSONB, note TEXT)"));
  const std::vector<Param> ids = {Param("1"), Param("2")};
  const std::vector<Param> labels = {Param("a,\"b\""), Param()};
  const std::vector<Param> docs = {Param(R"({"k":"v \"q\""})"), Param("[1,2]")};
  std::vector<Connection::Statement> statements;
  statements.push_back({"INSERT INTO t (id, label, doc, note) SELECT id::bigint, label, doc::jsonb, $4 FROM "
                        "unnest($1::text[], $2::text[], $3::text[]) AS u(id, label, doc)",
                        {binary_text_array(pointers(ids)), binary_text_array(pointers(labels)),
                         binary_text_array(pointers(docs)), Param("text {param}")},
                        {Connection::kBinary, Connection::kBinary, Connection::kBinary}});
  statements.push_back({"INSERT INTO t (id, label) VALUES ($1, $2)", {Param("3"), Param("plain text")}});
  ASSERT_TRUE(conn->exec_pipelined(statements));

  auto rows = conn->exec("SELECT id, label, doc::text, note FROM t ORDER BY id");
  ASSERT_TRUE(rows) << rows.error().message;
  ASSERT_EQ(rows->size(), 3);
  EXPECT_EQ(rows->int64(0, 0), 1);
  EXPECT_EQ(rows->text(0, 1), "a,\"b\"");
  EXPECT_EQ(rows->text(0, 2), R"({"k": "v \"q\""})");
  EXPECT_EQ(rows->text(0, 3), "text {param}");
  EXPECT_TRUE(rows->is_null(1, 1));
  EXPECT_EQ(rows->text(1, 2), "[1, 2]");
  EXPECT_EQ(rows->text(2, 1), "plain text");
}

// Any printable or escaping-prone ASCII text (PostgreSQL text holds no NUL byte), in any
// arrangement with NULLs.
RC_GTEST_PROP(PgBinaryParams, ArbitraryTextsRoundTrip, ()) {
  if (testing::test_database_url().empty()) return;
  static testing::TempPgDatabase database;
  static auto conn = connect(database);
  const auto values = *rc::gen::container<std::vector<Param>>(rc::gen::oneOf(
      rc::gen::just(Param()), rc::gen::map(rc::gen::container<std::string>(rc::gen::inRange<char>(1, 127)),
                                            [](std::string text) { return Param(std::move(text)); })));
  auto rows = conn->exec(kUnnest, {binary_text_array(pointers(values))}, {Connection::kBinary});
  RC_ASSERT(rows.has_value());
  RC_ASSERT(read_back(*rows) == values);
}

}  // namespace
}  // namespace ablo::pg
