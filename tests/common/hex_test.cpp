#include "common/hex.h"

#include <gtest/gtest.h>
#include <rapidcheck/gtest.h>

namespace ablo {
namespace {

TEST(Hex, EncodesEveryByteAsTwoLowercaseDigits) {
  EXPECT_EQ(hex_encode(std::string("\x00\x0f\xa0\xff", 4)), "000fa0ff");
  EXPECT_EQ(hex_encode(""), "");
}

TEST(Hex, DecodesOnlyWhatEncodeWrites) {
  EXPECT_EQ(hex_decode("000fa0ff"), std::string("\x00\x0f\xa0\xff", 4));
  EXPECT_EQ(hex_decode(""), std::string());
  EXPECT_FALSE(hex_decode("abc")) << "odd length";
  EXPECT_FALSE(hex_decode("AB")) << "uppercase";
  EXPECT_FALSE(hex_decode("0g")) << "not a digit";
}

RC_GTEST_PROP(Hex, DecodeUndoesEncode, (const std::string& bytes)) {
  const auto hex = hex_encode(bytes);
  RC_ASSERT(hex.size() == 2 * bytes.size());
  RC_ASSERT(hex_decode(hex) == bytes);
}

}  // namespace
}  // namespace ablo
