#include "common/time.h"

#include <gtest/gtest.h>
#include <rapidcheck.h>
#include <rapidcheck/gtest.h>

namespace ablo {
namespace {

constexpr int64_t kMaxTimeMs = 8'640'000'000'000'000;  // ECMA-262 time value range

TEST(HttpDate, FormatsAndParsesTheImfFixdateOfRfc9110) {
  EXPECT_EQ(http_date_from_ms(784111777000), "Sun, 06 Nov 1994 08:49:37 GMT");  // RFC 9110's own example
  EXPECT_EQ(http_date_from_ms(0), "Thu, 01 Jan 1970 00:00:00 GMT");
  EXPECT_EQ(http_date_from_ms(1796000000999), "Mon, 30 Nov 2026 00:53:20 GMT");
  // The inverse, whole seconds; what is not an IMF-fixdate is refused.
  EXPECT_EQ(http_date_to_ms("Sun, 06 Nov 1994 08:49:37 GMT"), 784111777000);
  EXPECT_EQ(http_date_to_ms(http_date_from_ms(1796000000999)), 1796000000000);
  EXPECT_EQ(http_date_to_ms("Sun, 06 Foo 1994 08:49:37 GMT"), std::nullopt);
  EXPECT_EQ(http_date_to_ms("yesterday"), std::nullopt);
}

TEST(Iso8601, FormatsLikeJavaScriptToIsoString) {
  EXPECT_EQ(iso8601_from_ms(0), "1970-01-01T00:00:00.000Z");
  EXPECT_EQ(iso8601_from_ms(1735787045678), "2025-01-02T03:04:05.678Z");
  EXPECT_EQ(iso8601_from_ms(1709208000000), "2024-02-29T12:00:00.000Z");
}

TEST(Iso8601, FormatsNegativeMillisecondsBeforeTheEpoch) {
  EXPECT_EQ(iso8601_from_ms(-1), "1969-12-31T23:59:59.999Z");
  EXPECT_EQ(iso8601_from_ms(-1000), "1969-12-31T23:59:59.000Z");
  EXPECT_EQ(iso8601_from_ms(-14182940000), "1969-07-20T20:17:40.000Z");
  EXPECT_EQ(iso8601_from_ms(-62135596800000), "0001-01-01T00:00:00.000Z");
}

TEST(Iso8601, FormatsYearsOutsideFourDigitsInExpandedForm) {
  EXPECT_EQ(iso8601_from_ms(-62167219200000), "0000-01-01T00:00:00.000Z");
  EXPECT_EQ(iso8601_from_ms(-62167219200001), "-000001-12-31T23:59:59.999Z");
  EXPECT_EQ(iso8601_from_ms(253402300800000), "+010000-01-01T00:00:00.000Z");
  EXPECT_EQ(iso8601_from_ms(kMaxTimeMs), "+275760-09-13T00:00:00.000Z");
  EXPECT_EQ(iso8601_from_ms(-kMaxTimeMs), "-271821-04-20T00:00:00.000Z");
}

TEST(Iso8601, ParsesUtcTimestampWithMilliseconds) {
  EXPECT_EQ(parse_iso8601_ms("2025-01-02T03:04:05.678Z"), 1735787045678);
  EXPECT_EQ(parse_iso8601_ms("1970-01-01T00:00:00.000Z"), 0);
  EXPECT_EQ(parse_iso8601_ms("1969-12-31T23:59:59.999Z"), -1);
}

TEST(Iso8601, ParsesOffsetForms) {
  EXPECT_EQ(parse_iso8601_ms("2025-01-02T05:04:05.678+02:00"), 1735787045678);
  EXPECT_EQ(parse_iso8601_ms("2025-01-02T05:04:05.678+0200"), 1735787045678);
  EXPECT_EQ(parse_iso8601_ms("2025-01-01T23:30:00-05:30"), 1735794000000);
}

TEST(Iso8601, ParsesDateOnlyAsUtcMidnight) {
  EXPECT_EQ(parse_iso8601_ms("2025-01-02"), 1735776000000);
  EXPECT_EQ(parse_iso8601_ms("1970-01-01"), 0);
}

TEST(Iso8601, ParsesShorterTimeAndFractionForms) {
  EXPECT_EQ(parse_iso8601_ms("2025-01-02T03:04Z"), 1735787040000);
  EXPECT_EQ(parse_iso8601_ms("2025-01-02T03:04:05Z"), 1735787045000);
  EXPECT_EQ(parse_iso8601_ms("2025-01-02T03:04:05.6Z"), 1735787045600);
  EXPECT_EQ(parse_iso8601_ms("2025-01-02T03:04:05.678999Z"), 1735787045678);  // extra digits truncated
}

TEST(Iso8601, ParsesEndOfDayAndDayOverflowLikeV8) {
  EXPECT_EQ(parse_iso8601_ms("2025-01-02T24:00:00Z"), 1735862400000);
  EXPECT_EQ(parse_iso8601_ms("2025-02-30"), 1740873600000);  // V8 rolls Feb 30 into Mar 2
}

TEST(Iso8601, ParsesExpandedYears) {
  EXPECT_EQ(parse_iso8601_ms("+010000-01-01T00:00:00.000Z"), 253402300800000);
  EXPECT_EQ(parse_iso8601_ms("-000001-12-31T23:59:59.999Z"), -62167219200001);
  EXPECT_EQ(parse_iso8601_ms("+275760-09-13T00:00:00.000Z"), kMaxTimeMs);
}

TEST(Iso8601, RejectsWhatDateParseWouldNot) {
  EXPECT_FALSE(parse_iso8601_ms("tomorrow"));
  EXPECT_FALSE(parse_iso8601_ms(""));
  EXPECT_FALSE(parse_iso8601_ms("2025-13-01"));
  EXPECT_FALSE(parse_iso8601_ms("2025-00-10"));
  EXPECT_FALSE(parse_iso8601_ms("2025-01-32"));
  EXPECT_FALSE(parse_iso8601_ms("2025-1-2"));
  EXPECT_FALSE(parse_iso8601_ms("2025-01-02T03:04:05Zjunk"));
  EXPECT_FALSE(parse_iso8601_ms("2025-01-02T03Z"));
  EXPECT_FALSE(parse_iso8601_ms("2025-01-02T03:04:05.Z"));
}

TEST(Iso8601, RejectsOutOfRangeTimeFields) {
  EXPECT_FALSE(parse_iso8601_ms("2025-01-02T25:00:00Z"));
  EXPECT_FALSE(parse_iso8601_ms("2025-01-02T24:00:01Z"));
  EXPECT_FALSE(parse_iso8601_ms("2025-01-02T03:60:00Z"));
  EXPECT_FALSE(parse_iso8601_ms("2025-01-02T03:04:60Z"));
  EXPECT_FALSE(parse_iso8601_ms("2025-01-02T03:04:05+24:00"));
  EXPECT_FALSE(parse_iso8601_ms("2025-01-02T03:04:05+02:60"));
}

TEST(Iso8601, RejectsExpandedYearsOutsideTheTimeValueRange) {
  EXPECT_FALSE(parse_iso8601_ms("-000000-01-01T00:00:00Z"));
  EXPECT_FALSE(parse_iso8601_ms("+275760-09-13T00:00:00.001Z"));
}

RC_GTEST_PROP(Iso8601, RoundTripsMillisecondsWithinPlusMinusYear2100, ()) {
  const int64_t ms = *rc::gen::inRange<int64_t>(-4102444800000, 4102444800001);
  RC_ASSERT(parse_iso8601_ms(iso8601_from_ms(ms)) == ms);
}

RC_GTEST_PROP(Iso8601, RoundTripsTheWholeJavaScriptTimeRange, ()) {
  const int64_t ms = *rc::gen::inRange<int64_t>(-kMaxTimeMs, kMaxTimeMs + 1);
  RC_ASSERT(parse_iso8601_ms(iso8601_from_ms(ms)) == ms);
}

}  // namespace
}  // namespace ablo
