// The authorization rule (authz/authorizer.h) against a reference predicate written from the
// rule's statement in issue 10, over random principals, rows, models and verbs.
#include "authz/authorizer.h"

#include <algorithm>
#include <cctype>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <rapidcheck.h>
#include <rapidcheck/gtest.h>

namespace ablo::authz {
namespace {

const schema::Schema& test_schema() {
  static const auto schema = *schema::Schema::parse_text(R"({"v":3,"models":{
      "tasks":{"fields":{"title":{"type":"string"}},"relations":{},"typename":"Task"},
      "notes":{"fields":{"body":{"type":"string"}},"relations":{},"typename":"notes"},
      "projects":{"fields":{},"relations":{},"typename":"Project","scope":"project"}},"identityRoles":[]})");
  return *schema;
}

const std::vector<std::string> kModelKeys = {"tasks", "notes", "projects"};
const std::vector<std::string> kGroupPool = {"org:o1", "org:o2", "team:a", "team:b", "project:p1", "user:u1"};
const std::vector<store::Tenant> kTenants = {{"o1", true}, {"o1", false}, {"o2", true}};
// Operation spellings a capability may carry: keys, typenames, singulars, other cases, junk.
const std::vector<std::string> kModelSpellings = {"tasks", "task", "Task", "TASKS", "notes", "note", "Notes",
                                                  "projects", "project", "Project", "intent", "other", ""};
const std::vector<std::string> kVerbSpellings = {"read", "create", "update", "delete", "reorder", "READ", ""};
const std::vector<Verb> kVerbs = {Verb::kRead, Verb::kCreate, Verb::kUpdate, Verb::kDelete};

std::string lowercase(std::string text) {
  std::transform(text.begin(), text.end(), text.begin(), [](unsigned char c) { return std::tolower(c); });
  return text;
}

// ---------------------------------------------------------------- the reference predicate

// "`<model>.<verb>` allowed by its operations allowlist (empty = all)"; a model is named by its
// key or typename, singular or plural, in any case.
bool reference_operation(const auth::Principal& p, const schema::Model& model, const std::string& verb) {
  if (p.operations.empty()) return true;
  std::vector<std::string> names = {lowercase(model.key), lowercase(model.typename_)};
  names.push_back(lowercase(model.key) + "s");
  if (!model.key.empty() && model.key.back() == 's') names.push_back(lowercase(model.key.substr(0, model.key.size() - 1)));
  for (const auto& op : p.operations) {
    const auto dot = op.rfind('.');
    if (dot == std::string::npos || op.substr(dot + 1) != verb) continue;
    if (std::find(names.begin(), names.end(), lowercase(op.substr(0, dot))) != names.end()) return true;
  }
  return false;
}

// "same tenant AND the row's sync groups intersect the principal's allowed groups (secret keys:
// everything in the tenant)".
bool reference_scope(const auth::Principal& p, const std::string& tenant, const std::vector<std::string>& groups) {
  if (tenant != p.tenant.key()) return false;
  if (p.secret_key) return true;
  for (const auto& g : groups) {
    for (const auto& a : p.allowed_groups) {
      if (g == a) return true;
    }
  }
  return false;
}

struct Row {
  std::string tenant;
  std::vector<std::string> groups;
};

Denial reference_read(const auth::Principal& p, const schema::Model& model, const Row& row) {
  if (!reference_operation(p, model, "read")) return Denial::kOperation;
  return reference_scope(p, row.tenant, row.groups) ? Denial::kNone : Denial::kNotVisible;
}

Denial reference_write(const auth::Principal& p, const schema::Model& model, const std::string& verb,
                       const std::optional<Row>& before, const std::optional<Row>& after) {
  if (!reference_operation(p, model, verb)) return Denial::kOperation;
  if (before && !reference_scope(p, before->tenant, before->groups)) return Denial::kNotVisible;
  if (after && !reference_scope(p, after->tenant, after->groups)) return Denial::kForeignGroups;
  return Denial::kNone;
}

// ---------------------------------------------------------------- generators

rc::Gen<std::vector<std::string>> group_subset() {
  return rc::gen::map(rc::gen::container<std::vector<bool>>(kGroupPool.size(), rc::gen::arbitrary<bool>()),
                      [](const std::vector<bool>& pick) {
                        std::vector<std::string> out;
                        for (std::size_t i = 0; i < pick.size(); ++i) {
                          if (pick[i]) out.push_back(kGroupPool[i]);
                        }
                        return out;
                      });
}

auth::Principal random_principal() {
  auth::Principal p;
  p.tenant = *rc::gen::elementOf(kTenants);
  p.secret_key = *rc::gen::arbitrary<bool>();
  if (p.secret_key) {
    p.allowed_groups = {"org:" + p.tenant.org};
  } else {
    p.allowed_groups = *group_subset();
    const auto count = *rc::gen::inRange(0, 4);
    for (int i = 0; i < count; ++i) {
      p.operations.push_back(*rc::gen::elementOf(kModelSpellings) + "." + *rc::gen::elementOf(kVerbSpellings));
    }
  }
  return p;
}

Row random_row(const auth::Principal& p) {
  // Mostly the principal's tenant, so the group rule is what decides.
  const bool same_tenant = *rc::gen::weightedElement<bool>({{4, true}, {1, false}});
  const store::Tenant other = *rc::gen::elementOf(kTenants);
  return Row{same_tenant ? p.tenant.key() : other.key(), *group_subset()};
}

std::optional<RowScope> scope_of(const std::optional<Row>& row) {
  if (!row) return std::nullopt;
  return RowScope{row->tenant, row->groups};
}

RC_GTEST_PROP(Authorizer, ReadsFollowTheRule, ()) {
  const auto principal = random_principal();
  const auto& model = *test_schema().by_key(*rc::gen::elementOf(kModelKeys));
  const auto row = random_row(principal);
  const auto expected = reference_read(principal, model, row);
  RC_ASSERT(read_denial(principal, model, {row.tenant, row.groups}) == expected);
  RC_ASSERT(may_read(principal, model, {row.tenant, row.groups}) == (expected == Denial::kNone));
  RC_ASSERT(ScanReadRule(principal, model, row.tenant).may_read(row.groups) == (expected == Denial::kNone));
  const auto status = can_read(principal, model, {row.tenant, row.groups}, Error("entity_not_found", "gone"));
  RC_ASSERT(static_cast<bool>(status) == (expected == Denial::kNone));
  if (expected == Denial::kOperation) RC_ASSERT(status.error().code == std::string("capability_scope_denied"));
  if (expected == Denial::kNotVisible) RC_ASSERT(status.error().code == std::string("entity_not_found"));
}

RC_GTEST_PROP(Authorizer, WritesNeedTheOperationAndTheRowVisibleBeforeAndAfter, ()) {
  const auto principal = random_principal();
  const auto& model = *test_schema().by_key(*rc::gen::elementOf(kModelKeys));
  const Verb verb = *rc::gen::elementOf(std::vector<Verb>{Verb::kCreate, Verb::kUpdate, Verb::kDelete});
  // Creates have no row before, deletes none after, updates both.
  std::optional<Row> before, after;
  if (verb != Verb::kCreate) before = random_row(principal);
  if (verb != Verb::kDelete) after = random_row(principal);
  const auto expected = reference_write(principal, model, std::string(verb_name(verb)), before, after);
  RC_ASSERT(write_denial(principal, model, verb, scope_of(before), scope_of(after)) == expected);
  const auto status =
      can_write(principal, model, verb, scope_of(before), scope_of(after), Error("mutate_update_entity_not_found", "x"));
  RC_ASSERT(static_cast<bool>(status) == (expected == Denial::kNone));
  if (expected == Denial::kNotVisible) RC_ASSERT(status.error().code == std::string("mutate_update_entity_not_found"));
  if (expected == Denial::kOperation || expected == Denial::kForeignGroups) {
    RC_ASSERT(status.error().code == std::string("capability_scope_denied"));
  }
}

// The rule is monotone in the groups: a principal that may write a row may read it afterwards.
RC_GTEST_PROP(Authorizer, AWriterCanReadWhatItWrote, ()) {
  const auto principal = random_principal();
  const auto& model = *test_schema().by_key(*rc::gen::elementOf(kModelKeys));
  const auto row = random_row(principal);
  const bool wrote = write_denial(principal, model, Verb::kCreate, std::nullopt, RowScope{row.tenant, row.groups}) ==
                     Denial::kNone;
  RC_PRE(wrote);
  RC_ASSERT(reference_scope(principal, row.tenant, row.groups));
}

TEST(Authorizer, ExamplesFromTheIssue) {
  auth::Principal team_a;
  team_a.tenant = {"o1", true};
  team_a.allowed_groups = {"team:a"};
  const auto& tasks = *test_schema().by_key("tasks");
  const std::string tenant = team_a.tenant.key();
  const std::vector<std::string> in_a = {"org:o1", "team:a"}, in_b = {"org:o1", "team:b"};
  EXPECT_TRUE(may_read(team_a, tasks, {tenant, in_a}));
  EXPECT_EQ(read_denial(team_a, tasks, {tenant, in_b}), Denial::kNotVisible);
  EXPECT_EQ(write_denial(team_a, tasks, Verb::kCreate, std::nullopt, RowScope{tenant, in_b}), Denial::kForeignGroups);
  EXPECT_EQ(write_denial(team_a, tasks, Verb::kUpdate, RowScope{tenant, in_a}, RowScope{tenant, in_b}),
            Denial::kForeignGroups)
      << "moving a row out of one's groups";
  EXPECT_EQ(write_denial(team_a, tasks, Verb::kUpdate, RowScope{tenant, in_b}, RowScope{tenant, in_a}),
            Denial::kNotVisible)
      << "pulling a foreign row in";
  EXPECT_EQ(write_denial(team_a, tasks, Verb::kDelete, RowScope{tenant, in_b}, std::nullopt), Denial::kNotVisible);

  auth::Principal tasks_only = team_a;
  tasks_only.operations = {"tasks.read", "tasks.update"};
  const auto& notes = *test_schema().by_key("notes");
  EXPECT_TRUE(may_read(tasks_only, tasks, {tenant, in_a}));
  EXPECT_EQ(read_denial(tasks_only, notes, {tenant, in_a}), Denial::kOperation);
  EXPECT_EQ(write_denial(tasks_only, tasks, Verb::kCreate, std::nullopt, RowScope{tenant, in_a}), Denial::kOperation);

  auth::Principal secret;
  secret.tenant = {"o1", true};
  secret.secret_key = true;
  secret.allowed_groups = {"org:o1"};
  EXPECT_TRUE(may_read(secret, notes, {tenant, {"team:b"}})) << "a secret key sees its whole tenant";
  EXPECT_FALSE(may_read(secret, notes, {store::Tenant{"o2", true}.key(), {"org:o2"}}));
}

}  // namespace
}  // namespace ablo::authz
