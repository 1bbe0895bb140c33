// Network reads for rows the replica lacks (design §4 "lazy/manual models", client.h
// ModelHandle::fetch): POST /api/sync/query (protocol.md §2.6), the rows found become confirmed
// rows of the replica (observers fire kRemote, the store keeps them) and are returned as the
// replica then shows them (this client's pending writes on top).
#include <boost/asio/post.hpp>
#include <boost/json.hpp>
#include <spdlog/spdlog.h>

#include "common/json_member.h"
#include "sdk/core.h"
#include "sdk/sdk_error_code.h"

namespace ablo {

namespace json = boost::json;
using sdk_detail::ClientCore;
using sdk_detail::sdk_error;

namespace fetch_impl {

// The wire operator of each Op (protocol.md §2.6); null tests compare with JSON null.
std::string_view wire_op(Op op) {
  static constexpr std::pair<Op, std::string_view> kOps[] = {
      {Op::kEq, "="},         {Op::kNe, "!="},         {Op::kLt, "<"},         {Op::kLe, "<="},
      {Op::kGt, ">"},         {Op::kGe, ">="},         {Op::kIn, "IN"},        {Op::kNotIn, "NOT IN"},
      {Op::kIsNull, "IS"},    {Op::kIsNotNull, "IS NOT"}, {Op::kLike, "LIKE"}, {Op::kNotLike, "NOT LIKE"},
      {Op::kILike, "ILIKE"},  {Op::kNotILike, "NOT ILIKE"}};
  for (const auto& [known, text] : kOps) {
    if (known == op) return text;
  }
  return "=";
}

// One query of the batch. The server orders by one column and has no offset: the first order
// key goes out, the limit covers the offset, and the offset is applied to the answer here.
json::object wire_query(const schema::Model& model, const sdk_detail::QuerySpec& spec) {
  json::array where;
  for (const auto& clause : spec.where) {
    const bool null_test = clause.op == Op::kIsNull || clause.op == Op::kIsNotNull;
    where.push_back(json::array{json::string(clause.field), json::string(wire_op(clause.op)), null_test ? Json() : clause.value});
  }
  json::object query{{"model", model.typename_}, {"where", std::move(where)}};
  if (!spec.order.empty()) {
    query["orderBy"] = spec.order.front().field;
    query["order"] = spec.order.front().direction == Direction::kDesc ? "desc" : "asc";
  }
  if (spec.limit) query["limit"] = static_cast<int64_t>(*spec.limit + spec.offset);
  return query;
}

// The answer's rows become bases (version = the answer's watermark) unless the replica already
// holds a confirmed row at least that new; returns the ids in answer order. (io)
std::vector<std::string> take_rows(ClientCore& core, const schema::Model& model, const json::array& rows, int64_t stamp) {
  std::vector<std::string> ids;
  ClientCore::Deliveries deliveries;
  {
    std::unique_lock lock(core.mutex);
    for (const auto& value : rows) {
      if (!value.is_object()) continue;
      const auto id = string_member(value.get_object(), "id");
      if (id.empty()) continue;
      ids.push_back(id);
      const auto known = core.replica.confirmed(model.key, id);
      if (known && known->version >= stamp) continue;
      JsonObject data = value.get_object();
      data.erase("__typename");
      const auto* archived_at = data.if_contains("archivedAt");
      const bool archived = archived_at && !archived_at->is_null();
      auto change = core.replica.load_base(model.key, id, std::move(data), stamp, archived);
      if (!change) continue;
      if (auto confirmed = core.replica.confirmed(model.key, id)) {
        core.persist_batch.upserts.push_back(sdk_detail::to_stored_row(*confirmed));
      }
      if (*change) core.route_changes({**change}, ChangeCause::kRemote, deliveries);
    }
  }
  ClientCore::deliver_all(deliveries);
  sdk_detail::inbound::schedule_flush(core);
  return ids;
}

// Settles a fetch's Pending with model_disposed if the client closes before the answer (the
// I/O thread's pending handlers are destroyed unrun); a settled Pending ignores it.
template <class T>
struct SettleOnDrop {
  std::shared_ptr<sdk_detail::PendingState<T>> state;
  ~SettleOnDrop() {
    if (state) state->settle(sdk_detail::sdk_fail("model_disposed", "the client was closed"));
  }
};

using Done = std::function<void(ClientCore&, Result<std::vector<std::string>>)>;

// Sends one query and calls `done` on the I/O thread with the ids found (or the error). The
// handlers hold the core weakly: a pending read must not keep a closed client alive.
void run(const std::shared_ptr<ClientCore>& owner, const schema::Model& model, json::object query, Done done) {
  std::weak_ptr<ClientCore> weak = owner;
  auto schema = owner->schema;  // keeps `model` alive
  boost::asio::post(owner->io, [weak, schema, &model, query = std::move(query), done = std::move(done)]() mutable {
    auto core = weak.lock();
    if (!core || core->disposed()) return;
    if (core->token.empty()) return done(*core, sdk_detail::sdk_fail("ws_not_ready", "no credential yet: wait for ready()"));
    client::HttpRequest request{.method = "POST",
                                .target = "/api/sync/query",
                                .body = json::serialize(json::object{{"queries", json::array{std::move(query)}}}),
                                .headers = {{"Authorization", "Bearer " + core->token}, {"Content-Type", "application/json"}},
                                .timeout = std::chrono::milliseconds(10000)};
    (void)client::async_http(core->io.get_executor(), core->target, std::move(request),
                             [weak, schema, &model, done = std::move(done)](Result<client::HttpResponse> response) {
      auto core = weak.lock();
      if (!core || core->disposed()) return;
      if (!response) return done(*core, tl::unexpected(response.error()));
      auto body = sdk_detail::wire::parse_object(response->body);
      if (response->status != 200 || !body) {
        Error error = sdk_detail::wire::error_of(body ? json::value(*body) : json::value(), "the query was refused");
        error.details["httpStatus"] = response->status;
        return done(*core, tl::unexpected(std::move(error)));
      }
      const auto* results = body->if_contains("results");
      const auto stamp = sdk_detail::wire::int_of(*body, "lastSyncId").value_or(0);
      static const json::array kNone;
      const json::array* rows = &kNone;
      if (results && results->is_array() && !results->get_array().empty() && results->get_array()[0].is_array()) {
        rows = &results->get_array()[0].get_array();
      }
      done(*core, take_rows(*core, model, *rows, stamp));
    });
  });
}

template <class T>
Pending<T> failed(const std::shared_ptr<ClientCore>& core, Error error) {
  return sdk_detail::settled_pending<T>(tl::unexpected(std::move(error)), core->executor);
}

}  // namespace fetch_impl

Pending<std::optional<Row>> ModelHandle::fetch(std::string id) const {
  using Found = std::optional<Row>;
  if (core_->disposed()) return fetch_impl::failed<Found>(core_, sdk_error("model_disposed", "the client was closed"));
  const auto* model = core_->schema->resolve(key_);
  if (!model) return fetch_impl::failed<Found>(core_, sdk_error("model_not_found", "no model " + key_, key_));
  auto state = sdk_detail::make_pending_state<Found>(core_->io_thread_id, core_->executor);
  // One clause, added by emplace_back: json::array{json::array{…}} nests under g++ but is a copy of
  // the inner array under clang (CWG 1467 without CWG 2137).
  json::array where;
  where.emplace_back(json::array{"id", "=", json::string(id)});
  json::object query{{"model", model->typename_}, {"where", std::move(where)}, {"limit", 1}};
  auto guard = std::make_shared<fetch_impl::SettleOnDrop<Found>>();
  guard->state = state;
  fetch_impl::run(core_, *model, std::move(query), [key = model->key, id, guard](ClientCore& core, Result<std::vector<std::string>> ids) {
    if (!ids) return guard->state->settle(tl::unexpected(ids.error()));
    Found row;
    if (!ids->empty()) {
      std::shared_lock lock(core.mutex);
      row = core.replica.view(key, id);
    }
    guard->state->settle(std::move(row));
  });
  return Pending<Found>(state);
}

Pending<std::vector<Row>> ModelHandle::fetch(const Query& query) const {
  using Rows = std::vector<Row>;
  if (core_->disposed()) return fetch_impl::failed<Rows>(core_, sdk_error("model_disposed", "the client was closed"));
  const auto* model = core_->schema->resolve(query.model());
  if (!model) return fetch_impl::failed<Rows>(core_, sdk_error("model_not_found", "no model " + query.model(), query.model()));
  const auto& spec = query.spec_->spec;
  if (auto valid = sdk_detail::validate(spec, *model); !valid) return fetch_impl::failed<Rows>(core_, valid.error());
  auto state = sdk_detail::make_pending_state<Rows>(core_->io_thread_id, core_->executor);
  auto guard = std::make_shared<fetch_impl::SettleOnDrop<Rows>>();
  guard->state = state;
  fetch_impl::run(core_, *model, fetch_impl::wire_query(*model, spec),
                  [key = model->key, offset = spec.offset, guard](ClientCore& core, Result<std::vector<std::string>> ids) {
                    if (!ids) return guard->state->settle(tl::unexpected(ids.error()));
                    Rows rows;
                    {
                      std::shared_lock lock(core.mutex);
                      for (std::size_t at = offset; at < ids->size(); ++at) {
                        if (auto row = core.replica.view(key, (*ids)[at])) rows.push_back(std::move(*row));
                      }
                    }
                    guard->state->settle(std::move(rows));
                  });
  return Pending<Rows>(state);
}

}  // namespace ablo
