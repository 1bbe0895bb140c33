#pragma once
// The outbox of the client library (design docs/client-library.md §3.2, §5.3–§5.8): this
// client's writes not yet confirmed, in issue (seq) order, and the policy that turns them into
// commit frames, retries them and rolls them back.
//
// * Frames: one model-lane frame in flight at a time; the oldest unsent entries, ≤ max_batch_ops,
//   issue order except that a create whose belongsTo parent is created later in the same frame
//   moves right after that parent (T13). A frame's clientTxId ("ctx_<uuid>") is assigned when it
//   is first built and is immutable from then on: a re-send rebuilds the same bytes (D11).
// * Coalescing (§5.7, D2): an update merges into the row's last entry when that one is an
//   unsent update with the same onStale and neither carries a caller idempotency key.
// * Confirmation (§5.6): acked with lastSyncId L and the replica's applied cursor ≥ L.
// * Failures (§5.4, D3): transient codes retry the same frame while connected, for at most
//   retry_window of connected time; stale_context, claim codes, other and unknown codes are
//   final: the whole frame rolls back, and later entries on a rolled-back create fail with
//   entity_not_found.
//
// Pure: no I/O, no threads, no clock (elapsed connected time is an input). Not thread-safe:
// ClientCore holds it under a mutex. The store thread persists what the lead reads from here.
//
// Cost: every call the I/O thread makes under the client's lock (next_frame, on_success,
// confirmed, on_failure) and append's coalescing look-up is O(log n) in the backlog (plus the
// entries it returns), through indexes kept beside the entries — not a scan of every unconfirmed
// write, which made confirming n writes O(n²) (README "ablo_sdk_bench").
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"
#include "schema/schema.h"
#include "sdk/client.h"

namespace ablo::sdk_detail {

enum class Lane { kModel, kCommit };  // outbox.lane 'model' | 'commit'
std::string_view to_string(Lane lane);
std::string_view wire_action(Action action);     // CREATE | UPDATE | DELETE | ARCHIVE | UNARCHIVE
std::string_view wire_on_stale(OnStale on_stale);  // reject | force | flag

// One row of the outbox table (§3.2).
struct OutboxEntry {
  int64_t seq = 0;                          // issue order, never reused
  Lane lane = Lane::kModel;
  std::string transaction_id;               // wire transactionId: tx_<uuid> or the caller's idempotency key
  std::optional<std::string> frame_id;      // clientTxId of the frame it was first sent in
  Action action = Action::kUpdate;
  std::string model;                        // schema key
  std::string row_id;
  JsonObject data;                          // create: all fields; update: the patch
  JsonObject previous;                      // the values before (undo only)
  std::optional<int64_t> read_at;           // none for creates and onStale force
  std::optional<OnStale> on_stale;
  int attempts = 0;
  int64_t retry_spent_ms = 0;               // connected time spent retrying transient failures
  std::optional<int64_t> acked_sync_id;     // mutation_result.lastSyncId once accepted
  std::string undo_scope;
  int64_t created_at = 0;                   // ms, local clock (diagnostics)
  bool has_idempotency_key = false;         // transaction_id is the caller's: never coalesced
};

struct AppendResult {
  bool merged = false;  // folded into an earlier entry: the caller's write now settles with it
  int64_t seq = 0;      // the entry that carries the write (the absorber's seq when merged)
};

// A commit frame ready for the socket.
struct Frame {
  Lane lane = Lane::kModel;
  std::string client_tx_id;
  std::vector<int64_t> seqs;  // in wire order
  std::string wire;           // {"type":"commit","payload":{…}}
  // True the first time: the entries' frame_id is new and must be persisted before the send.
  bool first_send = false;
};

struct SuccessOutcome {
  std::vector<int64_t> acked;               // model lane: now waiting for the cursor (confirmed())
  std::vector<OutboxEntry> completed;       // commit lane: done, removed
};

enum class FailureClass { kTransient, kFinal };
// §5.4: a registry code with `retryable` is transient, except stale_context and the claim codes
// (re-sending the same premise cannot succeed); every other code, and unknown codes, final.
FailureClass classify_commit_failure(const Error& error);

struct FailureDecision {
  enum class Kind { kRetry, kFinal, kUnknownFrame } kind = Kind::kUnknownFrame;
  std::chrono::milliseconds delay{0};       // kRetry: wait this long (while connected), then re-send
  Error error;                              // kFinal: the error every rolled-back entry fails with
  std::vector<OutboxEntry> rolled_back;     // kFinal: the frame's entries, removed
  std::vector<OutboxEntry> cascaded;        // kFinal: later entries on a rolled-back create, removed
  Error cascade_error;                      // entity_not_found, for `cascaded`
  // kFinal on a model-lane frame whose error names its failing operation ("operations[N]…"):
  // only that entry (and what depends on it) is rolled back; these others are innocent and go
  // out again in a new frame (frame_id cleared — persist that before the next send).
  std::vector<int64_t> requeued;
};

// The index N of "operations[N]" at the start of an error's param or message, if any.
std::optional<std::size_t> failing_operation(const Error& error);

struct OutboxPolicy {
  std::size_t max_batch_ops = 50;
  std::chrono::milliseconds retry_window{120000};  // Timing::transient_retry_window
  Backoff retry{std::chrono::milliseconds{200}, std::chrono::milliseconds{5000}, 0.5};  // Timing::commit_retry
};

class Outbox {
 public:
  // `new_id` makes the uuid part of clientTxIds (default common/random.h random_uuid);
  // `random01` draws the jitter in [0, 1) (default a seeded engine). Both are test seams.
  Outbox(std::shared_ptr<const schema::Schema> schema, OutboxPolicy policy = {},
         std::function<std::string()> new_id = nullptr, std::function<double()> random01 = nullptr);

  // A new write, coalesced when §5.7 allows. seq must exceed every seq appended or restored;
  // a commit-lane entry must carry its frame_id. invalid_request otherwise.
  Result<AppendResult> append(OutboxEntry entry);
  // An entry read back from the store at start-up: kept as it was (no coalescing).
  Status restore(OutboxEntry entry);

  // The next frame of `lane`, or nullopt when one is in flight or nothing is waiting.
  std::optional<Frame> next_frame(Lane lane);
  // The frame left on the socket: no other frame of its lane until it succeeds or fails.
  void mark_sent(const Frame& frame);
  // mutation_result success with lastSyncId.
  SuccessOutcome on_success(std::string_view client_tx_id, int64_t last_sync_id);
  // Model-lane entries acked with L ≤ cursor: removed and returned (§5.6), seq order.
  std::vector<OutboxEntry> confirmed(int64_t cursor);
  // mutation_result failure, commit_no_result, or the socket closing under the frame
  // (pass Error{commit_no_result}); `connected_elapsed` = connected time since it was sent.
  FailureDecision on_failure(std::string_view client_tx_id, const Error& error,
                             std::chrono::milliseconds connected_elapsed);

  // Every entry, removed (seq order) and nothing in flight: the writes of a store file that
  // belongs to another participant, never replayed as this one (design §3.6 row 4).
  std::vector<OutboxEntry> take_all();

  const OutboxEntry* find(int64_t seq) const;
  std::vector<const OutboxEntry*> entries() const;  // seq order
  std::size_t size() const { return entries_.size(); }
  bool in_flight(Lane lane) const;

 private:
  std::vector<OutboxEntry*> frame_entries(std::string_view client_tx_id);
  std::vector<OutboxEntry*> order_for_wire(std::vector<OutboxEntry*> batch) const;
  std::vector<OutboxEntry> remove_seqs(const std::vector<int64_t>& seqs);
  std::chrono::milliseconds retry_delay(int attempts, const Error& error);
  Frame make_frame(Lane lane, const std::string& client_tx_id, const std::vector<OutboxEntry*>& batch, bool first);

  std::shared_ptr<const schema::Schema> schema_;
  OutboxPolicy policy_;
  std::function<std::string()> new_id_;
  std::function<double()> random01_;
  // Index upkeep: every entry in entries_ is in exactly the indexes its lane, frame_id and
  // acked_sync_id say. `change` mutates those fields of one entry and re-files it.
  void index_entry(const OutboxEntry& entry);
  void unindex_entry(const OutboxEntry& entry);
  template <class Mutation>
  void change(OutboxEntry& entry, Mutation&& mutation);

  struct LaneIndex {
    std::set<int64_t> unacked;   // seqs not accepted yet: the first decides the next frame
    std::set<int64_t> unframed;  // seqs not accepted and in no frame: a new frame's candidates
  };
  LaneIndex& lane_index(Lane lane) { return lane == Lane::kModel ? model_lane_ : commit_lane_; }

  std::map<int64_t, OutboxEntry> entries_;  // seq → entry
  LaneIndex model_lane_, commit_lane_;
  std::map<std::string, std::set<int64_t>, std::less<>> by_frame_;  // frame_id → seqs
  std::set<std::pair<int64_t, int64_t>> acked_;  // model lane: (acked_sync_id, seq), awaiting the cursor
  std::map<std::pair<std::string, std::string>, std::set<int64_t>> by_row_;  // model lane: (model, row id) → seqs
  int64_t last_seq_ = 0;
  std::optional<std::string> in_flight_model_, in_flight_commit_;
};

// The model name a commit op carries: the 0.9.1 form (typename with the first "Model" removed,
// lowercased); the key lowercased for a model the schema lacks. The server resolves any form.
std::string wire_model_name(const schema::Schema& schema, std::string_view model);
// The commit frame (protocol.md §3.7): {"type":"commit","payload":{"operations":[{type, model,
// id, input?, transactionId, readAt?, onStale?}…],"clientTxId":…}}. Deterministic: the same
// entries give the same bytes.
std::string build_commit_frame(std::string_view client_tx_id, const std::vector<const OutboxEntry*>& operations,
                               const schema::Schema& schema);

}  // namespace ablo::sdk_detail
