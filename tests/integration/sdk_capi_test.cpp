// The C API (capi/ablo_c.h, issue 16 item 9) against the real server: two clients made through
// libablo_c.so create, observe, claim, update under the claim, read, commit, report their status
// and a refused write, and fetch rows from the server. Everything goes through the C functions;
// the C++ side only parses the JSON.
#include <mutex>
#include <string>
#include <vector>

#include <boost/json.hpp>
#include <gtest/gtest.h>

#include "ablo_c.h"
#include "integration/quickstart_schema.h"
#include "integration/server_fixture.h"

namespace ablo::testing {
namespace capi_test {  // named: the integration tests compile in unity batches

namespace json = boost::json;

// JSON events a callback received (from the client's callback thread).
struct Events {
  std::mutex mutex;
  std::vector<json::object> received;

  static void record(void* user_data, const char* event_json) {
    auto* events = static_cast<Events*>(user_data);
    std::lock_guard lock(events->mutex);
    events->received.push_back(json::parse(event_json).as_object());
  }
  std::vector<json::object> snapshot() {
    std::lock_guard lock(mutex);
    return received;
  }
  bool any(const std::function<bool(const json::object&)>& match) {
    for (const auto& event : snapshot()) {
      if (match(event)) return true;
    }
    return false;
  }
};

// Takes a C string the library returned.
std::string take(char* text) {
  std::string out = text ? text : "";
  ablo_string_free(text);
  return out;
}

std::string error_code_of(ablo_error* error) {
  std::string code = error ? ablo_error_code(error) : "";
  ablo_error_free(error);
  return code;
}

// Waits for a pending and frees it: the result JSON, or "error:<code>".
std::string settle(ablo_pending* pending, int64_t timeout_ms = 15000) {
  char* out = nullptr;
  ablo_error* error = nullptr;
  const auto status = ablo_pending_wait(pending, timeout_ms, &out, &error);
  ablo_pending_free(pending);
  if (status == ABLO_TIMEOUT) return "timeout";
  if (status == ABLO_ERROR) return "error:" + error_code_of(error);
  return take(out);
}

class SdkCapiTest : public ::testing::Test {
 protected:
  ServerProcess server{kQuickstartSchema};

  ablo_client* connect(const std::string& callbacks = "thread") {
    json::object options{{"base_url", "http://127.0.0.1:" + std::to_string(server.port())},
                         {"api_key", server.api_key()},
                         {"schema", json::parse(kQuickstartSchema)},
                         {"participant_kind", "agent"},
                         {"callbacks", callbacks},
                         {"timing", json::object{{"batch_delay_ms", 5},
                                                 {"reconnect", json::object{{"initial_ms", 50}, {"max_ms", 300}}}}}};
    ablo_client* client = nullptr;
    ablo_error* error = nullptr;
    EXPECT_EQ(ablo_client_new(json::serialize(options).c_str(), &client, &error), ABLO_OK) << error_code_of(error);
    EXPECT_EQ(settle(ablo_client_ready(client)), "null");
    return client;
  }

  static std::optional<json::object> get(ablo_client* client, const char* id) {
    char* row = nullptr;
    EXPECT_EQ(ablo_get(client, "weatherReports", id, &row, nullptr), ABLO_OK);
    if (!row) return std::nullopt;
    return json::parse(take(row)).as_object();
  }
};

TEST_F(SdkCapiTest, CApiEndToEnd) {
  ablo_client* a = connect();
  ablo_client* b = connect("manual");

  Events a_live, b_live, a_failures;
  ablo_observer* a_observer = ablo_observe(a, "weatherReports", R"({"orderBy":[["location","asc"]]})", &Events::record, &a_live);
  ablo_observer* b_observer = ablo_observe(b, "weatherReports", nullptr, &Events::record, &b_live);
  ablo_observer* a_failure_events = ablo_subscribe(a, "mutation_failure", &Events::record, &a_failures);
  ASSERT_TRUE(a_observer && b_observer && a_failure_events);

  // Create: a Receipt in the wire shape, the observer sees it optimistic then confirmed.
  const auto receipt = json::parse(settle(ablo_create(a, "weatherReports", R"({"location":"Oslo","status":"pending"})",
                                                      R"({"id":"job"})")))
                           .as_object();
  EXPECT_FALSE(receipt.at("transactionId").as_string().empty());
  EXPECT_FALSE(receipt.at("clientTxId").as_string().empty());
  EXPECT_GT(receipt.at("lastSyncId").as_int64(), 0);
  EXPECT_EQ(receipt.at("row").at("data").at("location").as_string(), "Oslo");
  EXPECT_EQ(receipt.at("flaggedStale"), false);
  EXPECT_TRUE(eventually([&] { return a_live.any([](const json::object& u) { return u.at("cause") == "confirmed"; }); }));
  EXPECT_TRUE(a_live.any([](const json::object& u) { return u.at("cause") == "optimistic" && u.at("added").as_array().size() == 1; }));

  // B (manual callbacks) sees it once it drains its queue on this thread.
  EXPECT_TRUE(eventually([&] {
    ablo_client_run_pending(b, 10, 100);
    return b_live.any([](const json::object& u) { return u.at("cause") == "remote" && !u.at("rows").as_array().empty(); });
  }));
  ASSERT_TRUE(get(b, "job"));

  // B claims the row and updates it under the claim; A's write meanwhile is refused and rolled back.
  ablo_pending* claim_pending = ablo_claim_acquire(b, "weatherReports", "job", R"({"ttlMs":30000,"description":"capi"})");
  ablo_claim* claim = nullptr;
  ablo_error* error = nullptr;
  ASSERT_EQ(ablo_pending_take_claim(claim_pending, 15000, &claim, &error), ABLO_OK) << error_code_of(error);
  ablo_pending_free(claim_pending);
  EXPECT_EQ(ablo_claim_held(claim), 1);
  EXPECT_GT(ablo_claim_read_at(claim), 0);
  const auto claimed_row = json::parse(take(ablo_claim_row(claim))).as_object();
  EXPECT_EQ(claimed_row.at("id").as_string(), "job");
  EXPECT_EQ(claimed_row.at("data").at("location").as_string(), "Oslo");

  const auto under_claim = json::parse(settle(ablo_claim_update(claim, R"({"status":"ready"})", nullptr))).as_object();
  EXPECT_EQ(under_claim.at("row").at("data").at("status").as_string(), "ready");
  EXPECT_TRUE(eventually([&] { return get(a, "job")->at("data").at("status") == "ready"; }));
  EXPECT_TRUE(eventually([&] {
    const std::string state = take(ablo_claim_state(a, "weatherReports", "job"));
    return !state.empty() && json::parse(state).at("mine") == false;
  })) << "A sees B's claim";

  EXPECT_EQ(settle(ablo_update(a, "weatherReports", "job", R"({"location":"intruder"})", nullptr)), "error:entity_claimed");
  EXPECT_EQ(get(a, "job")->at("data").at("location").as_string(), "Oslo") << "rolled back";
  EXPECT_TRUE(eventually([&] {
    return a_failures.any([](const json::object& failure) {
      return failure.at("id") == "job" && failure.at("action") == "update" && failure.at("error").at("code") == "entity_claimed" &&
             failure.at("rolledBack") == true;
    });
  }));
  ablo_claim_free(claim);  // releases (intent_abandon goes out asynchronously)
  EXPECT_TRUE(eventually([&] { return take(ablo_claim_state(a, "weatherReports", "job")).empty(); })) << "A sees the release";
  const std::string after_release = settle(ablo_update(a, "weatherReports", "job", R"({"location":"Bergen"})", nullptr));
  EXPECT_EQ(after_release.find("error:"), std::string::npos) << after_release;

  // Reads: list with a where clause; the commit lane; status.
  const auto committed = json::parse(settle(ablo_commit(a, R"([
      {"action":"create","model":"weatherReports","id":"c1","data":{"location":"Rome","status":"pending"}},
      {"action":"create","model":"weatherReports","id":"c2","data":{"location":"Lima","status":"ready"}}])",
                                                          nullptr)))
                             .as_object();
  EXPECT_EQ(committed.at("ids"), json::value(json::array{"c1", "c2"}));
  EXPECT_GT(committed.at("lastSyncId").as_int64(), receipt.at("lastSyncId").as_int64());
  EXPECT_TRUE(eventually([&] { return get(a, "c2").has_value(); }));
  char* rows_json = nullptr;
  ASSERT_EQ(ablo_list(a, "weatherReports", R"({"where":[["status","=","ready"]],"orderBy":[["location","asc"]]})", &rows_json,
                      nullptr),
            ABLO_OK);
  const auto rows = json::parse(take(rows_json)).as_array();
  ASSERT_EQ(rows.size(), 2u);
  EXPECT_EQ(rows[0].at("id").as_string(), "job");  // Bergen < Lima
  EXPECT_EQ(rows[1].at("id").as_string(), "c2");
  // Undo/redo: a gesture of two writes in one group is one entry; undone, then redone, through C.
  ASSERT_EQ(ablo_undo_scope(a, "editor", R"({"maxHistory":10,"conflictPolicy":"skip-stale"})", nullptr), ABLO_OK);
  ablo_error* bad_scope = nullptr;
  EXPECT_EQ(ablo_undo_scope(a, "other", R"({"conflictPolicy":"sometimes"})", &bad_scope), ABLO_ERROR);
  EXPECT_EQ(error_code_of(bad_scope), "invalid_request");
  ablo_undo_begin_group(a, "editor", "rename");
  settle(ablo_update(a, "weatherReports", "c1", R"({"location":"Roma"})", R"({"undoScope":"editor"})"));
  settle(ablo_update(a, "weatherReports", "c2", R"({"location":"Lima, Peru"})", R"({"undoScope":"editor"})"));
  EXPECT_EQ(ablo_can_undo(a, "editor"), 0) << "the group is still open";
  ablo_undo_end_group(a, "editor");
  EXPECT_EQ(ablo_can_undo(a, "editor"), 1);
  const auto undone = json::parse(settle(ablo_undo(a, "editor"))).as_object();
  EXPECT_EQ(undone.at("label").as_string(), "rename");
  EXPECT_EQ(undone.at("applied").as_int64(), 2);
  EXPECT_EQ(get(a, "c1")->at("data").at("location").as_string(), "Rome");
  EXPECT_EQ(get(a, "c2")->at("data").at("location").as_string(), "Lima");
  EXPECT_EQ(ablo_can_redo(a, "editor"), 1);
  settle(ablo_redo(a, "editor"));
  EXPECT_EQ(get(a, "c1")->at("data").at("location").as_string(), "Roma");
  ablo_undo_clear(a, "editor");
  EXPECT_EQ(ablo_can_undo(a, "editor") + ablo_can_redo(a, "editor"), 0);

  const auto fetched = json::parse(settle(ablo_fetch(b, "weatherReports", R"({"where":[["location","=","Roma"]]})"))).as_array();
  ASSERT_EQ(fetched.size(), 1u) << "from the server";
  EXPECT_EQ(fetched[0].at("id").as_string(), "c1");
  const auto status = json::parse(take(ablo_client_status(a))).as_object();
  EXPECT_EQ(status.at("state").as_string(), "connected");
  EXPECT_TRUE(eventually([&] {  // the cursor of the status is the persisted one: the store thread writes it
    return json::parse(take(ablo_client_status(a))).at("cursor").as_int64() >= committed.at("lastSyncId").as_int64();
  }));
  EXPECT_EQ(settle(ablo_client_wait_for_flush(a, 10000)), "null");
  EXPECT_EQ(json::parse(take(ablo_client_status(a))).at("pendingWrites").as_int64(), 0);

  ablo_observer_free(a_observer);
  ablo_observer_free(b_observer);
  ablo_observer_free(a_failure_events);
  ablo_client_free(a);
  ablo_client_free(b);
}

}  // namespace capi_test
}  // namespace ablo::testing
