#include "common/time.h"

#include <gtest/gtest.h>
#include <rapidcheck/gtest.h>

namespace ablo {
namespace {

TEST(Iso8601, FormatsLikeJavaScriptToIsoString) {
  EXPECT_EQ(iso8601_from_ms(0), "1970-01-01T00:00:00.000Z");
  EXPECT_EQ(iso8601_from_ms(1735787045678), "2025-01-02T03:04:05.678Z");
  EXPECT_EQ(iso8601_from_ms(-1), "1969-12-31T23:59:59.999Z");
}

TEST(Iso8601, ParsesUtcOffsetsAndPlainDates) {
  EXPECT_EQ(parse_iso8601_ms("2025-01-02T03:04:05.678Z"), 1735787045678);
  EXPECT_EQ(parse_iso8601_ms("2025-01-02T05:04:05.678+02:00"), 1735787045678);
  EXPECT_EQ(parse_iso8601_ms("2025-01-02"), 1735776000000);
}

TEST(Iso8601, RejectsWhatDateParseWouldNot) {
  EXPECT_FALSE(parse_iso8601_ms("tomorrow"));
  EXPECT_FALSE(parse_iso8601_ms("2025-13-01"));
  EXPECT_FALSE(parse_iso8601_ms("2025-01-02T03:04:05Zjunk"));
}

RC_GTEST_PROP(Iso8601, RoundTripsMilliseconds, (int64_t raw)) {
  const int64_t ms = raw % 4102444800000;  // within ±2100
  RC_ASSERT(parse_iso8601_ms(iso8601_from_ms(ms)) == ms);
}

}  // namespace
}  // namespace ablo
