// U8 (docs/client-library.md §14.1): the one evaluator's semantics, and the live result's
// incremental updates equal a full re-evaluation on random change sequences.
#include "sdk/query_eval.h"

#include <map>
#include <sstream>

#include <boost/json.hpp>
#include <gtest/gtest.h>
#include <rapidcheck.h>
#include <rapidcheck/gtest.h>

#include "sdk/replica.h"
#include "sdk/sdk_test_schema.h"
#include "support/sanitized_build.h"

namespace ablo::sdk_detail::query_eval_test_helpers {
namespace {

namespace json = boost::json;

const schema::Model& tasks_model() { return *sdk_test::sdk_test_schema()->by_key("tasks"); }

Row task(const std::string& id, JsonObject data, bool archived = false) {
  Row row;
  row.model = "tasks";
  row.id = id;
  data["id"] = id;
  row.data = std::move(data);
  row.archived = archived;
  return row;
}

CompiledQuery compiled(QuerySpec spec) {
  auto result = compile(std::move(spec), tasks_model());
  EXPECT_TRUE(result) << (result ? "" : result.error().message);
  return result ? *result : CompiledQuery{};
}

QuerySpec where(std::string field, Op op, json::value value = nullptr) {
  QuerySpec spec;
  spec.where.push_back(WhereClause{std::move(field), op, std::move(value)});
  return spec;
}

bool row_matches(const QuerySpec& spec, const Row& row) { return matches(compiled(spec), row); }

std::vector<std::string> ids(const std::vector<Row>& rows) {
  std::vector<std::string> out;
  for (const Row& row : rows) out.push_back(row.id);
  return out;
}

TEST(QueryValidate, UnknownFieldIsInvalidRequestNamingIt) {
  auto status = validate(where("colour", Op::kEq, "red"), tasks_model());
  ASSERT_FALSE(status);
  EXPECT_EQ(status.error().code, "invalid_request");
  EXPECT_NE(status.error().message.find("colour"), std::string::npos);
  EXPECT_EQ(status.error().param, "colour");

  QuerySpec bad_order;
  bad_order.order.push_back(OrderKey{"nope", Direction::kAsc});
  EXPECT_FALSE(validate(bad_order, tasks_model()));
  EXPECT_FALSE(validate(where("title", Op::kIn, "not an array"), tasks_model()));
  EXPECT_FALSE(validate(where("title", Op::kLike, 3), tasks_model()));
}

TEST(QueryValidate, ColumnNamesAndBaseFieldsResolveToFieldNames) {
  auto query = compile(where("ext_ref", Op::kEq, "x"), tasks_model());
  ASSERT_TRUE(query);
  EXPECT_EQ(query->spec.where[0].field, "externalRef");
  EXPECT_TRUE(validate(where("created_at", Op::kIsNull), tasks_model()));
  EXPECT_TRUE(validate(where("id", Op::kEq, "t1"), tasks_model()));
}

TEST(QueryMatch, EqualityIsTypedAndStrict) {
  const Row row = task("t1", {{"title", "1"}, {"position", 1}, {"done", false}});
  EXPECT_TRUE(row_matches(where("position", Op::kEq, 1), row));
  EXPECT_TRUE(row_matches(where("position", Op::kEq, 1.0), row));  // numbers by value
  EXPECT_FALSE(row_matches(where("position", Op::kEq, "1"), row));  // no string/number coercion
  EXPECT_FALSE(row_matches(where("title", Op::kEq, 1), row));
  EXPECT_TRUE(row_matches(where("title", Op::kEq, "1"), row));
  EXPECT_FALSE(row_matches(where("done", Op::kEq, 0), row));
  EXPECT_TRUE(row_matches(where("done", Op::kEq, false), row));
  EXPECT_TRUE(row_matches(where("title", Op::kNe, "2"), row));
  EXPECT_FALSE(row_matches(where("title", Op::kNe, "1"), row));
  EXPECT_TRUE(row_matches(where("id", Op::kEq, "t1"), row));
}

TEST(QueryMatch, JsonFieldsCompareDeeply) {
  const Row row = task("t1", {{"tags", json::array{"a", "b"}}});
  EXPECT_TRUE(row_matches(where("tags", Op::kEq, json::array{"a", "b"}), row));
  EXPECT_FALSE(row_matches(where("tags", Op::kEq, json::array{"b", "a"}), row));
}

TEST(QueryMatch, NullRules) {
  const Row row = task("t1", {{"title", "x"}, {"assigneeId", nullptr}});
  for (Op op : {Op::kEq, Op::kNe, Op::kLt, Op::kLe, Op::kGt, Op::kGe, Op::kLike, Op::kNotLike}) {
    const json::value probe = (op == Op::kLike || op == Op::kNotLike) ? json::value("%") : json::value("x");
    EXPECT_FALSE(row_matches(where("assigneeId", op, probe), row)) << int(op);
  }
  EXPECT_FALSE(row_matches(where("assigneeId", Op::kIn, json::array{nullptr}), row));
  EXPECT_FALSE(row_matches(where("assigneeId", Op::kNotIn, json::array{"a"}), row));
  EXPECT_FALSE(row_matches(where("title", Op::kEq, nullptr), row));  // = null is never true
  EXPECT_FALSE(row_matches(where("title", Op::kNe, nullptr), row));
  EXPECT_TRUE(row_matches(where("assigneeId", Op::kIsNull), row));
  EXPECT_TRUE(row_matches(where("dueAt", Op::kIsNull), row));  // a missing field is null
  EXPECT_FALSE(row_matches(where("title", Op::kIsNull), row));
  EXPECT_TRUE(row_matches(where("title", Op::kIsNotNull), row));
}

TEST(QueryMatch, OrderedOpsOnlyBetweenOneType) {
  const Row row = task("t1", {{"title", "b"}, {"position", 5}});
  EXPECT_TRUE(row_matches(where("position", Op::kGt, 4), row));
  EXPECT_TRUE(row_matches(where("position", Op::kGe, 5), row));
  EXPECT_FALSE(row_matches(where("position", Op::kLt, 5), row));
  EXPECT_TRUE(row_matches(where("position", Op::kLe, 5.0), row));
  EXPECT_FALSE(row_matches(where("position", Op::kGt, "4"), row));
  EXPECT_TRUE(row_matches(where("title", Op::kGt, "a"), row));
  EXPECT_FALSE(row_matches(where("title", Op::kGt, 1), row));
  // Strings compare by code point: "é" (U+00E9) sorts after "z".
  EXPECT_TRUE(row_matches(where("title", Op::kLt, "\xC3\xA9"), task("t2", {{"title", "z"}})));
}

TEST(QueryMatch, InAndNotInOverAnArray) {
  const Row row = task("t1", {{"title", "b"}, {"position", 2}});
  EXPECT_TRUE(row_matches(where("title", Op::kIn, json::array{"a", "b"}), row));
  EXPECT_FALSE(row_matches(where("title", Op::kIn, json::array{"a", "c"}), row));
  EXPECT_TRUE(row_matches(where("position", Op::kIn, json::array{1, 2.0}), row));
  EXPECT_FALSE(row_matches(where("position", Op::kIn, json::array{"2"}), row));
  EXPECT_TRUE(row_matches(where("title", Op::kNotIn, json::array{"a", "c"}), row));
  EXPECT_FALSE(row_matches(where("title", Op::kNotIn, json::array{"b"}), row));
  EXPECT_FALSE(row_matches(where("title", Op::kNotIn, json::array{"a", nullptr}), row));  // SQL
  EXPECT_FALSE(row_matches(where("title", Op::kIn, json::array{}), row));
}

TEST(QueryMatch, LikeMatchesTheWholeString) {  // T06
  EXPECT_TRUE(like_match("hello", "hello", false));
  EXPECT_FALSE(like_match("hello world", "hello", false));  // whole string, not a substring
  EXPECT_TRUE(like_match("hello world", "hello%", false));
  EXPECT_TRUE(like_match("hello world", "%world", false));
  EXPECT_TRUE(like_match("hello world", "%lo w%", false));
  EXPECT_TRUE(like_match("hat", "h_t", false));
  EXPECT_FALSE(like_match("hart", "h_t", false));
  EXPECT_TRUE(like_match("h\xC3\xA9t", "h_t", false));  // `_` is one code point, not one byte
  EXPECT_TRUE(like_match("", "%", false));
  EXPECT_FALSE(like_match("", "_", false));
  EXPECT_TRUE(like_match("aXbXc", "a%b%c", false));
  EXPECT_FALSE(like_match("Hello", "hello", false));
  EXPECT_TRUE(like_match("Hello", "hello", true));
  EXPECT_TRUE(like_match("\xC3\x89T\xC3\x89", "\xC3\xA9t\xC3\xA9", true));  // ÉTÉ ILIKE été
  EXPECT_TRUE(like_match("\xD0\x9F\xD0\xA0\xD0\x98", "\xD0\xBF\xD1\x80\xD0\xB8", true));  // ПРИ ILIKE при
  EXPECT_FALSE(like_match("\xC3", "\xE3", true));  // invalid UTF-8 bytes are not folded as Latin-1
  EXPECT_TRUE(like_match("a\xFF" "b", "a_b", false));  // an invalid byte still counts as one character
  const Row row = task("t1", {{"title", "Buy Milk"}});
  EXPECT_TRUE(row_matches(where("title", Op::kLike, "Buy%"), row));
  EXPECT_FALSE(row_matches(where("title", Op::kLike, "buy%"), row));
  EXPECT_TRUE(row_matches(where("title", Op::kILike, "buy%"), row));
  EXPECT_TRUE(row_matches(where("title", Op::kNotLike, "buy%"), row));
  EXPECT_FALSE(row_matches(where("title", Op::kNotILike, "buy%"), row));
  EXPECT_FALSE(row_matches(where("position", Op::kLike, "%"), task("t2", {{"position", 1}})));
}

TEST(QueryMatch, DateFieldsCompareAsInstants) {
  EXPECT_EQ(*instant_ms(json::value("1970-01-01T00:00:01Z")), 1000.0);
  EXPECT_EQ(*instant_ms(json::value("1970-01-02")), 86400000.0);
  EXPECT_EQ(*instant_ms(json::value("2026-03-04T05:06:07.089Z")), 1772600767089.0);
  EXPECT_EQ(*instant_ms(json::value("2026-03-04T06:06:07.089+01:00")), 1772600767089.0);
  EXPECT_FALSE(instant_ms(json::value("yesterday")));
  const Row row = task("t1", {{"dueAt", "2026-03-04T05:06:07.089Z"}});
  EXPECT_TRUE(row_matches(where("dueAt", Op::kEq, 1772600767089), row));
  EXPECT_TRUE(row_matches(where("dueAt", Op::kEq, "2026-03-04T06:06:07.089+01:00"), row));
  EXPECT_TRUE(row_matches(where("dueAt", Op::kGt, "2026-03-04"), row));
  EXPECT_FALSE(row_matches(where("dueAt", Op::kLt, 1000), row));
  // A non-date string field is not parsed: "2026-03-04" is just text there.
  EXPECT_FALSE(row_matches(where("title", Op::kEq, 1772582400000), task("t2", {{"title", "2026-03-04"}})));
}

TEST(QueryMatch, ScopeFiltersArchivedRows) {
  const Row live = task("a", {{"title", "x"}});
  const Row archived = task("b", {{"title", "x"}}, true);
  QuerySpec spec;
  EXPECT_TRUE(row_matches(spec, live));
  EXPECT_FALSE(row_matches(spec, archived));
  spec.scope = Scope::kArchived;
  EXPECT_FALSE(row_matches(spec, live));
  EXPECT_TRUE(row_matches(spec, archived));
  spec.scope = Scope::kAll;
  EXPECT_TRUE(row_matches(spec, live));
  EXPECT_TRUE(row_matches(spec, archived));
}

TEST(QueryOrder, MultiKeyNullsLastBothDirectionsTiesById) {
  std::vector<Row> rows = {
      task("e", {{"position", nullptr}, {"title", "x"}}), task("d", {{"position", 2}, {"title", "a"}}),
      task("c", {{"position", 10}, {"title", "b"}}),     task("b", {{"position", 2}, {"title", "b"}}),
      task("a", {{"title", "c"}}),                        task("f", {{"position", 2}, {"title", "b"}})};
  QuerySpec asc;
  asc.order = {OrderKey{"position", Direction::kAsc}, OrderKey{"title", Direction::kAsc}};
  // 2 < 10 numerically (not "10" < "2"), ties (b, f: 2/"b") by id, nulls (a missing, e null) last.
  EXPECT_EQ(ids(evaluate(compiled(asc), rows)), (std::vector<std::string>{"d", "b", "f", "c", "a", "e"}));
  QuerySpec desc;
  desc.order = {OrderKey{"position", Direction::kDesc}, OrderKey{"title", Direction::kDesc}};
  // Nulls stay last descending too; among them the second key (title desc: "x" > "c") decides.
  EXPECT_EQ(ids(evaluate(compiled(desc), rows)), (std::vector<std::string>{"c", "b", "f", "d", "e", "a"}));
  QuerySpec none;  // no order key: by id
  EXPECT_EQ(ids(evaluate(compiled(none), rows)), (std::vector<std::string>{"a", "b", "c", "d", "e", "f"}));
}

TEST(QueryOrder, StringsByCodePointAndDatesAsInstants) {
  std::vector<Row> rows = {task("1", {{"title", "\xC3\xA9"}}), task("2", {{"title", "Z"}}), task("3", {{"title", "a"}}),
                           task("4", {{"title", "\xF0\x9F\x98\x80"}})};
  QuerySpec by_title;
  by_title.order = {OrderKey{"title", Direction::kAsc}};
  EXPECT_EQ(ids(evaluate(compiled(by_title), rows)), (std::vector<std::string>{"2", "3", "1", "4"}));

  std::vector<Row> dated = {task("x", {{"dueAt", "2026-01-02T00:00:00Z"}}), task("y", {{"dueAt", 0}}),
                            task("z", {{"dueAt", "2026-01-01T23:00:00-02:00"}})};
  QuerySpec by_due;
  by_due.order = {OrderKey{"dueAt", Direction::kAsc}};
  EXPECT_EQ(ids(evaluate(compiled(by_due), dated)), (std::vector<std::string>{"y", "x", "z"}));
}

TEST(QueryWindow, OffsetThenLimitAndLimitZero) {
  std::vector<Row> rows;
  for (int i = 0; i < 5; ++i) rows.push_back(task(std::string(1, char('a' + i)), {{"position", i}}));
  QuerySpec spec;
  spec.offset = 1;
  spec.limit = 2;
  EXPECT_EQ(ids(evaluate(compiled(spec), rows)), (std::vector<std::string>{"b", "c"}));
  spec.offset = 4;
  EXPECT_EQ(ids(evaluate(compiled(spec), rows)), (std::vector<std::string>{"e"}));
  spec.offset = 9;
  EXPECT_TRUE(evaluate(compiled(spec), rows).empty());
  spec.offset = 0;
  spec.limit = 0;
  EXPECT_TRUE(evaluate(compiled(spec), rows).empty());  // limit(0) returns nothing
}

TEST(LiveResultTest, ReportsAddedRemovedChangedAndSkipsIrrelevantChanges) {
  QuerySpec spec = where("done", Op::kEq, false);
  spec.order = {OrderKey{"position", Direction::kAsc}};
  spec.limit = 2;
  LiveResult live(compiled(spec));
  auto first = live.initial({task("a", {{"done", false}, {"position", 1}}), task("b", {{"done", false}, {"position", 2}}),
                             task("c", {{"done", true}, {"position", 0}})});
  EXPECT_EQ(first.cause, ChangeCause::kInitial);
  EXPECT_EQ(ids(first.rows), (std::vector<std::string>{"a", "b"}));
  EXPECT_EQ(first.added, (std::vector<std::string>{"a", "b"}));

  // A row outside the result that stays outside: no call.
  RowChange outside{"tasks", "c", task("c", {{"done", true}, {"position", 0}}), task("c", {{"done", true}, {"position", 5}})};
  EXPECT_FALSE(live.apply(outside, ChangeCause::kRemote));

  // A new first row pushes "b" out of the limit.
  RowChange inserted{"tasks", "d", std::nullopt, task("d", {{"done", false}, {"position", 0}})};
  auto update = live.apply(inserted, ChangeCause::kOptimistic);
  ASSERT_TRUE(update);
  EXPECT_EQ(update->cause, ChangeCause::kOptimistic);
  EXPECT_EQ(ids(update->rows), (std::vector<std::string>{"d", "a"}));
  EXPECT_EQ(update->added, (std::vector<std::string>{"d"}));
  EXPECT_EQ(update->removed, (std::vector<std::string>{"b"}));

  // An in-place change of a shown row.
  RowChange edited{"tasks", "a", task("a", {{"done", false}, {"position", 1}}),
                   task("a", {{"done", false}, {"position", 1}, {"title", "x"}})};
  update = live.apply(edited, ChangeCause::kRemote);
  ASSERT_TRUE(update);
  EXPECT_EQ(update->changed, (std::vector<std::string>{"a"}));
  EXPECT_TRUE(update->added.empty());

  // Rolled back: the optimistic row leaves, "b" comes back.
  RowChange rolled{"tasks", "d", task("d", {{"done", false}, {"position", 0}}), std::nullopt};
  update = live.apply(rolled, ChangeCause::kRolledBack);
  ASSERT_TRUE(update);
  EXPECT_EQ(ids(update->rows), (std::vector<std::string>{"a", "b"}));
  EXPECT_EQ(update->removed, (std::vector<std::string>{"d"}));
  EXPECT_EQ(update->added, (std::vector<std::string>{"b"}));
}

// U8 property: a replica driven by random writes, deltas, rollbacks; after every change the
// live result's window equals evaluate() over all rows.
void incremental_equals_full_evaluation() {
  Replica replica(sdk_test::sdk_test_schema());
  QuerySpec spec;
  const int where_kind = *rc::gen::inRange(0, 4);
  if (where_kind == 1) spec.where.push_back(WhereClause{"done", Op::kEq, false});
  if (where_kind == 2) spec.where.push_back(WhereClause{"position", Op::kGe, 3});
  if (where_kind == 3) spec.where.push_back(WhereClause{"title", Op::kLike, "%a%"});
  const int keys = *rc::gen::inRange(0, 3);
  const std::vector<std::string> fields = {"position", "title", "done", "dueAt"};
  for (int k = 0; k < keys; ++k) {
    spec.order.push_back(OrderKey{*rc::gen::elementOf(fields), *rc::gen::element(Direction::kAsc, Direction::kDesc)});
  }
  if (*rc::gen::arbitrary<bool>()) spec.limit = static_cast<std::size_t>(*rc::gen::inRange(0, 5));
  spec.offset = static_cast<std::size_t>(*rc::gen::inRange(0, 3));
  spec.scope = *rc::gen::element(Scope::kLive, Scope::kArchived, Scope::kAll);
  spec.include_pending = *rc::gen::inRange(0, 4) > 0;
  auto query = compile(spec, tasks_model());
  RC_ASSERT(query.has_value());
  LiveResult live(*query);
  live.initial(replica.rows("tasks", spec.include_pending));

  const std::vector<std::string> row_ids = {"r0", "r1", "r2", "r3", "r4", "r5"};
  const std::vector<std::string> titles = {"a", "ab", "b", "", "ba"};
  auto random_data = [&] {
    JsonObject data{{"title", *rc::gen::elementOf(titles)}, {"projectId", "p"}, {"done", *rc::gen::arbitrary<bool>()}};
    if (*rc::gen::inRange(0, 5) > 0) data["position"] = *rc::gen::inRange(0, 6);
    else data["position"] = nullptr;
    if (*rc::gen::arbitrary<bool>()) data["dueAt"] = *rc::gen::element<json::value>(json::value("2026-01-01"), json::value(5), json::value(nullptr));
    return data;
  };
  int64_t next_delta = 1, next_seq = 1;
  std::map<std::string, std::vector<int64_t>> pending;
  const int steps = *rc::gen::inRange(1, 60);
  for (int step = 0; step < steps; ++step) {
    const std::string id = *rc::gen::elementOf(row_ids);
    std::vector<RowChange> changes;
    switch (*rc::gen::inRange(0, 6)) {
      case 0: {
        auto outcome = replica.apply_delta(InboundDelta{next_delta++, 'I', "tasks", id, random_data()});
        changes = outcome.changes;
        break;
      }
      case 1: {
        auto outcome = replica.apply_delta(InboundDelta{next_delta++, *rc::gen::element('U', 'A', 'V', 'D'), "tasks", id,
                                                        JsonObject{{"position", *rc::gen::inRange(0, 6)}}});
        changes = outcome.changes;
        break;
      }
      case 2: case 3: {
        const Action action = *rc::gen::element(Action::kCreate, Action::kUpdate, Action::kDelete, Action::kArchive);
        JsonObject data = action == Action::kCreate ? random_data() : JsonObject{{"title", *rc::gen::elementOf(titles)}};
        const int64_t seq = next_seq++;
        pending[id].push_back(seq);
        auto change = replica.add_pending("tasks", id, seq, action, data);
        if (change && *change) changes.push_back(**change);
        break;
      }
      default: {
        auto& seqs = pending[id];
        if (seqs.empty()) break;
        const std::size_t which = static_cast<std::size_t>(*rc::gen::inRange<std::size_t>(0, seqs.size()));
        const int64_t seq = seqs[which];
        seqs.erase(seqs.begin() + static_cast<std::ptrdiff_t>(which));
        if (auto change = replica.remove_pending("tasks", id, seq)) changes.push_back(*change);
        break;
      }
    }
    for (const RowChange& change : changes) live.apply(change, ChangeCause::kRemote, replica);
    const auto full = evaluate(*query, replica.rows("tasks", spec.include_pending));
    RC_ASSERT(ids(live.window()) == ids(full));
    for (std::size_t i = 0; i < full.size(); ++i) RC_ASSERT(same_row_value(full[i], live.window()[i]));
  }
}

// 10,000 random change sequences (design §14.1 U8), not rapidcheck's default 100. The sanitizer
// passes run 1,000: this single-threaded property took 53–67 s there, and the plain pass runs all.
TEST(LiveResultProperty, IncrementalEqualsFullEvaluationOnTenThousandSequences) {
  constexpr int kSequences = ablo::testing::kSanitizedBuild ? 1000 : 10000;
  rc::detail::TestParams params = rc::detail::configuration().testParams;
  params.maxSuccess = kSequences;
  rc::detail::TestMetadata metadata;
  metadata.id = "LiveResultProperty";
  const auto result = rc::detail::checkTestable(&incremental_equals_full_evaluation, metadata, params);
  std::ostringstream message;
  rc::detail::printResultMessage(result, message);
  EXPECT_TRUE(result.is<rc::detail::SuccessResult>()) << message.str();
  rc::detail::SuccessResult success{};
  if (result.match(success)) {
    EXPECT_EQ(success.numSuccess, kSequences);
  }
}

}  // namespace
}  // namespace ablo::sdk_detail::query_eval_test_helpers

namespace ablo::sdk_detail::query_eval_run_helpers {
namespace {

TEST(RunQuery, IndexedEqualityGivesTheSameRowsAsAFullScan) {
  Replica replica(sdk_test::sdk_test_schema());
  for (int i = 0; i < 30; ++i) {
    JsonObject data{{"title", "t" + std::to_string(i)}, {"projectId", i % 3 == 0 ? "p1" : "p2"}, {"position", i % 7},
                    {"done", i % 2 == 0}};
    replica.apply_delta(InboundDelta{i + 1, 'I', "tasks", "r" + std::to_string(i), data});
  }
  replica.add_pending("tasks", "r1", 1, Action::kUpdate, JsonObject{{"projectId", "p1"}});  // optimistic move into p1
  QuerySpec spec;
  spec.where.push_back(WhereClause{"projectId", Op::kEq, "p1"});
  spec.where.push_back(WhereClause{"done", Op::kEq, false});
  spec.order.push_back(OrderKey{"position", Direction::kDesc});
  auto query = compile(spec, *sdk_test::sdk_test_schema()->by_key("tasks"));
  ASSERT_TRUE(query);
  const auto indexed = run_query(*query, replica);
  const auto scanned = evaluate(*query, replica.rows("tasks"));
  ASSERT_FALSE(indexed.empty());
  ASSERT_EQ(indexed.size(), scanned.size());
  for (std::size_t i = 0; i < indexed.size(); ++i) EXPECT_TRUE(same_row_value(indexed[i], scanned[i]));
  EXPECT_TRUE(std::any_of(indexed.begin(), indexed.end(), [](const Row& row) { return row.id == "r1"; }));

  // include_pending(false): the confirmed rows only — r1 is still in p2 there.
  query->spec.include_pending = false;
  const auto confirmed = run_query(*query, replica);
  EXPECT_TRUE(std::none_of(confirmed.begin(), confirmed.end(), [](const Row& row) { return row.id == "r1"; }));
  EXPECT_EQ(confirmed.size(), indexed.size() - 1);
}

}  // namespace
}  // namespace ablo::sdk_detail::query_eval_run_helpers
