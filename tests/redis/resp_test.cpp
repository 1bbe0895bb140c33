#include "redis/resp.h"

#include <gtest/gtest.h>
#include <rapidcheck.h>
#include <rapidcheck/gtest.h>

#include <fmt/format.h>

namespace ablo::redis {
namespace {

using Type = Reply::Type;

// Test-only serializer: the RESP2 bytes for a reply tree. A null comes out as "$-1" or "*-1"
// (both parse to null), chosen by `null_array`.
std::string serialize(const Reply& reply, bool null_array = false) {
  switch (reply.type) {
    case Type::simple: return "+" + reply.text + "\r\n";
    case Type::error: return "-" + reply.text + "\r\n";
    case Type::integer: return fmt::format(":{}\r\n", reply.integer);
    case Type::bulk: return fmt::format("${}\r\n", reply.text.size()) + reply.text + "\r\n";
    case Type::null: return null_array ? "*-1\r\n" : "$-1\r\n";
    case Type::array: {
      std::string out = fmt::format("*{}\r\n", reply.elements.size());
      for (const auto& element : reply.elements) out += serialize(element, null_array);
      return out;
    }
  }
  return {};
}

// A readable, unambiguous rendering, so trees compare with EXPECT_EQ and failures show the difference.
std::string describe(const Reply& reply) {
  switch (reply.type) {
    case Type::simple: return fmt::format("simple({:?})", reply.text);
    case Type::error: return fmt::format("error({:?})", reply.text);
    case Type::integer: return fmt::format("integer({})", reply.integer);
    case Type::bulk: return fmt::format("bulk({:?})", reply.text);
    case Type::null: return "null";
    case Type::array: {
      std::string out = "[";
      for (const auto& element : reply.elements) out += describe(element) + ",";
      return out + "]";
    }
  }
  return "?";
}

Reply simple(std::string text) { return Reply{Type::simple, std::move(text), 0, {}}; }
Reply bulk(std::string text) { return Reply{Type::bulk, std::move(text), 0, {}}; }
Reply integer(int64_t value) { return Reply{Type::integer, {}, value, {}}; }
Reply array(std::vector<Reply> elements) { return Reply{Type::array, {}, 0, std::move(elements)}; }

// Feeds `bytes` at once and returns every reply; fails the test on a parse error.
std::vector<Reply> parse_all(ReplyParser& parser, std::string_view bytes) {
  parser.feed(bytes);
  std::vector<Reply> replies;
  for (;;) {
    auto next = parser.next();
    EXPECT_TRUE(next.has_value()) << next.error().message;
    if (!next || !*next) return replies;
    replies.push_back(std::move(**next));
  }
}

Reply parse_one(std::string_view bytes) {
  ReplyParser parser;
  auto replies = parse_all(parser, bytes);
  EXPECT_EQ(replies.size(), 1u) << "for " << bytes;
  return replies.empty() ? Reply{} : replies.front();
}

// The error the parser reports for `bytes` (fed whole); "" when it reports none.
std::string parse_error(std::string_view bytes) {
  ReplyParser parser;
  parser.feed(bytes);
  for (;;) {
    auto next = parser.next();
    if (!next) return next.error().message;
    if (!*next) return "";
  }
}

TEST(RespEncode, CommandIsAnArrayOfBulkStrings) {
  EXPECT_EQ(encode_command({"SET", "key", "value"}), "*3\r\n$3\r\nSET\r\n$3\r\nkey\r\n$5\r\nvalue\r\n");
}

TEST(RespEncode, ArgumentsKeepEveryByteIncludingCrlfAndNul) {
  const std::string odd("a\r\nb\0c", 6);
  EXPECT_EQ(encode_command({"ECHO", odd, ""}), "*3\r\n$4\r\nECHO\r\n$6\r\n" + odd + "\r\n$0\r\n\r\n");
}

TEST(RespParse, SimpleString) {
  const Reply reply = parse_one("+OK\r\n");
  EXPECT_EQ(reply.type, Type::simple);
  EXPECT_EQ(reply.text, "OK");
}

TEST(RespParse, ErrorKeepsItsWholeMessage) {
  const Reply reply = parse_one("-WRONGTYPE Operation against a key holding the wrong kind of value\r\n");
  EXPECT_EQ(reply.type, Type::error);
  EXPECT_EQ(reply.text, "WRONGTYPE Operation against a key holding the wrong kind of value");
}

TEST(RespParse, IntegersIncludingNegativeAndExtremes) {
  EXPECT_EQ(parse_one(":1000\r\n").integer, 1000);
  EXPECT_EQ(parse_one(":-42\r\n").integer, -42);
  EXPECT_EQ(parse_one(":9223372036854775807\r\n").integer, INT64_MAX);
  EXPECT_EQ(parse_one(":-9223372036854775808\r\n").integer, INT64_MIN);
  EXPECT_EQ(parse_one(":0\r\n").type, Type::integer);
}

TEST(RespParse, BulkStringMayHoldCrlfAndBeEmpty) {
  const Reply reply = parse_one("$8\r\nab\r\ncd\r\n\r\n");
  EXPECT_EQ(reply.type, Type::bulk);
  EXPECT_EQ(reply.text, "ab\r\ncd\r\n");
  const Reply empty = parse_one("$0\r\n\r\n");
  EXPECT_EQ(empty.type, Type::bulk);
  EXPECT_EQ(empty.text, "");
}

TEST(RespParse, NullBulkAndNullArrayAreNull) {
  EXPECT_EQ(parse_one("$-1\r\n").type, Type::null);
  EXPECT_EQ(parse_one("*-1\r\n").type, Type::null);
}

TEST(RespParse, EmptyArray) {
  const Reply reply = parse_one("*0\r\n");
  EXPECT_EQ(reply.type, Type::array);
  EXPECT_TRUE(reply.elements.empty());
}

TEST(RespParse, NestedArraysWithMixedTypes) {
  const Reply reply = parse_one("*3\r\n*2\r\n:1\r\n$1\r\na\r\n*0\r\n*2\r\n$-1\r\n*1\r\n+x\r\n");
  const Reply expected = array({array({integer(1), bulk("a")}), array({}), array({Reply{}, array({simple("x")})})});
  EXPECT_EQ(describe(reply), describe(expected));
}

TEST(RespParse, SeveralRepliesInOneFeedComeOutInOrder) {
  ReplyParser parser;
  const auto replies = parse_all(parser, "+OK\r\n:7\r\n$3\r\nabc\r\n*1\r\n:2\r\n-ERR no\r\n");
  ASSERT_EQ(replies.size(), 5u);
  EXPECT_EQ(describe(replies[0]), "simple(\"OK\")");
  EXPECT_EQ(describe(replies[1]), "integer(7)");
  EXPECT_EQ(describe(replies[2]), "bulk(\"abc\")");
  EXPECT_EQ(describe(replies[3]), "[integer(2),]");
  EXPECT_EQ(describe(replies[4]), "error(\"ERR no\")");
}

TEST(RespParse, ByteByByteYieldsNothingUntilTheLastByte) {
  // Cuts fall inside length lines, between CR and LF, and inside bulk bodies.
  const std::string bytes = "*2\r\n$5\r\nhe\r\no\r\n:12\r\n";
  ReplyParser parser;
  for (std::size_t i = 0; i + 1 < bytes.size(); ++i) {
    parser.feed(bytes.substr(i, 1));
    auto next = parser.next();
    ASSERT_TRUE(next.has_value()) << next.error().message;
    ASSERT_FALSE(next->has_value()) << "a reply after only " << i + 1 << " bytes";
  }
  parser.feed(bytes.substr(bytes.size() - 1));
  auto next = parser.next();
  ASSERT_TRUE(next.has_value() && next->has_value());
  EXPECT_EQ(describe(**next), describe(array({bulk("he\r\no"), integer(12)})));
}

TEST(RespParse, LongStreamWithManySmallRepliesParsesAllOfThem) {
  // Crosses the compaction threshold several times while a reply is left half-fed.
  ReplyParser parser;
  std::size_t count = 0;
  for (int i = 0; i < 20000; ++i) {
    const std::string reply = fmt::format("${}\r\n{}\r\n", std::to_string(i).size(), i);
    parser.feed(reply.substr(0, 3));
    parser.feed(reply.substr(3));
    auto next = parser.next();
    ASSERT_TRUE(next && *next);
    ASSERT_EQ((*next)->text, std::to_string(i));
    ++count;
  }
  EXPECT_EQ(count, 20000u);
}

TEST(RespParseErrors, UnknownTypeByte) {
  EXPECT_EQ(parse_error("?what\r\n"), "redis: protocol error: unexpected type byte '?'");
  EXPECT_EQ(parse_error(std::string("\x01", 1)), "redis: protocol error: unexpected type byte 0x01");
}

TEST(RespParseErrors, BadLengthsAndIntegers) {
  for (const char* bad : {"$abc\r\n", "$\r\n", "*1x\r\n", "$+5\r\n", ":12a\r\n", ":\r\n", "$ 5\r\n"}) {
    EXPECT_TRUE(parse_error(bad).starts_with("redis: protocol error: bad number")) << bad << " -> " << parse_error(bad);
  }
}

TEST(RespParseErrors, NegativeLengthsOtherThanMinusOne) {
  EXPECT_EQ(parse_error("$-2\r\n"), "redis: protocol error: length -2 after '$' is out of range");
  EXPECT_EQ(parse_error("*-5\r\n"), "redis: protocol error: length -5 after '*' is out of range");
}

TEST(RespParseErrors, LengthsOver512MbAreRejectedBeforeAnyBody) {
  EXPECT_EQ(parse_error("$536870913\r\n"), "redis: protocol error: length 536870913 after '$' is out of range");
  EXPECT_EQ(parse_error("*99999999999\r\n"), "redis: protocol error: length 99999999999 after '*' is out of range");
  EXPECT_EQ(parse_error("$536870912\r\n"), "") << "exactly 512 MB is allowed (and waits for its body)";
}

TEST(RespParseErrors, BulkBodyMustEndWithCrlf) {
  EXPECT_EQ(parse_error("$3\r\nabcd\r\n"), "redis: protocol error: bulk string of 3 bytes is not followed by CRLF");
}

TEST(RespParseErrors, LineEndingsMustBeCrlf) {
  EXPECT_EQ(parse_error("+OK\nfoo\r\n"), "redis: protocol error: header line not terminated by CRLF");
  EXPECT_EQ(parse_error("+OK\rX\r\n"), "redis: protocol error: header line not terminated by CRLF");
}

TEST(RespParseErrors, EndlessHeaderLineIsRejected) {
  ReplyParser parser;
  parser.feed("+");
  std::string error;
  for (int i = 0; i < 100 && error.empty(); ++i) {
    parser.feed(std::string(1024, 'x'));
    auto next = parser.next();
    if (!next) error = next.error().message;
  }
  EXPECT_EQ(error, "redis: protocol error: header line longer than 65536 bytes");
}

TEST(RespParseErrors, DeepNestingIsRejected) {
  std::string deep;
  for (int i = 0; i < 65; ++i) deep += "*1\r\n";
  EXPECT_EQ(parse_error(deep), "redis: protocol error: arrays nested deeper than 64");
  std::string ok;
  for (int i = 0; i < 64; ++i) ok += "*1\r\n";
  EXPECT_EQ(parse_error(ok + ":1\r\n"), "");
}

TEST(RespParseErrors, AViolationIsStickyEvenAfterValidBytes) {
  ReplyParser parser;
  parser.feed("!\r\n");
  ASSERT_FALSE(parser.next().has_value());
  parser.feed("+OK\r\n");
  auto again = parser.next();
  ASSERT_FALSE(again.has_value());
  EXPECT_EQ(again.error().code, "internal_error");
  EXPECT_TRUE(again.error().message.starts_with("redis: "));
}

// Random reply trees. Simple strings and errors cannot contain CR or LF; bulk strings hold any byte.
Reply random_reply(int depth) {
  const int kind = *rc::gen::inRange(0, depth > 0 ? 6 : 5);
  switch (kind) {
    case 0:
    case 1: {
      std::string text = *rc::gen::string<std::string>();
      std::erase_if(text, [](char c) { return c == '\r' || c == '\n'; });
      return Reply{kind == 0 ? Type::simple : Type::error, text, 0, {}};
    }
    case 2: return integer(*rc::gen::arbitrary<int64_t>());
    case 3: return bulk(*rc::gen::string<std::string>());
    case 4: return Reply{};
    default: {
      std::vector<Reply> elements(*rc::gen::inRange<std::size_t>(0, 8));
      for (auto& element : elements) element = random_reply(depth - 1);
      return array(std::move(elements));
    }
  }
}

RC_GTEST_PROP(RespProperty, RandomTreesFedInRandomChunksParseBackEqual, ()) {
  std::vector<Reply> expected(*rc::gen::inRange<std::size_t>(1, 6));
  for (auto& reply : expected) reply = random_reply(*rc::gen::inRange(0, 4));
  const bool null_array = *rc::gen::arbitrary<bool>();
  std::string bytes;
  for (const auto& reply : expected) bytes += serialize(reply, null_array);

  ReplyParser parser;
  std::vector<Reply> parsed;
  std::size_t at = 0;
  while (at < bytes.size()) {
    const auto size = std::min(bytes.size() - at, *rc::gen::inRange<std::size_t>(1, 16));
    parser.feed(std::string_view(bytes).substr(at, size));
    at += size;
    for (;;) {
      auto next = parser.next();
      RC_ASSERT(next.has_value());
      if (!*next) break;
      parsed.push_back(std::move(**next));
    }
  }
  RC_ASSERT(parsed.size() == expected.size());
  for (std::size_t i = 0; i < parsed.size(); ++i) RC_ASSERT(describe(parsed[i]) == describe(expected[i]));
}

}  // namespace
}  // namespace ablo::redis
