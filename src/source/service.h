#pragma once
// Data Source mode (datasource.md §1, issue 11): the sources registered per tenant and the
// workers that keep our store an exact, live read cache of each one.
//
// For a tenant with a source, the customer's system is canonical and our store holds its rows
// the way a client does: filled from the source (`list`, at registration), then changed only
// by what the source confirms. So every read path — bootstrap, query, entity, /v1/models,
// MCP — keeps reading our store and its one authorization rule, and is never stale past a
// confirmed write:
//
//   commit   (Engine::commit hands it here: CommitForwarder)
//            1. checked by the engine as it would be applied — schema, authorization, claims,
//               readAt/onStale against our log (CommitMode::kCheckOnly); a clientTxId we
//               already confirmed answers its receipt without asking the source again;
//            2. sent to the source as one signed `commit` with its clientTxId (the source's
//               ledger applies it once however often it is retried);
//            3. the rows it answers are checked against the operations (one per operation,
//               same ids, fitting the schema) and applied as our deltas (kCanonical), then
//               the committer is answered. Source down, slow or 5xx: source_network_error
//               (retryable) and nothing applied here; a refusal: its code.
//   events   polled from the source's outbox cursor (and pushed to POST /api/source/events):
//            each applied once (its id is its idempotency key), echoes of our own commits
//            skipped (a commit with its clientTxId is recorded), the cursor persisted after
//            the events before it are durable. An event with a clientTxId we never recorded
//            is a commit whose answer was lost (a crash between the source's commit and our
//            append): it is applied, so the write reaches clients exactly once.
//
// Threads: each source has a forwarder thread (commits, in arrival order) and a poller thread
// (hydration, events, pushes); both hold the source's `exchange` mutex while they talk to its
// adapter and apply what it said, so a commit's answer and its echo are applied in order. The
// forwarder does not wait for a commit's rows to be durable: it queues them (the pipeline keeps
// their order) and sends the next commit meanwhile; the poller, holding `exchange`, first waits
// until every queued commit has its receipt. The poller waits for events outside that mutex.
// Commits wait in a bounded queue
// (kMaxQueuedCommits; beyond it queue_too_deep). Lock order: registry mutex, then a source's
// exchange mutex, then its status mutex; none is held across Engine::commit_here's wait
// except `exchange`. A refresher thread re-reads the registrations every kRefreshInterval, so
// every node sharing one PostgreSQL runs the same sources (each forwards its own clients'
// commits; all poll, and an event one node applied is a replay for the others). A tenant whose
// source is registered but cannot start has its commits refused (source_network_error), never
// written to our store alone.
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <boost/json/object.hpp>

#include "auth/auth_service.h"
#include "common/result.h"
#include "engine/engine.h"
#include "source/adapter.h"
#include "store/store.h"

namespace ablo::source {

inline constexpr std::size_t kMaxQueuedCommits = 1'024;
inline constexpr int kEventsPerPoll = 100;
inline constexpr int kHydratePageRows = 500;
inline constexpr std::chrono::seconds kRefreshInterval{2};

struct SourceConfig {
  std::string id;  // src_…
  store::Tenant tenant;
  Mode mode = Mode::kSource;
  std::string url;          // the endpoint, or the database URL (never shown whole)
  std::string signing_key;  // kSource: the sk_ key requests are signed with
  int64_t timeout_ms = 10'000;
  int64_t poll_interval_ms = 1'000;
  int64_t created_at_ms = 0;
};

// What `ablo source status` shows (datasource.md §1.10).
struct SourceStatus {
  std::string state = "starting";  // starting | hydrating | live | failing
  int64_t last_success_at_ms = 0;
  std::optional<Error> last_error;
  int64_t last_error_at_ms = 0;
  int64_t requests = 0;   // calls made to the source
  int64_t failures = 0;   // calls that failed
  int64_t retries = 0;    // retryable failures (network, timeout, 5xx)
  int64_t commits_forwarded = 0;
  int64_t events_applied = 0;
  int64_t events_skipped = 0;   // echoes of our commits, re-deliveries
  int64_t events_rejected = 0;  // did not fit the schema (logged, counted, passed)
  int64_t event_lag_ms = 0;     // the last applied event: applied at - occurred at
  int64_t hydrated_rows = 0;
  std::optional<std::string> cursor;
  bool events_feed = true;  // false once the source said it has no events feed
};

struct SourceView {
  SourceConfig config;
  SourceStatus status;
  // The public projection: no signing key, a database URL without its password.
  boost::json::object to_json() const;
};

// Builds the adapter of a source (tests substitute fakes).
using AdapterFactory = std::function<Result<std::unique_ptr<DataAdapter>>(const SourceConfig&, engine::Engine&)>;
AdapterFactory default_adapter_factory();

// The headers of a signed push (POST /api/source/events), lower-case names.
struct PushRequest {
  std::string webhook_id;
  std::string webhook_timestamp;
  std::string webhook_signature;
  std::string body;  // (an Idempotency-Key adds nothing: each event's id already makes a push idempotent)
};
struct PushResult {
  std::string source_id;
  int64_t accepted = 0;  // events applied now
  int64_t skipped = 0;   // already applied, or echoes
  int64_t rejected = 0;
};

class SourceService final : public engine::CommitForwarder,
                            public std::enable_shared_from_this<SourceService> {
 public:
  SourceService(engine::Engine& engine, store::Store& store, AdapterFactory factory = default_adapter_factory());
  ~SourceService() override;

  // Loads the registered sources and starts their workers.
  Status start();
  void stop();

  // Registers the tenant's source (one per tenant: a second is invalid_request) and starts it:
  // it hydrates at once (rows from `list`, the events cursor at the feed's end).
  Result<SourceView> add(SourceConfig config);
  Status remove(const store::Tenant& tenant, const std::string& id);
  std::vector<SourceView> list(const store::Tenant& tenant) const;
  std::optional<SourceView> find(const store::Tenant& tenant, const std::string& id) const;
  // True while any source is still hydrating (readiness).
  bool hydrating() const;

  // A signed push of events: verified against each registered endpoint source's key (401
  // source_api_key_unresolved, details.reason = the §1.3 failure, when none signed it), then
  // applied on that source's poller, in order, before answering.
  Result<PushResult> ingest_push(const PushRequest& push);

  bool forward(engine::CommitRequest& request, engine::CommitCallback& done) override;

 private:
  class Worker;
  Result<std::map<std::string, SourceConfig>> stored_configs() const;
  Status reconcile();
  Status start_worker(const SourceConfig& config);
  Status persist_configs_locked() const;
  const SourceConfig* config_of_tenant_locked(const store::Tenant& tenant) const;
  SourceView view_locked(const SourceConfig& config) const;
  void uninstall_capture_of(const SourceConfig& config);

  engine::Engine& engine_;
  store::Store& store_;
  AdapterFactory factory_;
  mutable std::mutex mutex_;  // guards configs_, workers_, start_failures_ (the registry)
  std::map<std::string, SourceConfig> configs_;             // by id: the registrations
  std::map<std::string, std::shared_ptr<Worker>> workers_;  // by id: the running ones
  std::map<std::string, std::string> start_failures_;       // by id: the last failure to start, logged once
  // The refresher re-reads the registrations every kRefreshInterval (another node's changes).
  std::mutex refresh_mutex_;  // guards stopping_
  std::condition_variable refresh_wake_;
  bool stopping_ = false;
  std::thread refresher_;
};

}  // namespace ablo::source
