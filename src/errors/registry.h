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

// nullptr for codes that are not in the registry.
const ErrorSpec* find(std::string_view code);
// Registry status of a code, 500 for unknown codes.
int http_status(std::string_view code);
bool retryable(std::string_view code);
// The client-facing class name the 0.9.1 SDK would build for this status (envelope `type`).
std::string_view class_name_for_status(int status);

// {type, code, message, param?, doc_url, request_id, ...details} — the HTTP error body.
boost::json::object envelope(const Error& error, std::string_view request_id);
// {code, message, field?} — the WS error payload (mutation_result.error, claim_ack.error).
boost::json::object wire_error(const Error& error);

}  // namespace ablo::errors
