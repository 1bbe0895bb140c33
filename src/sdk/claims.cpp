// Claims as RAII (design §9, client.md §2.3): a fair FIFO hold on one row, taken with
// intent_begin, granted by intent_acquired/intent_granted, renewed by the server while the socket
// is open, re-announced with the same intent id after a reconnect, released by the Claim's
// destructor (intent_abandon), and reported through on_lost when the server takes it away.
#include <algorithm>

#include <boost/asio/post.hpp>
#include <boost/json.hpp>
#include <spdlog/spdlog.h>

#include "common/random.h"
#include "common/json_member.h"
#include "sdk/core.h"
#include "sdk/sdk_error_code.h"

namespace ablo {

namespace json = boost::json;
using sdk_detail::ClientCore;
using sdk_detail::sdk_error;

struct Claim::State {
  std::weak_ptr<ClientCore> core;
  std::string intent_id, model, id;
  Row row;              // the row at the grant
  int64_t read_at = 0;  // the replica cursor at the grant
  std::mutex mutex;     // guards the members below
  bool held = false;
  bool ended = false;   // released or lost: nothing more to send
  std::optional<Error> lost;
  std::vector<std::pair<std::function<void(const Error&)>, std::shared_ptr<Executor>>> on_lost;
};

namespace claims_impl {

std::string frame(std::string_view type, json::object payload) {
  return json::serialize(json::object{{"type", type}, {"payload", std::move(payload)}});
}

void send(ClientCore& core, std::string text) {
  if (core.ws && core.ws->is_open()) (void)core.ws->send(std::move(text));
}

std::string abandon_frame(const Claim::State& state) {
  return frame("intent_abandon", {{"intentId", state.intent_id}, {"entityType", state.model}, {"entityId", state.id}});
}

// Ends a claim on the I/O thread: the record goes, the server is told (unless it ended it).
void end_claim(ClientCore& core, const std::string& intent_id, bool tell_server) {
  auto found = core.claims.find(intent_id);
  if (found == core.claims.end()) return;
  if (tell_server) send(core, abandon_frame(*found->second.state));
  if (found->second.timeout) found->second.timeout->cancel();
  if (found->second.lapse) found->second.lapse->cancel();
  core.claims.erase(found);
}

void mark_lost(Claim::State& state, const Error& error) {
  std::vector<std::pair<std::function<void(const Error&)>, std::shared_ptr<Executor>>> callbacks;
  {
    std::lock_guard lock(state.mutex);
    if (state.ended) return;
    state.ended = true;
    state.held = false;
    state.lost = error;
    callbacks = std::move(state.on_lost);
  }
  for (auto& entry : callbacks) entry.second->post([callback = entry.first, error] { callback(error); });
}

void granted(ClientCore& core, sdk_detail::ClaimRecord& record) {
  if (!record.waiter) return;  // a re-announced claim we already hold
  auto& state = *record.state;
  {
    // The server grants once this client has acked the previous holder's deltas: the replica
    // holds that holder's last write (README "Hand-over").
    std::shared_lock lock(core.mutex);
    auto row = core.replica.view(state.model, state.id);
    if (row) state.row = std::move(*row);
    state.read_at = core.applied_cursor;
  }
  {
    std::lock_guard lock(state.mutex);
    state.held = true;
  }
  if (record.timeout) record.timeout->cancel();
  auto waiter = std::move(record.waiter);
  waiter->settle(Claim(record.state));
}

void refused(ClientCore& core, const std::string& intent_id, Error error, bool tell_server) {
  auto found = core.claims.find(intent_id);
  if (found == core.claims.end()) return;
  auto waiter = std::move(found->second.waiter);
  auto state = found->second.state;
  end_claim(core, intent_id, tell_server);
  if (waiter) {
    {
      std::lock_guard lock(state->mutex);
      state->ended = true;
    }
    waiter->settle(tl::unexpected(std::move(error)));
  } else {
    mark_lost(*state, error);
  }
}

}  // namespace claims_impl

namespace sdk_detail {

void on_claim_frame(ClientCore& core, std::string_view type, const json::object& payload) {
  const std::string intent_id = string_member(payload, "intentId");
  auto found = core.claims.find(intent_id);
  if (found == core.claims.end()) return;  // another client's, or one we already ended
  if (type == "intent_acquired" || type == "intent_granted") {
    claims_impl::granted(core, found->second);
  } else if (type == "intent_queued") {
    const auto* position = payload.if_contains("position");
    const auto& depth = found->second.max_queue_depth;
    if (depth && position && position->is_int64() && position->get_int64() >= *depth) {
      claims_impl::refused(core, intent_id,
                           sdk_error("queue_too_deep", std::to_string(position->get_int64()) + " waiters ahead"), true);
    }
  } else if (type == "intent_lost") {
    const std::string reason = string_member(payload, "reason");
    claims_impl::refused(core, intent_id, sdk_error("claim_lost", "the claim was lost (" + reason + ")"), false);
  } else if (type == "intent_rejected") {
    claims_impl::refused(core, intent_id, sdk_error("entity_claimed", "the row is held by another participant"), false);
  }
}

void reannounce_claims(ClientCore& core) {
  for (auto& [intent_id, record] : core.claims) {
    if (record.lapse) record.lapse->cancel();  // back in time: the same intent id keeps the lease
    record.lapse.reset();
    claims_impl::send(core, record.begin_frame);
  }
}

// Design §9 "Held": the server stops renewing when the socket goes and lets the lease run out;
// the lease ends at most `lease` after the last renewal, so past that this client no longer holds
// it (the server has granted it to the next waiter) and says so locally. Measured on this
// machine's steady clock from the close, so no clock offset enters. A waiting claim keeps
// waiting (its place is re-requested on reconnect).
void start_claim_lapse(ClientCore& core) {
  for (auto& [intent_id, record] : core.claims) {
    if (record.waiter || record.lapse) continue;
    record.lapse = std::make_shared<boost::asio::steady_timer>(core.io, record.lease);
    const std::string lapsing = intent_id;  // a named copy: clang-14 refuses to capture a structured binding
    record.lapse->async_wait([&core, lapsing](const boost::system::error_code& ec) {
      if (ec || (core.ws && core.ws->is_open())) return;
      claims_impl::refused(core, lapsing, sdk_error("claim_lost", "the lease lapsed while disconnected"), false);
    });
  }
}

void abandon_all_claims(ClientCore& core) {
  auto claims = std::exchange(core.claims, {});
  for (auto& [intent_id, record] : claims) {
    claims_impl::send(core, claims_impl::abandon_frame(*record.state));
    if (record.timeout) record.timeout->cancel();
    if (record.lapse) record.lapse->cancel();
    if (record.waiter) record.waiter->settle(tl::unexpected(sdk_error("model_disposed", "the client was closed")));
    std::lock_guard lock(record.state->mutex);
    record.state->held = false;
    record.state->ended = true;
  }
}

}  // namespace sdk_detail

// --- ModelHandle::claim ---

Pending<Claim> ModelHandle::claim(std::string id, ClaimOptions options) const {
  auto failed = [&](Error error) {
    return sdk_detail::settled_pending<Claim>(tl::unexpected(std::move(error)), core_->executor);
  };
  if (core_->disposed()) return failed(sdk_error("model_disposed", "the client was closed"));
  const auto* model = core_->schema->resolve(key_);
  if (!model) return failed(sdk_error("model_not_found", "no model " + key_, key_));
  {
    std::shared_lock lock(core_->mutex);
    if (!core_->replica.view(model->key, id)) return failed(sdk_error("entity_not_found", model->key + " " + id + " is not in the replica", "id"));
  }
  if (!options.wait && core_->status_snapshot().state != ConnectionState::kConnected) {
    return failed(sdk_error("ws_not_ready", "a claim that does not wait needs a connection"));
  }
  auto state = std::make_shared<Claim::State>();
  state->core = core_;
  state->intent_id = random_uuid();
  state->model = model->key;
  state->id = std::move(id);
  json::object begin{{"intentId", state->intent_id},
                     {"entityType", state->model},
                     {"entityId", state->id},
                     {"action", options.action},
                     {"meta", json::object{{"description", options.description}}},
                     {"estimatedMs", options.ttl.count()},
                     {"queue", options.wait}};
  if (options.field) begin["field"] = *options.field;
  auto pending = sdk_detail::make_pending_state<Claim>(core_->io_thread_id, core_->executor);
  sdk_detail::ClaimRecord record{state, pending, claims_impl::frame("intent_begin", std::move(begin)), options.max_queue_depth, nullptr,
                                 std::clamp<std::chrono::milliseconds>(options.ttl, std::chrono::seconds(1), std::chrono::minutes(10)),
                                 nullptr};
  boost::asio::post(core_->io, [core = core_, record = std::move(record), timeout = options.timeout]() mutable {
    const std::string intent_id = record.state->intent_id;
    if (timeout) {
      record.timeout = std::make_shared<boost::asio::steady_timer>(core->io, *timeout);
      record.timeout->async_wait([core, intent_id](const boost::system::error_code& ec) {
        if (!ec) claims_impl::refused(*core, intent_id, sdk_error("grant_timeout", "no grant in time; the place in line is given up"), true);
      });
    }
    claims_impl::send(*core, record.begin_frame);  // offline: sent when the socket opens
    core->claims.emplace(intent_id, std::move(record));
  });
  return Pending<Claim>(pending);
}

// --- Claim ---

Claim::Claim(Claim&&) noexcept = default;

Claim& Claim::operator=(Claim&& other) noexcept {
  if (this != &other) {
    (void)release();
    state_ = std::move(other.state_);
  }
  return *this;
}

Claim::~Claim() { (void)release(); }

const std::string& Claim::intent_id() const { return state_->intent_id; }
const std::string& Claim::model() const { return state_->model; }
const std::string& Claim::id() const { return state_->id; }
const Row& Claim::row() const { return state_->row; }
int64_t Claim::read_at() const { return state_->read_at; }

bool Claim::held() const {
  if (!state_) return false;
  std::lock_guard lock(state_->mutex);
  return state_->held;
}

Pending<Receipt> Claim::update(JsonObject patch, WriteOptions options) {
  auto core = state_ ? state_->core.lock() : nullptr;
  if (!core || !held()) {
    return sdk_detail::settled_pending<Receipt>(tl::unexpected(sdk_error("claim_lost", "the claim is not held")), inline_executor());
  }
  options.read_at = state_->read_at;  // what the holder saw at the grant (design §9)
  options.on_stale = OnStale::kReject;
  return core->write(Action::kUpdate, state_->model, state_->id, std::move(patch), std::move(options));
}

Pending<Receipt> Claim::remove(WriteOptions options) {
  auto core = state_ ? state_->core.lock() : nullptr;
  if (!core || !held()) {
    return sdk_detail::settled_pending<Receipt>(tl::unexpected(sdk_error("claim_lost", "the claim is not held")), inline_executor());
  }
  options.read_at = state_->read_at;
  options.on_stale = OnStale::kReject;
  return core->write(Action::kDelete, state_->model, state_->id, {}, std::move(options));
}

void Claim::on_lost(std::function<void(const Error&)> callback, std::shared_ptr<Executor> executor) {
  if (!state_) return;
  auto core = state_->core.lock();
  if (!executor) executor = core ? core->executor : inline_executor();
  std::unique_lock lock(state_->mutex);
  if (state_->lost) {
    const Error error = *state_->lost;
    lock.unlock();
    executor->post([callback = std::move(callback), error] { callback(error); });
    return;
  }
  state_->on_lost.emplace_back(std::move(callback), std::move(executor));
}

Pending<Unit> Claim::release() {
  if (!state_) return sdk_detail::settled_pending<Unit>(Unit{}, inline_executor());
  auto state = state_;  // the handle keeps its identity (intent_id(), row()) after the release
  {
    std::lock_guard lock(state->mutex);
    state->held = false;
    if (state->ended) return sdk_detail::settled_pending<Unit>(Unit{}, inline_executor());
    state->ended = true;
  }
  if (auto core = state->core.lock(); core && !core->disposed()) {
    boost::asio::post(core->io, [core, intent_id = state->intent_id] { claims_impl::end_claim(*core, intent_id, true); });
  }
  return sdk_detail::settled_pending<Unit>(Unit{}, inline_executor());
}

}  // namespace ablo
