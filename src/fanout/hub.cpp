#include "fanout/hub.h"

#include <chrono>

#include <algorithm>
#include <array>
#include <atomic>
#include <set>

#include <boost/json.hpp>
#include <spdlog/spdlog.h>

#include "common/ws_frame_header.h"
#include "fanout/wire_delta.h"
#include "metrics/metrics.h"

namespace ablo::fanout {

namespace json = boost::json;

namespace {
// Registered at start (a scrape shows it at 0 before the first delta).
metrics::Counter& fanned_out_counter = metrics::global().counter(
    "ablo_deltas_fanned_out_total", "Deltas handed to subscriptions (one per delta and recipient)");
}  // namespace

// Per-connection delivery state. Fields marked (sub) are guarded by `mutex`; `visit_mark` is
// guarded by the hub's publish mutex.
class Subscription {
 public:
  Subscription(std::string tenant, std::vector<std::string> groups, Outbox* outbox, int64_t open_head,
               std::string meter_key, DeltaFilter may_receive, std::size_t held_limit)
      : tenant_(std::move(tenant)),
        meter_key_(std::move(meter_key)),
        may_receive_(std::move(may_receive)),
        groups_(groups.begin(), groups.end()),
        outbox_(outbox),
        open_head_(open_head),
        held_limit_(held_limit) {}

  const std::string& tenant() const { return tenant_; }

 private:
  friend class Hub;

  bool sees(const std::vector<std::string>& delta_groups) const {
    return std::any_of(delta_groups.begin(), delta_groups.end(), [&](const auto& g) { return groups_.count(g) > 0; });
  }
  // The principal's read rule (set once at subscribe; safe to call without `mutex`).
  bool may_receive(const store::Delta& delta) const { return !may_receive_ || may_receive_(delta); }

  // Live path: send now, or hold while a catch-up is being answered. `deltas` ascend.
  void offer(std::span<const std::shared_ptr<const EncodedDelta>> deltas) {
    if (!outbox_ || overflowed_) return;
    const auto unsent = std::find_if(deltas.begin(), deltas.end(), [&](const auto& d) { return d->id > last_sent_; });
    deltas = deltas.subspan(static_cast<std::size_t>(unsent - deltas.begin()));
    if (deltas.empty()) return;
    if (holding_) {
      for (const auto& delta : deltas) {
        if (!hold(delta)) return;
      }
      return;
    }
    outbox_->push_deltas(deltas);
    last_sent_ = deltas.back()->id;
    delivered_.fetch_add(static_cast<int64_t>(deltas.size()), std::memory_order_relaxed);
  }

  // The catch-up has answered: what was held while it ran goes out now (needs mutex_).
  void release_held() {
    auto held = std::move(held_);
    held_.clear();
    held_bytes_ = 0;
    holding_ = false;
    offer(held);
  }

  // False when holding it would pass the bound: the connection is closed instead.
  bool hold(const std::shared_ptr<const EncodedDelta>& delta) {
    held_bytes_ += delta->json().size();
    if (held_limit_ > 0 && held_bytes_ > held_limit_) {
      // Its catch-up never came (or never ends): drop the connection rather than the memory.
      overflowed_ = true;
      held_.clear();
      held_.shrink_to_fit();
      outbox_->close(kSlowConsumerCloseCode, "too many deltas held before the first catch-up");
      return false;
    }
    held_.push_back(delta);
    return true;
  }

  const std::string tenant_;
  const std::string meter_key_;
  const DeltaFilter may_receive_;
  std::atomic<int64_t> delivered_{0};  // deltas handed to the outbox since the last drain
  std::mutex catch_up_mutex_;  // one catch-up at a time per connection
  std::mutex mutex_;
  std::set<std::string> groups_;                          // (sub)
  Outbox* outbox_;                                        // (sub) null once unsubscribed
  bool holding_ = true;                                   // (sub) until the first catch-up answers
  int64_t last_sent_ = 0;                                 // (sub) highest id delivered
  std::vector<std::shared_ptr<const EncodedDelta>> held_;  // (sub)
  std::size_t held_bytes_ = 0;                             // (sub) of held_
  bool overflowed_ = false;                                // (sub) closed for holding too much
  const int64_t open_head_;
  const std::size_t held_limit_;  // bytes of held_; 0 = unbounded
  // Guarded by the hub's publish mutex: what the commit group being published brings this
  // connection, handed over under one lock. Its storage is reused from group to group.
  uint64_t visit_mark_ = 0;
  std::vector<std::shared_ptr<const EncodedDelta>> group_deltas_;
};

namespace {
// A subscription keeps this much of its group buffer between commit groups (a large group
// leaves no lasting allocation behind on every socket).
constexpr std::size_t kRetainedGroupDeltas = 64;
}  // namespace

EncodedDelta::EncodedDelta(int64_t delta_id, std::string_view delta_json) : id(delta_id), json_size_(delta_json.size()) {
  const std::size_t text_size = kFramePrefix.size() + delta_json.size() + kFrameSuffix.size();
  std::array<unsigned char, kMaxTextFrameHeaderBytes> header{};
  header_size_ = encode_text_frame_header(text_size, header);
  wire_.reserve(header_size_ + text_size);
  wire_.append(reinterpret_cast<const char*>(header.data()), header_size_);
  wire_.append(kFramePrefix).append(delta_json).append(kFrameSuffix);
}

Hub::Hub(DeltaReader reader, int catch_up_page) : reader_(std::move(reader)), page_size_(catch_up_page) {}
Hub::~Hub() = default;

std::shared_ptr<Subscription> Hub::subscribe(std::string tenant, std::vector<std::string> groups, Outbox* outbox,
                                             std::string meter_key, DeltaFilter may_receive) {
  std::lock_guard publish_lock(publish_mutex_);
  auto sub = std::make_shared<Subscription>(std::move(tenant), groups, outbox, head_, std::move(meter_key),
                                            std::move(may_receive), held_limit_);
  std::lock_guard index_lock(index_mutex_);
  ++count_;
  live_.push_back(sub);
  unmetered_[{sub->tenant(), sub->meter_key_}].connections_opened += 1;
  auto& by_group = index_[sub->tenant()];
  for (const auto& group : sub->groups_) by_group[group].push_back(sub);
  return sub;
}

void Hub::unsubscribe(const std::shared_ptr<Subscription>& sub) {
  std::vector<std::string> groups;
  {
    std::lock_guard lock(sub->mutex_);
    if (!sub->outbox_) return;
    sub->outbox_ = nullptr;
    sub->held_.clear();
    groups.assign(sub->groups_.begin(), sub->groups_.end());
  }
  std::lock_guard index_lock(index_mutex_);
  --count_;
  live_.erase(std::remove(live_.begin(), live_.end(), sub), live_.end());
  unmetered_[{sub->tenant(), sub->meter_key_}].deltas_delivered += sub->delivered_.exchange(0);
  unindex_locked(sub, groups);
}

void Hub::add_groups(const std::shared_ptr<Subscription>& sub, const std::vector<std::string>& groups) {
  std::vector<std::string> added;
  {
    std::lock_guard lock(sub->mutex_);
    if (!sub->outbox_) return;
    for (const auto& g : groups) {
      if (sub->groups_.insert(g).second) added.push_back(g);
    }
  }
  std::lock_guard index_lock(index_mutex_);
  auto& by_group = index_[sub->tenant()];
  for (const auto& g : added) by_group[g].push_back(sub);
}

void Hub::remove_groups(const std::shared_ptr<Subscription>& sub, const std::vector<std::string>& groups) {
  std::vector<std::string> removed;
  {
    std::lock_guard lock(sub->mutex_);
    if (!sub->outbox_) return;
    for (const auto& g : groups) {
      if (sub->groups_.erase(g) > 0) removed.push_back(g);
    }
  }
  std::lock_guard index_lock(index_mutex_);
  unindex_locked(sub, removed);
}

void Hub::unindex_locked(const std::shared_ptr<Subscription>& sub, const std::vector<std::string>& groups) {
  auto tenant_it = index_.find(sub->tenant());
  if (tenant_it == index_.end()) return;
  for (const auto& group : groups) {
    auto it = tenant_it->second.find(group);
    if (it == tenant_it->second.end()) continue;
    auto& subs = it->second;
    subs.erase(std::remove(subs.begin(), subs.end(), sub), subs.end());
    if (subs.empty()) tenant_it->second.erase(it);
  }
  if (tenant_it->second.empty()) index_.erase(tenant_it);
}

// Each delta is encoded once; each subscription then receives everything the group brings
// it in one offer — one lock and one outbox call per connection and commit group, not per delta.
void Hub::publish(const std::vector<store::Delta>& deltas) {
  deliver(deltas);
  std::lock_guard listener_lock(listener_mutex_);
  if (publish_listener_) publish_listener_();
}

void Hub::set_publish_listener(std::function<void()> listener) {
  std::lock_guard listener_lock(listener_mutex_);
  publish_listener_ = std::move(listener);
}

void Hub::deliver(const std::vector<store::Delta>& deltas) {
  std::lock_guard publish_lock(publish_mutex_);
  std::lock_guard index_lock(index_mutex_);
  for (const auto& delta : deltas) {
    head_ = std::max(head_, delta.id);
    auto tenant_it = index_.find(delta.tenant);
    if (tenant_it == index_.end()) continue;
    std::shared_ptr<const EncodedDelta> encoded =
        std::make_shared<const EncodedDelta>(delta.id, json::serialize(wire_delta(delta)));
    const uint64_t mark = ++visit_seq_;
    for (const auto& group : delta.sync_groups) {
      auto it = tenant_it->second.find(group);
      if (it == tenant_it->second.end()) continue;
      for (const auto& sub : it->second) {
        if (sub->visit_mark_ == mark) continue;  // already reached through another group
        sub->visit_mark_ = mark;
        if (!sub->may_receive(delta)) continue;
        if (sub->group_deltas_.empty()) reached_.push_back(sub.get());
        sub->group_deltas_.push_back(encoded);
      }
    }
  }
  // The index (held) keeps every reached subscription alive.
  uint64_t offered = 0;
  for (Subscription* sub : reached_) {
    offered += sub->group_deltas_.size();
    {
      std::lock_guard sub_lock(sub->mutex_);
      sub->offer(sub->group_deltas_);
    }
    sub->group_deltas_.clear();
    if (sub->group_deltas_.capacity() > kRetainedGroupDeltas) sub->group_deltas_.shrink_to_fit();
  }
  reached_.clear();
  // One add per publish, not per recipient: the fan-out loop stays free of shared counters.
  fanned_out_counter.add(offered);
}

void Hub::set_log_follower(std::function<Status(int64_t)> publish_through) {
  publish_through_ = std::move(publish_through);
}

namespace {

int64_t steady_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

}  // namespace

void Hub::note_bootstrap(const std::string& credential, int64_t head) {
  const int64_t now = steady_ms();
  const auto expired = [&](const BootstrapMark& mark) { return now - mark.noted_at_ms > kBootstrapMarkWindowMs; };
  std::lock_guard lock(marks_mutex_);
  if (auto it = bootstrap_marks_.find(credential); it != bootstrap_marks_.end()) {
    if (expired(it->second)) {
      it->second = {head, now};
    } else {
      it->second.head = std::min(it->second.head, head);
    }
    return;
  }
  if (bootstrap_marks_.size() >= kMaxBootstrapMarks) {
    std::erase_if(bootstrap_marks_, [&](const auto& entry) { return expired(entry.second); });
    if (bootstrap_marks_.size() >= kMaxBootstrapMarks) {
      auto oldest = std::min_element(bootstrap_marks_.begin(), bootstrap_marks_.end(), [](const auto& a, const auto& b) {
        return a.second.noted_at_ms < b.second.noted_at_ms;
      });
      bootstrap_marks_.erase(oldest);
    }
  }
  bootstrap_marks_.emplace(credential, BootstrapMark{head, now});
}

std::optional<int64_t> Hub::bootstrap_mark(const std::string& credential) const {
  std::lock_guard lock(marks_mutex_);
  const auto it = bootstrap_marks_.find(credential);
  if (it == bootstrap_marks_.end() || steady_ms() - it->second.noted_at_ms > kBootstrapMarkWindowMs) {
    return std::nullopt;
  }
  return it->second.head;
}

json::object Hub::sync_response_payload(json::array deltas, int64_t current_sync_id) const {
  json::object payload{{"deltas", std::move(deltas)}, {"currentSyncId", current_sync_id}};
  if (!store_id_.empty()) payload["storeId"] = store_id_;
  return payload;
}

Result<int64_t> Hub::count_visible(const std::shared_ptr<Subscription>& sub, int64_t from, int64_t through,
                                   int64_t limit) {
  int64_t count = 0;
  while (count <= limit) {
    auto page = reader_(sub->tenant(), from, through, page_size_);
    if (!page) return tl::unexpected(page.error());
    {
      std::lock_guard lock(sub->mutex_);
      for (const auto& delta : *page) {
        if (delta.id > sub->last_sent_ && sub->sees(delta.sync_groups) && sub->may_receive(delta)) ++count;
      }
    }
    if (static_cast<int>(page->size()) < page_size_) break;
    from = page->back().id;
  }
  return count;
}

Status Hub::catch_up(const std::shared_ptr<Subscription>& sub, int64_t last_sync_id,
                     std::optional<int64_t> bootstrapped_at, bool may_require_bootstrap) {
  std::lock_guard catch_up_lock(sub->catch_up_mutex_);
  bool log_unread = false;
  // Cluster mode: read the shared log first, whatever the cursor. A wake-up can be lost (the
  // node that committed was killed before it announced, or Redis dropped it), and then this
  // node learns of those deltas only at its next safety poll. A client resuming here after
  // its writes were confirmed elsewhere must get them in this answer, not a poll later. A
  // cursor beyond what is published is read up to (it comes from another node).
  if (publish_through_) {
    if (auto ok = publish_through_(std::max<int64_t>(last_sync_id, 0)); !ok) {
      spdlog::warn("catch-up could not read the shared log: {}", ok.error().message);
      log_unread = true;
    }
  }
  int64_t snapshot_head;
  int64_t from;
  {
    // Taken under the publish mutex: every delta <= snapshot_head has already been offered,
    // every later one will be held until this catch-up has answered.
    std::lock_guard publish_lock(publish_mutex_);
    snapshot_head = head_;
    std::lock_guard lock(sub->mutex_);
    if (!sub->outbox_) return {};
    sub->holding_ = true;
    const int64_t fresh_start = bootstrapped_at ? std::min(*bootstrapped_at, sub->open_head_) : sub->open_head_;
    from = std::max(last_sync_id > 0 ? last_sync_id : fresh_start, sub->last_sent_);
    // The client has applied everything up to its cursor: those ids must not reach it again
    // live, and currentSyncId must not rewind it. A cursor beyond the (now published) log
    // comes from another database and is trusted only up to the head, or the client would
    // miss new deltas until the log reached its cursor. If the log could not be read, the
    // cursor is trusted: the ids up to it exist elsewhere and would arrive as duplicates.
    if (last_sync_id > 0) {
      const int64_t applied = log_unread ? last_sync_id : std::min(last_sync_id, snapshot_head);
      sub->last_sent_ = std::max(sub->last_sent_, applied);
    }
  }
  if (may_require_bootstrap && max_catch_up_deltas_ > 0 && snapshot_head - from > max_catch_up_deltas_) {
    // Cheaper for the client to bootstrap than to replay the gap: count what it would receive
    // (reading at most one page past the limit) and, past the limit, tell it so.
    auto gap = count_visible(sub, from, snapshot_head, max_catch_up_deltas_);
    if (!gap) {
      std::lock_guard lock(sub->mutex_);
      sub->holding_ = false;
      return tl::unexpected(gap.error());
    }
    if (*gap > max_catch_up_deltas_) {
      std::lock_guard lock(sub->mutex_);
      if (!sub->outbox_) return {};
      sub->last_sent_ = std::max(sub->last_sent_, snapshot_head);
      auto payload = sync_response_payload(json::array{}, sub->last_sent_);
      payload["requiresBootstrap"] = true;
      payload["bootstrapHint"] = json::object{{"reason", "too_far_behind"}, {"totalDeltaCount", *gap}};
      sub->outbox_->push_catch_up(
          json::serialize(json::object{{"type", "sync_response"}, {"payload", std::move(payload)}}), 0);
      sub->release_held();
      return {};
    }
  }
  bool first_page = true;
  while (true) {
    auto page = reader_(sub->tenant(), from, snapshot_head, page_size_);
    if (!page) {
      std::lock_guard lock(sub->mutex_);
      sub->holding_ = false;  // do not wedge live delivery on a read error
      return tl::unexpected(page.error());
    }
    const bool more = static_cast<int>(page->size()) == page_size_;
    json::array visible;
    int64_t last_visible = 0;
    std::lock_guard lock(sub->mutex_);
    if (!sub->outbox_) return {};
    for (const auto& delta : *page) {
      if (delta.id > sub->last_sent_ && sub->sees(delta.sync_groups) && sub->may_receive(delta)) {
        visible.emplace_back(wire_delta(delta));
        last_visible = delta.id;
        sub->last_sent_ = delta.id;
        sub->delivered_.fetch_add(1, std::memory_order_relaxed);
      }
    }
    if (!page->empty()) from = page->back().id;
    if (!more) {
      sub->last_sent_ = std::max(sub->last_sent_, snapshot_head);
    }
    if (!visible.empty() || !more || first_page) {
      auto payload = sync_response_payload(std::move(visible), std::max(snapshot_head, sub->last_sent_));
      sub->outbox_->push_catch_up(
          json::serialize(json::object{{"type", "sync_response"}, {"payload", std::move(payload)}}), last_visible);
      first_page = false;
    }
    if (more) continue;
    sub->release_held();
    return {};
  }
}

std::map<std::pair<std::string, std::string>, Hub::Metered> Hub::drain_meters() {
  std::lock_guard index_lock(index_mutex_);
  auto drained = std::move(unmetered_);
  unmetered_.clear();
  for (const auto& sub : live_) {
    const int64_t delivered = sub->delivered_.exchange(0);
    if (delivered > 0) drained[{sub->tenant(), sub->meter_key_}].deltas_delivered += delivered;
  }
  return drained;
}

int64_t Hub::head() const {
  std::lock_guard lock(publish_mutex_);
  return head_;
}

void Hub::set_head(int64_t head) {
  std::lock_guard lock(publish_mutex_);
  head_ = head;
}

std::size_t Hub::subscription_count() const {
  std::lock_guard lock(index_mutex_);
  return count_;
}

}  // namespace ablo::fanout
