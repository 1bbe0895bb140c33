// Resources (ablo://schema, ablo://<model>/<id>) and change watching: wait_for_change and
// resources/subscribe. A session that watches reads the delta log after its cursor with its
// own credential (GET /v1/logs: only rows it may read), woken when the hub publishes
// (Service::log_advanced, coalesced; at most one read in flight per session) and by the
// 1 s safety tick.
#include <algorithm>

#include <boost/asio/post.hpp>
#include <boost/json/serialize.hpp>
#include <fmt/format.h>

#include "common/time.h"
#include "mcp/service_impl.h"

namespace ablo::mcp {
namespace json = boost::json;

namespace {

constexpr std::string_view kScheme = "ablo://";
constexpr std::string_view kSchemaUri = "ablo://schema";
constexpr int64_t kDefaultWaitSeconds = 30;
constexpr int kLogPage = 100;

// "ablo://task/t1" -> {"task", "t1"}; nullopt for anything else.
std::optional<std::pair<std::string, std::string>> row_of(std::string_view uri) {
  if (uri.substr(0, kScheme.size()) != kScheme) return std::nullopt;
  const auto rest = uri.substr(kScheme.size());
  const auto slash = rest.find('/');
  if (slash == std::string_view::npos || slash == 0 || slash + 1 == rest.size()) return std::nullopt;
  if (rest.find('/', slash + 1) != std::string_view::npos) return std::nullopt;
  return std::pair{std::string(rest.substr(0, slash)), std::string(rest.substr(slash + 1))};
}

std::string row_uri(const std::string& model, const std::string& id) {
  return std::string(kScheme) + model + "/" + id;
}

// A log event as a wait reports it.
json::object change_of(const json::object& event) {
  json::object out;
  for (const char* key : {"id", "model", "op", "recordId", "actor", "at"}) {
    if (const auto* value = event.if_contains(key)) out.emplace(key, *value);
  }
  const auto* delta = event.if_contains("delta");
  const auto* data = delta && delta->is_object() ? delta->as_object().if_contains("data") : nullptr;
  out.emplace("data", data ? *data : json::value(nullptr));
  return out;
}

bool where_holds(const json::object& where, const json::object& event) {
  if (where.empty()) return true;
  const auto* delta = event.if_contains("delta");
  const auto* data = delta && delta->is_object() ? delta->as_object().if_contains("data") : nullptr;
  if (!data || !data->is_object()) return false;
  for (const auto& [field, expected] : where) {
    const auto* actual = data->as_object().if_contains(field);
    if (!actual || *actual != expected) return false;
  }
  return true;
}

}  // namespace

// ---------------------------------------------------------------- resources

void Service::Impl::list_resources(const CallPtr& call, const json::object&) {
  answer(call, json::object{{"resources", json::array{json::object{
                                              {"uri", kSchemaUri},
                                              {"name", "schema"},
                                              {"title", "Schema"},
                                              {"description", "The active schema: models, fields, types, relations"},
                                              {"mimeType", "application/json"}}}}});
}

void Service::Impl::list_resource_templates(const CallPtr& call, const json::object&) {
  answer(call, json::object{{"resourceTemplates",
                             json::array{json::object{
                                 {"uriTemplate", "ablo://{model}/{id}"},
                                 {"name", "row"},
                                 {"title", "A row"},
                                 {"description", "One row of a model as JSON; subscribe to hear when it changes"},
                                 {"mimeType", "application/json"}}}}});
}

void Service::Impl::read_resource(const CallPtr& call, const json::object& params) {
  const auto uri = string_member(params, "uri");
  auto contents = [uri](const json::value& value) {
    return json::object{{"contents", json::array{json::object{
                                         {"uri", uri}, {"mimeType", "application/json"}, {"text", json::serialize(value)}}}}};
  };
  if (uri == kSchemaUri) {
    return rest(call->session, "GET", "/v1/schema", nullptr, [this, call, contents](Reply reply) {
      if (!reply.ok()) return fail_call(call, kInternalError, "could not read the schema");
      answer(call, contents(reply.body));
    });
  }
  const auto row = row_of(uri);
  if (!row) return fail_call(call, kInvalidParams, "unknown resource uri " + uri + " (ablo://schema or ablo://<model>/<id>)");
  rest(call->session, "GET", row_path(row->first, row->second), nullptr,
       [this, call, uri, row = *row, contents](Reply reply) {
         const auto* data = reply.body.if_contains("data");
         if (!reply.ok() || !data || data->is_null()) {
           return fail_call(call, kResourceNotFound, "Resource not found", json::object{{"uri", uri}});
         }
         if (auto stamp = int_of(reply.body, "stamp")) call->session->stamps.record(row_key(row.first, row.second), *stamp);
         answer(call, contents(*data));
       });
}

void Service::Impl::subscribe_resource(const CallPtr& call, const json::object& params) {
  const auto uri = string_member(params, "uri");
  auto& session = *call->session;
  const auto row = row_of(uri);
  if (uri != kSchemaUri && !row) {
    return fail_call(call, kInvalidParams, "unknown resource uri " + uri + " (ablo://schema or ablo://<model>/<id>)");
  }
  if (!session.subscriptions.contains(uri) && session.subscriptions.size() >= options.max_subscriptions_per_session) {
    return fail_call(call, kServerBusy,
                     fmt::format("this session has {} subscriptions: unsubscribe some", session.subscriptions.size()));
  }
  if (!row) {  // the schema: told through tools/list_changed and resources/updated at the tick
    session.subscriptions.insert(uri);
    return answer(call, json::object{});
  }
  // Read first: a model the session may not read is refused here, and the row's stamp is
  // where watching starts.
  rest(call->session, "GET", row_path(row->first, row->second), nullptr, [this, call, uri](Reply reply) {
    if (!reply.ok()) return fail_call(call, kInvalidParams, string_member(reply.body, "code") + ": " + string_member(reply.body, "message"));
    call->session->subscriptions.insert(uri);
    start_watching(call->session, int_of(reply.body, "stamp").value_or(0));
    answer(call, json::object{});
  });
}

void Service::Impl::unsubscribe_resource(const CallPtr& call, const json::object& params) {
  call->session->subscriptions.erase(string_member(params, "uri"));
  stop_watching_if_idle(call->session);
  answer(call, json::object{});
}

// ---------------------------------------------------------------- wait_for_change

void Service::Impl::wait_for_change(const CallPtr& call, const json::object& args) {
  auto wait = std::make_shared<ChangeWait>();
  wait->call = call;
  wait->model = string_member(args, "model");
  wait->id = string_member(args, "id");
  if (const auto* where = args.if_contains("where"); where && where->is_object()) wait->where = where->as_object();
  const int64_t timeout_ms =
      std::min(int_of(args, "timeoutSeconds").value_or(kDefaultWaitSeconds), options.max_wait_seconds) * 1000;
  if (auto after = int_of(args, "after")) {
    wait->after = *after;
    return register_wait(call, wait, timeout_ms);
  }
  if (!wait->id.empty()) {
    if (auto seen = call->session->stamps.find(row_key(wait->model, wait->id))) {
      wait->after = *seen;
      return register_wait(call, wait, timeout_ms);
    }
  }
  // From now: the stamp of a read is the log head it was taken at.
  const auto target = wait->id.empty() ? model_path(wait->model) + "?limit=1" : row_path(wait->model, wait->id);
  rest(call->session, "GET", target, nullptr, [this, call, wait, timeout_ms](Reply reply) {
    if (!reply.ok()) return tool_error(call, reply);
    wait->after = int_of(reply.body, "stamp").value_or(0);
    register_wait(call, wait, timeout_ms);
  });
}

void Service::Impl::register_wait(const CallPtr& call, std::shared_ptr<ChangeWait> wait, int64_t timeout_ms) {
  if (call->finished) return;
  auto session = call->session;
  stream_answer(call);  // a client that goes away while waiting ends the wait
  std::weak_ptr<ChangeWait> weak = wait;
  call->on_cancel = [session, weak] {
    std::erase_if(session->waits, [&](const auto& w) { return w == weak.lock(); });
  };
  wait->deadline = std::make_unique<boost::asio::steady_timer>(io, std::chrono::milliseconds(timeout_ms));
  wait->deadline->async_wait([this, session, weak](boost::system::error_code ec) {
    auto w = weak.lock();
    if (ec || !w) return;
    finish_wait(session, w, {});
  });
  session->waits.push_back(wait);
  start_watching(session, wait->after);
  poll(session);  // the change may be in the log already
}

void Service::Impl::finish_wait(const SessionPtr& session, const std::shared_ptr<ChangeWait>& wait,
                                json::array changes) {
  std::erase(session->waits, wait);
  if (wait->deadline) wait->deadline->cancel();
  wait->call->on_cancel = nullptr;
  int64_t stamp = std::max(wait->after, session->watch_cursor);
  if (!changes.empty()) {
    stamp = changes.back().as_object().at("id").to_number<int64_t>();
    // The agent has now seen these versions: its next write is stale-checked from here.
    for (const auto& change : changes) {
      const auto& c = change.as_object();
      session->stamps.record(row_key(string_member(c, "model"), string_member(c, "recordId")), c.at("id").to_number<int64_t>());
    }
  }
  const bool changed = !changes.empty();
  tool_result(wait->call, json::object{{"changed", changed}, {"changes", std::move(changes)}, {"stamp", stamp}});
  stop_watching_if_idle(session);
}

// ---------------------------------------------------------------- the log reader

void Service::Impl::start_watching(const SessionPtr& session, int64_t from) {
  session->watch_cursor = session->watch_cursor < 0 ? from : std::min(session->watch_cursor, from);
}

void Service::Impl::stop_watching_if_idle(const SessionPtr& session) {
  if (session->waits.empty() && session->subscriptions.empty()) session->watch_cursor = -1;
}

void Service::Impl::poll(const SessionPtr& session) {
  if (session->ended || session->watch_cursor < 0) return;
  if (session->polling) {
    session->poll_again = true;
    return;
  }
  session->polling = true;
  session->poll_again = false;
  const auto target = fmt::format("/v1/logs?after={}&limit={}", session->watch_cursor, kLogPage);
  rest(session, "GET", target, nullptr, [this, session](Reply reply) {
    session->polling = false;
    if (session->ended || session->watch_cursor < 0 || !reply.ok()) return;
    const auto* data = reply.body.if_contains("data");
    if (data && data->is_array()) on_events(session, data->as_array());
    // The cursor moves past what the page covered, unreadable rows included.
    const auto next = string_member(reply.body, "next_cursor");
    if (!next.empty()) {
      if (auto position = std::stoll(next.substr(0, next.find('.'))); position > session->watch_cursor) {
        session->watch_cursor = position;
      }
    }
    const auto* more = reply.body.if_contains("has_more");
    if ((more && more->is_bool() && more->as_bool()) || session->poll_again) poll(session);
  });
}

void Service::Impl::on_events(const SessionPtr& session, const json::array& events) {
  std::set<std::string> updated;
  std::map<std::shared_ptr<ChangeWait>, json::array> matched;
  for (const auto& entry : events) {
    if (!entry.is_object()) continue;
    const auto& event = entry.as_object();
    const auto id = int_of(event, "id").value_or(0);
    const auto model = string_member(event, "model");
    const auto record = string_member(event, "recordId");
    if (id > session->watch_cursor) session->watch_cursor = id;
    const auto uri = row_uri(model, record);
    if (session->subscriptions.contains(uri)) updated.insert(uri);
    for (const auto& wait : session->waits) {
      if (id <= wait->after || wait->model != model) continue;
      if (!wait->id.empty() && wait->id != record) continue;
      if (!where_holds(wait->where, event)) continue;
      matched[wait].push_back(change_of(event));
    }
  }
  for (const auto& uri : updated) notify(session, "notifications/resources/updated", json::object{{"uri", uri}});
  for (auto& [wait, changes] : matched) finish_wait(session, wait, std::move(changes));
}

}  // namespace ablo::mcp
