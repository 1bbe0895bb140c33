// The one-line error format of every `ablo` command (cli/output.h).
#include "cli/output.h"

#include <gtest/gtest.h>

namespace ablo::cli {
namespace {

TEST(ErrorLineTest, IsOneLineWithCodeMessageAndHint) {
  Error error("source_network_error", "cannot connect:\n\tIs the server running?\n");
  EXPECT_EQ(one_line(error.message), "cannot connect: Is the server running?");
  EXPECT_EQ(hint_for(error), "the database is unreachable: check --database / DATABASE_URL");
  EXPECT_EQ(hint_for(with_hint(error, "do this")), "do this") << "a command's own hint wins";
}

TEST(ErrorLineTest, AServerEnvelopeKeepsItsCodeAndAnythingElseItsStatus) {
  const auto envelope =
      error_of_response({401, {}, R"({"code":"apikey_invalid","message":"The API key is unknown."})"});
  EXPECT_EQ(envelope.code, "apikey_invalid");
  EXPECT_EQ(envelope.message, "The API key is unknown.");
  const auto gateway = error_of_response({502, {}, "<html>bad gateway</html>"});
  EXPECT_EQ(gateway.code, "internal_error");
  EXPECT_EQ(gateway.message, "HTTP 502: <html>bad gateway</html>");
}

}  // namespace
}  // namespace ablo::cli
