#include "sdk/outbox.h"

#include <algorithm>
#include <array>
#include <cctype>
#include <cmath>
#include <random>
#include <set>

#include <boost/json/serialize.hpp>
#include <fmt/format.h>

#include "common/random.h"
#include "errors/registry.h"

namespace ablo::sdk_detail {

namespace outbox_detail {

// Codes the registry marks retryable but that re-sending the same premise cannot fix (§5.4).
constexpr std::array<std::string_view, 7> kFinalDespiteRetryable = {
    "stale_context", "entity_claimed", "claim_conflict", "intent_conflict",
    "claim_lost",    "model_claimed",  "model_claimed_timeout"};

using RowKey = std::pair<std::string, std::string>;  // (model, row id)

void merge_patch(JsonObject& into, const JsonObject& later) {
  for (const auto& field : later) {
    // 0.9.1 merges a JSON-object `metadata` per key; every other field: the later value wins.
    if (field.key() == "metadata" && field.value().is_object()) {
      if (auto* earlier = into.if_contains("metadata"); earlier && earlier->is_object()) {
        for (const auto& inner : field.value().get_object()) earlier->get_object()[inner.key()] = inner.value();
        continue;
      }
    }
    into[field.key()] = field.value();
  }
}

std::optional<int64_t> retry_after_ms(const Error& error) {
  if (const auto* ms = error.details.if_contains("retryAfterMs"); ms && ms->is_number()) {
    return static_cast<int64_t>(ms->to_number<double>());
  }
  if (const auto* seconds = error.details.if_contains("retryAfter"); seconds && seconds->is_number()) {
    return static_cast<int64_t>(seconds->to_number<double>() * 1000.0);
  }
  return std::nullopt;
}

}  // namespace outbox_detail

namespace od = outbox_detail;

std::string_view to_string(Lane lane) { return lane == Lane::kModel ? "model" : "commit"; }

std::string_view wire_action(Action action) {
  switch (action) {
    case Action::kCreate: return "CREATE";
    case Action::kUpdate: return "UPDATE";
    case Action::kDelete: return "DELETE";
    case Action::kArchive: return "ARCHIVE";
    case Action::kUnarchive: return "UNARCHIVE";
  }
  return "UPDATE";
}

std::string_view wire_on_stale(OnStale on_stale) {
  switch (on_stale) {
    case OnStale::kReject: return "reject";
    case OnStale::kForce: return "force";
    case OnStale::kFlag: return "flag";
  }
  return "reject";
}

FailureClass classify_commit_failure(const Error& error) {
  for (std::string_view final_code : od::kFinalDespiteRetryable) {
    if (error.code == final_code) return FailureClass::kFinal;
  }
  return errors::retryable(error.code) ? FailureClass::kTransient : FailureClass::kFinal;
}

std::string wire_model_name(const schema::Schema& schema, std::string_view model) {
  const schema::Model* found = schema.by_key(model);
  if (!found) found = schema.resolve(model);
  std::string name = found ? found->typename_ : std::string(model);
  if (found) {
    if (auto at = name.find("Model"); at != std::string::npos) name.erase(at, 5);
  }
  for (char& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return name;
}

std::string build_commit_frame(std::string_view client_tx_id, const std::vector<const OutboxEntry*>& operations,
                               const schema::Schema& schema) {
  boost::json::array ops;
  ops.reserve(operations.size());
  for (const OutboxEntry* entry : operations) {
    boost::json::object op;
    op["type"] = wire_action(entry->action);
    op["model"] = wire_model_name(schema, entry->model);
    op["id"] = entry->row_id;
    if (entry->action == Action::kCreate || entry->action == Action::kUpdate) op["input"] = entry->data;
    op["transactionId"] = entry->transaction_id;
    if (entry->read_at) op["readAt"] = *entry->read_at;
    if (entry->on_stale) op["onStale"] = wire_on_stale(*entry->on_stale);
    ops.push_back(std::move(op));
  }
  boost::json::object payload;
  payload["operations"] = std::move(ops);
  payload["clientTxId"] = client_tx_id;
  boost::json::object frame;
  frame["type"] = "commit";
  frame["payload"] = std::move(payload);
  return boost::json::serialize(frame);
}

Outbox::Outbox(std::shared_ptr<const schema::Schema> schema, OutboxPolicy policy, std::function<std::string()> new_id,
               std::function<double()> random01)
    : schema_(std::move(schema)), policy_(policy), new_id_(std::move(new_id)), random01_(std::move(random01)) {
  if (!new_id_) new_id_ = [] { return random_uuid(); };
  if (!random01_) {
    random01_ = [engine = std::mt19937_64(std::random_device{}())]() mutable {
      return std::uniform_real_distribution<double>(0.0, 1.0)(engine);
    };
  }
}

Status Outbox::restore(OutboxEntry entry) {
  if (entry.seq <= last_seq_) {
    return fail("invalid_request", fmt::format("outbox seq {} is not after {}", entry.seq, last_seq_), "seq");
  }
  if (entry.lane == Lane::kCommit && !entry.frame_id) {
    return fail("invalid_request", "a commit-lane entry needs its clientTxId (frame_id)", "frame_id");
  }
  last_seq_ = entry.seq;
  const int64_t seq = entry.seq;
  index_entry(entries_.emplace(seq, std::move(entry)).first->second);
  return {};
}

void Outbox::index_entry(const OutboxEntry& entry) {
  LaneIndex& lane = lane_index(entry.lane);
  if (!entry.acked_sync_id) {
    lane.unacked.insert(entry.seq);
    if (!entry.frame_id) lane.unframed.insert(entry.seq);
  }
  if (entry.frame_id) by_frame_[*entry.frame_id].insert(entry.seq);
  if (entry.lane == Lane::kModel) {
    if (entry.acked_sync_id) acked_.emplace(*entry.acked_sync_id, entry.seq);
    by_row_[{entry.model, entry.row_id}].insert(entry.seq);
  }
}

void Outbox::unindex_entry(const OutboxEntry& entry) {
  LaneIndex& lane = lane_index(entry.lane);
  lane.unacked.erase(entry.seq);
  lane.unframed.erase(entry.seq);
  if (entry.frame_id) {
    if (auto frame = by_frame_.find(*entry.frame_id); frame != by_frame_.end()) {
      frame->second.erase(entry.seq);
      if (frame->second.empty()) by_frame_.erase(frame);
    }
  }
  if (entry.lane == Lane::kModel) {
    if (entry.acked_sync_id) acked_.erase({*entry.acked_sync_id, entry.seq});
    if (auto row = by_row_.find({entry.model, entry.row_id}); row != by_row_.end()) {
      row->second.erase(entry.seq);
      if (row->second.empty()) by_row_.erase(row);
    }
  }
}

template <class Mutation>
void Outbox::change(OutboxEntry& entry, Mutation&& mutation) {
  unindex_entry(entry);
  mutation(entry);
  index_entry(entry);
}

Result<AppendResult> Outbox::append(OutboxEntry entry) {
  if (entry.seq <= last_seq_) {
    return fail("invalid_request", fmt::format("outbox seq {} is not after {}", entry.seq, last_seq_), "seq");
  }
  if (entry.lane == Lane::kModel && entry.action == Action::kUpdate && !entry.has_idempotency_key) {
    // The row's last pending entry on the model lane.
    OutboxEntry* last = nullptr;
    if (auto row = by_row_.find({entry.model, entry.row_id}); row != by_row_.end()) {
      last = &entries_.at(*row->second.rbegin());
    }
    if (last && last->action == Action::kUpdate && !last->frame_id && !last->acked_sync_id &&
        !last->has_idempotency_key && last->on_stale == entry.on_stale) {
      od::merge_patch(last->data, entry.data);
      for (const auto& field : entry.previous) {
        if (!last->previous.contains(field.key())) last->previous[field.key()] = field.value();
      }
      last_seq_ = entry.seq;  // the absorbed seq is spent, never reused
      return AppendResult{true, last->seq};
    }
  }
  const int64_t seq = entry.seq;
  if (auto ok = restore(std::move(entry)); !ok) return tl::unexpected(ok.error());
  return AppendResult{false, seq};
}

std::vector<OutboxEntry*> Outbox::frame_entries(std::string_view client_tx_id) {
  std::vector<OutboxEntry*> out;
  auto frame = by_frame_.find(client_tx_id);
  if (frame == by_frame_.end()) return out;
  out.reserve(frame->second.size());
  for (int64_t seq : frame->second) out.push_back(&entries_.at(seq));
  return out;
}

std::vector<OutboxEntry*> Outbox::order_for_wire(std::vector<OutboxEntry*> batch) const {
  // T13: a create whose belongsTo parent is created later in the same frame waits for that
  // parent's create; later ops on a waiting row wait behind it, so each row keeps its own order.
  std::map<od::RowKey, std::size_t> create_at;  // (model, id) → position of its create in the batch
  for (std::size_t i = 0; i < batch.size(); ++i) {
    if (batch[i]->action == Action::kCreate) create_at.emplace(od::RowKey{batch[i]->model, batch[i]->row_id}, i);
  }
  auto later_parent = [&](const OutboxEntry& entry, std::size_t position) -> std::optional<od::RowKey> {
    const schema::Model* model = schema_->by_key(entry.model);
    if (!model || entry.action != Action::kCreate) return std::nullopt;
    for (const schema::Relation& relation : model->relations) {
      if (relation.type != schema::RelationType::kBelongsTo) continue;
      const auto* fk = entry.data.if_contains(relation.foreign_key);
      if (!fk || !fk->is_string()) continue;
      auto parent = create_at.find(od::RowKey{relation.target, std::string(fk->get_string())});
      if (parent != create_at.end() && parent->second > position) return parent->first;
    }
    return std::nullopt;
  };
  std::map<od::RowKey, std::vector<OutboxEntry*>> waiting;  // parent row → ops emitted after its create
  std::map<od::RowKey, od::RowKey> waits_on;                // a deferred row → the parent it waits for
  std::vector<OutboxEntry*> out;
  out.reserve(batch.size());
  std::function<void(OutboxEntry*)> emit = [&](OutboxEntry* entry) {
    out.push_back(entry);
    if (entry->action != Action::kCreate) return;
    auto children = waiting.find(od::RowKey{entry->model, entry->row_id});
    if (children == waiting.end()) return;
    std::vector<OutboxEntry*> ready = std::move(children->second);
    waiting.erase(children);
    for (OutboxEntry* child : ready) emit(child);
  };
  for (std::size_t i = 0; i < batch.size(); ++i) {
    OutboxEntry* entry = batch[i];
    const od::RowKey row{entry->model, entry->row_id};
    if (auto blocked = waits_on.find(row); blocked != waits_on.end()) {
      waiting[blocked->second].push_back(entry);
      continue;
    }
    if (auto parent = later_parent(*entry, i)) {
      waits_on.emplace(row, *parent);
      waiting[*parent].push_back(entry);
      continue;
    }
    emit(entry);
  }
  return out;
}

Frame Outbox::make_frame(Lane lane, const std::string& client_tx_id, const std::vector<OutboxEntry*>& batch, bool first) {
  Frame frame;
  frame.lane = lane;
  frame.client_tx_id = client_tx_id;
  frame.first_send = first;
  std::vector<OutboxEntry*> ordered = lane == Lane::kModel ? order_for_wire(batch) : batch;
  std::vector<const OutboxEntry*> operations(ordered.begin(), ordered.end());
  for (const OutboxEntry* entry : operations) frame.seqs.push_back(entry->seq);
  frame.wire = build_commit_frame(client_tx_id, operations, *schema_);
  return frame;
}

std::optional<Frame> Outbox::next_frame(Lane lane) {
  if (in_flight(lane)) return std::nullopt;
  // The oldest entry of the lane not yet accepted decides: a frame already built is re-sent as is.
  LaneIndex& index = lane_index(lane);
  if (index.unacked.empty()) return std::nullopt;
  OutboxEntry& head = entries_.at(*index.unacked.begin());
  if (head.frame_id) {
    const std::string id = *head.frame_id;
    return make_frame(lane, id, frame_entries(id), false);
  }
  std::vector<OutboxEntry*> batch;
  const std::size_t limit = std::max<std::size_t>(1, policy_.max_batch_ops);
  for (auto seq = index.unframed.begin(); seq != index.unframed.end() && batch.size() < limit; ++seq) {
    batch.push_back(&entries_.at(*seq));
  }
  const std::string id = "ctx_" + new_id_();
  // `change` erases from `unframed` while nothing iterates it any more.
  for (OutboxEntry* entry : batch) change(*entry, [&id](OutboxEntry& e) { e.frame_id = id; });
  return make_frame(lane, id, batch, true);
}

void Outbox::mark_sent(const Frame& frame) {
  (frame.lane == Lane::kModel ? in_flight_model_ : in_flight_commit_) = frame.client_tx_id;
}

bool Outbox::in_flight(Lane lane) const {
  return (lane == Lane::kModel ? in_flight_model_ : in_flight_commit_).has_value();
}

SuccessOutcome Outbox::on_success(std::string_view client_tx_id, int64_t last_sync_id) {
  SuccessOutcome outcome;
  std::vector<OutboxEntry*> frame = frame_entries(client_tx_id);
  for (auto* slot : {&in_flight_model_, &in_flight_commit_}) {
    if (*slot && **slot == client_tx_id) slot->reset();
  }
  std::vector<int64_t> finished;
  for (OutboxEntry* entry : frame) {
    if (entry->lane == Lane::kCommit) {
      finished.push_back(entry->seq);
    } else if (!entry->acked_sync_id) {
      change(*entry, [last_sync_id](OutboxEntry& e) { e.acked_sync_id = last_sync_id; });
      outcome.acked.push_back(entry->seq);
    }
  }
  outcome.completed = remove_seqs(finished);
  return outcome;
}

std::vector<OutboxEntry> Outbox::confirmed(int64_t cursor) {
  // acked_ is ordered by L: the confirmed entries are its prefix. L = 0 on success never
  // happens with this server; treated as confirmed at once (§5.6).
  std::vector<int64_t> done;
  for (auto it = acked_.begin(); it != acked_.end() && it->first <= cursor; ++it) done.push_back(it->second);
  std::sort(done.begin(), done.end());  // seq order
  return remove_seqs(done);
}

std::vector<OutboxEntry> Outbox::take_all() {
  std::vector<OutboxEntry> all;
  all.reserve(entries_.size());
  for (auto& [seq, entry] : entries_) all.push_back(std::move(entry));
  entries_.clear();
  model_lane_ = {};
  commit_lane_ = {};
  by_frame_.clear();
  acked_.clear();
  by_row_.clear();
  in_flight_model_.reset();
  in_flight_commit_.reset();
  return all;
}

std::vector<OutboxEntry> Outbox::remove_seqs(const std::vector<int64_t>& seqs) {
  std::vector<OutboxEntry> removed;
  removed.reserve(seqs.size());
  for (int64_t seq : seqs) {
    auto it = entries_.find(seq);
    if (it == entries_.end()) continue;
    unindex_entry(it->second);
    removed.push_back(std::move(it->second));
    entries_.erase(it);
  }
  return removed;
}

std::chrono::milliseconds Outbox::retry_delay(int attempts, const Error& error) {
  // "Equal jitter": uniform in [d·(1−jitter), d], d = min(max, initial·2^(attempts−1)).
  const double exponent = std::min(attempts - 1, 30);
  const double full = std::min(static_cast<double>(policy_.retry.max.count()),
                               static_cast<double>(policy_.retry.initial.count()) * std::pow(2.0, std::max(0.0, exponent)));
  const double jitter = std::clamp(policy_.retry.jitter, 0.0, 1.0);
  auto delay = static_cast<int64_t>(full * (1.0 - jitter * random01_()));
  if (auto after = od::retry_after_ms(error)) delay = std::max(delay, *after);
  return std::chrono::milliseconds(delay);
}

FailureDecision Outbox::on_failure(std::string_view client_tx_id, const Error& error,
                                   std::chrono::milliseconds connected_elapsed) {
  FailureDecision decision;
  for (auto* slot : {&in_flight_model_, &in_flight_commit_}) {
    if (*slot && **slot == client_tx_id) slot->reset();
  }
  std::vector<OutboxEntry*> frame = frame_entries(client_tx_id);
  std::erase_if(frame, [](const OutboxEntry* entry) { return entry->acked_sync_id.has_value(); });
  if (frame.empty()) return decision;  // an answer for a frame this outbox no longer holds

  decision.error = error;
  if (classify_commit_failure(error) == FailureClass::kTransient) {
    int64_t spent = 0;
    int attempts = 0;
    for (OutboxEntry* entry : frame) {
      entry->retry_spent_ms += std::max<int64_t>(0, connected_elapsed.count());
      entry->attempts += 1;
      spent = std::max(spent, entry->retry_spent_ms);
      attempts = std::max(attempts, entry->attempts);
    }
    if (spent <= policy_.retry_window.count()) {
      decision.kind = FailureDecision::Kind::kRetry;
      decision.delay = retry_delay(attempts, error);
      return decision;
    }
    // D3: the window of connected time is used up; roll back with the last error.
  }

  decision.kind = FailureDecision::Kind::kFinal;
  const Lane lane = frame.front()->lane;
  std::set<od::RowKey> created;
  if (lane == Lane::kModel && frame.size() > 1) {
    // One refused operation must not take its innocent neighbours down with it (they were only
    // batched together): isolate it when the server says which one it was.
    const auto wire_order = order_for_wire(frame);
    if (const auto index = failing_operation(error); index && *index < wire_order.size()) {
      OutboxEntry* failing = wire_order[*index];
      for (OutboxEntry* entry : frame) {
        if (entry == failing) continue;
        change(*entry, [](OutboxEntry& e) { e.frame_id.reset(); });
        decision.requeued.push_back(entry->seq);
      }
      frame = {failing};
    }
  }
  std::vector<int64_t> frame_seqs;
  for (const OutboxEntry* entry : frame) {
    frame_seqs.push_back(entry->seq);
    if (entry->action == Action::kCreate) created.emplace(entry->model, entry->row_id);
  }
  decision.rolled_back = remove_seqs(frame_seqs);
  if (lane == Lane::kModel && !created.empty()) {
    std::vector<int64_t> orphans;
    for (const od::RowKey& row : created) {
      if (auto found = by_row_.find(row); found != by_row_.end()) orphans.insert(orphans.end(), found->second.begin(), found->second.end());
    }
    std::sort(orphans.begin(), orphans.end());  // seq order
    decision.cascaded = remove_seqs(orphans);
    decision.cascade_error = Error("entity_not_found", "the row's create was rolled back", "id");
  }
  return decision;
}

std::optional<std::size_t> failing_operation(const Error& error) {
  static constexpr std::string_view kPrefix = "operations[";
  for (const std::string* text : {&error.param, &error.message}) {
    if (!text->starts_with(kPrefix)) continue;
    std::size_t index = 0;
    std::size_t at = kPrefix.size();
    const std::size_t digits_from = at;
    while (at < text->size() && std::isdigit(static_cast<unsigned char>((*text)[at])) && at - digits_from < 6) {
      index = index * 10 + static_cast<std::size_t>((*text)[at++] - '0');
    }
    if (at > digits_from && at < text->size() && (*text)[at] == ']') return index;
  }
  return std::nullopt;
}

const OutboxEntry* Outbox::find(int64_t seq) const {
  auto it = entries_.find(seq);
  return it == entries_.end() ? nullptr : &it->second;
}

std::vector<const OutboxEntry*> Outbox::entries() const {
  std::vector<const OutboxEntry*> out;
  out.reserve(entries_.size());
  for (const auto& [seq, entry] : entries_) out.push_back(&entry);
  return out;
}

}  // namespace ablo::sdk_detail
