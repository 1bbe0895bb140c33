// How one server tells a 0.9.1 client from a 0.49-era one (net/dialect.h).
#include "net/dialect.h"

#include <boost/json.hpp>
#include <gtest/gtest.h>

#include "net/router.h"

namespace ablo::net {
namespace {

namespace json = boost::json;

HttpRequest request_with(std::map<std::string, std::string> headers) {
  HttpRequest request;
  request.method = "GET";
  request.target = "/api/v1/models/task";
  request.headers = std::move(headers);
  request.request_id = "req_test";
  return request;
}

TEST(HttpDialect, NoVersionHeaderIsThe091Client) {
  auto dialect = dialect_of(request_with({}));
  ASSERT_TRUE(dialect.has_value());
  EXPECT_EQ(*dialect, Dialect::kIntents);
}

TEST(HttpDialect, VersionOneHeaderIsThe049Client) {
  auto dialect = dialect_of(request_with({{"ablo-protocol-version", "1"}}));
  ASSERT_TRUE(dialect.has_value());
  EXPECT_EQ(*dialect, Dialect::kClaims);
}

TEST(HttpDialect, AnUnsupportedVersionIs426ProtocolVersionUnsupported) {
  for (const char* announced : {"2", "0", "1.0", "one", ""}) {
    auto request = request_with({{"ablo-protocol-version", announced}});
    auto dialect = dialect_of(request);
    ASSERT_FALSE(dialect.has_value()) << announced;
    const auto response = error_response(dialect.error(), request);
    EXPECT_EQ(response.status, 426) << announced;
    EXPECT_EQ(json::parse(response.body).at("code"), "protocol_version_unsupported") << announced;
  }
}

TEST(HttpDialect, ErrorsUseTheCodesOfTheClientsContract) {
  const Error lease_down("intent_lease_unavailable", "lease store down");
  auto old_client = error_response(lease_down, request_with({}));
  auto new_client = error_response(lease_down, request_with({{"ablo-protocol-version", "1"}}));
  EXPECT_EQ(json::parse(old_client.body).at("code"), "intent_lease_unavailable");
  EXPECT_EQ(json::parse(new_client.body).at("code"), "claim_lease_unavailable");
  EXPECT_EQ(old_client.status, 503);
  EXPECT_EQ(new_client.status, 503);
}

TEST(WsDialect, TheHandshakeFrameDecides) {
  auto announced = dialect_revealed_by("sync_request", json::object{{"lastSyncId", 0}, {"protocolVersion", 1}});
  ASSERT_TRUE(announced.has_value());
  EXPECT_EQ(*announced, Dialect::kClaims);
  auto silent = dialect_revealed_by("sync_request", json::object{{"lastSyncId", 0}, {"versions", json::object{}}});
  ASSERT_TRUE(silent.has_value());
  EXPECT_EQ(*silent, Dialect::kIntents);
}

TEST(WsDialect, ClaimOrIntentFramesDecide) {
  EXPECT_EQ(dialect_revealed_by("claim_begin", {}).value(), Dialect::kClaims);
  EXPECT_EQ(dialect_revealed_by("claim_heartbeat", {}).value(), Dialect::kClaims);
  EXPECT_EQ(dialect_revealed_by("update_subscription", {}).value(), Dialect::kClaims);
  EXPECT_EQ(dialect_revealed_by("intent_begin", {}).value(), Dialect::kIntents);
}

TEST(WsDialect, FramesBothDialectsSendRevealNothing) {
  for (const char* type : {"presence_update", "ping", "ack", "commit", "claim", "release"}) {
    auto revealed = dialect_revealed_by(type, {});
    ASSERT_TRUE(revealed.has_value()) << type;
    EXPECT_FALSE(revealed->has_value()) << type;
  }
}

TEST(WsDialect, AnUnsupportedVersionInTheHandshakeIsRefused) {
  for (json::value announced : {json::value(2), json::value(1.5), json::value("1"), json::value(-1)}) {
    auto revealed = dialect_revealed_by("sync_request", json::object{{"protocolVersion", announced}});
    ASSERT_FALSE(revealed.has_value()) << json::serialize(announced);
    EXPECT_EQ(revealed.error().code, "protocol_version_unsupported");
  }
}

}  // namespace
}  // namespace ablo::net
