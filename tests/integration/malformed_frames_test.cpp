// Frames and requests that used to kill the server process (boost::json's to_number throwing
// on a handler thread, issue 10): a lastSyncId that is not an exact int64 on sync_request and
// ack, and a date beyond int64 in a commit. Each is answered or ignored as the protocol
// allows, and the same server still answers on the same socket afterwards.
#include <boost/json.hpp>
#include <fmt/format.h>
#include <gtest/gtest.h>

#include "client/transport.h"
#include "integration/server_fixture.h"
#include "integration/sync_client.h"

namespace ablo::testing {
namespace {

namespace json = boost::json;
using namespace std::chrono_literals;

// The quickstart model plus a date field.
constexpr const char* kSchemaWithDate = R"({"v":3,"models":{"weatherReports":{"fields":{
  "location":{"type":"string","isOptional":false,"isIndexed":false},
  "status":{"type":"enum","enumValues":["pending","ready"],"isOptional":false,"isIndexed":false},
  "observedAt":{"type":"date","isOptional":true,"isIndexed":false}},
  "relations":{},"load":"instant","typename":"weatherReports",
  "tenancy":{"kind":"column","column":"organization_id"},"plane":"tenant"}},"identityRoles":[]})";

class MalformedFramesTest : public ::testing::Test {
 protected:
  ServerProcess server{kSchemaWithDate};

  // The socket is open and answering, and the server still takes a valid commit.
  void expect_alive(Client& client) {
    client.ws->send_text(R"({"type":"ping"})");
    EXPECT_TRUE(client.await([](const json::object& f) { return f.at("type") == "pong"; })) << "no pong";
    EXPECT_FALSE(client.ws->closed());
    const std::string id = "row-" + std::to_string(++rows_);
    auto ok = client.result_of(client.commit(json::array{
        op("CREATE", id, {{"location", "Oslo"}, {"status", "pending"}, {"observedAt", 1700000000000}}, "tx-" + id)}));
    EXPECT_EQ(ok.at("success"), true) << json::serialize(ok);
  }

  int rows_ = 0;
};

TEST_F(MalformedFramesTest, LastSyncIdsThatAreNotExactInt64AreIgnored) {
  auto client = Client::connect(server);
  for (const char* last : {"1.5", "1e300", "9223372036854775808", "-1", "\"12\"", "18446744073709551615"}) {
    for (const char* type : {"sync_request", "ack"}) {
      client.ws->send_text(fmt::format(R"({{"type":"{}","payload":{{"lastSyncId":{}}}}})", type, last));
    }
  }
  expect_alive(client);
  // A valid sync_request is still answered, and its head counts the write above.
  auto answer = client.sync(0);
  ASSERT_TRUE(answer.contains("payload")) << "no sync_response";
  EXPECT_EQ(answer.at("payload").at("currentSyncId").as_int64(), 1) << json::serialize(answer);
}

TEST_F(MalformedFramesTest, ANullLastSyncIdIsAFreshClientAndIsAnswered) {
  auto client = Client::connect(server);
  client.ws->send_text(R"({"type":"sync_request","payload":{"cursor":null,"lastSyncId":null}})");
  EXPECT_TRUE(client.await([](const json::object& f) { return f.at("type") == "sync_response"; }))
      << "a sync_request with a null cursor must still be answered";
}

TEST_F(MalformedFramesTest, AnOutOfRangeDateIsRejectedWithAFieldErrorAndTheWriterCarriesOn) {
  auto client = Client::connect(server);
  for (const char* date : {"18446744073709551615", "9223372036854775807", "1e300", "1.5"}) {
    const std::string client_tx_id = "bad-date-" + std::string(date);
    client.ws->send_text(fmt::format(
        R"({{"type":"commit","payload":{{"clientTxId":"{}","operations":[{{"type":"CREATE","model":"weatherreports",)"
        R"("id":"r-{}","input":{{"location":"x","status":"pending","observedAt":{}}}}}]}}}})",
        client_tx_id, date, date));
    auto result = client.result_of(client_tx_id);
    ASSERT_EQ(result.at("success"), false) << date;
    EXPECT_EQ(result.at("error").at("code"), "invalid_request") << date;
    EXPECT_NE(result.at("error").at("field").as_string().find("observedAt"), json::string::npos) << date;
  }
  expect_alive(client);
}

TEST_F(MalformedFramesTest, RestCommitWithAnOutOfRangeDateIs400AndTheServerStillAnswers) {
  const std::string body =
      R"({"operations":[{"type":"create","model":"weatherReports","id":"h1",)"
      R"("input":{"location":"x","status":"pending","observedAt":18446744073709551615}}]})";
  auto response = client::http_request("127.0.0.1", server.port(), "POST", "/v1/commits", body,
                                       {{"Authorization", "Bearer " + server.api_key()},
                                        {"Content-Type", "application/json"}});
  ASSERT_TRUE(response) << response.error().message;
  EXPECT_EQ(response->status, 400) << response->body;
  EXPECT_EQ(json::parse(response->body).at("code"), "invalid_request") << response->body;
  auto client = Client::connect(server);
  expect_alive(client);
}

}  // namespace
}  // namespace ablo::testing
