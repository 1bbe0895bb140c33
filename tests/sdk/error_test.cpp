// U11 (docs/client-library.md §14.1): the client's view of errors, checked against the 0.9.1
// registry file itself (../shared/reference/errors-0.9.1.json), not against the generated tables.
#include <fstream>
#include <set>
#include <sstream>
#include <string>

#include <boost/json.hpp>
#include <gtest/gtest.h>

#include "sdk/error.h"
#include "sdk/sdk_error_code.h"

namespace ablo {
namespace sdk_error_test {

struct RegistryEntry {
  std::string code;
  std::string category;
  std::string surface;
  int http_status = 0;  // 0 when the registry gives none (client surface)
  bool retryable = false;
};

std::vector<RegistryEntry> load_registry() {
  std::ifstream in(std::string(ABLO_SOURCE_DIR) + "/../shared/reference/errors-0.9.1.json");
  if (!in) return {};
  std::stringstream text;
  text << in.rdbuf();
  std::vector<RegistryEntry> entries;
  const boost::json::value document = boost::json::parse(text.str());  // outlives the loop
  for (const auto& value : document.at("codes").as_array()) {
    const auto& object = value.as_object();
    RegistryEntry entry;
    entry.code = std::string(object.at("code").as_string());
    entry.category = std::string(object.at("category").as_string());
    entry.surface = std::string(object.at("surface").as_string());
    if (const auto* status = object.if_contains("httpStatus")) entry.http_status = static_cast<int>(status->to_number<int64_t>());
    entry.retryable = object.at("retryable").as_bool();
    entries.push_back(std::move(entry));
  }
  return entries;
}

Error error_with(std::string code) {
  Error error;
  error.code = std::move(code);
  error.message = "m";
  return error;
}

// The documented rule of sdk/error.h, restated from the registry entry (not from the tables).
ErrorKind expected_kind(const RegistryEntry& entry) {
  static const std::set<std::string> claim_codes = {"entity_claimed", "claim_conflict", "intent_conflict",
                                                    "claim_lost", "grant_timeout", "queue_too_deep",
                                                    "model_claimed", "model_claimed_timeout"};
  if (entry.code == "capability_scope_denied" || entry.code == "capability_invalid") return ErrorKind::kCapability;
  if (claim_codes.count(entry.code)) return ErrorKind::kClaimed;
  if (entry.code == "stale_context") return ErrorKind::kStaleContext;
  if (entry.surface == "client") {
    if (entry.category == "transport") return ErrorKind::kConnection;
    if (entry.category == "auth") return ErrorKind::kAuthentication;
    if (entry.category == "client" && entry.code != "invalid_options") return ErrorKind::kUnknown;
    return ErrorKind::kValidation;
  }
  if (entry.category == "transport" || entry.category == "bootstrap" || entry.code == "intent_wait_aborted") {
    return ErrorKind::kConnection;
  }
  if (entry.category == "not_found") return ErrorKind::kValidation;
  switch (entry.http_status) {
    case 401: return ErrorKind::kAuthentication;
    case 403: return ErrorKind::kPermission;
    case 409: return ErrorKind::kIdempotency;
    case 400: case 422: return ErrorKind::kValidation;
    case 429: return ErrorKind::kRateLimit;
    default: return entry.http_status >= 500 ? ErrorKind::kServer : ErrorKind::kUnknown;
  }
}

class SdkErrorRegistryTest : public ::testing::Test {
 protected:
  void SetUp() override {
    registry_ = load_registry();
    if (registry_.empty()) GTEST_SKIP() << "../shared/reference/errors-0.9.1.json not found";
  }
  std::vector<RegistryEntry> registry_;
};

TEST_F(SdkErrorRegistryTest, EveryRegistryCodeHasItsKindStatusCategoryAndRetryFlag) {
  ASSERT_GT(registry_.size(), 150u);
  std::size_t client_codes = 0;
  for (const auto& entry : registry_) {
    SCOPED_TRACE(entry.code);
    const Error error = error_with(entry.code);
    EXPECT_EQ(kind_of(error), expected_kind(entry));
    EXPECT_EQ(http_status_of(error), entry.http_status);
    EXPECT_EQ(category_of(error), entry.category);
    EXPECT_EQ(is_retryable(error), entry.retryable);
    EXPECT_EQ(doc_url_of(error), "https://docs.abloatai.com/errors#" + entry.code);
    client_codes += entry.surface == "client";
  }
  EXPECT_GT(client_codes, 40u);  // the client-surface table is really covered
}

TEST_F(SdkErrorRegistryTest, EveryConstantOfTheCodesNamespaceIsARegistryCode) {
  std::set<std::string> known;
  for (const auto& entry : registry_) known.insert(entry.code);
  const std::string_view constants[] = {
      codes::kEntityNotFound, codes::kModelNotFound,    codes::kModelDisposed,  codes::kInvalidOptions,
      codes::kInvalidRequest, codes::kDbNotOpened,      codes::kWsNotReady,     codes::kSyncNotReady,
      codes::kFlushTimeout,   codes::kWaitForTimeout,   codes::kCommitNoResult, codes::kStaleContext,
      codes::kEntityClaimed,  codes::kClaimLost,        codes::kQueueTooDeep,   codes::kGrantTimeout,
      codes::kSessionExpired, codes::kAuthNoCredentials, codes::kBootstrapFetchTimeout, codes::kInternalError};
  for (std::string_view code : constants) {
    EXPECT_TRUE(known.count(std::string(code))) << code << " is not in errors-0.9.1.json";
  }
  // The header's list is complete: every `inline constexpr std::string_view k…` of namespace codes.
  std::ifstream header(std::string(ABLO_SOURCE_DIR) + "/src/sdk/error.h");
  std::string line;
  std::size_t declared = 0;
  while (std::getline(header, line)) declared += line.rfind("inline constexpr std::string_view k", 0) == 0;
  EXPECT_EQ(declared, std::size(constants));
}

TEST(SdkError, UnknownCodesArePermanentAndKeptVerbatim) {
  const Error error = error_with("code_from_a_newer_server");
  EXPECT_EQ(kind_of(error), ErrorKind::kUnknown);
  EXPECT_FALSE(is_retryable(error));
  EXPECT_FALSE(is_transient(error));
  EXPECT_EQ(http_status_of(error), 500);
  EXPECT_EQ(category_of(error), "");
  EXPECT_EQ(error.code, "code_from_a_newer_server");
}

TEST(SdkError, TransientFollowsTheRetryPolicyNotOnlyTheRegistryFlag) {
  for (const char* code : {"commit_failed", "source_network_error", "internal_error", "quota_exceeded",
                           "rate_limit_exceeded", "connection_limit_exceeded", "instance_at_capacity",
                           "commit_no_result", "exchange_network_error"}) {
    EXPECT_TRUE(is_transient(error_with(code))) << code;
  }
  // Retryable in the registry but final for the write that got them (design §5.4, D3).
  for (const char* code : {"stale_context", "entity_claimed", "claim_conflict", "intent_conflict", "claim_lost"}) {
    EXPECT_TRUE(is_retryable(error_with(code))) << code;
    EXPECT_FALSE(is_transient(error_with(code))) << code;
  }
  for (const char* code : {"invalid_request", "forbidden", "unique_violation", "db_not_opened", "ws_not_ready"}) {
    EXPECT_FALSE(is_transient(error_with(code))) << code;
  }
}

TEST(SdkError, SpotChecksOfTheKinds) {
  EXPECT_EQ(kind_of(error_with("unique_violation")), ErrorKind::kIdempotency);
  EXPECT_EQ(kind_of(error_with("forbidden")), ErrorKind::kPermission);
  EXPECT_EQ(kind_of(error_with("jwt_expired")), ErrorKind::kAuthentication);
  EXPECT_EQ(kind_of(error_with("rate_limit_exceeded")), ErrorKind::kRateLimit);  // 2026-08-04 code
  EXPECT_EQ(kind_of(error_with("internal_error")), ErrorKind::kServer);
  EXPECT_EQ(kind_of(error_with("commit_no_result")), ErrorKind::kConnection);
  EXPECT_EQ(kind_of(error_with("entity_not_found")), ErrorKind::kValidation);
  EXPECT_EQ(kind_of(error_with("db_not_opened")), ErrorKind::kUnknown);
  EXPECT_EQ(kind_of(error_with("invalid_options")), ErrorKind::kValidation);
  EXPECT_EQ(http_status_of(error_with("db_not_opened")), 0);
  Error closed = error_with("session_expired");
  closed.details["closeCode"] = 4001;
  EXPECT_EQ(kind_of(closed), ErrorKind::kSession);
  EXPECT_EQ(to_string(ErrorKind::kClaimed), "AbloClaimedError");
}

TEST(SdkError, StructuredDetails) {
  Error stale = error_with("stale_context");
  stale.details["readAt"] = 41;
  stale.details["conflicts"] = boost::json::array{{{"model", "task"}, {"id", "t1"}, {"observedSyncId", 42}}};
  const auto context = stale_context_of(stale);
  ASSERT_TRUE(context.has_value());
  EXPECT_EQ(context->read_at, 41);
  ASSERT_EQ(context->conflicts.size(), 1u);
  EXPECT_EQ(context->conflicts[0].model, "task");
  EXPECT_EQ(context->conflicts[0].id, "t1");
  EXPECT_EQ(context->conflicts[0].observed_sync_id, 42);
  EXPECT_FALSE(stale_context_of(error_with("invalid_request")).has_value());

  Error claimed = error_with("entity_claimed");
  claimed.details = {{"heldBy", "p_2"}, {"heldByIntentId", "int_9"}, {"heldByExpiresAt", 10'000}, {"clockOffsetMs", 1'000}};
  const auto claims = blocking_claims_of(claimed);
  ASSERT_EQ(claims.size(), 1u);
  EXPECT_EQ(claims[0].held_by, "p_2");
  EXPECT_EQ(claims[0].intent_id, "int_9");
  EXPECT_EQ(claims[0].expires_at.time_since_epoch(), std::chrono::milliseconds(9'000));
  EXPECT_TRUE(blocking_claims_of(error_with("entity_claimed")).empty());

  Error limited = error_with("rate_limit_exceeded");
  limited.details["retryAfterSeconds"] = 2;
  EXPECT_EQ(retry_after_of(limited), std::chrono::milliseconds(2000));
  EXPECT_FALSE(retry_after_of(error_with("rate_limit_exceeded")).has_value());

  Error with_id = error_with("internal_error");
  with_id.details["requestId"] = "req_1";
  EXPECT_EQ(request_id_of(with_id), "req_1");
  EXPECT_FALSE(request_id_of(error_with("internal_error")).has_value());
}

TEST(SdkError, DescribeAndException) {
  Error error = error_with("invalid_request");
  error.message = "unknown field 'x'";
  error.param = "data.x";
  EXPECT_EQ(describe(error), "invalid_request: unknown field 'x' (data.x)");
  const Exception exception(error);
  EXPECT_STREQ(exception.what(), "invalid_request: unknown field 'x' (data.x)");
  EXPECT_EQ(exception.code(), "invalid_request");
  EXPECT_EQ(exception.kind(), ErrorKind::kValidation);
  EXPECT_EQ(exception.error().param, "data.x");
}

TEST(SdkError, SdkErrorBuildsClientSurfaceAndWireCodes) {
  const Error local = sdk_detail::sdk_error("db_not_opened", "store in use by another client");
  EXPECT_EQ(local.code, "db_not_opened");
  EXPECT_EQ(local.message, "store in use by another client");
  EXPECT_EQ(sdk_detail::sdk_error("stale_context", "m", "p").param, "p");
  // sdk_error("not_a_code", …) does not compile (consteval SdkCode).
}

}  // namespace sdk_error_test
}  // namespace ablo
