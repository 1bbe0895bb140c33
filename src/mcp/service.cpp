// mcp::Service: the Streamable HTTP transport (sessions, JSON-RPC framing, SSE answers) and the
// actor's housekeeping. Tools live in tools.cpp, resources and change watching in watch.cpp.
#include <algorithm>
#include <cctype>

#include <boost/asio/post.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "common/exception_text.h"
#include "common/random.h"
#include "common/thread_name.h"
#include "common/time.h"
#include "mcp/service_impl.h"
#include "metrics/metrics.h"

namespace ablo::mcp {
namespace json = boost::json;
namespace asio = boost::asio;

namespace {

constexpr int64_t kTokenRefreshMarginMs = 5 * 60'000;

std::string bearer_of(const std::string& authorization) {
  constexpr std::string_view kScheme = "Bearer ";
  if (authorization.size() <= kScheme.size()) return {};
  for (std::size_t i = 0; i < kScheme.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(authorization[i])) !=
        std::tolower(static_cast<unsigned char>(kScheme[i]))) {
      return {};
    }
  }
  return authorization.substr(kScheme.size());
}

bool supported_protocol(std::string_view version) { return version == kLatestProtocol || version == kOlderProtocol; }

json::object rpc_error(const json::value& id, int code, std::string message, json::value data = nullptr) {
  json::object error{{"code", code}, {"message", std::move(message)}};
  if (!data.is_null()) error.emplace("data", std::move(data));
  return json::object{{"jsonrpc", "2.0"}, {"id", id}, {"error", std::move(error)}};
}

const Headers& json_headers() {
  static const Headers headers{{"Content-Type", "application/json"}};
  return headers;
}

// An error answered at the HTTP level (before a call exists): the status and a JSON-RPC error.
void refuse(const std::shared_ptr<Responder>& responder, int status, int code, std::string message,
            const json::value& id = nullptr, Headers extra = {}) {
  Headers headers = json_headers();
  for (auto& header : extra) headers.push_back(std::move(header));
  responder->respond(status, std::move(headers), json::serialize(rpc_error(id, code, std::move(message))));
}

// Host part of an Origin ("http://localhost:3000" -> "localhost").
std::string origin_host(const std::string& origin) {
  auto start = origin.find("://");
  start = start == std::string::npos ? 0 : start + 3;
  auto host = origin.substr(start);
  if (!host.empty() && host.front() == '[') return host.substr(0, host.find(']') + 1);
  return host.substr(0, host.find_first_of(":/"));
}

std::string host_only(const std::string& host) {
  if (!host.empty() && host.front() == '[') return host.substr(0, host.find(']') + 1);
  return host.substr(0, host.find(':'));
}

// DNS-rebinding guard (MCP transport spec): a browser page may talk to /mcp only from this
// server's own origin or a loopback one. Requests without Origin (agents, the CLI) pass.
bool origin_allowed(const HttpExchange& exchange) {
  if (exchange.origin.empty()) return true;
  const auto host = origin_host(exchange.origin);
  return host == "localhost" || host == "127.0.0.1" || host == "[::1]" || host == host_only(exchange.host);
}

metrics::Gauge& session_gauge() {
  static auto& gauge = metrics::global().gauge("ablo_mcp_sessions", "Open MCP sessions");
  return gauge;
}
[[maybe_unused]] const metrics::Gauge& session_gauge_at_start = session_gauge();  // listed at 0 from the start

bool is_request_id(const json::value& id) { return id.is_string() || id.is_int64() || id.is_uint64(); }

// What a client may call its participant: [A-Za-z0-9-] from its clientInfo.name, bounded.
std::string participant_label(std::string_view client_name) {
  std::string label;
  for (char c : client_name) {
    if (std::isalnum(static_cast<unsigned char>(c)) || c == '-') label += c;
    if (label.size() == 24) break;
  }
  return label.empty() ? "agent" : label;
}

}  // namespace

// ---------------------------------------------------------------- Service

Service::Service(Backend& backend, Options options) : impl_(std::make_unique<Impl>(backend, std::move(options))) {}

Service::~Service() { stop(); }

Service::Impl::Impl(Backend& backend_, Options options_)
    : backend(backend_), options(std::move(options_)), keep_running(asio::make_work_guard(io)), timer(io) {}

void Service::start() {
  if (impl_->thread.joinable()) return;
  asio::post(impl_->io, [impl = impl_.get()] {
    impl->schema_fingerprint = impl->backend.schema_fingerprint();
    impl->schedule_tick();
  });
  impl_->thread = named_thread("ablo-mcp", [impl = impl_.get()] { impl->io.run(); });
}

void Service::stop() {
  if (!impl_->thread.joinable()) return;
  asio::post(impl_->io, [impl = impl_.get()] {
    auto sessions = impl->sessions;
    for (auto& [id, session] : sessions) impl->end_session(session, "the server is stopping");
    impl->timer.cancel();
    impl->keep_running.reset();
    impl->io.stop();
  });
  impl_->thread.join();
}

void Service::handle(HttpExchange exchange, std::shared_ptr<Responder> responder) {
  asio::post(impl_->io, [impl = impl_.get(), exchange = std::move(exchange), responder]() mutable {
    try {
      impl->handle(std::move(exchange), responder);
    } catch (...) {
      spdlog::error("MCP request threw: {}", current_exception_text());
      refuse(responder, 500, kInternalError, "the MCP request failed unexpectedly");
    }
  });
}

void Service::log_advanced() {
  if (impl_->wake_pending.exchange(true)) return;
  asio::post(impl_->io, [impl = impl_.get()] {
    impl->wake_pending = false;
    for (auto& [id, session] : impl->sessions) {
      if (session->watch_cursor >= 0) impl->poll(session);
    }
  });
}

// ---------------------------------------------------------------- transport

void Service::Impl::handle(HttpExchange exchange, std::shared_ptr<Responder> responder) {
  if (!origin_allowed(exchange)) {
    refuse(responder, 403, kInvalidRequest, "requests from origin " + exchange.origin + " are not allowed");
    return;
  }
  if (!exchange.protocol_version.empty() && !supported_protocol(exchange.protocol_version)) {
    refuse(responder, 400, kInvalidRequest,
           fmt::format("unsupported MCP-Protocol-Version {} (this server speaks {} and {})", exchange.protocol_version,
                       kLatestProtocol, kOlderProtocol));
    return;
  }
  if (exchange.method == "POST") return handle_post(exchange, responder);
  if (exchange.method == "GET") return handle_get(exchange, responder);
  if (exchange.method == "DELETE") return handle_delete(exchange, responder);
  refuse(responder, 405, kInvalidRequest, "use POST, GET or DELETE on /mcp", nullptr, {{"Allow", "GET, POST, DELETE"}});
}

SessionPtr Service::Impl::session_for(const HttpExchange& exchange, const std::shared_ptr<Responder>& responder) {
  const auto bearer = bearer_of(exchange.authorization);
  if (bearer.empty()) {
    refuse(responder, 401, kInvalidRequest, "an Authorization: Bearer <sk_/rk_/capability token> header is required",
           nullptr, {{"WWW-Authenticate", "Bearer"}});
    return nullptr;
  }
  if (exchange.session_id.empty()) {
    refuse(responder, 400, kInvalidRequest, "Mcp-Session-Id header required (send initialize first)");
    return nullptr;
  }
  auto found = sessions.find(exchange.session_id);
  // Another credential's session answers as a missing one: no session is reachable, or even
  // confirmed to exist, with a token other than the one that opened it.
  if (found == sessions.end() || found->second->bearer != bearer) {
    refuse(responder, 404, kInvalidRequest, "no such MCP session (it ended or never existed): initialize again");
    return nullptr;
  }
  found->second->last_active_ms = now_ms();
  return found->second;
}

void Service::Impl::handle_post(HttpExchange& exchange, const std::shared_ptr<Responder>& responder) {
  boost::system::error_code ec;
  auto parsed = json::parse(exchange.body, ec);
  if (ec) {
    refuse(responder, 400, kParseError, "the body is not JSON: " + ec.message());
    return;
  }
  if (parsed.is_array()) {
    // Batching existed in 2025-03-26 only; this server answers every batch with one error
    // rather than half-supporting it (the SDKs never batch).
    refuse(responder, 400, kInvalidRequest, "JSON-RPC batches are not supported: send one message per request");
    return;
  }
  if (!parsed.is_object()) {
    refuse(responder, 400, kInvalidRequest, "a JSON-RPC message is an object");
    return;
  }
  auto& message = parsed.as_object();
  const auto* method = message.if_contains("method");
  const auto* id = message.if_contains("id");
  if (string_member(message, "jsonrpc") != "2.0") {
    refuse(responder, 400, kInvalidRequest, "jsonrpc must be \"2.0\"", id && is_request_id(*id) ? *id : nullptr);
    return;
  }
  if (method && method->is_string() && method->as_string() == "initialize" && id) {
    if (!is_request_id(*id)) return refuse(responder, 400, kInvalidRequest, "id must be a string or an integer");
    initialize(exchange, message, responder);
    return;
  }
  auto session = session_for(exchange, responder);
  if (!session) return;
  if (!method) {
    // A response to a server request (this server sends none) or garbage.
    if (id && (message.contains("result") || message.contains("error"))) {
      responder->respond(202, {}, {});
    } else {
      refuse(responder, 400, kInvalidRequest, "not a JSON-RPC request, notification or response");
    }
    return;
  }
  if (!method->is_string()) return refuse(responder, 400, kInvalidRequest, "method must be a string");
  if (!id) {
    notification(session, message);
    responder->respond(202, {}, {});
    return;
  }
  if (!is_request_id(*id)) return refuse(responder, 400, kInvalidRequest, "id must be a string or an integer");
  const auto key = json::serialize(*id);
  if (session->calls.size() >= options.max_calls_per_session) {
    return refuse(responder, 429, kServerBusy,
                  fmt::format("this session has {} requests in progress already", session->calls.size()), *id);
  }
  if (session->calls.contains(key)) return refuse(responder, 400, kInvalidRequest, "request id already in use", *id);
  auto call = std::make_shared<Call>();
  call->session = session;
  call->id = *id;
  if (const auto* params = message.if_contains("params"); params && params->is_object()) {
    if (const auto* meta = params->as_object().if_contains("_meta"); meta && meta->is_object()) {
      if (const auto* token = meta->as_object().if_contains("progressToken")) call->progress_token = *token;
    }
  }
  // Kept so a tool that waits can switch its answer to a stream (stream_answer).
  if (exchange.accept.find("text/event-stream") != std::string::npos) call->responder = responder;
  call->deliver = [responder](json::value reply) {
    responder->respond(200, json_headers(), json::serialize(reply));
  };
  session->calls.emplace(key, call);
  dispatch(message, call);
}

void Service::Impl::handle_get(const HttpExchange& exchange, const std::shared_ptr<Responder>& responder) {
  auto session = session_for(exchange, responder);
  if (!session) return;
  if (exchange.accept.find("text/event-stream") == std::string::npos) {
    refuse(responder, 406, kInvalidRequest, "GET /mcp serves text/event-stream only (Accept: text/event-stream)");
    return;
  }
  // One notification stream per session: a new GET replaces the old one.
  if (session->notifications) session->notifications->finish();
  std::weak_ptr<Session> weak = session;
  auto stream_holder = std::make_shared<std::weak_ptr<EventStream>>();
  auto stream = responder->open_stream({{"Content-Type", "text/event-stream"}, {"Cache-Control", "no-cache"},
                                        {"Mcp-Session-Id", session->id}},
                                       [this, weak, stream_holder] {
                                         asio::post(io, [weak, stream_holder] {
                                           auto s = weak.lock();
                                           if (s && s->notifications == stream_holder->lock()) {
                                             s->notifications.reset();
                                             s->last_active_ms = now_ms();
                                           }
                                         });
                                       });
  *stream_holder = stream;
  session->notifications = stream;
  while (!session->undelivered.empty()) {
    if (!stream->send(std::move(session->undelivered.front()))) break;
    session->undelivered.pop_front();
  }
}

void Service::Impl::handle_delete(const HttpExchange& exchange, const std::shared_ptr<Responder>& responder) {
  auto session = session_for(exchange, responder);
  if (!session) return;
  end_session(session, "the client ended it");
  responder->respond(200, json_headers(), "{}");
}

void Service::Impl::initialize(const HttpExchange& exchange, const json::object& message,
                               const std::shared_ptr<Responder>& responder) {
  const auto id = message.at("id");
  const auto bearer = bearer_of(exchange.authorization);
  if (bearer.empty()) {
    return refuse(responder, 401, kInvalidRequest,
                  "an Authorization: Bearer <sk_/rk_/capability token> header is required", id,
                  {{"WWW-Authenticate", "Bearer"}});
  }
  const auto* params_value = message.if_contains("params");
  if (!params_value || !params_value->is_object()) {
    return refuse(responder, 400, kInvalidParams, "initialize needs params {protocolVersion, clientInfo}", id);
  }
  const auto& params = params_value->as_object();
  if (sessions.size() >= options.max_sessions) {
    return refuse(responder, 503, kServerBusy, "this server has the most MCP sessions it serves: try later", id);
  }
  const auto same_key = std::count_if(sessions.begin(), sessions.end(),
                                      [&](const auto& entry) { return entry.second->bearer == bearer; });
  if (static_cast<std::size_t>(same_key) >= options.max_sessions_per_credential) {
    return refuse(responder, 429, kServerBusy,
                  fmt::format("this credential has {} MCP sessions open: end some (DELETE /mcp)", same_key), id);
  }
  const auto requested = string_member(params, "protocolVersion");
  std::string client_name;
  if (const auto* info = params.if_contains("clientInfo"); info && info->is_object()) {
    client_name = string_member(info->as_object(), "name");
  }
  const auto participant = "mcp_" + participant_label(client_name) + "_" + random_base62(8);
  json::object exchange_body{{"participantKind", "agent"},
                             {"participantId", participant},
                             {"wideScope", true},
                             {"ttlSeconds", options.session_token_ttl_seconds},
                             {"label", fmt::format("MCP session ({})", client_name.empty() ? "unnamed" : client_name)}};
  raw_rest(bearer, "POST", "/api/auth/capability", std::move(exchange_body),
           [this, id, bearer, requested, client_name, responder](Reply reply) {
             if (!reply.ok()) {
               // An invalid or revoked key is 401 (the MCP authorization rule); a key that may
               // not open sessions 403; anything else is the server's failure.
               const int status = credential_invalid(reply) ? 401 : reply.status == 403 ? 403 : 502;
               const auto code = string_member(reply.body, "code");
               return refuse(responder, status, kInvalidRequest,
                             fmt::format("{}: {}", code.empty() ? "unauthorized" : code,
                                         string_member(reply.body, "message")),
                             id, status == 401 ? Headers{{"WWW-Authenticate", "Bearer"}} : Headers{});
             }
             auto session = std::make_shared<Session>();
             session->id = random_base62(32);
             session->bearer = bearer;
             session->token = string_member(reply.body, "token");
             session->capability_id = string_member(reply.body, "capabilityId");
             session->token_expires_ms = parse_iso8601_ms(string_member(reply.body, "expiresAt"))
                                             .value_or(now_ms() + options.session_token_ttl_seconds * 1000);
             if (const auto* scope = reply.body.if_contains("scope"); scope && scope->is_object()) {
               session->participant_id = string_member(scope->as_object(), "participantId");
             }
             session->client_name = client_name;
             session->protocol_version = supported_protocol(requested) ? requested : kLatestProtocol;
             session->last_active_ms = now_ms();
             sessions.emplace(session->id, session);
             session_gauge().set(static_cast<int64_t>(sessions.size()));
             json::object result{
                 {"protocolVersion", session->protocol_version},
                 {"capabilities", json::object{{"tools", json::object{{"listChanged", true}}},
                                               {"resources", json::object{{"subscribe", true}, {"listChanged", false}}}}},
                 {"serverInfo", json::object{{"name", "ablo"}, {"title", "Ablo sync engine"}, {"version", "0.1.0"}}},
                 {"instructions",
                  "Shared typed rows that people and other agents edit at the same time. Before a slow edit: "
                  "claim_model (waits its turn in a fair line, returns the fresh row) -> update_model -> "
                  "release_claim. Writes are stale-checked against the stamp you last read (readAt). Derive "
                  "idempotencyKey from the business event. Errors carry a code and the next step. You are "
                  "participant " +
                      session->participant_id + "."},
                 {"_meta", json::object{{"ablo/participantId", session->participant_id}}}};
             Headers headers = json_headers();
             headers.emplace_back("Mcp-Session-Id", session->id);
             responder->respond(200, std::move(headers),
                                json::serialize(json::object{{"jsonrpc", "2.0"}, {"id", id}, {"result", result}}));
           });
}

void Service::Impl::notification(const SessionPtr& session, const json::object& message) {
  const auto method = string_member(message, "method");
  if (method != "notifications/cancelled") return;  // initialized, roots/list_changed, …: nothing to do
  const auto* params = message.if_contains("params");
  if (!params || !params->is_object()) return;
  const auto* request_id = params->as_object().if_contains("requestId");
  if (!request_id) return;
  auto found = session->calls.find(json::serialize(*request_id));
  if (found == session->calls.end()) return;
  auto call = found->second;
  cancel(call);
}

void Service::Impl::cancel(const CallPtr& call) {
  if (call->finished) return;
  call->finished = true;
  call->cancelled = true;
  call->session->calls.erase(json::serialize(call->id));
  if (call->on_cancel) call->on_cancel();
  if (call->stream) call->stream->finish();
}

void Service::Impl::end_session(const SessionPtr& session, const char* why) {
  if (session->ended) return;
  session->ended = true;
  auto calls = session->calls;
  for (auto& [key, call] : calls) {
    if (call->on_cancel) call->on_cancel();
    call->on_cancel = nullptr;
    fail_call(call, kServerBusy, std::string("the MCP session ended: ") + why);
  }
  session->waits.clear();
  // Held claims lapse at their lease end, as a closed WebSocket's do; a place in a line is
  // given up at once.
  for (const auto& [key, claim] : session->claims) {
    if (claim.queued) give_up_claim(session->token, claim.claim_id);
  }
  session->claims.clear();
  if (session->notifications) session->notifications->finish();
  session->notifications.reset();
  sessions.erase(session->id);
  session_gauge().set(static_cast<int64_t>(sessions.size()));
  spdlog::debug("MCP session {} ({}) ended: {}", session->id, session->participant_id, why);
}

// ---------------------------------------------------------------- answers

void Service::Impl::answer(const CallPtr& call, json::value result) {
  if (call->finished) return;
  call->finished = true;
  call->session->calls.erase(json::serialize(call->id));
  call->deliver(json::object{{"jsonrpc", "2.0"}, {"id", call->id}, {"result", std::move(result)}});
}

void Service::Impl::fail_call(const CallPtr& call, int code, std::string message, json::value data) {
  if (call->finished) return;
  call->finished = true;
  call->session->calls.erase(json::serialize(call->id));
  call->deliver(rpc_error(call->id, code, std::move(message), std::move(data)));
}

void Service::Impl::stream_answer(const CallPtr& call) {
  if (!call->responder || call->stream) return;
  std::weak_ptr<Call> weak = call;
  call->stream = call->responder->open_stream({{"Content-Type", "text/event-stream"}, {"Cache-Control", "no-cache"}},
                                            [this, weak] {
                                              // The client went away: whatever the call waits for is undone.
                                              asio::post(io, [this, weak] {
                                                if (auto c = weak.lock()) cancel(c);
                                              });
                                            });
  call->deliver = [stream = call->stream](json::value reply) {
    stream->send(json::serialize(reply));
    stream->finish();
  };
}

void Service::Impl::progress(const CallPtr& call, std::string message) {
  if (!call->progress_token || !call->stream || call->finished) return;
  call->progress += 1;
  call->stream->send(json::serialize(json::object{
      {"jsonrpc", "2.0"},
      {"method", "notifications/progress"},
      {"params", json::object{{"progressToken", *call->progress_token},
                              {"progress", call->progress},
                              {"message", std::move(message)}}}}));
}

void Service::Impl::notify(const SessionPtr& session, std::string method, json::object params) {
  json::object message{{"jsonrpc", "2.0"}, {"method", std::move(method)}};
  if (!params.empty()) message.emplace("params", std::move(params));
  auto text = json::serialize(message);
  if (session->notifications && session->notifications->send(text)) return;
  session->notifications.reset();
  if (std::find(session->undelivered.begin(), session->undelivered.end(), text) != session->undelivered.end()) return;
  if (session->undelivered.size() == kMaxUndeliveredNotifications) session->undelivered.pop_front();
  session->undelivered.push_back(std::move(text));
}

// ---------------------------------------------------------------- dispatch

void Service::Impl::dispatch(const json::object& message, const CallPtr& call) {
  using Handler = void (Impl::*)(const CallPtr&, const json::object&);
  static const std::map<std::string, Handler, std::less<>> kMethods{
      {"ping", &Impl::ping},
      {"tools/list", &Impl::list_tools},
      {"tools/call", &Impl::call_tool},
      {"resources/list", &Impl::list_resources},
      {"resources/templates/list", &Impl::list_resource_templates},
      {"resources/read", &Impl::read_resource},
      {"resources/subscribe", &Impl::subscribe_resource},
      {"resources/unsubscribe", &Impl::unsubscribe_resource},
  };
  const auto method = string_member(message, "method");
  auto handler = kMethods.find(method);
  if (handler == kMethods.end()) {
    return fail_call(call, kMethodNotFound, "method not found: " + method);
  }
  static const json::object kNoParams;
  const auto* params = message.if_contains("params");
  if (params && !params->is_object()) return fail_call(call, kInvalidParams, "params must be an object");
  (this->*handler->second)(call, params ? params->as_object() : kNoParams);
}

void Service::Impl::ping(const CallPtr& call, const json::object&) { answer(call, json::object{}); }

void Service::Impl::list_tools(const CallPtr& call, const json::object&) {
  ensure_catalog(call->session, [this, call](bool ok) {
    if (!ok) return fail_call(call, kInternalError, "could not read the schema or this session's authority");
    answer(call, json::object{{"tools", call->session->catalog->tools}});
  });
}

// ---------------------------------------------------------------- REST

void Service::Impl::send(RestCall rest_call, std::function<void(Reply)> then) {
  backend.call(std::move(rest_call), [this, then = std::move(then)](RestAnswer answer) mutable {
    asio::post(io, [then = std::move(then), answer = std::move(answer)] {
      Reply reply;
      reply.status = answer.status;
      boost::system::error_code ec;
      auto parsed = json::parse(answer.body, ec);
      if (!ec && parsed.is_object()) reply.body = std::move(parsed.as_object());
      try {
        then(std::move(reply));
      } catch (...) {
        spdlog::error("MCP: handling a REST answer threw: {}", current_exception_text());
      }
    });
  });
}

void Service::Impl::raw_rest(std::string bearer, std::string method, std::string target, json::value body,
                             std::function<void(Reply)> then) {
  send(RestCall{std::move(method), std::move(target), body.is_null() ? std::string() : json::serialize(body),
                std::move(bearer), {}},
       std::move(then));
}

// Releases a claim or leaves its line; nobody waits for the answer (the claim lapses anyway).
void Service::Impl::give_up_claim(const std::string& token, const std::string& claim_id) {
  raw_rest(token, "DELETE", "/v1/claims/" + encoded(claim_id), nullptr, [](Reply) {});
}

void Service::Impl::rest_with(const SessionPtr& session, RestCall rest_call, std::function<void(Reply)> then) {
  send(std::move(rest_call), [this, session, then = std::move(then)](Reply reply) {
    const bool credential_gone = credential_invalid(reply);
    then(std::move(reply));
    // The session's credential was revoked or expired (it dies with the key that opened it):
    // the session cannot act any more.
    if (credential_gone) end_session(session, "its credential is no longer valid");
  });
}

void Service::Impl::rest(const SessionPtr& session, std::string method, std::string target, json::value body,
                         std::function<void(Reply)> then, bool as_presented) {
  rest_with(session,
            RestCall{std::move(method), std::move(target), body.is_null() ? std::string() : json::serialize(body),
                     as_presented ? session->bearer : session->token, {}},
            std::move(then));
}

void Service::Impl::ensure_catalog(const SessionPtr& session, std::function<void(bool)> then) {
  const auto fingerprint = backend.schema_fingerprint();
  if (session->catalog && session->catalog_fingerprint == fingerprint) return then(true);
  rest(session, "GET", "/api/auth/identity", nullptr, [this, session, fingerprint, then](Reply identity) {
    if (!identity.ok()) return then(false);
    std::vector<std::string> operations;
    if (const auto* authority = identity.body.if_contains("authority"); authority && authority->is_object()) {
      if (const auto* ops = authority->as_object().if_contains("operations"); ops && ops->is_array()) {
        for (const auto& op : ops->as_array()) {
          if (op.is_string()) operations.emplace_back(op.as_string());
        }
      }
    }
    std::string cache_key = fingerprint;
    for (const auto& op : operations) cache_key += "|" + op;
    if (auto cached = catalogs.find(cache_key); cached != catalogs.end()) {
      session->catalog = cached->second;
      session->catalog_fingerprint = fingerprint;
      session->operations = std::move(operations);
      return then(true);
    }
    rest(session, "GET", "/v1/schema", nullptr,
         [this, session, fingerprint, cache_key, operations = std::move(operations), then](Reply schema) {
           if (!schema.ok()) return then(false);
           auto catalog = std::make_shared<const ToolCatalog>(build_catalog(schema.body, operations));
           if (catalogs.size() > 256) catalogs.clear();  // bounded: stale fingerprints go
           catalogs[cache_key] = catalog;
           session->catalog = std::move(catalog);
           session->catalog_fingerprint = fingerprint;
           session->operations = operations;
           then(true);
         });
  });
}

// ---------------------------------------------------------------- housekeeping

void Service::Impl::schedule_tick() {
  timer.expires_after(std::chrono::milliseconds(options.tick_ms));
  timer.async_wait([this](boost::system::error_code ec) {
    if (ec) return;
    try {
      tick();
    } catch (...) {
      spdlog::error("MCP housekeeping threw: {}", current_exception_text());
    }
    schedule_tick();
  });
}

void Service::Impl::tick() {
  const int64_t now = now_ms();
  const bool safety_poll = now >= next_safety_poll_ms;
  if (safety_poll) next_safety_poll_ms = now + options.poll_ms;
  const auto fingerprint = safety_poll ? backend.schema_fingerprint() : schema_fingerprint;
  const bool schema_changed = fingerprint != schema_fingerprint;
  schema_fingerprint = fingerprint;
  auto all = sessions;
  for (auto& [id, session] : all) {
    if (schema_changed) notify(session, "notifications/tools/list_changed", {});
    const bool idle = session->calls.empty() && !session->notifications &&
                      now - session->last_active_ms > options.session_idle_ms;
    if (idle) {
      end_session(session, "idle");
      continue;
    }
    if (session->token_expires_ms - now < kTokenRefreshMarginMs) refresh_token(session);
    renew_claims(session, now);
    if (safety_poll && session->watch_cursor >= 0) poll(session);  // a missed wake-up
  }
}

// The session capability nears its end: exchange the presented credential again for a fresh
// one of the same participant. Its old claims stay with the old credential's owner and lapse.
void Service::Impl::refresh_token(const SessionPtr& session) {
  if (session->refreshing) return;
  session->refreshing = true;
  json::object body{{"participantKind", "agent"},
                    {"participantId", session->participant_id},
                    {"wideScope", true},
                    {"ttlSeconds", options.session_token_ttl_seconds},
                    {"label", fmt::format("MCP session ({})", session->client_name)}};
  raw_rest(session->bearer, "POST", "/api/auth/capability", std::move(body), [this, session](Reply reply) {
    session->refreshing = false;
    if (session->ended) return;
    if (!reply.ok()) {
      if (session->token_expires_ms <= now_ms()) end_session(session, "its credential expired");
      return;
    }
    session->token = string_member(reply.body, "token");
    session->capability_id = string_member(reply.body, "capabilityId");
    session->token_expires_ms = parse_iso8601_ms(string_member(reply.body, "expiresAt")).value_or(now_ms() + 60'000);
    session->catalog.reset();
  });
}

}  // namespace ablo::mcp
