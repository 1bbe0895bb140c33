// The network half of ClientCore (design §4, §5.3–§5.6, §6, §8), all on the I/O thread: the
// credential exchange, the bootstrap, the sync socket, inbound deltas and their persistence,
// commit frames and their answers, heartbeats and reconnects with backoff.
#include <algorithm>
#include <cstdio>
#include <random>

#include <boost/asio/post.hpp>
#include <boost/json.hpp>
#include <boost/url/encode.hpp>
#include <boost/url/rfc/unreserved_chars.hpp>
#include <spdlog/spdlog.h>

#include "common/json_member.h"
#include "common/random.h"
#include "common/time.h"
#include "sdk/core.h"
#include "sdk/sdk_error_code.h"

namespace ablo::sdk_detail {

namespace json = boost::json;
using std::chrono::milliseconds;

namespace wire {

std::string groups_query(const std::vector<std::string>& groups) {
  std::string query;
  for (const auto& group : groups) query += "&syncGroups=" + boost::urls::encode(group, boost::urls::unreserved_chars);
  return query;
}

std::optional<int64_t> int_of(const json::object& object, std::string_view key) {
  const auto* value = object.if_contains(key);
  if (!value) return std::nullopt;
  if (value->is_int64()) return value->get_int64();
  if (value->is_uint64()) return static_cast<int64_t>(value->get_uint64());
  if (value->is_double()) return static_cast<int64_t>(value->get_double());
  return std::nullopt;
}

// The server's error envelope (`code` at the top or under `error`) as an Error; registry codes
// pass through, anything else keeps its text in the message under internal_error.
Error error_of(const json::value& envelope, std::string_view fallback_message) {
  const json::object* object = envelope.is_object() ? &envelope.get_object() : nullptr;
  if (object && object->contains("error") && object->at("error").is_object()) object = &object->at("error").get_object();
  Error error = sdk_error("internal_error", std::string(fallback_message));
  if (!object) return error;
  const std::string code = string_member(*object, "code");
  if (!code.empty()) error.code = code;  // a server code: kept verbatim (error.h: unknown codes are permanent)
  if (auto message = string_member(*object, "message"); !message.empty()) error.message = message;
  error.param = string_member(*object, "param");
  for (const auto& [key, value] : *object) {
    if (key != "code" && key != "message" && key != "param") error.details[key] = value;
  }
  return error;
}

std::optional<json::object> parse_object(std::string_view text, json::storage_ptr storage) {
  boost::system::error_code ec;
  auto value = json::parse(text, ec, std::move(storage));
  if (ec || !value.is_object()) return std::nullopt;
  return std::move(value.as_object());
}

std::string frame(std::string_view type, json::object payload) {
  return json::serialize(json::object{{"type", type}, {"payload", std::move(payload)}});
}

}  // namespace wire

// ------------------------------------------------------------------------------------------
// Status.

ConnectionStatus ClientCore::status_snapshot() const {
  std::lock_guard lock(status_mutex);
  return status;
}

int64_t ClientCore::local_now_ms() const {
  if (!options.clock) return now_ms();
  return std::chrono::duration_cast<milliseconds>(options.clock().time_since_epoch()).count();
}

void ClientCore::notify_status() {
  ConnectionStatus now;
  std::vector<std::shared_ptr<Listener<ConnectionStatus>>> listeners;
  {
    std::lock_guard lock(status_mutex);
    now = status;
    listeners = status_listeners;
  }
  for (const auto& listener : listeners) listener->deliver(now);  // unlocked: a callback may read the status
}

namespace connection_state {
void set(ClientCore& core, ConnectionState state, std::optional<Error> error = std::nullopt) {
  {
    std::lock_guard lock(core.status_mutex);
    if (core.status.state == state && !error) return;
    core.status.state = state;
    if (error) core.status.last_error = std::move(error);
    if (state == ConnectionState::kConnected) {
      core.status.offline_since.reset();
      core.status.next_attempt_at.reset();
    } else if (!core.status.offline_since) {
      core.status.offline_since = Clock::now();
    }
  }
  core.notify_status();
}

// Equal jitter (design §8.2): uniform in [d·(1−jitter), d], d = min(max, initial·2^attempt).
milliseconds backoff_delay(const Backoff& backoff, int attempt) {
  static thread_local std::mt19937_64 random{std::random_device{}()};
  const double exponent = std::min(attempt, 30);
  const double full = std::min<double>(static_cast<double>(backoff.max.count()),
                                       static_cast<double>(backoff.initial.count()) * std::pow(2.0, exponent));
  std::uniform_real_distribution<double> spread(full * (1.0 - backoff.jitter), full);
  return milliseconds(static_cast<int64_t>(spread(random)));
}

bool is_auth_refusal(const Error& error) {
  static constexpr std::string_view kCodes[] = {"apikey_invalid", "apikey_revoked", "apikey_expired", "unauthorized",
                                                "forbidden",      "session_expired", "jwt_expired"};
  if (std::find(std::begin(kCodes), std::end(kCodes), error.code) != std::end(kCodes)) return true;
  const auto* status = error.details.if_contains("httpStatus");
  return status && status->is_int64() && (status->get_int64() == 401 || status->get_int64() == 403);
}
}  // namespace connection_state

// ------------------------------------------------------------------------------------------
// Connecting: credential → bootstrap (first start) → socket.

namespace token_refresh {
// One exchange answer as the lifetime measurement needs it.
struct Answer {
  const std::map<std::string, std::string>& headers;  // lowercase names
  int64_t local_midpoint_ms;                          // local time halfway through the request
};
}  // namespace token_refresh

namespace connect_steps {
client::HttpRequest exchange_request(ClientCore& core);
void remember_identity(ClientCore& core, const json::object& exchanged, const token_refresh::Answer& answer);
}  // namespace connect_steps

// Token lifetime and refresh (design §4 step 2, §8.5): the server's clock from its Date header
// (else from expiresAt − the requested TTL), the token refreshed at expiresAt − max(60 s, 10 %)
// of its lifetime (at most half of it) in server time. The open socket stays: the server does not
// end a socket when its token expires; the new token serves the next connect and HTTP call.
namespace token_refresh {

void refresh(ClientCore& core);

void schedule(ClientCore& core, milliseconds delay) {
  core.refresh_timer.expires_after(delay);
  core.refresh_timer.async_wait([&core](const boost::system::error_code& ec) {
    if (!ec) refresh(core);
  });
}

// Measures the clock offset and the token's lifetime from one exchange answer; arms the refresh.
void remember_lifetime(ClientCore& core, const json::object& exchanged, const Answer& answer) {
  constexpr int64_t kRequestedTtlMs = 3600 * 1000;
  const auto expires = parse_iso8601_ms(string_member(exchanged, "expiresAt"));
  std::optional<int64_t> offset;
  if (const auto date = answer.headers.find("date"); date != answer.headers.end()) {
    if (auto server_now = http_date_to_ms(date->second)) offset = *server_now + 500 - answer.local_midpoint_ms;  // mid-second
  }
  if (!offset && expires) offset = *expires - kRequestedTtlMs - answer.local_midpoint_ms;
  const int64_t measured = offset && std::abs(*offset) >= 2000 ? *offset : 0;  // below the measurement's noise: 0
  {
    std::lock_guard lock(core.status_mutex);
    core.status.clock_offset = milliseconds(measured);
  }
  if (std::abs(measured) > 5000) spdlog::warn("ablo client: this clock is {} ms off the server's", -measured);
  const int64_t lifetime = expires ? std::max<int64_t>(*expires - (answer.local_midpoint_ms + measured), 1000) : kRequestedTtlMs;
  core.token_expires_local_ms = answer.local_midpoint_ms + lifetime;
  const int64_t lead = std::min(std::max<int64_t>(60'000, lifetime / 10), lifetime / 2);
  core.refresh_attempt = 0;
  schedule(core, milliseconds(lifetime - lead));
}

void refresh(ClientCore& core) {
  if (core.disposed() || core.auth_blocked || !core.bearer_key.starts_with("sk_")) return;
  const int64_t sent_at = core.local_now_ms();
  core.refresh_call = client::async_http(core.io.get_executor(), core.target, connect_steps::exchange_request(core),
                                         [&core, sent_at](Result<client::HttpResponse> response) {
    if (core.disposed()) return;
    auto parsed = response ? wire::parse_object(response->body) : std::nullopt;
    if (!response || response->status != 200 || !parsed || string_member(*parsed, "token").empty()) {
      // Backoff, never a hot loop; once the token has expired the next connect exchanges anyway.
      spdlog::debug("ablo client: token refresh failed; retrying");
      schedule(core, connection_state::backoff_delay(core.options.timing.reconnect, core.refresh_attempt++));
      return;
    }
    bool ready;
    connect_steps::remember_identity(core, *parsed, Answer{response->headers, (sent_at + core.local_now_ms()) / 2});
    {
      std::shared_lock lock(core.mutex);
      ready = core.replica_ready;
    }
    if (!ready && core.ws) {  // the identity changed under the store (§3.6): rebuilt on a new socket
      core.ws->close(1000, "identity changed");
      core.on_socket_closed(1000, "identity changed");
    }
  });
}

}  // namespace token_refresh

namespace connect_steps {
void fail_ready(ClientCore& core, const Error& error) {
  std::vector<std::shared_ptr<PendingState<Unit>>> waiters;
  {
    std::unique_lock lock(core.mutex);
    core.blocking_error = error;
    waiters.swap(core.ready_waiters);
  }
  for (auto& waiter : waiters) waiter->settle(tl::unexpected(error));
}

void schedule_reconnect(ClientCore& core, std::optional<Error> why) {
  if (core.disposed()) return;
  const auto delay = connection_state::backoff_delay(core.options.timing.reconnect, core.attempt++);
  {
    std::lock_guard lock(core.status_mutex);
    core.status.next_attempt_at = Clock::now() + delay;
  }
  connection_state::set(core, ConnectionState::kReconnecting, std::move(why));
  core.reconnect_timer.expires_after(delay);
  core.reconnect_timer.async_wait([&core](const boost::system::error_code& ec) {
    if (!ec) core.connect_cycle();
  });
}

void refuse_credential(ClientCore& core, const Error& error) {
  core.auth_blocked = true;
  fail_ready(core, error);
  const bool ended = error.code == "session_expired" || error.code == "jwt_expired";
  connection_state::set(core, ended ? ConnectionState::kSessionExpired : ConnectionState::kAuthBlocked, error);
}

void open_socket(ClientCore& core);
void bootstrap(ClientCore& core);

void after_credential(ClientCore& core) {
  bool warm;
  {
    std::shared_lock lock(core.mutex);
    warm = core.replica_ready;
  }
  if (warm) {
    open_socket(core);
  } else {
    bootstrap(core);
  }
}

// The credential exchange request (design §4 step 2), the same for the first exchange and refreshes.
client::HttpRequest exchange_request(ClientCore& core) {
  static constexpr std::string_view kKinds[] = {"system", "agent", "user"};
  json::object body{{"participantKind", kKinds[static_cast<int>(core.options.participant_kind)]},
                    {"wideScope", true},
                    {"ttlSeconds", 3600}};
  // The store file's participant again (protocol.md §2.1 participantId): a restart or a token
  // refresh stays the same participant, so its unsent writes replay as their author (§3.6).
  {
    std::shared_lock lock(core.mutex);
    const auto stored = core.meta.find("participant_id");
    if (stored != core.meta.end() && !stored->second.empty()) body["participantId"] = stored->second;
  }
  return client::HttpRequest{.method = "POST",
                             .target = "/api/auth/capability",
                             .body = json::serialize(body),
                             .headers = {{"Authorization", "Bearer " + core.bearer_key}},
                             .timeout = milliseconds(10000)};
}

void roll_back_all(ClientCore& core, std::vector<OutboxEntry> entries, const Error& error);

// The store file is another identity's (design §3.6 row 4): its rows go (the replica is rebuilt by
// a full bootstrap), and its unsent writes too when they are another participant's — rolled back
// and reported, never replayed under this identity.
void adopt_identity(ClientCore& core, bool drop_outbox, std::string detail) {
  std::vector<OutboxEntry> dropped;
  std::size_t kept;
  ClientCore::Deliveries deliveries;
  {
    std::unique_lock lock(core.mutex);
    if (drop_outbox) dropped = core.outbox.take_all();
    auto changes = core.replica.clear_bases();
    core.replica_ready = false;
    core.applied_cursor = 0;
    core.snapshot_cursor = 0;
    kept = core.outbox.size();
    core.meta.erase("store_id");
    core.meta.erase("cursor");
    core.route_changes(changes, ChangeCause::kRebootstrap, deliveries);
  }
  ClientCore::deliver_all(deliveries);
  core.persisted_cursor = 0;
  core.persist_batch = {};
  const std::size_t lost = dropped.size();
  if (!dropped.empty()) {
    roll_back_all(core, std::move(dropped), sdk_error("forbidden", "written by another participant of this store file; not replayed"));
  }
  (void)core.store->clear_for_server_change(!drop_outbox, [](Status ok) {
    if (!ok) spdlog::error("ablo client: the store was not cleared for the new server: {}", ok.error().message);
  });
  core.report_store_event(StoreEvent{StoreEvent::Kind::kServerChanged, std::move(detail), {}, kept, lost});
}

void remember_identity(ClientCore& core, const json::object& exchanged, const token_refresh::Answer& answer) {
  core.token = string_member(exchanged, "token");
  const auto* scope = exchanged.if_contains("scope");
  if (scope && scope->is_object()) {
    core.participant_id = string_member(scope->get_object(), "participantId");
    core.organization_id = string_member(scope->get_object(), "organizationId");
    if (const auto* groups = scope->get_object().if_contains("syncGroups"); groups && groups->is_array()) {
      core.sync_groups.clear();
      for (const auto& group : groups->get_array()) {
        if (group.is_string()) core.sync_groups.emplace_back(group.get_string());
      }
    }
  }
  if (core.organization_id.empty()) core.organization_id = string_member(exchanged, "organizationId");
  if (!core.options.sync_groups.empty()) core.sync_groups = core.options.sync_groups;
  token_refresh::remember_lifetime(core, exchanged, answer);
  StoreMeta identity{{"base_url", core.options.base_url},
                     {"organization_id", core.organization_id},
                     {"participant_id", core.participant_id}};
  StoreMeta stored;
  {
    std::shared_lock lock(core.mutex);
    stored = core.meta;
  }
  // Design §3.6 row 4: a store of another server or organization is rebuilt here (its rows
  // cleared, a full bootstrap follows); its outbox replays only for the same participant.
  const auto verdict = judge_identity(stored, StoreIdentity{core.options.base_url, core.organization_id, core.participant_id});
  if (verdict != IdentityVerdict::kSame) {
    const auto was = [&stored](const char* key) {
      const auto found = stored.find(key);
      return found == stored.end() ? std::string() : found->second;
    };
    adopt_identity(core, verdict == IdentityVerdict::kServerChangedDropOutbox,
                   "the store belongs to " + was("base_url") + " (organization " + was("organization_id") + ", participant " +
                       was("participant_id") + ")");
  }
  {
    std::unique_lock lock(core.mutex);
    for (const auto& [key, value] : identity) core.meta[key] = value;
  }
  (void)core.store->set_meta(std::move(identity), [](Status ok) {
    if (!ok) spdlog::warn("ablo client: identity not stored: {}", ok.error().message);
  });
}

void exchange(ClientCore& core) {
  if (!core.bearer_key.starts_with("sk_")) {  // pk_ keys and tokens are bearers as they are
    core.token = core.bearer_key;
    core.token_expires_local_ms = INT64_MAX;
    after_credential(core);
    return;
  }
  const int64_t epoch = core.connection_epoch;
  const int64_t sent_at = core.local_now_ms();
  core.http_call = client::async_http(core.io.get_executor(), core.target, exchange_request(core),
                                      [&core, epoch, sent_at](Result<client::HttpResponse> response) {
    if (core.disposed() || epoch != core.connection_epoch) return;
    if (!response) {
      Error error = sdk_error("exchange_network_error", "the key exchange failed: " + response.error().message);
      schedule_reconnect(core, std::move(error));
      return;
    }
    auto parsed = wire::parse_object(response->body);
    if (response->status != 200 || !parsed || string_member(*parsed, "token").empty()) {
      Error error = wire::error_of(parsed ? json::value(*parsed) : json::value(), "the key exchange was refused");
      error.details["httpStatus"] = response->status;
      if (response->status == 401 || response->status == 403) {
        refuse_credential(core, error);
      } else {
        schedule_reconnect(core, std::move(error));
      }
      return;
    }
    remember_identity(core, *parsed, token_refresh::Answer{response->headers, (sent_at + core.local_now_ms()) / 2});
    after_credential(core);
  });
}

}  // namespace connect_steps

void ClientCore::connect_cycle() {
  if (disposed() || auth_blocked) return;
  ++connection_epoch;
  if (token.empty() || local_now_ms() > token_expires_local_ms - 60'000) {
    connect_steps::exchange(*this);
  } else {
    connect_steps::after_credential(*this);
  }
}

// ------------------------------------------------------------------------------------------
// Bootstrap (design §4.1): the snapshot replaces the bases; pending writes stay on top.

namespace connect_steps {

struct Snapshot {
  int64_t watermark = 0;
  std::string store_id;
  std::vector<std::string> models;                         // schema keys returned
  std::map<std::string, std::vector<SnapshotRow>> rows;     // by schema key
  std::vector<StoredRow> stored;
};

// Takes the parsed body: each row object is serialized once for the store, then moved (not
// copied) into the snapshot the replica keeps.
Result<Snapshot> read_snapshot(const schema::Schema& schema, json::object body) {
  Snapshot snapshot;
  auto watermark = wire::int_of(body, "lastSyncId");
  auto* models = body.if_contains("models");
  if (!watermark || !models || !models->is_object()) {
    return sdk_fail("bootstrap_response_invalid", "the bootstrap has no lastSyncId or models");
  }
  snapshot.watermark = *watermark;
  snapshot.store_id = string_member(body, "storeId");
  for (auto& [name, rows] : models->get_object()) {
    const auto* model = schema.resolve(name);
    if (!model || !rows.is_array()) continue;  // a model this client's schema lacks
    snapshot.models.push_back(model->key);
    auto& list = snapshot.rows[model->key];
    list.reserve(list.size() + rows.get_array().size());
    snapshot.stored.reserve(snapshot.stored.size() + rows.get_array().size());
    for (auto& row : rows.get_array()) {
      if (!row.is_object()) continue;
      auto id = string_member(row.get_object(), "id");
      if (id.empty()) continue;
      const auto* archived_at = row.get_object().if_contains("archivedAt");
      const bool archived = archived_at && !archived_at->is_null();
      snapshot.stored.push_back(StoredRow{model->key, id, json::serialize(row), snapshot.watermark, archived});
      list.push_back(SnapshotRow{std::move(id), std::move(row.get_object()), archived});
    }
  }
  return snapshot;
}

void persist_snapshot(ClientCore& core, std::vector<StoredRow> rows, int64_t watermark, const std::string& store_id) {
  auto log_failure = [](Status ok) {
    if (!ok) spdlog::error("ablo client: bootstrap not stored: {}", ok.error().message);
  };
  (void)core.store->begin_rebuild(log_failure);
  for (std::size_t at = 0; at < rows.size(); at += LocalStore::kRebuildBatchRows) {
    const auto end = std::min(rows.size(), at + LocalStore::kRebuildBatchRows);
    (void)core.store->add_rebuild_rows(std::vector<StoredRow>(std::make_move_iterator(rows.begin() + static_cast<std::ptrdiff_t>(at)),
                                                              std::make_move_iterator(rows.begin() + static_cast<std::ptrdiff_t>(end))),
                                       log_failure);
  }
  (void)core.store->finish_rebuild(watermark, [&core, watermark](Status ok) {
    if (!ok) return;
    boost::asio::post(core.io, [&core, watermark] { core.persisted_cursor = std::max(core.persisted_cursor, watermark); });
  });
  if (!store_id.empty()) (void)core.store->set_meta({{"store_id", store_id}}, log_failure);
}

void apply_snapshot(ClientCore& core, Snapshot snapshot) {
  ClientCore::Deliveries deliveries;
  std::vector<std::shared_ptr<PendingState<Unit>>> ready;
  {
    std::unique_lock lock(core.mutex);
    auto changes = core.replica.rebase(snapshot.models, std::move(snapshot.rows), snapshot.watermark);
    core.applied_cursor = snapshot.watermark;
    core.snapshot_cursor = snapshot.watermark;
    core.replica_ready = true;
    core.blocking_error.reset();
    if (!snapshot.store_id.empty()) core.meta["store_id"] = snapshot.store_id;
    core.route_changes(changes, ChangeCause::kRebootstrap, deliveries);
    ready.swap(core.ready_waiters);
  }
  persist_snapshot(core, std::move(snapshot.stored), snapshot.watermark, snapshot.store_id);
  ClientCore::deliver_all(deliveries);
  for (auto& waiter : ready) waiter->settle(Unit{});
  std::lock_guard lock(core.status_mutex);
  core.status.cursor = snapshot.watermark;
}

void bootstrap(ClientCore& core) {
  connection_state::set(core, ConnectionState::kBootstrapping);
  client::HttpRequest request{.method = "GET",
                              .target = "/api/sync/bootstrap?type=full" + wire::groups_query(core.sync_groups),
                              .headers = {{"Authorization", "Bearer " + core.token}},
                              .timeout = core.options.timing.bootstrap_timeout};
  const int64_t epoch = core.connection_epoch;
  core.http_call = client::async_http(core.io.get_executor(), core.target, std::move(request),
                                      [&core, epoch](Result<client::HttpResponse> response) {
    if (core.disposed() || epoch != core.connection_epoch) return;
    if (!response || response->status != 200) {
      Error error = response ? wire::error_of(wire::parse_object(response->body).value_or(json::object{}), "bootstrap refused")
                             : sdk_error("bootstrap_fetch_timeout", "bootstrap failed: " + response.error().message);
      if (response && (response->status == 401 || response->status == 403)) {
        core.token.clear();  // an expired capability: exchange again
      }
      schedule_reconnect(core, std::move(error));
      return;
    }
    // The rows are parsed straight into the arena the replica keeps them in (replica.h).
    auto body = wire::parse_object(response->body, make_row_arena());
    auto snapshot = body ? read_snapshot(*core.schema, std::move(*body))
                         : Result<Snapshot>(sdk_fail("bootstrap_response_invalid", "the bootstrap is not a JSON object"));
    if (!snapshot) {
      schedule_reconnect(core, snapshot.error());
      return;
    }
    apply_snapshot(core, std::move(*snapshot));
    open_socket(core);
  });
}

}  // namespace connect_steps

// A wiped or replaced server (design §6.5): the rows go, the unconfirmed writes stay and are
// re-sent once the new server's snapshot is in.
namespace connect_steps {
void rebuild_from_scratch(ClientCore& core, std::string detail, bool server_changed) {
  std::size_t kept;
  ClientCore::Deliveries deliveries;
  {
    std::unique_lock lock(core.mutex);
    auto changes = core.replica.clear_bases();
    core.replica_ready = false;
    core.applied_cursor = 0;
    core.snapshot_cursor = 0;
    kept = core.outbox.size();
    core.route_changes(changes, ChangeCause::kRebootstrap, deliveries);
  }
  ClientCore::deliver_all(deliveries);
  core.persisted_cursor = 0;
  core.persist_batch = {};
  (void)core.store->clear_for_server_change(true, [](Status) {});
  core.report_store_event(StoreEvent{server_changed ? StoreEvent::Kind::kServerChanged : StoreEvent::Kind::kRebootstrapped,
                                     std::move(detail), {}, kept, 0});
  if (core.ws) {
    core.ws->close(1000, "re-bootstrapping");
    core.ws.reset();
  }
  core.caught_up = false;
  if (!core.in_flight_frame.empty()) {  // re-sent to the new server once its snapshot is in
    std::unique_lock lock(core.mutex);
    (void)core.outbox.on_failure(core.in_flight_frame, sdk_error("commit_no_result", "re-bootstrapping"), milliseconds(0));
    core.in_flight_frame.clear();
  }
  ++core.connection_epoch;
  bootstrap(core);
}
}  // namespace connect_steps

// ------------------------------------------------------------------------------------------
// The socket.

namespace connect_steps {

void send(ClientCore& core, std::string text) {
  if (!core.ws || !core.ws->is_open()) return;
  if (auto ok = core.ws->send(std::move(text)); !ok) spdlog::debug("ablo client: send failed: {}", ok.error().message);
}

void arm_heartbeat(ClientCore& core, int64_t epoch) {
  core.heartbeat_timer.expires_after(core.options.timing.heartbeat);
  core.heartbeat_timer.async_wait([&core, epoch](const boost::system::error_code& ec) {
    if (ec || epoch != core.connection_epoch || !core.ws) return;
    send(core, R"({"type":"ping"})");
    const auto pinged_at = std::chrono::steady_clock::now();
    core.heartbeat_timer.expires_after(core.options.timing.silence_timeout);
    core.heartbeat_timer.async_wait([&core, epoch, pinged_at](const boost::system::error_code& silence) {
      if (silence || epoch != core.connection_epoch || !core.ws) return;
      if (core.last_frame_at < pinged_at) {  // nothing at all since the ping: a dead path (T57)
        core.ws->close(4000, "heartbeat timeout");
        core.on_socket_closed(4000, "heartbeat timeout");
        return;
      }
      arm_heartbeat(core, epoch);
    });
  });
}

void on_open(ClientCore& core) {
  core.caught_up = false;
  core.last_frame_at = std::chrono::steady_clock::now();
  announce_presence(core);
  // Catch-up starts at what is on disk (or the snapshot being stored), not at what memory holds:
  // deltas whose persist failed come again and are stored then (D18, design §6.1).
  const int64_t cursor = std::max(core.persisted_cursor, core.snapshot_cursor);
  core.accepted_cursor = cursor;
  if (core.persisted_cursor > 0) send(core, wire::frame("ack", {{"lastSyncId", core.persisted_cursor}}));
  send(core, wire::frame("sync_request", {{"cursor", nullptr},
                                          {"versions", json::object{}},
                                          {"lastSyncId", cursor},
                                          {"capabilities", json::array{"partialBootstrap", "batchedDeltas", "requiresBootstrap"}}}));
  reannounce_claims(core);  // the same intent ids: the server keeps their place (T47)
  arm_heartbeat(core, core.connection_epoch);
}

void open_socket(ClientCore& core) {
  const int64_t epoch = ++core.connection_epoch;
  core.ws = client::AsyncWs::create(core.io.get_executor());
  core.ws->set_frame_handler([&core, epoch](std::string&& text) {
    if (epoch == core.connection_epoch) core.on_frame(std::move(text));
  });
  core.ws->set_close_handler([&core, epoch](int code, std::string reason) {
    if (epoch == core.connection_epoch) core.on_socket_closed(code, reason);
  });
  core.ws->connect(core.target.host, core.target.port, "/api/sync/ws?cursor=" + wire::groups_query(core.sync_groups),
                   {"ablo.bearer." + core.token, "ablo.sync.v1"}, milliseconds(10000), [&core, epoch](Status opened) {
                     if (core.disposed() || epoch != core.connection_epoch) return;
                     if (opened) {
                       on_open(core);
                       return;
                     }
                     core.ws.reset();
                     if (connection_state::is_auth_refusal(opened.error())) core.token.clear();  // exchange again
                     schedule_reconnect(core, opened.error());
                   });
}

}  // namespace connect_steps

void ClientCore::on_socket_closed(int code, const std::string& reason) {
  ++connection_epoch;
  ws.reset();
  caught_up = false;
  heartbeat_timer.cancel();
  ack_timer.cancel();
  commit_ack_timer.cancel();
  clear_roster(*this);
  start_claim_lapse(*this);
  for (std::string* in_flight : {&in_flight_frame, &in_flight_commit}) {
    if (in_flight->empty()) continue;
    // The answer may never come: the same frame goes out again on the next socket (D11).
    std::unique_lock lock(mutex);
    (void)outbox.on_failure(*in_flight, sdk_error("commit_no_result", "the socket closed before the answer"),
                            milliseconds(0));
    in_flight->clear();
  }
  if (disposed()) return;
  if (code == 1008 || code == 4001 || code == 4003) {
    Error error = sdk_error("session_expired", "the server ended the session (" + std::to_string(code) + " " + reason + ")");
    connect_steps::refuse_credential(*this, error);
    return;
  }
  connect_steps::schedule_reconnect(*this, sdk_error("ws_not_ready", "socket closed: " + std::to_string(code) + " " + reason));
}

// ------------------------------------------------------------------------------------------
// Inbound frames.

namespace inbound {

// Settles the writes whose ack and delta are both in (design §5.6). Needs core.mutex exclusive.
void confirm_ready(ClientCore& core, ClientCore::Deliveries& deliveries,
                   std::vector<std::pair<std::shared_ptr<PendingState<Receipt>>, Receipt>>& settled) {
  auto confirmed = core.outbox.confirmed(core.applied_cursor);
  for (const auto& entry : confirmed) {
    if (auto change = core.replica.remove_pending(entry.model, entry.row_id, entry.seq)) {
      core.route_changes({*change}, ChangeCause::kConfirmed, deliveries);
    }
    Receipt receipt;
    receipt.transaction_id = entry.transaction_id;
    receipt.client_tx_id = entry.frame_id.value_or("");
    receipt.last_sync_id = entry.acked_sync_id.value_or(0);
    receipt.row = core.replica.view(entry.model, entry.row_id);
    receipt.replayed = core.replayed_seqs.erase(entry.seq) > 0;
    receipt.flagged_stale = core.flagged_seqs.erase(entry.seq) > 0;
    auto waiters = core.write_waiters.extract(entry.seq);
    if (!waiters.empty()) {
      for (auto& waiter : waiters.mapped()) settled.emplace_back(waiter.state, receipt);
    }
    core.persist_batch.remove_outbox.push_back(entry.seq);
  }
}

void finish_settling(ClientCore& core, ClientCore::Deliveries& deliveries,
                     std::vector<std::pair<std::shared_ptr<PendingState<Receipt>>, Receipt>>& settled) {
  std::vector<std::shared_ptr<PendingState<Unit>>> flushed;
  {
    std::unique_lock lock(core.mutex);
    if (core.outbox.size() == 0) flushed.swap(core.flush_waiters);
    std::lock_guard status_lock(core.status_mutex);
    core.status.pending_writes = core.outbox.size();
  }
  ClientCore::deliver_all(deliveries);
  for (auto& [state, receipt] : settled) state->settle(std::move(receipt));
  for (auto& waiter : flushed) waiter->settle(Unit{});
}

void schedule_flush(ClientCore& core) {
  auto flush = [&core] {
    core.flush_armed = false;
    if (core.persist_batch.upserts.empty() && core.persist_batch.deletes.empty() && core.persist_batch.remove_outbox.empty() &&
        !core.persist_batch.cursor) {
      return;
    }
    auto batch = std::exchange(core.persist_batch, {});
    const auto cursor = batch.cursor;
    const int64_t epoch = core.connection_epoch;
    auto confirmed_seqs = batch.remove_outbox;
    (void)core.store->apply_delta_batch(std::move(batch), [&core, cursor, epoch, confirmed_seqs](Status ok) {
      boost::asio::post(core.io, [&core, cursor, epoch, ok, confirmed_seqs] {
        if (!ok) {
          // The confirmed outbox entries of the batch are still on disk: removed with the next one.
          core.persist_batch.remove_outbox.insert(core.persist_batch.remove_outbox.end(), confirmed_seqs.begin(), confirmed_seqs.end());
          core.persist_failed_epoch = epoch;
          // Deltas that came after the lost ones and wait in the next batch must not move the
          // cursor past them: that batch is flushed after the socket closed (a new epoch), and
          // its cursor would make the next catch-up start beyond the lost deltas.
          core.persist_batch.cursor.reset();
          // Nothing of the batch is on disk: reconnect, and catch-up resends from the persisted cursor (D18).
          spdlog::error("ablo client: deltas not stored ({}); resyncing", ok.error().message);
          if (core.ws && epoch == core.connection_epoch) {
            core.ws->close(1011, "local store failure");
            core.on_socket_closed(1011, "local store failure");
          }
          return;
        }
        // A later batch of the socket whose batch failed: its cursor would cover the lost deltas.
        if (!cursor || *cursor <= core.persisted_cursor || epoch == core.persist_failed_epoch) return;
        core.persisted_cursor = *cursor;
        connect_steps::send(core, wire::frame("ack", {{"lastSyncId", *cursor}}));  // ack only what is on disk (T34)
        {
          std::lock_guard lock(core.status_mutex);
          core.status.cursor = *cursor;
        }
      });
    });
  };
  const bool full = core.persist_batch.upserts.size() + core.persist_batch.deletes.size() >= 500;
  if (full) {
    core.flush_timer.cancel();
    flush();
    return;
  }
  if (core.flush_armed) return;
  core.flush_armed = true;
  core.flush_timer.expires_after(core.options.timing.delta_flush);
  core.flush_timer.async_wait([flush](const boost::system::error_code& ec) {
    if (!ec) flush();
  });
}

std::optional<InboundDelta> read_delta(const json::value& value) {
  if (!value.is_object()) return std::nullopt;
  const auto& object = value.get_object();
  InboundDelta delta;
  auto id = wire::int_of(object, "id");
  const auto action = string_member(object, "actionType");
  if (!id || action.empty()) return std::nullopt;
  delta.id = *id;
  delta.action = action.front();
  delta.model = string_member(object, "modelName");
  delta.row_id = string_member(object, "modelId");
  if (const auto* data = object.if_contains("data"); data && data->is_object()) delta.data = data->get_object();
  return delta;
}

// A delta memory already holds (D18): its row goes to the persist batch as the replica's
// confirmed row now (never older than the delta), without re-applying it or calling observers.
// Needs core.mutex.
void persist_again(ClientCore& core, const InboundDelta& delta) {
  const auto* model = core.schema->resolve(delta.model);
  if (!model) return;
  if (auto confirmed = core.replica.confirmed(model->key, delta.row_id)) {
    core.persist_batch.upserts.push_back(to_stored_row(*confirmed));
  } else {
    core.persist_batch.deletes.emplace_back(model->key, delta.row_id);
  }
}

// Applies deltas in id order: each once (ids at or below the applied cursor were seen), every
// one of them (no state-signature de-duplication, D6), then persisted in batches.
void apply_deltas(ClientCore& core, const json::array& deltas) {
  ClientCore::Deliveries deliveries;
  std::vector<std::pair<std::shared_ptr<PendingState<Receipt>>, Receipt>> settled;
  {
    std::unique_lock lock(core.mutex);
    for (const auto& value : deltas) {
      auto delta = read_delta(value);
      if (!delta || delta->id <= core.accepted_cursor) continue;
      core.accepted_cursor = delta->id;
      core.persist_batch.cursor = delta->id;
      if (delta->id <= core.applied_cursor) {  // re-delivered after a failed persist: store it only
        persist_again(core, *delta);
        continue;
      }
      auto outcome = core.replica.apply_delta(*delta);
      core.applied_cursor = delta->id;
      if (outcome.needs_fetch) spdlog::debug("ablo client: delta {} updates a row this replica lacks", delta->id);
      for (const auto& change : outcome.changes) {
        if (auto confirmed = core.replica.confirmed(change.model, change.id)) {
          core.persist_batch.upserts.push_back(to_stored_row(*confirmed));
        } else {
          core.persist_batch.deletes.emplace_back(change.model, change.id);
        }
      }
      core.route_changes(outcome.changes, ChangeCause::kRemote, deliveries);
    }
    confirm_ready(core, deliveries, settled);
  }
  finish_settling(core, deliveries, settled);
  schedule_flush(core);
}

void on_sync_response(ClientCore& core, const json::object& payload) {
  const auto store_id = string_member(payload, "storeId");
  std::string known_store_id;
  {
    std::shared_lock lock(core.mutex);
    const auto it = core.meta.find("store_id");
    if (it != core.meta.end()) known_store_id = it->second;
  }
  if (!store_id.empty() && !known_store_id.empty() && store_id != known_store_id) {
    connect_steps::rebuild_from_scratch(core, "storeId " + known_store_id + " → " + store_id, true);
    return;
  }
  const auto current = wire::int_of(payload, "currentSyncId").value_or(0);
  if (store_id.empty() && current < core.persisted_cursor) {  // the log rewound: another database (§6.5)
    connect_steps::rebuild_from_scratch(core, "the server's log is behind this replica's cursor", true);
    return;
  }
  if (const auto* rebootstrap = payload.if_contains("requiresBootstrap"); rebootstrap && rebootstrap->is_bool() && rebootstrap->get_bool()) {
    connect_steps::rebuild_from_scratch(core, "the gap is too old to catch up", false);
    return;
  }
  if (!store_id.empty() && known_store_id.empty()) {
    {
      std::unique_lock lock(core.mutex);
      core.meta["store_id"] = store_id;
    }
    (void)core.store->set_meta({{"store_id", store_id}}, [](Status) {});
  }
  if (const auto* deltas = payload.if_contains("deltas"); deltas && deltas->is_array()) apply_deltas(core, deltas->get_array());
  if (!core.caught_up) {
    core.caught_up = true;
    core.attempt = 0;
    connection_state::set(core, ConnectionState::kConnected);
    core.pump();
  }
}

void on_delta(ClientCore& core, const json::object& payload) {
  if (const auto* batch = payload.if_contains("deltas"); batch && batch->is_array()) {
    apply_deltas(core, batch->get_array());
  } else {
    apply_deltas(core, json::array{payload});
  }
}

// Rolls back every entry of a refused frame (T25) and what depended on it, and reports them.
void roll_back(ClientCore& core, const std::vector<OutboxEntry>& entries, const Error& error) {
  ClientCore::Deliveries deliveries;
  std::vector<std::pair<std::shared_ptr<PendingState<Receipt>>, Error>> rejected;
  std::vector<MutationFailure> failures;
  std::vector<std::shared_ptr<PendingState<CommitReceipt>>> refused_commits;
  std::vector<int64_t> seqs;
  {
    std::unique_lock lock(core.mutex);
    for (const auto& entry : entries) {
      if (auto change = core.replica.remove_pending(entry.model, entry.row_id, entry.seq)) {
        core.route_changes({*change}, ChangeCause::kRolledBack, deliveries);
      }
      auto waiters = core.write_waiters.extract(entry.seq);
      if (!waiters.empty()) {
        for (auto& waiter : waiters.mapped()) rejected.emplace_back(waiter.state, error);
      }
      if (entry.lane == Lane::kCommit && entry.frame_id) {
        auto commit = core.commit_waiters.extract(*entry.frame_id);
        if (!commit.empty()) refused_commits.push_back(std::move(commit.mapped().first));
      }
      failures.push_back(MutationFailure{entry.model, entry.row_id, entry.action, entry.transaction_id, error, true,
                                         core.replayed_seqs.erase(entry.seq) > 0});
      seqs.push_back(entry.seq);
    }
  }
  (void)core.store->remove_outbox(std::move(seqs), [](Status) {});
  std::vector<std::pair<std::shared_ptr<PendingState<Receipt>>, Receipt>> none;
  finish_settling(core, deliveries, none);
  for (auto& [state, reason] : rejected) state->settle(tl::unexpected(reason));
  for (auto& commit : refused_commits) commit->settle(tl::unexpected(error));
  for (auto& failure : failures) core.report_failure(std::move(failure));
}

}  // namespace inbound

namespace connect_steps {
void roll_back_all(ClientCore& core, std::vector<OutboxEntry> entries, const Error& error) {
  inbound::roll_back(core, entries, error);
}
}  // namespace connect_steps

namespace inbound {

// The commit lane's frame is done (design §5.8): its entries leave the file, its caller gets
// the receipt. Needs core.mutex exclusive; the caller settles the returned Pending after unlocking.
std::pair<std::shared_ptr<PendingState<CommitReceipt>>, CommitReceipt> complete_commit(
    ClientCore& core, const std::string& client_tx_id, const std::vector<OutboxEntry>& completed, int64_t last_sync_id,
    bool flagged) {
  std::vector<int64_t> seqs;
  for (const auto& entry : completed) seqs.push_back(entry.seq);
  (void)core.store->remove_outbox(std::move(seqs), [](Status) {});
  auto waiter = core.commit_waiters.extract(client_tx_id);
  if (waiter.empty()) return {};
  CommitReceipt receipt{client_tx_id, last_sync_id, flagged, std::move(waiter.mapped().second)};
  return {std::move(waiter.mapped().first), std::move(receipt)};
}

void on_mutation_result(ClientCore& core, const json::object& payload) {
  const auto client_tx_id = string_member(payload, "clientTxId");
  if (client_tx_id.empty()) return;
  if (client_tx_id == core.in_flight_frame) {
    core.in_flight_frame.clear();
    core.ack_timer.cancel();
  } else if (client_tx_id == core.in_flight_commit) {
    core.in_flight_commit.clear();
    core.commit_ack_timer.cancel();
  }
  const auto* success = payload.if_contains("success");
  if (success && success->is_bool() && success->get_bool()) {
    std::pair<std::shared_ptr<PendingState<CommitReceipt>>, CommitReceipt> commit_done;
    ClientCore::Deliveries deliveries;
    std::vector<std::pair<std::shared_ptr<PendingState<Receipt>>, Receipt>> settled;
    {
      std::unique_lock lock(core.mutex);
      const int64_t last_sync_id = wire::int_of(payload, "lastSyncId").value_or(0);
      const auto outcome = core.outbox.on_success(client_tx_id, last_sync_id);
      const auto* flagged_member = payload.if_contains("flagged");
      const bool flagged = flagged_member && flagged_member->is_bool() && flagged_member->get_bool();
      if (flagged) core.flagged_seqs.insert(outcome.acked.begin(), outcome.acked.end());
      confirm_ready(core, deliveries, settled);
      if (!outcome.completed.empty()) commit_done = complete_commit(core, client_tx_id, outcome.completed, last_sync_id, flagged);
    }
    if (commit_done.first) commit_done.first->settle(std::move(commit_done.second));
    finish_settling(core, deliveries, settled);
    schedule_flush(core);
    core.pump();
    return;
  }
  const Error error = wire::error_of(payload.contains("error") ? payload.at("error") : json::value(), "the commit was refused");
  const auto elapsed = std::chrono::duration_cast<milliseconds>(std::chrono::steady_clock::now() - core.frame_sent_at);
  FailureDecision decision;
  {
    std::unique_lock lock(core.mutex);
    decision = core.outbox.on_failure(client_tx_id, error, elapsed);
  }
  switch (decision.kind) {
    case FailureDecision::Kind::kRetry: core.schedule_pump(decision.delay); break;
    case FailureDecision::Kind::kFinal:
      roll_back(core, decision.rolled_back, decision.error);
      roll_back(core, decision.cascaded, decision.cascade_error);
      if (!decision.requeued.empty()) {
        // Their old frame id is forgotten on disk too ("" reads back as never sent), before the
        // next frame can carry them.
        (void)core.store->mark_sent(decision.requeued, "", [&core](Status) {
          boost::asio::post(core.io, [&core] { core.pump(); });
        });
        break;
      }
      core.pump();
      break;
    case FailureDecision::Kind::kUnknownFrame: break;
  }
}

using FrameHandler = void (*)(ClientCore&, const json::object& payload);
struct FrameRoute {
  std::string_view type;
  FrameHandler handler;
};
template <const char* kType>
void on_claim(ClientCore& core, const json::object& payload) {
  on_claim_frame(core, kType, payload);
}
constexpr char kIntentAcquired[] = "intent_acquired";
constexpr char kIntentGranted[] = "intent_granted";
constexpr char kIntentQueued[] = "intent_queued";
constexpr char kIntentLost[] = "intent_lost";
constexpr char kIntentRejected[] = "intent_rejected";
constexpr FrameRoute kFrameRoutes[] = {
    {"sync_response", on_sync_response},
    {"delta", on_delta},
    {"mutation_result", on_mutation_result},
    {kIntentAcquired, on_claim<kIntentAcquired>},
    {kIntentGranted, on_claim<kIntentGranted>},
    {kIntentQueued, on_claim<kIntentQueued>},
    {kIntentLost, on_claim<kIntentLost>},
    {kIntentRejected, on_claim<kIntentRejected>},
    {"presence_update", on_presence_frame},
    {"intent_queue", on_claim_queue_frame},
};

}  // namespace inbound

void ClientCore::on_frame(std::string&& text) {
  last_frame_at = std::chrono::steady_clock::now();
  auto frame = wire::parse_object(text);
  if (!frame) return;
  const auto type = string_member(*frame, "type");
  const auto* payload = frame->if_contains("payload");
  for (const auto& route : inbound::kFrameRoutes) {
    if (route.type != type) continue;
    static const json::object kEmpty;
    route.handler(*this, payload && payload->is_object() ? payload->get_object() : kEmpty);
    return;
  }
  // pong: not used by this build
}

// ------------------------------------------------------------------------------------------
// Outbound frames (design §5.3): one model-lane frame in flight, the same bytes on every re-send.

void ClientCore::schedule_pump(milliseconds delay) {
  if (delay.count() <= 0) {
    pump_armed = false;
    pump_timer.cancel();
    pump();
    return;
  }
  if (pump_armed) return;
  pump_armed = true;
  pump_timer.expires_after(delay);
  pump_timer.async_wait([this](const boost::system::error_code& ec) {
    if (ec) return;
    pump_armed = false;
    pump();
  });
}

void ClientCore::pump() {
  if (disposed() || !caught_up || !ws || !ws->is_open()) return;
  pump_lane(Lane::kModel);
  pump_lane(Lane::kCommit);  // independent of the model lane (design §5.8)
}

namespace outbound {
// What a frame left unanswered within commit_ack_timeout becomes: commit_no_result, retried.
void on_answer_timeout(ClientCore& core, Lane lane, const std::string& client_tx_id) {
  std::string& in_flight = lane == Lane::kModel ? core.in_flight_frame : core.in_flight_commit;
  in_flight.clear();
  FailureDecision decision;
  {
    std::unique_lock lock(core.mutex);
    decision = core.outbox.on_failure(client_tx_id, sdk_error("commit_no_result", "no answer to the commit"),
                                      core.options.timing.commit_ack_timeout);
  }
  if (decision.kind == FailureDecision::Kind::kRetry) core.schedule_pump(decision.delay);
  if (decision.kind == FailureDecision::Kind::kFinal) {
    inbound::roll_back(core, decision.rolled_back, decision.error);
    inbound::roll_back(core, decision.cascaded, decision.cascade_error);
  }
}
}  // namespace outbound

void ClientCore::pump_lane(Lane lane) {
  std::string& in_flight = lane == Lane::kModel ? in_flight_frame : in_flight_commit;
  if (!in_flight.empty()) return;
  std::optional<Frame> frame;
  {
    std::unique_lock lock(mutex);
    frame = outbox.next_frame(lane);
    if (!frame) return;
    outbox.mark_sent(*frame);
  }
  in_flight = frame->client_tx_id;
  const int64_t epoch = connection_epoch;
  auto send_now = [this, lane, epoch, wire_text = frame->wire, client_tx_id = frame->client_tx_id]() {
    std::string& slot = lane == Lane::kModel ? in_flight_frame : in_flight_commit;
    if (epoch != connection_epoch || slot != client_tx_id) return;
    if (lane == Lane::kModel) frame_sent_at = std::chrono::steady_clock::now();
    connect_steps::send(*this, wire_text);
    auto& timer = lane == Lane::kModel ? ack_timer : commit_ack_timer;
    timer.expires_after(options.timing.commit_ack_timeout);
    timer.async_wait([this, lane, epoch, client_tx_id](const boost::system::error_code& ec) {
      const std::string& current = lane == Lane::kModel ? in_flight_frame : in_flight_commit;
      if (ec || epoch != connection_epoch || current != client_tx_id) return;
      outbound::on_answer_timeout(*this, lane, client_tx_id);
    });
  };
  if (!frame->first_send) {
    send_now();
    return;
  }
  // The frame's id is on disk before the frame leaves: after a crash the same id is re-sent.
  (void)store->mark_sent(frame->seqs, frame->client_tx_id, [this, send_now](Status ok) {
    if (!ok) spdlog::warn("ablo client: frame id not stored: {}", ok.error().message);
    boost::asio::post(io, send_now);
  });
}

}  // namespace ablo::sdk_detail
