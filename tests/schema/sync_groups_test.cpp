#include "schema/sync_groups.h"

#include <boost/json.hpp>
#include <gtest/gtest.h>

namespace ablo::schema {
namespace {

namespace json = boost::json;
using Groups = std::vector<std::string>;

const std::vector<Role> kRoles = {{"org", "organizationId", false}, {"user", "userId", false}, {"team", "teamIds", true}};

TEST(ComposeRoleGroups, FollowsTheReferenceRules) {
  auto identity = json::parse(R"({"organizationId":"acme","userId":"u1","teamIds":["t1","","t2",5,"t1"]})").as_object();
  EXPECT_EQ(compose_role_groups(kRoles, identity), (Groups{"org:acme", "user:u1", "team:t1", "team:t2"}));
  EXPECT_EQ(compose_role_groups(kRoles, json::parse(R"({"userId":"u1","teamIds":"t1"})").as_object()), (Groups{"user:u1"}));
  EXPECT_EQ(compose_role_groups(kRoles, json::parse(R"({"organizationId":42,"userId":0})").as_object()), (Groups{"org:42"}));
}

TEST(NarrowGroups, IntersectsAndFallsBackToTheAllowedSet) {
  const Groups allowed = {"org:acme", "deck:d1"};
  EXPECT_EQ(narrow_groups({"deck:d1", "deck:zz"}, allowed), (Groups{"deck:d1"}));
  EXPECT_EQ(narrow_groups({}, allowed), allowed);
  EXPECT_EQ(narrow_groups({"deck:zz"}, allowed), allowed);
}

TEST(RowGroups, CollectsOrgOwnScopeParentsTransitivelyAndEntityRoles) {
  auto schema = *Schema::parse_text(R"({"v":3,"models":{
      "decks":{"fields":{},"relations":{},"scope":"deck"},
      "slides":{"fields":{"deckId":{"type":"string"}},"relations":{
          "deck":{"type":"belongsTo","target":"decks","foreignKey":"deckId","options":{"parent":true}}}},
      "layers":{"fields":{"slideId":{"type":"string"},"ownerId":{"type":"string"}},"relations":{
          "slide":{"type":"belongsTo","target":"slides","foreignKey":"slideId","options":{"parent":true}},
          "owner":{"type":"belongsTo","target":"users","foreignKey":"ownerId"}},
        "entityRoles":[{"kind":"inbox","source":{"field":"ownerId","multi":false}}]}},"identityRoles":[]})");
  auto loader = [](const Model& model, const std::string& id) -> std::optional<json::object> {
    if (model.key == "slides" && id == "S") return json::object{{"id", "S"}, {"deckId", "D"}};
    return std::nullopt;
  };
  json::object layer{{"id", "L"}, {"slideId", "S"}, {"ownerId", "u7"}};
  EXPECT_EQ(row_groups(*schema, *schema->by_key("layers"), layer, "acme", loader),
            (Groups{"org:acme", "deck:D", "inbox:u7"}));
  json::object deck{{"id", "D"}};
  EXPECT_EQ(row_groups(*schema, *schema->by_key("decks"), deck, "acme", loader), (Groups{"org:acme", "deck:D"}));
}

TEST(GroupsIntersect, IsTrueOnlyWithACommonGroup) {
  EXPECT_TRUE(groups_intersect({"a", "b"}, {"c", "b"}));
  EXPECT_FALSE(groups_intersect({"a"}, {"c"}));
  EXPECT_FALSE(groups_intersect({}, {"c"}));
}

}  // namespace
}  // namespace ablo::schema
