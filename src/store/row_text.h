#pragma once
// A model row written straight from its result columns as the JSON text the bootstrap sends
// (issue 17 item 5): byte for byte what boost::json::serialize prints for decode_row's object
// with "__typename" added last, without building that object — no json::value, no string per
// row. JSON cells already in the form serialize would print are copied as they are (spliced);
// any other cell takes the old way (parse, serialize), so the text never differs. Private to
// store/; the stores' scan_row_texts use it.
#include <cstdint>
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

namespace ablo::store {

// Appends `text` as a JSON string the way boost::json::serialize writes one: `"` and `\`
// escaped, control characters as \b \t \n \f \r or \u00xx, every other byte as it is.
void append_json_string(std::string& out, std::string_view text);

// Appends JSON text that is already what boost::json::serialize(boost::json::parse(text))
// prints, leaving out insignificant whitespace (PostgreSQL renders jsonb as {"a": 1}). Returns
// false, `out` as it was, when it cannot prove the two equal: a number other than a short
// integer, an escape serialize writes differently, invalid UTF-8, a duplicate key, deep nesting,
// text that is not JSON. One per scan: it keeps the keys of open objects in a reused vector.
class CanonicalJsonSplicer {
 public:
  bool append(std::string& out, std::string_view text);

 private:
  // The checks (no output): whether the value at `at` is canonical, moving `at` past it.
  bool value(std::string_view text, std::size_t& at, int depth);
  bool object(std::string_view text, std::size_t& at, int depth);
  bool array(std::string_view text, std::size_t& at, int depth);
  static bool string(std::string_view text, std::size_t& at);
  static bool integer(std::string_view text, std::size_t& at);
  void skip(std::string_view text, std::size_t& at);  // whitespace, noting that there was some

  std::vector<std::string_view> keys_;  // keys of the open objects, innermost last
  bool spaced_ = false;                 // the text has whitespace between tokens
};

// Appends any JSON value as serialize prints it, through one reused serializer.
class JsonValueWriter {
 public:
  void append(std::string& out, const boost::json::value& value);

 private:
  boost::json::serializer serializer_;
};

// The sync groups column (a JSON array of strings) into `out`, reusing its strings: what
// string_list returns, without a parse for the usual plain ASCII names.
void read_group_list(std::string_view json_array_text, std::vector<std::string>& out);

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
  struct Entry {
    std::string key;  // `,"name":` (no comma on the first)
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
  void append(const Columns& c, std::string& out) {
    out += '{';
    for (const auto& entry : plan_.entries) {
      if (entry.source == RowTextPlan::Source::kTextIfSet) {
        const auto text = c.text_if_set(entry.column);
        if (!text) continue;
        out += entry.key;
        append_json_string(out, *text);
        continue;
      }
      out += entry.key;
      switch (entry.source) {
        case RowTextPlan::Source::kOrg: append_org(out, c.text_view(entry.column)); break;
        case RowTextPlan::Source::kText: append_json_string(out, c.text_view(entry.column)); break;
        case RowTextPlan::Source::kTextOrNull: append_text_or_null(out, c.text_if_set(entry.column)); break;
        case RowTextPlan::Source::kField: append_field(c, entry, out); break;
        case RowTextPlan::Source::kConstant: out += entry.constant; break;
        case RowTextPlan::Source::kTextIfSet: break;  // above
      }
    }
    out += '}';
  }

 private:
  template <ResultColumnViews Columns>
  void append_field(const Columns& c, const RowTextPlan::Entry& entry, std::string& out) {
    switch (entry.type) {
      case schema::FieldType::kNumber:
        if (c.is_null(entry.column)) out += "null";
        else append_number(out, c.real(entry.column));
        break;
      case schema::FieldType::kBoolean:
        if (c.is_null(entry.column)) out += "null";
        else out += c.boolean(entry.column) ? "true" : "false";
        break;
      case schema::FieldType::kJson:
        if (const auto text = c.text_if_set(entry.column)) append_json_cell(out, *text);
        else out += "null";
        break;
      default: append_text_or_null(out, c.text_if_set(entry.column)); break;
    }
  }

  static void append_text_or_null(std::string& out, std::optional<std::string_view> text) {
    if (text) append_json_string(out, *text);
    else out += "null";
  }
  static void append_org(std::string& out, std::string_view tenant);
  void append_number(std::string& out, double number);
  // decode_field's kJson case: the parsed value, or the text as a string when it is not JSON.
  void append_json_cell(std::string& out, std::string_view text);

  RowTextPlan plan_;
  CanonicalJsonSplicer splicer_;
  JsonValueWriter writer_;
};

}  // namespace ablo::store
