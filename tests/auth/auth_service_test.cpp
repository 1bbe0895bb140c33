#include "auth/auth_service.h"

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

INSTANTIATE_TEST_SUITE_P(Stores, AuthServiceTest, ::testing::ValuesIn(testing::test_stores()),
                         [](const auto& info) { return info.param; });

}  // namespace
}  // namespace ablo::auth
