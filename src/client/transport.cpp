// The client-side Beast translation unit: blocking HTTP requests and a WebSocket whose
// socket is owned by one background I/O thread (all socket operations run there).
#include "client/transport.h"

#include <array>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <thread>

#include <sys/socket.h>

#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/websocket.hpp>

#include "client/http_headers.h"

namespace ablo::client {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace websocket = beast::websocket;
using tcp = asio::ip::tcp;

namespace {

// A failure on the client's side of the wire. Its codes ("connection_failed",
// "handshake_failed") are never sent by the server, so they bypass the registry-checked ErrorCode.
tl::unexpected<Error> local_failure(std::string code, std::string message) {
  Error error;
  error.code = std::move(code);
  error.message = std::move(message);
  return tl::unexpected<Error>(std::move(error));
}

// What failed, for a person: Boost's system errors name their source file and function in
// what(); their code's message ("Connection refused") says it.
std::string failure_text(const std::exception& e) {
  if (const auto* system = dynamic_cast<const boost::system::system_error*>(&e)) return system->code().message();
  return e.what();
}

std::string join(const std::vector<std::string>& items) {
  std::string out;
  for (const auto& item : items) out += (out.empty() ? "" : ", ") + item;
  return out;
}

}  // namespace

namespace {

// One request on its own connection (Connection: close); a body is JSON unless `headers`
// name another Content-Type.
http::request<http::string_body> one_request(const std::string& host, uint16_t port, const std::string& method,
                                             const std::string& target, const std::string& body,
                                             const std::map<std::string, std::string>& headers) {
  http::request<http::string_body> request{http::string_to_verb(method), target, 11};
  request.set(http::field::host, host + ":" + std::to_string(port));
  request.set(http::field::connection, "close");
  if (!body.empty()) request.set(http::field::content_type, "application/json");
  for (const auto& [name, value] : headers) request.set(name, value);
  request.body() = body;
  request.prepare_payload();
  return request;
}

}  // namespace

Result<HttpResponse> http_request(const std::string& host, uint16_t port, const std::string& method,
                                  const std::string& target, const std::string& body,
                                  const std::map<std::string, std::string>& headers) {
  try {
    asio::io_context io;
    beast::tcp_stream stream(io);
    tcp::resolver resolver(io);
    stream.expires_after(std::chrono::seconds(30));
    stream.connect(resolver.resolve(host, std::to_string(port)));
    http::write(stream, one_request(host, port, method, target, body, headers));

    beast::flat_buffer buffer;
    http::response_parser<http::string_body> parser;
    parser.body_limit(64 * 1024 * 1024);
    if (method == "HEAD") parser.skip(true);
    http::read(stream, buffer, parser);
    auto& message = parser.get();
    HttpResponse response;
    response.status = static_cast<int>(message.result_int());
    response.headers = http_headers::lowercased(message);
    response.body = std::move(message.body());
    beast::error_code ec;
    stream.socket().shutdown(tcp::socket::shutdown_both, ec);
    return response;
  } catch (const std::exception& e) {
    return local_failure("connection_failed", std::string("HTTP ") + method + " " + target + ": " + failure_text(e));
  }
}

void StreamCanceller::cancel() {
  std::lock_guard lock(mutex_);
  cancelled_ = true;
  // shutdown(2) on the descriptor wakes a recv() blocked on it in another thread; the guard
  // below unregisters the descriptor under the same mutex before the socket closes, so it is
  // never a descriptor the process reused for something else.
  if (socket_fd_ >= 0) ::shutdown(socket_fd_, SHUT_RDWR);
}

bool StreamCanceller::cancelled() const {
  std::lock_guard lock(mutex_);
  return cancelled_;
}

// Registers a connected socket with a canceller for as long as the request reads from it.
struct StreamSocketGuard {
  StreamCanceller* canceller;

  StreamSocketGuard(StreamCanceller* c, tcp::socket& socket) : canceller(c) {
    if (!canceller) return;
    std::lock_guard lock(canceller->mutex_);
    canceller->socket_fd_ = socket.native_handle();
    if (canceller->cancelled_) ::shutdown(canceller->socket_fd_, SHUT_RDWR);
  }
  ~StreamSocketGuard() {
    if (!canceller) return;
    std::lock_guard lock(canceller->mutex_);
    canceller->socket_fd_ = -1;
  }
  StreamSocketGuard(const StreamSocketGuard&) = delete;
  StreamSocketGuard& operator=(const StreamSocketGuard&) = delete;
};

Result<HttpResponse> http_stream(const std::string& host, uint16_t port, const std::string& method,
                                 const std::string& target, const std::string& body,
                                 const std::map<std::string, std::string>& headers,
                                 const std::function<void(const HttpResponse& head)>& on_head,
                                 const std::function<void(std::string_view piece)>& on_body,
                                 StreamCanceller* canceller) {
  try {
    if (canceller && canceller->cancelled()) return local_failure("connection_failed", "cancelled");
    asio::io_context io;
    tcp::socket socket(io);
    tcp::resolver resolver(io);
    asio::connect(socket, resolver.resolve(host, std::to_string(port)));
    StreamSocketGuard guard(canceller, socket);
    http::write(socket, one_request(host, port, method, target, body, headers));

    beast::flat_buffer buffer;
    http::response_parser<http::buffer_body> parser;
    parser.body_limit(boost::none);  // a stream's length is unbounded; pieces are handed on, not kept
    http::read_header(socket, buffer, parser);
    HttpResponse head;
    head.status = static_cast<int>(parser.get().result_int());
    head.headers = http_headers::lowercased(parser.get());
    on_head(head);

    std::array<char, 16 * 1024> piece{};
    while (!parser.is_done()) {
      parser.get().body().data = piece.data();
      parser.get().body().size = piece.size();
      beast::error_code ec;
      // read_some, not read: read would wait for the piece to fill, holding back an event.
      http::read_some(socket, buffer, parser, ec);
      if (ec == http::error::need_buffer) ec = {};  // the piece is full: hand it on, read on
      if (ec) throw beast::system_error(ec);
      const std::size_t filled = piece.size() - parser.get().body().size;
      if (filled > 0) on_body(std::string_view(piece.data(), filled));
    }
    beast::error_code ec;
    socket.shutdown(tcp::socket::shutdown_both, ec);
    return head;
  } catch (const std::exception& e) {
    const bool cancelled = canceller && canceller->cancelled();
    return local_failure("connection_failed", std::string("HTTP ") + method + " " + target + ": " +
                                                  (cancelled ? "cancelled" : failure_text(e)));
  }
}

struct WsConnection::Impl {
  asio::io_context io;
  websocket::stream<beast::tcp_stream> ws{io};
  std::thread thread;
  std::string selected;
  beast::flat_buffer read_buffer;

  std::mutex mutex;  // guards everything below
  std::condition_variable arrived;
  std::deque<std::string> inbox;
  bool is_closed = false;
  int peer_close_code = 0;
  std::string peer_close_reason;

  std::function<void(std::string&&)> handler;  // guarded by mutex
  std::deque<std::string> outbox;  // I/O thread only
  bool writing = false;            // I/O thread only

  void mark_closed(int code, std::string reason = {}) {
    std::lock_guard lock(mutex);
    is_closed = true;
    if (code) peer_close_code = code;
    if (!reason.empty()) peer_close_reason = std::move(reason);
    arrived.notify_all();
  }

  void read_loop() {
    ws.async_read(read_buffer, [this](beast::error_code ec, std::size_t) {
      if (ec) {
        const bool by_peer = ec == websocket::error::closed;
        mark_closed(by_peer ? ws.reason().code : 0, by_peer ? std::string(ws.reason().reason.c_str()) : std::string());
        return;
      }
      std::function<void(std::string&&)> deliver;
      {
        std::lock_guard lock(mutex);
        deliver = handler;
        if (!deliver) inbox.push_back(beast::buffers_to_string(read_buffer.data()));
      }
      if (deliver) {
        deliver(beast::buffers_to_string(read_buffer.data()));
      } else {
        arrived.notify_all();
      }
      read_buffer.consume(read_buffer.size());
      read_loop();
    });
  }

  void write_next() {
    if (writing || outbox.empty()) return;
    writing = true;
    ws.text(true);
    ws.async_write(asio::buffer(outbox.front()), [this](beast::error_code ec, std::size_t) {
      outbox.pop_front();
      writing = false;
      if (ec) {
        mark_closed(0);
        return;
      }
      write_next();
    });
  }
};

Result<std::unique_ptr<WsConnection>> WsConnection::connect(const std::string& host, uint16_t port,
                                                            const std::string& target,
                                                            const std::vector<std::string>& subprotocols) {
  auto impl = std::make_unique<Impl>();
  websocket::response_type response;
  try {
    tcp::resolver resolver(impl->io);
    beast::get_lowest_layer(impl->ws).expires_after(std::chrono::seconds(30));
    beast::get_lowest_layer(impl->ws).connect(resolver.resolve(host, std::to_string(port)));
    beast::get_lowest_layer(impl->ws).expires_never();
    const std::string offered = join(subprotocols);
    impl->ws.set_option(websocket::stream_base::decorator([offered](websocket::request_type& req) {
      if (!offered.empty()) req.set(http::field::sec_websocket_protocol, offered);
    }));
    impl->ws.read_message_max(64 * 1024 * 1024);
    impl->ws.handshake(response, host + ":" + std::to_string(port), target);
  } catch (const beast::system_error& e) {
    if (response.result_int() != 0 && response.result() != http::status::switching_protocols) {
      return local_failure("handshake_failed", "upgrade refused with HTTP " + std::to_string(response.result_int()) + ": " +
                                          response.body());
    }
    return local_failure("handshake_failed", std::string("WebSocket connect failed: ") + failure_text(e));
  }
  impl->selected = std::string(response[http::field::sec_websocket_protocol]);
  Impl* raw = impl.get();
  raw->read_loop();
  raw->thread = std::thread([raw] { raw->io.run(); });
  return std::unique_ptr<WsConnection>(new WsConnection(std::move(impl)));
}

WsConnection::WsConnection(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

WsConnection::~WsConnection() { close(); }

const std::string& WsConnection::selected_subprotocol() const { return impl_->selected; }

void WsConnection::send_text(std::string text) {
  asio::post(impl_->io, [impl = impl_.get(), text = std::move(text)]() mutable {
    impl->outbox.push_back(std::move(text));
    impl->write_next();
  });
}

void WsConnection::set_frame_handler(std::function<void(std::string&&)> handler) {
  std::lock_guard lock(impl_->mutex);
  impl_->handler = std::move(handler);
}

std::optional<std::string> WsConnection::receive(std::chrono::milliseconds timeout) {
  std::unique_lock lock(impl_->mutex);
  impl_->arrived.wait_for(lock, timeout, [&] { return !impl_->inbox.empty() || impl_->is_closed; });
  if (impl_->inbox.empty()) return std::nullopt;
  std::string frame = std::move(impl_->inbox.front());
  impl_->inbox.pop_front();
  return frame;
}

bool WsConnection::closed() const {
  std::lock_guard lock(impl_->mutex);
  return impl_->is_closed;
}

int WsConnection::close_code() const {
  std::lock_guard lock(impl_->mutex);
  return impl_->peer_close_code;
}

std::string WsConnection::close_reason() const {
  std::lock_guard lock(impl_->mutex);
  return impl_->peer_close_reason;
}

void WsConnection::close() {
  if (!impl_ || !impl_->thread.joinable()) return;
  asio::post(impl_->io, [impl = impl_.get()] {
    if (!impl->ws.is_open()) {
      impl->mark_closed(0);
      impl->io.stop();
      return;
    }
    impl->ws.async_close(websocket::close_code::normal, [impl](beast::error_code) {
      impl->mark_closed(0);
      impl->io.stop();
    });
  });
  // A peer that never answers the close must not hang us: stop after a grace period.
  std::thread watchdog([impl = impl_.get()] {
    std::unique_lock lock(impl->mutex);
    impl->arrived.wait_for(lock, std::chrono::seconds(2), [&] { return impl->is_closed; });
  });
  watchdog.join();
  impl_->io.stop();
  impl_->thread.join();
}

}  // namespace ablo::client
