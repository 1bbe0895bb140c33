// The web console's server side (issue 15): its built-in assets at /console (public, with the
// security headers and ETag revalidation) and the routes its pages rely on that were added for
// it (a row's history in /v1/logs, a claim's declaredAt for wait times).
#include <chrono>
#include <map>
#include <string>

#include <boost/json.hpp>
#include <gtest/gtest.h>

#include "client/transport.h"
#include "integration/quickstart_schema.h"
#include "integration/server_fixture.h"

namespace ablo::testing {
namespace {

namespace json = boost::json;

client::HttpResponse request(const ServerProcess& server, const std::string& method, const std::string& target,
                             std::map<std::string, std::string> headers = {}, const std::string& body = {}) {
  if (!body.empty()) headers["Content-Type"] = "application/json";
  auto response = client::http_request("127.0.0.1", server.port(), method, target, body, headers);
  EXPECT_TRUE(response) << method << " " << target;
  return response ? *response : client::HttpResponse{};
}

std::map<std::string, std::string> bearer(const ServerProcess& server) {
  return {{"Authorization", "Bearer " + server.api_key()}};
}

std::string header(const client::HttpResponse& response, const std::string& name) {
  const auto it = response.headers.find(name);
  return it == response.headers.end() ? std::string() : it->second;
}

TEST(ConsoleAssetsTest, ServesThePagePubliclyWithSecurityHeadersAndRevalidation) {
  ServerProcess server{kQuickstartSchema};
  const auto page = request(server, "GET", "/console");  // no key: the assets are public
  ASSERT_EQ(page.status, 200) << page.body;
  EXPECT_EQ(header(page, "content-type").rfind("text/html", 0), 0u);
  EXPECT_EQ(header(page, "content-security-policy"), "default-src 'self'; connect-src 'self' ws: wss:");
  EXPECT_EQ(header(page, "x-frame-options"), "DENY");
  EXPECT_EQ(header(page, "cache-control"), "no-cache");
  EXPECT_NE(page.body.find("<script type=\"module\" src=\"/console/app.js\">"), std::string::npos);
  EXPECT_EQ(request(server, "GET", "/console/").body, page.body);
  EXPECT_EQ(request(server, "GET", "/console/index.html").body, page.body);

  const auto script = request(server, "GET", "/console/app.js");
  ASSERT_EQ(script.status, 200);
  EXPECT_EQ(header(script, "content-type").rfind("text/javascript", 0), 0u);
  EXPECT_NE(script.body.find("export"), std::string::npos);  // an ES module, not the HTML page
  const auto nested = request(server, "GET", "/console/pages/live.js");
  EXPECT_EQ(nested.status, 200);
  EXPECT_EQ(header(request(server, "GET", "/console/style.css"), "content-type").rfind("text/css", 0), 0u);

  const std::string etag = header(script, "etag");
  ASSERT_FALSE(etag.empty());
  const auto again = request(server, "GET", "/console/app.js", {{"If-None-Match", etag}});
  EXPECT_EQ(again.status, 304);
  EXPECT_TRUE(again.body.empty());
  EXPECT_EQ(request(server, "GET", "/console/app.js", {{"If-None-Match", "W/" + etag + ", \"other\""}}).status, 304);
  EXPECT_EQ(request(server, "GET", "/console/app.js", {{"If-None-Match", "\"stale\""}}).status, 200);
  EXPECT_NE(header(page, "etag"), etag);  // one validator per file

  EXPECT_EQ(request(server, "GET", "/console/missing.js").status, 404);
  EXPECT_EQ(request(server, "GET", "/console/../console/app.js").status, 404);
  EXPECT_EQ(request(server, "GET", "/console/pages").status, 404);
  EXPECT_EQ(request(server, "POST", "/console/app.js").status, 401);  // not an asset route: the API's rules
  // The data behind the console still needs a key.
  EXPECT_EQ(request(server, "GET", "/v1/schema").status, 401);
  EXPECT_EQ(request(server, "GET", "/v1/schema", bearer(server)).status, 200);
}

TEST(ConsoleRoutesTest, LogsFilterToOneRowWithTheWriterOfEachDelta) {
  ServerProcess server{kQuickstartSchema};
  const auto commit = request(server, "POST", "/v1/commits", bearer(server),
                              json::serialize(json::object{{"operations", weather_report_creates(3, "r")}}));
  ASSERT_EQ(commit.status, 200) << commit.body;
  const auto patch = request(server, "PATCH", "/v1/models/weatherReports/r1", bearer(server),
                             R"({"status":"ready"})");
  ASSERT_EQ(patch.status, 200) << patch.body;

  const auto history = request(server, "GET", "/v1/logs?model=weatherReports&recordId=r1", bearer(server));
  ASSERT_EQ(history.status, 200) << history.body;
  const auto events = json::parse(history.body).at("data").as_array();
  ASSERT_EQ(events.size(), 2u) << history.body;  // r1's create and update; r0 and r2 left out
  EXPECT_EQ(events[0].at("op"), "create");
  EXPECT_EQ(events[1].at("op"), "update");
  for (const auto& event : events) {
    EXPECT_EQ(event.at("recordId"), "r1");
    EXPECT_TRUE(event.at("actor").is_string()) << event;  // who wrote it
  }
  EXPECT_EQ(request(server, "GET", "/v1/logs?recordId=", bearer(server)).status, 400);
  const auto none = request(server, "GET", "/v1/logs?recordId=nope", bearer(server));
  EXPECT_TRUE(json::parse(none.body).at("data").as_array().empty()) << none.body;
}

TEST(ConsoleRoutesTest, ClaimListCarriesWhenEachClaimWasAskedFor) {
  ServerProcess server{kQuickstartSchema};
  const auto before = std::chrono::duration_cast<std::chrono::milliseconds>(
                          std::chrono::system_clock::now().time_since_epoch()).count();
  const auto claim = request(server, "POST", "/v1/models/weatherReports/w1/claim", bearer(server), "{}");
  ASSERT_EQ(claim.status, 201) << claim.body;
  const auto list = request(server, "GET", "/v1/claims", bearer(server));
  ASSERT_EQ(list.status, 200) << list.body;
  const auto claims = json::parse(list.body).at("data").as_array();
  ASSERT_EQ(claims.size(), 1u) << list.body;
  const auto declared = claims[0].at("declaredAt").to_number<int64_t>();
  EXPECT_GE(declared, before - 1000);
  EXPECT_LE(declared, claims[0].at("expiresAt").to_number<int64_t>());
}

}  // namespace
}  // namespace ablo::testing
