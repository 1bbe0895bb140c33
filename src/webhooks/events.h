#pragma once
// Pure pieces of outbound webhooks (datasource.md §4): a committed delta as an event, the
// endpoint's event filter, the signed batch body and its id, and the retry schedule.
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <boost/json/object.hpp>

#include "common/result.h"
#include "store/store.h"

namespace ablo::webhooks {

// `<model lower-cased>.<created|updated|deleted|archived|unarchived>` for actions I/U/D/A/V;
// nullopt for C/G/S (covering and sync-group mechanics are not events).
std::optional<std::string> event_type_of(const store::Delta& delta);

// The event of a delta (§4.2): {id: String(syncId), type, model, objectId, syncId, data|null,
// createdAt ISO-8601}; nullopt when the delta is no event.
std::optional<boost::json::object> event_of(const store::Delta& delta);

// Whether an endpoint subscribed to `enabled_events` wants an event of `type` on `model`:
// "*" matches all, a model name matches that model's events (case-insensitive), a type such as
// "task.updated" matches that type.
bool event_enabled(const std::vector<std::string>& enabled_events, std::string_view model, std::string_view type);

// Checks an enabledEvents list from a request: non-empty strings, at most 100, each "*", a
// name, or "<name>.<created|updated|deleted|archived|unarchived>".
Status validate_enabled_events(const std::vector<std::string>& enabled_events);

// One delivery: the body sent (identical on every retry) and the log range it covers.
struct Batch {
  std::string id;  // webhook-id: stable across retries of this batch
  std::string body;
  int64_t first_sync_id = 0;
  int64_t last_sync_id = 0;  // the cursor once it is delivered (may pass filtered-out deltas)
  std::size_t events = 0;
};

// The batch id of an endpoint's events first..last: the same range re-sent (a retry, or after
// a restart) carries the same id.
std::string batch_id(std::string_view endpoint_id, int64_t first_sync_id, int64_t last_sync_id);

// Gathers events into one body `{"object":"webhook_batch","endpoint":…,"data":[…]}` of at most
// `max_events` events and about `max_bytes` (a single larger event still goes out alone).
class BatchBuilder {
 public:
  BatchBuilder(std::string endpoint_id, std::size_t max_events, std::size_t max_bytes);
  // False (nothing added) when the batch is full.
  bool add(const boost::json::object& event, int64_t sync_id);
  // Extends the covered range over a delta that produced no event for this endpoint.
  void cover(int64_t sync_id);
  std::size_t size() const { return events_; }
  bool full() const { return events_ >= max_events_ || data_.size() >= max_bytes_; }
  Batch finish() const;

 private:
  std::string endpoint_id_;
  std::size_t max_events_;
  std::size_t max_bytes_;
  std::string data_;  // serialized events, comma-separated
  std::size_t events_ = 0;
  int64_t first_ = 0;
  int64_t last_ = 0;
};

// Waits after the n-th failed attempt of a batch; attempts = delays + 1. Standard: immediate,
// then 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h (8 attempts over about 32 h).
struct RetrySchedule {
  std::vector<int64_t> delays_ms;
  static RetrySchedule standard();
  // "100,200,300" (milliseconds; tests shorten the schedule with it).
  static Result<RetrySchedule> parse(std::string_view text);
  // The wait after `failures` failed attempts; nullopt when they were all the attempts.
  std::optional<int64_t> delay_after(int failures) const;
  int attempts() const { return static_cast<int>(delays_ms.size()) + 1; }
};

}  // namespace ablo::webhooks
