#include <algorithm>
#include <array>

#include "errors/registry.h"

namespace ablo::errors {

namespace {

#define ABLO_ERROR(code, category, status, retry, message) ErrorSpec{code, category, status, retry, message},
constexpr ErrorSpec kRegistry[] = {
// The 0.9.1 client's wire codes, then those 2026-08-04 added that we send: a code a client does
// not know would reach it untyped.
#include "errors/registry_table.inc"
#include "errors/registry_2026_08_04.inc"
};
#undef ABLO_ERROR
constexpr std::size_t kCodesOf2026_06_02 = std::size(kRegistry) - [] {
#define ABLO_ERROR(code, category, status, retry, message) +1
  return 0
#include "errors/registry_2026_08_04.inc"
      ;
#undef ABLO_ERROR
}();

// Codes of 2026-06-02 that 2026-08-04 no longer has.
constexpr std::string_view kDroppedBy2026_08_04[] = {
    "intent_conflict", "intent_id_required", "intent_lease_unavailable", "intent_queued", "intent_wait_aborted",
    "invalid_intent", "parent_turn_foreign_agent", "parent_turn_not_found", "slide_intent_missing_deck_id",
    "slide_intent_unknown_sibling", "turn_close_failed", "turn_foreign_agent", "turn_not_found",
    "turn_open_failed", "turn_validation_failed"};

struct Translation {
  std::string_view code;
  std::string_view as;
};
// What a 2026-08-04 client gets for a code its contract dropped: the rename, or the code its
// client handles the same way.
constexpr Translation kInto2026_08_04[] = {
    {"intent_conflict", "claim_conflict"},         {"intent_id_required", "claim_id_required"},
    {"intent_lease_unavailable", "claim_lease_unavailable"}, {"intent_queued", "claim_queued"},
    {"intent_wait_aborted", "claim_wait_aborted"}, {"invalid_intent", "malformed_claim"},
    {"parent_turn_foreign_agent", "forbidden"},     {"parent_turn_not_found", "entity_not_found"},
    {"slide_intent_missing_deck_id", "invalid_request"}, {"slide_intent_unknown_sibling", "invalid_request"},
    {"turn_close_failed", "internal_error"},       {"turn_foreign_agent", "forbidden"},
    {"turn_not_found", "entity_not_found"},        {"turn_open_failed", "internal_error"},
    {"turn_validation_failed", "invalid_request"}};
// What a 0.9.1 client gets for a code only 2026-08-04 has.
constexpr Translation kInto2026_06_02[] = {
    {"claim_id_required", "intent_id_required"},   {"claim_lease_unavailable", "intent_lease_unavailable"},
    {"claim_not_found", "entity_not_found"},       {"claim_queued", "intent_queued"},
    {"claim_wait_aborted", "intent_wait_aborted"}, {"commit_operation_invalid", "invalid_request"},
    {"fence_token_stale", "claim_lost"},           {"invalid_sync_group", "invalid_request"},
    {"malformed_subscription", "invalid_request"}, {"protocol_version_unsupported", "invalid_request"},
    {"rate_limit_exceeded", "connection_limit_exceeded"}, {"request_too_large", "invalid_body"}};

// Codes 2026-08-04 made non-retryable (a refused claimed or stale write needs a fresh read,
// not a resend of the same write).
constexpr std::string_view kNotRetryableIn2026_08_04[] = {"claim_conflict", "claim_lost",           "entity_claimed",
                                                          "model_claimed",  "model_claimed_timeout", "stale_context"};

bool retryable_under(std::string_view code, Contract contract) {
  if (contract == Contract::k2026_08_04 &&
      std::find(std::begin(kNotRetryableIn2026_08_04), std::end(kNotRetryableIn2026_08_04), code) !=
          std::end(kNotRetryableIn2026_08_04)) {
    return false;
  }
  return retryable(code);
}

template <std::size_t N>
std::string_view translate(const Translation (&table)[N], std::string_view code) {
  for (const auto& entry : table) {
    if (entry.code == code) return entry.as;
  }
  return code;
}

}  // namespace

namespace {

// The error's own message, or the registry's default when it has none.
std::string message_or_default(const Error& error) {
  if (!error.message.empty()) return error.message;
  const ErrorSpec* spec = find(error.code);
  return spec ? std::string(spec->default_message) : std::string("An unexpected error occurred.");
}

}  // namespace

bool contract_knows(Contract contract, std::string_view code) {
  const ErrorSpec* spec = find(code);
  if (spec == nullptr) return false;
  const bool of_2026_06_02 = static_cast<std::size_t>(spec - kRegistry) < kCodesOf2026_06_02;
  if (contract == Contract::k2026_06_02) return of_2026_06_02;
  return !of_2026_06_02 ||
         std::find(std::begin(kDroppedBy2026_08_04), std::end(kDroppedBy2026_08_04), code) ==
             std::end(kDroppedBy2026_08_04);
}

std::string_view code_for(std::string_view code, Contract contract) {
  if (contract_knows(contract, code)) return code;
  return contract == Contract::k2026_06_02 ? translate(kInto2026_06_02, code) : translate(kInto2026_08_04, code);
}

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

boost::json::object envelope(const Error& error, std::string_view request_id, Contract contract) {
  boost::json::object body = error.details;
  const std::string_view code = code_for(error.code, contract);
  std::string_view type = class_name_for_status(http_status(code));
  if (code == "stale_context") type = "AbloStaleContextError";
  // errorFromWire (protocol.md §5.3): intent_conflict is rewritten to claim_conflict ⇒ AbloClaimedError.
  if (code == "entity_claimed" || code == "claim_conflict" || code == "intent_conflict") {
    type = "AbloClaimedError";
  }
  body["type"] = type;
  body["code"] = code;
  body["message"] = message_or_default(error);
  if (!error.param.empty()) body["param"] = error.param;
  body["doc_url"] = "https://docs.abloatai.com/errors#" + std::string(code);
  body["request_id"] = request_id;
  if (retryable_under(code, contract)) body["retryable"] = true;
  return body;
}

boost::json::object wire_error(const Error& error, Contract contract) {
  boost::json::object out;
  const std::string_view code = code_for(error.code, contract);
  out["code"] = code;
  out["message"] = message_or_default(error);
  if (!error.param.empty()) out["field"] = error.param;
  // The client reads retryability from its registry; saying it outright helps other readers.
  if (retryable_under(code, contract)) out["retryable"] = true;
  return out;
}

}  // namespace ablo::errors
