#include "errors/registry.h"

#include "common/error_code.h"

#include <boost/json.hpp>
#include <gtest/gtest.h>

namespace ablo {
namespace {

TEST(ErrorRegistry, StaleContextIs409AndRetryable) {
  EXPECT_EQ(errors::http_status("stale_context"), 409);
  EXPECT_TRUE(errors::retryable("stale_context"));
  const auto* spec = errors::find("stale_context");
  ASSERT_NE(spec, nullptr);
  EXPECT_EQ(spec->code, "stale_context");
  EXPECT_FALSE(spec->default_message.empty());
}

TEST(ErrorRegistry, InvalidSchemaIs400AndNotRetryable) {
  EXPECT_EQ(errors::http_status("invalid_schema"), 400);
  EXPECT_FALSE(errors::retryable("invalid_schema"));
}

TEST(ErrorRegistry, CarriesOtherStatusesFromTheContract) {
  EXPECT_EQ(errors::http_status("apikey_expired"), 401);
  EXPECT_EQ(errors::http_status("capability_scope_denied"), 403);
  EXPECT_EQ(errors::http_status("invalid_request"), 400);
  EXPECT_EQ(errors::http_status("entity_not_found"), 404);
}

TEST(ErrorRegistry, UnknownCodeIs500AndNotRetryable) {
  EXPECT_EQ(errors::http_status("no_such_code"), 500);
  EXPECT_FALSE(errors::retryable("no_such_code"));
  EXPECT_EQ(errors::find("no_such_code"), nullptr);
  EXPECT_EQ(errors::find(""), nullptr);
}

TEST(ErrorRegistry, ClassNamesFollowTheClientStatusTable) {
  EXPECT_EQ(errors::class_name_for_status(400), "AbloValidationError");
  EXPECT_EQ(errors::class_name_for_status(422), "AbloValidationError");
  EXPECT_EQ(errors::class_name_for_status(401), "AbloAuthenticationError");
  EXPECT_EQ(errors::class_name_for_status(403), "AbloPermissionError");
  EXPECT_EQ(errors::class_name_for_status(409), "AbloIdempotencyError");
  EXPECT_EQ(errors::class_name_for_status(429), "AbloRateLimitError");
  EXPECT_EQ(errors::class_name_for_status(500), "AbloServerError");
  EXPECT_EQ(errors::class_name_for_status(503), "AbloServerError");
  EXPECT_EQ(errors::class_name_for_status(404), "AbloError");
  EXPECT_EQ(errors::class_name_for_status(413), "AbloError");
}

TEST(ErrorEnvelope, HasTypeCodeMessageDocUrlRequestIdAndParam) {
  Error error("invalid_request", "field 'status' is wrong", "operations[0].input.status");
  auto body = errors::envelope(error, "req_1");
  EXPECT_EQ(body.at("type"), "AbloValidationError");
  EXPECT_EQ(body.at("code"), "invalid_request");
  EXPECT_EQ(body.at("message"), "field 'status' is wrong");
  EXPECT_EQ(body.at("param"), "operations[0].input.status");
  EXPECT_EQ(body.at("doc_url"), "https://docs.abloatai.com/errors#invalid_request");
  EXPECT_EQ(body.at("request_id"), "req_1");
}

TEST(ErrorEnvelope, OmitsParamWhenUnset) {
  auto body = errors::envelope(Error("invalid_schema", "bad schema"), "req_2");
  EXPECT_FALSE(body.contains("param"));
  EXPECT_EQ(body.at("type"), "AbloValidationError");
  EXPECT_EQ(body.at("request_id"), "req_2");
}

TEST(ErrorEnvelope, MergesDetailsAtTopLevelWithoutLettingThemOverrideCoreFields) {
  Error error("stale_context", "stale");
  error.details["readAt"] = 5;
  error.details["code"] = "spoofed";
  auto body = errors::envelope(error, "req_3");
  EXPECT_EQ(body.at("readAt"), 5);
  EXPECT_EQ(body.at("code"), "stale_context");
}

TEST(ErrorEnvelope, FallsBackToTheRegistryMessageWhenEmpty) {
  auto body = errors::envelope(Error("stale_context", ""), "r");
  EXPECT_EQ(body.at("message").as_string(), errors::find("stale_context")->default_message);
}

TEST(ErrorEnvelope, StaleContextTypeIsAbloStaleContextError) {
  EXPECT_EQ(errors::envelope(Error("stale_context", "x"), "r").at("type"), "AbloStaleContextError");
}

TEST(ErrorEnvelope, ClaimCodesTypeIsAbloClaimedError) {
  EXPECT_EQ(errors::envelope(Error("entity_claimed", "x"), "r").at("type"), "AbloClaimedError");
  EXPECT_EQ(errors::envelope(Error("claim_conflict", "x"), "r").at("type"), "AbloClaimedError");
  EXPECT_EQ(errors::envelope(Error("intent_conflict", "x"), "r").at("type"), "AbloClaimedError");
  // Other 409s become AbloIdempotencyError on the client, including model_claimed.
  EXPECT_EQ(errors::envelope(Error("model_claimed", "x"), "r").at("type"), "AbloIdempotencyError");
}

TEST(ErrorEnvelope, TypeFollowsRegistryStatus) {
  EXPECT_EQ(errors::envelope(Error("forbidden", "x"), "r").at("type"), "AbloPermissionError");
  EXPECT_EQ(errors::envelope(Error("apikey_expired", "x"), "r").at("type"), "AbloAuthenticationError");
  Error unknown;  // only a code read back from elsewhere can be outside the registry
  unknown.code = "no_such_code";
  EXPECT_EQ(errors::envelope(unknown, "r").at("type"), "AbloServerError");
}

TEST(WireError, HasCodeMessageAndField) {
  auto wire = errors::wire_error(Error("invalid_request", "bad", "status"));
  EXPECT_EQ(wire.at("code"), "invalid_request");
  EXPECT_EQ(wire.at("message"), "bad");
  EXPECT_EQ(wire.at("field"), "status");
  EXPECT_EQ(wire.size(), 3u);
}

TEST(WireError, OmitsFieldWhenUnset) {
  auto wire = errors::wire_error(Error("stale_context", "stale"));
  EXPECT_FALSE(wire.contains("field"));
  EXPECT_EQ(wire.at("code"), "stale_context");
}

TEST(ErrorContracts, EveryCodeReachesEachClientAsACodeItsContractKnows) {
  for (auto contract : {errors::Contract::k2026_06_02, errors::Contract::k2026_08_04}) {
    for (std::string_view code : error_code_detail::kRegistryCodes) {
      const std::string_view sent = errors::code_for(code, contract);
      EXPECT_TRUE(errors::contract_knows(contract, sent)) << code << " -> " << sent;
    }
  }
}

TEST(ErrorContracts, TheIntentCodesWereRenamedClaimCodes) {
  using errors::Contract;
  EXPECT_EQ(errors::code_for("intent_lease_unavailable", Contract::k2026_08_04), "claim_lease_unavailable");
  EXPECT_EQ(errors::code_for("claim_lease_unavailable", Contract::k2026_06_02), "intent_lease_unavailable");
  EXPECT_EQ(errors::code_for("intent_queued", Contract::k2026_08_04), "claim_queued");
  EXPECT_EQ(errors::code_for("invalid_intent", Contract::k2026_08_04), "malformed_claim");
  EXPECT_EQ(errors::code_for("stale_context", Contract::k2026_08_04), "stale_context");
  EXPECT_EQ(errors::code_for("stale_context", Contract::k2026_06_02), "stale_context");
}

TEST(ErrorContracts, ANewerCodeFallsBackToOneTheOlderClientHandlesAlike) {
  using errors::Contract;
  EXPECT_EQ(errors::code_for("request_too_large", Contract::k2026_06_02), "invalid_body");
  EXPECT_EQ(errors::code_for("request_too_large", Contract::k2026_08_04), "request_too_large");
  EXPECT_EQ(errors::http_status("request_too_large"), 413);
  EXPECT_EQ(errors::code_for("fence_token_stale", Contract::k2026_06_02), "claim_lost");
}

TEST(ErrorContracts, RetryabilityFollowsTheClientsContract) {
  const Error claimed("entity_claimed", "held");
  EXPECT_EQ(errors::wire_error(claimed).at("retryable"), true);
  EXPECT_FALSE(errors::wire_error(claimed, errors::Contract::k2026_08_04).contains("retryable"));
  EXPECT_FALSE(errors::envelope(claimed, "req", errors::Contract::k2026_08_04).contains("retryable"));
  EXPECT_EQ(errors::wire_error(Error("claim_lease_unavailable", "down"), errors::Contract::k2026_08_04).at("retryable"),
            true);
}

TEST(ErrorContracts, EnvelopeAndWireErrorSpeakTheClientsContract) {
  const Error error("intent_lease_unavailable", "down");
  EXPECT_EQ(errors::envelope(error, "req", errors::Contract::k2026_08_04).at("code"), "claim_lease_unavailable");
  EXPECT_EQ(errors::envelope(error, "req").at("code"), "intent_lease_unavailable");
  EXPECT_EQ(errors::wire_error(error, errors::Contract::k2026_08_04).at("code"), "claim_lease_unavailable");
  EXPECT_EQ(errors::wire_error(error).at("code"), "intent_lease_unavailable");
}

}  // namespace
}  // namespace ablo
