#include "common/json_number.h"

#include <limits>

#include <boost/json.hpp>
#include <gtest/gtest.h>

namespace ablo {
namespace {

namespace json = boost::json;

constexpr int64_t kMin = std::numeric_limits<int64_t>::min();
constexpr int64_t kMax = std::numeric_limits<int64_t>::max();

TEST(ExactInt64, AcceptsEveryExactIntegerInRange) {
  EXPECT_EQ(exact_int64(json::parse("0")), 0);
  EXPECT_EQ(exact_int64(json::parse("-42")), -42);
  EXPECT_EQ(exact_int64(json::parse("9223372036854775807")), kMax);
  EXPECT_EQ(exact_int64(json::parse("-9223372036854775808")), kMin);
  EXPECT_EQ(exact_int64(json::parse("3.0")), 3) << "an integral double is that integer";
  EXPECT_EQ(exact_int64(json::parse("1e3")), 1000);
}

TEST(ExactInt64, RejectsFractionsOverflowAndNonNumbers) {
  EXPECT_EQ(exact_int64(json::parse("1.5")), std::nullopt);
  EXPECT_EQ(exact_int64(json::parse("1e300")), std::nullopt);
  EXPECT_EQ(exact_int64(json::parse("-1e300")), std::nullopt);
  EXPECT_EQ(exact_int64(json::parse("9223372036854775808")), std::nullopt) << "uint64 above INT64_MAX";
  EXPECT_EQ(exact_int64(json::parse("18446744073709551615")), std::nullopt);
  EXPECT_EQ(exact_int64(json::value(9223372036854775808.0)), std::nullopt) << "2^63 as a double";
  EXPECT_EQ(exact_int64(json::parse("\"7\"")), std::nullopt);
  EXPECT_EQ(exact_int64(json::parse("null")), std::nullopt);
  EXPECT_EQ(exact_int64(json::parse("true")), std::nullopt);
}

TEST(ExactInt64In, AppliesTheBounds) {
  EXPECT_EQ(exact_int64_in(json::parse("5"), 0, 10), 5);
  EXPECT_EQ(exact_int64_in(json::parse("-1"), 0, 10), std::nullopt);
  EXPECT_EQ(exact_int64_in(json::parse("11"), 0, 10), std::nullopt);
}

TEST(ExactUint64, AcceptsTheWholeUnsignedRangeOnly) {
  EXPECT_EQ(exact_uint64(json::parse("18446744073709551615")), std::numeric_limits<uint64_t>::max());
  EXPECT_EQ(exact_uint64(json::parse("7")), 7u);
  EXPECT_EQ(exact_uint64(json::parse("-1")), std::nullopt);
  EXPECT_EQ(exact_uint64(json::parse("0.5")), std::nullopt);
  EXPECT_EQ(exact_uint64(json::parse("1e30")), std::nullopt);
}

TEST(ClampedInt64, TruncatesAndClampsAnyNumber) {
  EXPECT_EQ(clamped_int64(json::parse("1.9"), 0, 100), 1);
  EXPECT_EQ(clamped_int64(json::parse("1e300"), 0, 100), 100);
  EXPECT_EQ(clamped_int64(json::parse("-1e300"), 0, 100), 0);
  EXPECT_EQ(clamped_int64(json::parse("18446744073709551615"), 0, 100), 100);
  EXPECT_EQ(clamped_int64(json::parse("1e300"), kMin, kMax), kMax) << "no undefined double-to-int conversion";
  EXPECT_EQ(clamped_int64(json::parse("-1e300"), kMin, kMax), kMin);
  EXPECT_EQ(clamped_int64(json::parse("\"5\""), 0, 100), std::nullopt);
}

TEST(NumberAsDouble, ReadsEveryNumberKind) {
  EXPECT_EQ(number_as_double(json::parse("3")), 3.0);
  EXPECT_EQ(number_as_double(json::parse("18446744073709551615")), 18446744073709551615.0);
  EXPECT_EQ(number_as_double(json::parse("0.25")), 0.25);
  EXPECT_EQ(number_as_double(json::parse("[]")), std::nullopt);
}

TEST(Int64Member, AbsentIsTheFallbackAndAWrongValueIsInvalidRequest) {
  const auto object = json::parse(R"({"a": 7, "b": 1.5, "c": "x", "d": null})").as_object();
  EXPECT_EQ(*int64_member(object, "a", 0, "a"), 7);
  EXPECT_EQ(*int64_member(object, "missing", 9, "missing"), 9);
  EXPECT_EQ(*int64_member(object, "d", 9, "d"), 9);
  for (const char* key : {"b", "c"}) {
    auto bad = int64_member(object, key, 0, key);
    ASSERT_FALSE(bad) << key;
    EXPECT_EQ(bad.error().code, "invalid_request");
    EXPECT_EQ(bad.error().param, key);
  }
  auto out_of_range = int64_member(object, "a", 0, "a", 0, 5);
  ASSERT_FALSE(out_of_range);
  EXPECT_NE(out_of_range.error().message.find("between 0 and 5"), std::string::npos) << out_of_range.error().message;
}

}  // namespace
}  // namespace ablo
