// The asynchronous client transport (issue 16): an HTTP call is a chain of
// completion handlers on a private strand (resolve → connect → write → head →
// body pieces), raced by a deadline timer and Cancel; the WebSocket is a small
// phase machine on the caller's executor.
#include "client/async_transport.h"

#include <algorithm>
#include <array>
#include <charconv>
#include <deque>

#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/websocket.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/value.hpp>

#include "client/http_headers.h"

namespace ablo::client {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace websocket = beast::websocket;
using tcp = asio::ip::tcp;

// Named (not only anonymous) namespace: unity builds put other translation
// units' helpers next to these.
namespace async_transport_detail {

// Codes are set directly (as transport.cpp does): the client-surface ones are
// not ErrorCodes.
Error transport_error(std::string_view code, std::string message) {
  Error error;
  error.code = std::string(code);
  error.message = std::move(message);
  return error;
}
tl::unexpected<Error> transport_failure(std::string_view code, std::string message) {
  return tl::unexpected<Error>(transport_error(code, std::move(message)));
}

std::string host_header(const std::string &host, uint16_t port) {
  const bool ipv6 = host.find(':') != std::string::npos;
  return (ipv6 ? "[" + host + "]" : host) + ":" + std::to_string(port);
}

http::request<http::string_body> wire_request_of(const HttpTarget &where, const HttpRequest &request) {
  http::request<http::string_body> wire{http::string_to_verb(request.method), request.target, 11};
  if (wire.method() == http::verb::unknown) wire.method_string(request.method);
  wire.set(http::field::host, host_header(where.host, where.port));
  wire.set(http::field::connection, "close");
  if (!request.body.empty()) wire.set(http::field::content_type, "application/json");
  for (const auto &header : request.headers) wire.set(header.first, header.second);
  wire.body() = request.body;
  wire.prepare_payload();
  return wire;
}

// The code and message of a server error envelope (protocol.md §5.2); empty
// when the body is not one.
struct EnvelopeFields {
  std::string code;
  std::string message;
};
EnvelopeFields envelope_fields(std::string_view body) {
  boost::system::error_code ec;
  const boost::json::value parsed = boost::json::parse(body, ec);
  EnvelopeFields out;
  if (ec || !parsed.is_object()) return out;
  const auto &top = parsed.as_object();
  const auto *error = top.if_contains("error");
  if (const auto *code = top.if_contains("code"); code && code->is_string()) {
    out.code = std::string(code->as_string());
  } else if (error && error->is_object()) {
    if (const auto *nested = error->as_object().if_contains("code"); nested && nested->is_string())
      out.code = std::string(nested->as_string());
  } else if (error && error->is_string()) {
    out.code = std::string(error->as_string());
  }
  if (error && error->is_object()) {
    if (const auto *message = error->as_object().if_contains("message"); message && message->is_string())
      out.message = std::string(message->as_string());
  }
  if (out.message.empty()) {
    if (const auto *message = top.if_contains("message"); message && message->is_string())
      out.message = std::string(message->as_string());
  }
  return out;
}

// A refused upgrade: the server's own code when its body names one (kept
// verbatim: a wire code this build may not know), else kTransportFailed;
// status, raw body and request id in details.
Error refused_upgrade_error(const websocket::response_type &response) {
  const int status = static_cast<int>(response.result_int());
  const EnvelopeFields fields = envelope_fields(response.body());
  Error error =
      transport_error(async_codes::kTransportFailed, "WebSocket upgrade refused with HTTP " + std::to_string(status));
  if (!fields.code.empty()) error.code = fields.code;
  if (!fields.message.empty()) error.message = fields.message;
  error.details["httpStatus"] = status;
  error.details["body"] = response.body();
  if (auto it = response.find("x-request-id"); it != response.end())
    error.details["requestId"] = std::string(it->value());
  return error;
}

}  // namespace async_transport_detail

Result<HttpTarget> HttpTarget::from_url(std::string_view url) {
  constexpr std::string_view kScheme = "http://";
  if (url.substr(0, 8) == "https://")
    return async_transport_detail::transport_failure(
        async_codes::kInvalidOptions, "https is not supported yet (plain http only): " + std::string(url));
  if (url.substr(0, kScheme.size()) != kScheme)
    return async_transport_detail::transport_failure(async_codes::kInvalidOptions,
                                                     "base URL must start with http://: " + std::string(url));
  std::string_view authority = url.substr(kScheme.size());
  authority = authority.substr(0, authority.find_first_of("/?#"));
  if (authority.find('@') != std::string_view::npos)
    return async_transport_detail::transport_failure(async_codes::kInvalidOptions,
                                                     "base URL must not carry credentials: " + std::string(url));
  HttpTarget target;
  std::string_view port_text;
  if (!authority.empty() && authority.front() == '[') {  // [v6]:port
    const auto close = authority.find(']');
    if (close == std::string_view::npos)
      return async_transport_detail::transport_failure(async_codes::kInvalidOptions,
                                                       "bad IPv6 host in " + std::string(url));
    target.host = std::string(authority.substr(1, close - 1));
    const std::string_view rest = authority.substr(close + 1);
    if (!rest.empty() && rest.front() != ':')
      return async_transport_detail::transport_failure(async_codes::kInvalidOptions, "bad host in " + std::string(url));
    if (!rest.empty()) port_text = rest.substr(1);
  } else {
    const auto colon = authority.find(':');
    target.host = std::string(authority.substr(0, colon));
    if (colon != std::string_view::npos) port_text = authority.substr(colon + 1);
  }
  if (target.host.empty())
    return async_transport_detail::transport_failure(async_codes::kInvalidOptions,
                                                     "base URL has no host: " + std::string(url));
  if (!port_text.empty()) {
    unsigned port = 0;
    const auto [end, ec] = std::from_chars(port_text.data(), port_text.data() + port_text.size(), port);
    if (ec != std::errc() || end != port_text.data() + port_text.size() || port == 0 || port > 65535)
      return async_transport_detail::transport_failure(async_codes::kInvalidOptions,
                                                       "bad port in base URL: " + std::string(url));
    target.port = static_cast<uint16_t>(port);
  }
  return target;
}

// ---------------------------------------------------------------------------------------------
// HTTP

namespace async_transport_detail {

constexpr std::size_t kPieceBytes = 64 * 1024;
constexpr std::uint32_t kHeaderLimit = 64 * 1024;

class HttpCall : public std::enable_shared_from_this<HttpCall> {
 public:
  HttpCall(asio::any_io_executor ex, HttpTarget where, HttpRequest request,
           std::function<Status(const HttpResponse &)> on_head, std::function<Status(std::string_view)> on_body,
           std::function<void(Result<HttpResponse>)> done)
      : completion_ex_(ex),
        strand_(asio::make_strand(ex)),
        resolver_(strand_),
        stream_(strand_),
        deadline_(strand_),
        where_(std::move(where)),
        request_(std::move(request)),
        on_head_(std::move(on_head)),
        on_body_(std::move(on_body)),
        done_(std::move(done)) {}

  void start() {
    asio::post(strand_, [self = shared_from_this()] { self->begin(); });
  }

  // Posted by Cancel: ends the call unless its outcome is already decided.
  void cancel() {
    asio::post(strand_, [self = shared_from_this()] {
      if (self->decided_) return;
      self->cancelled_ = true;
      self->abort_io();
    });
  }

 private:
  std::string what() const { return "HTTP " + request_.method + " " + request_.target; }

  void begin() {
    if (cancelled_) return decide(halt_error());
    if (request_.timeout.count() <= 0)
      return decide(
          async_transport_detail::transport_failure(async_codes::kInvalidRequest, what() + ": timeout must be > 0"));
    wire_request_ = wire_request_of(where_, request_);
    parser_.body_limit(request_.max_body_bytes);
    parser_.header_limit(kHeaderLimit);
    if (request_.method == "HEAD") parser_.skip(true);
    deadline_.expires_after(request_.timeout);
    deadline_.async_wait([self = shared_from_this()](beast::error_code ec) {
      if (ec || self->decided_) return;
      self->timed_out_ = true;
      self->abort_io();
    });
    resolver_.async_resolve(where_.host, std::to_string(where_.port),
                            [self = shared_from_this()](beast::error_code ec, tcp::resolver::results_type results) {
                              self->on_resolved(ec, std::move(results));
                            });
  }

  bool halted() const { return cancelled_ || timed_out_; }

  tl::unexpected<Error> halt_error() const {
    if (cancelled_) return transport_failure(async_codes::kCancelled, what() + ": cancelled");
    return transport_failure(async_codes::kTimedOut, what() + ": no complete response within " +
                                                         std::to_string(request_.timeout.count()) + " ms");
  }

  // The outcome of a failed step: cancellation and the deadline take precedence
  // over the socket error they caused.
  void fail_step(beast::error_code ec, std::string_view step) {
    if (halted()) return decide(halt_error());
    if (ec == http::error::body_limit)
      return decide(transport_failure(
          async_codes::kBodyTooLarge,
          what() + ": response body larger than " + std::to_string(request_.max_body_bytes) + " bytes"));
    decide(transport_failure(async_codes::kTransportFailed, what() + ": " + std::string(step) + ": " + ec.message()));
  }

  void on_resolved(beast::error_code ec, tcp::resolver::results_type results) {
    if (ec || halted()) return fail_step(ec, "resolve " + where_.host);
    stream_.async_connect(results, [self = shared_from_this()](beast::error_code ec, const tcp::endpoint &) {
      if (ec || self->halted()) return self->fail_step(ec, "connect");
      http::async_write(self->stream_, self->wire_request_, [self](beast::error_code ec, std::size_t) {
        if (ec || self->halted()) return self->fail_step(ec, "write");
        self->read_head();
      });
    });
  }

  void read_head() {
    http::async_read_header(stream_, buffer_, parser_, [self = shared_from_this()](beast::error_code ec, std::size_t) {
      if (ec || self->halted()) return self->fail_step(ec, "read");
      self->head_.status = static_cast<int>(self->parser_.get().result_int());
      self->head_.headers = http_headers::lowercased(self->parser_.get());
      if (self->on_head_) {
        if (Status accepted = self->on_head_(self->head_); !accepted)
          return self->decide(tl::unexpected(accepted.error()));
      }
      self->read_body();
    });
  }

  void read_body() {
    if (parser_.is_done()) return decide(head_);
    parser_.get().body().data = piece_.data();
    parser_.get().body().size = piece_.size();
    http::async_read_some(stream_, buffer_, parser_, [self = shared_from_this()](beast::error_code ec, std::size_t) {
      if (ec == http::error::need_buffer) ec = {};  // the piece is full: hand it on, read on
      if (ec || self->halted()) return self->fail_step(ec, "read");
      const std::size_t filled = self->piece_.size() - self->parser_.get().body().size;
      if (filled > 0 && self->on_body_) {
        if (Status taken = self->on_body_(std::string_view(self->piece_.data(), filled)); !taken)
          return self->decide(tl::unexpected(taken.error()));
      }
      self->read_body();
    });
  }

  void abort_io() {
    resolver_.cancel();
    beast::error_code ignored;
    stream_.socket().cancel(ignored);
    stream_.socket().close(ignored);
  }

  // Decides the outcome once: stops the timer and the socket, posts `done` to
  // the caller's executor.
  void decide(Result<HttpResponse> outcome) {
    if (decided_) return;
    decided_ = true;
    deadline_.cancel();
    abort_io();
    on_head_ = nullptr;
    on_body_ = nullptr;
    asio::post(completion_ex_,
               [done = std::move(done_), outcome = std::move(outcome)]() mutable { done(std::move(outcome)); });
  }

  asio::any_io_executor completion_ex_;
  asio::strand<asio::any_io_executor> strand_;
  tcp::resolver resolver_;
  beast::tcp_stream stream_;
  asio::steady_timer deadline_;
  HttpTarget where_;
  HttpRequest request_;
  http::request<http::string_body> wire_request_;
  beast::flat_buffer buffer_;
  http::response_parser<http::buffer_body> parser_;
  std::array<char, kPieceBytes> piece_{};
  HttpResponse head_;
  std::function<Status(const HttpResponse &)> on_head_;
  std::function<Status(std::string_view)> on_body_;
  std::function<void(Result<HttpResponse>)> done_;
  bool decided_ = false;
  bool cancelled_ = false;
  bool timed_out_ = false;
};

// Does not own the call: a finished call is freed even while its Cancel is
// still held.
class HttpCallCancel final : public Cancel {
 public:
  explicit HttpCallCancel(std::weak_ptr<HttpCall> call) : call_(std::move(call)) {}
  void cancel() override {
    if (auto call = call_.lock()) call->cancel();
  }

 private:
  std::weak_ptr<HttpCall> call_;
};

}  // namespace async_transport_detail

std::shared_ptr<Cancel> async_http_stream(asio::any_io_executor ex, HttpTarget where, HttpRequest request,
                                          std::function<Status(const HttpResponse &head)> on_head,
                                          std::function<Status(std::string_view piece)> on_body,
                                          std::function<void(Result<HttpResponse>)> done) {
  auto call = std::make_shared<async_transport_detail::HttpCall>(
      ex, std::move(where), std::move(request), std::move(on_head), std::move(on_body), std::move(done));
  call->start();
  return std::make_shared<async_transport_detail::HttpCallCancel>(call);
}

std::shared_ptr<Cancel> async_http(asio::any_io_executor ex, HttpTarget where, HttpRequest request,
                                   std::function<void(Result<HttpResponse>)> done) {
  // The body collects here; the parser's body_limit bounds it.
  auto body = std::make_shared<std::string>();
  auto collect = [body](std::string_view piece) -> Status {
    body->append(piece);
    return {};
  };
  auto finish = [body, done = std::move(done)](Result<HttpResponse> outcome) {
    if (outcome) outcome->body = std::move(*body);
    done(std::move(outcome));
  };
  return async_http_stream(ex, std::move(where), std::move(request), nullptr, std::move(collect), std::move(finish));
}

std::shared_ptr<Cancel> async_http(asio::any_io_executor ex, HttpTarget where, std::string method, std::string target,
                                   std::string body, std::map<std::string, std::string> headers,
                                   std::chrono::milliseconds timeout, std::function<void(Result<HttpResponse>)> done) {
  HttpRequest request;
  request.method = std::move(method);
  request.target = std::move(target);
  request.body = std::move(body);
  request.headers = std::move(headers);
  request.timeout = timeout;
  return async_http(ex, std::move(where), std::move(request), std::move(done));
}

// ---------------------------------------------------------------------------------------------
// WebSocket

struct AsyncWs::State : std::enable_shared_from_this<AsyncWs::State> {
  enum class Phase { kIdle, kConnecting, kOpen, kClosing, kEnded };

  State(asio::any_io_executor executor, WsOptions opts)
      : ex(executor), options(opts), resolver(executor), ws(executor), timer(executor) {}

  asio::any_io_executor ex;
  WsOptions options;
  tcp::resolver resolver;
  websocket::stream<beast::tcp_stream> ws;
  asio::steady_timer timer;  // the connect deadline, later the close grace period

  Phase phase = Phase::kIdle;
  bool user_closed = false;  // close() was called: no handler runs any more
  bool connect_timed_out = false;
  std::string host_port;
  std::string target;
  std::chrono::milliseconds connect_timeout{0};
  websocket::response_type upgrade_response;
  std::string selected;
  std::optional<Error> failure;

  std::function<void(Status)> on_open;
  std::function<void(std::string &&)> on_frame;
  std::function<void(int, std::string)> on_close;

  beast::flat_buffer read_buffer;
  std::deque<std::string> queue;  // front() is being written while `writing`
  std::size_t queued_bytes = 0;
  bool writing = false;
  int close_code = 1000;
  std::string close_reason;

  void abort_socket() {
    resolver.cancel();
    beast::get_lowest_layer(ws).close();
  }

  // Handlers often capture their owner, which holds this object: drop them once
  // they cannot run, after the handler now running (if any) has returned.
  void release_handlers_later() {
    asio::post(ex, [self = shared_from_this()] {
      self->on_open = nullptr;
      self->on_frame = nullptr;
      self->on_close = nullptr;
    });
  }

  // --- connect
  // -------------------------------------------------------------------------------

  void start_connect(const std::string &host, uint16_t port, std::vector<std::string> subprotocols) {
    host_port = async_transport_detail::host_header(host, port);
    std::string offered;
    for (const auto &protocol : subprotocols) offered += (offered.empty() ? "" : ", ") + protocol;
    ws.set_option(websocket::stream_base::decorator([offered](websocket::request_type &request) {
      if (!offered.empty()) request.set(http::field::sec_websocket_protocol, offered);
    }));
    ws.read_message_max(options.max_message_bytes);
    timer.expires_after(connect_timeout);
    timer.async_wait([self = shared_from_this()](beast::error_code ec) {
      if (ec || self->phase != Phase::kConnecting) return;
      self->connect_timed_out = true;
      self->abort_socket();
    });
    resolver.async_resolve(host, std::to_string(port),
                           [self = shared_from_this()](beast::error_code ec, tcp::resolver::results_type results) {
                             if (self->connect_step_failed(ec, "resolve")) return;
                             beast::get_lowest_layer(self->ws).async_connect(
                                 results, [self](beast::error_code ec, const tcp::endpoint &) {
                                   if (self->connect_step_failed(ec, "connect")) return;
                                   self->ws.async_handshake(self->upgrade_response, self->host_port, self->target,
                                                            [self](beast::error_code ec) { self->on_handshake(ec); });
                                 });
                           });
  }

  // True when the connect must stop here (and reports why, unless close()
  // abandoned it).
  bool connect_step_failed(beast::error_code ec, std::string_view step) {
    if (user_closed || phase != Phase::kConnecting) return true;
    if (connect_timed_out) {
      open_failed(async_transport_detail::transport_error(
          async_codes::kTimedOut, "WebSocket connect to " + host_port + target + ": no handshake within " +
                                      std::to_string(connect_timeout.count()) + " ms"));
      return true;
    }
    if (!ec) return false;
    const int status = static_cast<int>(upgrade_response.result_int());
    if (status != 0 && status != 101) {
      open_failed(async_transport_detail::refused_upgrade_error(upgrade_response));
    } else {
      open_failed(async_transport_detail::transport_error(
          async_codes::kTransportFailed,
          "WebSocket " + std::string(step) + " " + host_port + target + ": " + ec.message()));
    }
    return true;
  }

  void open_failed(Error error) {
    phase = Phase::kEnded;
    failure = error;
    timer.cancel();
    abort_socket();
    if (auto callback = std::move(on_open)) callback(tl::unexpected(std::move(error)));
    release_handlers_later();
  }

  void on_handshake(beast::error_code ec) {
    if (connect_step_failed(ec, "handshake")) return;
    timer.cancel();
    phase = Phase::kOpen;
    if (auto it = upgrade_response.find(http::field::sec_websocket_protocol); it != upgrade_response.end())
      selected = std::string(it->value());
    if (auto callback = std::move(on_open)) callback(Status{});
    if (phase == Phase::kOpen) read_next();  // on_open may have closed it
  }

  // --- open
  // ----------------------------------------------------------------------------------

  void read_next() {
    ws.async_read(read_buffer, [self = shared_from_this()](beast::error_code ec, std::size_t) { self->on_read(ec); });
  }

  void on_read(beast::error_code ec) {
    if (user_closed || phase == Phase::kEnded) return;
    if (ec == websocket::error::closed) {
      const int code = ws.reason().code == websocket::close_code::none ? 1005 : static_cast<int>(ws.reason().code);
      return end(code, std::string(ws.reason().reason.c_str()), std::nullopt);
    }
    if (ec == websocket::error::message_too_big) {
      return end(1006, "inbound message too big",
                 async_transport_detail::transport_error(
                     async_codes::kBodyTooLarge,
                     "WebSocket message larger than " + std::to_string(options.max_message_bytes) + " bytes"));
    }
    if (ec)
      return end(
          1006, ec.message(),
          async_transport_detail::transport_error(async_codes::kTransportFailed, "WebSocket read: " + ec.message()));
    std::string frame = beast::buffers_to_string(read_buffer.data());
    read_buffer.consume(read_buffer.size());
    if (on_frame) on_frame(std::move(frame));
    if (phase == Phase::kOpen) read_next();
  }

  // The connection ended without close(): the close handler runs once, posted
  // so that it never runs inside a call of the caller's (send) and is skipped
  // if close() comes first.
  void end(int code, std::string reason, std::optional<Error> why) {
    if (phase == Phase::kEnded) return;
    phase = Phase::kEnded;
    failure = std::move(why);
    timer.cancel();
    abort_socket();
    asio::post(ex, [self = shared_from_this(), code, reason = std::move(reason)]() mutable {
      if (!self->user_closed && self->on_close) {
        auto callback = std::move(self->on_close);
        callback(code, std::move(reason));
      }
    });
    release_handlers_later();
  }

  Status enqueue(std::string text) {
    if (phase != Phase::kOpen) {
      if (failure) return tl::unexpected(*failure);
      return async_transport_detail::transport_failure(async_codes::kNotOpen, "WebSocket is not open");
    }
    if (queue.size() >= options.max_queued_frames || queued_bytes + text.size() > options.max_queued_bytes) {
      Error overflow = async_transport_detail::transport_error(
          async_codes::kQueueOverflow, "WebSocket write queue full: " + std::to_string(queue.size()) + " frames, " +
                                           std::to_string(queued_bytes) + " bytes queued");
      end(1006, "write queue overflow", overflow);
      return tl::unexpected(std::move(overflow));
    }
    queued_bytes += text.size();
    queue.push_back(std::move(text));
    write_next();
    return {};
  }

  void write_next() {
    if (writing || queue.empty()) return;
    writing = true;
    ws.text(true);
    ws.async_write(asio::buffer(queue.front()),
                   [self = shared_from_this()](beast::error_code ec, std::size_t) { self->on_written(ec); });
  }

  void on_written(beast::error_code ec) {
    writing = false;
    queued_bytes -= queue.front().size();
    queue.pop_front();
    if (ec) {
      if (phase == Phase::kOpen && !user_closed)
        end(1006, ec.message(),
            async_transport_detail::transport_error(async_codes::kTransportFailed, "WebSocket write: " + ec.message()));
      if (phase == Phase::kClosing) hard_close();
      return;
    }
    if (phase != Phase::kOpen && phase != Phase::kClosing) return;
    if (!queue.empty()) return write_next();
    if (phase == Phase::kClosing) start_close_handshake();
  }

  // --- close
  // ---------------------------------------------------------------------------------

  void close(int code, std::string reason) {
    user_closed = true;
    switch (phase) {
      case Phase::kIdle:
        phase = Phase::kEnded;
        break;
      case Phase::kConnecting:
        phase = Phase::kEnded;
        timer.cancel();
        abort_socket();
        break;
      case Phase::kOpen:
        phase = Phase::kClosing;
        close_code = code;
        close_reason = std::move(reason);
        if (close_reason.size() > 123) close_reason.resize(123);  // RFC 6455: the reason fits a control frame
        timer.expires_after(options.close_timeout);
        timer.async_wait([self = shared_from_this()](beast::error_code ec) {
          if (!ec) self->hard_close();
        });
        if (!writing) start_close_handshake();  // else on_written drains the queue first
        break;
      case Phase::kClosing:
      case Phase::kEnded:
        return;
    }
    release_handlers_later();
  }

  void start_close_handshake() {
    ws.async_close(websocket::close_reason(static_cast<websocket::close_code>(close_code), close_reason),
                   [self = shared_from_this()](beast::error_code) { self->hard_close(); });
  }

  void hard_close() {
    if (phase == Phase::kEnded) return;
    phase = Phase::kEnded;
    timer.cancel();
    abort_socket();
  }
};

std::shared_ptr<AsyncWs> AsyncWs::create(asio::any_io_executor ex, WsOptions options) {
  return std::shared_ptr<AsyncWs>(new AsyncWs(std::make_shared<State>(ex, options)));
}

AsyncWs::AsyncWs(std::shared_ptr<State> state) : state_(std::move(state)) {}

AsyncWs::~AsyncWs() {
  if (!state_ || state_->user_closed) return;  // closed by its owner (on the executor): nothing to do
  asio::post(state_->ex, [state = state_] { state->close(1001, "going away"); });
}

void AsyncWs::set_frame_handler(std::function<void(std::string &&)> handler) { state_->on_frame = std::move(handler); }

void AsyncWs::set_close_handler(std::function<void(int code, std::string reason)> handler) {
  state_->on_close = std::move(handler);
}

void AsyncWs::connect(std::string host, uint16_t port, std::string target, std::vector<std::string> subprotocols,
                      std::chrono::milliseconds timeout, std::function<void(Status)> on_open) {
  State &state = *state_;
  if (state.phase != State::Phase::kIdle || timeout.count() <= 0) {
    const std::string why = timeout.count() <= 0 ? "timeout must be > 0" : "connect() may be called once";
    asio::post(state.ex, [on_open = std::move(on_open), why] {
      on_open(async_transport_detail::transport_failure(async_codes::kInvalidRequest, "AsyncWs: " + why));
    });
    return;
  }
  state.phase = State::Phase::kConnecting;
  state.target = std::move(target);
  state.connect_timeout = timeout;
  state.on_open = std::move(on_open);
  state.start_connect(host, port, std::move(subprotocols));
}

Status AsyncWs::send(std::string text) { return state_->enqueue(std::move(text)); }

void AsyncWs::close(int code, std::string reason) { state_->close(code, std::move(reason)); }

bool AsyncWs::is_open() const { return state_->phase == State::Phase::kOpen; }

const std::string &AsyncWs::selected_subprotocol() const { return state_->selected; }

const std::optional<Error> &AsyncWs::failure() const { return state_->failure; }

std::size_t AsyncWs::queued_frames() const { return state_->queue.size(); }

}  // namespace ablo::client
