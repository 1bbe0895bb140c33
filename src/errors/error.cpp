#include <algorithm>
#include <array>

#include "errors/registry.h"

namespace ablo::errors {

namespace {

#define ABLO_ERROR(code, category, status, retry, message) ErrorSpec{code, category, status, retry, message},
constexpr ErrorSpec kRegistry[] = {
// Exactly the 0.9.1 client's wire codes: a code it does not know would reach it untyped.
#include "errors/registry_table.inc"
};
#undef ABLO_ERROR

}  // namespace

namespace {

// The error's own message, or the registry's default when it has none.
std::string message_or_default(const Error& error) {
  if (!error.message.empty()) return error.message;
  const ErrorSpec* spec = find(error.code);
  return spec ? std::string(spec->default_message) : std::string("An unexpected error occurred.");
}

}  // namespace

const ErrorSpec* find(std::string_view code) {
  for (const auto& spec : kRegistry) {
    if (spec.code == code) return &spec;
  }
  return nullptr;
}

int http_status(std::string_view code) {
  const ErrorSpec* spec = find(code);
  return spec ? spec->http_status : 500;
}

bool retryable(std::string_view code) {
  const ErrorSpec* spec = find(code);
  return spec && spec->retryable;
}

std::string_view class_name_for_status(int status) {
  switch (status) {
    case 400:
    case 422: return "AbloValidationError";
    case 401: return "AbloAuthenticationError";
    case 403: return "AbloPermissionError";
    case 409: return "AbloIdempotencyError";
    case 429: return "AbloRateLimitError";
    default: return status >= 500 ? "AbloServerError" : "AbloError";
  }
}

boost::json::object envelope(const Error& error, std::string_view request_id) {
  boost::json::object body = error.details;
  std::string_view type = class_name_for_status(http_status(error.code));
  if (error.code == "stale_context") type = "AbloStaleContextError";
  // errorFromWire (protocol.md §5.3): intent_conflict is rewritten to claim_conflict ⇒ AbloClaimedError.
  if (error.code == "entity_claimed" || error.code == "claim_conflict" || error.code == "intent_conflict") {
    type = "AbloClaimedError";
  }
  body["type"] = type;
  body["code"] = error.code;
  body["message"] = message_or_default(error);
  if (!error.param.empty()) body["param"] = error.param;
  body["doc_url"] = "https://docs.abloatai.com/errors#" + error.code;
  body["request_id"] = request_id;
  if (retryable(error.code)) body["retryable"] = true;
  return body;
}

boost::json::object wire_error(const Error& error) {
  boost::json::object out;
  out["code"] = error.code;
  out["message"] = message_or_default(error);
  if (!error.param.empty()) out["field"] = error.param;
  // The client reads retryability from its registry; saying it outright helps other readers.
  if (retryable(error.code)) out["retryable"] = true;
  return out;
}

}  // namespace ablo::errors
