#include "net/receipt_codec.h"

#include <algorithm>
#include <string>

#include <boost/json.hpp>

#include "common/time.h"
#include "errors/registry.h"

namespace ablo::net {

namespace json = boost::json;

namespace {

json::object notification_json(const engine::StaleNotice& notice) {
  json::object out{{"object", "stale_notification"},
                   {"target", json::object{{"model", notice.model}, {"id", notice.id}}},
                   {"readAt", notice.read_at},
                   {"observedSyncId", notice.observed_sync_id},
                   {"writtenBy", json::object{{"kind", notice.written_by_kind}, {"id", notice.written_by_id}}}};
  if (notice.group) {
    out["scope"] = "group";
    out["group"] = *notice.group;
  } else {
    out["scope"] = "row";
    out["currentValues"] = notice.current_values.value_or(json::object{});
  }
  return out;
}

// The strict 0.49 receipt (notes/dialect-049.md §2.2). Commits here are confirmed when
// answered (durable and published), never queued, so `correlationId` is not needed; the
// status time is never before the creation time, which the client checks.
json::object strict_receipt(const engine::CommitReceipt& receipt, const json::object& authority) {
  const int64_t created_at = receipt.created_at_ms > 0 ? receipt.created_at_ms : now_ms();
  const int64_t status_at = std::max(receipt.status_at_ms, created_at);
  json::object out{{"object", "commit_receipt"},
                      {"clientTxId", receipt.client_tx_id},
                      {"serverTxId", std::to_string(receipt.last_sync_id)},
                      {"createdAt", iso8601_from_ms(created_at)},
                      {"success", true},
                      {"ops", std::max(receipt.ops, 0)},
                      {"authority", authority},
                      {"status", "confirmed"},
                      {"statusAt", iso8601_from_ms(status_at)},
                      {"lastSyncId", std::max<int64_t>(receipt.last_sync_id, 0)}};
  if (!receipt.stale_notices.empty()) {
    json::array notifications;
    for (const auto& notice : receipt.stale_notices) notifications.push_back(notification_json(notice));
    out["notifications"] = std::move(notifications);
  }
  return out;
}

}  // namespace

json::object receipt_json(const engine::CommitReceipt& receipt, Dialect dialect, const json::object& authority) {
  if (dialect == Dialect::kIntents) return receipt.to_json();
  return strict_receipt(receipt, authority);
}

json::object rejected_receipt_json(const std::string& client_tx_id, const Error& error, Dialect dialect,
                                   const json::object& authority, int64_t at_ms) {
  json::object wire = errors::wire_error(error, contract_of(dialect));
  if (dialect == Dialect::kIntents) {
    return json::object{{"object", "commit_receipt"},
                        {"clientTxId", client_tx_id},
                        {"success", false},
                        {"status", "rejected"},
                        {"error", std::move(wire)}};
  }
  // The strict error object has no `retryable`.
  json::object strict_error{{"code", wire["code"]}, {"message", wire["message"]}};
  if (const auto* field = wire.if_contains("field")) strict_error["field"] = *field;
  return json::object{{"object", "commit_receipt"},
                      {"clientTxId", client_tx_id},
                      {"serverTxId", "rejected:" + client_tx_id},
                      {"createdAt", iso8601_from_ms(at_ms)},
                      {"success", false},
                      {"authority", authority},
                      {"status", "rejected"},
                      {"statusAt", iso8601_from_ms(at_ms)},
                      {"error", std::move(strict_error)}};
}

}  // namespace ablo::net
