#include "common/time.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <iterator>

namespace ablo {

namespace {

constexpr int64_t kMsPerDay = 86'400'000;

// Floor division/modulo (C++ '/' truncates towards zero).
int64_t floor_div(int64_t a, int64_t b) { return a / b - ((a % b != 0) && ((a < 0) != (b < 0))); }

// Days since 1970-01-01 for a proleptic Gregorian date (Howard Hinnant's algorithm).
int64_t days_from_civil(int64_t y, unsigned m, unsigned d) {
  y -= m <= 2;
  const int64_t era = (y >= 0 ? y : y - 399) / 400;
  const unsigned yoe = static_cast<unsigned>(y - era * 400);
  const unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + static_cast<int64_t>(doe) - 719468;
}

struct Civil {
  int64_t year;
  unsigned month;
  unsigned day;
};

// Inverse of days_from_civil.
Civil civil_from_days(int64_t z) {
  z += 719468;
  const int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  const unsigned doe = static_cast<unsigned>(z - era * 146097);
  const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  const int64_t y = static_cast<int64_t>(yoe) + era * 400;
  const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const unsigned mp = (5 * doy + 2) / 153;
  const unsigned d = doy - (153 * mp + 2) / 5 + 1;
  const unsigned m = mp < 10 ? mp + 3 : mp - 9;
  return {y + (m <= 2), m, d};
}

// Writes `value` as exactly `width` decimal digits, zero-padded (the caller's value fits).
char* put_digits(char* out, uint64_t value, int width) {
  for (int i = width - 1; i >= 0; --i) {
    out[i] = static_cast<char>('0' + value % 10);
    value /= 10;
  }
  return out + width;
}

bool read_digits(std::string_view s, std::size_t& pos, int count, int& out) {
  out = 0;
  for (int i = 0; i < count; ++i, ++pos) {
    if (pos >= s.size() || s[pos] < '0' || s[pos] > '9') return false;
    out = out * 10 + (s[pos] - '0');
  }
  return true;
}

}  // namespace

int64_t now_ms() {
  using namespace std::chrono;
  return duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count();
}

std::string iso8601_from_ms(int64_t ms) {
  // Pure arithmetic (no gmtime), so every int64 formats; years outside 0000-9999 use the
  // expanded ±YYYYYY form, as Date.prototype.toISOString does.
  const int64_t days = floor_div(ms, kMsPerDay);
  const int64_t ms_of_day = ms - days * kMsPerDay;
  const Civil date = civil_from_days(days);
  const int hour = static_cast<int>(ms_of_day / 3'600'000);
  const int minute = static_cast<int>(ms_of_day / 60'000 % 60);
  const int second = static_cast<int>(ms_of_day / 1000 % 60);
  const int millis = static_cast<int>(ms_of_day % 1000);
  // Written digit by digit: snprintf's format parsing showed on the commit writer, which stamps
  // every row it writes.
  char buf[32];
  char* out = buf;
  if (date.year >= 0 && date.year <= 9999) {
    out = put_digits(out, static_cast<uint64_t>(date.year), 4);
  } else {
    *out++ = date.year < 0 ? '-' : '+';
    out = put_digits(out, static_cast<uint64_t>(date.year < 0 ? -date.year : date.year), 6);
  }
  *out++ = '-';
  out = put_digits(out, date.month, 2);
  *out++ = '-';
  out = put_digits(out, date.day, 2);
  *out++ = 'T';
  out = put_digits(out, static_cast<uint64_t>(hour), 2);
  *out++ = ':';
  out = put_digits(out, static_cast<uint64_t>(minute), 2);
  *out++ = ':';
  out = put_digits(out, static_cast<uint64_t>(second), 2);
  *out++ = '.';
  out = put_digits(out, static_cast<uint64_t>(millis), 3);
  *out++ = 'Z';
  return std::string(buf, out);
}

std::string http_date_from_ms(int64_t ms) {
  static constexpr const char* kWeekdays[] = {"Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"};  // day 0 = Thursday
  static constexpr const char* kMonths[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                            "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
  const int64_t days = floor_div(ms, kMsPerDay);
  const int64_t ms_of_day = ms - days * kMsPerDay;
  const Civil date = civil_from_days(days);
  const int64_t weekday = ((days % 7) + 7) % 7;
  char buf[64];
  std::snprintf(buf, sizeof buf, "%s, %02u %s %04lld %02d:%02d:%02d GMT", kWeekdays[weekday], date.day,
                kMonths[date.month - 1], static_cast<long long>(date.year), static_cast<int>(ms_of_day / 3'600'000),
                static_cast<int>(ms_of_day / 60'000 % 60), static_cast<int>(ms_of_day / 1000 % 60));
  return buf;
}

std::optional<int64_t> http_date_to_ms(std::string_view text) {
  static constexpr std::string_view kMonths[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                                 "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
  const std::string terminated(text);
  char weekday[4] = {}, month[4] = {};
  int day = 0, year = 0, hour = 0, minute = 0, second = 0;
  if (std::sscanf(terminated.c_str(), "%3s, %d %3s %d %d:%d:%d", weekday, &day, month, &year, &hour, &minute,
                  &second) != 7) {
    return std::nullopt;
  }
  const auto found = std::find(std::begin(kMonths), std::end(kMonths), std::string_view(month));
  if (found == std::end(kMonths)) return std::nullopt;
  char iso[48];
  std::snprintf(iso, sizeof iso, "%04d-%02d-%02dT%02d:%02d:%02dZ", year,
                static_cast<int>(found - std::begin(kMonths)) + 1, day, hour, minute, second);
  return parse_iso8601_ms(iso);
}

// Follows V8's Date.parse for the ISO forms: YYYY-MM-DD or ±YYYYYY-MM-DD, optionally followed by
// THH:mm[:ss[.sss]] and Z or ±HH[:]mm. Like V8, day 1-31 is accepted for every month (an overflow
// such as Feb 30 rolls into the next month), and 24:00[:00[.000]] means the end of the day.
std::optional<int64_t> parse_iso8601_ms(std::string_view s) {
  std::size_t pos = 0;
  int64_t year = 0;
  int month, day, hour = 0, minute = 0, second = 0, millis = 0;
  if (!s.empty() && (s[0] == '+' || s[0] == '-')) {
    const bool negative = s[0] == '-';
    ++pos;
    int expanded;
    if (!read_digits(s, pos, 6, expanded)) return std::nullopt;
    if (negative && expanded == 0) return std::nullopt;  // "-000000" is invalid per ECMA-262
    year = negative ? -expanded : expanded;
  } else {
    int plain;
    if (!read_digits(s, pos, 4, plain)) return std::nullopt;
    year = plain;
  }
  if (pos >= s.size() || s[pos++] != '-') return std::nullopt;
  if (!read_digits(s, pos, 2, month) || pos >= s.size() || s[pos++] != '-') return std::nullopt;
  if (!read_digits(s, pos, 2, day)) return std::nullopt;
  if (month < 1 || month > 12 || day < 1 || day > 31) return std::nullopt;
  int64_t offset_minutes = 0;
  if (pos < s.size()) {
    if (s[pos] != 'T' && s[pos] != ' ') return std::nullopt;
    ++pos;
    if (!read_digits(s, pos, 2, hour) || pos >= s.size() || s[pos++] != ':') return std::nullopt;
    if (!read_digits(s, pos, 2, minute)) return std::nullopt;
    if (pos < s.size() && s[pos] == ':') {
      ++pos;
      if (!read_digits(s, pos, 2, second)) return std::nullopt;
      if (pos < s.size() && s[pos] == '.') {
        ++pos;
        int scale = 100, digits = 0;
        while (pos < s.size() && s[pos] >= '0' && s[pos] <= '9') {
          millis += (s[pos] - '0') * scale;  // digits past the third are truncated, as in V8
          scale /= 10;
          ++pos;
          ++digits;
        }
        if (digits == 0) return std::nullopt;
      }
    }
    const bool end_of_day = hour == 24 && minute == 0 && second == 0 && millis == 0;
    if ((hour > 23 && !end_of_day) || minute > 59 || second > 59) return std::nullopt;
    if (pos < s.size()) {
      if (s[pos] == 'Z') {
        ++pos;
      } else if (s[pos] == '+' || s[pos] == '-') {
        const int sign = s[pos] == '-' ? -1 : 1;
        ++pos;
        int oh, om;
        if (!read_digits(s, pos, 2, oh)) return std::nullopt;
        if (pos < s.size() && s[pos] == ':') ++pos;
        if (!read_digits(s, pos, 2, om)) return std::nullopt;
        if (oh > 23 || om > 59) return std::nullopt;
        offset_minutes = sign * (oh * 60 + om);
      } else {
        return std::nullopt;
      }
    }
    if (pos != s.size()) return std::nullopt;
  }
  const int64_t days = days_from_civil(year, static_cast<unsigned>(month), static_cast<unsigned>(day));
  const int64_t seconds = days * 86400 + hour * 3600 + minute * 60 + second - offset_minutes * 60;
  const int64_t result = seconds * 1000 + millis;
  if (result > kMaxTimeMs || result < -kMaxTimeMs) return std::nullopt;  // Date.parse gives NaN
  return result;
}

}  // namespace ablo
