#pragma once
// Private to the mcp module: the actor behind mcp::Service (mcp.h). Every member is touched
// only on the actor's thread (`io`), except what handle()/log_advanced() post.
#include <algorithm>
#include <cctype>
#include <atomic>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/json/object.hpp>
#include <boost/json/value.hpp>

#include "common/json_member.h"
#include "mcp/mcp.h"
#include "mcp/tool_catalog.h"

namespace ablo::mcp {

inline constexpr const char* kLatestProtocol = "2025-06-18";
inline constexpr const char* kOlderProtocol = "2025-03-26";

// JSON-RPC error codes (the JSON-RPC 2.0 and MCP ones this server answers).
inline constexpr int kParseError = -32700;
inline constexpr int kInvalidRequest = -32600;
inline constexpr int kMethodNotFound = -32601;
inline constexpr int kInvalidParams = -32602;
inline constexpr int kInternalError = -32603;
inline constexpr int kServerBusy = -32000;
inline constexpr int kResourceNotFound = -32002;

inline constexpr std::size_t kMaxUndeliveredNotifications = 64;

// A claim this session holds or waits for, by "model/id".
struct HeldClaim {
  std::string claim_id;
  int64_t fence_token = 0;
  int64_t ttl_ms = 60'000;
  bool queued = false;
};

// The stamp a session last read per row ("model/id"): the default readAt of its writes.
// Bounded: past kMaxRows the least recently recorded tenth is forgotten (a write to such a row
// then needs an explicit readAt to be stale-checked).
class SeenStamps {
 public:
  static constexpr std::size_t kMaxRows = 10'000;
  void record(const std::string& key, int64_t stamp) {
    rows_[key] = {stamp, ++clock_};
    if (rows_.size() > kMaxRows) forget_oldest();
  }
  std::optional<int64_t> find(const std::string& key) const {
    auto it = rows_.find(key);
    return it == rows_.end() ? std::nullopt : std::optional<int64_t>(it->second.stamp);
  }
  void erase(const std::string& key) { rows_.erase(key); }
  std::size_t size() const { return rows_.size(); }

 private:
  struct Seen {
    int64_t stamp;
    uint64_t recorded;
  };
  void forget_oldest() {
    std::vector<uint64_t> order;
    order.reserve(rows_.size());
    for (const auto& [key, seen] : rows_) order.push_back(seen.recorded);
    const auto cut = order.begin() + static_cast<std::ptrdiff_t>(kMaxRows / 10);
    std::nth_element(order.begin(), cut, order.end());
    const uint64_t threshold = *cut;
    std::erase_if(rows_, [&](const auto& entry) { return entry.second.recorded < threshold; });
  }
  std::map<std::string, Seen> rows_;
  uint64_t clock_ = 0;
};

struct Session;

// One JSON-RPC request in progress. Exactly one answer goes out through `deliver`.
struct Call {
  std::shared_ptr<Session> session;
  boost::json::value id;
  std::optional<boost::json::value> progress_token;
  // Where a tool that waits may stream its answer from (null: the client accepts JSON only).
  std::shared_ptr<Responder> responder;
  std::shared_ptr<EventStream> stream;  // set when the answer streams (a tool that waits)
  std::function<void(boost::json::value message)> deliver;
  std::function<void()> on_cancel;  // undoes a wait in progress (leaves a claim line, …)
  int64_t progress = 0;             // last progress value sent (must rise)
  bool finished = false;
  bool cancelled = false;
};
using CallPtr = std::shared_ptr<Call>;

// wait_for_change in progress.
struct ChangeWait {
  CallPtr call;
  std::string model;
  std::string id;  // empty: any row of the model
  boost::json::object where;
  int64_t after = 0;
  std::unique_ptr<boost::asio::steady_timer> deadline;
};

struct Session {
  std::string id;
  std::string bearer;       // the credential presented at initialize (every later request must present it)
  std::string token;        // the session's own capability (its participant)
  std::string capability_id;
  int64_t token_expires_ms = 0;
  std::string participant_id;
  std::string client_name;
  std::string protocol_version = kLatestProtocol;
  std::vector<std::string> operations;  // the session token's authority
  std::shared_ptr<const ToolCatalog> catalog;
  std::string catalog_fingerprint;
  SeenStamps stamps;  // "model/id" -> the stamp this session last read
  std::map<std::string, HeldClaim> claims;
  std::set<std::string> subscriptions;  // resource uris
  std::shared_ptr<EventStream> notifications;  // the GET stream
  // Notifications sent while no GET stream was open (between the client's reconnects, or
  // before its first): delivered when one opens. Bounded: the oldest go first.
  std::deque<std::string> undelivered;
  std::map<std::string, CallPtr> calls;  // in progress, by serialized JSON-RPC id
  std::vector<std::shared_ptr<ChangeWait>> waits;
  int64_t watch_cursor = -1;  // log position read up to (-1: not watching)
  bool polling = false;
  bool poll_again = false;
  int64_t next_renewal_ms = 0;
  int64_t last_active_ms = 0;
  bool refreshing = false;  // a token re-exchange is in flight
  bool ended = false;
};
using SessionPtr = std::shared_ptr<Session>;

// A REST answer, parsed: `body` is the JSON object (empty when not an object).
struct Reply {
  int status = 0;
  boost::json::object body;
  bool ok() const { return status >= 200 && status < 300; }
};

struct Service::Impl {
  Impl(Backend& backend, Options options);

  // ---- transport (service.cpp)
  void handle(HttpExchange exchange, std::shared_ptr<Responder> responder);
  void handle_post(HttpExchange& exchange, const std::shared_ptr<Responder>& responder);
  void handle_get(const HttpExchange& exchange, const std::shared_ptr<Responder>& responder);
  void handle_delete(const HttpExchange& exchange, const std::shared_ptr<Responder>& responder);
  SessionPtr session_for(const HttpExchange& exchange, const std::shared_ptr<Responder>& responder);
  void initialize(const HttpExchange& exchange, const boost::json::object& message,
                  const std::shared_ptr<Responder>& responder);
  void dispatch(const boost::json::object& message, const CallPtr& call);
  void notification(const SessionPtr& session, const boost::json::object& message);
  void end_session(const SessionPtr& session, const char* why);
  void cancel(const CallPtr& call);
  void refresh_token(const SessionPtr& session);
  void ping(const CallPtr& call, const boost::json::object& params);
  void list_tools(const CallPtr& call, const boost::json::object& params);
  void tick();
  void schedule_tick();

  // ---- answers
  void answer(const CallPtr& call, boost::json::value result);
  void fail_call(const CallPtr& call, int code, std::string message, boost::json::value data = nullptr);
  void progress(const CallPtr& call, std::string message);
  // Switches the call to a streamed (SSE) answer when its client accepts one.
  void stream_answer(const CallPtr& call);
  void notify(const SessionPtr& session, std::string method, boost::json::object params);

  // ---- REST
  void rest(const SessionPtr& session, std::string method, std::string target, boost::json::value body,
            std::function<void(Reply)> then, bool as_presented = false);
  void send(RestCall call, std::function<void(Reply)> then);
  void rest_with(const SessionPtr& session, RestCall call, std::function<void(Reply)> then);
  void raw_rest(std::string bearer, std::string method, std::string target, boost::json::value body,
                std::function<void(Reply)> then);
  void give_up_claim(const std::string& token, const std::string& claim_id);
  void ensure_catalog(const SessionPtr& session, std::function<void(bool)> then);

  // ---- tools (tools.cpp)
  void call_tool(const CallPtr& call, const boost::json::object& params);
  void tool_result(const CallPtr& call, boost::json::object structured);
  void tool_error(const CallPtr& call, const Reply& reply);
  void tool_error(const CallPtr& call, std::string code, std::string message, std::string hint);
  void get_schema(const CallPtr& call, const boost::json::object& args);
  void list_records(const CallPtr& call, const boost::json::object& args);
  void get_model(const CallPtr& call, const boost::json::object& args);
  void create_model(const CallPtr& call, const boost::json::object& args);
  void update_model(const CallPtr& call, const boost::json::object& args);
  void delete_model(const CallPtr& call, const boost::json::object& args);
  void write_row(const CallPtr& call, const boost::json::object& args, std::string method);
  void claim_model(const CallPtr& call, const boost::json::object& args);
  void await_grant(const CallPtr& call, std::string key, std::string claim_id, int64_t ttl_ms, int64_t deadline_ms,
                   int last_position);
  void granted(const CallPtr& call, const std::string& model, const std::string& id, const boost::json::object& claim,
               int64_t ttl_ms);
  void release_claim(const CallPtr& call, const boost::json::object& args);
  void list_claims(const CallPtr& call, const boost::json::object& args);
  void wait_for_change(const CallPtr& call, const boost::json::object& args);
  void tail_logs(const CallPtr& call, const boost::json::object& args);
  void get_usage(const CallPtr& call, const boost::json::object& args);
  void renew_claims(const SessionPtr& session, int64_t now);

  // ---- resources and change watching (watch.cpp)
  void list_resources(const CallPtr& call, const boost::json::object& params);
  void list_resource_templates(const CallPtr& call, const boost::json::object& params);
  void read_resource(const CallPtr& call, const boost::json::object& params);
  void subscribe_resource(const CallPtr& call, const boost::json::object& params);
  void unsubscribe_resource(const CallPtr& call, const boost::json::object& params);
  void start_watching(const SessionPtr& session, int64_t from);
  void poll(const SessionPtr& session);
  void on_events(const SessionPtr& session, const boost::json::array& events);
  void register_wait(const CallPtr& call, std::shared_ptr<ChangeWait> wait, int64_t timeout_ms);
  void finish_wait(const SessionPtr& session, const std::shared_ptr<ChangeWait>& wait, boost::json::array changes);
  void stop_watching_if_idle(const SessionPtr& session);

  Backend& backend;
  Options options;
  boost::asio::io_context io{1};
  boost::asio::executor_work_guard<boost::asio::io_context::executor_type> keep_running;
  boost::asio::steady_timer timer;
  std::thread thread;
  std::atomic<bool> wake_pending{false};
  std::map<std::string, SessionPtr> sessions;  // by id
  std::string schema_fingerprint;
  int64_t next_safety_poll_ms = 0;
  // Catalogs by fingerprint + authority: sessions sharing a key share one.
  std::map<std::string, std::shared_ptr<const ToolCatalog>> catalogs;
};

// Percent-encodes one path segment or query value.
inline std::string encoded(std::string_view text) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : text) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += kHex[c >> 4];
      out += kHex[c & 15];
    }
  }
  return out;
}

// The REST path of a model's rows, and of one row.
inline std::string model_path(const std::string& model) { return "/v1/models/" + encoded(model); }
inline std::string row_path(const std::string& model, const std::string& id) {
  return model_path(model) + "/" + encoded(id);
}

// "model/id".
inline std::string row_key(const std::string& model, const std::string& id) { return model + "/" + id; }

// An integer member of a JSON object (string members: common/json_member.h, string_member).
inline std::optional<int64_t> int_of(const boost::json::object& object, std::string_view key) {
  const auto* value = object.if_contains(key);
  if (!value) return std::nullopt;
  if (value->is_int64()) return value->as_int64();
  if (value->is_uint64()) return static_cast<int64_t>(value->as_uint64());
  if (value->is_double()) return static_cast<int64_t>(value->as_double());
  return std::nullopt;
}

// Whether a REST refusal means the credential itself is no longer valid (revoked, expired,
// unknown): the session it belongs to cannot act any more.
inline bool credential_invalid(const Reply& reply) {
  if (reply.status == 401) return true;
  const auto code = string_member(reply.body, "code");
  return code == "capability_invalid" || code == "apikey_revoked" || code == "apikey_expired" ||
         code == "jwt_expired" || code == "session_expired";
}

}  // namespace ablo::mcp
