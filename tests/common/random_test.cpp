#include "common/random.h"

#include <regex>
#include <set>
#include <string>

#include <gtest/gtest.h>

namespace ablo {
namespace {

TEST(Random, Base62HasTheRequestedLengthAndAlphabet) {
  for (std::size_t length : {0u, 1u, 30u, 63u, 64u, 65u, 1000u}) {
    const auto text = random_base62(length);
    EXPECT_EQ(text.size(), length);
    for (char c : text) EXPECT_NE(kBase62Alphabet.find(c), std::string_view::npos) << c;
  }
}

TEST(Random, Base62UsesTheWholeAlphabet) {
  const auto text = random_base62(20000);
  const std::set<char> seen(text.begin(), text.end());
  EXPECT_EQ(seen.size(), kBase62Alphabet.size());
}

TEST(Random, Base62StringsAreDistinct) { EXPECT_NE(random_base62(30), random_base62(30)); }

TEST(Random, UuidsAreVersion4AndDistinct) {
  const std::regex v4("^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$");
  std::set<std::string> seen;
  for (int i = 0; i < 200; ++i) {
    const auto id = random_uuid();
    EXPECT_TRUE(std::regex_match(id, v4)) << id;
    seen.insert(id);
  }
  EXPECT_EQ(seen.size(), 200u);
}

TEST(Random, IdsCarryTheirPrefixAndRequestedLength) {
  const auto id = random_id("req", 10);
  EXPECT_EQ(id.rfind("req_", 0), 0u);
  EXPECT_EQ(id.size(), 4u + 10u);
  for (char c : id.substr(4)) EXPECT_NE(kBase62Alphabet.find(c), std::string_view::npos) << c;
}

TEST(Random, IdsDefaultToTwentyRandomCharacters) {
  const auto id = random_id("cap");
  EXPECT_EQ(id.rfind("cap_", 0), 0u);
  EXPECT_EQ(id.size(), 4u + 20u);
  EXPECT_NE(random_id("cap"), random_id("cap"));
}

}  // namespace
}  // namespace ablo
