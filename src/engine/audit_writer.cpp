#include "engine/audit_writer.h"

#include <boost/json.hpp>

namespace ablo::engine {

namespace json = boost::json;

Status AuditChain::append(audit::AuditRow row) {
  auto cached = links_.find(row.tenant);
  if (cached == links_.end()) {
    auto last = txn_.last_audit_link(row.tenant);
    if (!last) return tl::unexpected(last.error());
    audit::ChainLink link;
    if (*last) link = audit::ChainLink{(*last)->first, (*last)->second};
    cached = links_.emplace(row.tenant, std::move(link)).first;
  }
  undo_.emplace_back(row.tenant, cached->second);
  std::string stored_json;
  const auto next = audit::seal(key_, row, cached->second, &stored_json);
  if (auto ok = txn_.append_audit(to_record(row, std::move(stored_json))); !ok) return ok;
  cached->second = next;
  return {};
}

void AuditChain::rollback() {
  for (auto it = undo_.rbegin(); it != undo_.rend(); ++it) {
    if (it->second) links_[it->first] = *it->second;
    else links_.erase(it->first);
  }
  undo_.clear();
}

namespace {

std::string_view verb_name(OpType type) {
  switch (type) {
    case OpType::kCreate: return "create";
    case OpType::kUpdate: return "update";
    case OpType::kDelete: return "delete";
    case OpType::kArchive: return "archive";
    case OpType::kUnarchive: return "unarchive";
  }
  return "update";
}

std::optional<std::string> non_empty(const std::string& text) {
  return text.empty() ? std::nullopt : std::optional<std::string>(text);
}

// Who the principal is, as every audit row attributes it.
audit::AuditRow attributed_row(const auth::Principal& principal, int64_t occurred_at_ms) {
  audit::AuditRow row;
  row.tenant = principal.tenant.key();
  row.occurred_at_ms = occurred_at_ms;
  row.actor_kind = principal.participant_kind;
  row.actor_id = principal.participant_id;
  row.on_behalf_of_kind = non_empty(principal.on_behalf_of_kind);
  row.on_behalf_of_id = non_empty(principal.on_behalf_of_id);
  row.credential_id = principal.credential_id();
  row.credential_label = non_empty(principal.credential_label);
  // The human the chain of delegation starts from: the user itself, or the user an agent acts
  // for. A system principal or a secret key has none (http-api.md §6.4 [rec]).
  if (principal.participant_kind == "user") row.delegation_chain_root = principal.participant_id;
  else if (principal.on_behalf_of_kind == "user") row.delegation_chain_root = principal.on_behalf_of_id;
  return row;
}

}  // namespace

std::string delta_digest(const std::vector<store::Delta>& deltas) {
  audit::DeltaDigest digest;
  for (const auto& delta : deltas) {
    digest.add(delta.id, delta.action, delta.model_name, delta.model_id, delta.data ? &*delta.data : nullptr);
  }
  return digest.finish();
}

audit::AuditRow commit_audit_header(const CommitRequest& request, const schema::Schema& schema) {
  audit::AuditRow row = attributed_row(request.principal, 0);
  row.action_type = "commit";
  std::vector<audit::DiffOp> ops;
  ops.reserve(request.operations.size());
  for (const auto& op : request.operations) {
    const schema::Model* model = schema.resolve(op.model);
    audit::DiffOp entry{model ? model->key : op.model, op.id, std::string(verb_name(op.type)), {}};
    entry.fields.reserve(op.input.size());
    for (const auto& field : op.input) entry.fields.emplace_back(field.key());
    ops.push_back(std::move(entry));
  }
  row.diff_summary = audit::diff_summary_json(ops);
  row.commit_id = non_empty(request.client_tx_id);
  return row;
}

audit::AuditRow commit_audit_row(audit::AuditRow header, const CommitRequest& request,
                                 const std::vector<store::Delta>& deltas, int64_t occurred_at_ms) {
  audit::AuditRow row = std::move(header);
  row.occurred_at_ms = occurred_at_ms;
  row.caused_by_task_id = non_empty(request.caused_by_task_id);
  if (!deltas.empty()) {
    row.first_sync_id = deltas.front().id;
    row.last_sync_id = deltas.back().id;
  }
  row.delta_digest = delta_digest(deltas);
  return row;
}

audit::AuditRow action_audit_row(const auth::Principal& principal, std::string action_type, json::value summary,
                                 int64_t occurred_at_ms) {
  audit::AuditRow row = attributed_row(principal, occurred_at_ms);
  row.action_type = std::move(action_type);
  row.diff_summary = std::move(summary);
  return row;
}

store::AuditRecord to_record(const audit::AuditRow& row, std::string row_json) {
  return store::AuditRecord{row.tenant,
                            row.chain_seq,
                            row.occurred_at_ms,
                            row.actor_kind,
                            row.actor_id,
                            row.credential_id,
                            row.action_type,
                            row.model_name.value_or(""),
                            row.commit_id.value_or(""),
                            std::move(row_json),
                            row.row_hash};
}

}  // namespace ablo::engine
