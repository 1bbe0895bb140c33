// Parsing of WS commit payloads and the commit receipt's wire form (protocol.md §3.7).
#include <boost/json.hpp>
#include <fmt/format.h>

#include "common/json_member.h"
#include "common/json_number.h"
#include "engine/engine.h"
#include "store/row_text.h"

namespace ablo::engine {

namespace json = boost::json;

namespace {

std::optional<OpType> parse_op_type(std::string_view text) {
  std::string upper(text);
  for (auto& c : upper) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  if (upper == "CREATE" || upper == "INSERT") return OpType::kCreate;
  if (upper == "UPDATE") return OpType::kUpdate;
  if (upper == "DELETE") return OpType::kDelete;
  if (upper == "ARCHIVE") return OpType::kArchive;
  if (upper == "UNARCHIVE") return OpType::kUnarchive;
  return std::nullopt;
}

std::optional<OnStale> parse_on_stale(std::string_view text) {
  if (text == "reject") return OnStale::kReject;
  if (text == "force") return OnStale::kForce;
  if (text == "flag") return OnStale::kFlag;
  if (text == "merge") return OnStale::kMerge;
  // The 0.49 names of the same policies.
  if (text == "overwrite") return OnStale::kForce;
  if (text == "notify") return OnStale::kFlag;
  return std::nullopt;
}

Result<int64_t> parse_read_at(const json::object& entry, const std::string& where, bool required) {
  const auto* read_at = entry.if_contains("readAt");
  if (!read_at || read_at->is_null()) {
    if (!required) return int64_t{0};
    return fail("commit_operation_invalid", where + ".readAt is required", where + ".readAt");
  }
  auto value = exact_int64_in(*read_at, 0, std::numeric_limits<int64_t>::max());
  if (!value) return fail("commit_operation_invalid", where + ".readAt must be an integer >= 0", where + ".readAt");
  return *value;
}

// One `reads[]` entry: {model, id, fields?, readAt, onStale?} or {group, readAt, onStale?}.
Result<ReadPremise> parse_premise(const json::value& value, const std::string& where) {
  if (!value.is_object()) return fail("commit_operation_invalid", where + " must be an object", where);
  const auto& entry = value.as_object();
  auto guard = parse_stale_guard(entry, where);
  if (!guard) return fail("commit_operation_invalid", guard.error().message, guard.error().param);
  auto read_at = parse_read_at(entry, where, true);
  if (!read_at) return tl::unexpected(read_at.error());
  if (const auto group = string_member(entry, "group"); !group.empty()) {
    return ReadPremise(GroupPremise{group, *read_at, guard->on_stale});
  }
  RowPremise row{string_member(entry, "model"), string_member(entry, "id"), {}, *read_at, guard->on_stale};
  if (row.model.empty() || row.id.empty()) {
    return fail("commit_operation_invalid", where + " needs either {model, id} or {group}", where);
  }
  if (const auto* fields = entry.if_contains("fields"); fields && !fields->is_null()) {
    if (!fields->is_array()) return fail("commit_operation_invalid", where + ".fields must be an array", where + ".fields");
    for (const auto& field : fields->as_array()) {
      if (!field.is_string()) return fail("commit_operation_invalid", where + ".fields must be strings", where + ".fields");
      row.fields.emplace_back(field.as_string());
    }
  }
  return ReadPremise(std::move(row));
}

// A `track[]` entry is checked for shape only ({model, id} or {group}); nothing is watched.
Status check_track_entry(const json::value& value, const std::string& where) {
  if (!value.is_object()) return fail("commit_operation_invalid", where + " must be an object", where);
  const auto& entry = value.as_object();
  if (string_member(entry, "group").empty() && (string_member(entry, "model").empty() || string_member(entry, "id").empty())) {
    return fail("commit_operation_invalid", where + " needs either {model, id} or {group}", where);
  }
  if (auto read_at = parse_read_at(entry, where, false); !read_at) return tl::unexpected(read_at.error());
  return {};
}

// A `reads`/`track` member: absent or null is empty; anything else must be an array.
Result<const json::array*> dependency_array(const json::object& body, std::string_view name) {
  static const json::array kEmpty;
  const auto* member = body.if_contains(name);
  if (!member || member->is_null()) return &kEmpty;
  if (!member->is_array()) {
    return fail("commit_operation_invalid", fmt::format("'{}' must be an array", name), std::string(name));
  }
  return &member->as_array();
}

Result<Operation> parse_operation(const json::value& value, std::size_t index) {
  const std::string where = fmt::format("operations[{}]", index);
  if (!value.is_object()) return fail("invalid_body", where + " must be an object", where);
  const auto& op = value.as_object();
  Operation out;
  // The WS frame says `type`/`input`; the REST body says `action`/`data`.
  std::string type = string_member(op, "type");
  if (type.empty()) type = string_member(op, "action");
  if (type.empty()) return fail("commit_operation_action_required", where + ".type is required", where + ".type");
  auto parsed_type = parse_op_type(type);
  if (!parsed_type) {
    return fail("commit_operation_unsupported", fmt::format("{}.type '{}' is not supported", where, type), where + ".type");
  }
  out.type = *parsed_type;
  out.model = string_member(op, "model");
  if (out.model.empty()) return fail("commit_operation_model_required", where + ".model is required", where + ".model");
  if (const auto* id = op.if_contains("id"); id && !id->is_null()) {
    if (!id->is_string()) return fail("invalid_id", where + ".id must be a string", where + ".id");
    out.id = std::string(id->as_string());
  }
  const json::value* input = op.if_contains("input");
  if (!input || input->is_null()) input = op.if_contains("data");
  if (input && !input->is_null()) {
    if (!input->is_object()) return fail("invalid_body", where + ".input must be an object", where + ".input");
    out.input = input->as_object();
  }
  out.transaction_id = string_member(op, "transactionId");
  out.claim_id = string_member(op, "claimId");
  if (const auto* fence = op.if_contains("fenceToken"); fence && !fence->is_null()) {
    out.fence_token = exact_int64(*fence);
    if (!out.fence_token) return fail("invalid_body", where + ".fenceToken must be an integer", where + ".fenceToken");
  }
  auto guard = parse_stale_guard(op, where);
  if (!guard) return tl::unexpected(guard.error());
  out.read_at = guard->read_at;
  out.on_stale = guard->on_stale;
  return out;
}

}  // namespace

Result<StaleGuard> parse_stale_guard(const json::object& object, std::string_view where) {
  const std::string prefix = where.empty() ? std::string() : std::string(where) + ".";
  StaleGuard guard;
  if (const auto* read_at = object.if_contains("readAt"); read_at && !read_at->is_null()) {
    if (!read_at->is_number()) return fail("invalid_body", prefix + "readAt must be a number", prefix + "readAt");
    guard.read_at = clamped_int64(*read_at, std::numeric_limits<int64_t>::min(), std::numeric_limits<int64_t>::max()).value_or(0);
  }
  if (const auto* on_stale = object.if_contains("onStale"); on_stale && !on_stale->is_null()) {
    auto parsed = on_stale->is_string() ? parse_on_stale(on_stale->as_string()) : std::nullopt;
    if (!parsed) {
      return fail("invalid_body", prefix + "onStale must be reject, overwrite or notify (or force, flag, merge)",
                  prefix + "onStale");
    }
    guard.on_stale = *parsed;
  }
  return guard;
}

Result<CommitRequest> parse_commit_payload(const json::object& payload) {
  CommitRequest request;
  request.client_tx_id = string_member(payload, "clientTxId");
  request.caused_by_task_id = string_member(payload, "causedByTaskId");
  const auto* ops = payload.if_contains("operations");
  if (!ops || !ops->is_array() || ops->as_array().empty()) {
    return fail("commit_operation_required", "a commit needs a non-empty 'operations' array", "operations");
  }
  if (ops->as_array().size() > 500) {
    return fail("commit_too_many_operations", "a commit may carry at most 500 operations", "operations");
  }
  std::size_t index = 0;
  for (const auto& op : ops->as_array()) {
    auto parsed = parse_operation(op, index++);
    if (!parsed) return tl::unexpected(parsed.error());
    request.operations.push_back(std::move(*parsed));
  }
  auto reads = parse_read_premises(payload);
  if (!reads) return tl::unexpected(reads.error());
  request.reads = std::move(*reads);
  return request;
}

Result<std::vector<ReadPremise>> parse_read_premises(const json::object& body) {
  auto reads = dependency_array(body, "reads");
  if (!reads) return tl::unexpected(reads.error());
  auto track = dependency_array(body, "track");
  if (!track) return tl::unexpected(track.error());
  if ((*reads)->size() + (*track)->size() > kMaxReadDependencies) {
    return fail("commit_operation_invalid",
                fmt::format("a commit may carry at most {} reads and track entries", kMaxReadDependencies), "reads");
  }
  std::vector<ReadPremise> premises;
  premises.reserve((*reads)->size());
  for (std::size_t i = 0; i < (*reads)->size(); ++i) {
    auto premise = parse_premise((**reads)[i], fmt::format("reads[{}]", i));
    if (!premise) return tl::unexpected(premise.error());
    premises.push_back(std::move(*premise));
  }
  for (std::size_t i = 0; i < (*track)->size(); ++i) {
    if (auto ok = check_track_entry((**track)[i], fmt::format("track[{}]", i)); !ok) return tl::unexpected(ok.error());
  }
  return premises;
}

json::object CommitReceipt::to_json() const {
  json::object out{{"object", "commit_receipt"},
                   {"clientTxId", client_tx_id},
                   {"serverTxId", std::to_string(last_sync_id)},
                   {"success", true},
                   {"status", "confirmed"},
                   {"lastSyncId", last_sync_id},
                   {"ops", ops}};
  if (flagged_stale) out["flagged"] = true;
  return out;
}

std::string CommitReceipt::to_json_text() const {
  std::string out;
  out.reserve(160 + client_tx_id.size());
  out += R"({"object":"commit_receipt","clientTxId":)";
  store::append_json_string(out, client_tx_id);
  fmt::format_to(std::back_inserter(out), R"(,"serverTxId":"{}","success":true,"status":"confirmed","lastSyncId":{},"ops":{})",
                 last_sync_id, last_sync_id, ops);
  if (flagged_stale) out += R"(,"flagged":true)";
  out += '}';
  return out;
}

}  // namespace ablo::engine
