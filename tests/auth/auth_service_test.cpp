#include "auth/auth_service.h"

#include <set>

#include <boost/json.hpp>
#include <gtest/gtest.h>

#include "auth/keys.h"
#include "support/test_store.h"

namespace ablo::auth {
namespace {

namespace json = boost::json;

// Runs against every store (testing::test_stores()).
struct AuthServiceTest : ::testing::TestWithParam<std::string> {
  testing::TestStore backing{GetParam()};
  std::unique_ptr<store::Store>& store = backing.store;
  std::shared_ptr<const schema::Schema> schema = schema::Schema::empty();
  AuthService auth{*store, [this] { return schema; }};
  std::string key = *auth.create_secret_key("org_1", true, "test");
};

TEST_P(AuthServiceTest, SecretKeysAreCheckedByFormatAndStoredHashed) {
  EXPECT_EQ(key.rfind("sk_test_", 0), 0u);
  EXPECT_TRUE(parse_key(key)->checksummed);
  auto principal = auth.authenticate(key);
  ASSERT_TRUE(principal) << principal.error().message;
  EXPECT_TRUE(principal->secret_key);
  EXPECT_EQ(principal->tenant, (store::Tenant{"org_1", true}));
  EXPECT_FALSE(*store->find_api_key(key)) << "the plaintext must never be a lookup key";
}

TEST_P(AuthServiceTest, UnknownMissingAndMalformedCredentialsAreDistinguished) {
  EXPECT_EQ(auth.authenticate("").error().code, "apikey_missing");
  EXPECT_EQ(auth.authenticate("not a key").error().code, "apikey_invalid");
  EXPECT_EQ(auth.authenticate(generate_key(KeyPrefix::kSecret, KeyEnv::kTest)).error().code, "apikey_invalid");
}

TEST_P(AuthServiceTest, ExchangeMintsADistinctParticipantWithTheOrgGroup) {
  auto caller = *auth.authenticate(key);
  ExchangeRequest request;
  request.wide_scope = true;
  auto first = auth.exchange(caller, request);
  auto second = auth.exchange(caller, request);
  ASSERT_TRUE(first && second);
  EXPECT_EQ(first->token.rfind("rk_test_", 0), 0u);
  EXPECT_NE(first->record.participant_id, second->record.participant_id);
  EXPECT_EQ(first->record.sync_groups, (std::vector<std::string>{"org:org_1"}));
  auto principal = auth.authenticate(first->token);
  ASSERT_TRUE(principal);
  EXPECT_EQ(principal->participant_id, first->record.participant_id);
  EXPECT_FALSE(principal->secret_key);
}

TEST_P(AuthServiceTest, IdentityRolesDecideTheGroupsOfAUserSession) {
  schema = *schema::Schema::parse_text(R"({"v":3,"models":{},"identityRoles":[
      {"kind":"org","source":{"field":"organizationId","multi":false}},
      {"kind":"user","source":{"field":"userId","multi":false}}]})");
  auto caller = *auth.authenticate(key);
  ExchangeRequest request;
  request.participant_kind = "user";
  request.participant_id = "u1";
  auto minted = auth.exchange(caller, request);
  ASSERT_TRUE(minted);
  EXPECT_EQ(minted->token.rfind("ek_test_", 0), 0u);
  EXPECT_EQ(minted->record.sync_groups, (std::vector<std::string>{"org:org_1", "user:u1"}));
}

TEST_P(AuthServiceTest, ACapabilityReExchangingKeepsItsOwnScope) {
  auto caller = *auth.authenticate(key);
  ExchangeRequest narrow;
  narrow.participant_kind = "agent";
  narrow.sync_groups = std::vector<std::string>{"deck:d1"};
  auto agent = *auth.exchange(caller, narrow);
  auto agent_principal = *auth.authenticate(agent.token);
  ExchangeRequest wide;
  wide.wide_scope = true;
  wide.sync_groups = std::vector<std::string>{"org:org_1"};
  auto again = auth.exchange(agent_principal, wide);
  ASSERT_TRUE(again);
  EXPECT_EQ(again->record.sync_groups, (std::vector<std::string>{"deck:d1"})) << "a token can never widen itself";
  EXPECT_EQ(again->record.participant_id, agent.record.participant_id);
}

TEST_P(AuthServiceTest, ExpiredCapabilitiesAreReportedAsExpired) {
  auto caller = *auth.authenticate(key);
  auto minted = *auth.exchange(caller, ExchangeRequest{});
  minted.record.expires_at_ms = 1;
  ASSERT_TRUE(store->put_capability(minted.record));
  EXPECT_EQ(auth.authenticate(minted.token).error().code, "apikey_expired");
}

TEST(ExchangeRequestParsing, RejectsUnknownParticipantKinds) {
  auto parsed = parse_exchange_request(json::parse(R"({"participantKind":"robot"})").as_object());
  ASSERT_FALSE(parsed);
  EXPECT_EQ(parsed.error().code, "invalid_participant_kind");
  auto quickstart = parse_exchange_request(
      json::parse(R"({"participantKind":"system","wideScope":true,"ttlSeconds":3600})").as_object());
  ASSERT_TRUE(quickstart);
  EXPECT_TRUE(quickstart->wide_scope);
  EXPECT_EQ(quickstart->ttl_seconds, 3600);
}

// A capability exchanging itself (protocol.md §8.7) gets a child: never longer-lived than the
// parent, and refused as soon as any ancestor is revoked.
TEST_P(AuthServiceTest, ADerivedTokenNeverOutlivesItsParent) {
  auto caller = *auth.authenticate(key);
  ExchangeRequest short_lived;
  short_lived.ttl_seconds = 60;
  auto parent = auth.exchange(caller, short_lived);
  ASSERT_TRUE(parent);
  auto parent_principal = auth.authenticate(parent->token);
  ASSERT_TRUE(parent_principal);
  ExchangeRequest long_lived;
  long_lived.ttl_seconds = 7 * 24 * 3600;
  auto child = auth.exchange(*parent_principal, long_lived);
  ASSERT_TRUE(child);
  EXPECT_LE(child->record.expires_at_ms, parent->record.expires_at_ms);
  EXPECT_EQ(child->record.parent_id, parent->record.id);
  auto stored = store->find_capability_by_id(child->record.id);
  ASSERT_TRUE(stored && *stored);
  EXPECT_EQ((*stored)->parent_id, parent->record.id) << "the parent survives the store round trip";
  EXPECT_TRUE(parent->record.parent_id.empty());
}

TEST_P(AuthServiceTest, RevokingAnAncestorRevokesEveryTokenExchangedFromIt) {
  auto caller = *auth.authenticate(key);
  auto parent = auth.exchange(caller, ExchangeRequest{});
  ASSERT_TRUE(parent);
  auto child = auth.exchange(*auth.authenticate(parent->token), ExchangeRequest{});
  ASSERT_TRUE(child);
  auto grandchild = auth.exchange(*auth.authenticate(child->token), ExchangeRequest{});
  ASSERT_TRUE(grandchild);
  auto sibling = auth.exchange(caller, ExchangeRequest{});  // another chain of the same key
  ASSERT_TRUE(sibling);
  ASSERT_TRUE(auth.authenticate(grandchild->token));
  const auto sibling_principal = *auth.authenticate(sibling->token);
  EXPECT_EQ(auth.find_capability(sibling_principal, parent->record.id).error().code, "capability_not_found")
      << "a capability inspects only itself";
  EXPECT_TRUE(auth.find_capability(sibling_principal, sibling->record.id));

  auto descendants = auth.descendants(parent->record.id);
  ASSERT_TRUE(descendants);
  EXPECT_EQ(std::set<std::string>(descendants->begin(), descendants->end()),
            (std::set<std::string>{child->record.id, grandchild->record.id}));

  ASSERT_TRUE(auth.revoke_capability(caller, parent->record.id));
  EXPECT_EQ(auth.authenticate(parent->token).error().code, "capability_invalid");
  EXPECT_EQ(auth.authenticate(child->token).error().code, "capability_invalid");
  EXPECT_EQ(auth.authenticate(grandchild->token).error().code, "capability_invalid");
  EXPECT_TRUE(auth.authenticate(sibling->token)) << "another chain is untouched";
}

INSTANTIATE_TEST_SUITE_P(Stores, AuthServiceTest, ::testing::ValuesIn(testing::test_stores()),
                         [](const auto& info) { return info.param; });

}  // namespace
}  // namespace ablo::auth
