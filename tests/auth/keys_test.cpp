#include "auth/keys.h"

#include <gtest/gtest.h>
#include <rapidcheck/gtest.h>

namespace ablo::auth {
namespace {

TEST(Keys, Crc32MatchesTheCheckValue) { EXPECT_EQ(crc32("123456789"), 0xCBF43926u); }

TEST(Keys, GeneratedKeysParseBackChecksummed) {
  const auto key = generate_key(KeyPrefix::kSecret, KeyEnv::kTest);
  EXPECT_EQ(key.size(), std::string("sk_test_").size() + 36);
  auto parsed = parse_key(key);
  ASSERT_TRUE(parsed);
  EXPECT_TRUE(parsed->checksummed);
  EXPECT_EQ(parsed->prefix, KeyPrefix::kSecret);
  EXPECT_EQ(parsed->env, KeyEnv::kTest);
}

TEST(Keys, RejectsAFlippedChecksumCharacter) {
  auto key = generate_key(KeyPrefix::kRestricted, KeyEnv::kLive);
  key.back() = key.back() == 'a' ? 'b' : 'a';
  EXPECT_FALSE(parse_key(key));
}

TEST(Keys, AcceptsLegacyBodiesAndRejectsMalformedKeys) {
  auto legacy = parse_key("sk_live_abc-DEF_123");
  ASSERT_TRUE(legacy);
  EXPECT_FALSE(legacy->checksummed);
  EXPECT_FALSE(parse_key("xk_test_abc"));
  EXPECT_FALSE(parse_key("sk_prod_abc"));
  EXPECT_FALSE(parse_key("sk_test_"));
  EXPECT_FALSE(parse_key("sk_test_a+b/c="));
}

TEST(Keys, Sha256HexMatchesTheKnownVector) {
  EXPECT_EQ(sha256_hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

RC_GTEST_PROP(Keys, AnySingleBodyMutationIsRejected, (unsigned position, unsigned replacement)) {
  const auto key = generate_key(KeyPrefix::kSecret, KeyEnv::kTest);
  const std::size_t index = 8 + position % 36;
  std::string mutated = key;
  const char alphabet[] = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
  const char c = alphabet[replacement % 62];
  RC_PRE(c != key[index]);
  mutated[index] = c;
  RC_ASSERT(!parse_key(mutated));
}

}  // namespace
}  // namespace ablo::auth
