// Client, ModelHandle, Query, Observer (client.h) over ClientCore (core.h): option checks, the
// store load, the write pipeline of design §5.1, confirmation and rollback (§5.4–§5.6), and the
// live queries of §12. The network half is connection.cpp.
#include <cstdlib>
#include <future>
#include <utility>

#include <boost/asio/post.hpp>
#include <boost/json.hpp>
#include <spdlog/spdlog.h>

#include "common/random.h"
#include "common/time.h"
#include "sdk/core.h"
#include "sdk/sdk_error_code.h"
#include "sdk/undo.h"

namespace ablo {

namespace json = boost::json;
using sdk_detail::ClientCore;
using sdk_detail::sdk_error;

namespace sdk_detail {

// ------------------------------------------------------------------------------------------
// Serial delivery queues.

bool Subscription::enqueue(QueryUpdate update) {
  std::lock_guard lock(mutex);
  if (cancelled) return false;
  if (waiting) {
    // The executor lags: one update carries the latest rows and every id that moved.
    auto& merged = *waiting;
    merged.rows = std::move(update.rows);
    merged.added.insert(merged.added.end(), update.added.begin(), update.added.end());
    merged.removed.insert(merged.removed.end(), update.removed.begin(), update.removed.end());
    merged.changed.insert(merged.changed.end(), update.changed.begin(), update.changed.end());
    merged.cause = update.cause;
    merged.cursor = update.cursor;
    return false;
  }
  waiting.emplace(std::move(update));
  return !std::exchange(scheduled, true);
}

void Subscription::schedule() {
  // The task holds the subscription weakly: an executor whose queue is never drained (a manual
  // one dropped with tasks in it) must not keep the subscription — which holds the executor —
  // alive in a cycle. A subscription gone by then has nothing left to deliver.
  executor->post([weak = weak_from_this()] {
    if (auto self = weak.lock()) self->drain();
  });
}

void Subscription::drain() {
  while (true) {
    QueryUpdate update;
    {
      std::lock_guard lock(mutex);
      if (!waiting || cancelled) {
        scheduled = false;
        waiting.reset();
        return;
      }
      update = std::move(*waiting);
      waiting.reset();
    }
    callback(update);
  }
}

template <class Event>
void Listener<Event>::deliver(Event event) {
  {
    std::lock_guard lock(mutex);
    if (cancelled) return;
    waiting.push_back(std::move(event));
    if (scheduled) return;
    scheduled = true;
  }
  executor->post([weak = this->weak_from_this()] {  // weakly, as Subscription::deliver explains
    auto self = weak.lock();
    if (!self) return;
    while (true) {
      std::vector<Event> batch;
      {
        std::lock_guard lock(self->mutex);
        if (self->waiting.empty() || self->cancelled) {
          self->scheduled = false;
          self->waiting.clear();
          return;
        }
        batch.swap(self->waiting);
      }
      for (const auto& event : batch) self->callback(event);
    }
  });
}

template struct Listener<ConnectionStatus>;
template struct Listener<MutationFailure>;
template struct Listener<StoreEvent>;
template struct Listener<std::vector<Participant>>;
template struct Listener<UndoScope>;

// ------------------------------------------------------------------------------------------
// Conversions.

StoredOutboxEntry to_stored(const OutboxEntry& entry) {
  StoredOutboxEntry stored;
  stored.seq = entry.seq;
  stored.lane = std::string(to_string(entry.lane));
  stored.transaction_id = entry.transaction_id;
  stored.frame_id = entry.frame_id;
  stored.action = std::string(wire_action(entry.action));
  stored.model = entry.model;
  stored.row_id = entry.row_id;
  stored.data = json::serialize(entry.data);
  stored.previous = json::serialize(entry.previous);
  stored.read_at = entry.read_at;
  if (entry.on_stale) stored.on_stale = std::string(wire_on_stale(*entry.on_stale));
  stored.attempts = entry.attempts;
  stored.retry_spent_ms = entry.retry_spent_ms;
  stored.acked_sync_id = entry.acked_sync_id;
  if (!entry.undo_scope.empty()) stored.undo_scope = entry.undo_scope;
  stored.created_at = entry.created_at;
  return stored;
}

namespace conversions {
std::optional<Action> action_from_wire(std::string_view text) {
  static constexpr std::pair<std::string_view, Action> kActions[] = {{"CREATE", Action::kCreate},
                                                                     {"UPDATE", Action::kUpdate},
                                                                     {"DELETE", Action::kDelete},
                                                                     {"ARCHIVE", Action::kArchive},
                                                                     {"UNARCHIVE", Action::kUnarchive}};
  for (const auto& [name, action] : kActions) {
    if (name == text) return action;
  }
  return std::nullopt;
}

JsonObject parse_object(const std::optional<std::string>& text, json::storage_ptr storage = {}) {
  if (!text || text->empty()) return {};
  boost::system::error_code ec;
  auto value = json::parse(*text, ec, std::move(storage));
  return !ec && value.is_object() ? std::move(value.as_object()) : JsonObject{};
}
}  // namespace conversions

Result<OutboxEntry> from_stored(const StoredOutboxEntry& stored) {
  OutboxEntry entry;
  auto action = conversions::action_from_wire(stored.action);
  if (!action) return sdk_fail("invalid_request", "outbox entry " + std::to_string(stored.seq) + " has action " + stored.action);
  entry.seq = stored.seq;
  entry.lane = stored.lane == "commit" ? Lane::kCommit : Lane::kModel;
  entry.transaction_id = stored.transaction_id;
  if (stored.frame_id && !stored.frame_id->empty()) entry.frame_id = stored.frame_id;  // "": re-queued, never sent
  entry.action = *action;
  entry.model = stored.model;
  entry.row_id = stored.row_id;
  entry.data = conversions::parse_object(stored.data);
  entry.previous = conversions::parse_object(stored.previous);
  entry.read_at = stored.read_at;
  if (stored.on_stale) entry.on_stale = *stored.on_stale == "flag" ? OnStale::kFlag : OnStale::kReject;
  entry.attempts = static_cast<int>(stored.attempts);
  entry.retry_spent_ms = stored.retry_spent_ms;
  entry.acked_sync_id = stored.acked_sync_id;
  entry.undo_scope = stored.undo_scope.value_or("");
  entry.created_at = stored.created_at;
  entry.has_idempotency_key = !stored.transaction_id.starts_with("tx_");
  return entry;
}

StoredRow to_stored_row(const Row& row) {
  return StoredRow{row.model, row.id, json::serialize(row.data), row.version, row.archived};
}

// ------------------------------------------------------------------------------------------
// Set-up.

namespace setup {
Options checked(Options options) {
  if (options.schema.empty()) throw Exception(sdk_error("invalid_options", "Options::schema is required"));
  if (options.api_key.empty() && !options.get_token) {
    if (const char* env = std::getenv("ABLO_API_KEY")) options.api_key = env;
  }
  if (options.api_key.empty() && !options.get_token) {
    throw Exception(sdk_error("invalid_options", "an api_key (or ABLO_API_KEY, or get_token) is required"));
  }
  if (options.timing.max_batch_ops == 0) throw Exception(sdk_error("invalid_options", "max_batch_ops must be > 0"));
  return options;
}

std::shared_ptr<const schema::Schema> parsed_schema(const std::string& text) {
  auto schema = schema::Schema::parse_text(text);
  if (!schema) throw Exception(std::move(schema.error()));
  return *schema;
}

client::HttpTarget target_of(const std::string& base_url) {
  auto target = client::HttpTarget::from_url(base_url);
  if (!target) throw Exception(std::move(target.error()));
  return *target;
}

OutboxPolicy policy_of(const Timing& timing) {
  OutboxPolicy policy;
  policy.max_batch_ops = timing.max_batch_ops;
  policy.retry_window = timing.transient_retry_window;
  policy.retry = timing.commit_retry;
  return policy;
}
}  // namespace setup

ClientCore::ClientCore(Options opts)
    : options(setup::checked(std::move(opts))),
      schema(setup::parsed_schema(options.schema)),
      target(setup::target_of(options.base_url)),
      executor(options.executor ? options.executor : make_thread_executor()),
      bearer_key(options.api_key),
      replica(schema),
      outbox(schema, setup::policy_of(options.timing)),
      undo_registry(std::make_shared<UndoRegistry>()) {
  // Only live queries read a RowChange's Rows (route_changes); the replica builds them for
  // their models only. Called under `mutex`, like every replica mutation.
  replica.set_observed([this](const std::string& model) {
    const auto queries = live_queries.find(model);
    return queries != live_queries.end() && !queries->second.empty();
  });
}

ClientCore::~ClientCore() { shutdown(); }

void ClientCore::open_store_and_load() {
  LocalStoreOptions store_options;
  store_options.fault_for_test = options.store_fault_for_test;
  auto opened = LocalStore::open(options.store_path, options.on_bad_store, std::move(store_options));
  if (!opened) throw Exception(std::move(opened.error()));
  store = std::move(*opened);
  file_event = store->file_event();
  auto loaded = store->load();
  if (!loaded) throw Exception(std::move(loaded.error()));
  meta = std::move(loaded->meta);
  const auto cursor = meta.find("cursor");
  persisted_cursor = cursor == meta.end() ? 0 : std::strtoll(cursor->second.c_str(), nullptr, 10);
  std::unique_lock lock(mutex);
  applied_cursor = persisted_cursor;
  const auto arena = make_row_arena();  // the cached rows, packed (replica.h)
  for (auto& row : loaded->rows) {
    auto data = conversions::parse_object(row.data_json, arena);
    if (auto ok = replica.load_base(row.model, row.id, std::move(data), row.version, row.archived); !ok) {
      spdlog::warn("ablo client: stored row {}/{} skipped: {}", row.model, row.id, ok.error().message);
    }
  }
  // The optimistic state exactly as it was (defect D8): every unconfirmed write folded back on.
  for (const auto& stored : loaded->outbox) {
    auto entry = from_stored(stored);
    if (!entry) {
      spdlog::warn("ablo client: {}", entry.error().message);
      continue;
    }
    if (auto ok = outbox.restore(*entry); !ok) {
      spdlog::warn("ablo client: outbox entry {} not restored: {}", entry->seq, ok.error().message);
      continue;
    }
    replayed_seqs.insert(entry->seq);
    if (entry->lane == Lane::kModel) (void)replica.add_pending(entry->model, entry->row_id, entry->seq, entry->action, entry->data);
  }
  replica_ready = persisted_cursor > 0;
  std::lock_guard status_lock(status_mutex);
  status.cursor = persisted_cursor;
  status.pending_writes = outbox.size();
}

void ClientCore::start() {
  work.emplace(io.get_executor());
  io_thread = std::thread([this] {
    try {
      io.run();
    } catch (const std::exception& e) {
      spdlog::error("ablo client: I/O thread stopped: {}", e.what());
    }
  });
  io_thread_id = io_thread.get_id();
  boost::asio::post(io, [this] { connect_cycle(); });
}

void ClientCore::shutdown() {
  if (disposed_.exchange(true)) return;
  if (io_thread.joinable()) {
    std::promise<void> closed;
    boost::asio::post(io, [this, &closed] {
      abandon_all_claims(*this);  // the next in line need not wait for a lease to lapse
      if (ws) ws->close(1000, "client closed");
      if (http_call) http_call->cancel();
      if (refresh_call) refresh_call->cancel();
      for (auto* timer : {&reconnect_timer, &pump_timer, &flush_timer, &heartbeat_timer, &ack_timer, &refresh_timer}) timer->cancel();
      if (!persist_batch.upserts.empty() || !persist_batch.deletes.empty() || !persist_batch.remove_outbox.empty()) {
        (void)store->apply_delta_batch(std::exchange(persist_batch, {}), [](Status) {});
      }
      closed.set_value();
    });
    closed.get_future().wait();
    work.reset();
    io.stop();
    io_thread.join();
  }
  // A socket must go before its io_context (its Beast service lives there).
  ws.reset();
  http_call.reset();
  refresh_call.reset();
  if (store) {
    (void)store->flush();
    store.reset();
  }
  const Error disposed_error = sdk_error("model_disposed", "the client was closed");
  std::unique_lock lock(mutex);
  auto waiters = std::exchange(write_waiters, {});
  auto readies = std::exchange(ready_waiters, {});
  auto flushes = std::exchange(flush_waiters, {});
  auto commits = std::exchange(commit_waiters, {});
  for (auto& [model, queries] : live_queries) {
    for (auto& query : queries) {
      std::lock_guard sub_lock(query->mutex);
      query->cancelled = true;
    }
  }
  live_queries.clear();
  lock.unlock();
  for (auto& [seq, list] : waiters) {
    for (auto& waiter : list) waiter.state->settle(tl::unexpected(disposed_error));
  }
  for (auto& state : readies) state->settle(tl::unexpected(disposed_error));
  for (auto& state : flushes) state->settle(tl::unexpected(disposed_error));
  for (auto& [client_tx_id, commit] : commits) commit.first->settle(tl::unexpected(disposed_error));
  std::lock_guard status_lock(status_mutex);
  status.state = ConnectionState::kClosed;
}

// ------------------------------------------------------------------------------------------
// Writes (design §5.1).

namespace writes {
// Every row carries these besides its declared fields; a write may send them.
bool is_base_field(std::string_view key) {
  static const std::set<std::string, std::less<>> kBaseFields = {"id", "createdAt", "updatedAt", "archivedAt"};
  return kBaseFields.count(key) > 0;
}

// Unknown fields and values of the wrong JSON type are refused before anything changes.
Status check_fields(const schema::Model& model, const JsonObject& data) {
  for (const auto& [key, value] : data) {
    if (is_base_field(key)) continue;
    const auto* field = model.field(key);
    if (!field) return sdk_fail("invalid_request", "model " + model.key + " has no field " + std::string(key), std::string(key));
    if (value.is_null()) {
      if (!field->optional) return sdk_fail("invalid_request", "field " + std::string(key) + " may not be null", std::string(key));
      continue;
    }
    bool fits = true;
    switch (field->type) {
      case schema::FieldType::kString: fits = value.is_string(); break;
      case schema::FieldType::kNumber: fits = value.is_number(); break;
      case schema::FieldType::kBoolean: fits = value.is_bool(); break;
      case schema::FieldType::kDate: fits = value.is_string() || value.is_number(); break;
      case schema::FieldType::kEnum:
        fits = value.is_string() && std::find(field->enum_values.begin(), field->enum_values.end(),
                                              std::string_view(value.get_string())) != field->enum_values.end();
        break;
      default: break;  // json: anything
    }
    if (!fits) return sdk_fail("invalid_request", "field " + std::string(key) + " has a value of the wrong type", std::string(key));
  }
  return {};
}

// update: keeps only the fields whose value differs from the row as the caller sees it.
JsonObject changed_fields(const JsonObject& patch, const JsonObject& view) {
  JsonObject changed;
  for (const auto& [key, value] : patch) {
    const auto* current = view.if_contains(key);
    if (!current || *current != value) changed[key] = value;
  }
  return changed;
}

// The members of a replica row a create may send back (undo of a delete re-creates the row from
// them): declared fields and the base fields; server-kept extras such as createdBy are not writable.
JsonObject writable_fields(const schema::Model& model, const JsonObject& row) {
  JsonObject writable;
  for (const auto& [key, value] : row) {
    if (is_base_field(key) || model.field(key)) writable[key] = value;
  }
  return writable;
}

JsonObject previous_values(Action action, const JsonObject& patch, const JsonObject& view) {
  if (action != Action::kUpdate) return view;
  JsonObject previous;
  for (const auto& [key, value] : patch) {
    const auto* current = view.if_contains(key);
    previous[key] = current ? *current : json::value(nullptr);
  }
  return previous;
}
}  // namespace writes

Pending<Receipt> ClientCore::write(Action action, std::string_view model_name, std::string id, JsonObject data,
                                   WriteOptions write_options, std::optional<int64_t> seen_version, WriteOrigin origin) {
  auto failed = [&](Error error) { return settled_pending<Receipt>(tl::unexpected(std::move(error)), executor); };
  if (disposed()) return failed(sdk_error("model_disposed", "the client was closed"));
  const schema::Model* model = schema->resolve(model_name);
  if (!model) return failed(sdk_error("model_not_found", "no model " + std::string(model_name), std::string(model_name)));
  if (!model->mutable_) return failed(sdk_error("forbidden", "model " + model->key + " is read-only"));
  if (auto ok = writes::check_fields(*model, data); !ok) return failed(std::move(ok.error()));
  if (action == Action::kCreate && id.empty()) id = random_uuid();

  auto state = make_pending_state<Receipt>(io_thread_id, executor);
  StoredOutboxEntry to_persist;
  Deliveries deliveries;
  std::vector<std::shared_ptr<UndoScope::State>> undo_changed;
  {
    std::unique_lock lock(mutex);
    const auto view = replica.view(model->key, id);
    if (action == Action::kCreate && view) return failed(sdk_error("invalid_request", "a " + model->key + " with id " + id + " exists", "id"));
    if (action != Action::kCreate && !view) return failed(sdk_error("entity_not_found", model->key + " " + id + " is not in the replica", "id"));
    if (action == Action::kUpdate) {
      data = writes::changed_fields(data, view->data);
      if (data.empty()) {  // nothing to send: the row already says this
        state->settle(Receipt{.row = view});
        return Pending<Receipt>(state);
      }
    }
    OutboxEntry entry;
    entry.seq = store->allocate_outbox_seq();
    entry.lane = Lane::kModel;
    entry.has_idempotency_key = !write_options.idempotency_key.empty();
    entry.transaction_id = entry.has_idempotency_key ? write_options.idempotency_key : "tx_" + random_uuid();
    entry.action = action;
    entry.model = model->key;
    entry.row_id = id;
    if (action == Action::kCreate) {
      data["id"] = id;
      const auto now = iso8601_from_ms(local_now_ms() + status_snapshot().clock_offset.count());
      if (!data.contains("createdAt")) data["createdAt"] = now;
      if (!data.contains("updatedAt")) data["updatedAt"] = now;
    }
    entry.previous = view ? writes::previous_values(action, data, view->data) : JsonObject{};
    entry.data = std::move(data);
    const OnStale on_stale = write_options.on_stale.value_or(options.default_on_stale);
    if (action != Action::kCreate && on_stale != OnStale::kForce) {
      entry.read_at = write_options.read_at ? write_options.read_at : seen_version ? seen_version : std::optional<int64_t>(view->version);
      entry.on_stale = on_stale;
    }
    entry.undo_scope = write_options.undo_scope;
    entry.created_at = local_now_ms();
    auto appended = outbox.append(entry);
    if (!appended) return failed(std::move(appended.error()));
    const OutboxEntry* carrier = outbox.find(appended->seq);
    auto change = replica.add_pending(model->key, id, carrier->seq, carrier->action, carrier->data);
    if (!change) {
      return failed(std::move(change.error()));
    }
    if (*change) route_changes({**change}, ChangeCause::kOptimistic, deliveries);
    write_waiters[carrier->seq].push_back(WriteWaiter{state});
    to_persist = to_stored(*carrier);
    // The inverse comes from `view`, the row just before this write, under the same lock (D16).
    if (origin == WriteOrigin::kCaller) {
      auto before = [&]() -> std::optional<JsonObject> {
        if (!view) return std::nullopt;
        return writes::writable_fields(*model, view->data);
      };
      undo_changed = undo_registry->record(write_options, UndoOp{action, model->key, id, entry.data}, before, shared_from_this());
    }
    std::lock_guard status_lock(status_mutex);
    status.pending_writes = outbox.size();
  }
  deliver_all(deliveries);
  notify_changed(undo_changed);
  // The durability point: the record is in the file before the call returns (off the I/O thread).
  const bool urgent = action == Action::kDelete;
  persist_then_send({std::move(to_persist)}, urgent ? std::chrono::milliseconds(0) : options.timing.batch_delay);
  return Pending<Receipt>(state);
}

// The commit lane (design §5.8): the operations go out together in one frame under one
// clientTxId, applied atomically by the server; not optimistic (the replica changes when the
// deltas arrive); durable in the outbox like any write, re-sent with the same clientTxId.
Pending<CommitReceipt> ClientCore::commit(std::vector<Operation> operations, WriteOptions write_options) {
  auto failed = [&](Error error) { return settled_pending<CommitReceipt>(tl::unexpected(std::move(error)), executor); };
  if (disposed()) return failed(sdk_error("model_disposed", "the client was closed"));
  if (operations.empty()) return failed(sdk_error("invalid_request", "a commit needs at least one operation", "operations"));
  if (operations.size() > options.timing.max_batch_ops) {
    return failed(sdk_error("invalid_request", "a commit carries at most " + std::to_string(options.timing.max_batch_ops) +
                                                   " operations", "operations"));
  }
  const std::string client_tx_id =
      write_options.idempotency_key.empty() ? "ctx_" + random_uuid() : write_options.idempotency_key;
  auto state = make_pending_state<CommitReceipt>(io_thread_id, executor);
  std::vector<StoredOutboxEntry> to_persist;
  {
    std::unique_lock lock(mutex);
    if (commit_waiters.count(client_tx_id)) return failed(sdk_error("idempotency_conflict", "this commit is already queued"));
    std::vector<OutboxEntry> entries;
    std::vector<std::string> ids;
    for (std::size_t i = 0; i < operations.size(); ++i) {
      auto& op = operations[i];
      const std::string where = "operations[" + std::to_string(i) + "]";
      const schema::Model* model = schema->resolve(op.model);
      if (!model) return failed(sdk_error("model_not_found", where + ": no model " + op.model, where + ".model"));
      if (!model->mutable_) return failed(sdk_error("forbidden", where + ": model " + model->key + " is read-only"));
      if (auto ok = writes::check_fields(*model, op.data); !ok) return failed(std::move(ok.error()));
      if (op.id.empty()) {
        if (op.action != Action::kCreate) return failed(sdk_error("invalid_request", where + ": an id is required", where + ".id"));
        op.id = random_uuid();
      }
      OutboxEntry entry;
      entry.lane = Lane::kCommit;
      entry.frame_id = client_tx_id;
      entry.transaction_id = "tx_" + random_uuid();
      entry.action = op.action;
      entry.model = model->key;
      entry.row_id = op.id;
      entry.data = std::move(op.data);
      const OnStale on_stale = op.on_stale.value_or(options.default_on_stale);
      if (op.action != Action::kCreate && on_stale != OnStale::kForce) {
        const auto view = replica.view(model->key, op.id);
        entry.read_at = op.read_at ? op.read_at : view ? std::optional<int64_t>(view->version) : std::nullopt;
        if (entry.read_at) entry.on_stale = on_stale;
      }
      entry.created_at = local_now_ms();
      ids.push_back(op.id);
      entries.push_back(std::move(entry));
    }
    for (auto& entry : entries) {
      entry.seq = store->allocate_outbox_seq();
      if (auto appended = outbox.append(entry); !appended) return failed(std::move(appended.error()));
      to_persist.push_back(to_stored(entry));
    }
    commit_waiters[client_tx_id] = {state, std::move(ids)};
    std::lock_guard status_lock(status_mutex);
    status.pending_writes = outbox.size();
  }
  persist_then_send(std::move(to_persist), std::chrono::milliseconds(0));
  return Pending<CommitReceipt>(state);
}

// The durability point of a write: its outbox records are in the file before the call returns
// (off the I/O thread, which must not wait); then the I/O thread sends after `delay`.
void ClientCore::persist_then_send(std::vector<StoredOutboxEntry> entries, std::chrono::milliseconds delay) {
  auto committed = std::make_shared<std::promise<Status>>();
  auto stored_future = committed->get_future();
  const auto posted = store->append_outbox(std::move(entries), [committed](Status ok) { committed->set_value(std::move(ok)); });
  if (!posted) {
    spdlog::error("ablo client: outbox append not queued: {}", posted.error().message);
  } else if (std::this_thread::get_id() != io_thread_id) {
    if (auto ok = stored_future.get(); !ok) spdlog::error("ablo client: outbox append failed: {}", ok.error().message);
  }
  boost::asio::post(io, [self = shared_from_this(), delay] { self->schedule_pump(delay); });
}

Pending<Unit> ClientCore::ready() {
  auto state = make_pending_state<Unit>(io_thread_id, executor);
  std::unique_lock lock(mutex);
  if (disposed()) {
    lock.unlock();
    state->settle(tl::unexpected(sdk_error("model_disposed", "the client was closed")));
  } else if (replica_ready) {
    lock.unlock();
    state->settle(Unit{});
  } else if (blocking_error) {
    auto error = *blocking_error;
    lock.unlock();
    state->settle(tl::unexpected(std::move(error)));
  } else {
    ready_waiters.push_back(state);
  }
  return Pending<Unit>(state);
}

Pending<Unit> ClientCore::wait_for_flush(std::optional<std::chrono::milliseconds> timeout) {
  auto state = make_pending_state<Unit>(io_thread_id, executor);
  {
    std::unique_lock lock(mutex);
    if (outbox.size() == 0) {
      lock.unlock();
      state->settle(Unit{});
      return Pending<Unit>(state);
    }
    flush_waiters.push_back(state);
  }
  if (timeout) {
    auto timer = std::make_shared<boost::asio::steady_timer>(io, *timeout);
    timer->async_wait([timer, weak = std::weak_ptr(state)](const boost::system::error_code&) {
      if (auto pending = weak.lock()) pending->settle(tl::unexpected(sdk_error("flush_timeout", "the outbox did not empty in time")));
    });
  }
  return Pending<Unit>(state);
}

// ------------------------------------------------------------------------------------------
// Live queries (design §12).

Result<std::shared_ptr<Subscription>> ClientCore::subscribe(const std::string& model_name, QuerySpec spec,
                                                            std::function<void(const QueryUpdate&)> callback,
                                                            std::shared_ptr<Executor> on) {
  const schema::Model* model = schema->resolve(model_name);
  if (!model) return sdk_fail("model_not_found", "no model " + model_name, model_name);
  auto compiled = compile(std::move(spec), *model);
  if (!compiled) return tl::unexpected(std::move(compiled.error()));
  std::unique_lock lock(mutex);
  LiveResult live(*compiled);
  auto first = live.initial(run_query(*compiled, replica));
  first.cursor = applied_cursor;
  auto subscription = std::make_shared<Subscription>(on ? std::move(on) : executor, std::move(callback), std::move(live));
  live_queries[model->key].push_back(subscription);
  const bool post = subscription->enqueue(std::move(first));
  lock.unlock();
  if (post) subscription->schedule();
  return subscription;
}

void ClientCore::unsubscribe(const std::shared_ptr<Subscription>& subscription) {
  {
    std::lock_guard sub_lock(subscription->mutex);
    subscription->cancelled = true;
  }
  std::unique_lock lock(mutex);
  for (auto& [model, queries] : live_queries) std::erase(queries, subscription);
}

void ClientCore::route_changes(const std::vector<RowChange>& changes, ChangeCause cause, Deliveries& out) {
  for (const auto& change : changes) {
    const auto queries = live_queries.find(change.model);
    if (queries == live_queries.end()) continue;
    for (const auto& query : queries->second) {
      auto update = query->live.apply(change, cause, replica);
      if (!update) continue;
      update->cursor = applied_cursor;
      if (query->enqueue(std::move(*update))) out.push_back(query);
    }
  }
}

void ClientCore::deliver_all(Deliveries& deliveries) {
  for (const auto& query : deliveries) query->schedule();
  deliveries.clear();
}

// Listeners are copied under the lock and called after it: an inline executor's callback may
// read the status.
namespace listeners {
template <class Event>
std::vector<std::shared_ptr<Listener<Event>>> copy(std::mutex& guard, const std::vector<std::shared_ptr<Listener<Event>>>& list) {
  std::lock_guard lock(guard);
  return list;
}
}  // namespace listeners

void ClientCore::report_failure(MutationFailure failure) {
  for (const auto& listener : listeners::copy(status_mutex, failure_listeners)) listener->deliver(failure);
}

void ClientCore::report_store_event(StoreEvent event) {
  for (const auto& listener : listeners::copy(status_mutex, store_listeners)) listener->deliver(event);
}

}  // namespace sdk_detail

// ------------------------------------------------------------------------------------------
// Public handles.

namespace handles {
template <class T>
Pending<T> disposed_pending() {
  return sdk_detail::settled_pending<T>(tl::unexpected(sdk_error("model_disposed", "the client was closed")), inline_executor());
}
}  // namespace handles

Client::Client(Options options)
    : core_(std::make_shared<ClientCore>(std::move(options))), undo_(std::make_unique<UndoManager>(core_)) {
  core_->open_store_and_load();
  core_->start();
  if (core_->file_event) {
    const auto& event = *core_->file_event;
    core_->report_store_event(StoreEvent{StoreEvent::Kind::kRecreated, event.detail, event.moved_to, 0, event.outbox_lost});
  }
}

Client::~Client() { core_->shutdown(); }

Pending<Unit> Client::ready() { return core_->ready(); }

UndoManager& Client::undo() { return *undo_; }

ModelHandle Client::model(std::string_view name) const {
  const auto* model = core_->schema->resolve(name);
  return ModelHandle(core_, model ? model->key : std::string(name));
}

Pending<CommitReceipt> Client::commit(std::vector<Operation> operations, WriteOptions options) {
  return core_->commit(std::move(operations), std::move(options));
}

Pending<Unit> Client::wait_for_flush(std::optional<std::chrono::milliseconds> timeout) { return core_->wait_for_flush(timeout); }

ConnectionStatus Client::status() const { return core_->status_snapshot(); }

namespace handles {
// A client-wide listener kept in `list`, which `guard` protects.
template <class Event>
Observer listen(const std::shared_ptr<ClientCore>& core,
                std::vector<std::shared_ptr<sdk_detail::Listener<Event>>> ClientCore::*list, std::mutex ClientCore::*guard,
                std::function<void(const Event&)> callback, std::shared_ptr<Executor> executor) {
  auto listener = std::make_shared<sdk_detail::Listener<Event>>();
  listener->executor = executor ? std::move(executor) : core->executor;
  listener->callback = std::move(callback);
  {
    std::lock_guard lock((*core).*guard);
    ((*core).*list).push_back(listener);
  }
  auto state = std::make_shared<Observer::State>();
  state->core = core;
  state->cancel_listener = [weak = std::weak_ptr(core), listener, list, guard] {
    {
      std::lock_guard lock(listener->mutex);
      listener->cancelled = true;
    }
    if (auto alive = weak.lock()) {
      std::lock_guard lock((*alive).*guard);
      std::erase((*alive).*list, listener);
    }
  };
  return Observer(std::move(state));
}
}  // namespace handles

Observer Client::on_status(std::function<void(const ConnectionStatus&)> callback, std::shared_ptr<Executor> executor) {
  return handles::listen(core_, &ClientCore::status_listeners, &ClientCore::status_mutex, std::move(callback), std::move(executor));
}

Observer Client::on_mutation_failure(std::function<void(const MutationFailure&)> callback,
                                     std::shared_ptr<Executor> executor) {
  return handles::listen(core_, &ClientCore::failure_listeners, &ClientCore::status_mutex, std::move(callback), std::move(executor));
}

Observer Client::on_store_event(std::function<void(const StoreEvent&)> callback, std::shared_ptr<Executor> executor) {
  return handles::listen(core_, &ClientCore::store_listeners, &ClientCore::status_mutex, std::move(callback), std::move(executor));
}

Observer Presence::observe(std::function<void(const std::vector<Participant>&)> callback,
                          std::shared_ptr<Executor> executor) const {
  return handles::listen(core_, &ClientCore::presence_listeners, &ClientCore::presence_mutex, std::move(callback),
                         std::move(executor));
}

void Client::reconnect_now() {
  boost::asio::post(core_->io, [core = core_] {
    core->auth_blocked = false;
    core->reconnect_timer.cancel();
    core->attempt = 0;
    if (!core->ws || !core->ws->is_open()) core->connect_cycle();
  });
}

void Client::set_auth_token(std::string token) {
  boost::asio::post(core_->io, [core = core_, token = std::move(token)]() mutable {
    core->bearer_key = std::move(token);
    core->token.clear();
    core->auth_blocked = false;
    {
      std::unique_lock lock(core->mutex);
      core->blocking_error.reset();
    }
    if (core->ws) {
      core->ws->close(1000, "new credential");
      core->ws.reset();
    }
    core->reconnect_timer.cancel();
    core->connect_cycle();
  });
}

std::string Client::participant_id() const {
  std::unique_lock lock(core_->mutex);
  return core_->meta.count("participant_id") ? core_->meta.at("participant_id") : std::string();
}

std::string Client::organization_id() const {
  std::unique_lock lock(core_->mutex);
  return core_->meta.count("organization_id") ? core_->meta.at("organization_id") : std::string();
}

std::string Client::schema_hash() const { return core_->schema->hash(); }

// --- ModelHandle ---

std::optional<Row> ModelHandle::get(std::string_view id) const {
  if (core_->disposed()) return std::nullopt;
  std::shared_lock lock(core_->mutex);
  return core_->replica.view(key_, id);
}

Query ModelHandle::query() const { return Query(core_, key_, std::make_shared<const Query::Spec>()); }

Pending<Receipt> ModelHandle::create(JsonObject data, CreateOptions options) const {
  std::string id = std::move(options.id);
  return core_->write(Action::kCreate, key_, std::move(id), std::move(data), std::move(options));
}

Pending<Receipt> ModelHandle::update(std::string_view id, JsonObject patch, WriteOptions options) const {
  return core_->write(Action::kUpdate, key_, std::string(id), std::move(patch), std::move(options));
}

Pending<Receipt> ModelHandle::update(const Row& seen, JsonObject patch, WriteOptions options) const {
  return core_->write(Action::kUpdate, key_, seen.id, std::move(patch), std::move(options), seen.version);
}

Pending<Receipt> ModelHandle::remove(std::string_view id, WriteOptions options) const {
  return core_->write(Action::kDelete, key_, std::string(id), {}, std::move(options));
}

Pending<Receipt> ModelHandle::archive(std::string_view id, WriteOptions options) const {
  return core_->write(Action::kArchive, key_, std::string(id), {}, std::move(options));
}

Pending<Receipt> ModelHandle::unarchive(std::string_view id, WriteOptions options) const {
  return core_->write(Action::kUnarchive, key_, std::string(id), {}, std::move(options));
}

// --- Query ---

namespace query_builder {
Query with(const Query& query, const std::shared_ptr<ClientCore>& core, const std::function<void(sdk_detail::QuerySpec&)>& edit,
           const std::shared_ptr<const Query::Spec>& spec) {
  auto next = std::make_shared<Query::Spec>(*spec);
  edit(next->spec);
  return Query(core, query.model(), std::move(next));
}
}  // namespace query_builder

Query Query::where(std::string field, Op op, Json value) const {
  return query_builder::with(*this, core_, [&](auto& s) { s.where.push_back({std::move(field), op, std::move(value)}); }, spec_);
}
Query Query::order_by(std::string field, Direction direction) const {
  return query_builder::with(*this, core_, [&](auto& s) { s.order.push_back({std::move(field), direction}); }, spec_);
}
Query Query::limit(std::size_t n) const {
  return query_builder::with(*this, core_, [&](auto& s) { s.limit = n; }, spec_);
}
Query Query::offset(std::size_t n) const {
  return query_builder::with(*this, core_, [&](auto& s) { s.offset = n; }, spec_);
}
Query Query::scope(Scope scope) const {
  return query_builder::with(*this, core_, [&](auto& s) { s.scope = scope; }, spec_);
}
Query Query::include_pending(bool include) const {
  return query_builder::with(*this, core_, [&](auto& s) { s.include_pending = include; }, spec_);
}

Result<std::vector<Row>> Query::list() const {
  if (core_->disposed()) return sdk_detail::sdk_fail("model_disposed", "the client was closed");
  const auto* model = core_->schema->resolve(model_);
  if (!model) return sdk_detail::sdk_fail("model_not_found", "no model " + model_, model_);
  auto compiled = sdk_detail::compile(spec_->spec, *model);
  if (!compiled) return tl::unexpected(std::move(compiled.error()));
  std::shared_lock lock(core_->mutex);
  return sdk_detail::run_query(*compiled, core_->replica);
}

Result<std::size_t> Query::count() const {
  auto rows = list();
  if (!rows) return tl::unexpected(std::move(rows.error()));
  return rows->size();
}

Result<std::optional<Row>> Query::first() const {
  auto rows = limit(1).list();
  if (!rows) return tl::unexpected(std::move(rows.error()));
  return rows->empty() ? std::nullopt : std::optional<Row>(std::move(rows->front()));
}

Observer Query::observe(std::function<void(const QueryUpdate&)> callback, std::shared_ptr<Executor> executor) const {
  if (core_->disposed()) return Observer();
  auto subscription = core_->subscribe(model_, spec_->spec, std::move(callback), std::move(executor));
  if (!subscription) {
    spdlog::warn("ablo client: observe() refused: {}", subscription.error().message);
    return Observer();
  }
  auto state = std::make_shared<Observer::State>();
  state->core = core_;
  state->query = std::move(*subscription);
  return Observer(std::move(state));
}

// --- Observer ---

Observer& Observer::operator=(Observer&& other) noexcept {
  if (this != &other) {
    cancel();
    state_ = std::move(other.state_);
  }
  return *this;
}

Observer::~Observer() { cancel(); }

void Observer::cancel() {
  if (!state_) return;
  auto state = std::move(state_);
  if (state->query) {
    if (auto core = state->core.lock()) {
      core->unsubscribe(state->query);
    } else {
      std::lock_guard lock(state->query->mutex);
      state->query->cancelled = true;
    }
  }
  if (state->cancel_listener) state->cancel_listener();
}

bool Observer::active() const { return state_ != nullptr; }

std::string_view to_string(ConnectionState state) {
  switch (state) {
    case ConnectionState::kStarting: return "starting";
    case ConnectionState::kBootstrapping: return "bootstrapping";
    case ConnectionState::kConnected: return "connected";
    case ConnectionState::kReconnecting: return "reconnecting";
    case ConnectionState::kAuthBlocked: return "auth_blocked";
    case ConnectionState::kSessionExpired: return "session_expired";
    case ConnectionState::kClosed: return "closed";
  }
  return "unknown";
}

}  // namespace ablo
