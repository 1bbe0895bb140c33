// The commit receipt per dialect (net/receipt_codec.h) and the EffectiveAuthority it carries
// (net/authority.h).
#include "net/receipt_codec.h"

#include <regex>
#include <set>

#include <boost/json.hpp>
#include <gtest/gtest.h>

#include "common/time.h"
#include "net/authority.h"

namespace ablo::net {
namespace {

namespace json = boost::json;

std::shared_ptr<const schema::Schema> two_models() {
  auto parsed = schema::Schema::parse_text(R"({"v":3,"models":{
    "weatherReports":{"fields":{"location":{"type":"string","isOptional":true}},"relations":{},"typename":"WeatherReport"},
    "notes":{"fields":{},"relations":{}}},"identityRoles":[]})");
  EXPECT_TRUE(parsed) << (parsed ? "" : parsed.error().message);
  return parsed ? *parsed : schema::Schema::empty();
}

std::set<std::string> keys_of(const json::object& object) {
  std::set<std::string> keys;
  for (const auto& [key, value] : object) keys.emplace(key);
  return keys;
}

engine::CommitReceipt flagged_receipt() {
  engine::CommitReceipt receipt;
  receipt.client_tx_id = "key-1";
  receipt.last_sync_id = 42;
  receipt.ops = 2;
  receipt.flagged_stale = true;
  receipt.created_at_ms = 1'700'000'000'000;
  receipt.status_at_ms = 1'700'000'000'500;
  return receipt;
}

TEST(CommitReceiptCodec, ClaimsDialectGetsExactlyTheStrictKeys) {
  const json::object authority{{"organizationId", "org_1"}};
  const auto out = receipt_json(flagged_receipt(), Dialect::kClaims, authority);
  EXPECT_EQ(keys_of(out), (std::set<std::string>{"object", "clientTxId", "serverTxId", "createdAt", "success", "ops",
                                                 "authority", "status", "statusAt", "lastSyncId"}));
  EXPECT_EQ(out.at("clientTxId"), "key-1");
  EXPECT_EQ(out.at("serverTxId"), "42");
  EXPECT_EQ(out.at("createdAt"), "2023-11-14T22:13:20.000Z");
  EXPECT_EQ(out.at("statusAt"), "2023-11-14T22:13:20.500Z");
  EXPECT_EQ(out.at("status"), "confirmed");
  EXPECT_EQ(out.at("authority"), authority);
}

TEST(CommitReceiptCodec, StatusTimeIsNeverBeforeCreation) {
  auto receipt = flagged_receipt();
  receipt.status_at_ms = receipt.created_at_ms - 1000;
  const auto out = receipt_json(receipt, Dialect::kClaims, {});
  EXPECT_GE(*parse_iso8601_ms(out.at("statusAt").as_string()), *parse_iso8601_ms(out.at("createdAt").as_string()));
}

TEST(CommitReceiptCodec, IntentsDialectKeepsThe091Receipt) {
  const auto receipt = flagged_receipt();
  EXPECT_EQ(receipt_json(receipt, Dialect::kIntents, {{"organizationId", "org_1"}}), receipt.to_json());
  EXPECT_FALSE(receipt.to_json().contains("createdAt"));
}

TEST(EffectiveAuthority, AnEmptyAllowlistIsEveryModelTimesTheFourVerbs) {
  const auto operations = effective_operations({}, *two_models());
  EXPECT_EQ(std::set<std::string>(operations.begin(), operations.end()),
            (std::set<std::string>{"weatherReports.read", "weatherReports.create", "weatherReports.update",
                                   "weatherReports.delete", "notes.read", "notes.create", "notes.update",
                                   "notes.delete"}));
}

TEST(EffectiveAuthority, EntriesAreTranslatedAsEnforcedAndOthersDropped) {
  const auto operations =
      effective_operations({"WeatherReport.read", "notes.write", "*", "weatherreports.delete", "ghost.read"}, *two_models());
  EXPECT_EQ(std::set<std::string>(operations.begin(), operations.end()),
            (std::set<std::string>{"weatherReports.read", "weatherReports.delete"}));
  const std::regex shape(R"(^[^.\s]+\.(read|create|update|delete)$)");
  for (const auto& op : operations) EXPECT_TRUE(std::regex_match(op, shape)) << op;
}

TEST(EffectiveAuthority, JsonNamesTheOrganizationsProjectAndRootBranchAndNoPartition) {
  auth::Principal principal;
  principal.tenant = {"org_1", true};
  principal.participant_id = "agent-1";
  principal.participant_kind = "agent";
  principal.allowed_groups = {"team:a"};
  principal.operations = {"notes.read"};
  const auto out = authority_json(authority_of(principal, *two_models()));
  EXPECT_EQ(out, (json::object{{"organizationId", "org_1"},
                               {"projectId", "proj_org_1"},
                               {"branchId", "branch_main"},
                               {"syncGroups", json::array{"team:a"}},
                               {"operations", json::array{"notes.read"}},
                               {"participantKind", "agent"},
                               {"participantId", "agent-1"},
                               {"deliveryPartition", nullptr}}));
}

}  // namespace
}  // namespace ablo::net
