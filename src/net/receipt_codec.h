#pragma once
// The commit receipt on the wire, per dialect. 0.9.1 reads a loose receipt (protocol.md §3.9,
// engine::CommitReceipt::to_json, unchanged). 0.49 parses a strict one: exactly the keys
//   object, clientTxId, serverTxId, createdAt, success, ops, authority, status, statusAt,
//   lastSyncId, and notifications (stale notices of onStale notify) when there are any,
// and nothing else (no type, firstSyncId, error: null, flagged...): any other key makes the
// whole receipt invalid and the client fail with commit_no_result. Used by the HTTP write
// routes and meant for the WebSocket mutation_result of a 0.49 socket, whose payload is the
// same receipt.
#include <cstdint>
#include <string>

#include <boost/json/object.hpp>

#include "common/result.h"

#include "engine/engine.h"
#include "net/dialect.h"

namespace ablo::net {

// `authority` is the committer's EffectiveAuthority (net/authority.h); kIntents ignores it.
boost::json::object receipt_json(const engine::CommitReceipt& receipt, Dialect dialect,
                                 const boost::json::object& authority);

// A refused commit as a receipt (the WebSocket's mutation_result; HTTP answers an error
// envelope instead). kIntents: {object, clientTxId, success:false, status:'rejected', error}.
// kClaims, the strict rejected arm: object, clientTxId, serverTxId (a rejected commit has no
// server transaction, but the arm requires a non-empty id: "rejected:<clientTxId>"),
// createdAt, success:false, authority, status, statusAt, error {code, message, field?} with the
// codes of contract 2026-08-04.
boost::json::object rejected_receipt_json(const std::string& client_tx_id, const Error& error, Dialect dialect,
                                          const boost::json::object& authority, int64_t at_ms);

}  // namespace ablo::net
