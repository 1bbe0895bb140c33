#include "net/ws_protocol.h"

#include <boost/json.hpp>
#include <spdlog/spdlog.h>

#include "errors/registry.h"
#include "net/router.h"
#include "schema/sync_groups.h"

namespace ablo::net {

namespace json = boost::json;

namespace {

std::string frame(std::string_view type, json::object payload) {
  return json::serialize(json::object{{"type", type}, {"payload", std::move(payload)}});
}

std::vector<std::string> split_subprotocols(const std::string& header) {
  std::vector<std::string> out;
  std::size_t start = 0;
  while (start <= header.size()) {
    const auto comma = header.find(',', start);
    auto item = header.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
    while (!item.empty() && item.front() == ' ') item.erase(0, 1);
    while (!item.empty() && item.back() == ' ') item.pop_back();
    if (!item.empty()) out.push_back(std::move(item));
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  return out;
}

}  // namespace

Result<UpgradeGrant> authorize_upgrade(const auth::AuthService& auth, const std::string& subprotocols,
                                       const std::string& target, const std::string& authorization) {
  UpgradeGrant grant;
  std::string token;
  for (const auto& offered : split_subprotocols(subprotocols)) {
    if (offered == kSyncSubprotocol) grant.offered_sync_subprotocol = true;
    if (offered.rfind(kBearerSubprotocolPrefix, 0) == 0) token = offered.substr(kBearerSubprotocolPrefix.size());
  }
  if (token.empty()) token = bearer_of(authorization);
  if (token.empty()) {
    auto legacy = query_values(target, "authorization");
    if (!legacy.empty()) token = bearer_of(legacy.front());
  }
  auto principal = auth.authenticate(token);
  if (!principal) return tl::unexpected(principal.error());
  grant.groups = schema::narrow_groups(query_values(target, "syncGroups"), principal->allowed_groups);
  grant.principal = std::move(*principal);
  return grant;
}

SyncConnection::SyncConnection(engine::Engine& engine, UpgradeGrant grant, std::weak_ptr<fanout::Outbox> outbox)
    : engine_(engine), grant_(std::move(grant)), outbox_(std::move(outbox)) {
  auto locked = outbox_.lock();
  subscription_ = engine_.hub().subscribe(grant_.principal.tenant.key(), grant_.groups, locked.get());
}

SyncConnection::~SyncConnection() { on_close(); }

void SyncConnection::on_close() {
  if (subscription_) {
    engine_.hub().unsubscribe(subscription_);
    subscription_.reset();
  }
}

void SyncConnection::send(std::string text) {
  if (auto outbox = outbox_.lock()) outbox->push_frame(std::move(text));
}

void SyncConnection::on_text(std::string_view text) {
  boost::system::error_code ec;
  json::value parsed = json::parse(text, ec);
  if (ec || !parsed.is_object()) return;  // the client never sends non-JSON; ignore noise
  const auto& message = parsed.as_object();
  const auto* type_value = message.if_contains("type");
  if (!type_value || !type_value->is_string()) return;
  const std::string_view type = type_value->as_string();
  static const json::object kEmpty;
  const auto* payload_value = message.if_contains("payload");
  const json::object& payload = payload_value && payload_value->is_object() ? payload_value->as_object() : kEmpty;

  if (type == "ping") {
    send(R"({"type":"pong"})");
  } else if (type == "sync_request") {
    int64_t last = 0;
    if (const auto* v = payload.if_contains("lastSyncId"); v && v->is_number()) last = v->to_number<int64_t>();
    if (subscription_) {
      if (auto ok = engine_.hub().catch_up(subscription_, last); !ok) {
        spdlog::warn("catch-up failed: {}", ok.error().message);
      }
    }
  } else if (type == "ack") {
    if (const auto* v = payload.if_contains("lastSyncId"); v && v->is_number()) {
      acked_ = std::max(acked_, v->to_number<int64_t>());
    }
  } else if (type == "commit") {
    handle_commit(payload);
  }
  // Presence, intents and participant claims arrive with the claims coordinator; until then
  // they are ignored like any unknown frame.
}

void SyncConnection::handle_commit(const json::object& payload) {
  std::string client_tx_id;
  if (const auto* v = payload.if_contains("clientTxId"); v && v->is_string()) client_tx_id = v->as_string();
  auto reject = [client_tx_id](const Error& error) {
    return frame("mutation_result", json::object{{"object", "commit_receipt"},
                                                 {"clientTxId", client_tx_id},
                                                 {"success", false},
                                                 {"status", "rejected"},
                                                 {"error", errors::wire_error(error)}});
  };
  auto request = engine::parse_commit_payload(payload);
  if (!request) {
    send(reject(request.error()));
    return;
  }
  request->principal = grant_.principal;
  request->committer_groups = grant_.groups;
  engine_.commit(std::move(*request), [outbox = outbox_, reject](Result<engine::CommitReceipt> result) {
    auto target = outbox.lock();
    if (!target) return;
    target->push_frame(result ? frame("mutation_result", result->to_json()) : reject(result.error()));
  });
}

}  // namespace ablo::net
