#include "auth/keys.h"

#include <iterator>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <rapidcheck.h>
#include <rapidcheck/gtest.h>

#include "common/random.h"

namespace ablo::auth {
namespace {

constexpr KeyPrefix kAllPrefixes[] = {KeyPrefix::kSecret, KeyPrefix::kRestricted, KeyPrefix::kEphemeral,
                                      KeyPrefix::kPublishable};
constexpr KeyEnv kAllEnvs[] = {KeyEnv::kLive, KeyEnv::kTest};

std::size_t header_length(const std::string& key) { return key.find('_', key.find('_') + 1) + 1; }

TEST(Keys, PrefixAndEnvNamesMatchTheWireFormat) {
  EXPECT_EQ(to_string(KeyPrefix::kSecret), "sk");
  EXPECT_EQ(to_string(KeyPrefix::kRestricted), "rk");
  EXPECT_EQ(to_string(KeyPrefix::kEphemeral), "ek");
  EXPECT_EQ(to_string(KeyPrefix::kPublishable), "pk");
  EXPECT_EQ(to_string(KeyEnv::kLive), "live");
  EXPECT_EQ(to_string(KeyEnv::kTest), "test");
}

TEST(Keys, Crc32MatchesTheCheckValue) {
  EXPECT_EQ(crc32("123456789"), 0xCBF43926u);
  EXPECT_EQ(crc32(""), 0u);
  EXPECT_EQ(crc32("abc"), 891568578u);
}

TEST(Keys, Checksum62IsSixBase62DigitsMostSignificantFirst) {
  EXPECT_EQ(checksum62("123456789"), "3jZRME");  // 0xCBF43926 = 3421780262 in base62
  for (const char* text : {"a", "sk_test_", "hello world", "pk_live_0123456789"}) {
    const auto digits = checksum62(text);
    ASSERT_EQ(digits.size(), 6u) << text;
    uint64_t value = 0;
    for (char c : digits) value = value * 62 + kBase62Alphabet.find(c);
    EXPECT_EQ(value, crc32(text)) << text;
  }
}

TEST(Keys, Checksum62IsLeftPaddedWithZeros) {
  EXPECT_EQ(checksum62(""), "000000");    // CRC 0
  EXPECT_EQ(checksum62("abc"), "0yKviM");  // 891568578 < 62^5
  EXPECT_EQ(checksum62("ob"), "0006mh");   // 26083 < 62^3
}

TEST(Keys, GeneratedKeysParseBackChecksummedWithTheirPrefixAndEnv) {
  for (KeyPrefix prefix : kAllPrefixes) {
    for (KeyEnv env : kAllEnvs) {
      const auto key = generate_key(prefix, env);
      const std::string header = std::string(to_string(prefix)) + "_" + std::string(to_string(env)) + "_";
      ASSERT_EQ(key.rfind(header, 0), 0u) << key;
      EXPECT_EQ(key.size(), header.size() + 36);
      auto parsed = parse_key(key);
      ASSERT_TRUE(parsed) << key;
      EXPECT_TRUE(parsed->checksummed);
      EXPECT_EQ(parsed->prefix, prefix);
      EXPECT_EQ(parsed->env, env);
      EXPECT_EQ(parsed->body, key.substr(header.size()));
      EXPECT_EQ(parsed->body.substr(30), checksum62(key.substr(0, header.size() + 30)));
    }
  }
}

TEST(Keys, GeneratedKeysAreDistinct) {
  EXPECT_NE(generate_key(KeyPrefix::kSecret, KeyEnv::kLive), generate_key(KeyPrefix::kSecret, KeyEnv::kLive));
}

TEST(Keys, RejectsFlippedChecksumCharacter) {
  auto key = generate_key(KeyPrefix::kRestricted, KeyEnv::kLive);
  key.back() = key.back() == 'a' ? 'b' : 'a';
  EXPECT_FALSE(parse_key(key));
}

TEST(Keys, RejectsFlippedRandomBodyCharacter) {
  auto key = generate_key(KeyPrefix::kSecret, KeyEnv::kTest);
  char& c = key[std::string("sk_test_").size() + 3];
  c = c == 'Z' ? 'Y' : 'Z';
  EXPECT_FALSE(parse_key(key));
}

TEST(Keys, ChecksumCoversPrefixAndEnv) {
  const auto key = generate_key(KeyPrefix::kSecret, KeyEnv::kTest);
  EXPECT_FALSE(parse_key("rk" + key.substr(2)));
  EXPECT_FALSE(parse_key("sk_live" + key.substr(7)));
}

TEST(Keys, AcceptsLegacyBodiesUnchecksummed) {
  auto legacy = parse_key("sk_live_abc-DEF_123");
  ASSERT_TRUE(legacy);
  EXPECT_FALSE(legacy->checksummed);
  EXPECT_EQ(legacy->prefix, KeyPrefix::kSecret);
  EXPECT_EQ(legacy->env, KeyEnv::kLive);
  EXPECT_EQ(legacy->body, "abc-DEF_123");

  // A typical legacy body: 43 base64url chars.
  auto base64url = parse_key("pk_test_Zm9vYmFyYmF6cXV4cXV1eA-_Zm9vYmFyYmF6cXV4cX");
  ASSERT_TRUE(base64url);
  EXPECT_FALSE(base64url->checksummed);
  EXPECT_EQ(base64url->prefix, KeyPrefix::kPublishable);
}

TEST(Keys, OnlyThirtySixBase62CharBodiesAreTreatedAsChecksummed) {
  const std::string base62_35 = random_base62(35);
  const std::string base62_37 = random_base62(37);
  auto short_body = parse_key("ek_test_" + base62_35);
  ASSERT_TRUE(short_body);
  EXPECT_FALSE(short_body->checksummed);
  auto long_body = parse_key("ek_test_" + base62_37);
  ASSERT_TRUE(long_body);
  EXPECT_FALSE(long_body->checksummed);
  // 36 chars with an underscore or dash is not base62, so it is legacy.
  auto with_dash = parse_key("ek_test_" + random_base62(35) + "-");
  ASSERT_TRUE(with_dash);
  EXPECT_FALSE(with_dash->checksummed);
}

TEST(Keys, RejectsThirtySixBase62CharBodyWithWrongChecksum) {
  const std::string random_part = random_base62(30);
  const std::string good = checksum62("sk_test_" + random_part);
  const std::string bad = good == "000000" ? "000001" : "000000";
  EXPECT_TRUE(parse_key("sk_test_" + random_part + good));
  EXPECT_FALSE(parse_key("sk_test_" + random_part + bad));
}

TEST(Keys, RejectsUnknownPrefix) {
  EXPECT_FALSE(parse_key("xk_test_abc"));
  EXPECT_FALSE(parse_key("SK_test_abc"));
  EXPECT_FALSE(parse_key("whsec_test_abc"));
  EXPECT_FALSE(parse_key("_test_abc"));
}

TEST(Keys, RejectsUnknownEnv) {
  EXPECT_FALSE(parse_key("sk_prod_abc"));
  EXPECT_FALSE(parse_key("sk_LIVE_abc"));
  EXPECT_FALSE(parse_key("sk__test_abc"));
  EXPECT_FALSE(parse_key("sk_test"));
}

TEST(Keys, RejectsMissingSeparatorsOrEmptyBody) {
  EXPECT_FALSE(parse_key(""));
  EXPECT_FALSE(parse_key("sk"));
  EXPECT_FALSE(parse_key("sktestabc"));
  EXPECT_FALSE(parse_key("sk-test-abc"));
  EXPECT_FALSE(parse_key("sk_test_"));
}

TEST(Keys, RejectsBodyCharactersOutsideTheAllowedSet) {
  EXPECT_FALSE(parse_key("sk_test_a+b/c="));
  EXPECT_FALSE(parse_key("sk_test_abc def"));
  EXPECT_FALSE(parse_key("sk_test_abc."));
  EXPECT_FALSE(parse_key("sk_test_abc\n"));
  EXPECT_FALSE(parse_key(std::string("sk_test_ab\0c", 12)));
  EXPECT_FALSE(parse_key("sk_test_caf\xc3\xa9"));
}

TEST(Keys, Sha256HexMatchesTheKnownVectors) {
  EXPECT_EQ(sha256_hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_EQ(sha256_hex(""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
}

TEST(Keys, DisplayPrefixIsTheFirstTwelveCharacters) {
  EXPECT_EQ(display_prefix("sk_test_abcdefghijkl"), "sk_test_abcd");
  EXPECT_EQ(display_prefix("sk_test_ab"), "sk_test_ab");
}

RC_GTEST_PROP(Keys, GeneratedKeysRoundTripAndRejectAnySingleBodyMutation,
              (std::size_t position, std::size_t replacement)) {
  const KeyPrefix prefix = *rc::gen::elementOf(std::vector<KeyPrefix>(std::begin(kAllPrefixes), std::end(kAllPrefixes)));
  const KeyEnv env = *rc::gen::elementOf(std::vector<KeyEnv>(std::begin(kAllEnvs), std::end(kAllEnvs)));
  const std::string key = generate_key(prefix, env);

  const auto parsed = parse_key(key);
  RC_ASSERT(parsed.has_value());
  RC_ASSERT(parsed->checksummed);
  RC_ASSERT(parsed->prefix == prefix);
  RC_ASSERT(parsed->env == env);

  const std::size_t index = header_length(key) + position % 36;
  const char c = kBase62Alphabet[replacement % kBase62Alphabet.size()];
  RC_PRE(c != key[index]);
  std::string mutated = key;
  mutated[index] = c;
  RC_ASSERT(!parse_key(mutated).has_value());
}

}  // namespace
}  // namespace ablo::auth
