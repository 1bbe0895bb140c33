// How every client command finds its server and key (cli/api_target.h).
#include "cli/api_target.h"

#include <cstdlib>
#include <fstream>

#include <gtest/gtest.h>

#include "support/temp_dir.h"

namespace ablo::cli {
namespace {

TEST(ApiTargetTest, TheUrlGivesHostPortAndBasePathAndHostPortOverrideIt) {
  ApiTargetOptions options;
  options.url = "http://example.internal:9000/ablo/";
  options.key = "sk_live_x";
  auto endpoint = resolve_api_target(options);
  ASSERT_TRUE(endpoint) << endpoint.error().message;
  EXPECT_EQ(endpoint->host, "example.internal");
  EXPECT_EQ(endpoint->port, 9000);
  EXPECT_EQ(endpoint->base_path, "/ablo");
  EXPECT_EQ(endpoint->url(), "http://example.internal:9000/ablo");
  EXPECT_FALSE(endpoint->loopback());

  options.host = "127.0.0.1";
  options.port = 8788;
  endpoint = resolve_api_target(options);
  ASSERT_TRUE(endpoint);
  EXPECT_EQ(endpoint->url(), "http://127.0.0.1:8788/ablo");
  EXPECT_TRUE(endpoint->loopback());
}

TEST(ApiTargetTest, ANonHttpUrlAndAMissingKeyAreErrorsWithHints) {
  ApiTargetOptions options;
  options.url = "https://example.com";
  auto endpoint = resolve_api_target(options);
  ASSERT_FALSE(endpoint);
  EXPECT_EQ(endpoint.error().code, "invalid_request");
  EXPECT_TRUE(endpoint.error().details.contains("hint"));

  options.url = kDefaultApiUrl;
  endpoint = resolve_api_target(options);
  ASSERT_TRUE(endpoint);
  EXPECT_EQ(endpoint->port, 8787);
  auto keyed = endpoint->require_key();
  ASSERT_FALSE(keyed);
  EXPECT_EQ(keyed.error().code, "apikey_missing");
}

TEST(ApiTargetTest, DotenvFillsOnlyWhatTheEnvironmentLacks) {
  testing::TempDir dir;
  const auto env_file = (dir.path() / ".env").string();
  std::ofstream(env_file) << "OTHER=1\nABLO_API_KEY=sk_test_from_file\nABLO_API_URL=http://127.0.0.1:9999\n";
  unsetenv("ABLO_API_KEY");
  setenv("ABLO_API_URL", "http://127.0.0.1:1234", 1);
  load_dotenv_defaults(env_file);
  EXPECT_STREQ(std::getenv("ABLO_API_KEY"), "sk_test_from_file");
  EXPECT_STREQ(std::getenv("ABLO_API_URL"), "http://127.0.0.1:1234") << "the environment wins";
  EXPECT_EQ(std::getenv("OTHER"), nullptr) << "only the two ABLO_API_ names are read";
  unsetenv("ABLO_API_KEY");
  unsetenv("ABLO_API_URL");
}

}  // namespace
}  // namespace ablo::cli
