#pragma once
// Realtime fan-out: routes each committed delta to every subscription of the same tenant
// whose sync groups intersect the delta's, and answers catch-up (sync_request) so that each
// subscription sees strictly increasing ids across live and catch-up frames (protocol.md §3.6).
//
// Threading: publish() is called by one thread at a time, in id order (the commit syncer once
// a group is durable, or the cluster log follower). subscribe, unsubscribe, catch_up and
// add_groups may be called from any thread. A subscription's state is guarded by its own
// mutex; Outbox calls for one subscription are made under it, so they arrive in id order.
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <mutex>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include <boost/json/array.hpp>
#include <boost/json/object.hpp>

#include "common/result.h"
#include "store/store.h"

namespace ablo::fanout {

// One delta, encoded once and shared, immutable, by every recipient: the whole single-delta
// WebSocket frame `{"type":"delta","payload":<delta>}` behind its frame header, with the delta
// object inside it. Why the frame and not only the object: a socket with one delta to send writes
// this very buffer, header and all, with one send(), and a batched frame points into it
// (net/frame_batcher.h), so no delivery copies or allocates.
class EncodedDelta {
 public:
  static constexpr std::string_view kFramePrefix = R"({"type":"delta","payload":)";
  static constexpr std::string_view kFrameSuffix = "}";

  // `delta_json`: the delta's wire object (wire_delta.h), serialized.
  EncodedDelta(int64_t delta_id, std::string_view delta_json);

  const int64_t id;
  // When it was encoded: the start of its fan-out (ablo_fanout_latency_seconds ends at the
  // socket write that carries it).
  const std::chrono::steady_clock::time_point encoded_at = std::chrono::steady_clock::now();
  // The delta object alone (a view into frame()).
  std::string_view json() const { return frame().substr(kFramePrefix.size(), json_size_); }
  // The single-delta frame's text (its payload).
  std::string_view frame() const { return std::string_view(wire_).substr(header_size_); }
  // The single-delta frame as it goes on the wire: its header (common/ws_frame_header.h), then frame().
  const std::string& wire_frame() const { return wire_; }

 private:
  std::string wire_;
  std::size_t header_size_;
  std::size_t json_size_;
};

// Where a subscription's frames go (the connection's send queue). Must not block.
class Outbox {
 public:
  virtual ~Outbox() = default;
  virtual void push_frame(std::string frame) = 0;
  virtual void push_delta(std::shared_ptr<const EncodedDelta> delta) = 0;
  // Several deltas at once, in id order (what one commit group brings one connection): the
  // same as push_delta for each, which is the default; an outbox overrides it to take them
  // under one lock and with one wake-up.
  virtual void push_deltas(std::span<const std::shared_ptr<const EncodedDelta>> deltas) {
    for (const auto& delta : deltas) push_delta(delta);
  }
  // A sync_response answering a catch-up; `last_delta_id` is the highest delta id in it (0
  // when it carries none). Deltas, like push_delta's, must not wait behind other frames.
  virtual void push_catch_up(std::string frame, int64_t /*last_delta_id*/) { push_frame(std::move(frame)); }
  // Ends the connection with a close code (e.g. 4003 when its credential was revoked).
  virtual void close(int /*code*/, std::string /*reason*/) {}
  // A frame the client must not act on before it has applied the deltas up to `fence` (a
  // delta id) that it may see — e.g. intent_granted, after which a client re-reads the row
  // from its local store. Default: sent at once.
  virtual void push_after_deltas(std::string frame, int64_t /*fence*/) { push_frame(std::move(frame)); }
};

using DeltaReader =
    std::function<Result<std::vector<store::Delta>>(const std::string& tenant, int64_t after, int64_t up_to, int limit)>;

class Subscription;

// Whether a subscription may receive a delta beyond sharing one of its sync groups — the
// principal's read rule for the delta's model and groups (authz/authorizer.h). Called under
// the hub's locks: must be quick and must not call back into the hub. Empty = no further rule.
using DeltaFilter = std::function<bool(const store::Delta&)>;

// Close code for a connection that falls too far behind its frames (1013 "try again later": not
// a session error for the 0.9.1 client, which resumes from its cursor — protocol.md §3.10).
inline constexpr int kSlowConsumerCloseCode = 1013;

class Hub {
 public:
  explicit Hub(DeltaReader reader, int catch_up_page = 500);
  ~Hub();

  // Live deltas held for a subscription whose first catch-up has not answered (a socket that
  // never sends sync_request) are bounded: beyond `bytes` its outbox is closed with
  // kSlowConsumerCloseCode and what it held is freed. Default: unbounded. Call before subscribing.
  void set_held_limit(std::size_t bytes) { held_limit_ = bytes; }
  // The store's identity (a UUID created with its database): sent as `storeId` in every
  // sync_response so a client can tell a wiped or replaced server from a lagging one. Call once
  // at startup, before subscribing. Empty: not sent.
  void set_store_id(std::string store_id) { store_id_ = std::move(store_id); }
  const std::string& store_id() const { return store_id_; }
  // "Gap too old": a catch-up whose gap holds more than `deltas` visible deltas is answered with
  // requiresBootstrap instead of the deltas — only to a client that said it understands that
  // answer (catch_up's `may_require_bootstrap`). 0 (default): never; every gap is paged.
  void set_max_catch_up_deltas(int64_t deltas) { max_catch_up_deltas_ = deltas; }

  // Registers a connection. Live deltas are held until its first catch_up completes.
  // `meter_key` (the API key behind the credential) is what its deliveries are metered under.
  // `may_receive` filters live and catch-up deltas alike.
  std::shared_ptr<Subscription> subscribe(std::string tenant, std::vector<std::string> groups, Outbox* outbox,
                                          std::string meter_key = {}, DeltaFilter may_receive = {});
  // After this returns the outbox is never called again.
  void unsubscribe(const std::shared_ptr<Subscription>& subscription);
  // Adds groups to a live subscription (participant claims, group grants).
  void add_groups(const std::shared_ptr<Subscription>& subscription, const std::vector<std::string>& groups);
  // Removes groups from a live subscription (a 0.49 update_subscription narrowing its read set):
  // deltas published after it returns are no longer routed to it through them.
  void remove_groups(const std::shared_ptr<Subscription>& subscription, const std::vector<std::string>& groups);

  // Delivers committed deltas (ascending ids, called by one publishing thread at a time).
  void publish(const std::vector<store::Delta>& deltas);
  // Runs after each publish on the publishing thread, with no hub lock held: it must be cheap,
  // never block and never call back into the hub (it wakes the webhook worker). Empty: none.
  void set_publish_listener(std::function<void()> listener);
  // Answers a sync_request: one or more sync_response frames with the visible deltas after
  // `last_sync_id` (or after the connection's start when <= 0), then releases held deltas.
  // `bootstrapped_at`: where a client without a cursor (last_sync_id <= 0) starts instead of the
  // connection's start — the head its bootstrap served (bootstrap_mark).
  // `may_require_bootstrap`: the client listed "requiresBootstrap" in its sync_request
  // capabilities; a gap beyond set_max_catch_up_deltas is then answered with one sync_response
  // {deltas: [], requiresBootstrap: true, bootstrapHint: {reason: "too_far_behind",
  // totalDeltaCount}} and live delivery resumes after the current head.
  Status catch_up(const std::shared_ptr<Subscription>& subscription, int64_t last_sync_id,
                  std::optional<int64_t> bootstrapped_at = std::nullopt, bool may_require_bootstrap = false);

  // Usage since the last call, per (tenant, meter key): deltas delivered and sockets opened.
  struct Metered {
    int64_t deltas_delivered = 0;
    int64_t connections_opened = 0;
  };
  std::map<std::pair<std::string, std::string>, Metered> drain_meters();

  // Where a fresh client's delivery starts. A 0.9.1 client's first sync_request says
  // lastSyncId 0 even right after its HTTP bootstrap (protocol.md §3.6), so a write committed
  // between the bootstrap and the socket's open would reach it neither way. The bootstrap
  // notes the head it served per credential; a catch-up from 0 starts there (catch_up's
  // `bootstrapped_at`) instead of at the socket's open: the lowest head noted for the credential within kBootstrapMarkWindowMs, so a
  // second process sharing the key gets more deltas (replayed in order), never fewer. Bounded:
  // at most kMaxBootstrapMarks credentials are remembered.
  static constexpr int64_t kBootstrapMarkWindowMs = 60'000;
  static constexpr std::size_t kMaxBootstrapMarks = 10'000;
  void note_bootstrap(const std::string& credential, int64_t head);
  std::optional<int64_t> bootstrap_mark(const std::string& credential) const;

  int64_t head() const;
  void set_head(int64_t head);  // once at startup, from the store
  // Cluster mode: how this node publishes the shared log up to at least a given id (the
  // LogFollower). Every catch-up first publishes what the log holds — at least up to a cursor
  // beyond the published head (a client resuming on a node whose wake-up has not arrived yet),
  // and whatever other nodes committed without waking this one (a wake-up lost with a killed
  // node): an answer holds every delta committed before the sync_request. Set once at startup,
  // before the first catch_up.
  void set_log_follower(std::function<Status(int64_t through)> publish_through);
  std::size_t subscription_count() const;

 private:
  using GroupIndex = std::unordered_map<std::string, std::vector<std::shared_ptr<Subscription>>>;
  // publish without the listener: routes the deltas to the subscriptions they reach.
  void deliver(const std::vector<store::Delta>& deltas);
  // Drops `sub` from the index under `groups` (and empty entries). Needs index_mutex_.
  // Counts the deltas after `from` up to `through` that `sub` may see, stopping past `limit`.
  Result<int64_t> count_visible(const std::shared_ptr<Subscription>& sub, int64_t from, int64_t through, int64_t limit);
  // The sync_response payload: deltas, currentSyncId and (when known) storeId.
  boost::json::object sync_response_payload(boost::json::array deltas, int64_t current_sync_id) const;
  void unindex_locked(const std::shared_ptr<Subscription>& sub, const std::vector<std::string>& groups);

  DeltaReader reader_;
  int page_size_;
  std::size_t held_limit_ = 0;  // 0 = unbounded
  std::string store_id_;                // set before the first subscription, then read-only
  int64_t max_catch_up_deltas_ = 0;     // 0 = off; set before the first subscription
  std::function<Status(int64_t)> publish_through_;  // empty on a single node

  std::mutex listener_mutex_;  // a leaf: taken with no other hub lock held
  std::function<void()> publish_listener_;  // guarded by listener_mutex_
  mutable std::mutex publish_mutex_;  // serializes publish with catch-up snapshots; guards head_, visit_seq_, reached_
  int64_t head_ = 0;
  uint64_t visit_seq_ = 0;
  std::vector<Subscription*> reached_;  // publish's scratch: subscriptions the group reaches (storage reused)

  struct BootstrapMark {
    int64_t head = 0;
    int64_t noted_at_ms = 0;  // steady clock
  };
  mutable std::mutex marks_mutex_;  // guards bootstrap_marks_; taken alone, never with the others
  std::unordered_map<std::string, BootstrapMark> bootstrap_marks_;

  mutable std::mutex index_mutex_;  // guards index_, count_, live_, unmetered_
  std::unordered_map<std::string, GroupIndex> index_;  // tenant -> group -> subscriptions
  std::size_t count_ = 0;
  std::vector<std::shared_ptr<Subscription>> live_;  // every subscription, once
  std::map<std::pair<std::string, std::string>, Metered> unmetered_;  // opens, and counts of closed ones
};

}  // namespace ablo::fanout
