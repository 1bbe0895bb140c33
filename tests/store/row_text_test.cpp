// The pieces the bootstrap's row encoder is built from (store/row_text.h) print what
// boost::json::serialize prints: strings byte for byte, and JSON cells copied as they are only
// when parsing and serializing them would give the same text.
#include <optional>
#include <string>
#include <vector>

#include <boost/json.hpp>
#include <gtest/gtest.h>
#include <rapidcheck.h>
#include <rapidcheck/gtest.h>

#include "store/row_codec.h"
#include "store/row_text.h"

namespace ablo::store {
namespace {

namespace json = boost::json;

// decode_field's JSON case the old way: the parsed value serialized, or the text as a string.
std::string reserialized(const std::string& text) {
  boost::system::error_code ec;
  auto parsed = json::parse(text, ec);
  return ec ? json::serialize(json::string(text)) : json::serialize(parsed);
}

TEST(RowText, StringsAreEscapedLikeSerializeForEveryByte) {
  std::string every_byte;
  for (int c = 0; c < 256; ++c) every_byte += static_cast<char>(c);
  std::string out;
  append_json_string(out, every_byte);
  EXPECT_EQ(out, json::serialize(json::string(every_byte)));
}

// Sync groups and other string lists go to their columns through string_array_text.
RC_GTEST_PROP(RowText, StringArraysAreWrittenLikeSerializedArrays, (const std::vector<std::string>& items)) {
  json::array tree;
  for (const auto& item : items) tree.emplace_back(item);
  RC_ASSERT(string_array_text(items) == json::serialize(tree));
}

// Every length the copy treats differently (under 8 bytes, 8-15 as two overlapping words, 16 or
// more in blocks with an overlapping last one) with a byte to escape, or a UTF-8 byte written as
// it is, at every position, written after other text in a TextBuffer as the encoder does.
TEST(RowText, StringsOfEveryShortLengthAreEscapedLikeSerializeWhereverTheEscapeIs) {
  for (std::size_t length = 0; length <= 48; ++length) {
    for (const char odd : {'"', '\\', '\x01', '\x1f', '\n', '\xc3', '\x7f'}) {
      for (std::size_t at = 0; at <= length; ++at) {
        std::string text(length, 'a');
        for (std::size_t i = 0; i < length; ++i) text[i] = static_cast<char>('a' + i % 26);
        if (at < length) text[at] = odd;
        TextBuffer out;
        out.append("prefix");
        append_json_string(out, text);
        ASSERT_EQ(out.view(), "prefix" + json::serialize(json::string(text))) << "length " << length << " at " << at;
      }
    }
  }
}

// Long plain runs with the odd byte to escape anywhere (the scan reads eight bytes at a time).
RC_GTEST_PROP(RowText, StringsOfAnyBytesAreEscapedLikeSerialize, ()) {
  const auto bytes = *rc::gen::container<std::vector<int>>(
      rc::gen::weightedOneOf<int>({{20, rc::gen::just(int{'a'})}, {1, rc::gen::inRange(0, 256)}}));
  std::string text;
  for (int b : bytes) text += static_cast<char>(b);
  std::string out = "x";
  append_json_string(out, text);
  RC_ASSERT(out == "x" + json::serialize(json::string(text)));
}

TEST(RowText, CanonicalTextIsSplicedAndEverythingElseRefused) {
  CanonicalJsonSplicer splicer;
  const auto spliced = [&](std::string_view text) {
    std::string out = "prefix";
    const bool ok = splicer.append(out, text);
    EXPECT_EQ(out.substr(0, 6), "prefix");
    if (!ok) {
      EXPECT_EQ(out, "prefix") << "a refused cell leaves the output as it was";
    }
    return ok ? std::optional<std::string>(out.substr(6)) : std::nullopt;
  };
  EXPECT_EQ(spliced(R"({"a":[1,-2,true,false,null,"x\n\u001f"],"b":{}})"),
            R"({"a":[1,-2,true,false,null,"x\n\u001f"],"b":{}})");
  EXPECT_EQ(spliced(R"({"a": 1, "b": [1, 2], "c": {"d": "\u00e9"}})"), std::nullopt) << R"(\u00e9 prints as é)";
  EXPECT_EQ(spliced(R"({"a": 1, "b": [1, 2]})"), R"({"a":1,"b":[1,2]})") << "jsonb's spacing is dropped";
  EXPECT_EQ(spliced("\"Troms\xc3\xb8 \xe2\x98\x83 \xf0\x9f\x98\x80\""), "\"Troms\xc3\xb8 \xe2\x98\x83 \xf0\x9f\x98\x80\"");
  for (const char* refused : {R"({"a":1,"a":2})", "1.5", "1e3", "-0", "01", "12345678901234567890", R"("\/")",
                              R"("\u0041")", R"("\u0008")", R"("\u001F")", "\"\xff\"", "\"\xed\xa0\x80\"",
                              "\"\xe2\x98\"", "nul", "[1,]", "{\"a\"}", "", " ", "[1] x", "\"a\x01\""}) {
    EXPECT_EQ(spliced(refused), std::nullopt) << refused;
  }
  std::string deep(17, '[');
  deep += std::string(17, ']');
  EXPECT_EQ(spliced(deep), std::nullopt) << "deep nesting goes the slow way";
  EXPECT_EQ(spliced(deep.substr(1, 32)), deep.substr(1, 32));
}

// The property both generators check: text the splicer accepts comes out as parse + serialize
// print it, and text it refuses leaves nothing behind.
void splices_only_as_parse_and_serialize_print(const std::string& text) {
  CanonicalJsonSplicer splicer;
  std::string out;
  const bool accepted = splicer.append(out, text);
  RC_TAG(accepted ? "spliced" : "refused");
  if (accepted) {
    RC_ASSERT(out == reserialized(text));
  } else {
    RC_ASSERT(out.empty());
  }
}

// Whatever it accepts prints as parse + serialize would: random text over JSON's alphabet
// (including what is not JSON), and the serialized text of random values.
RC_GTEST_PROP(RowText, SplicedTextIsWhatParseAndSerializePrint, ()) {
  static const std::string kAlphabet =
      std::string("{}[]:,\"\\ \n\t-0123456789.eEtrufalsn/bu") + "\x01\x1f\x7f\xc3\xa9\xe2\x98\x83\xff\xed\xa0";
  const auto pieces = *rc::gen::container<std::vector<std::string>>(rc::gen::oneOf(
      rc::gen::map(rc::gen::elementOf(kAlphabet), [](char c) { return std::string(1, c); }),
      rc::gen::element<std::string>("\"a\"", "\"b\"", "{\"a\":", "[1,2]", "true", "null", "\\u00", "\\u0001",
                                    "\\\"", "\\\\", "\"\\n\"", "123", "-4", "{}", "[]", ", ", ": ")));
  std::string text;
  for (const auto& piece : pieces) text += piece;
  splices_only_as_parse_and_serialize_print(text);
}

// A random JSON value (strings over the bytes serialize escapes and some UTF-8).
json::value arbitrary_json(int depth) {
  switch (*rc::gen::inRange(0, depth >= 3 ? 5 : 7)) {
    case 0: return nullptr;
    case 1: return *rc::gen::arbitrary<bool>();
    case 2: return *rc::gen::inRange<int64_t>(-100000, 100000);
    case 3: return *rc::gen::element(0.5, -1.25, 1e300, 0.1, 3.0);
    case 4: {
      const auto pieces = *rc::gen::container<std::vector<std::string>>(
          rc::gen::element<std::string>("a", "\"", "\\", "/", "\n", "\x01", "\x1f", "\x7f", "\xc3\xa9", "\xe2\x98\x83", " "));
      std::string text;
      for (const auto& piece : pieces) text += piece;
      return json::string(text);
    }
    case 5: {
      json::array array;
      const int size = *rc::gen::inRange(0, 4);
      for (int i = 0; i < size; ++i) array.push_back(arbitrary_json(depth + 1));
      return array;
    }
    default: {
      json::object object;
      const int size = *rc::gen::inRange(0, 4);
      for (int i = 0; i < size; ++i) object[*rc::gen::element<std::string>("a", "b", "c\n", "\xc3\xa9")] = arbitrary_json(depth + 1);
      return object;
    }
  }
}

// Serialized values, then a few edits (whitespace, a character changed, removed or added),
// so both sides of every check are reached.
RC_GTEST_PROP(RowText, EditedSerializedValuesSpliceOnlyAsParseAndSerializePrint, ()) {
  auto text = json::serialize(arbitrary_json(0));
  static const std::string kEdits = std::string(" \n{}[]:,\"\\-0.e/u1ftn") + "\x01\xc3\xff";
  const int edits = *rc::gen::inRange(0, 3);
  for (int i = 0; i < edits && !text.empty(); ++i) {
    const auto at = *rc::gen::inRange<std::size_t>(0, text.size());
    const char c = *rc::gen::elementOf(kEdits);
    switch (*rc::gen::inRange(0, 3)) {
      case 0: text.insert(at, 1, c); break;
      case 1: text[at] = c; break;
      default: text.erase(at, 1); break;
    }
  }
  splices_only_as_parse_and_serialize_print(text);
}

RC_GTEST_PROP(RowText, SerializedValuesWithoutFractionsAreSpliced, ()) {
  // Values of strings (ASCII with every control character, and some UTF-8), integers, literals,
  // arrays and objects (fewer keys than the splicer's duplicate check takes).
  const auto ascii = rc::gen::container<std::string>(rc::gen::inRange<char>(0, 127));
  const auto strings = *rc::gen::resize(
      40, rc::gen::container<std::vector<std::string>>(rc::gen::map(ascii, [](std::string s) { return s + "\u00e9\u2603"; })));
  const auto numbers = *rc::gen::container<std::vector<int64_t>>(rc::gen::inRange<int64_t>(-999999999999, 999999999999));
  json::object object;
  json::array array;
  for (const auto& s : strings) {
    object[s] = s;
    array.emplace_back(s);
  }
  for (auto n : numbers) array.emplace_back(n);
  array.emplace_back(nullptr);
  array.emplace_back(true);
  object["array"] = array;
  const auto text = json::serialize(object);
  CanonicalJsonSplicer splicer;
  std::string out;
  RC_ASSERT(splicer.append(out, text));
  RC_ASSERT(out == text);
}

}  // namespace
}  // namespace ablo::store
