#pragma once
// A 0.9.1-style sync client for integration tests: exchanged token, open socket, answered
// first sync_request, and helpers to commit and await frames.
#include <functional>
#include <memory>
#include <optional>
#include <set>
#include <string_view>
#include <string>
#include <vector>

#include <boost/json.hpp>
#include <gtest/gtest.h>

#include "client/transport.h"
#include "integration/server_fixture.h"

namespace ablo::testing {

namespace json = boost::json;
using namespace std::chrono_literals;

// One connected 0.9.1-style client: exchanged token, open socket, answered first sync_request.
struct Client {
  json::object exchange;
  std::string token;
  std::vector<std::string> groups;
  std::unique_ptr<client::WsConnection> ws;
  json::object first_sync;  // the answer to the sync_request sent on open
  std::vector<json::object> unread;  // frames received while waiting for something else
  int next_tx = 0;

  // The first frame matching `matches`, looking at frames already received first: a commit's
  // delta may arrive before its mutation_result (protocol.md §4.8).
  std::optional<boost::json::object> await(const std::function<bool(const json::object&)>& matches,
                                           std::chrono::milliseconds timeout = 5s) {
    for (auto it = unread.begin(); it != unread.end(); ++it) {
      if (matches(*it)) {
        json::object found = std::move(*it);
        unread.erase(it);
        return found;
      }
    }
    return receive_until(*ws, [&](const json::object& f) {
      if (matches(f)) return true;
      unread.push_back(f);
      return false;
    }, timeout);
  }

  static Client connect(ServerProcess& server, int64_t last_sync_id = 0) {
    Client c;
    c.exchange = server.exchange();
    c.token = std::string(c.exchange.at("token").as_string());
    for (const auto& g : c.exchange.at("scope").at("syncGroups").as_array()) c.groups.emplace_back(g.as_string());
    c.ws = server.connect_ws(c.token, c.groups);
    c.first_sync = c.sync(last_sync_id);
    return c;
  }

  // Opens a new socket with the same token on `server` (another node, after this one's died)
  // and resumes from `last_sync_id`.
  void reconnect(ServerProcess& server, int64_t last_sync_id) {
    ws = server.connect_ws(token, groups);
    unread.clear();
    first_sync = sync(last_sync_id);
  }

  json::object sync(int64_t last_sync_id) {
    ws->send_text(json::serialize(json::object{
        {"type", "sync_request"},
        {"payload", {{"cursor", nullptr}, {"versions", json::object{}}, {"lastSyncId", last_sync_id},
                     {"capabilities", json::array{"partialBootstrap"}}}}}));
    auto response = await([](const json::object& f) { return f.at("type") == "sync_response"; });
    EXPECT_TRUE(response) << "no sync_response";
    return response ? *response : json::object{};
  }

  std::string commit(json::array operations) {
    const std::string client_tx_id = "ctx-" + std::to_string(++next_tx) + "-" + token.substr(8, 6);
    ws->send_text(json::serialize(json::object{
        {"type", "commit"}, {"payload", {{"operations", std::move(operations)}, {"clientTxId", client_tx_id}}}}));
    return client_tx_id;
  }

  json::object result_of(const std::string& client_tx_id) {
    auto result = await([&](const json::object& f) {
      return f.at("type") == "mutation_result" && f.at("payload").at("clientTxId") == client_tx_id.c_str();
    });
    EXPECT_TRUE(result) << "no mutation_result for " << client_tx_id;
    return result ? result->at("payload").as_object() : json::object{};
  }
};

// Claim frames (protocol.md §3.8) as a 0.9.1 client sends them, on weather reports.
// The member names of a JSON object (for exact-shape checks).
inline std::set<std::string> keys_of(const json::object& object) {
  std::set<std::string> keys;
  for (const auto& [key, value] : object) keys.emplace(key);
  return keys;
}

// Exactly the members of a 0.49 commit receipt (its strict schema refuses any other).
inline const std::set<std::string> kStrictReceiptKeys = {"object", "clientTxId", "serverTxId", "createdAt", "success",
                                                         "ops",    "authority",  "status",     "statusAt",  "lastSyncId"};

inline void send_frame(Client& c, std::string_view type, json::object payload) {
  c.ws->send_text(json::serialize(json::object{{"type", type}, {"payload", std::move(payload)}}));
}

inline void begin_claim(Client& c, const std::string& intent, const std::string& row, bool queue = true,
                 std::optional<int64_t> ttl_ms = std::nullopt) {
  json::object payload{{"intentId", intent}, {"entityType", "weatherReports"}, {"entityId", row},
                       {"action", "editing"}, {"queue", queue}};
  if (ttl_ms) payload["estimatedMs"] = *ttl_ms;
  send_frame(c, "intent_begin", std::move(payload));
}

inline void abandon_claim(Client& c, const std::string& intent) {
  send_frame(c, "intent_abandon", {{"intentId", intent}, {"entityType", "weatherReports"}});
}

// The next frame of `type` about `intent`, or nullopt.
inline std::optional<json::object> await_intent(Client& c, std::string_view type, const std::string& intent,
                                         std::chrono::milliseconds timeout = 5s) {
  auto frame = c.await([&](const json::object& f) {
    return f.at("type").as_string() == type && f.at("payload").at("intentId").as_string() == intent;
  }, timeout);
  if (!frame) return std::nullopt;
  return frame->at("payload").as_object();
}

// Every delta in a frame: a single `delta`, a batched one, or a sync_response's catch-up.
inline std::vector<json::object> deltas_in(const json::object& frame) {
  std::vector<json::object> out;
  const auto& type = frame.at("type");
  if (type != "delta" && type != "sync_response") return out;
  const auto& payload = frame.at("payload").as_object();
  if (const auto* list = payload.if_contains("deltas"); list && list->is_array()) {
    for (const auto& d : list->as_array()) out.push_back(d.as_object());
  } else if (type == "delta") {
    out.push_back(payload);
  }
  return out;
}

inline json::object op(const char* type, const std::string& id, json::object input, const std::string& tx) {
  return json::object{{"type", type}, {"model", "weatherreports"}, {"id", id}, {"input", std::move(input)},
                      {"transactionId", tx}};
}

inline bool is_delta_with_id(const json::object& frame, int64_t id) {
  if (frame.at("type") != "delta") return false;
  const auto& payload = frame.at("payload").as_object();
  if (payload.contains("deltas")) {
    for (const auto& d : payload.at("deltas").as_array()) {
      if (d.at("id").as_int64() == id) return true;
    }
    return false;
  }
  return payload.at("id").as_int64() == id;
}

inline json::object delta_with_id(const json::object& frame, int64_t id) {
  const auto& payload = frame.at("payload").as_object();
  if (!payload.contains("deltas")) return payload;
  for (const auto& d : payload.at("deltas").as_array()) {
    if (d.at("id").as_int64() == id) return d.as_object();
  }
  return {};
}


// ------------------------------------------------------------ the 0.49 claims dialect

// The 0.49 reactive client's open sequence (notes/dialect-049.md §5.3): update_subscription,
// presence_update {status, timezone}, sync_request {…, protocolVersion: 1}.
inline Client connect_claims_client(ServerProcess& server, const std::string& token, std::vector<std::string> groups) {
  Client c;
  c.token = token;
  c.groups = std::move(groups);
  c.ws = server.connect_ws(c.token, c.groups);
  json::array names;
  for (const auto& g : c.groups) names.emplace_back(g);
  send_frame(c, "update_subscription", {{"syncGroups", std::move(names)}});
  auto ack = c.await([](const json::object& f) { return f.at("type") == "subscription_ack"; });
  EXPECT_TRUE(ack) << "update_subscription is answered";
  if (ack) { EXPECT_EQ(ack->at("payload").at("success"), true) << json::serialize(*ack); }
  send_frame(c, "presence_update", {{"status", "online"}, {"timezone", "UTC"}});
  send_frame(c, "sync_request", {{"cursor", ""}, {"lastSyncId", 0},
                                 {"capabilities", json::array{"partialBootstrap", "batchedDeltas"}},
                                 {"protocolVersion", 1}});
  auto response = c.await([](const json::object& f) { return f.at("type") == "sync_response"; });
  EXPECT_TRUE(response) << "no sync_response";
  if (response) c.first_sync = *response;
  return c;
}

inline Client connect_claims_client(ServerProcess& server) {
  const auto exchanged = server.exchange();
  std::vector<std::string> groups;
  for (const auto& g : exchanged.at("scope").at("syncGroups").as_array()) groups.emplace_back(g.as_string());
  auto c = connect_claims_client(server, std::string(exchanged.at("token").as_string()), groups);
  c.exchange = exchanged;
  return c;
}

// The next claim_* frame of `type` about `claim_id`, or nullopt.
inline std::optional<json::object> await_claim(Client& c, std::string_view type, const std::string& claim_id,
                                        std::chrono::milliseconds timeout = 5s) {
  auto frame = c.await([&](const json::object& f) {
    return f.at("type").as_string() == type && f.at("payload").at("claimId").as_string() == claim_id;
  }, timeout);
  if (!frame) return std::nullopt;
  return frame->at("payload").as_object();
}

}  // namespace ablo::testing
