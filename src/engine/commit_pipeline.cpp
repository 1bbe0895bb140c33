#include "engine/commit_pipeline.h"

#include <algorithm>
#include <chrono>
#include <future>
#include <limits>
#include <map>
#include <utility>
#include <variant>

#include <boost/json.hpp>
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "auth/keys.h"
#include "authz/authorizer.h"
#include "common/exception_text.h"
#include "engine/audit_writer.h"
#include "common/json_number.h"
#include "common/thread_name.h"
#include "common/time.h"
#include "fanout/wire_delta.h"
#include "metrics/metrics.h"
#include "schema/sync_groups.h"
#include "schema/validate.h"
#include "store/row_text.h"

namespace ablo::engine {

namespace json = boost::json;

// Process metrics (issue 15): every commit answered, its latency from submission to answer
// (durable when it succeeded), and how many commits each group carried.
namespace {

struct CommitMetrics {
  metrics::Counter& applied = metrics::global().counter(
      "ablo_commits_total", "Commits answered, by result", {{"result", "applied"}});
  metrics::Counter& refused = metrics::global().counter(
      "ablo_commits_total", "Commits answered, by result", {{"result", "refused"}});
  metrics::Histogram& latency = metrics::global().histogram(
      "ablo_commit_latency_seconds", "Commit submission to answer (durable when applied)", metrics::latency_buckets());
  metrics::Histogram& group_size = metrics::global().histogram(
      "ablo_commit_group_size", "Commits applied in one store transaction", metrics::size_buckets());
  metrics::Counter& deltas = metrics::global().counter("ablo_deltas_committed_total", "Deltas committed and published");
  // The store's share of a commit: the writer's group transaction (statements and COMMIT, no
  // fsync) and the fsync that makes a run of groups durable.
  metrics::Histogram& store_apply = metrics::global().histogram(
      "ablo_store_seconds", "Store work on the commit path, by operation", metrics::latency_buckets(),
      {{"op", "apply_group"}});
  metrics::Histogram& store_sync = metrics::global().histogram(
      "ablo_store_seconds", "Store work on the commit path, by operation", metrics::latency_buckets(),
      {{"op", "sync"}});
};
CommitMetrics& commit_metrics() {
  static CommitMetrics* instance = new CommitMetrics();
  return *instance;
}
// Registered when the process starts, so a scrape shows every series at 0 before the first commit.
[[maybe_unused]] const CommitMetrics& registered_at_start = commit_metrics();

}  // namespace

struct CommitPipeline::Job {
  // Exactly one of the two kinds.
  CommitRequest request;
  std::string tenant;  // request.principal.tenant.key(), made once, when submitted (off the writer)
  // Per operation, its fingerprint for its idempotency record (operation_fingerprint), hashed
  // when submitted (off the writer); "" for an operation without a transactionId or model.
  std::vector<std::string> fingerprints;
  // The commit's audit row as far as the request says (commit_audit_header), made when submitted
  // with auditing on; taken by its first application (a group applied again makes it anew).
  std::optional<audit::AuditRow> audit_header;
  CommitCallback done;
  std::chrono::steady_clock::time_point submitted = std::chrono::steady_clock::now();
  std::function<Result<int64_t>(store::WriteTransaction&)> exclusive;
  std::function<void()> after_commit;
  std::promise<Result<int64_t>> exclusive_result;
  Result<int64_t> outcome_value = tl::unexpected(Error("internal_error", "not run"));  // exclusive job's result

  // Filled while applying.
  std::vector<store::Delta> deltas;
  Result<CommitReceipt> outcome = tl::unexpected(Error("internal_error", "not applied"));

  // Answers the committer once; a later call (the exception boundary after a partly answered
  // group) does nothing.
  void finish(Result<CommitReceipt> result) {
    auto callback = std::exchange(done, nullptr);
    if (!callback) return;
    auto& meters = commit_metrics();
    (result ? meters.applied : meters.refused).add();
    meters.latency.observe_seconds_since(submitted);
    callback(std::move(result));
  }
  // The exception boundary's answer: internal_error to whoever has not been answered yet.
  void fail_unexpectedly() {
    const Error error("internal_error", "the commit failed unexpectedly; nothing of it was applied");
    if (!exclusive) return finish(tl::unexpected(error));
    try {
      exclusive_result.set_value(tl::unexpected(error));
    } catch (const std::future_error&) {
      // already answered
    }
  }
};

namespace {

std::vector<std::string> union_groups(std::vector<std::string> a, const std::vector<std::string>& b) {
  for (const auto& g : b) {
    if (std::find(a.begin(), a.end(), g) == a.end()) a.push_back(g);
  }
  return a;
}

std::string commit_key(const CommitRequest& request) {
  return request.client_tx_id.empty() ? std::string() : "ctx:" + request.client_tx_id;
}
// Marks a commit whose write arrived through the source's feed before its answer did.
std::string repair_key(const std::string& client_tx_id) { return "repair:" + client_tx_id; }
std::string operation_key(const Operation& op) {
  return op.transaction_id.empty() ? std::string() : "op:" + op.transaction_id;
}

// An operation's idempotency record binds its transactionId to who sent it and what it does:
// a retry by the same participant with the same content replays the applied delta; any other
// use of the key is idempotency_conflict, never a confirmed write that was silently dropped.
struct OperationRecord {
  int64_t delta_id = 0;
  std::string participant_id;  // empty in records written before the binding existed
  std::string fingerprint;
};

std::string operation_fingerprint(const schema::Model& model, const Operation& op) {
  return auth::sha256_hex(fmt::format("{}|{}|{}|{}", static_cast<int>(op.type), model.typename_, op.id,
                                      schema::canonical_json(op.input)));
}

// Each operation's fingerprint, or "" for one without a transactionId (it keeps no record) or
// whose model the schema lacks. Computed when the commit is submitted, off the writer thread.
std::vector<std::string> operation_fingerprints(const schema::Schema& schema, const CommitRequest& request) {
  std::vector<std::string> fingerprints;
  fingerprints.reserve(request.operations.size());
  for (const auto& op : request.operations) {
    const schema::Model* model = op.transaction_id.empty() ? nullptr : schema.resolve(op.model);
    fingerprints.push_back(model ? operation_fingerprint(*model, op) : std::string());
  }
  return fingerprints;
}

// {"deltaId":…,"participantId":…,"fingerprint":…}, written as text (one per operation, on the
// writer thread).
std::string encode_operation_record(const OperationRecord& record) {
  std::string text = fmt::format(R"({{"deltaId":{},"participantId":)", record.delta_id);
  store::append_json_string(text, record.participant_id);
  text += R"(,"fingerprint":)";
  store::append_json_string(text, record.fingerprint);
  text += '}';
  return text;
}

// Older records hold the bare delta id; they replay as before.
std::optional<OperationRecord> decode_operation_record(const std::string& text) {
  boost::system::error_code ec;
  auto parsed = json::parse(text, ec);
  if (ec) return std::nullopt;
  if (parsed.is_int64()) return OperationRecord{parsed.as_int64(), {}, {}};
  if (!parsed.is_object()) return std::nullopt;
  const auto& object = parsed.as_object();
  const auto* id = object.if_contains("deltaId");
  const auto* participant = object.if_contains("participantId");
  const auto* fingerprint = object.if_contains("fingerprint");
  if (!id || !id->is_int64() || !participant || !participant->is_string() || !fingerprint || !fingerprint->is_string()) {
    return std::nullopt;
  }
  return OperationRecord{id->as_int64(), std::string(participant->as_string()), std::string(fingerprint->as_string())};
}

// The delta id an earlier identical operation produced, or why this one may not reuse its key.
Result<int64_t> replay_operation(const std::string& stored, const OperationRecord& incoming, const Operation& op,
                                 const std::string& where) {
  auto record = decode_operation_record(stored);
  if (!record) return fail("internal_error", fmt::format("{}: corrupt idempotency record", where));
  if (record->participant_id.empty()) return record->delta_id;
  if (record->participant_id != incoming.participant_id) {
    return fail("idempotency_conflict",
                fmt::format("{}: transactionId '{}' was already used by another participant", where, op.transaction_id),
                where + ".transactionId");
  }
  if (record->fingerprint != incoming.fingerprint) {
    return fail("idempotency_conflict",
                fmt::format("{}: transactionId '{}' was already used for a different operation", where,
                            op.transaction_id),
                where + ".transactionId");
  }
  return record->delta_id;
}

// The idempotency records a commit group consults: every key of the group (commit and
// operation keys) is read in one round trip when the group starts, instead of one lookup per
// key. Writes go to the store and to the cache, and a commit that rolls back to its savepoint
// takes its writes out of the cache too, so later commits of the group see what the store has.
class GroupIdempotency {
 public:
  explicit GroupIdempotency(store::WriteTransaction& txn) : txn_(txn) {}

  Status prefetch(const std::vector<std::pair<std::string, std::string>>& keys) {
    if (keys.empty()) return {};
    auto values = txn_.find_idempotency_many(keys);
    if (!values) return tl::unexpected(values.error());
    for (std::size_t i = 0; i < keys.size(); ++i) known_[keys[i]] = std::move((*values)[i]);
    return {};
  }

  Result<std::optional<std::string>> find(const std::string& tenant, const std::string& key) {
    if (auto known = known_.find({tenant, key}); known != known_.end()) return known->second;
    return txn_.find_idempotency(tenant, key);
  }
  Status put(const std::string& tenant, const std::string& key, const std::string& value) {
    if (auto ok = txn_.put_idempotency(tenant, key, value); !ok) return ok;
    auto& slot = known_[{tenant, key}];
    undo_.emplace_back(std::make_pair(tenant, key), slot);
    slot = value;
    return {};
  }
  // A commit's savepoint: what it puts from here on is undone by rollback().
  void savepoint() { undo_.clear(); }
  void rollback() {
    for (auto it = undo_.rbegin(); it != undo_.rend(); ++it) known_[it->first] = it->second;
    undo_.clear();
  }

 private:
  using Key = std::pair<std::string, std::string>;  // (tenant, key)
  store::WriteTransaction& txn_;
  std::map<Key, std::optional<std::string>> known_;              // absent: not looked up
  std::vector<std::pair<Key, std::optional<std::string>>> undo_;  // previous values, in put order
};

// A capability's commits that name no task are attributed to its only open task (http-api.md
// §6.2). Looked up once per capability and group, in the group's transaction: the tasks a
// group's commits see are those committed before the group began.
class GroupTaskAttribution {
 public:
  explicit GroupTaskAttribution(store::WriteTransaction& txn) : txn_(txn) {}

  Status attribute(CommitRequest& request) {
    if (!std::exchange(request.attribute_to_open_task, false)) return {};
    const auto& principal = request.principal;
    std::pair<std::string, std::string> key{principal.tenant.key(), principal.capability_id};
    auto known = task_of_.find(key);
    if (known == task_of_.end()) {
      auto open = txn_.open_task_ids_of_capability(key.first, key.second);
      if (!open) return tl::unexpected(open.error());
      known = task_of_.emplace(std::move(key), open->size() == 1 ? std::move(open->front()) : std::string()).first;
    }
    request.caused_by_task_id = known->second;
    return {};
  }

 private:
  store::WriteTransaction& txn_;
  std::map<std::pair<std::string, std::string>, std::string> task_of_;  // (tenant, capability) -> task id or ""
};

// The newest delta of `tenant` after `read_at` that `matches` and was written by someone other
// than `participant_id`, looked up in the committed log (group premises and the notices of
// notify). `bounded` is false when the log tail was too long to scan to its end.
// At most `max_deltas` are read; `scanned` says how many were.
struct ForeignChange {
  std::optional<store::Delta> newest;
  bool bounded = true;
  int scanned = 0;
};
using FindForeignChange = std::function<Result<ForeignChange>(
    const std::string& tenant, int64_t read_at, const std::string& participant_id,
    const std::function<bool(const store::Delta&)>& matches, int max_deltas)>;

// What one commit may read of the log for its group premises and notices, all together: a
// commit of 500 premises must not make the writer thread read the log 500 times over.
constexpr int kForeignScanPage = 500;
constexpr int kForeignScanPerLookup = 10 * kForeignScanPage;
constexpr int kForeignScanPerCommit = 4 * kForeignScanPerLookup;

// Applies one commit's operations inside the current savepoint. Produces its deltas.
class CommitApplier {
 public:
  CommitApplier(store::WriteTransaction& txn, GroupIdempotency& idempotency, const schema::Schema& schema,
                WriteGate* gate, const CommitRequest& req, const std::string& tenant,
                const std::vector<std::string>& fingerprints, const FindForeignChange& find_foreign)
      : txn_(txn), idempotency_(idempotency), schema_(schema), gate_(gate), req_(req), tenant_(tenant),
        fingerprints_(fingerprints), find_foreign_(find_foreign) {}

  Result<CommitReceipt> apply(std::vector<store::Delta>& deltas) {
    CommitReceipt receipt;
    receipt.client_tx_id = req_.client_tx_id;
    receipt.ops = static_cast<int>(req_.operations.size());
    receipt.created_at_ms = receipt.status_at_ms = now_ms();
    // Premises first: a commit whose reads went stale applies nothing.
    for (std::size_t i = 0; i < req_.reads.size(); ++i) {
      const std::string where = fmt::format("reads[{}]", i);
      auto ok = std::visit([&](const auto& premise) { return check_premise(premise, where, receipt); }, req_.reads[i]);
      if (!ok) return tl::unexpected(ok.error());
    }
    std::size_t index = 0;
    for (const auto& op : req_.operations) {
      auto applied = req_.mode == CommitMode::kCanonical ? apply_canonical(op, index++, deltas)
                                                         : apply_op(op, index++, deltas, receipt);
      if (!applied) return tl::unexpected(applied.error());
      receipt.last_sync_id = std::max(receipt.last_sync_id, *applied);
    }
    return receipt;
  }

  // Whether a write of this commit reached the store (or was tried: a refused statement counts
  // too, as a store may have no way to undo it but a savepoint).
  bool wrote() const { return wrote_; }

 private:
  store::WriteTransaction& writing() {
    wrote_ = true;
    return txn_;
  }

  Result<int64_t> apply_op(const Operation& op, std::size_t index, std::vector<store::Delta>& deltas,
                           CommitReceipt& receipt) {
    const std::string where = fmt::format("operations[{}]", index);
    const schema::Model* model = schema_.resolve(op.model);
    if (!model) return fail("unknown_model", fmt::format("{}: unknown model '{}'", where, op.model), where + ".model");
    if (!model->mutable_ || model->control_plane) {
      return fail("invalid_model", fmt::format("{}: model '{}' is read-only", where, model->key), where + ".model");
    }
    if (auto ok = schema::validate_row_id(op.id); !ok) {
      Error error = ok.error();
      error.message = fmt::format("{}: {}", where, error.message);
      error.param = where + ".id";
      return tl::unexpected(error);
    }
    // The row as it stands, read once: the authorization rule and the write both need it.
    auto existing = txn_.get_row(*model, tenant_, op.id);
    if (!existing) return tl::unexpected(existing.error());
    if (auto ok = check_operation_allowed(*model, op, *existing, where); !ok) return tl::unexpected(ok.error());
    // Idempotency by op transactionId (protocol.md §8.10): a retried batch gets a new
    // clientTxId but keeps its transactionIds; an op already applied is not applied twice.
    const std::string op_key = operation_key(op);
    OperationRecord record{0, req_.principal.participant_id, {}};
    if (!op_key.empty()) {
      // Hashed when submitted (with the schema of that moment), here if it was not.
      const bool hashed = index < fingerprints_.size() && !fingerprints_[index].empty();
      record.fingerprint = hashed ? fingerprints_[index] : operation_fingerprint(*model, op);
      auto seen = idempotency_.find(tenant_, op_key);
      if (!seen) return tl::unexpected(seen.error());
      if (*seen) return replay_operation(**seen, record, op, where);
    }
    if (gate_) {
      if (auto ok = gate_->check_write(req_.principal, *model, op); !ok) return tl::unexpected(ok.error());
    }
    const json::object* current = *existing ? &(*existing)->data : nullptr;
    if (auto ok = check_stale(*model, op, where, receipt, current); !ok) return tl::unexpected(ok.error());
    auto delta_id = write_row(*model, op, std::move(*existing), where, deltas);
    if (!delta_id) return delta_id;
    if (!op_key.empty()) {
      record.delta_id = *delta_id;
      if (auto ok = idempotency_.put(tenant_, op_key, encode_operation_record(record)); !ok) {
        return tl::unexpected(ok.error());
      }
    }
    return delta_id;
  }

  // CommitMode::kCanonical: `op.input` is the row the source holds now. The source already
  // decided; what is checked here is only that the row fits the schema (a row that does not is
  // refused, naming the field: it would corrupt every client's copy). Returns the delta id, 0
  // when our row already equals it.
  Result<int64_t> apply_canonical(const Operation& op, std::size_t index, std::vector<store::Delta>& deltas) {
    const std::string where = fmt::format("operations[{}]", index);
    const schema::Model* model = schema_.resolve(op.model);
    if (!model) return fail("invalid_request", fmt::format("{}: unknown model '{}'", where, op.model), where + ".model");
    if (auto ok = schema::validate_row_id(op.id); !ok) {
      return fail("invalid_request", fmt::format("{}: {}", where, ok.error().message), where + ".id");
    }
    auto existing = txn_.get_row(*model, tenant_, op.id);
    if (!existing) return tl::unexpected(existing.error());
    store::Delta delta;
    delta.model_name = model->typename_;
    delta.model_id = op.id;
    if (op.type == OpType::kDelete) {
      if (!*existing) return int64_t{0};
      if (auto ok = writing().delete_row(*model, tenant_, op.id); !ok) return tl::unexpected(ok.error());
      delta.action = 'D';
      delta.sync_groups = (*existing)->groups;
      return append(std::move(delta), op, deltas);
    }
    // A version older than ours (by the source's own updatedAt) is stale: an external write the
    // feed reports after our commit on the same row already replaced it at the source.
    if (*existing && older_than_ours(op.input, (*existing)->data)) return int64_t{0};
    auto row = canonical_row(*model, op, *existing, where);
    if (!row) return tl::unexpected(row.error());
    if (*existing && same_row((*existing)->data, row->data)) return int64_t{0};
    row->groups = groups_of(*model, row->data);
    if (*existing) {
      if (auto ok = writing().update_row(*model, tenant_, *row); !ok) return tl::unexpected(ok.error());
      delta.sync_groups = union_groups(row->groups, (*existing)->groups);
    } else {
      if (auto ok = writing().insert_row(*model, tenant_, *row); !ok) return tl::unexpected(ok.error());
      delta.sync_groups = row->groups;
    }
    delta.action = !*existing ? 'I' : op.type == OpType::kArchive ? 'A' : 'U';
    delta.data = std::move(row->data);
    return append(std::move(delta), op, deltas);
  }

  // Our row after the source's: its fields over ours (a field it leaves out keeps our value; a
  // new row starts with every field null), the system fields it keeps (createdAt, updatedAt,
  // archivedAt) when it sends them, ours otherwise.
  Result<store::StoredRow> canonical_row(const schema::Model& model, const Operation& op,
                                         const std::optional<store::StoredRow>& existing, const std::string& where) {
    if (const auto* id = op.input.if_contains("id"); id && !(id->is_string() && id->as_string() == op.id)) {
      return fail("invalid_request",
                  fmt::format("{}: the source answered a row whose id is not '{}'", where, op.id), where + ".id");
    }
    auto fields = schema::validate_input(model, op.input, schema::WriteKind::kUpdate);
    if (!fields) {
      return fail("invalid_request",
                  fmt::format("{}: the source's {} '{}' does not fit the schema: {}", where, model.key, op.id,
                              fields.error().message),
                  where + ".input." + fields.error().param);
    }
    const std::string now = iso8601_from_ms(now_ms());
    store::StoredRow row;
    if (existing) {
      row.data = existing->data;
    } else {
      for (const auto& field : model.fields) row.data[field.name] = nullptr;
      row.data["id"] = op.id;
      row.data["createdAt"] = now;
      row.data["createdBy"] = req_.principal.participant_id;
      row.data["archivedAt"] = nullptr;
    }
    for (auto& [key, value] : *fields) row.data[key] = std::move(value);
    row.data["organizationId"] = req_.principal.tenant.org;
    for (const char* key : {"createdAt", "updatedAt", "archivedAt"}) {
      if (const auto* value = op.input.if_contains(key)) {
        auto normalized = system_date(*value, key, where);
        if (!normalized) return tl::unexpected(normalized.error());
        row.data[key] = std::move(*normalized);
      }
    }
    if (!op.input.contains("archivedAt")) {
      if (op.type == OpType::kArchive && row.data["archivedAt"].is_null()) row.data["archivedAt"] = now;
      if (op.type == OpType::kUnarchive) row.data["archivedAt"] = nullptr;
    }
    if (!op.input.contains("updatedAt")) row.data["updatedAt"] = now;
    return row;
  }

  // A source's timestamp: ISO-8601 text or epoch milliseconds, kept as ISO-8601 UTC; null.
  static Result<json::value> system_date(const json::value& value, std::string_view key, const std::string& where) {
    if (value.is_null()) return json::value(nullptr);
    if (value.is_string()) {
      if (auto ms = parse_iso8601_ms(value.as_string())) return json::value(iso8601_from_ms(*ms));
    } else if (auto ms = exact_int64(value)) {
      return json::value(iso8601_from_ms(*ms));
    }
    return fail("invalid_request", fmt::format("{}: the source's {} is not a date", where, key), where + "." + std::string(key));
  }

  // Whether the source's row carries an updatedAt strictly before our copy's (a source that
  // keeps none is never judged stale this way).
  static bool older_than_ours(const json::object& theirs, const json::object& ours) {
    const auto at = [](const json::object& row) -> std::optional<int64_t> {
      const auto* value = row.if_contains("updatedAt");
      if (!value) return std::nullopt;
      if (value->is_string()) return parse_iso8601_ms(value->as_string());
      return exact_int64(*value);
    };
    const auto incoming = at(theirs);
    const auto current = at(ours);
    return incoming && current && *incoming < *current;
  }

  // Equal but for updatedAt, which a source without that column cannot keep; a member one side
  // leaves out counts as null (a store may not return null columns).
  static bool same_row(const json::object& ours, const json::object& theirs) {
    const auto covered = [](const json::object& a, const json::object& b) {
      for (const auto& [key, value] : a) {
        if (key == "updatedAt") continue;
        const auto* other = b.if_contains(key);
        if (other ? *other != value : !value.is_null()) return false;
      }
      return true;
    };
    return covered(theirs, ours) && covered(ours, theirs);
  }

  // The write rule (authz/authorizer.h) as far as it can be checked before the write: the
  // operation, and that the caller can read the existing row. Runs before the claim gate and
  // the stale check, so a row outside the caller's scope answers like a missing one there
  // too. Where the row ends up is checked by write_row once its new groups are known.
  // A create is judged by where the row lands alone; an existing row makes it unique_violation.
  Status check_operation_allowed(const schema::Model& model, const Operation& op,
                                 const std::optional<store::StoredRow>& existing, const std::string& where) {
    const authz::Verb verb = verb_of(op);
    std::optional<authz::RowScope> before;
    if (existing && op.type != OpType::kCreate) before.emplace(authz::RowScope{tenant_, existing->groups});
    const auto denial = authz::write_denial(req_.principal, model, verb, before, std::nullopt);
    if (denial == authz::Denial::kNone) return {};
    return tl::unexpected(authz::denial_error(denial, model, verb, missing_row(model, op, where), where));
  }

  // Where the row ends up (creates, updates, archives): inside the caller's groups.
  Status check_destination(const schema::Model& model, const Operation& op, const std::string& where,
                           const std::vector<std::string>& groups_after) {
    const authz::Verb verb = verb_of(op);
    const auto denial =
        authz::write_denial(req_.principal, model, verb, std::nullopt, authz::RowScope{tenant_, groups_after});
    if (denial == authz::Denial::kNone) return {};
    return tl::unexpected(authz::denial_error(denial, model, verb, missing_row(model, op, where), where));
  }

  // archive/unarchive need `update` (http-api.md §6.1).
  static authz::Verb verb_of(const Operation& op) {
    return op.type == OpType::kCreate ? authz::Verb::kCreate
           : op.type == OpType::kDelete ? authz::Verb::kDelete
                                        : authz::Verb::kUpdate;
  }

  // The 0.9.1 client treats this message as "row already gone" for updates and deletes.
  static Error missing_row(const schema::Model& model, const Operation& op, const std::string& where) {
    return Error("mutate_update_entity_not_found",
                 fmt::format("{}: no rows in result set: {} '{}' does not exist", where, model.key, op.id),
                 where + ".id");
  }

  // readAt/onStale (protocol.md §3.9, §8.1): only another participant's changes after readAt
  // count; this commit's own earlier ops never do, since they are by the same participant.
  Status check_stale(const schema::Model& model, const Operation& op, const std::string& where,
                     CommitReceipt& receipt, const json::object* current) {
    if (!op.read_at || op.type == OpType::kCreate) return {};
    const OnStale policy = op.on_stale.value_or(OnStale::kReject);
    if (policy == OnStale::kForce) return {};
    auto foreign = txn_.has_foreign_write_since(tenant_, model.typename_, op.id, *op.read_at,
                                                req_.principal.participant_id);
    if (!foreign) return tl::unexpected(foreign.error());
    if (!*foreign) return {};
    if (policy == OnStale::kFlag) {
      receipt.flagged_stale = true;
      auto notice = row_notice(model, op.id, *op.read_at, current, {});
      if (!notice) return tl::unexpected(notice.error());
      if (*notice) receipt.stale_notices.push_back(std::move(**notice));
      return {};
    }
    Error error("stale_context",
                fmt::format("{}: {} '{}' changed after readAt {} by another participant", where, model.key, op.id,
                            *op.read_at),
                where + ".readAt");
    error.details["readAt"] = *op.read_at;
    return tl::unexpected(error);
  }

  // What a stale premise does: reject (the default) fails the commit with stale_context;
  // overwrite/force applies; notify/flag/merge applies and marks the receipt flagged.
  Status stale_premise(std::optional<OnStale> on_stale, int64_t read_at, const std::string& what,
                       const std::string& where, CommitReceipt& receipt,
                       const std::function<Result<std::optional<StaleNotice>>()>& notice) {
    const OnStale policy = on_stale.value_or(OnStale::kReject);
    if (policy == OnStale::kForce) return {};
    if (policy != OnStale::kReject) {
      receipt.flagged_stale = true;
      auto made = notice();
      if (!made) return tl::unexpected(made.error());
      if (*made) receipt.stale_notices.push_back(std::move(**made));
      return {};
    }
    Error error("stale_context",
                fmt::format("{}: {} changed after readAt {} by another participant", where, what, read_at),
                where + ".readAt");
    error.details["readAt"] = read_at;
    return tl::unexpected(error);
  }

  // A row the commit read: readable by the caller (else answered like a missing model row) and
  // not changed by another participant after readAt.
  Status check_premise(const RowPremise& premise, const std::string& where, CommitReceipt& receipt) {
    const schema::Model* model = schema_.resolve(premise.model);
    if (!model) {
      return fail("commit_operation_invalid", fmt::format("{}: unknown model '{}'", where, premise.model),
                  where + ".model");
    }
    const Error not_found("model_not_found", fmt::format("{}: {} '{}' not found", where, model->key, premise.id),
                          where + ".id");
    if (!authz::may_read_model(req_.principal, *model)) {
      return tl::unexpected(authz::denial_error(authz::Denial::kOperation, *model, authz::Verb::kRead, not_found, where));
    }
    auto row = txn_.get_row(*model, tenant_, premise.id);
    if (!row) return tl::unexpected(row.error());
    if (*row) {
      if (auto ok = authz::can_read(req_.principal, *model, authz::RowScope{tenant_, (*row)->groups}, not_found); !ok) {
        return ok;
      }
    }
    auto changed = txn_.has_foreign_write_since(tenant_, model->typename_, premise.id, premise.read_at,
                                                req_.principal.participant_id);
    if (!changed) return tl::unexpected(changed.error());
    if (!*changed) return {};
    const json::object* current = *row ? &(*row)->data : nullptr;
    return stale_premise(premise.on_stale, premise.read_at, fmt::format("{} '{}'", model->key, premise.id), where,
                         receipt, [&] { return row_notice(*model, premise.id, premise.read_at, current, premise.fields); });
  }

  // The notice of a row that moved after readAt: who wrote it last, and its values now (the
  // premise's fields when it named some). None when the log tail was too long to find the writer.
  Result<std::optional<StaleNotice>> row_notice(const schema::Model& model, const std::string& id, int64_t read_at,
                                                const json::object* current, const std::vector<std::string>& fields) {
    auto found = find_foreign(read_at, [&](const store::Delta& delta) {
      return delta.model_name == model.typename_ && delta.model_id == id;
    });
    if (!found) return tl::unexpected(found.error());
    if (!found->newest) return std::optional<StaleNotice>();
    StaleNotice notice = notice_of(*found->newest, read_at);
    notice.model = model.key;
    json::object values;
    if (current) {
      for (const auto& [name, value] : *current) {
        if (fields.empty() || std::find(fields.begin(), fields.end(), name) != fields.end()) values[name] = value;
      }
    }
    notice.current_values = std::move(values);
    return std::optional<StaleNotice>(std::move(notice));
  }

  // A log lookup within what is left of the commit's budget; an exhausted budget answers
  // "not bounded" (changed, writer unknown) without reading.
  Result<ForeignChange> find_foreign(int64_t read_at, const std::function<bool(const store::Delta&)>& matches) {
    if (scan_budget_ <= 0) return ForeignChange{std::nullopt, false, 0};
    auto found = find_foreign_(tenant_, read_at, req_.principal.participant_id, matches,
                               std::min(scan_budget_, kForeignScanPerLookup));
    if (found) scan_budget_ -= found->scanned;
    return found;
  }

  StaleNotice notice_of(const store::Delta& delta, int64_t read_at) const {
    StaleNotice notice;
    const schema::Model* moved = schema_.resolve(delta.model_name);
    notice.model = moved ? moved->key : delta.model_name;
    notice.id = delta.model_id;
    notice.read_at = read_at;
    notice.observed_sync_id = delta.id;
    const auto& kind = delta.participant_kind;
    notice.written_by_kind = kind == "user" || kind == "agent" ? kind : "system";
    notice.written_by_id = delta.participant_id;
    return notice;
  }

  // A sync group the commit read: one the caller reaches, with no foreign delta after readAt.
  Status check_premise(const GroupPremise& premise, const std::string& where, CommitReceipt& receipt) {
    if (!authz::reaches_groups(req_.principal, {premise.group})) {
      return fail("invalid_sync_group", fmt::format("{}: sync group '{}' is outside this credential's scope", where,
                                                    premise.group),
                  where + ".group");
    }
    auto changed = find_foreign(premise.read_at, [&](const store::Delta& delta) {
      return std::find(delta.sync_groups.begin(), delta.sync_groups.end(), premise.group) != delta.sync_groups.end();
    });
    if (!changed) return tl::unexpected(changed.error());
    if (!changed->newest && changed->bounded) return {};
    return stale_premise(premise.on_stale, premise.read_at, fmt::format("sync group '{}'", premise.group), where,
                         receipt, [&]() -> Result<std::optional<StaleNotice>> {
                           if (!changed->newest) return std::optional<StaleNotice>();
                           StaleNotice notice = notice_of(*changed->newest, premise.read_at);
                           notice.group = premise.group;
                           return std::optional<StaleNotice>(std::move(notice));
                         });
  }

  Result<int64_t> write_row(const schema::Model& model, const Operation& op, std::optional<store::StoredRow> existing,
                            const std::string& where, std::vector<store::Delta>& deltas) {
    const std::string now = iso8601_from_ms(now_ms());
    store::Delta delta;
    delta.model_name = model.typename_;
    delta.model_id = op.id;
    std::vector<std::string> previous_groups;

    if (op.type == OpType::kCreate) {
      if (existing) {
        return fail("unique_violation", fmt::format("{}: {} '{}' already exists", where, model.key, op.id), where + ".id");
      }
      auto input = validated(model, op, schema::WriteKind::kCreate, where);
      if (!input) return tl::unexpected(input.error());
      store::StoredRow row;
      row.data = std::move(*input);
      row.data["id"] = op.id;
      row.data["createdAt"] = now;
      row.data["updatedAt"] = now;
      row.data["organizationId"] = req_.principal.tenant.org;
      row.data["createdBy"] = req_.principal.participant_id;
      for (const auto& field : model.fields) {
        if (!row.data.contains(field.name)) row.data[field.name] = nullptr;
      }
      row.groups = groups_of(model, row.data);
      if (auto ok = check_destination(model, op, where, row.groups); !ok) return tl::unexpected(ok.error());
      if (auto ok = writing().insert_row(model, tenant_, row); !ok) return tl::unexpected(ok.error());
      delta.action = 'I';
      delta.data = std::move(row.data);
      delta.sync_groups = row.groups;
    } else {
      if (!existing) return tl::unexpected(missing_row(model, op, where));
      store::StoredRow row = std::move(*existing);
      previous_groups = row.groups;
      if (op.type == OpType::kDelete) {
        if (auto ok = writing().delete_row(model, tenant_, op.id); !ok) return tl::unexpected(ok.error());
        delta.action = 'D';
        delta.sync_groups = row.groups;
      } else {
        if (op.type == OpType::kUpdate) {
          auto input = validated(model, op, schema::WriteKind::kUpdate, where);
          if (!input) return tl::unexpected(input.error());
          for (auto& [key, value] : *input) row.data[key] = value;
        }
        row.data["updatedAt"] = now;
        if (op.type == OpType::kArchive) row.data["archivedAt"] = now;
        if (op.type == OpType::kUnarchive) row.data["archivedAt"] = nullptr;  // sent as U: 0.9.1 drops V
        row.groups = groups_of(model, row.data);
        if (auto ok = check_destination(model, op, where, row.groups); !ok) return tl::unexpected(ok.error());
        if (auto ok = writing().update_row(model, tenant_, row); !ok) return tl::unexpected(ok.error());
        delta.action = op.type == OpType::kArchive ? 'A' : 'U';
        // The old audience learns that a row left it (schema.md §4.5).
        delta.sync_groups = union_groups(row.groups, previous_groups);
        delta.data = std::move(row.data);
      }
    }
    return append(std::move(delta), op, deltas);
  }

  Result<json::object> validated(const schema::Model& model, const Operation& op, schema::WriteKind kind,
                                 const std::string& where) {
    auto input = schema::validate_input(model, op.input, kind);
    if (!input) {
      Error error = input.error();
      error.message = fmt::format("{}: {}", where, error.message);
      if (!error.param.empty()) error.param = where + ".input." + error.param;
      return tl::unexpected(error);
    }
    return input;
  }

  std::vector<std::string> groups_of(const schema::Model& model, const json::object& row) {
    return schema::row_groups(schema_, model, row, req_.principal.tenant.org,
                              [&](const schema::Model& parent, const std::string& id) -> std::optional<json::object> {
                                auto found = txn_.get_row(parent, tenant_, id);
                                if (!found || !*found) return std::nullopt;
                                return std::move((*found)->data);
                              });
  }

  Result<int64_t> append(store::Delta delta, const Operation& op, std::vector<store::Delta>& deltas) {
    delta.tenant = tenant_;
    // The writer (and an entity-scoped agent) always receives its own write, through its own
    // credential's route rather than its groups: a group would carry the row to everyone else
    // in it, who may not be allowed to read it (authz/authorizer.h).
    delta.sync_groups.push_back(fanout::echo_route(req_.principal.participant_id, req_.principal.credential_id()));
    delta.transaction_id = op.transaction_id;
    delta.client_tx_id = req_.client_tx_id;
    delta.participant_id = req_.principal.participant_id;
    delta.participant_kind = req_.principal.participant_kind;
    delta.capability_id = req_.principal.capability_id;
    delta.caused_by_task_id = req_.caused_by_task_id;
    delta.created_at_ms = now_ms();
    auto id = writing().append_delta(delta);
    if (!id) return id;
    delta.id = *id;
    deltas.push_back(std::move(delta));
    return id;
  }

  store::WriteTransaction& txn_;
  GroupIdempotency& idempotency_;
  const schema::Schema& schema_;
  WriteGate* gate_;
  const CommitRequest& req_;
  const std::string& tenant_;  // req_'s Tenant::key() (Job::tenant)
  const std::vector<std::string>& fingerprints_;  // Job::fingerprints
  const FindForeignChange& find_foreign_;
  int scan_budget_ = kForeignScanPerCommit;  // log deltas this commit may still read
  bool wrote_ = false;
};

// Group premises and notices are checked against the committed log: at most
// kForeignScanPerLookup deltas after a readAt (and kForeignScanPerCommit for the whole commit)
// are looked at; a longer tail counts as "changed" with no known writer (a stale_context the
// client can retry from a fresh read) rather than being scanned without bound on the writer
// thread. Deltas of earlier commits in the same group are not committed yet and are not seen.
// The store's reads return durable transactions only (store.h), so a lookup made while the
// previous group's fsync runs waits for it (or runs it): the rare commit with premises or
// notices pays up to one fsync; the earlier groups it sees are the ones that will be on disk.
Result<ForeignChange> find_foreign_in_log(store::Store& store, const std::string& tenant, int64_t read_at,
                                          const std::string& participant_id,
                                          const std::function<bool(const store::Delta&)>& matches, int max_deltas) {
  ForeignChange found;
  int64_t after = read_at;
  while (found.scanned < max_deltas) {
    const int want = std::min(kForeignScanPage, max_deltas - found.scanned);
    auto page = store.read_deltas(tenant, after, std::numeric_limits<int64_t>::max(), want);
    if (!page) return tl::unexpected(page.error());
    if (page->empty()) return found;
    after = page->back().id;
    found.scanned += static_cast<int>(page->size());
    const bool last_page = static_cast<int>(page->size()) < want;
    for (auto& delta : *page) {
      if (delta.participant_id != participant_id && matches(delta)) found.newest = std::move(delta);
    }
    if (last_page) return found;
  }
  found.bounded = false;
  return found;
}

constexpr int64_t kMeterFlushIntervalMs = 1000;

// Idempotency keys are remembered for 24 hours; a key reused after that is a new request.
constexpr int64_t kIdempotencyWindowMs = 24 * 3600 * 1000;

// The stored outcome of an earlier commit with the same clientTxId: its receipt replayed,
// idempotency_conflict when the new request's body differs, nullopt when the record expired.
std::optional<Result<CommitReceipt>> replay(const std::string& text, const CommitRequest& request) {
  boost::system::error_code ec;
  auto parsed = json::parse(text, ec);
  if (ec || !parsed.is_object()) return fail("internal_error", "corrupt idempotency record");
  const auto& object = parsed.as_object();
  if (const auto* at = object.if_contains("storedAt"); at && now_ms() - exact_int64(*at).value_or(0) > kIdempotencyWindowMs) {
    return std::nullopt;
  }
  if (const auto* participant = object.if_contains("participantId");
      participant && participant->is_string() && participant->as_string() != request.principal.participant_id) {
    return fail("idempotency_conflict",
                fmt::format("idempotency key '{}' was already used by another participant", request.client_tx_id));
  }
  const auto* fingerprint = object.if_contains("requestFingerprint");
  if (!request.request_fingerprint.empty() && fingerprint && fingerprint->is_string() &&
      fingerprint->as_string() != request.request_fingerprint) {
    return fail("idempotency_conflict",
                fmt::format("idempotency key '{}' was already used with a different request body", request.client_tx_id));
  }
  CommitReceipt receipt;
  receipt.client_tx_id = request.client_tx_id;
  receipt.replayed = true;
  receipt.status_at_ms = now_ms();
  // Records written before createdAtMs was kept date the commit by when they were stored.
  for (const char* name : {"createdAtMs", "storedAt"}) {
    if (const auto* at = object.if_contains(name); at && exact_int64(*at)) {
      receipt.created_at_ms = std::min(*exact_int64(*at), receipt.status_at_ms);
      break;
    }
  }
  const auto* last_sync_id = object.if_contains("lastSyncId");
  const auto* ops = object.if_contains("ops");
  const auto last = last_sync_id ? exact_int64(*last_sync_id) : std::nullopt;
  const auto op_count = ops ? exact_int64_in(*ops, 0, std::numeric_limits<int>::max()) : std::nullopt;
  if (!last || !op_count) return fail("internal_error", "corrupt idempotency record");
  receipt.last_sync_id = *last;
  receipt.ops = static_cast<int>(*op_count);
  return receipt;
}

// A canonical commit skipped as the echo of one already applied: nothing new to publish.
CommitReceipt echo_receipt(const CommitRequest& request, int64_t head) {
  CommitReceipt receipt;
  receipt.client_tx_id = request.client_tx_id;
  receipt.last_sync_id = head;
  receipt.created_at_ms = receipt.status_at_ms = now_ms();
  return receipt;
}

std::string idempotency_record(const CommitReceipt& receipt, const CommitRequest& request) {
  std::string record = receipt.to_json_text();
  record.pop_back();  // its closing brace: the record's own members follow
  fmt::format_to(std::back_inserter(record), R"(,"storedAt":{},"createdAtMs":{},"participantId":)", now_ms(),
                 receipt.created_at_ms);
  store::append_json_string(record, request.principal.participant_id);
  if (!request.request_fingerprint.empty()) {
    record += R"(,"requestFingerprint":)";
    store::append_json_string(record, request.request_fingerprint);
  }
  record += '}';
  return record;
}

}  // namespace

CommitPipeline::CommitPipeline(store::Store& store, fanout::Hub& hub, SchemaHolder& schema, EngineOptions options)
    : store_(store), hub_(hub), schema_(schema), options_(options) {}

CommitPipeline::~CommitPipeline() { stop(); }

void CommitPipeline::start() {
  std::lock_guard lock(queue_mutex_);
  if (writer_.joinable()) return;
  stopping_ = false;
  {
    std::lock_guard handoff(handoff_mutex_);
    writer_done_ = false;
  }
  syncer_ = named_thread("ablo-syncer", [this] { run_syncer(); });
  writer_ = named_thread("ablo-writer", [this] { run_writer(); });
}

// The writer drains the queue and exits; then the syncer answers what it handed over and exits.
void CommitPipeline::stop() {
  {
    std::lock_guard lock(queue_mutex_);
    stopping_ = true;
  }
  queue_wake_.notify_all();
  if (writer_.joinable()) writer_.join();
  {
    // Rows queued after the writer's last group (a claim event racing the shutdown).
    std::lock_guard lock(queue_mutex_);
    if (!audit_queue_.empty()) {
      audit_dropped_ += audit_queue_.size();
      spdlog::error("stopping: {} audit rows queued after the last commit group are lost", audit_queue_.size());
      audit_queue_.clear();
    }
  }
  {
    std::lock_guard lock(handoff_mutex_);
    writer_done_ = true;
  }
  syncer_wake_.notify_all();
  if (syncer_.joinable()) syncer_.join();
}

void CommitPipeline::set_write_gate(std::shared_ptr<WriteGate> gate) {
  std::lock_guard lock(queue_mutex_);
  gate_ = std::move(gate);
}

// WebSocket commits carry no body fingerprint of their own: their operations are the content a
// reused clientTxId is compared with.
std::string commit_fingerprint(const CommitRequest& request) {
  if (!request.request_fingerprint.empty() || request.client_tx_id.empty()) return request.request_fingerprint;
  std::string text;
  for (const auto& op : request.operations) {
    text += fmt::format("{}|{}|{}|{}\n", static_cast<int>(op.type), op.model, op.id, schema::canonical_json(op.input));
  }
  return auth::sha256_hex(text);
}

void CommitPipeline::submit_commit(CommitRequest request, CommitCallback done) {
  request.request_fingerprint = commit_fingerprint(request);
  auto job = std::make_unique<Job>();
  job->request = std::move(request);
  job->tenant = job->request.principal.tenant.key();
  if (const auto schema = schema_.get()) {
    job->fingerprints = operation_fingerprints(*schema, job->request);
    if (!options_.audit_key.empty()) job->audit_header = commit_audit_header(job->request, *schema);
  }
  job->done = std::move(done);
  bool wake = false;
  {
    std::lock_guard lock(queue_mutex_);
    if (!stopping_) {
      queue_.push_back(std::move(job));
      // A busy writer takes the whole queue when it finishes its group: waking it is a futex
      // call per commit for nothing.
      wake = std::exchange(writer_idle_, false);
    }
  }
  // Answered outside queue_mutex_: the callback may take other locks (the coordinator's, which
  // is held while enqueue_audit takes queue_mutex_).
  if (job) return job->done(fail("instance_at_capacity", "the server is shutting down"));
  if (wake) queue_wake_.notify_one();
}

Result<int64_t> CommitPipeline::run_exclusive(std::function<Result<int64_t>(store::WriteTransaction&)> install,
                                              std::function<void()> after_commit) {
  auto job = std::make_unique<Job>();
  job->exclusive = std::move(install);
  job->after_commit = std::move(after_commit);
  auto future = job->exclusive_result.get_future();
  {
    std::lock_guard lock(queue_mutex_);
    if (stopping_ || !writer_.joinable()) return fail("internal_error", "the commit writer is not running");
    queue_.push_back(std::move(job));
    writer_idle_ = false;
  }
  queue_wake_.notify_one();
  return future.get();
}

void CommitPipeline::enqueue_audit(audit::AuditRow row) {
  if (options_.audit_key.empty()) return;
  bool wake = false;
  {
    std::lock_guard lock(queue_mutex_);
    if (audit_queue_.size() >= options_.max_queued_audit_rows) {
      const uint64_t dropped = ++audit_dropped_;
      // Loud but bounded: the first drop and then every 1,000th.
      if (dropped == 1 || dropped % 1000 == 0) {
        spdlog::error("audit queue full ({} rows): '{}' row of {} dropped ({} dropped so far)", options_.max_queued_audit_rows,
                      row.action_type, row.tenant, dropped);
      }
      return;
    }
    // The first row starts a coalescing window (take_group); later ones wake the writer only
    // when they fill a batch.
    if (audit_queue_.empty()) audit_first_queued_at_ = std::chrono::steady_clock::now();
    audit_queue_.push_back(std::move(row));
    if (audit_queue_.size() == 1 || audit_queue_.size() == kAuditCoalesceRows) wake = std::exchange(writer_idle_, false);
  }
  if (wake) queue_wake_.notify_one();
}

// Moves queued audit rows behind those a failed group kept, up to the bound (writer thread).
void CommitPipeline::take_audit_rows_locked() {
  while (!audit_queue_.empty() && audit_batch_.size() < options_.max_queued_audit_rows) {
    audit_batch_.push_back(std::move(audit_queue_.front()));
    audit_queue_.pop_front();
  }
}

// Waits for queued jobs or audit rows and takes the next group; false when stopping with
// nothing queued. A group may be empty of commits when it carries audit rows only.
bool CommitPipeline::take_group(Group& group) {
  std::unique_lock lock(queue_mutex_);
  while (!stopping_ && queue_.empty()) {
    if (!audit_queue_.empty()) {
      // Rows without commits wait a little for company (more rows, or commits to ride along
      // with), so a stream of claim events costs one transaction and fsync per window instead
      // of one per event, which on a busy machine would take CPU from the events themselves.
      const auto due = audit_first_queued_at_ + kAuditCoalesceDelay;
      if (audit_queue_.size() >= kAuditCoalesceRows || std::chrono::steady_clock::now() >= due) break;
      writer_idle_ = true;  // a commit wakes it at once
      queue_wake_.wait_until(lock, due);
      continue;
    }
    writer_idle_ = true;
    if (audit_batch_.empty()) {
      queue_wake_.wait(lock);
    } else if (queue_wake_.wait_for(lock, kAuditRetryDelay) == std::cv_status::timeout) {
      break;  // nothing else came: retry the rows a failed group kept, alone
    }
  }
  writer_idle_ = false;
  if (stopping_ && queue_.empty() && audit_queue_.empty()) {
    if (audit_batch_.empty()) return false;  // stopping and drained
    // Rows a failed group kept get one last group; if that fails too they are lost, loudly.
    if (std::exchange(final_audit_try_, true)) {
      audit_dropped_ += audit_batch_.size();
      spdlog::error("stopping: {} audit rows could not be written and are lost", audit_batch_.size());
      audit_batch_.clear();
      return false;
    }
  }
  // An exclusive job (schema install) runs alone so later commits see its schema.
  if (!queue_.empty() && queue_.front()->exclusive) {
    group.push_back(std::move(queue_.front()));
    queue_.pop_front();
    return true;
  }
  take_audit_rows_locked();
  while (!queue_.empty() && !queue_.front()->exclusive && static_cast<int>(group.size()) < options_.max_group) {
    group.push_back(std::move(queue_.front()));
    queue_.pop_front();
  }
  return true;
}

void CommitPipeline::run_writer() {
  while (true) {
    Group group;
    if (!take_group(group)) return;
    AppliedGroup applied;
    // The writer thread's exception boundary: a group that throws fails its commits with
    // internal_error (the store rolled its transaction back) and the writer carries on.
    try {
      const auto started = std::chrono::steady_clock::now();
      applied = !group.empty() && group.front()->exclusive ? run_exclusive_job(group) : apply_group(group);
      if (applied.wrote) commit_metrics().store_apply.observe_seconds_since(started);
    } catch (...) {
      spdlog::error("commit group of {} threw: {}", group.size(), current_exception_text());
      for (auto& job : group) {
        job->deltas.clear();
        job->outcome = fail("internal_error", "the commit failed unexpectedly; nothing of it was applied");
      }
      applied = AppliedGroup{std::move(group), false};
    }
    hand_to_syncer(std::move(applied));
  }
}

void CommitPipeline::hand_to_syncer(AppliedGroup applied) {
  bool wake = false;
  {
    std::unique_lock lock(handoff_mutex_);
    writer_room_.wait(lock, [&] { return applied_.size() < kMaxUnsyncedGroups; });
    applied_.push_back(std::move(applied));
    wake = std::exchange(syncer_idle_, false);
  }
  if (wake) syncer_wake_.notify_one();
}

void CommitPipeline::run_syncer() {
  while (true) {
    std::deque<AppliedGroup> batch;
    {
      std::unique_lock lock(handoff_mutex_);
      while (applied_.empty() && !writer_done_) {
        syncer_idle_ = true;
        syncer_wake_.wait(lock);
      }
      syncer_idle_ = false;
      if (applied_.empty()) return;  // the writer finished and everything was answered
      batch.swap(applied_);
    }
    writer_room_.notify_one();
    // One fsync for every group taken: each was committed before this sync began.
    const bool wrote = std::any_of(batch.begin(), batch.end(), [](const AppliedGroup& g) { return g.wrote; });
    Status synced;
    if (wrote) {
      try {
        const auto started = std::chrono::steady_clock::now();
        synced = store_.sync();
        commit_metrics().store_sync.observe_seconds_since(started);
      } catch (...) {
        synced = fail("internal_error", "the sync failed unexpectedly: " + current_exception_text());
      }
      if (!synced) spdlog::error("sync of {} commit groups failed: {}", batch.size(), synced.error().message);
    }
    for (auto& applied : batch) answer(applied, synced);
  }
}

// Publishes a durable group's deltas (ascending ids) and answers its committers, in order. After
// a failed sync nothing of the group is published and every committer gets the sync's error:
// whether the commit reached the disk is unknown, and its idempotency keys make a retry safe.
void CommitPipeline::answer(AppliedGroup& applied, const Status& synced) {
  try {
    if (applied.jobs.size() == 1 && applied.jobs.front()->exclusive) {  // (an audit-only group has no jobs)
      Job& job = *applied.jobs.front();
      if (applied.wrote && !synced) job.exclusive_result.set_value(tl::unexpected(synced.error()));
      else job.exclusive_result.set_value(std::move(job.outcome_value));
      return;
    }
    if (applied.wrote && !synced) {
      for (auto& job : applied.jobs) job->finish(tl::unexpected(synced.error()));
      return;
    }
    std::vector<store::Delta> all;
    for (auto& job : applied.jobs) {
      for (auto& delta : job->deltas) all.push_back(std::move(delta));
    }
    commit_metrics().group_size.observe(static_cast<double>(applied.jobs.size()));
    commit_metrics().deltas.add(all.size());
    if (!all.empty()) {
      if (options_.publish) {
        options_.publish(all);
      } else {
        hub_.publish(all);
      }
    }
    for (auto& job : applied.jobs) job->finish(std::move(job->outcome));
  } catch (...) {
    spdlog::error("answering a commit group of {} threw: {}", applied.jobs.size(), current_exception_text());
    for (auto& job : applied.jobs) job->fail_unexpectedly();
  }
}

// Meters the group's applied commits as `commit_ops` per (tenant, key, UTC day): total = ops,
// count = commits (http-api.md §6.3); replayed commits wrote nothing and are not counted. Also
// writes the hub's delivery and connection counts, at most once a second: draining walks every
// subscription, which is not worth doing for each group on a busy writer.
Status CommitPipeline::record_usage(store::WriteTransaction& txn, const Group& group) {
  std::map<std::pair<std::string, std::string>, std::pair<double, int64_t>> usage;
  for (const auto& job : group) {
    if (!job->outcome || job->deltas.empty()) continue;
    auto& entry = usage[{job->tenant, job->request.principal.key_id}];
    entry.first += static_cast<double>(job->outcome->ops);
    entry.second += 1;
  }
  const std::string day = iso8601_from_ms(now_ms()).substr(0, 10);
  for (const auto& [who, amount] : usage) {
    if (auto ok = txn.add_usage(who.first, day, who.second, "commit_ops", amount.first, amount.second); !ok) return ok;
  }
  const int64_t now = now_ms();
  if (now - meters_flushed_at_ms_ < kMeterFlushIntervalMs) return {};
  meters_flushed_at_ms_ = now;
  for (const auto& [who, metered] : hub_.drain_meters()) {
    if (metered.deltas_delivered > 0) {
      auto ok = txn.add_usage(who.first, day, who.second, "deltas_delivered",
                              static_cast<double>(metered.deltas_delivered), metered.deltas_delivered);
      if (!ok) return ok;
    }
    if (metered.connections_opened > 0) {
      auto ok = txn.add_usage(who.first, day, who.second, "ws_connections",
                              static_cast<double>(metered.connections_opened), metered.connections_opened);
      if (!ok) return ok;
    }
  }
  return {};
}

// Every idempotency key the group's commits will look up (duplicates are harmless).
std::vector<std::pair<std::string, std::string>> CommitPipeline::idempotency_keys(const Group& group) {
  std::vector<std::pair<std::string, std::string>> keys;
  for (const auto& job : group) {
    const std::string& tenant = job->tenant;
    if (auto key = commit_key(job->request); !key.empty()) keys.emplace_back(tenant, std::move(key));
    if (const auto& echoed = job->request.skip_if_committed; !echoed.empty()) {
      keys.emplace_back(tenant, "ctx:" + echoed);
      keys.emplace_back(tenant, repair_key(echoed));
    }
    if (job->request.mode == CommitMode::kCheckOnly && !job->request.client_tx_id.empty()) {
      keys.emplace_back(tenant, repair_key(job->request.client_tx_id));
    }
    for (const auto& op : job->request.operations) {
      if (auto key = operation_key(op); !key.empty()) keys.emplace_back(tenant, std::move(key));
    }
  }
  return keys;
}

// What the group's commits will read, for a store that reads it all at once (begin_batch):
// the rows their operations and row premises name, their readAt checks, their idempotency
// keys, their tenants' audit chains and their capabilities' open tasks.
store::GroupReads CommitPipeline::group_reads(const Group& group, const schema::Schema& schema) const {
  store::GroupReads reads;
  reads.idempotency = idempotency_keys(group);
  const bool audited = !options_.audit_key.empty();
  if (audited) {
    for (const auto& row : audit_batch_) reads.audit_tenants.push_back(row.tenant);
  }
  for (const auto& job : group) {
    const auto& request = job->request;
    const std::string& tenant = job->tenant;
    const std::string& participant = request.principal.participant_id;
    if (audited) reads.audit_tenants.push_back(tenant);
    if (request.attribute_to_open_task) reads.open_tasks.emplace_back(tenant, request.principal.capability_id);
    const auto read_row = [&](const std::string& model_name, const std::string& id, std::optional<int64_t> stale_after) {
      const schema::Model* model = schema.resolve(model_name);
      if (!model) return;
      reads.rows.push_back({model, tenant, id});
      if (stale_after) reads.foreign_writes.push_back({tenant, model->typename_, id, *stale_after, participant});
    };
    for (const auto& op : request.operations) {
      const bool checked = op.read_at && op.type != OpType::kCreate && op.on_stale.value_or(OnStale::kReject) != OnStale::kForce;
      read_row(op.model, op.id, checked ? op.read_at : std::nullopt);
    }
    for (const auto& premise : request.reads) {
      if (const auto* row = std::get_if<RowPremise>(&premise)) read_row(row->model, row->id, row->read_at);
    }
  }
  return reads;
}

// Nothing of the group was applied (one transaction). A database that is unreachable or
// aborted the transaction says so (retryable store_* codes); anything else is internal.
// The answers go out through the syncer, after those of earlier groups.
void CommitPipeline::fail_group(Group& group, const Error& error) {
  spdlog::error("commit group of {} failed: {}", group.size(), error.message);
  const bool store_level = is_store_failure(error);
  for (auto& job : group) {
    job->deltas.clear();
    job->outcome = store_level ? tl::unexpected(error) : fail("internal_error", "the commit could not be made durable; retry");
  }
}

CommitPipeline::AppliedGroup CommitPipeline::run_exclusive_job(Group& group) {
  Job& job = *group.front();
  Result<int64_t> result = fail("internal_error", "not run");
  auto written = store_.write_unsynced([&](store::WriteTransaction& txn) -> Status {
    result = job.exclusive(txn);
    if (!result) return tl::unexpected(result.error());
    return {};
  });
  if (!written && result) result = tl::unexpected(written.error());
  // The new schema is active for the groups applied next; its pusher hears of it once durable.
  if (result && job.after_commit) job.after_commit();
  const bool wrote = result.has_value();
  job.outcome_value = std::move(result);
  return AppliedGroup{std::move(group), wrote};
}

CommitPipeline::AppliedGroup CommitPipeline::apply_group(Group& group) {
  const auto schema = schema_.get();
  std::shared_ptr<WriteGate> gate;
  {
    std::lock_guard lock(queue_mutex_);
    gate = gate_;
  }
  if (gate) {
    if (auto ready = gate->before_group(); !ready) {
      fail_group(group, ready.error());
      return AppliedGroup{std::move(group), false};
    }
  }
  const FindForeignChange find_foreign = [this](const std::string& tenant, int64_t read_at,
                                                const std::string& participant_id,
                                                const std::function<bool(const store::Delta&)>& matches,
                                                int max_deltas) {
    return find_foreign_in_log(store_, tenant, read_at, participant_id, matches, max_deltas);
  };
  // First batched (a store that batches reads the group's rows at once and sends its writes
  // with COMMIT); a batched group the database refused runs again unbatched, so the refusal
  // falls on the commit it belongs to.
  bool try_batch = true;
  bool batched = false;
  const store::GroupReads reads = group_reads(group, *schema);
  // A commit that fails must leave nothing behind. One that may fail after its first write (a
  // commit of several operations: a later one can be refused; a check-only commit, undone
  // whatever happens) runs in a savepoint of its own. A commit of one operation checks
  // everything before it writes, so a refusal leaves nothing to undo and, on a store where a
  // failed statement leaves the transaction as it was (SQLite), it runs without one: a
  // savepoint costs two statements and a copy of every page the commit touches. Should such a
  // commit fail after a write anyway (an exception, an audit row or a held-back write refused),
  // the whole attempt is rolled back and the group applied again with a savepoint for every
  // commit, so the outcome is the same as if each had had one from the start.
  bool savepoint_every_commit = false;
  bool retry_with_savepoints = false;
  const auto body = [&](store::WriteTransaction& txn) -> Status {
    if (try_batch) {
      auto began = txn.begin_batch(reads);
      if (!began) return tl::unexpected(began.error());
      batched = *began;
    }
    GroupIdempotency idempotency(txn);
    GroupTaskAttribution open_tasks(txn);
    AuditChain audit_chain(txn, options_.audit_key);
    if (auto ok = append_audit_batch(txn, audit_chain); !ok) return ok;
    if (auto ok = idempotency.prefetch(reads.idempotency); !ok) return ok;
    for (auto& job_ptr : group) {
      Job& job = *job_ptr;
      job.deltas.clear();
      const std::string ctx_key = commit_key(job.request);
      if (!ctx_key.empty()) {
        auto cached = idempotency.find(job.tenant, ctx_key);
        if (!cached) return tl::unexpected(cached.error());
        if (*cached) {
          if (auto replayed = replay(**cached, job.request)) {
            job.outcome = std::move(*replayed);
            if (job.request.mode == CommitMode::kCheckOnly) job.finish(std::move(job.outcome));
            continue;
          }
        }
      }
      if (!job.request.skip_if_committed.empty()) {
        auto committed = idempotency.find(job.tenant, "ctx:" + job.request.skip_if_committed);
        if (!committed) return tl::unexpected(committed.error());
        if (*committed) {
          job.outcome = echo_receipt(job.request, hub_.head());
          continue;
        }
      }
      if (job.request.mode == CommitMode::kCheckOnly && !job.request.client_tx_id.empty()) {
        auto repaired = idempotency.find(job.tenant, repair_key(job.request.client_tx_id));
        if (!repaired) return tl::unexpected(repaired.error());
        if (*repaired) {  // its write is here already (skip_if_committed): the source answers the retry
          job.finish(echo_receipt(job.request, hub_.head()));
          continue;
        }
      }
      if (auto ok = open_tasks.attribute(job.request); !ok) return ok;
      const bool in_savepoint = savepoint_every_commit || !txn.failed_statement_keeps_transaction() ||
                                job.request.operations.size() > 1 || job.request.mode == CommitMode::kCheckOnly;
      if (in_savepoint) {
        if (auto ok = txn.savepoint(); !ok) return ok;
      }
      idempotency.savepoint();
      audit_chain.savepoint();
      CommitApplier applier(txn, idempotency, *schema, gate.get(), job.request, job.tenant, job.fingerprints, find_foreign);
      try {
        job.outcome = applier.apply(job.deltas);
      } catch (...) {  // this commit alone fails: it is rolled back below
        spdlog::error("commit '{}' threw: {}", job.request.client_tx_id, current_exception_text());
        job.outcome = fail("internal_error", "the commit failed unexpectedly; nothing of it was applied");
      }
      // From here on an applied commit writes its records, so a later failure has writes to undo.
      const bool applied = job.outcome.has_value();
      if (job.request.mode == CommitMode::kCheckOnly) {  // checked: now undo every write of it
        job.deltas.clear();
        idempotency.rollback();
        audit_chain.rollback();
        if (auto ok = txn.rollback_to_savepoint(); !ok) return ok;
        // It wrote nothing, so its answer need not wait for the group's fsync (the data source
        // round trip that follows is the slow part of a forwarded commit).
        job.finish(std::move(job.outcome));
        continue;
      }
      // A canonical commit that changed nothing (its rows were ours already) is as recent as
      // the log: its receipt's position is the head, not 0.
      if (job.outcome && job.request.mode == CommitMode::kCanonical && job.outcome->last_sync_id == 0) {
        job.outcome->last_sync_id = hub_.head();
      }
      if (job.outcome && !job.request.skip_if_committed.empty()) {
        auto ok = idempotency.put(job.tenant, repair_key(job.request.skip_if_committed), "1");
        if (!ok) return ok;
      }
      if (job.outcome && !ctx_key.empty()) {
        auto ok = idempotency.put(job.tenant, ctx_key,
                                      idempotency_record(*job.outcome, job.request));
        if (!ok) return ok;
      }
      // The commit's audit row, in its savepoint: rolled back with it, never without it.
      if (job.outcome && !options_.audit_key.empty()) {
        auto header = std::exchange(job.audit_header, std::nullopt);
        if (!header) header = commit_audit_header(job.request, *schema);
        auto ok = audit_chain.append(commit_audit_row(std::move(*header), job.request, job.deltas, job.outcome->created_at_ms));
        if (!ok) {
          if (is_store_failure(ok.error())) return ok;
          job.outcome = tl::unexpected(ok.error());
        }
      }
      // The commit's held-back writes go out now, so a failure among them (a duplicate id
      // another node created meanwhile, a CHECK) fails this commit alone. A lost database
      // fails the group.
      if (job.outcome) {
        if (auto flushed = txn.flush(); !flushed) {
          if (is_store_failure(flushed.error())) return flushed;
          job.outcome = tl::unexpected(flushed.error());
        }
      }
      if (!job.outcome) {
        if (!in_savepoint && (applied || applier.wrote() || !txn.failed_statement_keeps_transaction())) {
          retry_with_savepoints = true;
          return fail("internal_error", "a commit without a savepoint failed after writing or lost the transaction");
        }
        job.deltas.clear();
        idempotency.rollback();
        audit_chain.rollback();
        if (in_savepoint) {
          if (auto ok = txn.rollback_to_savepoint(); !ok) return ok;
        }
        continue;
      }
      if (in_savepoint) {
        if (auto ok = txn.release_savepoint(); !ok) return ok;
      }
    }
    return record_usage(txn, group);
  };
  auto written = store_.write_unsynced(body);
  if (!written && batched && written.error().code != kStoreUnavailable.view()) {
    spdlog::warn("batched commit group of {} refused ({}); applying it commit by commit", group.size(),
                 written.error().message);
    try_batch = batched = false;
    written = store_.write_unsynced(body);
  }
  if (!written && std::exchange(retry_with_savepoints, false)) {
    spdlog::warn("a commit of a group of {} failed after writing: the group is applied again with savepoints",
                 group.size());
    savepoint_every_commit = true;
    written = store_.write_unsynced(body);
  }

  if (!written) {
    // The queued audit rows stay in audit_batch_ for the next group (nothing of this one stays).
    if (!audit_batch_.empty()) spdlog::warn("{} queued audit rows wait for the next commit group", audit_batch_.size());
    fail_group(group, written.error());
    return AppliedGroup{std::move(group), false};
  }
  audit_batch_.clear();
  return AppliedGroup{std::move(group), true};
}

// The queued non-commit rows, in queue order, in one savepoint of the group's transaction (the
// same chain cache as the group's commits, so each tenant's chain keeps one order). A store
// failure fails the group and keeps the rows; rows the store refuses for what they are would
// be refused by every later group too, so they are dropped, loudly.
Status CommitPipeline::append_audit_batch(store::WriteTransaction& txn, AuditChain& chain) {
  if (audit_batch_.empty()) return {};
  if (auto ok = txn.savepoint(); !ok) return ok;
  chain.savepoint();
  Status appended;
  for (const auto& row : audit_batch_) {
    appended = chain.append(row);
    if (!appended) break;
  }
  if (appended) appended = txn.flush();
  if (appended) return txn.release_savepoint();
  if (is_store_failure(appended.error())) return appended;
  spdlog::error("{} queued audit rows were refused by the store and are dropped: {}", audit_batch_.size(),
                appended.error().message);
  audit_dropped_ += audit_batch_.size();
  audit_batch_.clear();
  chain.rollback();
  return txn.rollback_to_savepoint();
}

}  // namespace ablo::engine
