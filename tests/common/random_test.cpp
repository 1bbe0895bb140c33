#include "common/random.h"

#include <regex>
#include <set>

#include <gtest/gtest.h>

namespace ablo {
namespace {

TEST(Random, Base62HasTheRequestedLengthAndAlphabet) {
  const auto text = random_base62(100);
  EXPECT_EQ(text.size(), 100u);
  for (char c : text) EXPECT_NE(kBase62Alphabet.find(c), std::string_view::npos);
}

TEST(Random, UuidsAreVersion4AndDistinct) {
  const std::regex v4("^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$");
  std::set<std::string> seen;
  for (int i = 0; i < 100; ++i) {
    const auto id = random_uuid();
    EXPECT_TRUE(std::regex_match(id, v4)) << id;
    seen.insert(id);
  }
  EXPECT_EQ(seen.size(), 100u);
}

TEST(Random, IdsCarryTheirPrefix) { EXPECT_EQ(random_id("req", 10).rfind("req_", 0), 0u); }

}  // namespace
}  // namespace ablo
