#pragma once
// The one query evaluator of the client library (design docs/client-library.md §12, D14):
// every local read (list/count/first), every live query and the index-assisted paths use these
// functions, so a query means the same thing everywhere.
//
// Semantics: where clauses are ANDed; kEq/kNe typed strict equality (numbers by value, strings,
// booleans, date fields as instants whether ISO-8601 or epoch ms, JSON deep equality); ordered
// ops only between values of one type; anything compared with null is false except
// kIsNull/kIsNotNull; kIn/kNotIn over a JSON array; LIKE/ILIKE match the whole string with `%`
// and `_` (ILIKE folds ASCII and the simple Latin-1/Greek/Cyrillic cases). Ordering: per key,
// nulls last in both directions, numbers numerically, strings by UTF-8 code points, dates as
// instants; ties by id ascending; offset, then limit (limit 0 returns nothing).
//
// Pure: no I/O, no threads, no locks.
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "common/result.h"
#include "schema/schema.h"
#include "sdk/client.h"
#include "sdk/replica.h"

namespace ablo::sdk_detail {

struct WhereClause {
  std::string field;  // camelCase field, a snake_case column, or a base field (id, createdAt, …)
  Op op = Op::kEq;
  Json value;         // kIn/kNotIn: an array; kIsNull/kIsNotNull: ignored
};

struct OrderKey {
  std::string field;
  Direction direction = Direction::kAsc;
};

// The body of the public Query::Spec.
struct QuerySpec {
  std::vector<WhereClause> where;
  std::vector<OrderKey> order;
  std::optional<std::size_t> limit;
  std::size_t offset = 0;
  Scope scope = Scope::kLive;
  bool include_pending = true;
};

// A spec checked against its model: field names canonical (camelCase), date fields known.
struct CompiledQuery {
  std::string model;  // schema key
  QuerySpec spec;
  std::unordered_set<std::string> date_fields;
};

// Unknown field, or a value of the wrong shape (kIn without an array, LIKE without a string) →
// invalid_request naming the clause.
Status validate(const QuerySpec& spec, const schema::Model& model);
Result<CompiledQuery> compile(QuerySpec spec, const schema::Model& model);

// Whether `row` passes the scope and every where clause.
bool matches(const CompiledQuery& query, const Row& row);
// Strict weak order of the query: order keys, then id ascending.
bool row_before(const CompiledQuery& query, const Row& a, const Row& b);
// Filter, sort, offset, limit.
std::vector<Row> evaluate(const CompiledQuery& query, std::vector<Row> rows);
// The query over the replica (Query::list): the views, or the confirmed rows for
// include_pending(false). An equality clause on an indexed field narrows the candidates through
// the index first (views only); the result is the same as evaluate() over every row.
std::vector<Row> run_query(const CompiledQuery& query, const Replica& replica);

// LIKE of the whole string: `%` any run, `_` one code point. Exposed for tests.
bool like_match(std::string_view text, std::string_view pattern, bool case_insensitive);
// An ISO-8601 instant ("2026-01-02", "2026-01-02T03:04:05.678Z", "+01:00" offsets) or epoch ms,
// as epoch milliseconds. Exposed for tests.
std::optional<double> instant_ms(const Json& value);

// The state of one live query (Query::observe). Feed it the replica's RowChanges of its model
// (after the replica applied them: an include_pending(false) query reads the confirmed row back).: the ordered set of matching rows and the
// offset/limit window last reported. apply() patches it with binary insertion; the reported
// window always equals evaluate() over the replica (property-tested).
class LiveResult {
 public:
  explicit LiveResult(CompiledQuery query) : query_(std::move(query)) {}

  const CompiledQuery& query() const { return query_; }
  // Starts from `rows` (all rows of the model); returns the first update (cause kInitial).
  QueryUpdate initial(std::vector<Row> rows);
  // One replica change of this query's model. nullopt when the window did not change.
  // Uses only change.id and change.after (the view).
  std::optional<QueryUpdate> apply(const RowChange& change, ChangeCause cause);
  // As above; for include_pending(false) the row is the replica's confirmed row instead.
  std::optional<QueryUpdate> apply(const RowChange& change, ChangeCause cause, const Replica& replica);
  const std::vector<Row>& window() const { return window_; }
  std::size_t matching() const { return sorted_.size(); }

 private:
  void erase_sorted(const std::string& id);
  void insert_sorted(Row row);
  std::vector<Row> compute_window() const;

  CompiledQuery query_;
  std::vector<Row> sorted_;                          // every matching row, in query order
  std::unordered_map<std::string, Row> by_id_;       // the same rows by id (to find them in sorted_)
  std::vector<Row> window_;                          // what the observer last got
};

}  // namespace ablo::sdk_detail
