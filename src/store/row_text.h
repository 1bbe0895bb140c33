#pragma once
// A model row written straight from its result columns as the JSON text the bootstrap sends
// (issue 17 item 5): byte for byte what boost::json::serialize prints for decode_row's object
// with "__typename" added last, without building that object — no json::value, no string per
// row. JSON cells already in the form serialize would print are copied as they are (spliced);
// any other cell takes the old way (parse, serialize), so the text never differs. Private to
// store/; the stores' scan_row_texts use it.
#include <array>
#include <cstdint>
#include <cstring>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include <boost/json/parse.hpp>
#include <boost/json/serializer.hpp>
#include <boost/json/value.hpp>

#include "schema/schema.h"
#include "store/record_decoding.h"
#include "store/row_codec.h"
#include "store/store.h"

namespace ablo::store {

// A growable text buffer written through a raw pointer: a writer asks for room for a piece (an
// upper bound of its size), writes it and commits where it ended — one capacity check per piece
// instead of an out-of-line std::string::append per token, and no fill as std::string::resize
// would do. The bootstrap's rows are encoded into one, reused across rows.
class TextBuffer {
 public:
  // Where the text continues, with room for at least `bytes` more.
  char* room(std::size_t bytes) {
    if (capacity_ - size_ < bytes) grow(bytes);
    return data_.get() + size_;
  }
  // The text now ends at `end` (a pointer from room() moved past what was written).
  void commit(const char* end) { size_ = static_cast<std::size_t>(end - data_.get()); }
  void append(std::string_view text) {
    if (text.empty()) return;  // an empty view may hold a null pointer, which memcpy must not get
    char* at = room(text.size());
    std::memcpy(at, text.data(), text.size());
    commit(at + text.size());
  }
  void clear() { size_ = 0; }
  std::string_view view() const { return {data_.get(), size_}; }

 private:
  void grow(std::size_t bytes);

  std::unique_ptr<char[]> data_;
  std::size_t size_ = 0;
  std::size_t capacity_ = 0;
};

// The room write_json_string needs for a text of `bytes`: every byte escaped as \u00xx, the two
// quotes, and 16 bytes the copy may store past its end before it knows where the text stops.
constexpr std::size_t json_string_room(std::size_t bytes) { return 6 * bytes + 2 + 16; }

// Writes `text` at `out` as a JSON string the way boost::json::serialize writes one: `"` and `\`
// escaped, control characters as \b \t \n \f \r or \u00xx, every other byte as it is. `out`
// has json_string_room(text.size()) bytes; returns the end of what was written.
char* write_json_string(char* out, std::string_view text);
void append_json_string(TextBuffer& out, std::string_view text);
void append_json_string(std::string& out, std::string_view text);

// Appends JSON text that is already what boost::json::serialize(boost::json::parse(text))
// prints, leaving out insignificant whitespace (PostgreSQL renders jsonb as {"a": 1}). Returns
// false, `out` as it was, when it cannot prove the two equal: a number other than a short
// integer, an escape serialize writes differently, invalid UTF-8, a duplicate key, deep nesting,
// text that is not JSON. One per scan: it keeps the keys of open objects in a reused vector.
class CanonicalJsonSplicer {
 public:
  bool append(std::string& out, std::string_view text);
  bool append(TextBuffer& out, std::string_view text);

 private:
  // Whether `text` is canonical (spaced_ set when it has whitespace between tokens).
  bool canonical(std::string_view text);
  // `text` (canonical) without its whitespace at `out` (room: text.size()); returns the end.
  static char* write_unspaced(char* out, std::string_view text);
  // The pieces of the check: each returns where the text continues after what it checked, or
  // nullptr when that is not canonical. `at` is past the opening quote for string_end.
  const char* key(const char* at, const char* end, std::size_t first_key);  // a key and its colon
  static const char* string_end(const char* at, const char* end);
  static const char* integer_end(const char* at, const char* end);
  // Past any whitespace at `at`, noting that there was some (the inline test is the usual case).
  const char* skip(const char* at, const char* end) {
    return at < end && static_cast<unsigned char>(*at) <= ' ' ? skip_spaces(at, end) : at;
  }
  const char* skip_spaces(const char* at, const char* end);

  std::vector<std::string_view> keys_;  // keys of the open objects, innermost last
  bool spaced_ = false;                 // the text has whitespace between tokens
};

// Appends any JSON value as serialize prints it, through one reused serializer.
class JsonValueWriter {
 public:
  void append(std::string& out, const boost::json::value& value);
  void append(TextBuffer& out, const boost::json::value& value);

 private:
  boost::json::serializer serializer_;
};

// The sync groups column (a JSON array of strings) into `out`, reusing its strings: what
// string_list returns, without a parse for the usual plain ASCII names.
void read_group_list(std::string_view json_array_text, std::vector<std::string>& out);

// Whether a row is wanted, by its sync groups column (RowTextScan::wanted): the column is read and
// `wanted` asked only when its text differs from the previous row's — a table's rows mostly
// share their groups, and during a scan the answer depends on the groups alone.
class RowGroupFilter {
 public:
  using Wanted = std::function<bool(const std::vector<std::string>& groups)>;
  explicit RowGroupFilter(const Wanted& wanted) : wanted_(wanted) {}

  bool wanted(std::string_view groups_text) {
    if (!asked_ || groups_text != last_text_) ask(groups_text);
    return last_wanted_;
  }

 private:
  void ask(std::string_view groups_text);

  const Wanted& wanted_;
  std::vector<std::string> groups_;
  std::string last_text_;
  bool asked_ = false;
  bool last_wanted_ = false;
};

// Where each key of the row object comes from, in the object's key order (decode_row's, with a
// later key of the same name taking the earlier one's place, as json::object::operator[] does).
struct RowTextPlan {
  enum class Source {
    kOrg,           // the org part of the tenant column
    kText,          // a text column as a string (NULL reads as "")
    kTextOrNull,    // a text column, null when NULL
    kTextIfSet,     // a text column, the key left out when NULL
    kField,         // a field column, by its type (decode_field)
    kConstant,      // text fixed for the scan (the "__typename")
  };
  // An entry's key, `,"name":` (no comma on the first; the "__typename" entry's value follows
  // it), also kept in a fixed block: a short key is then copied as two 16-byte moves, not by a
  // memcpy call of its length (a row has a dozen keys).
  struct Key {
    static constexpr std::size_t kBlock = 32;
    std::string text;
    std::array<char, kBlock> block{};

    void assign(std::string key_text) {
      text = std::move(key_text);
      if (text.size() <= kBlock) std::memcpy(block.data(), text.data(), text.size());
    }
    std::size_t room() const { return text.size() + kBlock; }  // what write needs at `at`
    char* write(char* at) const {
      if (text.size() <= kBlock) std::memcpy(at, block.data(), kBlock);
      else std::memcpy(at, text.data(), text.size());
      return at + text.size();
    }
  };
  struct Entry {
    Key key;
    Source source = Source::kText;
    int column = 0;
    schema::FieldType type = schema::FieldType::kString;
    std::string constant;
  };
  std::vector<Entry> entries;

  RowTextPlan(const schema::Model& model, std::string_view type_name);
};

// Encodes rows of one model; one per scan (its buffers are reused across rows).
class RowTextEncoder {
 public:
  RowTextEncoder(const schema::Model& model, std::string_view type_name) : plan_(model, type_name) {}

  template <ResultColumnViews Columns>
  void append(const Columns& c, TextBuffer& out) {
    put_literal(out, "{");
    for (const auto& entry : plan_.entries) {
      switch (entry.source) {
        case RowTextPlan::Source::kTextIfSet:
          if (const auto text = c.text_if_set(entry.column)) put_string(out, entry.key, *text);
          break;
        case RowTextPlan::Source::kOrg: put_string(out, entry.key, org_of(c.text_view(entry.column))); break;
        case RowTextPlan::Source::kText: put_string(out, entry.key, c.text_view(entry.column)); break;
        case RowTextPlan::Source::kTextOrNull: put_text_or_null(out, entry.key, c.text_if_set(entry.column)); break;
        case RowTextPlan::Source::kField: put_field(c, entry, out); break;
        case RowTextPlan::Source::kConstant: put_literal(out, entry.key); break;  // the value is in the key
      }
    }
    put_literal(out, "}");
  }

 private:
  template <ResultColumnViews Columns>
  void put_field(const Columns& c, const RowTextPlan::Entry& entry, TextBuffer& out) {
    switch (entry.type) {
      case schema::FieldType::kNumber:
        if (c.is_null(entry.column)) put_literal(out, entry.key, "null");
        else put_number(out, entry.key, c.real(entry.column));
        break;
      case schema::FieldType::kBoolean:
        if (c.is_null(entry.column)) put_literal(out, entry.key, "null");
        else put_literal(out, entry.key, c.boolean(entry.column) ? "true" : "false");
        break;
      case schema::FieldType::kJson:
        if (const auto text = c.text_if_set(entry.column)) {
          put_literal(out, entry.key);
          put_json_cell(out, *text);
        } else {
          put_literal(out, entry.key, "null");
        }
        break;
      default: put_text_or_null(out, entry.key, c.text_if_set(entry.column)); break;
    }
  }

  // The entry's key and then `text` as a JSON string, with one room check.
  static void put_string(TextBuffer& out, const RowTextPlan::Key& key, std::string_view text) {
    char* at = out.room(key.room() + json_string_room(text.size()));
    out.commit(write_json_string(key.write(at), text));
  }
  static void put_literal(TextBuffer& out, const RowTextPlan::Key& key, std::string_view value = {}) {
    char* at = key.write(out.room(key.room() + value.size()));
    // The default value is an empty view whose pointer is null: memcpy must not get it.
    if (!value.empty()) std::memcpy(at, value.data(), value.size());
    out.commit(at + value.size());
  }
  static void put_literal(TextBuffer& out, std::string_view text) { out.append(text); }
  static void put_text_or_null(TextBuffer& out, const RowTextPlan::Key& key, std::optional<std::string_view> text) {
    if (text) put_string(out, key, *text);
    else put_literal(out, key, "null");
  }
  static std::string_view org_of(std::string_view tenant);
  void put_number(TextBuffer& out, const RowTextPlan::Key& key, double number);
  // decode_field's kJson case: the parsed value, or the text as a string when it is not JSON.
  void put_json_cell(TextBuffer& out, std::string_view text);

  RowTextPlan plan_;
  CanonicalJsonSplicer splicer_;
  JsonValueWriter writer_;
};

// A store's scan_row_texts, given how it walks a row query: `each_row(visit)` hands each result
// row (decode_row's columns) to `visit` until visit returns false. No JSON tree per row: the
// groups (column 6) are read only when they differ from the previous row's, and each wanted row
// is written from its columns into one reused buffer.
template <class EachRow>
Status encode_row_texts(const RowQuery& query, const RowTextScan& scan, EachRow&& each_row) {
  RowTextEncoder encoder(*query.model, scan.type_name);
  RowGroupFilter filter(scan.wanted);
  TextBuffer text;
  return each_row([&](const auto& row) {
    if (!filter.wanted(row.text_view(6))) return true;
    text.clear();
    encoder.append(row, text);
    return scan.take(text.view());
  });
}

}  // namespace ablo::store
