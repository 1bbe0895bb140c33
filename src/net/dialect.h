#pragma once
// The two wire dialects one server speaks (README "Client versions"). The official client
// 0.9.1 speaks intent_* frames, the 2026-06-02 error contract and loose receipts; from 0.11 its
// frames are claim_*, and 0.36–0.49 speak the 2026-08-04 error contract with strict receipts,
// read evidence and fence tokens. Both are protocol version 1; a connection's dialect is read
// from what its client sends (below), never configured, so one server serves both at once.
// Dialects are codecs at this edge: the engine and the coordinator never branch on them.
#include <optional>
#include <string>
#include <string_view>

#include <boost/json/object.hpp>

#include "common/result.h"
#include "errors/registry.h"
#include "net/http_types.h"

namespace ablo::net {

enum class Dialect {
  kIntents,  // 0.9.1: intent_* frames, error contract 2026-06-02
  kClaims,   // 0.11 through 0.49: claim_* frames, error contract 2026-08-04
};

inline constexpr std::string_view kProtocolVersionHeader = "ablo-protocol-version";  // lowercase, as stored
inline constexpr int kProtocolVersion = 1;                 // the only version either dialect announces
inline constexpr int kCloseProtocolVersionUnsupported = 4010;  // WebSocket close: terminal for the client

constexpr errors::Contract contract_of(Dialect dialect) {
  return dialect == Dialect::kClaims ? errors::Contract::k2026_08_04 : errors::Contract::k2026_06_02;
}

// An HTTP request's dialect: a client that announces Ablo-Protocol-Version is 0.49-era (0.9.1
// never sends the header). protocol_version_unsupported (426) when the announced version is not
// one this server speaks.
Result<Dialect> dialect_of(const HttpRequest& request);

// A WebSocket's dialect, decided by the first frame that reveals it: a sync_request with
// `protocolVersion` or any claim_* / update_subscription frame says kClaims; a sync_request
// without it or any intent_* frame says kIntents. nullopt when `type`/`payload` reveal nothing
// (presence_update, ping, ack…). A sync_request announcing an unsupported version is
// protocol_version_unsupported (the caller closes with 4010).
Result<std::optional<Dialect>> dialect_revealed_by(std::string_view type, const boost::json::object& payload);

}  // namespace ablo::net
