#include "source/service.h"

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <deque>
#include <future>
#include <thread>

#include <boost/json.hpp>
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "common/exception_text.h"
#include "common/json_number.h"
#include "common/random.h"
#include "auth/keys.h"
#include "common/thread_name.h"
#include "common/time.h"
#include "source/contract.h"
#include "source/http_adapter.h"
#include "source/pg_adapter.h"
#include "source/signature.h"

namespace ablo::source {

namespace json = boost::json;
using engine::CommitMode;
using engine::CommitReceipt;
using engine::CommitRequest;
using engine::OpType;

namespace {

constexpr std::string_view kConfigsSetting = "sources";
std::string cursor_setting(const std::string& id) { return "source." + id + ".cursor"; }
std::string hydrated_setting(const std::string& id) { return "source." + id + ".hydrated"; }

// Pages of the feed read to find its end at registration, at most (1,000 events each).
constexpr int kMaxDrainPages = 10'000;
// Pages applied per poll round before the poller lets a waiting commit in.
constexpr int kPagesPerRound = 10;
constexpr int64_t kMaxBackoffMs = 30'000;
// An event id longer than this is hashed into its idempotency key (the store bounds keys).
constexpr std::size_t kMaxEventKey = 160;

std::string_view op_type_name(OpType type) {
  switch (type) {
    case OpType::kCreate: return "CREATE";
    case OpType::kUpdate: return "UPDATE";
    case OpType::kDelete: return "DELETE";
    case OpType::kArchive: return "ARCHIVE";
    case OpType::kUnarchive: return "UNARCHIVE";
  }
  return "UPDATE";
}

OpType op_type_of(std::string_view name) {
  if (name == "CREATE") return OpType::kCreate;
  if (name == "DELETE") return OpType::kDelete;
  if (name == "ARCHIVE") return OpType::kArchive;
  if (name == "UNARCHIVE") return OpType::kUnarchive;
  return OpType::kUpdate;
}

std::string_view on_stale_name(const std::optional<engine::OnStale>& policy) {
  if (!policy) return "";
  switch (*policy) {
    case engine::OnStale::kReject: return "reject";
    case engine::OnStale::kForce: return "force";
    case engine::OnStale::kFlag: return "flag";
    case engine::OnStale::kMerge: return "merge";
  }
  return "";
}

// A database URL without its password: postgres://user:secret@host/db -> postgres://user:***@host/db.
std::string redacted_url(const std::string& url) {
  const auto scheme = url.find("://");
  const auto at = url.find('@');
  if (scheme != std::string::npos && at != std::string::npos && at > scheme) {
    const auto colon = url.find(':', scheme + 3);
    if (colon != std::string::npos && colon < at) return url.substr(0, colon + 1) + "***" + url.substr(at);
    return url;
  }
  const auto password = url.find("password=");
  if (password != std::string::npos) {
    const auto end = url.find(' ', password);
    return url.substr(0, password) + "password=***" + (end == std::string::npos ? "" : url.substr(end));
  }
  return url;
}

// libpq waits for an unreachable host without bound unless told otherwise.
std::string with_connect_timeout(const std::string& url) {
  if (url.find("connect_timeout") != std::string::npos) return url;
  if (url.find("://") == std::string::npos) return url + " connect_timeout=5";
  return url + (url.find('?') == std::string::npos ? "?" : "&") + "connect_timeout=5";
}

json::object config_json(const SourceConfig& config) {
  return json::object{{"id", config.id},
                      {"org", config.tenant.org},
                      {"sandbox", config.tenant.sandbox},
                      {"mode", std::string(to_string(config.mode))},
                      {"url", config.url},
                      {"signingKey", config.signing_key},
                      {"timeoutMs", config.timeout_ms},
                      {"pollIntervalMs", config.poll_interval_ms},
                      {"createdAt", config.created_at_ms}};
}

std::optional<SourceConfig> config_from_json(const json::value& value) {
  if (!value.is_object()) return std::nullopt;
  const auto& object = value.as_object();
  auto text = [&](std::string_view key) -> std::string {
    const auto* found = object.if_contains(key);
    return found && found->is_string() ? std::string(found->as_string()) : std::string();
  };
  auto number = [&](std::string_view key, int64_t fallback) {
    const auto* found = object.if_contains(key);
    return found ? exact_int64(*found).value_or(fallback) : fallback;
  };
  SourceConfig config;
  config.id = text("id");
  config.tenant.org = text("org");
  const auto* sandbox = object.if_contains("sandbox");
  config.tenant.sandbox = sandbox && sandbox->is_bool() && sandbox->as_bool();
  config.mode = text("mode") == "selfHosted" ? Mode::kSelfHosted : Mode::kSource;
  config.url = text("url");
  config.signing_key = text("signingKey");
  config.timeout_ms = number("timeoutMs", config.timeout_ms);
  config.poll_interval_ms = number("pollIntervalMs", config.poll_interval_ms);
  config.created_at_ms = number("createdAt", 0);
  if (config.id.empty() || config.tenant.org.empty() || config.url.empty()) return std::nullopt;
  return config;
}

// Waits for a commit the engine answers on another thread.
Result<CommitReceipt> commit_and_wait(engine::Engine& engine, CommitRequest request) {
  auto promise = std::make_shared<std::promise<Result<CommitReceipt>>>();
  auto future = promise->get_future();
  engine.commit_here(std::move(request), [promise](Result<CommitReceipt> result) { promise->set_value(std::move(result)); });
  return future.get();
}

Error mismatch(std::size_t index, const std::string& what) {
  return Error("invalid_request", fmt::format("operations[{}]: the data source's answer does not match the commit: {}",
                                              index, what),
               fmt::format("operations[{}]", index));
}

}  // namespace

json::object SourceView::to_json() const {
  json::object status_json{{"state", status.state},
                           {"requests", status.requests},
                           {"failures", status.failures},
                           {"retries", status.retries},
                           {"commitsForwarded", status.commits_forwarded},
                           {"eventsApplied", status.events_applied},
                           {"eventsSkipped", status.events_skipped},
                           {"eventsRejected", status.events_rejected},
                           {"eventLagMs", status.event_lag_ms},
                           {"hydratedRows", status.hydrated_rows},
                           {"eventsFeed", status.events_feed}};
  status_json["lastSuccessAt"] =
      status.last_success_at_ms ? json::value(iso8601_from_ms(status.last_success_at_ms)) : json::value(nullptr);
  status_json["cursor"] = status.cursor ? json::value(*status.cursor) : json::value(nullptr);
  if (status.last_error) {
    status_json["lastError"] = json::object{{"code", status.last_error->code},
                                            {"message", status.last_error->message},
                                            {"at", iso8601_from_ms(status.last_error_at_ms)}};
  } else {
    status_json["lastError"] = nullptr;
  }
  return json::object{{"object", "datasource"},
                      {"id", config.id},
                      {"mode", std::string(to_string(config.mode))},
                      {"url", config.mode == Mode::kSelfHosted ? redacted_url(config.url) : config.url},
                      {"organizationId", config.tenant.org},
                      {"livemode", !config.tenant.sandbox},
                      {"timeoutMs", config.timeout_ms},
                      {"pollIntervalMs", config.poll_interval_ms},
                      {"createdAt", iso8601_from_ms(config.created_at_ms)},
                      {"status", std::move(status_json)}};
}

AdapterFactory default_adapter_factory() {
  return [](const SourceConfig& config, engine::Engine& engine) -> Result<std::unique_ptr<DataAdapter>> {
    if (config.mode == Mode::kSource) {
      return make_http_endpoint(HttpEndpointOptions{config.url, config.signing_key, config.timeout_ms, {}});
    }
    // The customer's own PostgreSQL: capture is (re)installed for the active schema first.
    // The whole database is this tenant's: rows are not filtered by organization.
    const std::string url = with_connect_timeout(config.url);
    auto conn = pg::Connection::open(url);
    if (!conn) return fail("source_network_error", "the source database cannot be reached: " + conn.error().message);
    if (auto ok = install_capture(**conn, *engine.schema()); !ok) return tl::unexpected(ok.error());
    return open_pg_source(PgSourceOptions{url, [&engine] { return engine.schema(); }, {}});
  };
}

// ---------------------------------------------------------------------------------------------

class SourceService::Worker {
 public:
  Worker(SourceConfig config, std::unique_ptr<DataAdapter> adapter, engine::Engine& engine, store::Store& store)
      : config_(std::move(config)), adapter_(std::move(adapter)), engine_(engine), store_(store) {}
  ~Worker() { stop(); }

  const SourceConfig& config() const { return config_; }

  void start() {
    forwarder_ = named_thread("ablo-src-fwd", [this] { run_forwarder(); });
    poller_ = named_thread("ablo-src-poll", [this] { run_poller(); });
  }

  void stop() {
    {
      std::lock_guard lock(queue_mutex_);
      stopping_ = true;
    }
    stop_flag_ = true;
    queue_wake_.notify_all();
    if (forwarder_.joinable()) forwarder_.join();
    if (poller_.joinable()) poller_.join();
    wait_for_applies();  // their callbacks use this worker
    // Commits still queued were never sent: the client may retry them.
    std::deque<Pending> left;
    {
      std::lock_guard lock(queue_mutex_);
      left.swap(queue_);
    }
    for (auto& pending : left) pending.done(fail("source_network_error", "the data source connection was closed"));
  }

  bool enqueue(CommitRequest& request, engine::CommitCallback& done) {
    {
      std::lock_guard lock(queue_mutex_);
      if (stopping_) return false;
      if (queue_.size() >= kMaxQueuedCommits) {
        done(fail("queue_too_deep", fmt::format("{} commits already wait for the data source", queue_.size())));
        return true;
      }
      queue_.push_back(Pending{std::move(request), std::move(done)});
    }
    queue_wake_.notify_one();
    return true;
  }

  SourceView view() const {
    std::lock_guard lock(status_mutex_);
    return SourceView{config_, status_};
  }

  bool hydrating() const {
    std::lock_guard lock(status_mutex_);
    return status_.state == "starting" || status_.state == "hydrating";
  }

  // Applies pushed events on the caller's (worker pool) thread, in the same order as polls.
  Result<PushResult> apply_pushed(const std::vector<Event>& events) {
    std::lock_guard exchange(exchange_mutex_);
    wait_for_applies();
    auto counts = apply_events(events);
    if (!counts) return tl::unexpected(counts.error());
    counts->source_id = config_.id;
    return counts;
  }

 private:
  struct Pending {
    CommitRequest request;
    engine::CommitCallback done;
  };

  // --- commits ---------------------------------------------------------------------------

  void run_forwarder() {
    while (true) {
      Pending pending;
      {
        std::unique_lock lock(queue_mutex_);
        queue_wake_.wait(lock, [&] { return stopping_ || !queue_.empty(); });
        if (stopping_) return;
        pending = std::move(queue_.front());
        queue_.pop_front();
      }
      try {
        std::lock_guard exchange(exchange_mutex_);
        auto answered = forward_one(std::move(pending.request), pending.done);
        if (answered) pending.done(std::move(*answered));
      } catch (...) {
        spdlog::error("source {}: forwarding a commit threw: {}", config_.id, current_exception_text());
        if (pending.done) pending.done(fail("internal_error", "forwarding the commit to the data source failed unexpectedly"));
      }
    }
  }

  // Checks the commit, sends it to the source and queues what it answered for our store. The
  // answer when it is known here (a refusal, a replay); nullopt when `done` was handed to the
  // engine with the canonical rows (answered once they are durable, while the next commit is
  // already on its way to the source).
  std::optional<Result<CommitReceipt>> forward_one(CommitRequest request, engine::CommitCallback& done) {
    request.request_fingerprint = engine::commit_fingerprint(request);
    CommitRequest check = request;
    check.mode = CommitMode::kCheckOnly;
    auto checked = commit_and_wait(engine_, std::move(check));
    if (!checked || checked->replayed) return checked;

    const auto schema = engine_.schema();
    ChangeSet change_set;
    change_set.client_tx_id = request.client_tx_id.empty() ? random_id("srctx") : request.client_tx_id;
    change_set.scope = scope_of(request.principal);
    for (const auto& op : request.operations) {
      const schema::Model* model = schema->resolve(op.model);
      change_set.operations.push_back(Operation{std::string(op_type_name(op.type)), model ? model->key : op.model, op.id,
                                                op.input, op.transaction_id, op.read_at,
                                                std::string(on_stale_name(op.on_stale))});
    }
    auto rows = call([&] { return adapter_->commit(change_set); });
    if (!rows) return Result<CommitReceipt>(tl::unexpected(rows.error()));
    if (auto ok = check_rows(request, *rows); !ok) {
      note_failure(ok.error());
      return Result<CommitReceipt>(tl::unexpected(ok.error()));
    }
    CommitRequest canonical = std::move(request);
    canonical.mode = CommitMode::kCanonical;
    for (std::size_t i = 0; i < canonical.operations.size(); ++i) {
      auto& op = canonical.operations[i];
      op.input = op.type == OpType::kDelete ? json::object{} : std::move((*rows)[i]);
    }
    {
      std::lock_guard lock(status_mutex_);
      ++status_.commits_forwarded;
    }
    apply_later(std::move(canonical), std::exchange(done, nullptr));
    return std::nullopt;
  }

  // Queues a canonical commit and answers `done` when it is durable. Counted, so the poller
  // (which must see its receipt before the echo) and stop() wait for it.
  void apply_later(CommitRequest canonical, engine::CommitCallback done) {
    {
      std::lock_guard lock(applies_mutex_);
      ++applies_in_flight_;
    }
    engine_.commit_here(std::move(canonical), [this, done = std::move(done)](Result<CommitReceipt> result) {
      done(std::move(result));
      std::lock_guard lock(applies_mutex_);
      if (--applies_in_flight_ == 0) applies_done_.notify_all();
    });
  }

  void wait_for_applies() {
    std::unique_lock lock(applies_mutex_);
    applies_done_.wait(lock, [&] { return applies_in_flight_ == 0; });
  }

  // One row per operation, for the same row (schema fit is checked where it is applied).
  static Status check_rows(const CommitRequest& request, const std::vector<json::object>& rows) {
    if (rows.size() != request.operations.size()) {
      return tl::unexpected(mismatch(std::min(rows.size(), request.operations.size()),
                                     fmt::format("{} rows for {} operations", rows.size(), request.operations.size())));
    }
    for (std::size_t i = 0; i < rows.size(); ++i) {
      const auto* id = rows[i].if_contains("id");
      if (request.operations[i].type == OpType::kDelete) continue;
      if (!id || !id->is_string()) return tl::unexpected(mismatch(i, "the row has no id"));
      if (id->as_string() != request.operations[i].id) {
        return tl::unexpected(mismatch(i, fmt::format("row '{}' answers operation on '{}'",
                                                      std::string(id->as_string()), request.operations[i].id)));
      }
    }
    return {};
  }

  Scope scope_of(const auth::Principal& principal) const {
    return Scope{principal.participant_id, principal.participant_kind, principal.tenant.org, principal.allowed_groups,
                 principal.tenant.sandbox};
  }

  // --- events ----------------------------------------------------------------------------

  void run_poller() {
    int64_t backoff_ms = 0;
    while (!stop_flag_) {
      Status round;
      {
        std::lock_guard exchange(exchange_mutex_);
        wait_for_applies();
        round = hydrated_ ? poll_round() : hydrate();
      }
      if (!round) {
        backoff_ms = std::min(kMaxBackoffMs, std::max<int64_t>(1'000, backoff_ms * 2));
        sleep_for(std::chrono::milliseconds(backoff_ms));
        continue;
      }
      backoff_ms = 0;
      if (more_waiting_) continue;
      adapter_->wait_for_events(std::chrono::milliseconds(config_.poll_interval_ms), stop_flag_);
    }
  }

  void sleep_for(std::chrono::milliseconds wait) {
    std::unique_lock lock(queue_mutex_);
    queue_wake_.wait_for(lock, wait, [&] { return stopping_; });
  }

  // Registration: the events cursor moves to the end of the feed, then every row is listed,
  // so a change is in the rows or after the cursor (or both: applying it twice is harmless).
  Status hydrate() {
    set_state("hydrating");
    auto stored = store_.get_setting(hydrated_setting(config_.id));
    if (!stored) return note_failure(stored.error());
    if (auto cursor = store_.get_setting(cursor_setting(config_.id)); cursor && *cursor) {
      std::lock_guard lock(status_mutex_);
      status_.cursor = **cursor;
    }
    if (stored->value_or("") != "1") {
      if (auto ok = drain_to_feed_end(); !ok) return ok;
      if (auto ok = list_every_model(); !ok) return ok;
      if (auto ok = store_.put_setting(hydrated_setting(config_.id), "1"); !ok) return note_failure(ok.error());
    }
    hydrated_ = true;
    set_state("live");
    return {};
  }

  Status drain_to_feed_end() {
    std::optional<std::string> cursor = current_cursor();
    for (int page_count = 0; page_count < kMaxDrainPages && !stop_flag_; ++page_count) {
      auto page = call([&] { return adapter_->events(cursor, static_cast<int>(contract::kMaxEventsPerPage)); });
      if (!page) return feed_missing(page.error()) ? Status{} : Status(tl::unexpected(page.error()));
      if (page->events.empty() || !page->next_cursor) break;
      cursor = page->next_cursor;
    }
    return save_cursor(cursor);
  }

  Status list_every_model() {
    const auto schema = engine_.schema();
    const Scope scope{"source:" + config_.id, "system", config_.tenant.org, {}, config_.tenant.sandbox};
    for (const auto& model : schema->models()) {
      if (!model.mutable_ || model.control_plane) continue;
      ListQuery query;
      query.limit = kHydratePageRows;
      query.order_by = "id";
      std::string last_id;
      while (!stop_flag_) {
        auto page = call([&] { return adapter_->list(model.key, query, scope); });
        if (!page) return tl::unexpected(page.error());
        std::vector<json::object> fresh;
        for (auto& row : page->rows) {
          const auto* id = row.if_contains("id");
          if (id && id->is_string() && std::string(id->as_string()) > last_id) fresh.push_back(std::move(row));
        }
        if (fresh.empty()) break;  // an endpoint that ignores both cursor and where: done
        last_id = std::string(fresh.back().at("id").as_string());
        if (auto ok = apply_rows(model, std::move(fresh)); !ok) return ok;
        const bool full = static_cast<int>(page->rows.size()) >= kHydratePageRows;
        if (!full && !page->next_cursor) break;
        query.cursor = page->next_cursor.value_or("");
        // emplace_back, not json::array{json::array{…}}: clang makes that a copy of the inner array.
        query.where = json::array{};
        if (!page->next_cursor) query.where.emplace_back(json::array{"id", ">", last_id});
      }
    }
    return {};
  }

  Status apply_rows(const schema::Model& model, std::vector<json::object> rows) {
    CommitRequest request;
    request.mode = CommitMode::kCanonical;
    request.principal = source_principal();
    for (auto& row : rows) {
      engine::Operation op;
      op.type = OpType::kUpdate;
      op.model = model.key;
      op.id = std::string(row.at("id").as_string());
      op.input = std::move(row);
      request.operations.push_back(std::move(op));
    }
    const auto count = static_cast<int64_t>(request.operations.size());
    auto applied = commit_and_wait(engine_, std::move(request));
    if (!applied) return note_failure(applied.error());
    std::lock_guard lock(status_mutex_);
    status_.hydrated_rows += count;
    return {};
  }

  Status poll_round() {
    more_waiting_ = false;
    {
      std::lock_guard lock(status_mutex_);
      if (!status_.events_feed) return {};
    }
    for (int page_count = 0; page_count < kPagesPerRound && !stop_flag_; ++page_count) {
      const auto cursor = current_cursor();
      auto page = call([&] { return adapter_->events(cursor, kEventsPerPoll); });
      if (!page) return feed_missing(page.error()) ? Status{} : Status(tl::unexpected(page.error()));
      auto counts = apply_events(page->events);
      if (!counts) return note_failure(counts.error());
      if (!page->next_cursor) return {};  // drained for this round; the cursor stays
      if (auto ok = save_cursor(page->next_cursor); !ok) return ok;
      if (static_cast<int>(page->events.size()) < kEventsPerPoll) return {};
    }
    more_waiting_ = true;
    return {};
  }

  // Each event is one canonical commit keyed by the event's id (a re-delivery replays it), and
  // a no-op when it echoes a commit we recorded. All of a page are queued together, so they
  // share commit groups, then awaited in order. A store failure fails the page (the cursor
  // stays: it is polled again); an event that does not fit the schema is counted and passed.
  Result<PushResult> apply_events(const std::vector<Event>& events) {
    const auto schema = engine_.schema();
    std::vector<std::future<Result<CommitReceipt>>> waits;
    std::vector<const Event*> sent;
    PushResult counts;
    const int64_t now = now_ms();
    for (const auto& event : events) {
      const schema::Model* model = schema->resolve(event.model);
      if (!model || (!event.organization_id.empty() && event.organization_id != config_.tenant.org)) {
        ++counts.rejected;  // another organization's, or a model we do not serve
        continue;
      }
      auto promise = std::make_shared<std::promise<Result<CommitReceipt>>>();
      waits.push_back(promise->get_future());
      sent.push_back(&event);
      engine_.commit_here(event_commit(*model, event),
                          [promise](Result<CommitReceipt> result) { promise->set_value(std::move(result)); });
    }
    std::optional<Error> store_failure;
    for (std::size_t i = 0; i < waits.size(); ++i) {
      auto result = waits[i].get();
      if (!result) {
        if (is_store_failure(result.error())) {
          if (!store_failure) store_failure = result.error();
        } else if (result.error().code == "idempotency_conflict") {
          ++counts.skipped;  // the same event id came back with other data: the first one stands
        } else {
          ++counts.rejected;
          spdlog::warn("source {}: event '{}' ({} '{}') was not applied: {}", config_.id, sent[i]->id, sent[i]->model,
                       sent[i]->entity_id, result.error().message);
        }
      } else if (result->replayed || result->ops == 0) {
        ++counts.skipped;
      } else {
        ++counts.accepted;
        if (sent[i]->occurred_at_ms) {
          std::lock_guard lock(status_mutex_);
          status_.event_lag_ms = std::max<int64_t>(0, now - *sent[i]->occurred_at_ms);
        }
      }
    }
    {
      std::lock_guard lock(status_mutex_);
      status_.events_applied += counts.accepted;
      status_.events_skipped += counts.skipped;
      status_.events_rejected += counts.rejected;
    }
    if (store_failure) return tl::unexpected(*store_failure);
    return counts;
  }

  CommitRequest event_commit(const schema::Model& model, const Event& event) const {
    CommitRequest request;
    request.mode = CommitMode::kCanonical;
    request.principal = source_principal();
    request.client_tx_id = event.id.size() <= kMaxEventKey ? "srcevt:" + event.id
                                                           : "srcevt:" + auth::sha256_hex(event.id);
    request.skip_if_committed = event.client_tx_id;
    engine::Operation op;
    op.type = op_type_of(event.type);
    op.model = model.key;
    op.id = event.entity_id;
    if (event.data) op.input = *event.data;
    request.operations.push_back(std::move(op));
    return request;
  }

  // Who the source's own changes are attributed to: a system participant of the tenant.
  auth::Principal source_principal() const {
    auth::Principal principal;
    principal.tenant = config_.tenant;
    principal.participant_id = "source:" + config_.id;
    principal.participant_kind = "system";
    principal.key_id = config_.id;
    principal.secret_key = true;
    principal.credential_label = "data source";
    return principal;
  }

  // --- bookkeeping -----------------------------------------------------------------------

  std::optional<std::string> current_cursor() const {
    std::lock_guard lock(status_mutex_);
    return status_.cursor;
  }

  Status save_cursor(const std::optional<std::string>& cursor) {
    if (!cursor) return {};
    if (auto ok = store_.put_setting(cursor_setting(config_.id), *cursor); !ok) return note_failure(ok.error());
    std::lock_guard lock(status_mutex_);
    status_.cursor = cursor;
    return {};
  }

  // The source answered that it has no events feed (a hand-written endpoint without one):
  // external writes cannot reach clients; commits still work.
  bool feed_missing(const Error& error) {
    const auto* source_error = error.details.if_contains("sourceError");
    if (!source_error || !source_error->is_string() || source_error->as_string() != "source_events_not_configured") {
      return false;
    }
    std::lock_guard lock(status_mutex_);
    if (status_.events_feed) spdlog::warn("source {}: the endpoint has no events feed; external writes will not reach clients", config_.id);
    status_.events_feed = false;
    return true;
  }

  // One call to the source, counted in the status.
  template <class Call>
  auto call(Call&& make_call) -> decltype(make_call()) {
    {
      std::lock_guard lock(status_mutex_);
      ++status_.requests;
    }
    auto result = make_call();
    if (result) {
      std::lock_guard lock(status_mutex_);
      status_.last_success_at_ms = now_ms();
      if (status_.state == "failing") status_.state = hydrated_ ? "live" : "hydrating";
    } else {
      note_failure(result.error());
    }
    return result;
  }

  Status note_failure(const Error& error) {
    std::lock_guard lock(status_mutex_);
    ++status_.failures;
    if (error.code == "source_network_error") ++status_.retries;
    status_.last_error = error;
    status_.last_error_at_ms = now_ms();
    status_.state = "failing";
    return tl::unexpected(error);
  }

  void set_state(std::string state) {
    std::lock_guard lock(status_mutex_);
    status_.state = std::move(state);
  }

  const SourceConfig config_;
  std::unique_ptr<DataAdapter> adapter_;
  engine::Engine& engine_;
  store::Store& store_;

  std::mutex exchange_mutex_;  // held while talking to the adapter and applying its answer
  std::mutex applies_mutex_;   // guards applies_in_flight_
  std::condition_variable applies_done_;
  int applies_in_flight_ = 0;  // canonical commits queued by the forwarder, not yet answered
  bool hydrated_ = false;      // poller thread only (under exchange_mutex_)
  bool more_waiting_ = false;  // poller thread only: the last round stopped at its page cap

  std::mutex queue_mutex_;  // guards queue_, stopping_
  std::condition_variable queue_wake_;
  std::deque<Pending> queue_;
  bool stopping_ = false;
  std::atomic<bool> stop_flag_{false};

  mutable std::mutex status_mutex_;  // guards status_
  SourceStatus status_;

  std::thread forwarder_;
  std::thread poller_;
};

// ---------------------------------------------------------------------------------------------

SourceService::SourceService(engine::Engine& engine, store::Store& store, AdapterFactory factory)
    : engine_(engine), store_(store), factory_(std::move(factory)) {}

SourceService::~SourceService() { stop(); }

Status SourceService::start() {
  if (auto ok = reconcile(); !ok) return ok;
  refresher_ = named_thread("ablo-src-renew", [this] {
    std::unique_lock lock(refresh_mutex_);
    while (!refresh_wake_.wait_for(lock, kRefreshInterval, [&] { return stopping_; })) {
      lock.unlock();
      if (auto ok = reconcile(); !ok) spdlog::warn("reading the data source registrations failed: {}", ok.error().message);
      lock.lock();
    }
  });
  return {};
}

Result<std::map<std::string, SourceConfig>> SourceService::stored_configs() const {
  auto stored = store_.get_setting(std::string(kConfigsSetting));
  if (!stored) return tl::unexpected(stored.error());
  std::map<std::string, SourceConfig> configs;
  if (!*stored) return configs;
  boost::system::error_code ec;
  auto parsed = json::parse(**stored, ec);
  if (ec || !parsed.is_array()) return fail("internal_error", "the stored data source registrations do not parse");
  for (const auto& entry : parsed.as_array()) {
    if (auto config = config_from_json(entry)) configs[config->id] = std::move(*config);
  }
  return configs;
}

// The registrations in the store are the truth (another node may have added or removed one):
// workers start for the new ones (and for those that could not start before) and stop for the
// removed ones.
Status SourceService::reconcile() {
  auto stored = stored_configs();
  if (!stored) return tl::unexpected(stored.error());
  std::vector<SourceConfig> to_start;
  std::vector<std::shared_ptr<Worker>> to_stop;
  {
    std::lock_guard lock(mutex_);
    configs_ = *stored;
    for (const auto& [id, config] : configs_) {
      if (!workers_.contains(id)) to_start.push_back(config);
    }
    for (auto it = workers_.begin(); it != workers_.end();) {
      if (configs_.contains(it->first)) {
        ++it;
      } else {
        to_stop.push_back(it->second);
        it = workers_.erase(it);
      }
    }
  }
  for (auto& worker : to_stop) worker->stop();
  for (const auto& config : to_start) (void)start_worker(config);
  return {};
}

// Opens the source's adapter (it may connect: never under mutex_) and starts its worker.
Status SourceService::start_worker(const SourceConfig& config) {
  auto adapter = factory_(config, engine_);
  std::lock_guard lock(mutex_);
  if (!adapter) {
    auto& last = start_failures_[config.id];
    if (last != adapter.error().message) {
      spdlog::error("data source {} cannot start (its environment's commits are refused until it does): {}", config.id,
                    adapter.error().message);
      last = adapter.error().message;
    }
    return tl::unexpected(adapter.error());
  }
  start_failures_.erase(config.id);
  if (workers_.contains(config.id) || !configs_.contains(config.id)) return {};  // raced with another start or a removal
  auto worker = std::make_shared<Worker>(config, std::move(*adapter), engine_, store_);
  worker->start();
  workers_[config.id] = std::move(worker);
  return {};
}

void SourceService::stop() {
  {
    std::lock_guard lock(refresh_mutex_);
    stopping_ = true;
  }
  refresh_wake_.notify_all();
  if (refresher_.joinable()) refresher_.join();
  std::map<std::string, std::shared_ptr<Worker>> stopping;
  {
    std::lock_guard lock(mutex_);
    stopping.swap(workers_);
  }
  for (auto& [id, worker] : stopping) worker->stop();
}

Status SourceService::persist_configs_locked() const {
  json::array configs;
  for (const auto& [id, config] : configs_) configs.emplace_back(config_json(config));
  return store_.put_setting(std::string(kConfigsSetting), json::serialize(configs));
}

const SourceConfig* SourceService::config_of_tenant_locked(const store::Tenant& tenant) const {
  for (const auto& [id, config] : configs_) {
    if (config.tenant == tenant) return &config;
  }
  return nullptr;
}

Result<SourceView> SourceService::add(SourceConfig config) {
  if (config.id.empty()) config.id = random_id("src");
  if (config.created_at_ms == 0) config.created_at_ms = now_ms();
  {
    std::lock_guard lock(mutex_);
    if (const auto* existing = config_of_tenant_locked(config.tenant)) {
      return fail("invalid_request",
                  fmt::format("this environment already has data source {}; remove it first", existing->id));
    }
  }
  // Reachable (and, for a database, its capture installed) before it is registered.
  auto adapter = factory_(config, engine_);
  if (!adapter) return tl::unexpected(adapter.error());
  std::lock_guard lock(mutex_);
  if (config_of_tenant_locked(config.tenant)) return fail("invalid_request", "this environment already has a data source");
  configs_[config.id] = config;
  if (auto ok = persist_configs_locked(); !ok) {
    configs_.erase(config.id);
    return tl::unexpected(ok.error());
  }
  auto worker = std::make_shared<Worker>(config, std::move(*adapter), engine_, store_);
  worker->start();
  workers_[config.id] = worker;
  return worker->view();
}

Status SourceService::remove(const store::Tenant& tenant, const std::string& id) {
  std::shared_ptr<Worker> removed;
  SourceConfig config;
  {
    std::lock_guard lock(mutex_);
    auto found = configs_.find(id);
    if (found == configs_.end() || !(found->second.tenant == tenant)) {
      return fail("invalid_request", fmt::format("no data source '{}' in this environment", id), "id");
    }
    config = found->second;
    configs_.erase(found);
    if (auto ok = persist_configs_locked(); !ok) {
      configs_[id] = config;
      return ok;
    }
    if (auto running = workers_.find(id); running != workers_.end()) {
      removed = running->second;
      workers_.erase(running);
    }
  }
  if (removed) removed->stop();
  if (config.mode == Mode::kSelfHosted) uninstall_capture_of(config);
  // A source registered again later hydrates afresh.
  (void)store_.put_setting(hydrated_setting(id), "");
  return {};
}

// Removing a direct database source takes its triggers away: nobody would read their outbox.
void SourceService::uninstall_capture_of(const SourceConfig& config) {
  auto conn = pg::Connection::open(with_connect_timeout(config.url));
  auto removed = conn ? uninstall_capture(**conn, *engine_.schema()) : Status(tl::unexpected(conn.error()));
  if (!removed) {
    spdlog::warn("data source {}: its capture triggers could not be removed ({}); drop them by hand "
                 "(pg_adapter.h names them)", config.id, removed.error().message);
  }
}

std::vector<SourceView> SourceService::list(const store::Tenant& tenant) const {
  std::vector<SourceView> views;
  std::lock_guard lock(mutex_);
  for (const auto& [id, config] : configs_) {
    if (config.tenant == tenant) views.push_back(view_locked(config));
  }
  return views;
}

std::optional<SourceView> SourceService::find(const store::Tenant& tenant, const std::string& id) const {
  std::lock_guard lock(mutex_);
  auto found = configs_.find(id);
  if (found == configs_.end() || !(found->second.tenant == tenant)) return std::nullopt;
  return view_locked(found->second);
}

// A registered source that is not running shows why.
SourceView SourceService::view_locked(const SourceConfig& config) const {
  if (auto running = workers_.find(config.id); running != workers_.end()) return running->second->view();
  SourceView view{config, {}};
  view.status.state = "failing";
  if (auto failure = start_failures_.find(config.id); failure != start_failures_.end()) {
    view.status.last_error = Error("source_network_error", failure->second);
  }
  return view;
}

bool SourceService::hydrating() const {
  std::lock_guard lock(mutex_);
  return std::any_of(workers_.begin(), workers_.end(), [](const auto& entry) { return entry.second->hydrating(); });
}

bool SourceService::forward(CommitRequest& request, engine::CommitCallback& done) {
  std::shared_ptr<Worker> worker;
  {
    std::lock_guard lock(mutex_);
    const auto* config = config_of_tenant_locked(request.principal.tenant);
    if (!config) return false;  // our store is this tenant's database
    if (auto running = workers_.find(config->id); running != workers_.end()) worker = running->second;
  }
  // Registered but not running (unreachable when the server started): never written here.
  if (!worker || !worker->enqueue(request, done)) {
    done(fail("source_network_error", "this environment's data source is not reachable yet; retry"));
  }
  return true;
}

Result<PushResult> SourceService::ingest_push(const PushRequest& push) {
  auto checked = check_headers(ReceivedHeaders{push.webhook_id, push.webhook_timestamp, push.webhook_signature},
                               now_ms() / 1000);
  if (!checked) {
    Error error("source_api_key_unresolved", checked.error().message);
    error.details["reason"] = checked.error().code;
    return tl::unexpected(error);
  }
  std::shared_ptr<Worker> signer;
  {
    std::lock_guard lock(mutex_);
    for (const auto& [id, worker] : workers_) {
      const auto& config = worker->config();
      if (config.mode == Mode::kSource && signed_with(config.signing_key, push.webhook_id, *checked, push.body)) {
        signer = worker;
      }
    }
  }
  if (!signer) {
    Error error("source_api_key_unresolved", "no registered data source's key signed this request");
    error.details["reason"] = "source_signature_invalid";
    return tl::unexpected(error);
  }
  boost::system::error_code ec;
  auto body = json::parse(push.body, ec);
  if (ec) return fail("invalid_json", "the pushed body is not JSON");
  auto page = contract::read_events(body);
  if (!page) {
    if (page.error().code == "events_required") return tl::unexpected(page.error());
    return fail("ingest_failed", page.error().message);
  }
  if (page->events.empty()) return fail("events_required", "the push carries no events");
  return signer->apply_pushed(page->events);
}

}  // namespace ablo::source
