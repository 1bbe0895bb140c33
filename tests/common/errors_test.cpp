#include "errors/registry.h"

#include <boost/json.hpp>
#include <gtest/gtest.h>

namespace ablo {
namespace {

TEST(ErrorRegistry, CarriesStatusAndRetryabilityFromTheContract) {
  EXPECT_EQ(errors::http_status("stale_context"), 409);
  EXPECT_TRUE(errors::retryable("stale_context"));
  EXPECT_EQ(errors::http_status("invalid_schema"), 400);
  EXPECT_FALSE(errors::retryable("invalid_schema"));
  EXPECT_EQ(errors::http_status("apikey_expired"), 401);
  EXPECT_EQ(errors::http_status("no_such_code"), 500);
  EXPECT_EQ(errors::find("no_such_code"), nullptr);
}

TEST(ErrorEnvelope, HasTypeCodeMessageDocUrlRequestIdAndParam) {
  Error error("validation_error", "field 'status' is wrong", "operations[0].input.status");
  error.details["readAt"] = 5;
  auto body = errors::envelope(error, "req_1");
  EXPECT_EQ(body.at("type"), "AbloValidationError");
  EXPECT_EQ(body.at("code"), "validation_error");
  EXPECT_EQ(body.at("message"), "field 'status' is wrong");
  EXPECT_EQ(body.at("param"), "operations[0].input.status");
  EXPECT_EQ(body.at("doc_url"), "https://docs.abloatai.com/errors#validation_error");
  EXPECT_EQ(body.at("request_id"), "req_1");
  EXPECT_EQ(body.at("readAt"), 5);
}

TEST(ErrorEnvelope, NamesTheClientClassForSpecialCodes) {
  EXPECT_EQ(errors::envelope(Error("stale_context", "x"), "r").at("type"), "AbloStaleContextError");
  EXPECT_EQ(errors::envelope(Error("entity_claimed", "x"), "r").at("type"), "AbloClaimedError");
  EXPECT_EQ(errors::envelope(Error("forbidden", "x"), "r").at("type"), "AbloPermissionError");
}

TEST(WireError, HasCodeMessageAndField) {
  auto wire = errors::wire_error(Error("validation_error", "bad", "status"));
  EXPECT_EQ(wire.at("code"), "validation_error");
  EXPECT_EQ(wire.at("message"), "bad");
  EXPECT_EQ(wire.at("field"), "status");
}

}  // namespace
}  // namespace ablo
