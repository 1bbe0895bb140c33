#include "sdk/replica.h"

#include <algorithm>
#include <cmath>

#include <boost/json/memory_resource.hpp>
#include <boost/json/serialize.hpp>
#include <fmt/format.h>

namespace ablo::sdk_detail {

namespace replica_detail {

class RowArena final : public boost::json::memory_resource {
 public:
  RowArena() = default;
  RowArena(const RowArena&) = delete;
  RowArena& operator=(const RowArena&) = delete;
  ~RowArena() override {
    for (void* chunk : chunks_) ::operator delete(chunk);
  }

 private:
  static constexpr std::size_t kChunk = 64 * 1024;  // below glibc's mmap threshold

  void* do_allocate(std::size_t bytes, std::size_t align) override {
    std::size_t at = (used_ + align - 1) / align * align;
    if (chunks_.empty() || at + bytes > size_) {
      size_ = std::max(kChunk, bytes);  // ::operator new aligns to 16, all json needs
      chunks_.push_back(::operator new(size_));
      at = 0;
    }
    used_ = at + bytes;
    return static_cast<char*>(chunks_.back()) + at;
  }
  void do_deallocate(void*, std::size_t, std::size_t) override {}
  bool do_is_equal(const boost::json::memory_resource& other) const noexcept override { return this == &other; }

  std::vector<void*> chunks_;
  std::size_t size_ = 0, used_ = 0;
};

bool archived_from(const JsonObject& data) {
  const auto* at = data.if_contains("archivedAt");
  return at && !at->is_null();
}

void merge_into(JsonObject& target, const JsonObject& patch) {
  for (const auto& field : patch) target[field.key()] = field.value();
}

SharedObject shared_with_id(JsonObject data, const std::string& id) {
  // Not operator[] when "id" is there (a snapshot row has it): boost::json's operator[] reserves
  // room for one more key first, which doubles a parsed object's exact-size table.
  if (auto* existing = data.if_contains("id")) {
    *existing = id;
  } else {
    data["id"] = id;
  }
  return std::make_shared<const JsonObject>(std::move(data));
}

// The fold of §5.2: the base, then each pending write in seq order.
void fold(RowState& row, const std::string& id) {
  if (row.pending.empty()) {  // the common case: the view is the confirmed object itself
    row.view = row.base ? row.base->data : nullptr;
    row.view_archived = row.base && row.base->archived;
    return;
  }
  std::optional<JsonObject> view;
  bool archived = false;
  if (row.base) {
    view.emplace(*row.base->data, boost::json::storage_ptr());  // on the default heap, not the arena
    archived = row.base->archived;
  }
  for (const PendingEdit& edit : row.pending) {
    switch (edit.action) {
      case Action::kCreate:
        if (!view) view.emplace();
        merge_into(*view, edit.data);
        break;
      case Action::kUpdate:
        if (view) merge_into(*view, edit.data);  // an update of a vanished row shows nothing
        break;
      case Action::kArchive:
        if (view) {
          archived = true;
          if (const auto* at = edit.data.if_contains("archivedAt")) (*view)["archivedAt"] = *at;
        }
        break;
      case Action::kUnarchive:
        if (view) {
          archived = false;
          (*view)["archivedAt"] = nullptr;
        }
        break;
      case Action::kDelete:
        view.reset();
        archived = false;
        break;
    }
  }
  row.view = view ? shared_with_id(std::move(*view), id) : nullptr;
  row.view_archived = row.view ? archived : false;
}

bool has_required_fields(const schema::Model& model, const JsonObject& data) {
  return std::all_of(model.fields.begin(), model.fields.end(),
                     [&](const schema::Field& field) { return field.optional || data.contains(field.name); });
}

}  // namespace replica_detail

boost::json::storage_ptr make_row_arena() { return boost::json::make_shared_resource<replica_detail::RowArena>(); }

bool same_row_value(const Row& a, const Row& b) {
  return a.id == b.id && a.version == b.version && a.pending == b.pending && a.archived == b.archived && a.data == b.data;
}

bool same_row(const std::optional<Row>& a, const std::optional<Row>& b) {
  if (a.has_value() != b.has_value()) return false;
  return !a || same_row_value(*a, *b);
}

Replica::Replica(std::shared_ptr<const schema::Schema> schema) : schema_(std::move(schema)) {
  for (const schema::Model& model : schema_->models()) {
    ModelState state;
    state.model = &model;
    for (const schema::Field& field : model.fields) {
      if (field.indexed) state.indexed_fields.push_back(field.name);
    }
    for (const schema::Relation& relation : model.relations) {
      if (relation.type != schema::RelationType::kBelongsTo || relation.foreign_key.empty()) continue;
      if (std::find(state.indexed_fields.begin(), state.indexed_fields.end(), relation.foreign_key) ==
          state.indexed_fields.end()) {
        state.indexed_fields.push_back(relation.foreign_key);
      }
    }
    for (const std::string& field : state.indexed_fields) state.indexes[field];
    models_.emplace(model.key, std::move(state));
  }
}

Replica::ModelState* Replica::state_for(std::string_view model) {
  auto it = models_.find(std::string(model));
  if (it != models_.end()) return &it->second;
  // Any wire form of the name (typename, lowercase, …) resolves to the schema key.
  const schema::Model* resolved = schema_->resolve(model);
  if (!resolved) return nullptr;
  it = models_.find(resolved->key);
  return it == models_.end() ? nullptr : &it->second;
}

const Replica::ModelState* Replica::state_for(std::string_view model) const {
  return const_cast<Replica*>(this)->state_for(model);
}

std::optional<Row> Replica::to_row(const ModelState& state, const std::string& id, const RowState& row) const {
  if (!row.view) return std::nullopt;
  Row out;
  out.model = state.model->key;
  out.id = id;
  out.data = *row.view;
  out.version = row.base ? row.base->version : 0;
  out.pending = !row.pending.empty();
  out.archived = row.view_archived;
  return out;
}

std::optional<Row> Replica::to_confirmed_row(const ModelState& state, const std::string& id, const RowState& row) {
  if (!row.base || row.base->ghost) return std::nullopt;
  Row out;
  out.model = state.model->key;
  out.id = id;
  out.data = *row.base->data;  // carries "id"
  out.version = row.base->version;
  out.archived = row.base->archived;
  return out;
}

std::string Replica::index_key(const Json& value) {
  if (value.is_number()) {
    // 1, 1.0 and 1u are one key: format the double value (integers exactly up to 2^53).
    const double number = value.to_number<double>();
    if (std::floor(number) == number && std::fabs(number) < 9.007199254740992e15) {
      return fmt::format("n{}", static_cast<int64_t>(number));
    }
    return fmt::format("n{}", number);
  }
  return boost::json::serialize(value);
}

void Replica::index_remove(ModelState& state, const std::string& id, const JsonObject& view) {
  for (const std::string& field : state.indexed_fields) {
    const auto* value = view.if_contains(field);
    auto& by_value = state.indexes[field];
    auto bucket = by_value.find(index_key(value ? *value : Json(nullptr)));
    if (bucket == by_value.end()) continue;
    bucket->second.erase(id);
    if (bucket->second.empty()) by_value.erase(bucket);
  }
}

void Replica::index_add(ModelState& state, const std::string& id, const JsonObject& view) {
  for (const std::string& field : state.indexed_fields) {
    const auto* value = view.if_contains(field);
    state.indexes[field][index_key(value ? *value : Json(nullptr))].insert(id);
  }
}

std::optional<Row> Replica::before_row(const ModelState& state, const std::string& id, const RowState& row) const {
  return observed(state) ? to_row(state, id, row) : std::nullopt;
}

std::optional<RowChange> Replica::refold(ModelState& state, const std::string& id, const std::optional<Row>& before,
                                         bool base_touched) {
  auto it = state.rows.find(id);
  if (it == state.rows.end()) return std::nullopt;
  RowState& row = it->second;
  const SharedObject view_before = row.view;
  const bool archived_before = row.view_archived;
  // A ghost base (D9) lives only as long as the writes that kept it.
  if (row.base && row.base->ghost && row.pending.empty()) row.base.reset();
  if (row.view) {
    index_remove(state, id, *row.view);
    --state.visible;
  }
  replica_detail::fold(row, id);
  if (row.view) {
    index_add(state, id, *row.view);
    ++state.visible;
  }
  if (!observed(state)) {
    // No Rows to compare: a new view object (or none) is reported as a change.
    const bool view_moved = row.view != view_before || row.view_archived != archived_before;
    if (!row.base && row.pending.empty()) state.rows.erase(it);
    if (!base_touched && !view_moved) return std::nullopt;
    return RowChange{state.model->key, id, std::nullopt, std::nullopt, base_touched};
  }
  std::optional<Row> after = to_row(state, id, row);
  if (!row.base && row.pending.empty()) state.rows.erase(it);
  if (!base_touched && same_row(before, after)) return std::nullopt;
  return RowChange{state.model->key, id, before, std::move(after), base_touched};
}

Result<std::optional<RowChange>> Replica::load_base(std::string_view model, std::string_view id, JsonObject data,
                                                    int64_t version, bool archived) {
  ModelState* state = state_for(model);
  if (!state) return fail("model_not_found", fmt::format("model '{}' is not in the schema", model), "model");
  const std::string key(id);
  RowState& row = state->rows[key];
  std::optional<Row> before = before_row(*state, key, row);
  row.base = BaseRow{replica_detail::shared_with_id(std::move(data), key), version, archived, false};
  return refold(*state, key, before, true);
}

DeltaOutcome Replica::apply_delta(const InboundDelta& delta) {
  DeltaOutcome outcome;
  ModelState* state = state_for(delta.model);
  if (!state) {
    outcome.unknown_model = true;
    return outcome;
  }
  outcome.model = state->model->key;
  auto existing = state->rows.find(delta.row_id);
  const bool has_base = existing != state->rows.end() && existing->second.base.has_value();
  if (has_base && !existing->second.base->ghost && delta.id <= existing->second.base->version) {
    outcome.ignored = true;  // a re-delivery: never show an older value
    return outcome;
  }
  const bool full_row = replica_detail::has_required_fields(*state->model, delta.data);
  switch (delta.action) {
    case 'I': case 'C': case 'U': case 'D': case 'A': case 'V': break;
    default: outcome.ignored = true; return outcome;
  }
  if (!has_base && delta.action != 'I' && delta.action != 'C' && delta.action != 'D' && !full_row) {
    outcome.needs_fetch = true;  // §6.1: GET /api/sync/entity first
    return outcome;
  }
  if (!has_base && delta.action == 'D' && existing == state->rows.end()) return outcome;  // nothing to remove

  RowState& row = state->rows[delta.row_id];
  std::optional<Row> before = before_row(*state, delta.row_id, row);
  switch (delta.action) {
    case 'I': case 'C':
      row.base = BaseRow{replica_detail::shared_with_id(delta.data, delta.row_id), delta.id,
                         replica_detail::archived_from(delta.data), false};
      break;
    case 'U': case 'A': case 'V': {
      // The base object may be shared with the view (and with nothing else): a new one.
      JsonObject data(row.base ? *row.base->data : delta.data, boost::json::storage_ptr());  // not in an arena
      bool archived = row.base ? row.base->archived : replica_detail::archived_from(delta.data);
      if (row.base) replica_detail::merge_into(data, delta.data);
      // A U says something about archiving only when it carries archivedAt.
      if (delta.action == 'U' && delta.data.contains("archivedAt")) archived = replica_detail::archived_from(data);
      if (delta.action == 'A') archived = true;
      if (delta.action == 'V') {
        archived = false;
        data["archivedAt"] = nullptr;
      }
      row.base = BaseRow{replica_detail::shared_with_id(std::move(data), delta.row_id), delta.id, archived, false};
      break;
    }
    case 'D':
      row.base.reset();
      break;
  }
  if (auto change = refold(*state, delta.row_id, before, true)) outcome.changes.push_back(std::move(*change));
  return outcome;
}

Result<std::optional<RowChange>> Replica::add_pending(std::string_view model, std::string_view id, int64_t seq,
                                                      Action action, JsonObject data) {
  ModelState* state = state_for(model);
  if (!state) return fail("model_not_found", fmt::format("model '{}' is not in the schema", model), "model");
  const std::string key(id);
  RowState& row = state->rows[key];
  std::optional<Row> before = before_row(*state, key, row);
  auto at = std::lower_bound(row.pending.begin(), row.pending.end(), seq,
                             [](const PendingEdit& edit, int64_t wanted) { return edit.seq < wanted; });
  if (at != row.pending.end() && at->seq == seq) {
    at->action = action;  // an outbox merge (§5.7) replaces the absorber's payload
    at->data = std::move(data);
  } else {
    row.pending.insert(at, PendingEdit{seq, action, std::move(data)});
  }
  return refold(*state, key, before, false);
}

std::optional<RowChange> Replica::remove_pending(std::string_view model, std::string_view id, int64_t seq) {
  ModelState* state = state_for(model);
  if (!state) return std::nullopt;
  const std::string key(id);
  auto it = state->rows.find(key);
  if (it == state->rows.end()) return std::nullopt;
  std::optional<Row> before = before_row(*state, key, it->second);
  auto& pending = it->second.pending;
  const auto removed = std::remove_if(pending.begin(), pending.end(), [&](const PendingEdit& e) { return e.seq == seq; });
  if (removed == pending.end()) return std::nullopt;
  pending.erase(removed, pending.end());
  return refold(*state, key, before, false);
}

std::vector<RowChange> Replica::rebase(const std::vector<std::string>& models,
                                       std::map<std::string, std::vector<SnapshotRow>> rows, int64_t watermark) {
  std::vector<RowChange> changes;
  for (const std::string& name : models) {
    ModelState* state = state_for(name);
    if (!state) continue;
    std::unordered_map<std::string, SnapshotRow*> snapshot;
    const auto given = rows.find(name) != rows.end() ? rows.find(name) : rows.find(state->model->key);
    if (given != rows.end()) {
      snapshot.reserve(given->second.size());
      for (SnapshotRow& row : given->second) snapshot[row.id] = &row;
    }
    // Rows the replica has: replaced, or gone from the server (ghosts while they have writes).
    std::vector<std::string> ids;
    ids.reserve(state->rows.size() + snapshot.size());
    for (const auto& entry : state->rows) ids.push_back(entry.first);
    for (const auto& entry : snapshot) {
      if (!state->rows.contains(entry.first)) ids.push_back(entry.first);
    }
    for (const std::string& id : ids) {
      RowState& row = state->rows[id];
      std::optional<Row> before = before_row(*state, id, row);
      auto found = snapshot.find(id);
      if (found != snapshot.end()) {
        row.base = BaseRow{replica_detail::shared_with_id(std::move(found->second->data), id), watermark,
                           found->second->archived, false};
      } else if (row.base && !row.pending.empty()) {
        row.base->ghost = true;  // D9: the pending writes keep the view
        row.base->version = watermark;
      } else {
        row.base.reset();
      }
      if (auto change = refold(*state, id, before, true)) changes.push_back(std::move(*change));
    }
  }
  return changes;
}

std::vector<RowChange> Replica::clear_bases() {
  std::vector<std::string> all;
  for (const auto& entry : models_) all.push_back(entry.first);
  return rebase(all, {}, 0);
}

std::optional<Row> Replica::view(std::string_view model, std::string_view id) const {
  const ModelState* state = state_for(model);
  if (!state) return std::nullopt;
  auto it = state->rows.find(std::string(id));
  if (it == state->rows.end()) return std::nullopt;
  return to_row(*state, it->first, it->second);
}

std::optional<Row> Replica::confirmed(std::string_view model, std::string_view id) const {
  const ModelState* state = state_for(model);
  if (!state) return std::nullopt;
  auto it = state->rows.find(std::string(id));
  if (it == state->rows.end()) return std::nullopt;
  return to_confirmed_row(*state, it->first, it->second);
}

std::vector<Row> Replica::rows(std::string_view model, bool include_pending) const {
  std::vector<Row> out;
  const ModelState* state = state_for(model);
  if (!state) return out;
  out.reserve(state->rows.size());
  for (const auto& [id, row] : state->rows) {
    auto shown = include_pending ? to_row(*state, id, row) : to_confirmed_row(*state, id, row);
    if (shown) out.push_back(std::move(*shown));
  }
  return out;
}

void Replica::for_each_view(std::string_view model, const std::function<void(const Row&)>& visit) const {
  const ModelState* state = state_for(model);
  if (!state) return;
  for (const auto& [id, row] : state->rows) {
    if (auto shown = to_row(*state, id, row)) visit(*shown);
  }
}

std::size_t Replica::row_count() const {
  std::size_t total = 0;
  for (const auto& entry : models_) total += entry.second.visible;
  return total;
}

std::size_t Replica::row_count(std::string_view model) const {
  const ModelState* state = state_for(model);
  return state ? state->visible : 0;
}

bool Replica::has_pending(std::string_view model, std::string_view id) const {
  const ModelState* state = state_for(model);
  if (!state) return false;
  auto it = state->rows.find(std::string(id));
  return it != state->rows.end() && !it->second.pending.empty();
}

bool Replica::is_indexed(std::string_view model, std::string_view field) const {
  const ModelState* state = state_for(model);
  return state && state->indexes.contains(std::string(field));
}

std::optional<std::vector<std::string>> Replica::lookup(std::string_view model, std::string_view field,
                                                        const Json& value) const {
  const ModelState* state = state_for(model);
  if (!state) return std::nullopt;
  auto index = state->indexes.find(std::string(field));
  if (index == state->indexes.end()) return std::nullopt;
  auto bucket = index->second.find(index_key(value));
  if (bucket == index->second.end()) return std::vector<std::string>{};
  return std::vector<std::string>(bucket->second.begin(), bucket->second.end());
}

}  // namespace ablo::sdk_detail
