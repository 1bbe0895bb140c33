// `ablo mcp` (issue 14): the stdio bridge. Threads: the reader (stdin; initialize, notifications
// and responses are sent from it, in order, so the session id is known before any later message
// goes out), a bounded pool that POSTs requests, one follower of the session's GET stream, and
// a signal waiter.
#include "cli/mcp_bridge.h"

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <csignal>
#include <cstdio>
#include <deque>
#include <functional>
#include <iostream>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include <CLI/CLI.hpp>
#include <boost/json.hpp>
#include <spdlog/spdlog.h>

#include "cli/api_target.h"
#include "cli/output.h"
#include "client/transport.h"

namespace ablo::cli {

namespace {

namespace json = boost::json;
using namespace std::chrono_literals;

constexpr int kBridgeErrorCode = -32000;  // JSON-RPC "server error" range: the HTTP leg failed
constexpr auto kShutdownGrace = 1000ms;   // EOF: in-flight answers may still arrive (the SDK waits 2 s)
constexpr auto kMaxReconnectDelay = 30s;

struct BridgeOptions {
  ApiTargetOptions api;  // the server and key (cli/api_target.h)
  int max_in_flight = 32;
};

// Where the MCP endpoint is: <url>/mcp.
struct Endpoint {
  std::string host;
  uint16_t port = 80;
  std::string target;  // the path, e.g. "/mcp"
  std::string describe() const { return "http://" + host + ":" + std::to_string(port) + target; }
};

tl::unexpected<Error> bridge_failure(std::string message) { return fail("invalid_request", std::move(message)); }

Result<Endpoint> mcp_endpoint_of(const ApiTargetOptions& api) {
  auto server = resolve_api_target(api);
  if (!server) return tl::unexpected(server.error());
  if (auto ok = server->require_key(); !ok) return tl::unexpected(ok.error());
  return Endpoint{server->host, server->port, server->base_path + "/mcp"};
}

// stdout is the protocol: whole lines only, one writer at a time, flushed at once.
class LineWriter {
 public:
  void write(std::string_view line) {
    std::lock_guard lock(mutex_);
    std::fwrite(line.data(), 1, line.size(), stdout);
    std::fputc('\n', stdout);
    std::fflush(stdout);
  }

 private:
  std::mutex mutex_;
};

// The text as one line: a JSON message spread over several lines is re-serialized (JSON
// strings hold no raw line breaks, so compact JSON is one line).
std::string one_line(std::string text) {
  if (text.find_first_of("\r\n") == std::string::npos) return text;
  json::error_code ec;
  auto value = json::parse(text, ec);
  if (!ec) return json::serialize(value);
  for (auto& c : text) {
    if (c == '\r' || c == '\n') c = ' ';
  }
  return text;
}

// Server-sent events (the WHATWG EventSource format) parsed from pieces as they arrive: each
// event's `data:` lines joined with "\n", with its `id:` when it has one. Comments (":…",
// keep-alives) and other fields are skipped; an event without data is not delivered.
class SseParser {
 public:
  struct Event {
    std::string id;
    std::string data;
  };

  void feed(std::string_view piece, const std::function<void(Event&&)>& on_event) {
    for (char c : piece) {
      if (c != '\n' && c != '\r') {
        line_ += c;
        previous_was_cr_ = false;
        continue;
      }
      const bool second_half_of_crlf = c == '\n' && previous_was_cr_;
      previous_was_cr_ = c == '\r';
      if (second_half_of_crlf) continue;
      if (take_line()) {
        on_event(std::move(event_));
        event_ = {};
        has_data_ = false;
      }
    }
  }

 private:
  // Applies the finished line; true when it was the blank line that ends an event with data.
  bool take_line() {
    const std::string line = std::move(line_);
    line_.clear();
    if (line.empty()) {
      if (has_data_) return true;
      event_ = {};
      return false;
    }
    if (line[0] == ':') return false;
    const auto colon = line.find(':');
    const std::string_view field = std::string_view(line).substr(0, colon);
    std::string_view value = colon == std::string::npos ? std::string_view() : std::string_view(line).substr(colon + 1);
    if (!value.empty() && value[0] == ' ') value.remove_prefix(1);
    if (field == "data") {
      if (has_data_) event_.data += '\n';
      event_.data += value;
      has_data_ = true;
    } else if (field == "id") {
      event_.id = value;
    }
    return false;
  }

  std::string line_;
  Event event_;
  bool has_data_ = false;
  bool previous_was_cr_ = false;
};

// What the bridge needs to know of a JSON-RPC message it forwards.
struct MessageInfo {
  std::optional<json::value> id;  // set for a request (a message that expects a response)
  std::string method;
};

Result<MessageInfo> read_message_info(std::string_view line) {
  json::error_code ec;
  auto value = json::parse(line, ec);
  if (ec) return bridge_failure("not JSON: " + ec.message());
  MessageInfo info;
  const auto* message = value.if_object();
  if (!message) return info;  // not a single message: forwarded as it is, answered by the server
  if (const auto* method = message->if_contains("method"); method && method->is_string()) {
    info.method = std::string(method->as_string());
  }
  if (const auto* id = message->if_contains("id"); id && !info.method.empty()) info.id = *id;
  return info;
}

std::string rpc_error_line(const json::value& id, int code, std::string_view message) {
  return json::serialize(json::object{
      {"jsonrpc", "2.0"}, {"id", id}, {"error", json::object{{"code", code}, {"message", message}}}});
}

// "code: message" of an error object ({code?, message}), or "" when it has no message.
std::string error_text(const json::object& error) {
  const auto* message = error.if_contains("message");
  if (!message || !message->is_string()) return {};
  const auto* code = error.if_contains("code");
  std::string prefix = code && code->is_string() ? std::string(code->as_string()) + ": " : std::string();
  return prefix + std::string(message->as_string());
}

// "HTTP 404: <the body's error message>", from our error envelope (top-level code/message), a
// JSON-RPC error body ({error: {code, message}}), or the start of any other body.
std::string describe_http_failure(const client::HttpResponse& response) {
  std::string detail = response.body.substr(0, 500);
  json::error_code ec;
  auto body = json::parse(response.body, ec);
  if (!ec && body.is_object()) {
    const auto& object = body.as_object();
    const auto* error = object.if_contains("error");
    std::string text = error && error->is_object() ? error_text(error->as_object()) : error_text(object);
    if (error && error->is_string()) text = std::string(error->as_string());
    if (!text.empty()) detail = std::move(text);
  }
  std::string text = "HTTP " + std::to_string(response.status);
  return detail.empty() ? text : text + ": " + detail;
}

bool header_starts_with(const client::HttpResponse& response, std::string_view name, std::string_view prefix) {
  auto found = response.headers.find(std::string(name));
  return found != response.headers.end() && found->second.rfind(prefix, 0) == 0;
}

// The body of one POST, written to stdout as it arrives: a JSON body once complete, an SSE
// body event by event (progress notifications come before the response).
class ResponseRelay {
 public:
  ResponseRelay(LineWriter& out, const MessageInfo& info) : out_(out), info_(info) {}

  void on_head(const client::HttpResponse& head) {
    head_ = head;
    streaming_ = head.status >= 200 && head.status < 300 && header_starts_with(head, "content-type", "text/event-stream");
  }

  void on_body(std::string_view piece) {
    if (!streaming_) {
      if (body_.size() < kMaxBufferedBody) body_.append(piece);
      return;
    }
    sse_.feed(piece, [this](SseParser::Event&& event) { relay_event(std::move(event.data)); });
  }

  // After the exchange: the JSON answer, or the error that keeps the agent from waiting forever.
  void finish(const Result<client::HttpResponse>& exchange) {
    if (!answer_.empty()) return;  // answered already: a stream that broke after its response
    if (!exchange) return answer_failure(exchange.error().message);
    head_.body = std::move(body_);
    const int status = head_.status;
    if (status < 200 || status >= 300) return answer_failure(describe_http_failure(head_));
    if (streaming_) {
      if (answer_.empty()) answer_failure("the server's event stream ended without a response");
      return;
    }
    if (head_.body.empty()) {
      if (info_.id && status != 202) answer_failure("HTTP " + std::to_string(status) + " without a response");
      return;
    }
    answer_ = one_line(std::move(head_.body));
    out_.write(answer_);
  }

  // The line that answered the request ("" if none came); the session the server named.
  const std::string& answer() const { return answer_; }
  std::string session_id() const {
    auto found = head_.headers.find("mcp-session-id");
    return found == head_.headers.end() ? std::string() : found->second;
  }

 private:
  static constexpr std::size_t kMaxBufferedBody = 64 * 1024 * 1024;

  void relay_event(std::string data) {
    std::string line = one_line(std::move(data));
    const bool is_answer = info_.id && answers_request(line);
    out_.write(line);
    if (is_answer) answer_ = std::move(line);
  }

  bool answers_request(std::string_view line) const {
    json::error_code ec;
    auto value = json::parse(line, ec);
    if (ec || !value.is_object()) return false;
    const auto& message = value.as_object();
    const auto* id = message.if_contains("id");
    return id && *id == *info_.id && (message.contains("result") || message.contains("error"));
  }

  void answer_failure(const std::string& reason) {
    if (!info_.id) {
      spdlog::warn("mcp: {} for {}", reason, info_.method.empty() ? "a message" : info_.method);
      return;
    }
    out_.write(rpc_error_line(*info_.id, kBridgeErrorCode, reason));
  }

  LineWriter& out_;
  const MessageInfo& info_;
  client::HttpResponse head_;
  std::string body_;
  bool streaming_ = false;
  SseParser sse_;
  std::string answer_;
};

// A fixed number of threads; submit() waits while all are busy, so stdin is read no faster
// than requests can be sent.
class BoundedPool {
 public:
  explicit BoundedPool(int threads) : limit_(threads) {
    for (int i = 0; i < threads; ++i) threads_.emplace_back([this] { work(); });
  }
  ~BoundedPool() { join(); }

  void submit(std::function<void()> task) {
    std::unique_lock lock(mutex_);
    changed_.wait(lock, [&] { return static_cast<int>(queue_.size()) + busy_ < limit_; });
    queue_.push_back(std::move(task));
    changed_.notify_all();
  }

  // True when every task has finished within `timeout`.
  bool wait_idle(std::chrono::milliseconds timeout) {
    std::unique_lock lock(mutex_);
    return changed_.wait_for(lock, timeout, [&] { return queue_.empty() && busy_ == 0; });
  }

  void join() {
    {
      std::lock_guard lock(mutex_);
      closing_ = true;
      changed_.notify_all();
    }
    for (auto& thread : threads_) {
      if (thread.joinable()) thread.join();
    }
  }

 private:
  void work() {
    for (;;) {
      std::function<void()> task;
      {
        std::unique_lock lock(mutex_);
        changed_.wait(lock, [&] { return closing_ || !queue_.empty(); });
        if (queue_.empty()) return;
        task = std::move(queue_.front());
        queue_.pop_front();
        ++busy_;
      }
      task();
      std::lock_guard lock(mutex_);
      --busy_;
      changed_.notify_all();
    }
  }

  const int limit_;
  std::mutex mutex_;
  std::condition_variable changed_;
  std::deque<std::function<void()>> queue_;
  int busy_ = 0;
  bool closing_ = false;
  std::vector<std::thread> threads_;
};

class Bridge {
 public:
  Bridge(Endpoint endpoint, std::string key, int max_in_flight)
      : endpoint_(std::move(endpoint)), key_(std::move(key)), pool_(max_in_flight) {}

  // Reads stdin to its end; then ends the session.
  void run() {
    std::string line;
    while (std::getline(std::cin, line)) {
      if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
      auto info = read_message_info(line);
      if (!info) {
        out_.write(rpc_error_line(nullptr, -32700, "parse error: " + info.error().message));
        continue;
      }
      if (info->method == "initialize") {
        initialize(line, *info);
        continue;
      }
      if (!info->id) {
        // Notifications and responses are answered at once (202) and keep their order relative
        // to what follows: notifications/initialized reaches the server before the next request.
        post(line, *info);
        continue;
      }
      pool_.submit([this, message = std::move(line), info = std::move(*info)] { post(message, info); });
    }
    if (!pool_.wait_idle(kShutdownGrace)) spdlog::info("mcp: stdin closed; cancelling the requests still waiting");
    stop();
  }

  // Cancels everything under way, ends the session and joins the threads. Safe to call twice.
  void stop() {
    {
      std::lock_guard lock(mutex_);
      stopping_ = true;
      for (auto* canceller : in_flight_) canceller->cancel();
      if (stream_canceller_) stream_canceller_->cancel();
      stream_wakeup_.notify_all();
    }
    pool_.join();
    if (stream_thread_.joinable()) stream_thread_.join();
    end_session();
  }

  // From a signal: the reader may be blocked on stdin, which nothing interrupts, so the
  // session is ended and the process leaves at once.
  [[noreturn]] void stop_now() {
    {
      std::lock_guard lock(mutex_);
      stopping_ = true;
      for (auto* canceller : in_flight_) canceller->cancel();
      if (stream_canceller_) stream_canceller_->cancel();
    }
    end_session();
    std::fflush(stdout);
    std::_Exit(0);
  }

 private:
  struct SessionState {
    std::string id;
    std::string protocol_version;
  };

  SessionState session() const {
    std::lock_guard lock(mutex_);
    return session_;
  }

  std::map<std::string, std::string> headers(const SessionState& session, std::string_view accept) const {
    std::map<std::string, std::string> out{{"Authorization", "Bearer " + key_}, {"Accept", std::string(accept)}};
    if (!session.id.empty()) out["Mcp-Session-Id"] = session.id;
    if (!session.protocol_version.empty()) out["MCP-Protocol-Version"] = session.protocol_version;
    return out;
  }

  // POSTs one message under `session`, handing its answer to `relay` as it arrives.
  Result<client::HttpResponse> send(const std::string& message, const SessionState& session, ResponseRelay& relay) {
    auto request_headers = headers(session, "application/json, text/event-stream");
    request_headers["Content-Type"] = "application/json";
    client::StreamCanceller canceller;
    if (!track(&canceller)) return bridge_failure("the bridge is stopping");
    auto exchange = client::http_stream(
        endpoint_.host, endpoint_.port, "POST", endpoint_.target, message, request_headers,
        [&](const client::HttpResponse& head) { relay.on_head(head); },
        [&](std::string_view piece) { relay.on_body(piece); }, &canceller);
    untrack(&canceller);
    return exchange;
  }

  void post(const std::string& message, const MessageInfo& info) {
    ResponseRelay relay(out_, info);
    relay.finish(send(message, session(), relay));
  }

  // Sent without a session; its answer names the session and the protocol version that every
  // later request carries. A new initialize (after the old session expired) replaces both.
  void initialize(const std::string& message, const MessageInfo& info) {
    ResponseRelay relay(out_, info);
    auto exchange = send(message, {}, relay);
    relay.finish(exchange);
    if (!exchange || exchange->status < 200 || exchange->status >= 300) return;
    std::string protocol_version;
    json::error_code ec;
    auto answer = json::parse(relay.answer(), ec);
    if (!ec && answer.is_object()) {
      const auto* result = answer.as_object().if_contains("result");
      const auto* version = result && result->is_object() ? result->as_object().if_contains("protocolVersion") : nullptr;
      if (version && version->is_string()) protocol_version = std::string(version->as_string());
    }
    if (protocol_version.empty()) spdlog::warn("mcp: the initialize answer named no protocolVersion");
    start_session(relay.session_id(), protocol_version);
  }

  void start_session(const std::string& id, const std::string& protocol_version) {
    std::lock_guard lock(mutex_);
    if (stopping_) return;
    session_ = {id, protocol_version};
    if (stream_canceller_) stream_canceller_->cancel();  // reopen under the new session at once
    stream_wakeup_.notify_all();
    if (!stream_thread_.joinable()) stream_thread_ = std::thread([this] { follow_server_stream(); });
  }

  // The session's GET stream: server notifications (tools/list_changed, resources/updated) as
  // lines on stdout. Reopened after an end or a failure, 1 s … 30 s apart; a 405 means the
  // server offers none.
  void follow_server_stream() {
    auto delay = std::chrono::seconds(1);
    std::string last_event_id;
    for (;;) {
      auto canceller = std::make_shared<client::StreamCanceller>();
      SessionState state;
      {
        std::lock_guard lock(mutex_);
        if (stopping_) return;
        stream_canceller_ = canceller;
        state = session_;
      }
      auto request_headers = headers(state, "text/event-stream");
      if (!last_event_id.empty()) request_headers["Last-Event-ID"] = last_event_id;
      bool opened = false;
      SseParser sse;
      client::HttpResponse failed_head;
      std::string failed_body;
      auto exchange = client::http_stream(
          endpoint_.host, endpoint_.port, "GET", endpoint_.target, {}, request_headers,
          [&](const client::HttpResponse& head) {
            opened = head.status == 200 && header_starts_with(head, "content-type", "text/event-stream");
            if (!opened) failed_head = head;
          },
          [&](std::string_view piece) {
            if (!opened) {
              if (failed_body.size() < 4096) failed_body.append(piece);
              return;
            }
            sse.feed(piece, [&](SseParser::Event&& event) {
              if (!event.id.empty()) last_event_id = event.id;
              out_.write(one_line(std::move(event.data)));
            });
          },
          canceller.get());
      if (exchange && exchange->status == 405) {
        spdlog::info("mcp: the server offers no notification stream (GET {} answered 405)", endpoint_.target);
        return;
      }
      if (opened) delay = std::chrono::seconds(1);
      if (!exchange && !canceller->cancelled()) spdlog::warn("mcp: notification stream: {}", exchange.error().message);
      if (exchange && !opened) {
        failed_head.body = std::move(failed_body);
        spdlog::warn("mcp: notification stream refused: {}", describe_http_failure(failed_head));
      }
      if (canceller->cancelled()) continue;  // a new session, or stopping: no pause
      std::unique_lock lock(mutex_);
      const SessionState before = session_;
      stream_wakeup_.wait_for(lock, delay, [&] { return stopping_ || session_.id != before.id; });
      delay = std::min(delay * 2, std::chrono::duration_cast<std::chrono::seconds>(kMaxReconnectDelay));
    }
  }

  // DELETE <url>/mcp: the server ends the session and releases its claims. Once.
  void end_session() {
    if (session_ended_.exchange(true)) return;
    const SessionState state = session();
    if (state.id.empty()) return;
    auto response = client::http_request(endpoint_.host, endpoint_.port, "DELETE", endpoint_.target, {},
                                         headers(state, "application/json, text/event-stream"));
    if (!response) {
      spdlog::warn("mcp: ending the session failed: {}", response.error().message);
    } else if (response->status >= 300 && response->status != 404 && response->status != 405) {
      spdlog::warn("mcp: ending the session failed: {}", describe_http_failure(*response));
    }
  }

  // Registers an in-flight request so stop() can cancel it; false once stopping.
  bool track(client::StreamCanceller* canceller) {
    std::lock_guard lock(mutex_);
    if (stopping_) return false;
    in_flight_.insert(canceller);
    return true;
  }
  void untrack(client::StreamCanceller* canceller) {
    std::lock_guard lock(mutex_);
    in_flight_.erase(canceller);
  }

  const Endpoint endpoint_;
  const std::string key_;
  LineWriter out_;

  mutable std::mutex mutex_;  // guards everything below up to the pool
  SessionState session_;
  bool stopping_ = false;
  std::set<client::StreamCanceller*> in_flight_;
  std::shared_ptr<client::StreamCanceller> stream_canceller_;
  std::condition_variable stream_wakeup_;
  std::thread stream_thread_;

  std::atomic<bool> session_ended_{false};
  BoundedPool pool_;  // last: its threads use the members above
};

int run_bridge(const BridgeOptions& options) {
  auto endpoint = mcp_endpoint_of(options.api);
  if (!endpoint) return print_error(endpoint.error());
  // A closed stdout or a reset socket must fail a write, not kill the bridge.
  std::signal(SIGPIPE, SIG_IGN);
  // The stop signals go to one waiting thread only (blocked before any other thread starts).
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGTERM);
  sigaddset(&stop_signals, SIGHUP);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);

  spdlog::info("mcp: bridging stdio to {}", endpoint->describe());
  Bridge bridge(*endpoint, options.api.key, options.max_in_flight);
  // Detached: it waits for a signal that may never come; a signal ends the process from it.
  std::thread([&bridge, stop_signals] {
    int signal = 0;
    sigwait(&stop_signals, &signal);
    spdlog::info("mcp: stopping on signal {}", signal);
    bridge.stop_now();
  }).detach();
  bridge.run();
  return 0;
}

}  // namespace

void add_mcp_bridge_command(CLI::App& app) {
  auto options = std::make_shared<BridgeOptions>();
  auto* mcp_cmd = app.add_subcommand(
      "mcp", "MCP stdio server for agents: bridges newline-delimited JSON-RPC on stdin/stdout to the server's /mcp");
  add_api_target_options(*mcp_cmd, options->api);
  mcp_cmd->add_option("--max-in-flight", options->max_in_flight, "Requests sent at once; further ones wait")
      ->check(CLI::Range(1, 256))
      ->capture_default_str();
  mcp_cmd->callback([options] {
    if (const int exit_code = run_bridge(*options); exit_code != 0) throw CLI::RuntimeError(exit_code);
  });
}

}  // namespace ablo::cli
