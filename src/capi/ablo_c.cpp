// ablo_c.cpp — the C API over ablo::Client (capi/ablo_c.h; design: docs/client-library.md §16).
//
// Every exported function catches at its entry: no C++ exception crosses the C boundary. Bad
// JSON input becomes an ablo_error with a registry code (invalid_options for the client's
// options, invalid_request for everything else); a function returning an ablo_pending* reports
// it through an already settled pending, so the caller has one error path.
#include "ablo_c.h"

#include <chrono>
#include <cstdlib>
#include <cstring>
#include <algorithm>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <new>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>

#include "common/time.h"
#include "common/version.h"
#include "sdk/client.h"
#include "sdk/core.h"
#include "sdk/error.h"
#include "sdk/pending_state.h"
#include "sdk/sdk_error_code.h"

namespace json = boost::json;
using ablo::Error;
using ablo::Result;
using ablo::sdk_detail::SdkCode;
using ablo::sdk_detail::sdk_error;
using std::chrono::milliseconds;

// ---- handles ------------------------------------------------------------------------------------

struct ablo_error {
  Error error;
  std::string kind;  // to_string(kind_of(error)), kept so ablo_error_kind can return a C string
};

struct ablo_client {
  std::unique_ptr<ablo::Client> client;
  std::shared_ptr<ablo::ManualExecutor> manual;  // "callbacks":"manual"
  // Undo groups opened by ablo_undo_begin_group, by scope (nested ones stacked), until their end.
  std::mutex undo_mutex;
  std::map<std::string, std::vector<ablo::UndoGroup>> open_undo_groups;  // (undo_mutex)
};

struct ablo_observer {
  ablo::Observer observer;
};

struct ablo_claim {
  ablo::Claim claim;
};

// A Pending<T> of any T, seen as JSON text (or, for a claim, as the Claim itself).
struct ablo_pending {
  virtual ~ablo_pending() = default;
  virtual bool ready() const = 0;
  // nullopt: not ready within `timeout` (nullopt timeout = wait forever).
  virtual std::optional<Result<std::string>> wait_json(std::optional<milliseconds> timeout) = 0;
  virtual void then_json(std::function<void(Result<std::string>)> callback) = 0;
  virtual std::optional<Result<ablo::Claim>> wait_claim(std::optional<milliseconds>) {
    return Result<ablo::Claim>(tl::unexpected(sdk_error("invalid_request", "not a claim: use ablo_pending_wait")));
  }
};

namespace capi_detail {

// ---- values → JSON (wire shapes, camelCase) -----------------------------------------------------

std::string iso(ablo::Clock::time_point at) {
  return ablo::iso8601_from_ms(std::chrono::duration_cast<milliseconds>(at.time_since_epoch()).count());
}

json::array string_array(const std::vector<std::string>& items) {
  json::array out;
  for (const auto& item : items) out.emplace_back(item);
  return out;
}

json::value to_json(const ablo::Unit&) { return nullptr; }

json::value to_json(const ablo::Row& row) {
  return json::object{{"model", row.model}, {"id", row.id}, {"data", row.data},
                      {"version", row.version}, {"pending", row.pending}, {"archived", row.archived}};
}

json::value to_json(const std::optional<ablo::Row>& row) { return row ? to_json(*row) : json::value(nullptr); }

json::value to_json(const std::vector<ablo::Row>& rows) {
  json::array out;
  for (const auto& row : rows) out.push_back(to_json(row));
  return out;
}

json::value to_json(const ablo::Receipt& receipt) {
  json::object out{{"transactionId", receipt.transaction_id}, {"clientTxId", receipt.client_tx_id},
                   {"lastSyncId", receipt.last_sync_id}, {"flaggedStale", receipt.flagged_stale},
                   {"replayed", receipt.replayed}};
  if (receipt.row) out["row"] = to_json(*receipt.row);
  return out;
}

json::value to_json(const ablo::UndoResult& result) {
  json::array receipts;
  for (const auto& receipt : result.receipts) receipts.push_back(to_json(receipt));
  return json::object{{"label", result.label},
                      {"applied", result.applied},
                      {"skippedFields", string_array(result.skipped_fields)},
                      {"receipts", std::move(receipts)}};
}

json::value to_json(const ablo::CommitReceipt& receipt) {
  return json::object{{"clientTxId", receipt.client_tx_id}, {"lastSyncId", receipt.last_sync_id},
                      {"flaggedStale", receipt.flagged_stale}, {"ids", string_array(receipt.ids)}};
}

json::object error_object(const Error& error) {
  json::object out{{"code", error.code}, {"message", error.message}};
  if (!error.param.empty()) out["param"] = error.param;
  out["kind"] = std::string(ablo::to_string(ablo::kind_of(error)));
  out["httpStatus"] = ablo::http_status_of(error);
  out["retryable"] = ablo::is_retryable(error);
  out["details"] = error.details;
  return out;
}

json::value to_json(const ablo::ConnectionStatus& status) {
  json::object out{{"state", std::string(ablo::to_string(status.state))}, {"cursor", status.cursor},
                   {"pendingWrites", status.pending_writes}};
  if (status.offline_since) out["offlineSince"] = iso(*status.offline_since);
  if (status.last_error) out["lastError"] = error_object(*status.last_error);
  out["clockOffsetMs"] = status.clock_offset.count();
  return out;
}

constexpr std::string_view kActionNames[] = {"create", "update", "delete", "archive", "unarchive"};
constexpr std::string_view kCauseNames[] = {"initial", "optimistic", "confirmed", "rolled_back",
                                            "remote", "rebootstrap", "schema"};
constexpr std::string_view kStoreEventNames[] = {"recreated", "server_changed", "rebootstrapped"};

json::value to_json(const ablo::QueryUpdate& update) {
  return json::object{{"rows", to_json(update.rows)},
                      {"added", string_array(update.added)},
                      {"removed", string_array(update.removed)},
                      {"changed", string_array(update.changed)},
                      {"cause", kCauseNames[static_cast<int>(update.cause)]},
                      {"cursor", update.cursor}};
}

json::value to_json(const ablo::MutationFailure& failure) {
  return json::object{{"model", failure.model}, {"id", failure.id},
                      {"action", kActionNames[static_cast<int>(failure.action)]},
                      {"transactionId", failure.transaction_id}, {"error", error_object(failure.error)},
                      {"rolledBack", failure.rolled_back}, {"replayed", failure.replayed}};
}

json::value to_json(const ablo::StoreEvent& event) {
  return json::object{{"kind", kStoreEventNames[static_cast<int>(event.kind)]}, {"detail", event.detail},
                      {"movedTo", event.moved_to}, {"outboxKept", event.outbox_kept},
                      {"outboxLost", event.outbox_lost}};
}

json::value to_json(const ablo::ClaimInfo& claim) {
  json::object out{{"intentId", claim.intent_id}, {"model", claim.model}, {"id", claim.id}};
  if (claim.field) out["field"] = *claim.field;
  out["action"] = claim.action;
  out["description"] = claim.description;
  out["heldBy"] = claim.held_by;
  out["participantKind"] = claim.participant_kind;
  out["mine"] = claim.mine;
  out["position"] = claim.position;
  out["expiresAt"] = iso(claim.expires_at);
  return out;
}

json::value to_json(const ablo::Activity& activity) {
  json::object out{{"model", activity.model}, {"id", activity.id}, {"action", activity.action}};
  if (activity.field) out["field"] = *activity.field;
  out["meta"] = activity.meta;
  return out;
}

json::value to_json(const ablo::Participant& participant) {
  json::array claims;
  for (const auto& claim : participant.claims) claims.push_back(to_json(claim));
  json::object out{{"id", participant.id}, {"kind", participant.kind}, {"status", participant.status}};
  if (participant.activity) out["activity"] = to_json(*participant.activity);
  out["claims"] = std::move(claims);
  out["syncGroups"] = string_array(participant.sync_groups);
  out["lastSeen"] = iso(participant.last_seen);
  return out;
}

json::value to_json(const std::vector<ablo::Participant>& participants) {
  json::array out;
  for (const auto& participant : participants) out.push_back(to_json(participant));
  return out;
}

// A malloc'd copy the caller frees with ablo_string_free (free(): usable from any language).
char* c_string(std::string_view text) {
  auto* out = static_cast<char*>(std::malloc(text.size() + 1));
  if (!out) return nullptr;
  std::memcpy(out, text.data(), text.size());
  out[text.size()] = '\0';
  return out;
}

char* c_json(const json::value& value) { return c_string(json::serialize(value)); }

ablo_status report(const Error& error, ablo_error** out) {
  if (out) *out = new (std::nothrow) ablo_error{error, std::string(ablo::to_string(ablo::kind_of(error)))};
  return ABLO_ERROR;
}

// What an escaping C++ exception becomes at the boundary.
Error error_of_current_exception() {
  try {
    throw;
  } catch (const ablo::Exception& exception) {
    return exception.error();
  } catch (const std::bad_alloc&) {
    return sdk_error("internal_error", "out of memory");
  } catch (const std::exception& exception) {
    return sdk_error("internal_error", exception.what());
  } catch (...) {
    return sdk_error("internal_error", "unknown exception");
  }
}

// ---- JSON → values ------------------------------------------------------------------------------

// Strict member reads of one input object: a member of the wrong type, or one this API does not
// know, is an error (a binding's typo fails loudly instead of being ignored).
class Members {
 public:
  Members(const json::object& object, SdkCode code, std::string what) : object_(object), code_(code), what_(std::move(what)) {}

  const json::value* any(std::string_view key) {
    seen_.insert(std::string(key));
    const auto* value = object_.if_contains(key);
    return value && !value->is_null() ? value : nullptr;
  }
  std::optional<std::string> string(std::string_view key) {
    const auto* value = any(key);
    if (!value) return std::nullopt;
    if (!value->is_string()) return wrong(key, "a string"), std::nullopt;
    return std::string(value->as_string());
  }
  std::optional<int64_t> integer(std::string_view key) {
    const auto* value = any(key);
    if (!value) return std::nullopt;
    if (value->is_int64()) return value->as_int64();
    if (value->is_uint64() && value->as_uint64() <= static_cast<uint64_t>(INT64_MAX)) return static_cast<int64_t>(value->as_uint64());
    return wrong(key, "an integer"), std::nullopt;
  }
  std::optional<double> number(std::string_view key) {
    const auto* value = any(key);
    if (!value) return std::nullopt;
    if (value->is_number()) return value->to_number<double>();
    return wrong(key, "a number"), std::nullopt;
  }
  std::optional<bool> boolean(std::string_view key) {
    const auto* value = any(key);
    if (!value) return std::nullopt;
    if (!value->is_bool()) return wrong(key, "a boolean"), std::nullopt;
    return value->as_bool();
  }
  std::optional<json::object> object(std::string_view key) {
    const auto* value = any(key);
    if (!value) return std::nullopt;
    if (!value->is_object()) return wrong(key, "an object"), std::nullopt;
    return value->as_object();
  }
  std::optional<std::vector<std::string>> strings(std::string_view key) {
    const auto* value = any(key);
    if (!value) return std::nullopt;
    std::vector<std::string> out;
    if (value->is_array()) {
      for (const auto& item : value->as_array()) {
        if (!item.is_string()) return wrong(key, "an array of strings"), std::nullopt;
        out.emplace_back(item.as_string());
      }
      return out;
    }
    return wrong(key, "an array of strings"), std::nullopt;
  }
  // Records a bad value found by the caller (an unknown enum word).
  void wrong(std::string_view key, std::string_view expected) {
    if (!error_) error_ = sdk_error(code_, what_ + "." + std::string(key) + " must be " + std::string(expected), std::string(key));
  }
  // The first error: a wrong member, else an unknown one.
  ablo::Status finish() const {
    if (error_) return tl::unexpected(*error_);
    for (const auto& member : object_) {
      if (!seen_.count(std::string(member.key()))) {
        return tl::unexpected(sdk_error(code_, what_ + " has no member \"" + std::string(member.key()) + "\"", std::string(member.key())));
      }
    }
    return {};
  }

 private:
  const json::object& object_;
  SdkCode code_;
  std::string what_;
  std::set<std::string> seen_;
  std::optional<Error> error_;
};

// Parses `text` (NULL = `fallback`) as JSON.
Result<json::value> parse_text(const char* text, SdkCode code, const std::string& what, json::value fallback = json::object{}) {
  if (!text) return fallback;
  boost::system::error_code failure;
  auto value = json::parse(text, failure);
  if (failure) return tl::unexpected(sdk_error(code, what + " is not valid JSON: " + failure.message()));
  return value;
}

Result<json::object> parse_object(const char* text, SdkCode code, const std::string& what) {
  auto value = parse_text(text, code, what);
  if (!value) return tl::unexpected(value.error());
  if (!value->is_object()) return tl::unexpected(sdk_error(code, what + " must be a JSON object"));
  return std::move(value->as_object());
}

// Looks a word up in a table of (word, value); nullopt when absent.
template <class T, std::size_t N>
std::optional<T> lookup(const std::pair<std::string_view, T> (&table)[N], std::string_view word) {
  for (const auto& [name, value] : table) {
    if (name == word) return value;
  }
  return std::nullopt;
}

template <class T, std::size_t N>
std::optional<T> enum_member(Members& members, std::string_view key, const std::pair<std::string_view, T> (&table)[N]) {
  auto word = members.string(key);
  if (!word) return std::nullopt;
  auto value = lookup(table, *word);
  if (!value) members.wrong(key, "one of the documented words");
  return value;
}

constexpr std::pair<std::string_view, ablo::OnStale> kOnStale[] = {
    {"reject", ablo::OnStale::kReject}, {"force", ablo::OnStale::kForce}, {"flag", ablo::OnStale::kFlag}};
constexpr std::pair<std::string_view, ablo::StoreRecovery> kStoreRecovery[] = {
    {"recreate", ablo::StoreRecovery::kRecreate}, {"fail", ablo::StoreRecovery::kFail}};
constexpr std::pair<std::string_view, ablo::ParticipantKind> kParticipantKinds[] = {
    {"system", ablo::ParticipantKind::kSystem}, {"agent", ablo::ParticipantKind::kAgent}, {"user", ablo::ParticipantKind::kUser}};
enum class Callbacks { kThread, kManual, kInline };
constexpr std::pair<std::string_view, Callbacks> kCallbacks[] = {
    {"thread", Callbacks::kThread}, {"manual", Callbacks::kManual}, {"inline", Callbacks::kInline}};
constexpr std::pair<std::string_view, ablo::Action> kActions[] = {
    {"create", ablo::Action::kCreate}, {"update", ablo::Action::kUpdate}, {"delete", ablo::Action::kDelete},
    {"archive", ablo::Action::kArchive}, {"unarchive", ablo::Action::kUnarchive}};
constexpr std::pair<std::string_view, ablo::Scope> kScopes[] = {
    {"live", ablo::Scope::kLive}, {"archived", ablo::Scope::kArchived}, {"all", ablo::Scope::kAll}};
constexpr std::pair<std::string_view, ablo::ConflictPolicy> kConflictPolicies[] = {
    {"skip-stale", ablo::ConflictPolicy::kSkipStale}, {"last-writer-wins", ablo::ConflictPolicy::kLastWriterWins}};
constexpr std::pair<std::string_view, ablo::Direction> kDirections[] = {
    {"asc", ablo::Direction::kAsc}, {"desc", ablo::Direction::kDesc}};
// The 0.9.1 tuple operators; IS / IS NOT take null as their value.
constexpr std::pair<std::string_view, ablo::Op> kOps[] = {
    {"=", ablo::Op::kEq},          {"!=", ablo::Op::kNe},         {"<", ablo::Op::kLt},
    {"<=", ablo::Op::kLe},         {">", ablo::Op::kGt},          {">=", ablo::Op::kGe},
    {"IN", ablo::Op::kIn},         {"NOT IN", ablo::Op::kNotIn},  {"IS", ablo::Op::kIsNull},
    {"IS NOT", ablo::Op::kIsNotNull}, {"LIKE", ablo::Op::kLike},  {"NOT LIKE", ablo::Op::kNotLike},
    {"ILIKE", ablo::Op::kILike},   {"NOT ILIKE", ablo::Op::kNotILike}};

// The `timing` member of the client options: durations in milliseconds.
using MsField = milliseconds ablo::Timing::*;
constexpr std::pair<std::string_view, MsField> kTimingMs[] = {
    {"batch_delay_ms", &ablo::Timing::batch_delay},
    {"commit_ack_timeout_ms", &ablo::Timing::commit_ack_timeout},
    {"heartbeat_ms", &ablo::Timing::heartbeat},
    {"silence_timeout_ms", &ablo::Timing::silence_timeout},
    {"catch_up_poll_ms", &ablo::Timing::catch_up_poll},
    {"delta_flush_ms", &ablo::Timing::delta_flush},
    {"bootstrap_timeout_ms", &ablo::Timing::bootstrap_timeout},
    {"transient_retry_window_ms", &ablo::Timing::transient_retry_window}};

ablo::Status read_backoff(const json::object& object, const std::string& what, ablo::Backoff& backoff) {
  Members members(object, "invalid_options", what);
  if (auto value = members.integer("initial_ms")) backoff.initial = milliseconds(*value);
  if (auto value = members.integer("max_ms")) backoff.max = milliseconds(*value);
  if (auto value = members.number("jitter")) backoff.jitter = *value;
  return members.finish();
}

ablo::Status read_timing(const json::object& object, ablo::Timing& timing) {
  Members members(object, "invalid_options", "options.timing");
  for (const auto& [key, field] : kTimingMs) {
    if (auto value = members.integer(key)) timing.*field = milliseconds(*value);
  }
  if (auto value = members.integer("max_batch_ops")) timing.max_batch_ops = static_cast<std::size_t>(*value);
  if (auto backoff = members.object("reconnect")) {
    if (auto status = read_backoff(*backoff, "options.timing.reconnect", timing.reconnect); !status) return status;
  }
  if (auto backoff = members.object("commit_retry")) {
    if (auto status = read_backoff(*backoff, "options.timing.commit_retry", timing.commit_retry); !status) return status;
  }
  return members.finish();
}

struct ClientOptions {
  ablo::Options options;
  Callbacks callbacks = Callbacks::kThread;
};

Result<ClientOptions> read_client_options(const char* text) {
  auto object = parse_object(text, "invalid_options", "options");
  if (!object) return tl::unexpected(object.error());
  ClientOptions out;
  auto& options = out.options;
  Members members(*object, "invalid_options", "options");
  if (auto value = members.string("base_url")) options.base_url = *value;
  if (auto value = members.string("api_key")) options.api_key = *value;
  if (const auto* schema = members.any("schema")) {
    if (schema->is_string()) options.schema = std::string(schema->as_string());
    else if (schema->is_object()) options.schema = json::serialize(*schema);
    else members.wrong("schema", "JSON text or an object");
  }
  if (auto value = members.string("store_path")) options.store_path = *value;
  if (auto value = enum_member(members, "on_bad_store", kStoreRecovery)) options.on_bad_store = *value;
  if (auto value = enum_member(members, "participant_kind", kParticipantKinds)) options.participant_kind = *value;
  if (auto value = members.strings("sync_groups")) options.sync_groups = *value;
  if (auto value = enum_member(members, "default_on_stale", kOnStale)) options.default_on_stale = *value;
  if (auto value = enum_member(members, "callbacks", kCallbacks)) out.callbacks = *value;
  if (auto timing = members.object("timing")) {
    if (auto status = read_timing(*timing, options.timing); !status) return tl::unexpected(status.error());
  }
  if (auto status = members.finish(); !status) return tl::unexpected(status.error());
  return out;
}

// {"readAt","onStale","idempotencyKey","timeoutMs","undoScope"} (+ "id" for creates).
void read_write_options(Members& members, ablo::WriteOptions& options) {
  if (auto value = members.integer("readAt")) options.read_at = *value;
  if (auto value = enum_member(members, "onStale", kOnStale)) options.on_stale = *value;
  if (auto value = members.string("idempotencyKey")) options.idempotency_key = *value;
  if (auto value = members.integer("timeoutMs")) options.timeout = milliseconds(*value);
  if (auto value = members.string("undoScope")) options.undo_scope = *value;
}

Result<ablo::WriteOptions> parse_write_options(const char* text) {
  auto object = parse_object(text, "invalid_request", "options");
  if (!object) return tl::unexpected(object.error());
  ablo::WriteOptions options;
  Members members(*object, "invalid_request", "options");
  read_write_options(members, options);
  if (auto status = members.finish(); !status) return tl::unexpected(status.error());
  return options;
}

Result<ablo::CreateOptions> parse_create_options(const char* text) {
  auto object = parse_object(text, "invalid_request", "options");
  if (!object) return tl::unexpected(object.error());
  ablo::CreateOptions options;
  Members members(*object, "invalid_request", "options");
  read_write_options(members, options);
  if (auto value = members.string("id")) options.id = *value;
  if (auto status = members.finish(); !status) return tl::unexpected(status.error());
  return options;
}

Result<ablo::ClaimOptions> parse_claim_options(const char* text) {
  auto object = parse_object(text, "invalid_request", "options");
  if (!object) return tl::unexpected(object.error());
  ablo::ClaimOptions options;
  Members members(*object, "invalid_request", "options");
  if (auto value = members.integer("ttlMs")) options.ttl = milliseconds(*value);
  if (auto value = members.string("action")) options.action = *value;
  if (auto value = members.string("description")) options.description = *value;
  if (auto value = members.string("field")) options.field = *value;
  if (auto value = members.boolean("wait")) options.wait = *value;
  if (auto value = members.integer("maxQueueDepth")) options.max_queue_depth = static_cast<int>(*value);
  if (auto value = members.integer("timeoutMs")) options.timeout = milliseconds(*value);
  if (auto status = members.finish(); !status) return tl::unexpected(status.error());
  return options;
}

Error bad_query(const std::string& message) { return sdk_error("invalid_request", "query." + message); }

// One where tuple [field, op, value?].
Result<ablo::Query> apply_where(ablo::Query query, const json::value& clause) {
  if (!clause.is_array() || clause.as_array().size() < 2 || clause.as_array().size() > 3 ||
      !clause.as_array()[0].is_string() || !clause.as_array()[1].is_string()) {
    return tl::unexpected(bad_query("where: each clause is [field, operator, value]"));
  }
  const auto& tuple = clause.as_array();
  std::string op_word(tuple[1].as_string());
  for (auto& c : op_word) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  auto op = lookup(kOps, op_word);
  if (!op) return tl::unexpected(bad_query("where: unknown operator \"" + std::string(tuple[1].as_string()) + "\""));
  json::value value = tuple.size() == 3 ? tuple[2] : json::value(nullptr);
  return query.where(std::string(tuple[0].as_string()), *op, std::move(value));
}

// One orderBy pair [field, "asc"|"desc"] (or a bare field name: ascending).
Result<ablo::Query> apply_order(ablo::Query query, const json::value& clause) {
  if (clause.is_string()) return query.order_by(std::string(clause.as_string()));
  if (!clause.is_array() || clause.as_array().empty() || clause.as_array().size() > 2 || !clause.as_array()[0].is_string()) {
    return tl::unexpected(bad_query("orderBy: each entry is [field, \"asc\"|\"desc\"]"));
  }
  const auto& pair = clause.as_array();
  auto direction = ablo::Direction::kAsc;
  if (pair.size() == 2) {
    auto found = pair[1].is_string() ? lookup(kDirections, std::string_view(pair[1].as_string())) : std::nullopt;
    if (!found) return tl::unexpected(bad_query("orderBy: direction is \"asc\" or \"desc\""));
    direction = *found;
  }
  return query.order_by(std::string(pair[0].as_string()), direction);
}

Result<ablo::Query> parse_query(const ablo::ModelHandle& model, const char* text) {
  auto object = parse_object(text, "invalid_request", "query");
  if (!object) return tl::unexpected(object.error());
  auto query = model.query();
  Members members(*object, "invalid_request", "query");
  for (auto [key, apply] : {std::pair{"where", &apply_where}, std::pair{"orderBy", &apply_order}}) {
    const auto* clauses = members.any(key);
    if (!clauses) continue;
    if (!clauses->is_array()) return tl::unexpected(bad_query(std::string(key) + " must be an array"));
    for (const auto& clause : clauses->as_array()) {
      auto next = apply(query, clause);
      if (!next) return tl::unexpected(next.error());
      query = std::move(*next);
    }
  }
  if (auto value = members.integer("limit")) query = query.limit(static_cast<std::size_t>(*value));
  if (auto value = members.integer("offset")) query = query.offset(static_cast<std::size_t>(*value));
  if (auto value = enum_member(members, "scope", kScopes)) query = query.scope(*value);
  if (auto value = members.boolean("includePending")) query = query.include_pending(*value);
  if (auto status = members.finish(); !status) return tl::unexpected(status.error());
  return query;
}

Result<ablo::Operation> parse_operation(const json::value& value) {
  if (!value.is_object()) return tl::unexpected(sdk_error("invalid_request", "operations: each entry is an object"));
  ablo::Operation operation;
  Members members(value.as_object(), "invalid_request", "operation");
  auto action = enum_member(members, "action", kActions);
  if (action) operation.action = *action;
  if (auto model = members.string("model")) operation.model = *model;
  if (auto id = members.string("id")) operation.id = *id;
  if (auto data = members.object("data")) operation.data = std::move(*data);
  if (auto read_at = members.integer("readAt")) operation.read_at = *read_at;
  if (auto on_stale = enum_member(members, "onStale", kOnStale)) operation.on_stale = *on_stale;
  if (auto status = members.finish(); !status) return tl::unexpected(status.error());
  if (!action || operation.model.empty()) return tl::unexpected(sdk_error("invalid_request", "operation needs \"action\" and \"model\""));
  return operation;
}

Result<std::vector<ablo::Operation>> parse_operations(const char* text) {
  auto value = parse_text(text, "invalid_request", "operations", nullptr);
  if (!value) return tl::unexpected(value.error());
  if (!value->is_array()) return tl::unexpected(sdk_error("invalid_request", "operations must be a JSON array"));
  std::vector<ablo::Operation> operations;
  for (const auto& item : value->as_array()) {
    auto operation = parse_operation(item);
    if (!operation) return tl::unexpected(operation.error());
    operations.push_back(std::move(*operation));
  }
  return operations;
}

Result<ablo::Activity> parse_activity(const char* text) {
  auto object = parse_object(text, "invalid_request", "activity");
  if (!object) return tl::unexpected(object.error());
  ablo::Activity activity;
  Members members(*object, "invalid_request", "activity");
  if (auto value = members.string("model")) activity.model = *value;
  if (auto value = members.string("id")) activity.id = *value;
  if (auto value = members.string("action")) activity.action = *value;
  if (auto value = members.string("field")) activity.field = *value;
  if (auto value = members.object("meta")) activity.meta = std::move(*value);
  if (auto status = members.finish(); !status) return tl::unexpected(status.error());
  return activity;
}

Result<json::object> parse_data(const char* text, const char* what) {
  if (!text) return tl::unexpected(sdk_error("invalid_request", std::string(what) + " is required"));
  return parse_object(text, "invalid_request", what);
}

Result<ablo::UndoScopeOptions> parse_undo_scope_options(const char* text) {
  auto object = parse_object(text, "invalid_request", "options");
  if (!object) return tl::unexpected(object.error());
  ablo::UndoScopeOptions options;
  Members members(*object, "invalid_request", "options");
  if (auto value = members.integer("maxHistory")) {
    if (*value < 1) members.wrong("maxHistory", "at least 1");
    options.max_history = static_cast<std::size_t>(std::max<int64_t>(*value, 1));
  }
  if (auto value = enum_member(members, "conflictPolicy", kConflictPolicies)) options.conflict_policy = *value;
  if (auto value = members.boolean("recordAll")) options.record_all = *value;
  if (auto value = members.strings("models")) options.models = *value;
  if (auto status = members.finish(); !status) return tl::unexpected(status.error());
  return options;
}

// ---- pendings -----------------------------------------------------------------------------------

template <class T>
Result<std::string> json_result(Result<T> result) {
  if (!result) return tl::unexpected(std::move(result.error()));
  return json::serialize(to_json(*result));
}

template <class T>
struct TypedPending final : ablo_pending {
  explicit TypedPending(ablo::Pending<T> pending) : pending(std::move(pending)) {}
  bool ready() const override { return pending.ready(); }
  std::optional<Result<std::string>> wait_json(std::optional<milliseconds> timeout) override {
    if (!timeout) return json_result(pending.wait_result());
    auto result = pending.wait_for(*timeout);
    if (!result) return std::nullopt;
    return json_result(std::move(*result));
  }
  void then_json(std::function<void(Result<std::string>)> callback) override {
    std::move(pending).then(nullptr, [callback = std::move(callback)](Result<T> result) { callback(json_result(std::move(result))); });
  }
  ablo::Pending<T> pending;
};

// A claim is a handle, not JSON: taken with ablo_pending_take_claim.
template <>
struct TypedPending<ablo::Claim> final : ablo_pending {
  explicit TypedPending(ablo::Pending<ablo::Claim> pending) : pending(std::move(pending)) {}
  bool ready() const override { return pending.ready(); }
  std::optional<Result<std::string>> wait_json(std::optional<milliseconds>) override {
    return Result<std::string>(tl::unexpected(sdk_error("invalid_request", "a claim: use ablo_pending_take_claim")));
  }
  void then_json(std::function<void(Result<std::string>)> callback) override {
    callback(tl::unexpected(sdk_error("invalid_request", "a claim: use ablo_pending_take_claim")));
  }
  std::optional<Result<ablo::Claim>> wait_claim(std::optional<milliseconds> timeout) override {
    if (!timeout) return pending.wait_result();
    return pending.wait_for(*timeout);
  }
  ablo::Pending<ablo::Claim> pending;
};

template <class T>
ablo_pending* wrap(ablo::Pending<T> pending) {
  return new (std::nothrow) TypedPending<T>(std::move(pending));
}

// A pending already failed with `error`; its then() callback runs on the client's executor (the
// manual one included), as every other callback does.
template <class T>
ablo_pending* failed(const ablo_client* client, Error error) {
  auto executor = client && client->client ? client->client->core()->executor : ablo::inline_executor();
  return wrap(ablo::sdk_detail::settled_pending<T>(tl::unexpected(std::move(error)), std::move(executor)));
}

// Runs `body` (returning ablo_pending*), turning argument errors and exceptions into a failed pending.
template <class T, class Body>
ablo_pending* pending_call(const ablo_client* client, Body&& body) {
  try {
    if (!client || !client->client) return failed<T>(client, sdk_error("invalid_request", "client is NULL"));
    Result<ablo::Pending<T>> pending = body(*client->client);
    if (!pending) return failed<T>(client, std::move(pending.error()));
    return wrap(std::move(*pending));
  } catch (...) {
    return failed<T>(client, error_of_current_exception());
  }
}

// Runs `body` (returning ablo::Status), reporting its error or an exception through *error.
template <class Body>
ablo_status status_call(ablo_error** error, Body&& body) {
  try {
    auto status = body();
    if (!status) return report(status.error(), error);
    return ABLO_OK;
  } catch (...) {
    return report(error_of_current_exception(), error);
  }
}

// For functions without an error channel: an exception ends as `fallback`.
template <class R, class Body>
R quiet_call(R fallback, Body&& body) noexcept {
  try {
    return body();
  } catch (...) {
    return fallback;
  }
}

Result<std::string> required(const char* text, const char* what) {
  if (!text) return tl::unexpected(sdk_error("invalid_request", std::string(what) + " is required"));
  return std::string(text);
}

// A write on one row: model + id + options parsed, then `write(handle, id, options)` (a Pending
// or an argument error).
template <class Write>
ablo_pending* row_write(ablo_client* client, const char* model, const char* id, const char* options_json, Write write) {
  return pending_call<ablo::Receipt>(client, [&](ablo::Client& c) -> Result<ablo::Pending<ablo::Receipt>> {
    auto model_name = required(model, "model");
    auto row_id = required(id, "id");
    auto options = parse_write_options(options_json);
    if (!model_name) return tl::unexpected(model_name.error());
    if (!row_id) return tl::unexpected(row_id.error());
    if (!options) return tl::unexpected(options.error());
    return Result<ablo::Pending<ablo::Receipt>>(write(c.model(*model_name), *row_id, std::move(*options)));
  });
}

// The C callback of an event subscription, called with the event as JSON.
template <class Event>
std::function<void(const Event&)> event_callback(ablo_event_fn callback, void* user_data) {
  return [callback, user_data](const Event& event) {
    const std::string text = json::serialize(to_json(event));
    callback(user_data, text.c_str());
  };
}

using Subscribe = std::function<ablo::Observer(ablo::Client&, ablo_event_fn, void*)>;
const std::pair<std::string_view, Subscribe> kEvents[] = {
    {"status", [](ablo::Client& c, ablo_event_fn fn, void* user) { return c.on_status(event_callback<ablo::ConnectionStatus>(fn, user)); }},
    {"mutation_failure", [](ablo::Client& c, ablo_event_fn fn, void* user) { return c.on_mutation_failure(event_callback<ablo::MutationFailure>(fn, user)); }},
    {"store", [](ablo::Client& c, ablo_event_fn fn, void* user) { return c.on_store_event(event_callback<ablo::StoreEvent>(fn, user)); }},
    {"presence", [](ablo::Client& c, ablo_event_fn fn, void* user) {
       return c.presence().observe(event_callback<std::vector<ablo::Participant>>(fn, user));
     }},
};

}  // namespace capi_detail

using namespace capi_detail;

// ---- errors -------------------------------------------------------------------------------------

extern "C" {

const char* ablo_error_code(const ablo_error* error) { return error ? error->error.code.c_str() : ""; }
const char* ablo_error_message(const ablo_error* error) { return error ? error->error.message.c_str() : ""; }
const char* ablo_error_kind(const ablo_error* error) { return error ? error->kind.c_str() : ""; }
int ablo_error_retryable(const ablo_error* error) { return error && ablo::is_retryable(error->error) ? 1 : 0; }

char* ablo_error_json(const ablo_error* error) {
  if (!error) return nullptr;
  return quiet_call<char*>(nullptr, [&] { return c_json(error_object(error->error)); });
}

void ablo_error_free(ablo_error* error) { delete error; }
void ablo_string_free(char* text) { std::free(text); }
const char* ablo_version(void) { return ablo::kAbloVersion; }

// ---- client -------------------------------------------------------------------------------------

ablo_status ablo_client_new(const char* options_json, ablo_client** out_client, ablo_error** error) {
  if (out_client) *out_client = nullptr;
  return status_call(error, [&]() -> ablo::Status {
    if (!out_client) return tl::unexpected(sdk_error("invalid_request", "out_client is NULL"));
    auto read = read_client_options(options_json);
    if (!read) return tl::unexpected(read.error());
    auto handle = std::make_unique<ablo_client>();
    if (read->callbacks == Callbacks::kManual) {
      handle->manual = std::make_shared<ablo::ManualExecutor>();
      read->options.executor = handle->manual;
    } else if (read->callbacks == Callbacks::kInline) {
      read->options.executor = ablo::inline_executor();
    }
    handle->client = std::make_unique<ablo::Client>(std::move(read->options));
    *out_client = handle.release();
    return {};
  });
}

void ablo_client_free(ablo_client* client) {
  if (!client) return;
  try {
    client->client.reset();
  } catch (...) {  // the destructor does not throw; nothing may cross the boundary regardless
  }
  delete client;
}

size_t ablo_client_run_pending(ablo_client* client, int64_t timeout_ms, size_t max_tasks) {
  if (!client || !client->manual) return 0;
  return quiet_call<size_t>(0, [&] {
    return timeout_ms > 0 ? client->manual->run_pending_for(milliseconds(timeout_ms), max_tasks) : client->manual->run_pending(max_tasks);
  });
}

ablo_pending* ablo_client_ready(ablo_client* client) {
  return pending_call<ablo::Unit>(client, [](ablo::Client& c) -> Result<ablo::Pending<ablo::Unit>> { return c.ready(); });
}

ablo_pending* ablo_client_wait_for_flush(ablo_client* client, int64_t timeout_ms) {
  return pending_call<ablo::Unit>(client, [&](ablo::Client& c) -> Result<ablo::Pending<ablo::Unit>> {
    return c.wait_for_flush(timeout_ms < 0 ? std::nullopt : std::optional(milliseconds(timeout_ms)));
  });
}

char* ablo_client_status(ablo_client* client) {
  if (!client || !client->client) return nullptr;
  return quiet_call<char*>(nullptr, [&] { return c_json(to_json(client->client->status())); });
}

void ablo_client_set_auth_token(ablo_client* client, const char* token) {
  if (!client || !client->client || !token) return;
  quiet_call<int>(0, [&] { return client->client->set_auth_token(token), 0; });
}

void ablo_client_reconnect_now(ablo_client* client) {
  if (!client || !client->client) return;
  quiet_call<int>(0, [&] { return client->client->reconnect_now(), 0; });
}

// ---- reads --------------------------------------------------------------------------------------

ablo_status ablo_get(ablo_client* client, const char* model, const char* id, char** out_row_json, ablo_error** error) {
  if (out_row_json) *out_row_json = nullptr;
  return status_call(error, [&]() -> ablo::Status {
    if (!client || !client->client || !model || !id || !out_row_json) {
      return tl::unexpected(sdk_error("invalid_request", "client, model, id and out_row_json are required"));
    }
    if (auto row = client->client->model(model).get(id)) *out_row_json = c_json(to_json(*row));
    return {};
  });
}

ablo_status ablo_list(ablo_client* client, const char* model, const char* query_json, char** out_rows_json, ablo_error** error) {
  if (out_rows_json) *out_rows_json = nullptr;
  return status_call(error, [&]() -> ablo::Status {
    if (!client || !client->client || !model || !out_rows_json) {
      return tl::unexpected(sdk_error("invalid_request", "client, model and out_rows_json are required"));
    }
    auto query = parse_query(client->client->model(model), query_json);
    if (!query) return tl::unexpected(query.error());
    auto rows = query->list();
    if (!rows) return tl::unexpected(rows.error());
    *out_rows_json = c_json(to_json(*rows));
    return {};
  });
}

ablo_pending* ablo_fetch(ablo_client* client, const char* model, const char* query_json) {
  return pending_call<std::vector<ablo::Row>>(client, [&](ablo::Client& c) -> Result<ablo::Pending<std::vector<ablo::Row>>> {
    auto model_name = required(model, "model");
    if (!model_name) return tl::unexpected(model_name.error());
    auto query = parse_query(c.model(*model_name), query_json);
    if (!query) return tl::unexpected(query.error());
    return c.model(*model_name).fetch(*query);
  });
}

// ---- writes -------------------------------------------------------------------------------------

ablo_pending* ablo_create(ablo_client* client, const char* model, const char* data_json, const char* options_json) {
  return pending_call<ablo::Receipt>(client, [&](ablo::Client& c) -> Result<ablo::Pending<ablo::Receipt>> {
    auto model_name = required(model, "model");
    auto data = parse_data(data_json, "data");
    auto options = parse_create_options(options_json);
    if (!model_name) return tl::unexpected(model_name.error());
    if (!data) return tl::unexpected(data.error());
    if (!options) return tl::unexpected(options.error());
    return c.model(*model_name).create(std::move(*data), std::move(*options));
  });
}

ablo_pending* ablo_update(ablo_client* client, const char* model, const char* id, const char* patch_json, const char* options_json) {
  return row_write(client, model, id, options_json,
                   [&](const ablo::ModelHandle& handle, const std::string& row, ablo::WriteOptions options) -> Result<ablo::Pending<ablo::Receipt>> {
                     auto patch = parse_data(patch_json, "patch");
                     if (!patch) return tl::unexpected(patch.error());
                     return handle.update(row, std::move(*patch), std::move(options));
                   });
}

ablo_pending* ablo_remove(ablo_client* client, const char* model, const char* id, const char* options_json) {
  return row_write(client, model, id, options_json, [](const ablo::ModelHandle& handle, const std::string& row, ablo::WriteOptions options) {
    return handle.remove(row, std::move(options));
  });
}

ablo_pending* ablo_archive(ablo_client* client, const char* model, const char* id, const char* options_json) {
  return row_write(client, model, id, options_json, [](const ablo::ModelHandle& handle, const std::string& row, ablo::WriteOptions options) {
    return handle.archive(row, std::move(options));
  });
}

ablo_pending* ablo_unarchive(ablo_client* client, const char* model, const char* id, const char* options_json) {
  return row_write(client, model, id, options_json, [](const ablo::ModelHandle& handle, const std::string& row, ablo::WriteOptions options) {
    return handle.unarchive(row, std::move(options));
  });
}

ablo_pending* ablo_commit(ablo_client* client, const char* operations_json, const char* options_json) {
  return pending_call<ablo::CommitReceipt>(client, [&](ablo::Client& c) -> Result<ablo::Pending<ablo::CommitReceipt>> {
    auto operations = parse_operations(operations_json);
    auto options = parse_write_options(options_json);
    if (!operations) return tl::unexpected(operations.error());
    if (!options) return tl::unexpected(options.error());
    return c.commit(std::move(*operations), std::move(*options));
  });
}

// ---- pending results ----------------------------------------------------------------------------

ablo_status ablo_pending_wait(ablo_pending* pending, int64_t timeout_ms, char** out_json, ablo_error** error) {
  if (out_json) *out_json = nullptr;
  try {
    if (!pending) return report(sdk_error("invalid_request", "pending is NULL"), error);
    auto result = pending->wait_json(timeout_ms < 0 ? std::nullopt : std::optional(milliseconds(timeout_ms)));
    if (!result) return ABLO_TIMEOUT;
    if (!*result) return report(result->error(), error);
    if (out_json) *out_json = c_string(**result);
    return ABLO_OK;
  } catch (...) {
    return report(error_of_current_exception(), error);
  }
}

int ablo_pending_ready(const ablo_pending* pending) {
  return pending ? quiet_call<int>(0, [&] { return pending->ready() ? 1 : 0; }) : 0;
}

void ablo_pending_then(ablo_pending* pending, ablo_result_fn callback, void* user_data) {
  if (!pending || !callback) return;
  quiet_call<int>(0, [&] {
    pending->then_json([callback, user_data](Result<std::string> result) {
      if (result) {
        callback(user_data, result->c_str(), nullptr);
        return;
      }
      ablo_error error{result.error(), std::string(ablo::to_string(ablo::kind_of(result.error())))};
      callback(user_data, nullptr, &error);
    });
    return 0;
  });
}

ablo_status ablo_pending_take_claim(ablo_pending* pending, int64_t timeout_ms, ablo_claim** out_claim, ablo_error** error) {
  if (out_claim) *out_claim = nullptr;
  try {
    if (!pending || !out_claim) return report(sdk_error("invalid_request", "pending and out_claim are required"), error);
    auto result = pending->wait_claim(timeout_ms < 0 ? std::nullopt : std::optional(milliseconds(timeout_ms)));
    if (!result) return ABLO_TIMEOUT;
    if (!*result) return report(result->error(), error);
    *out_claim = new ablo_claim{std::move(**result)};
    return ABLO_OK;
  } catch (...) {
    return report(error_of_current_exception(), error);
  }
}

void ablo_pending_free(ablo_pending* pending) { delete pending; }

// ---- live queries and events --------------------------------------------------------------------

ablo_observer* ablo_observe(ablo_client* client, const char* model, const char* query_json, ablo_event_fn callback, void* user_data) {
  if (!client || !client->client || !model || !callback) return nullptr;
  return quiet_call<ablo_observer*>(nullptr, [&]() -> ablo_observer* {
    auto query = parse_query(client->client->model(model), query_json);
    if (!query) return nullptr;
    return new ablo_observer{query->observe(event_callback<ablo::QueryUpdate>(callback, user_data))};
  });
}

ablo_observer* ablo_subscribe(ablo_client* client, const char* event, ablo_event_fn callback, void* user_data) {
  if (!client || !client->client || !event || !callback) return nullptr;
  return quiet_call<ablo_observer*>(nullptr, [&]() -> ablo_observer* {
    auto subscribe = lookup(kEvents, event);
    if (!subscribe) return nullptr;
    return new ablo_observer{(*subscribe)(*client->client, callback, user_data)};
  });
}

void ablo_observer_free(ablo_observer* observer) {
  if (!observer) return;
  quiet_call<int>(0, [&] { return observer->observer.cancel(), 0; });
  delete observer;
}

// ---- claims -------------------------------------------------------------------------------------

ablo_pending* ablo_claim_acquire(ablo_client* client, const char* model, const char* id, const char* options_json) {
  return pending_call<ablo::Claim>(client, [&](ablo::Client& c) -> Result<ablo::Pending<ablo::Claim>> {
    auto model_name = required(model, "model");
    auto row_id = required(id, "id");
    auto options = parse_claim_options(options_json);
    if (!model_name) return tl::unexpected(model_name.error());
    if (!row_id) return tl::unexpected(row_id.error());
    if (!options) return tl::unexpected(options.error());
    return c.model(*model_name).claim(*row_id, std::move(*options));
  });
}

char* ablo_claim_row(const ablo_claim* claim) {
  if (!claim) return nullptr;
  return quiet_call<char*>(nullptr, [&] { return c_json(to_json(claim->claim.row())); });
}

int64_t ablo_claim_read_at(const ablo_claim* claim) {
  return claim ? quiet_call<int64_t>(0, [&] { return claim->claim.read_at(); }) : 0;
}

int ablo_claim_held(const ablo_claim* claim) {
  return claim ? quiet_call<int>(0, [&] { return claim->claim.held() ? 1 : 0; }) : 0;
}

ablo_pending* ablo_claim_update(ablo_claim* claim, const char* patch_json, const char* options_json) {
  try {
    if (!claim) return failed<ablo::Receipt>(nullptr, sdk_error("invalid_request", "claim is NULL"));
    auto patch = parse_data(patch_json, "patch");
    auto options = parse_write_options(options_json);
    if (!patch) return failed<ablo::Receipt>(nullptr, patch.error());
    if (!options) return failed<ablo::Receipt>(nullptr, options.error());
    return wrap(claim->claim.update(std::move(*patch), std::move(*options)));
  } catch (...) {
    return failed<ablo::Receipt>(nullptr, error_of_current_exception());
  }
}

void ablo_claim_on_lost(ablo_claim* claim, ablo_result_fn callback, void* user_data) {
  if (!claim || !callback) return;
  quiet_call<int>(0, [&] {
    claim->claim.on_lost([callback, user_data](const Error& lost) {
      ablo_error error{lost, std::string(ablo::to_string(ablo::kind_of(lost)))};
      callback(user_data, nullptr, &error);
    });
    return 0;
  });
}

void ablo_claim_free(ablo_claim* claim) {
  if (!claim) return;
  quiet_call<int>(0, [&] {
    claim->claim.release();  // intent_abandon goes out asynchronously; its Pending is dropped, never waited for
    return 0;
  });
  delete claim;
}

// Another participant's claim on the row (ModelHandle::claim_state), NULL when free or our own.
char* ablo_claim_state(ablo_client* client, const char* model, const char* id) {
  if (!client || !client->client || !model || !id) return nullptr;
  return quiet_call<char*>(nullptr, [&]() -> char* {
    auto claim = client->client->model(model).claim_state(id);
    return claim ? c_json(to_json(*claim)) : nullptr;
  });
}

// ---- presence -----------------------------------------------------------------------------------

void ablo_presence_set_activity(ablo_client* client, const char* activity_json) {
  if (!client || !client->client) return;
  quiet_call<int>(0, [&] {
    auto presence = client->client->presence();
    if (!activity_json) {
      presence.clear_activity();
      return 0;
    }
    if (auto activity = parse_activity(activity_json)) presence.set_activity(std::move(*activity));
    return 0;
  });
}

char* ablo_presence_others(ablo_client* client) {
  if (!client || !client->client) return nullptr;
  return quiet_call<char*>(nullptr, [&] { return c_json(to_json(client->client->presence().others())); });
}

// ---- undo / redo --------------------------------------------------------------------------------
// ---- undo / redo --------------------------------------------------------------------------------

ablo_status ablo_undo_scope(ablo_client* client, const char* scope, const char* options_json, ablo_error** error) {
  return status_call(error, [&]() -> ablo::Status {
    if (!client || !client->client || !scope) return tl::unexpected(sdk_error("invalid_request", "client and scope are required"));
    auto options = parse_undo_scope_options(options_json);
    if (!options) return tl::unexpected(options.error());
    client->client->undo().scope(scope, std::move(*options));
    return {};
  });
}

void ablo_undo_begin_group(ablo_client* client, const char* scope, const char* label) {
  if (!client || !client->client || !scope) return;
  quiet_call<int>(0, [&] {
    auto group = client->client->undo().scope(scope).begin_group(label ? label : "");
    std::lock_guard lock(client->undo_mutex);
    client->open_undo_groups[scope].push_back(std::move(group));
    return 0;
  });
}

void ablo_undo_end_group(ablo_client* client, const char* scope) {
  if (!client || !scope) return;
  quiet_call<int>(0, [&] {
    std::optional<ablo::UndoGroup> ending;  // destroyed (and so pushed) outside the lock
    {
      std::lock_guard lock(client->undo_mutex);
      auto open = client->open_undo_groups.find(scope);
      if (open == client->open_undo_groups.end() || open->second.empty()) return 0;
      ending.emplace(std::move(open->second.back()));
      open->second.pop_back();
      if (open->second.empty()) client->open_undo_groups.erase(open);
    }
    return 0;
  });
}

ablo_pending* ablo_undo(ablo_client* client, const char* scope) {
  return pending_call<ablo::UndoResult>(client, [&](ablo::Client& c) -> Result<ablo::Pending<ablo::UndoResult>> {
    auto name = required(scope, "scope");
    if (!name) return tl::unexpected(name.error());
    return c.undo().scope(*name).undo();
  });
}

ablo_pending* ablo_redo(ablo_client* client, const char* scope) {
  return pending_call<ablo::UndoResult>(client, [&](ablo::Client& c) -> Result<ablo::Pending<ablo::UndoResult>> {
    auto name = required(scope, "scope");
    if (!name) return tl::unexpected(name.error());
    return c.undo().scope(*name).redo();
  });
}

int ablo_can_undo(ablo_client* client, const char* scope) {
  if (!client || !client->client || !scope) return 0;
  return quiet_call<int>(0, [&] { return client->client->undo().scope(scope).can_undo() ? 1 : 0; });
}

int ablo_can_redo(ablo_client* client, const char* scope) {
  if (!client || !client->client || !scope) return 0;
  return quiet_call<int>(0, [&] { return client->client->undo().scope(scope).can_redo() ? 1 : 0; });
}

void ablo_undo_clear(ablo_client* client, const char* scope) {
  if (!client || !client->client || !scope) return;
  quiet_call<int>(0, [&] {
    client->client->undo().scope(scope).clear();
    return 0;
  });
}

}  // extern "C"
