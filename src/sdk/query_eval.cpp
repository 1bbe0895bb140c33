#include "sdk/query_eval.h"

#include <algorithm>
#include <charconv>
#include <chrono>
#include <cmath>

#include <boost/json/serialize.hpp>
#include <fmt/format.h>

#include "common/time.h"

namespace ablo::sdk_detail {

namespace query_eval_detail {

// A row value (or a clause value) reduced to what comparisons need.
struct Scalar {
  enum Kind { kNull = 0, kBool = 1, kNumber = 2, kString = 3, kOther = 4 } kind = kNull;
  bool boolean = false;
  double number = 0;
  std::string_view text;
  const Json* raw = nullptr;
};

const Json kNullValue = nullptr;

const Json& field_value(const Row& row, const std::string& field, Json& id_holder) {
  if (field == "id") {
    id_holder = Json(row.id);
    return id_holder;
  }
  const auto* value = row.data.if_contains(field);
  return value ? *value : kNullValue;
}

Scalar to_scalar(const Json& value, bool is_date) {
  Scalar out;
  out.raw = &value;
  if (value.is_null()) return out;
  if (is_date) {
    if (auto instant = instant_ms(value)) {
      out.kind = Scalar::kNumber;
      out.number = *instant;
      return out;
    }
  }
  if (value.is_bool()) {
    out.kind = Scalar::kBool;
    out.boolean = value.get_bool();
  } else if (value.is_number()) {
    out.kind = Scalar::kNumber;
    out.number = value.to_number<double>();
  } else if (value.is_string()) {
    out.kind = Scalar::kString;
    out.text = value.get_string();
  } else {
    out.kind = Scalar::kOther;
  }
  return out;
}

bool scalar_equal(const Scalar& a, const Scalar& b) {
  if (a.kind == Scalar::kNull || a.kind != b.kind) return false;
  switch (a.kind) {
    case Scalar::kBool: return a.boolean == b.boolean;
    case Scalar::kNumber: return a.number == b.number;
    case Scalar::kString: return a.text == b.text;  // byte equality = code point equality
    default: return *a.raw == *b.raw;
  }
}

// Three-way order of two non-null values of one kind; nullopt when they are not comparable.
std::optional<int> scalar_order(const Scalar& a, const Scalar& b) {
  if (a.kind == Scalar::kNull || b.kind == Scalar::kNull || a.kind != b.kind) return std::nullopt;
  switch (a.kind) {
    case Scalar::kBool: return int(a.boolean) - int(b.boolean);
    case Scalar::kNumber: return a.number < b.number ? -1 : (b.number < a.number ? 1 : 0);
    case Scalar::kString: {
      // std::string_view::compare compares as unsigned bytes: UTF-8 byte order = code point order.
      const int c = a.text.compare(b.text);
      return c < 0 ? -1 : (c > 0 ? 1 : 0);
    }
    default: return std::nullopt;
  }
}

// UTF-8 → code points. An invalid byte becomes U+DC00 + byte (a lone surrogate, as Python's
// surrogateescape): it matches only itself and is never case-folded as a Latin-1 letter.
std::u32string decode_utf8(std::string_view text) {
  std::u32string out;
  out.reserve(text.size());
  for (std::size_t i = 0; i < text.size();) {
    const auto lead = static_cast<unsigned char>(text[i]);
    const int extra = lead < 0x80 ? 0 : (lead >> 5) == 0x6 ? 1 : (lead >> 4) == 0xE ? 2 : (lead >> 3) == 0x1E ? 3 : -1;
    if (extra < 0 || (extra > 0 && i + static_cast<std::size_t>(extra) >= text.size())) {
      out.push_back(0xDC00 + lead);
      ++i;
      continue;
    }
    if (extra == 0) {
      out.push_back(lead);
      ++i;
      continue;
    }
    char32_t point = lead & (0x3F >> extra);
    bool valid = true;
    for (int k = 1; k <= extra; ++k) {
      const auto next = static_cast<unsigned char>(text[i + k]);
      if ((next & 0xC0) != 0x80) {
        valid = false;
        break;
      }
      point = (point << 6) | (next & 0x3F);
    }
    if (!valid) {
      out.push_back(0xDC00 + lead);
      ++i;
      continue;
    }
    out.push_back(point);
    i += extra + 1;
  }
  return out;
}

// Simple case folding where it is one table-free rule: ASCII, Latin-1, Greek, Cyrillic.
char32_t fold_case(char32_t c) {
  if (c >= U'A' && c <= U'Z') return c + 32;
  if (c >= 0xC0 && c <= 0xDE && c != 0xD7) return c + 32;
  if (c >= 0x391 && c <= 0x3A9 && c != 0x3A2) return c + 32;
  if (c >= 0x410 && c <= 0x42F) return c + 32;
  if (c >= 0x400 && c <= 0x40F) return c + 80;
  return c;
}

bool like_points(const std::u32string& text, const std::u32string& pattern) {
  // Greedy wildcard match with one backtrack point: linear for patterns without `%` runs.
  std::size_t t = 0, p = 0, star = std::u32string::npos, mark = 0;
  while (t < text.size()) {
    if (p < pattern.size() && (pattern[p] == U'_' || pattern[p] == text[t])) {
      ++t;
      ++p;
    } else if (p < pattern.size() && pattern[p] == U'%') {
      star = p++;
      mark = t;
    } else if (star != std::u32string::npos) {
      p = star + 1;
      t = ++mark;
    } else {
      return false;
    }
  }
  while (p < pattern.size() && pattern[p] == U'%') ++p;
  return p == pattern.size();
}

bool in_scope(Scope scope, const Row& row) {
  switch (scope) {
    case Scope::kLive: return !row.archived;
    case Scope::kArchived: return row.archived;
    case Scope::kAll: return true;
  }
  return true;
}

bool clause_holds(const CompiledQuery& query, const WhereClause& clause, const Row& row) {
  Json id_holder;
  const Json& raw = field_value(row, clause.field, id_holder);
  const bool is_date = query.date_fields.contains(clause.field);
  switch (clause.op) {
    case Op::kIsNull: return raw.is_null();
    case Op::kIsNotNull: return !raw.is_null();
    default: break;
  }
  if (raw.is_null()) return false;  // SQL: anything vs null is unknown → not matched
  const Scalar value = to_scalar(raw, is_date);
  switch (clause.op) {
    case Op::kEq: return scalar_equal(value, to_scalar(clause.value, is_date));
    case Op::kNe: {
      if (clause.value.is_null()) return false;
      return !scalar_equal(value, to_scalar(clause.value, is_date));
    }
    case Op::kLt: case Op::kLe: case Op::kGt: case Op::kGe: {
      const auto order = scalar_order(value, to_scalar(clause.value, is_date));
      if (!order) return false;
      if (clause.op == Op::kLt) return *order < 0;
      if (clause.op == Op::kLe) return *order <= 0;
      if (clause.op == Op::kGt) return *order > 0;
      return *order >= 0;
    }
    case Op::kIn: case Op::kNotIn: {
      if (!clause.value.is_array()) return false;
      bool found = false, list_has_null = false;
      for (const Json& candidate : clause.value.get_array()) {
        if (candidate.is_null()) list_has_null = true;
        if (scalar_equal(value, to_scalar(candidate, is_date))) found = true;
      }
      if (clause.op == Op::kIn) return found;
      return !found && !list_has_null;  // SQL: x NOT IN (…, NULL) is never true
    }
    case Op::kLike: case Op::kNotLike: case Op::kILike: case Op::kNotILike: {
      if (!raw.is_string() || !clause.value.is_string()) return false;
      const bool fold = clause.op == Op::kILike || clause.op == Op::kNotILike;
      const bool hit = like_match(raw.get_string(), clause.value.get_string(), fold);
      return (clause.op == Op::kLike || clause.op == Op::kILike) ? hit : !hit;
    }
    default: return false;
  }
}

// Three-way comparison on one order key: nulls last in both directions.
int key_order(const CompiledQuery& query, const OrderKey& key, const Row& a, const Row& b) {
  Json holder_a, holder_b;
  const bool is_date = query.date_fields.contains(key.field);
  const Scalar va = to_scalar(field_value(a, key.field, holder_a), is_date);
  const Scalar vb = to_scalar(field_value(b, key.field, holder_b), is_date);
  if (va.kind == Scalar::kNull || vb.kind == Scalar::kNull) {
    if (va.kind == vb.kind) return 0;
    return va.kind == Scalar::kNull ? 1 : -1;
  }
  int order = 0;
  if (va.kind != vb.kind) {
    order = va.kind < vb.kind ? -1 : 1;  // mixed types: a fixed rank, so the order stays total
  } else if (auto compared = scalar_order(va, vb)) {
    order = *compared;
  } else {
    // JSON objects/arrays: by their serialized text, only to stay deterministic.
    const std::string ta = boost::json::serialize(*va.raw), tb = boost::json::serialize(*vb.raw);
    order = ta < tb ? -1 : (tb < ta ? 1 : 0);
  }
  return key.direction == Direction::kDesc ? -order : order;
}

}  // namespace query_eval_detail

namespace qd = query_eval_detail;

bool like_match(std::string_view text, std::string_view pattern, bool case_insensitive) {
  std::u32string t = qd::decode_utf8(text), p = qd::decode_utf8(pattern);
  if (case_insensitive) {
    for (char32_t& c : t) c = qd::fold_case(c);
    for (char32_t& c : p) c = qd::fold_case(c);
  }
  return qd::like_points(t, p);
}

std::optional<double> instant_ms(const Json& value) {
  if (value.is_number()) return value.to_number<double>();
  if (value.is_string()) {  // the same reading of ISO-8601 as the server's (V8's Date.parse)
    const auto ms = parse_iso8601_ms(value.get_string());
    return ms ? std::optional<double>(static_cast<double>(*ms)) : std::nullopt;
  }
  return std::nullopt;
}

Result<CompiledQuery> compile(QuerySpec spec, const schema::Model& model) {
  CompiledQuery compiled;
  auto canonical = [&](std::string& field, std::string_view where) -> Status {
    auto resolved = model.resolve_column(field);
    if (!resolved) {
      return fail("invalid_request", fmt::format("unknown field '{}' on model '{}' in {}", field, model.key, where), field);
    }
    field = *resolved;
    if (field == "createdAt" || field == "updatedAt" || field == "archivedAt") compiled.date_fields.insert(field);
    if (const schema::Field* declared = model.field(field); declared && declared->type == schema::FieldType::kDate) {
      compiled.date_fields.insert(field);
    }
    return {};
  };
  for (WhereClause& clause : spec.where) {
    if (auto ok = canonical(clause.field, "where"); !ok) return tl::unexpected(ok.error());
    const bool list_op = clause.op == Op::kIn || clause.op == Op::kNotIn;
    if (list_op && !clause.value.is_array()) {
      return fail("invalid_request", fmt::format("where '{}' IN needs an array value", clause.field), clause.field);
    }
    const bool like_op = clause.op == Op::kLike || clause.op == Op::kNotLike || clause.op == Op::kILike ||
                         clause.op == Op::kNotILike;
    if (like_op && !clause.value.is_string()) {
      return fail("invalid_request", fmt::format("where '{}' LIKE needs a string pattern", clause.field), clause.field);
    }
  }
  for (OrderKey& key : spec.order) {
    if (auto ok = canonical(key.field, "order_by"); !ok) return tl::unexpected(ok.error());
  }
  compiled.model = model.key;
  compiled.spec = std::move(spec);
  return compiled;
}

Status validate(const QuerySpec& spec, const schema::Model& model) {
  auto compiled = compile(spec, model);
  if (!compiled) return tl::unexpected(compiled.error());
  return {};
}

bool matches(const CompiledQuery& query, const Row& row) {
  if (!qd::in_scope(query.spec.scope, row)) return false;
  return std::all_of(query.spec.where.begin(), query.spec.where.end(),
                     [&](const WhereClause& clause) { return qd::clause_holds(query, clause, row); });
}

bool row_before(const CompiledQuery& query, const Row& a, const Row& b) {
  for (const OrderKey& key : query.spec.order) {
    const int order = qd::key_order(query, key, a, b);
    if (order != 0) return order < 0;
  }
  return a.id < b.id;
}

std::vector<Row> evaluate(const CompiledQuery& query, std::vector<Row> rows) {
  std::erase_if(rows, [&](const Row& row) { return !matches(query, row); });
  std::sort(rows.begin(), rows.end(), [&](const Row& a, const Row& b) { return row_before(query, a, b); });
  const std::size_t begin = std::min(query.spec.offset, rows.size());
  std::size_t end = rows.size();
  if (query.spec.limit) end = std::min(end, begin + *query.spec.limit);
  return std::vector<Row>(std::make_move_iterator(rows.begin() + begin), std::make_move_iterator(rows.begin() + end));
}

std::vector<Row> run_query(const CompiledQuery& query, const Replica& replica) {
  if (query.spec.include_pending) {
    for (const WhereClause& clause : query.spec.where) {
      // Dates have many spellings and JSON objects many key orders: those scan instead.
      if (clause.op != Op::kEq || query.date_fields.contains(clause.field)) continue;
      if (clause.value.is_object() || clause.value.is_array()) continue;
      auto ids = replica.lookup(query.model, clause.field, clause.value);
      if (!ids) continue;
      std::vector<Row> candidates;
      candidates.reserve(ids->size());
      for (const std::string& id : *ids) {
        if (auto row = replica.view(query.model, id)) candidates.push_back(std::move(*row));
      }
      return evaluate(query, std::move(candidates));
    }
  }
  return evaluate(query, replica.rows(query.model, query.spec.include_pending));
}

QueryUpdate LiveResult::initial(std::vector<Row> rows) {
  sorted_.clear();
  by_id_.clear();
  for (Row& row : rows) {
    if (!matches(query_, row)) continue;
    by_id_.emplace(row.id, row);
    sorted_.push_back(std::move(row));
  }
  std::sort(sorted_.begin(), sorted_.end(), [&](const Row& a, const Row& b) { return row_before(query_, a, b); });
  window_ = compute_window();
  QueryUpdate update;
  update.rows = window_;
  for (const Row& row : window_) update.added.push_back(row.id);
  update.cause = ChangeCause::kInitial;
  return update;
}

void LiveResult::erase_sorted(const std::string& id) {
  auto found = by_id_.find(id);
  if (found == by_id_.end()) return;
  // The order includes the id, so the stored row has exactly one position.
  auto at = std::lower_bound(sorted_.begin(), sorted_.end(), found->second,
                             [&](const Row& a, const Row& b) { return row_before(query_, a, b); });
  if (at != sorted_.end() && at->id == id) {
    sorted_.erase(at);
  } else {
    std::erase_if(sorted_, [&](const Row& row) { return row.id == id; });  // defensive: never expected
  }
  by_id_.erase(found);
}

void LiveResult::insert_sorted(Row row) {
  auto at = std::upper_bound(sorted_.begin(), sorted_.end(), row,
                             [&](const Row& a, const Row& b) { return row_before(query_, a, b); });
  by_id_.insert_or_assign(row.id, row);
  sorted_.insert(at, std::move(row));
}

std::vector<Row> LiveResult::compute_window() const {
  const std::size_t begin = std::min(query_.spec.offset, sorted_.size());
  std::size_t end = sorted_.size();
  if (query_.spec.limit) end = std::min(end, begin + *query_.spec.limit);
  return std::vector<Row>(sorted_.begin() + static_cast<std::ptrdiff_t>(begin),
                          sorted_.begin() + static_cast<std::ptrdiff_t>(end));
}

std::optional<QueryUpdate> LiveResult::apply(const RowChange& change, ChangeCause cause, const Replica& replica) {
  if (query_.spec.include_pending) return apply(change, cause);
  return apply(RowChange{change.model, change.id, std::nullopt, replica.confirmed(change.model, change.id)}, cause);
}

std::optional<QueryUpdate> LiveResult::apply(const RowChange& change, ChangeCause cause) {
  erase_sorted(change.id);
  if (change.after && matches(query_, *change.after)) insert_sorted(*change.after);
  std::vector<Row> next = compute_window();

  std::unordered_map<std::string, const Row*> previous;
  for (const Row& row : window_) previous.emplace(row.id, &row);
  QueryUpdate update;
  bool reordered = next.size() != window_.size();
  for (std::size_t i = 0; i < next.size(); ++i) {
    if (!reordered && next[i].id != window_[i].id) reordered = true;
    auto was = previous.find(next[i].id);
    if (was == previous.end()) {
      update.added.push_back(next[i].id);
    } else {
      if (!same_row_value(*was->second, next[i])) update.changed.push_back(next[i].id);
      previous.erase(was);
    }
  }
  for (const Row& row : window_) {
    if (previous.contains(row.id)) update.removed.push_back(row.id);
  }
  if (!reordered && update.added.empty() && update.removed.empty() && update.changed.empty()) return std::nullopt;
  window_ = std::move(next);
  update.rows = window_;
  update.cause = cause;
  return update;
}

}  // namespace ablo::sdk_detail

