#pragma once
// The in-memory replica of the client library (design docs/client-library.md §3.3, §5.2, §6.1,
// §4.1): per model, the confirmed server row ("base") plus this client's unconfirmed writes
// ("pending", in outbox seq order), and the view = fold(base, pending) every read returns.
// Secondary indexes (schema `isIndexed` fields and every belongsTo foreign key) follow every
// view change (defect D13).
//
// Pure: no I/O, no threads, no locks. Not thread-safe: ClientCore holds it under a shared_mutex.
//
// Memory: a row without pending writes is held once — its view is the confirmed object itself
// (one immutable JsonObject shared by base and view); a delta or a pending write makes a new
// object rather than editing the shared one (README "ablo_sdk_bench": two copies per row made
// the cache 3.6 KB a row).
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include <boost/json/storage_ptr.hpp>

#include "common/result.h"
#include "schema/schema.h"
#include "sdk/client.h"

namespace ablo::sdk_detail {

// An immutable row object, shared between a row's base and its view while it has no pending write.
using SharedObject = std::shared_ptr<const JsonObject>;

// Where the rows of one bootstrap (or one warm start) are parsed: a bump allocator that packs
// every row's table, keys and strings into 64 KiB chunks with no per-allocation header (malloc's
// headers and small blocks were half of a cached row) and frees nothing until the last object
// made in it is gone — a delta or a local write makes a new object on the default heap, the next
// full bootstrap a new arena. Not thread-safe: allocate in it only before the rows reach the
// replica or under the client's exclusive lock. The replica copies such an object only into the
// default heap (a json copy constructor would otherwise inherit the arena).
boost::json::storage_ptr make_row_arena();

// The confirmed server state of one row.
struct BaseRow {
  SharedObject data;    // never null; carries "id"
  int64_t version = 0;  // id of the last delta applied (or the bootstrap watermark)
  bool archived = false;
  // Absent from the last full bootstrap but kept because the row had pending writes (D9): the
  // view stays as it was until those writes settle, then the row disappears.
  bool ghost = false;
};

// One unconfirmed local write as the replica folds it (the outbox holds the rest).
struct PendingEdit {
  int64_t seq = 0;
  Action action = Action::kUpdate;
  JsonObject data;  // create: every field; update: the patch; archive: may carry archivedAt
};

struct RowState {
  std::optional<BaseRow> base;
  std::vector<PendingEdit> pending;  // ascending seq
  SharedObject view;                 // fold(base, pending), == base->data without pending; null = not visible
  bool view_archived = false;
};

// What one mutation of the replica did to one row; before/after are the views (nullopt: absent).
// Emitted when the visible Row (data, version, pending, archived) changed, or when the confirmed
// row did (a remote change hidden under a pending write: before == after, confirmed_changed),
// so include_pending(false) queries see it too.
struct RowChange {
  std::string model;  // schema key
  std::string id;
  std::optional<Row> before;
  std::optional<Row> after;
  bool confirmed_changed = false;  // the base moved (a delta, a load, a rebase)
};

// One delta of the server log (protocol.md §4), already parsed.
struct InboundDelta {
  int64_t id = 0;
  char action = 'U';  // I C U D A V
  std::string model;  // any wire form; resolved through the schema
  std::string row_id;
  JsonObject data;
};

struct DeltaOutcome {
  std::vector<RowChange> changes;
  bool unknown_model = false;  // skipped: the model is not in the schema (the cursor still advances)
  bool needs_fetch = false;    // a U for a row the replica lacks, without every required field
  bool ignored = false;        // not applied: unsupported action, or not newer than the row's version
  std::string model;           // the resolved schema key (empty when unknown)
};

// A row of a full bootstrap (rebase input).
struct SnapshotRow {
  std::string id;
  JsonObject data;
  bool archived = false;
};

class Replica {
 public:
  explicit Replica(std::shared_ptr<const schema::Schema> schema);

  const schema::Schema& schema() const { return *schema_; }

  // Start-up / bootstrap load of one confirmed row (replaces its base). Fails with
  // model_not_found for a model outside the schema.
  Result<std::optional<RowChange>> load_base(std::string_view model, std::string_view id, JsonObject data,
                                             int64_t version, bool archived);

  // §6.1: I/C put, U merge (unknown row: upsert only when `data` has every required field),
  // D remove base, A archive, V unarchive. A delta not newer than the row's base version is
  // ignored (a re-delivery never shows an older value).
  DeltaOutcome apply_delta(const InboundDelta& delta);

  // Adds this client's write `seq` to the row (or replaces the edit with that seq: an outbox
  // merge, §5.7) and refolds. Fails with model_not_found.
  Result<std::optional<RowChange>> add_pending(std::string_view model, std::string_view id, int64_t seq,
                                               Action action, JsonObject data);
  // Drops write `seq` (confirmed, or rolled back) and refolds. nullopt when nothing changed.
  std::optional<RowChange> remove_pending(std::string_view model, std::string_view id, int64_t seq);

  // §4.1: the bases of `models` become `rows`, every version = `watermark`; rows absent from
  // `rows` lose their base, except that a row with pending writes keeps its view (D9). The rows'
  // objects are moved in (pass the snapshot as an rvalue to avoid a copy).
  std::vector<RowChange> rebase(const std::vector<std::string>& models,
                                std::map<std::string, std::vector<SnapshotRow>> rows, int64_t watermark);

  // Which models anyone observes (ClientCore: those with a live query). For the others a
  // RowChange carries no before/after Rows (building them copied every bootstrapped row): it is
  // still emitted whenever the confirmed row moved (callers persist from it) or the view may
  // have changed. Default: every model is observed (full RowChanges).
  void set_observed(std::function<bool(const std::string& model_key)> observed) { observed_ = std::move(observed); }
  // Drops everything (wiped server, §6.5) but keeps the pending writes folded over nothing.
  std::vector<RowChange> clear_bases();

  // The row as reads see it (optimistic), or the confirmed row only (include_pending(false)).
  std::optional<Row> view(std::string_view model, std::string_view id) const;
  std::optional<Row> confirmed(std::string_view model, std::string_view id) const;
  // Every visible row of `model` (unordered); include_pending=false: the confirmed rows.
  std::vector<Row> rows(std::string_view model, bool include_pending = true) const;
  void for_each_view(std::string_view model, const std::function<void(const Row&)>& visit) const;
  std::size_t row_count() const;                       // visible rows, all models
  std::size_t row_count(std::string_view model) const;  // visible rows of one model
  bool has_pending(std::string_view model, std::string_view id) const;

  // Ids of the visible rows whose `field` equals `value` (indexed fields only; nullopt when the
  // field has no index). Ids ascending.
  std::optional<std::vector<std::string>> lookup(std::string_view model, std::string_view field,
                                                 const Json& value) const;
  bool is_indexed(std::string_view model, std::string_view field) const;

  // The key an index files a value under (numbers by value: 1 and 1.0 are one key).
  static std::string index_key(const Json& value);

 private:
  struct ModelState {
    const schema::Model* model = nullptr;
    std::vector<std::string> indexed_fields;
    std::unordered_map<std::string, RowState> rows;
    // field → value key → ids
    std::unordered_map<std::string, std::unordered_map<std::string, std::set<std::string>>> indexes;
    std::size_t visible = 0;
  };

  ModelState* state_for(std::string_view model);
  const ModelState* state_for(std::string_view model) const;
  bool observed(const ModelState& state) const { return !observed_ || observed_(state.model->key); }
  // The Row before a mutation, when the model is observed (refold compares it with the after).
  std::optional<Row> before_row(const ModelState& state, const std::string& id, const RowState& row) const;
  // Refolds the row and maintains the indexes; returns the change when the visible Row changed.
  std::optional<RowChange> refold(ModelState& state, const std::string& id, const std::optional<Row>& before,
                                  bool base_touched);
  std::optional<Row> to_row(const ModelState& state, const std::string& id, const RowState& row) const;
  static std::optional<Row> to_confirmed_row(const ModelState& state, const std::string& id, const RowState& row);
  void index_remove(ModelState& state, const std::string& id, const JsonObject& view);
  void index_add(ModelState& state, const std::string& id, const JsonObject& view);

  std::shared_ptr<const schema::Schema> schema_;
  std::unordered_map<std::string, ModelState> models_;  // schema key → state
  std::function<bool(const std::string&)> observed_;
};

// True when two Rows show the same thing (data, version, pending, archived).
bool same_row(const std::optional<Row>& a, const std::optional<Row>& b);
bool same_row_value(const Row& a, const Row& b);

}  // namespace ablo::sdk_detail
