// The HTTP surface of the real server process (protocol.md §2), over loopback.
#include <boost/json.hpp>
#include <gtest/gtest.h>

#include "client/transport.h"
#include "integration/quickstart_schema.h"
#include "integration/server_fixture.h"

namespace ablo::testing {
namespace {

namespace json = boost::json;

class HttpTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { server_ = new ServerProcess(kQuickstartSchema); }
  static void TearDownTestSuite() {
    delete server_;
    server_ = nullptr;
  }

  client::HttpResponse call(const std::string& method, const std::string& target, const std::string& body = {},
                            std::map<std::string, std::string> headers = {}) {
    auto response = client::http_request("127.0.0.1", server_->port(), method, target, body, headers);
    EXPECT_TRUE(response) << (response ? "" : response.error().message);
    return response ? *response : client::HttpResponse{};
  }
  client::HttpResponse call_with(const std::string& bearer, const std::string& method, const std::string& target,
                                 const std::string& body = {}) {
    return call(method, target, body, {{"Authorization", "Bearer " + bearer}});
  }
  static json::object body_of(const client::HttpResponse& response) {
    return json::parse(response.body).as_object();
  }

  static ServerProcess* server_;
};

ServerProcess* HttpTest::server_ = nullptr;

TEST_F(HttpTest, HealthNeedsNoCredentials) {
  auto response = call("GET", "/api/health");
  EXPECT_EQ(response.status, 200);
  EXPECT_EQ(body_of(response).at("status"), "healthy");
}

TEST_F(HttpTest, ExchangeMintsASubprotocolSafeTokenWithScope) {
  auto response = call_with(server_->api_key(), "POST", "/api/auth/capability",
                            R"({"participantKind":"system","wideScope":true,"ttlSeconds":3600})");
  ASSERT_EQ(response.status, 200) << response.body;
  auto body = body_of(response);
  const std::string token(body.at("token").as_string());
  EXPECT_EQ(token.rfind("rk_test_", 0), 0u) << token;
  for (char c : token) EXPECT_TRUE(std::isalnum(static_cast<unsigned char>(c)) || c == '_') << token;
  EXPECT_FALSE(body.at("capabilityId").as_string().empty());
  EXPECT_NE(body.at("expiresAt").as_string().find('T'), json::string::npos);
  const auto& scope = body.at("scope").as_object();
  EXPECT_EQ(scope.at("organizationId"), body.at("organizationId"));
  EXPECT_FALSE(scope.at("participantId").as_string().empty());
  EXPECT_FALSE(scope.at("syncGroups").as_array().empty());
  EXPECT_TRUE(body.at("userMeta").is_object());
}

TEST_F(HttpTest, AuthCheckAnswers204ForAValidTokenAnd401WithTheFailureCode) {
  auto token = std::string(server_->exchange().at("token").as_string());
  EXPECT_EQ(call_with(token, "HEAD", "/api/auth/check").status, 204);
  auto refused = call_with("rk_test_notarealtoken", "HEAD", "/api/auth/check");
  EXPECT_EQ(refused.status, 401);
  EXPECT_EQ(refused.headers["x-auth-failure"], "apikey_invalid");
}

TEST_F(HttpTest, ErrorsUseTheEnvelopeAndEchoTheRequestId) {
  auto response = call("GET", "/api/sync/bootstrap", {}, {{"x-request-id", "req_test_123"}});
  EXPECT_EQ(response.status, 401);
  EXPECT_EQ(response.headers["x-request-id"], "req_test_123");
  auto body = body_of(response);
  EXPECT_EQ(body.at("code"), "apikey_missing");
  EXPECT_EQ(body.at("type"), "AbloAuthenticationError");
  EXPECT_EQ(body.at("request_id"), "req_test_123");
  EXPECT_EQ(body.at("doc_url"), "https://docs.abloatai.com/errors#apikey_missing");
  EXPECT_FALSE(body.at("message").as_string().empty());
}

TEST_F(HttpTest, IdentityDescribesTheTokensParticipant) {
  auto exchanged = server_->exchange();
  auto response = call_with(std::string(exchanged.at("token").as_string()), "GET", "/api/auth/identity");
  ASSERT_EQ(response.status, 200);
  auto body = body_of(response);
  EXPECT_EQ(body.at("participantId"), exchanged.at("scope").at("participantId"));
  EXPECT_EQ(body.at("accountScope"), exchanged.at("organizationId"));
}

TEST_F(HttpTest, InvalidSchemaPushIsRejectedWithAPreciseMessage) {
  auto response = call_with(server_->api_key(), "POST", "/api/schema",
                            R"({"schema":{"v":3,"models":{"t":{"fields":{"Title":{"type":"string"}},"relations":{}}}}})");
  EXPECT_EQ(response.status, 400);
  auto body = body_of(response);
  EXPECT_EQ(body.at("code"), "schema_field_not_camelcase");
  EXPECT_NE(body.at("message").as_string().find("Title"), json::string::npos);
}

TEST_F(HttpTest, SchemaPushIsVersionedAndReadable) {
  auto before = body_of(call_with(server_->api_key(), "GET", "/api/schema"));
  auto pushed = call_with(server_->api_key(), "POST", "/api/schema",
                          std::string(R"({"schema":)") + kQuickstartSchema + "}");
  ASSERT_EQ(pushed.status, 200) << pushed.body;
  EXPECT_EQ(body_of(pushed).at("version").as_int64(), before.at("version").as_int64() + 1);
  auto after = body_of(call_with(server_->api_key(), "GET", "/api/schema"));
  EXPECT_EQ(after.at("models").as_array().front().at("key"), "weatherReports");
}

TEST_F(HttpTest, CapabilityTokensCannotPushSchemas) {
  auto token = std::string(server_->exchange().at("token").as_string());
  auto response = call_with(token, "POST", "/api/schema", std::string(R"({"schema":)") + kQuickstartSchema + "}");
  EXPECT_EQ(response.status, 403);
}

// 0.9.1's ready() registers DATABASE_URL as the direct connector (protocol.md §2.8): a database
// that cannot be reached fails it with our reason (a retryable 503), and nothing is registered.
TEST_F(HttpTest, DatasourceRegistrationOfAnUnreachableDatabaseSaysWhy) {
  auto response = call_with(server_->api_key(), "POST", "/api/v1/datasource", R"({"connectionString":"postgres://x"})");
  EXPECT_EQ(response.status, 503) << response.body;
  EXPECT_EQ(body_of(response).at("code"), "source_network_error");
  EXPECT_NE(response.body.find("cannot be reached"), std::string::npos) << response.body;
  EXPECT_EQ(call_with(server_->api_key(), "GET", "/v1/datasources").body.find("selfHosted"), std::string::npos);
}

TEST_F(HttpTest, QueryRejectsMalformedJson) {
  auto token = std::string(server_->exchange().at("token").as_string());
  auto response = call_with(token, "POST", "/api/sync/query", "{not json");
  EXPECT_EQ(response.status, 400);
  EXPECT_EQ(body_of(response).at("code"), "invalid_json");
}

TEST_F(HttpTest, UnknownRoutesAre404WithTheEnvelope) {
  auto response = call_with(server_->api_key(), "GET", "/api/nope");
  EXPECT_EQ(response.status, 404);
  EXPECT_EQ(body_of(response).at("code"), "entity_not_found");
}

}  // namespace
}  // namespace ablo::testing
