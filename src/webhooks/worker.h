#pragma once
// The delivery worker of outbound webhooks (datasource.md §4.4): for every endpoint this node
// holds the lease of, reads the tenant's delta log after the endpoint's cursor in bounded
// pages, posts signed batches in syncId order, and advances the cursor only after a 2xx.
//
// Threading: one thread of its own running its own io_context. It owns every piece of delivery
// state and makes every store call of delivery; it never runs on the socket-serving threads or
// the commit writer, so a slow receiver delays only its own endpoint. Wake-up: log_advanced()
// (the fan-out hub calls it after every publish: this node's own durable commits and, on a
// cluster, the other nodes') posts one tick, coalesced while one is pending, which compares the
// hub's in-memory head (`head_source`) with each endpoint's scan position; a timer ticks every
// `poll_ms` as well, for retries, lease renewal and as a safety net. The next batch of an
// endpoint follows its 2xx at once.
//
// Several nodes (PostgreSQL): an endpoint is delivered by the node holding its lease row
// (renewed every lease_ms / 3, lapsing after lease_ms); a node that lost the lease can no
// longer move the cursor (the store's write is conditional on the owner), and the node that
// takes over starts from the cursor, so nothing is skipped (at least once; receivers dedupe by
// event id).
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "store/store.h"
#include "webhooks/events.h"

namespace ablo::webhooks {

struct WorkerOptions {
  std::string node_id = "local";  // the lease owner: unique per node on a shared database
  int max_in_flight = 8;          // deliveries at once, across endpoints
  int64_t request_timeout_ms = 10'000;  // connect + send + response headers and (capped) body
  int64_t lease_ms = 10'000;
  int64_t poll_ms = 100;  // the timer's period: retries wait at most this much past their due time
  std::function<int64_t()> head_source;  // the log head; empty: Store::head_sync_id
  std::size_t max_batch_events = 100;
  std::size_t max_batch_bytes = 512 * 1024;
  std::size_t max_response_bytes = 64 * 1024;  // a receiver's body beyond this is not read
  int read_page = 200;           // deltas per store read
  int max_pages_per_batch = 20;  // bounds the log scanned for one batch (filtered-out deltas)
  int max_endpoints = 1000;      // leases one node takes
  RetrySchedule retries = RetrySchedule::standard();
  std::string tls_ca_file;  // extra CA certificates trusted for https:// endpoints
};

class DeliveryWorker {
 public:
  DeliveryWorker(store::Store& store, WorkerOptions options);
  ~DeliveryWorker();
  DeliveryWorker(const DeliveryWorker&) = delete;
  DeliveryWorker& operator=(const DeliveryWorker&) = delete;

  void start();
  // Something changed in the endpoint table (a registration, roll, enable): look now rather
  // than at the next lease renewal. Any thread.
  void nudge();
  // The log head moved (the hub published). Cheap and non-blocking: any thread, any rate.
  void log_advanced();
  // Stops delivering (in-flight requests are abandoned: their batches are re-sent by whoever
  // delivers next) and releases this node's leases so another node takes over at once.
  void stop();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace ablo::webhooks
