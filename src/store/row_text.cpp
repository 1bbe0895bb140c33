#include "store/row_text.h"

#include <algorithm>
#include <array>
#include <charconv>
#include <cstdint>
#include <cstring>

#ifdef __SSE2__
#include <emmintrin.h>
#endif

#include <boost/json.hpp>

namespace ablo::store {

namespace row_text_detail {

namespace json = boost::json;

constexpr char kHex[] = "0123456789abcdef";

// boost::json's serializer table: 0 = written as it is, 'u' = \u00xx, else the letter after
// the backslash.
constexpr std::array<char, 256> make_escapes() {
  std::array<char, 256> table{};
  for (int c = 0; c < 0x20; ++c) table[c] = 'u';
  table['\b'] = 'b';
  table['\t'] = 't';
  table['\n'] = 'n';
  table['\f'] = 'f';
  table['\r'] = 'r';
  table['"'] = '"';
  table['\\'] = '\\';
  return table;
}
constexpr auto kEscapes = make_escapes();

// Deeper text goes the slow way (boost::json::parse refuses beyond 32 levels; this stays far
// below, so depth never decides a cell's text). Likewise objects with many keys (the duplicate
// check is quadratic).
constexpr int kMaxDepth = 16;
constexpr std::size_t kMaxKeys = 64;
constexpr std::size_t kMaxIntegerDigits = 18;  // always an int64, printed as it was written

// Eight bytes at a time (SWAR): whether any byte of `word` is below `n` (n <= 0x80), equals
// `byte`, or has its high bit set. Exact answers for "any", which is all the scans ask.
constexpr uint64_t kOnes = 0x0101010101010101ULL;
constexpr uint64_t kHighBits = 0x8080808080808080ULL;
constexpr uint64_t any_below(uint64_t word, uint8_t n) { return (word - kOnes * n) & ~word & kHighBits; }
constexpr uint64_t any_equal(uint64_t word, uint8_t byte) { return any_below(word ^ (kOnes * byte), 1); }
uint64_t load_word(const char* at) {
  uint64_t word;
  std::memcpy(&word, at, sizeof word);
  return word;
}
// A byte serialize escapes: a control character, '"' or '\'.
bool any_escaped(uint64_t word) { return any_below(word, 0x20) | any_equal(word, '"') | any_equal(word, '\\'); }

#ifdef __SSE2__
// Sixteen bytes at a time where the target has SSE2 (every x86-64): a mask of the bytes that are
// a control character, '"' or '\\' — and, when `with_high`, of the bytes >= 0x80.
int special_mask(const char* at, bool with_high) {
  const __m128i bytes = _mm_loadu_si128(reinterpret_cast<const __m128i*>(at));
  // Signed compare: bytes >= 0x80 are negative, so "below 0x20" also catches them; they are
  // taken out again unless wanted.
  __m128i special = _mm_cmplt_epi8(bytes, _mm_set1_epi8(0x20));
  if (!with_high) special = _mm_andnot_si128(bytes, special);  // keep only bytes < 0x80 (sign bit clear)
  special = _mm_or_si128(special, _mm_cmpeq_epi8(bytes, _mm_set1_epi8('"')));
  special = _mm_or_si128(special, _mm_cmpeq_epi8(bytes, _mm_set1_epi8('\\')));
  return _mm_movemask_epi8(special);
}
#endif

// Copies the bytes at `from` that serialize writes as they are, up to the first it escapes or
// `end`, to `out`; returns how many. Whole blocks are stored before their mask says where the
// run stops, so it may store up to 16 bytes past what it returns (the room json_string_room
// keeps). The last block of a run of 16 bytes or more is read ending at `end`, overlapping the
// one before (storing again bytes already copied, the same ones), and a run of 8 to 15 bytes
// as two overlapping words, so short texts cost no loop over bytes.
inline std::size_t copy_plain(char* out, const char* from, const char* end) {
  const auto size = static_cast<std::size_t>(end - from);
#ifdef __SSE2__
  if (size >= 16) {
    std::size_t at = 0;
    for (;; at += 16) {
      if (at + 16 > size) at = size - 16;  // the last block, overlapping
      const __m128i bytes = _mm_loadu_si128(reinterpret_cast<const __m128i*>(from + at));
      _mm_storeu_si128(reinterpret_cast<__m128i*>(out + at), bytes);
      if (const int mask = special_mask(from + at, false)) return at + static_cast<std::size_t>(__builtin_ctz(mask));
      if (at + 16 == size) return size;
    }
  }
#endif
  if (size >= 8) {
    const auto first = load_word(from);
    const auto last = load_word(end - 8);
    if (!any_escaped(first) && !any_escaped(last)) {
      std::memcpy(out, &first, sizeof first);
      std::memcpy(out + size - 8, &last, sizeof last);
      return size;
    }
  }
  std::size_t at = 0;
  while (at < size && !kEscapes[static_cast<unsigned char>(from[at])]) {
    out[at] = from[at];
    ++at;
  }
  return at;
}

// The escape serialize writes for `byte` (one it escapes) at `out`; returns the end.
char* write_escape(char* out, unsigned char byte) {
  const char escape = kEscapes[byte];
  out[0] = '\\';
  if (escape != 'u') {
    out[1] = escape;
    return out + 2;
  }
  const char code[5] = {'u', '0', '0', kHex[byte >> 4], kHex[byte & 15]};
  std::memcpy(out + 1, code, sizeof code);
  return out + 6;
}

// Bytes a canonical string holds as they are: 0x20-0x7f except '"' and '\\'.
constexpr std::array<bool, 256> make_plain_string_bytes() {
  std::array<bool, 256> table{};
  for (int c = 0x20; c < 0x80; ++c) table[c] = c != '"' && c != '\\';
  return table;
}
constexpr auto kPlainStringBytes = make_plain_string_bytes();

// The first byte at or after `at` that a string check must look at: one serialize escapes or
// a byte of a UTF-8 sequence (`end` if none).
inline const char* next_unplain(const char* at, const char* end) {
#ifdef __SSE2__
  for (; end - at >= 16; at += 16) {
    if (const int mask = special_mask(at, true)) return at + __builtin_ctz(mask);
  }
#endif
  while (at < end && kPlainStringBytes[static_cast<unsigned char>(*at)]) ++at;
  return at;
}

inline bool is_space(char c) { return c <= ' ' && (c == ' ' || c == '\t' || c == '\n' || c == '\r'); }

// The length of the UTF-8 sequence starting at text[at] (a byte >= 0x80), 0 when it is one
// boost::json's parser refuses (overlong forms, surrogates, beyond U+10FFFF, truncated).
std::size_t utf8_length(std::string_view text, std::size_t at) {
  const auto byte = [&](std::size_t k) { return static_cast<unsigned char>(text[at + k]); };
  const auto follows = [&](std::size_t k, unsigned low = 0x80, unsigned high = 0xBF) {
    return at + k < text.size() && byte(k) >= low && byte(k) <= high;
  };
  const unsigned lead = byte(0);
  if (lead >= 0xC2 && lead <= 0xDF) return follows(1) ? 2 : 0;
  if (lead == 0xE0) return follows(1, 0xA0) && follows(2) ? 3 : 0;
  if (lead == 0xED) return follows(1, 0x80, 0x9F) && follows(2) ? 3 : 0;
  if (lead >= 0xE1 && lead <= 0xEF) return follows(1) && follows(2) ? 3 : 0;
  if (lead == 0xF0) return follows(1, 0x90) && follows(2) && follows(3) ? 4 : 0;
  if (lead >= 0xF1 && lead <= 0xF3) return follows(1) && follows(2) && follows(3) ? 4 : 0;
  if (lead == 0xF4) return follows(1, 0x80, 0x8F) && follows(2) && follows(3) ? 4 : 0;
  return 0;
}

bool is_lower_hex(char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); }
int hex_value(char c) { return c <= '9' ? c - '0' : c - 'a' + 10; }

// An escape at text[at] (after the backslash) that serialize writes the same way: its length
// after the backslash, 0 otherwise.
std::size_t canonical_escape_length(std::string_view text, std::size_t at) {
  if (at >= text.size()) return 0;
  switch (text[at]) {
    case '"': case '\\': case 'b': case 't': case 'n': case 'f': case 'r': return 1;
    case 'u': break;
    default: return 0;
  }
  if (at + 4 >= text.size() || text[at + 1] != '0' || text[at + 2] != '0') return 0;
  if (!is_lower_hex(text[at + 3]) || !is_lower_hex(text[at + 4])) return 0;
  const int code = hex_value(text[at + 3]) * 16 + hex_value(text[at + 4]);
  return code < 0x20 && kEscapes[static_cast<std::size_t>(code)] == 'u' ? 5 : 0;
}

// Past `word` when the text at `at` is it, else nullptr.
const char* literal_end(const char* at, const char* end, std::string_view word) {
  if (static_cast<std::size_t>(end - at) < word.size() || std::memcmp(at, word.data(), word.size()) != 0) return nullptr;
  return at + word.size();
}

}  // namespace row_text_detail

using namespace row_text_detail;

void TextBuffer::grow(std::size_t bytes) {
  const auto capacity = std::max(size_ + bytes, 2 * capacity_);
  auto data = std::make_unique_for_overwrite<char[]>(capacity);
  if (size_ > 0) std::memcpy(data.get(), data_.get(), size_);
  data_ = std::move(data);
  capacity_ = capacity;
}

char* write_json_string(char* out, std::string_view text) {
  *out++ = '"';
  const char* at = text.data();
  const char* const end = at + text.size();
  while (true) {
    const auto plain = copy_plain(out, at, end);
    at += plain;
    out += plain;
    if (at == end) break;
    out = write_escape(out, static_cast<unsigned char>(*at++));
  }
  *out++ = '"';
  return out;
}

void append_json_string(TextBuffer& out, std::string_view text) {
  out.commit(write_json_string(out.room(json_string_room(text.size())), text));
}

void append_json_string(std::string& out, std::string_view text) {
  const auto size = out.size();
  out.resize(size + json_string_room(text.size()));
  const char* end = write_json_string(out.data() + size, text);
  out.resize(static_cast<std::size_t>(end - out.data()));
}

// Checked first without writing; canonical text without whitespace (SQLite's, written by
// serialize) is then copied whole, spaced text (PostgreSQL's jsonb) without its whitespace.
bool CanonicalJsonSplicer::append(std::string& out, std::string_view text) {
  if (!canonical(text)) return false;
  if (!spaced_) {
    out.append(text);
    return true;
  }
  const auto size = out.size();
  out.resize(size + text.size());
  const char* end = write_unspaced(out.data() + size, text);
  out.resize(static_cast<std::size_t>(end - out.data()));
  return true;
}

bool CanonicalJsonSplicer::append(TextBuffer& out, std::string_view text) {
  if (!canonical(text)) return false;
  if (!spaced_) {
    out.append(text);
  } else {
    out.commit(write_unspaced(out.room(text.size()), text));
  }
  return true;
}

// One pass over the text, no recursion: after each value either a comma and the next value, or
// the end of one or more containers. Each open container's kind is a bit of `objects`, and an
// object's keys are the tail of keys_ from first_key[depth].
bool CanonicalJsonSplicer::canonical(std::string_view text) {
  const char* at = text.data();
  const char* const end = at + text.size();
  keys_.clear();
  spaced_ = false;
  std::array<std::size_t, kMaxDepth + 1> first_key{};
  uint32_t objects = 0;  // bit d: the container at depth d is an object
  int depth = 0;
  while (true) {
    at = skip(at, end);
    if (at == end) return false;
    switch (*at) {
      case '{':
      case '[': {
        if (++depth > kMaxDepth) return false;
        const bool object = *at == '{';
        at = skip(at + 1, end);
        if (at != end && *at == (object ? '}' : ']')) {  // empty: a whole value
          ++at;
          --depth;
          break;
        }
        if (object) {
          objects |= 1u << depth;
          first_key[depth] = keys_.size();
          at = key(at, end, first_key[depth]);
        } else {
          objects &= ~(1u << depth);
        }
        if (!at) return false;
        continue;  // the container's first value
      }
      case '"': at = string_end(at + 1, end); break;
      case 't': at = literal_end(at, end, "true"); break;
      case 'f': at = literal_end(at, end, "false"); break;
      case 'n': at = literal_end(at, end, "null"); break;
      default: at = integer_end(at, end); break;
    }
    if (!at) return false;
    // After a value.
    while (true) {
      at = skip(at, end);
      if (depth == 0) return at == end;
      if (at == end) return false;
      const bool object = (objects >> depth & 1) != 0;
      if (*at == ',') {
        at = object ? key(skip(at + 1, end), end, first_key[depth]) : at + 1;
        if (!at) return false;
        break;  // the next value
      }
      if (*at != (object ? '}' : ']')) return false;
      ++at;
      if (object) keys_.resize(first_key[depth]);
      --depth;
    }
  }
}

const char* CanonicalJsonSplicer::key(const char* at, const char* end, std::size_t first_key) {
  if (at == end || *at != '"') return nullptr;
  const char* key_end = string_end(at + 1, end);
  if (!key_end || keys_.size() - first_key >= kMaxKeys) return nullptr;
  // Keys are compared as written: an escape has one canonical form, so equal text is equal keys.
  const std::string_view key(at, static_cast<std::size_t>(key_end - at));
  for (auto k = first_key; k < keys_.size(); ++k) {
    if (keys_[k] == key) return nullptr;  // which one parse keeps is not ours to guess
  }
  keys_.push_back(key);
  at = skip(key_end, end);
  if (at == end || *at != ':') return nullptr;
  return at + 1;
}

// A canonical string is one serialize prints exactly as written.
const char* CanonicalJsonSplicer::string_end(const char* at, const char* end) {
  while ((at = next_unplain(at, end)) < end) {
    const auto byte = static_cast<unsigned char>(*at);
    if (byte == '"') return at + 1;
    if (byte == '\\') {
      const auto length = canonical_escape_length(std::string_view(at + 1, static_cast<std::size_t>(end - at - 1)), 0);
      if (length == 0) return nullptr;
      at += 1 + length;
    } else if (byte < 0x20) {
      return nullptr;
    } else if (byte < 0x80) {
      ++at;  // only when next_unplain stopped on it for the UTF-8 check of its block
    } else {
      const auto length = utf8_length(std::string_view(at, static_cast<std::size_t>(end - at)), 0);
      if (length == 0) return nullptr;
      at += length;
    }
  }
  return nullptr;
}

const char* CanonicalJsonSplicer::integer_end(const char* at, const char* end) {
  const char* start = at;
  if (*at == '-') ++at;
  const char* digits = at;
  while (at < end && *at >= '0' && *at <= '9') ++at;
  const auto count = static_cast<std::size_t>(at - digits);
  if (count == 0 || count > kMaxIntegerDigits) return nullptr;
  if (*digits == '0' && (count > 1 || digits != start)) return nullptr;  // 01, -0
  if (at < end && (*at == '.' || *at == 'e' || *at == 'E')) return nullptr;
  return at;
}

const char* CanonicalJsonSplicer::skip_spaces(const char* at, const char* end) {
  spaced_ = true;
  while (at < end && is_space(*at)) ++at;
  return at;
}

char* CanonicalJsonSplicer::write_unspaced(char* out, std::string_view text) {
  bool in_string = false;
  for (std::size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (in_string) {
      *out++ = c;
      if (c == '\\') *out++ = text[++i];  // a checked escape: the next byte is part of it
      else if (c == '"') in_string = false;
    } else if (!is_space(c)) {
      *out++ = c;
      in_string = c == '"';
    }
  }
  return out;
}

void JsonValueWriter::append(std::string& out, const boost::json::value& value) {
  serializer_.reset(&value);
  char buffer[512];
  while (!serializer_.done()) out += serializer_.read(buffer, sizeof buffer);
}

void JsonValueWriter::append(TextBuffer& out, const boost::json::value& value) {
  serializer_.reset(&value);
  char buffer[512];
  while (!serializer_.done()) out.append(serializer_.read(buffer, sizeof buffer));
}

void read_group_list(std::string_view text, std::vector<std::string>& out) {
  std::size_t count = 0;
  const auto plain = [&] {
    if (text.size() < 2 || text.front() != '[' || text.back() != ']') return false;
    const auto end = text.size() - 1;
    std::size_t at = 1;
    if (at == end) return true;
    while (true) {
      if (text[at] != '"') return false;
      const auto start = ++at;
      for (; at < end && text[at] != '"'; ++at) {
        const auto byte = static_cast<unsigned char>(text[at]);
        if (byte < 0x20 || byte > 0x7E || byte == '\\') return false;
      }
      if (at >= end) return false;
      const auto name = text.substr(start, at - start);
      if (count < out.size()) out[count].assign(name);
      else out.emplace_back(name);
      ++count;
      if (++at == end) return true;
      if (text[at++] != ',') return false;
    }
  };
  if (plain()) {
    out.resize(count);
  } else {
    out = string_list(std::string(text));
  }
}

void RowGroupFilter::ask(std::string_view groups_text) {
  read_group_list(groups_text, groups_);
  last_wanted_ = wanted_(groups_);
  last_text_.assign(groups_text);
  asked_ = true;
}

RowTextPlan::RowTextPlan(const schema::Model& model, std::string_view type_name) {
  std::vector<std::string> names;
  const auto put = [&](std::string_view name, Entry entry) {
    for (std::size_t i = 0; i < names.size(); ++i) {
      if (names[i] == name) {
        entries[i] = std::move(entry);  // operator[] on a present key: same place, new value
        return;
      }
    }
    names.emplace_back(name);
    entries.push_back(std::move(entry));
  };
  // decode_row's keys and columns, in its order.
  put("id", {{}, Source::kText, 1});
  put("organizationId", {{}, Source::kOrg, 0});
  put("createdAt", {{}, Source::kText, 2});
  put("updatedAt", {{}, Source::kText, 3});
  put("createdBy", {{}, Source::kTextOrNull, 4});
  put("archivedAt", {{}, Source::kTextIfSet, 5});
  int column = 7;
  for (const auto* field : column_fields(model)) put(field->name, {{}, Source::kField, column++, field->type});
  // row_json's, last.
  Entry type_entry{{}, Source::kConstant};
  append_json_string(type_entry.constant, type_name);
  put("__typename", std::move(type_entry));
  for (std::size_t i = 0; i < entries.size(); ++i) {
    std::string key = i > 0 ? "," : "";
    append_json_string(key, names[i]);
    key += ':';
    entries[i].key.assign(key + entries[i].constant);
  }
}

std::string_view RowTextEncoder::org_of(std::string_view tenant) {
  const auto slash = tenant.rfind('/');
  return slash == std::string_view::npos ? tenant : tenant.substr(0, slash);
}

void RowTextEncoder::put_number(TextBuffer& out, const RowTextPlan::Key& key, double number) {
  const auto value = number_value(number);  // the same integral/floating choice as decode_field
  if (value.is_int64()) {
    constexpr std::size_t kDigits = 24;  // an int64 has at most 20 characters
    char* at = key.write(out.room(key.room() + kDigits));
    out.commit(std::to_chars(at, at + kDigits, value.as_int64()).ptr);
    return;
  }
  put_literal(out, key);
  writer_.append(out, value);
}

void RowTextEncoder::put_json_cell(TextBuffer& out, std::string_view text) {
  if (splicer_.append(out, text)) return;
  boost::system::error_code ec;
  auto parsed = boost::json::parse(text, ec);
  if (ec) {
    append_json_string(out, text);
  } else {
    writer_.append(out, parsed);
  }
}

Status Store::scan_row_texts(const RowQuery& query, const RowTextScan& scan) {
  std::string text;
  JsonValueWriter writer;
  return scan_rows(query, [&](StoredRow&& row) {
    if (!scan.wanted(row.groups)) return true;
    row.data["__typename"] = scan.type_name;
    text.clear();
    writer.append(text, row.data);
    return scan.take(text);
  });
}

}  // namespace ablo::store
