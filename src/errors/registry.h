#pragma once
// The single registry of wire error codes (protocol.md §5.4) and the one error envelope.
#include <string>
#include <string_view>

#include <boost/json/object.hpp>

#include "common/result.h"

namespace ablo::errors {

struct ErrorSpec {
  std::string_view code;
  std::string_view category;
  int http_status;
  bool retryable;
  std::string_view default_message;
};

// The error contracts the official clients speak. 0.9.1 speaks 2026-06-02; from 0.36 through
// 0.49 the client speaks 2026-08-04, which renamed the intent_* codes to claim_* and added
// codes. A connection's contract follows its wire dialect (net/dialect.h).
enum class Contract { k2026_06_02, k2026_08_04 };

// The code a client of `contract` knows for `code`: the code itself when that contract has it,
// else its rename (intent_queued <-> claim_queued), else the nearest code that client types
// the same way (same HTTP status and handling), e.g. request_too_large -> invalid_body for 0.9.1.
std::string_view code_for(std::string_view code, Contract contract);
// Whether `contract` has `code` (tests: every translation lands on a known code).
bool contract_knows(Contract contract, std::string_view code);

// nullptr for codes that are not in the registry.
const ErrorSpec* find(std::string_view code);
// Registry status of a code, 500 for unknown codes.
int http_status(std::string_view code);
bool retryable(std::string_view code);
// The client-facing class name the 0.9.1 SDK would build for this status (envelope `type`).
std::string_view class_name_for_status(int status);

// {type, code, message, param?, doc_url, request_id, ...details} — the HTTP error body.
// The code is translated for `contract` (code_for).
boost::json::object envelope(const Error& error, std::string_view request_id,
                             Contract contract = Contract::k2026_06_02);
// {code, message, field?} — the WS error payload (mutation_result.error, claim_ack.error).
boost::json::object wire_error(const Error& error, Contract contract = Contract::k2026_06_02);

}  // namespace ablo::errors
