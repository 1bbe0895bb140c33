// client/async_transport against an in-process Beast server on 127.0.0.1:0: HTTP requests
// (headers, bodies, timeout, refused, cancel, size bound, streaming, many at once on one
// thread) and the WebSocket (open/echo, subprotocol, close codes, refused upgrade, a peer that
// vanishes mid-frame, write-queue overflow, pings, the close() guarantee).
#include "client/async_transport.h"

#include <gtest/gtest.h>
#include <sys/socket.h>

#include <atomic>
#include <condition_variable>
#include <filesystem>
#include <fstream>
#include <list>
#include <mutex>
#include <set>
#include <sstream>
#include <thread>

#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/websocket.hpp>
#include <boost/json/parse.hpp>

#include "support/loopback_port.h"
#include "support/tcp_proxy.h"

namespace ablo::client {
namespace async_transport_test {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace websocket = beast::websocket;
using tcp = asio::ip::tcp;
using namespace std::chrono_literals;

constexpr std::size_t kBigBody = 1 << 20;

// A blocking server, one thread per connection. Routes:
//   GET /hello  200 "hello" with x-request-id and Date      POST /echo  the body and what it got
//   GET /slow   answers after 5 s (or at shutdown)           GET /big    1 MiB body
//   GET /truncated  hangs up in the middle of its body
//   WS /ws      echo; "close:<code>" closes with it; "vanish" sends half a frame and drops the socket;
//               "later" sends "late" after 100 ms and closes 4002;
//               "ping" pings and answers "pong-seen" once the pong arrived; "big:<n>" sends n bytes
//   WS /denied  401 with an error envelope
class TestServer {
 public:
  TestServer() : acceptor_(io_, tcp::endpoint(asio::ip::address_v4::loopback(), 0)) {
    accept_thread_ = std::thread([this] { accept_loop(); });
  }
  ~TestServer() {
    {
      std::lock_guard lock(mutex_);
      stopping_ = true;
      for (int fd : open_fds_) ::shutdown(fd, SHUT_RDWR);
    }
    stopped_.notify_all();
    ::shutdown(acceptor_.native_handle(), SHUT_RDWR);
    accept_thread_.join();
    for (auto& worker : workers_) worker.join();
  }
  uint16_t port() const { return acceptor_.local_endpoint().port(); }

 private:
  void accept_loop() {
    for (;;) {
      auto socket = std::make_shared<tcp::socket>(io_);
      boost::system::error_code ec;
      acceptor_.accept(*socket, ec);
      std::lock_guard lock(mutex_);
      if (ec || stopping_) return;
      open_fds_.push_back(socket->native_handle());
      workers_.emplace_back([this, socket] { serve(*socket); });
    }
  }

  // Waits up to `limit` unless the server is stopping.
  void pause(std::chrono::milliseconds limit) {
    std::unique_lock lock(mutex_);
    stopped_.wait_for(lock, limit, [this] { return stopping_; });
  }

  void serve(tcp::socket& socket) {
    beast::flat_buffer buffer;
    http::request<http::string_body> request;
    boost::system::error_code ec;
    http::read(socket, buffer, request, ec);
    if (ec) return;
    if (websocket::is_upgrade(request)) return serve_websocket(socket, request);
    http::response<http::string_body> response{http::status::ok, 11};
    const std::string target(request.target());
    if (target == "/truncated") {  // announces 100 bytes, sends 9, hangs up
      asio::write(socket, asio::buffer(std::string("HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n123456789")), ec);
      socket.shutdown(tcp::socket::shutdown_both, ec);
      return;
    }
    if (target == "/hello") {
      response.set("X-Request-Id", "req-1");
      response.set(http::field::date, "Sun, 29 Nov 2026 23:00:00 GMT");
      response.body() = "hello";
    } else if (target == "/echo") {
      response.set("X-Method", request.method_string());
      response.set("X-Got-Header", request["x-test"]);
      response.set(http::field::content_type, request[http::field::content_type]);
      response.body() = request.body();
    } else if (target == "/slow") {
      pause(5s);
      response.body() = "late";
    } else if (target == "/big") {
      response.body() = std::string(kBigBody, 'x');
    } else {
      response.result(http::status::not_found);
    }
    response.prepare_payload();
    http::write(socket, response, ec);
    socket.shutdown(tcp::socket::shutdown_both, ec);
  }

  void serve_websocket(tcp::socket& socket, const http::request<http::string_body>& request) {
    boost::system::error_code ec;
    if (request.target() == "/denied") {
      http::response<http::string_body> refusal{http::status::unauthorized, 11};
      refusal.set("X-Request-Id", "req-denied");
      refusal.set(http::field::content_type, "application/json");
      refusal.body() = R"({"error":{"type":"authentication_error","code":"apikey_invalid","message":"bad key"}})";
      refusal.prepare_payload();
      http::write(socket, refusal, ec);
      return;
    }
    websocket::stream<tcp::socket&> ws(socket);
    const std::string offered(request[http::field::sec_websocket_protocol]);
    ws.set_option(websocket::stream_base::decorator([offered](websocket::response_type& response) {
      if (offered.find("ablo-v2") != std::string::npos) response.set(http::field::sec_websocket_protocol, "ablo-v2");
    }));
    bool pong_seen = false;
    ws.control_callback([&pong_seen](websocket::frame_type kind, beast::string_view) {
      if (kind == websocket::frame_type::pong) pong_seen = true;
    });
    ws.accept(request, ec);
    if (ec) return;
    for (;;) {
      beast::flat_buffer buffer;
      ws.read(buffer, ec);
      if (ec) return;
      const std::string text = beast::buffers_to_string(buffer.data());
      if (text.rfind("close:", 0) == 0) {
        const auto code = static_cast<std::uint16_t>(std::stoi(text.substr(6)));
        ws.close(websocket::close_reason(static_cast<websocket::close_code>(code), "bye"), ec);
        return;
      }
      if (text == "vanish") {
        const unsigned char half_frame[] = {0x81, 100, 'p', 'a', 'r', 't'};  // announces 100 bytes, sends 4
        asio::write(socket, asio::buffer(half_frame), ec);
        socket.shutdown(tcp::socket::shutdown_both, ec);
        socket.close(ec);
        return;
      }
      if (text == "later") {  // answers after the client has surely stopped writing, then closes
        pause(100ms);
        ws.write(asio::buffer(std::string("late")), ec);
        ws.close(websocket::close_reason(static_cast<websocket::close_code>(4002), "later"), ec);
        return;
      }
      if (text == "ping") {
        ws.ping("p", ec);
        while (!pong_seen && !ec) {  // the pong is read by the next read; the client sends "after-ping" then
          beast::flat_buffer next;
          ws.read(next, ec);
        }
        ws.write(asio::buffer(std::string("pong-seen")), ec);
        continue;
      }
      if (text.rfind("big:", 0) == 0) {
        ws.write(asio::buffer(std::string(std::stoul(text.substr(4)), 'b')), ec);
        continue;
      }
      ws.text(true);
      ws.write(asio::buffer(text), ec);
    }
  }

  asio::io_context io_;
  tcp::acceptor acceptor_;
  std::thread accept_thread_;
  std::mutex mutex_;
  std::condition_variable stopped_;
  bool stopping_ = false;
  std::vector<int> open_fds_;
  std::list<std::thread> workers_;
};

// A port nothing listens on: from below the ephemeral range, where no other test's server
// (bound to port 0) can be listening by the time it is used.
uint16_t closed_port() { return static_cast<uint16_t>(ablo::testing::free_loopback_port_below_ephemeral_range()); }

class AsyncTransportTest : public ::testing::Test {
 protected:
  // Runs the io_context on this thread until `done()` or the limit.
  bool run_until(const std::function<bool()>& done, std::chrono::milliseconds limit = 5s) {
    const auto deadline = std::chrono::steady_clock::now() + limit;
    while (!done() && std::chrono::steady_clock::now() < deadline) {
      io_.run_for(5ms);
      if (io_.stopped()) io_.restart();
    }
    return done();
  }
  void run_for(std::chrono::milliseconds span) {
    run_until([] { return false; }, span);
  }

  HttpTarget server_target() const { return HttpTarget{"127.0.0.1", server_.port()}; }

  TestServer server_;
  asio::io_context io_;
};

// --- HTTP ------------------------------------------------------------------------------------

TEST_F(AsyncTransportTest, GetReturnsStatusLowercasedHeadersAndBody) {
  std::optional<Result<HttpResponse>> result;
  async_http(io_.get_executor(), server_target(), "GET", "/hello", "", {}, 2s,
             [&](Result<HttpResponse> r) { result = std::move(r); });
  ASSERT_TRUE(run_until([&] { return result.has_value(); }));
  ASSERT_TRUE(*result) << result->error().message;
  EXPECT_EQ((*result)->status, 200);
  EXPECT_EQ((*result)->body, "hello");
  EXPECT_EQ((*result)->headers.at("x-request-id"), "req-1");
  EXPECT_EQ((*result)->headers.at("date"), "Sun, 29 Nov 2026 23:00:00 GMT");
  EXPECT_EQ((*result)->headers.count("X-Request-Id"), 0u);
}

TEST_F(AsyncTransportTest, PostSendsBodyAndHeaders) {
  std::optional<Result<HttpResponse>> result;
  async_http(io_.get_executor(), server_target(), "POST", "/echo", R"({"a":1})", {{"X-Test", "yes"}}, 2s,
             [&](Result<HttpResponse> r) { result = std::move(r); });
  ASSERT_TRUE(run_until([&] { return result.has_value(); }));
  ASSERT_TRUE(*result) << result->error().message;
  EXPECT_EQ((*result)->body, R"({"a":1})");
  EXPECT_EQ((*result)->headers.at("x-method"), "POST");
  EXPECT_EQ((*result)->headers.at("x-got-header"), "yes");
  EXPECT_EQ((*result)->headers.at("content-type"), "application/json");
}

TEST_F(AsyncTransportTest, NotFoundIsAResponseNotAnError) {
  std::optional<Result<HttpResponse>> result;
  async_http(io_.get_executor(), server_target(), "GET", "/nothing", "", {}, 2s,
             [&](Result<HttpResponse> r) { result = std::move(r); });
  ASSERT_TRUE(run_until([&] { return result.has_value(); }));
  ASSERT_TRUE(*result);
  EXPECT_EQ((*result)->status, 404);
}

TEST_F(AsyncTransportTest, DeadlineFailsWithTimedOutCode) {
  std::optional<Result<HttpResponse>> result;
  const auto started = std::chrono::steady_clock::now();
  async_http(io_.get_executor(), server_target(), "GET", "/slow", "", {}, 200ms,
             [&](Result<HttpResponse> r) { result = std::move(r); });
  ASSERT_TRUE(run_until([&] { return result.has_value(); }));
  ASSERT_FALSE(*result);
  EXPECT_EQ(result->error().code, async_codes::kTimedOut);
  EXPECT_LT(std::chrono::steady_clock::now() - started, 2s);
}

TEST_F(AsyncTransportTest, RefusedConnectionFailsWithTransportCode) {
  std::optional<Result<HttpResponse>> result;
  async_http(io_.get_executor(), HttpTarget{"127.0.0.1", closed_port()}, "GET", "/", "", {}, 2s,
             [&](Result<HttpResponse> r) { result = std::move(r); });
  ASSERT_TRUE(run_until([&] { return result.has_value(); }));
  ASSERT_FALSE(*result);
  EXPECT_EQ(result->error().code, async_codes::kTransportFailed);
  EXPECT_NE(result->error().message.find("connect"), std::string::npos) << result->error().message;
}

TEST_F(AsyncTransportTest, CancelCompletesExactlyOnceWithCancelledCode) {
  int calls = 0;
  std::optional<Result<HttpResponse>> result;
  auto cancel =
      async_http(io_.get_executor(), server_target(), "GET", "/slow", "", {}, 3s, [&](Result<HttpResponse> r) {
        ++calls;
        result = std::move(r);
      });
  run_for(100ms);
  EXPECT_EQ(calls, 0);
  std::thread([cancel] { cancel->cancel(); }).join();  // from another thread
  ASSERT_TRUE(run_until([&] { return result.has_value(); }, 1s));
  cancel->cancel();
  run_for(200ms);
  EXPECT_EQ(calls, 1);
  ASSERT_FALSE(*result);
  EXPECT_EQ(result->error().code, async_codes::kCancelled);
}

TEST_F(AsyncTransportTest, CancelAfterCompletionChangesNothing) {
  int calls = 0;
  auto cancel =
      async_http(io_.get_executor(), server_target(), "GET", "/hello", "", {}, 2s, [&](Result<HttpResponse> r) {
        ++calls;
        EXPECT_TRUE(r);
      });
  ASSERT_TRUE(run_until([&] { return calls == 1; }));
  cancel->cancel();
  run_for(100ms);
  EXPECT_EQ(calls, 1);
}

TEST_F(AsyncTransportTest, OversizedBodyFailsInsteadOfGrowing) {
  std::optional<Result<HttpResponse>> result;
  HttpRequest request;
  request.target = "/big";
  request.timeout = 2s;
  request.max_body_bytes = 64 * 1024;
  async_http(io_.get_executor(), server_target(), request, [&](Result<HttpResponse> r) { result = std::move(r); });
  ASSERT_TRUE(run_until([&] { return result.has_value(); }));
  ASSERT_FALSE(*result);
  EXPECT_EQ(result->error().code, async_codes::kBodyTooLarge);

  result.reset();
  request.max_body_bytes = kBigBody;  // exactly the limit is fine
  async_http(io_.get_executor(), server_target(), request, [&](Result<HttpResponse> r) { result = std::move(r); });
  ASSERT_TRUE(run_until([&] { return result.has_value(); }));
  ASSERT_TRUE(*result) << result->error().message;
  EXPECT_EQ((*result)->body.size(), kBigBody);
}

TEST_F(AsyncTransportTest, StreamHandsTheBodyOverInPiecesAfterTheHead) {
  std::optional<Result<HttpResponse>> result;
  int heads = 0;
  std::size_t pieces = 0, bytes = 0;
  bool body_before_head = false;
  HttpRequest request;
  request.target = "/big";
  async_http_stream(
      io_.get_executor(), server_target(), request,
      [&](const HttpResponse& head) -> Status {
        ++heads;
        EXPECT_EQ(head.status, 200);
        EXPECT_EQ(head.headers.at("content-length"), std::to_string(kBigBody));
        return {};
      },
      [&](std::string_view piece) -> Status {
        if (heads == 0) body_before_head = true;
        ++pieces;
        bytes += piece.size();
        EXPECT_EQ(piece.find_first_not_of('x'), std::string_view::npos);
        return {};
      },
      [&](Result<HttpResponse> r) { result = std::move(r); });
  ASSERT_TRUE(run_until([&] { return result.has_value(); }));
  ASSERT_TRUE(*result) << result->error().message;
  EXPECT_EQ(heads, 1);
  EXPECT_FALSE(body_before_head);
  EXPECT_GT(pieces, 1u);
  EXPECT_EQ(bytes, kBigBody);
  EXPECT_TRUE((*result)->body.empty());
}

TEST_F(AsyncTransportTest, StreamConsumerErrorEndsTheCall) {
  std::optional<Result<HttpResponse>> result;
  int pieces = 0;
  HttpRequest request;
  request.target = "/big";
  async_http_stream(
      io_.get_executor(), server_target(), request, nullptr,
      [&](std::string_view) -> Status {
        ++pieces;
        return fail("bootstrap_response_invalid", "not JSON");
      },
      [&](Result<HttpResponse> r) { result = std::move(r); });
  ASSERT_TRUE(run_until([&] { return result.has_value(); }));
  run_for(100ms);
  EXPECT_EQ(pieces, 1);
  ASSERT_FALSE(*result);
  EXPECT_EQ(result->error().message, "not JSON");
}

TEST_F(AsyncTransportTest, ManyConcurrentRequestsOnOneThread) {
  constexpr int kRequests = 64;
  std::vector<std::optional<Result<HttpResponse>>> results(kRequests);
  int finished = 0;
  for (int i = 0; i < kRequests; ++i) {
    async_http(io_.get_executor(), server_target(), "POST", "/echo", "request-" + std::to_string(i), {}, 5s,
               [&results, &finished, i](Result<HttpResponse> r) {
                 results[i] = std::move(r);
                 ++finished;
               });
  }
  ASSERT_TRUE(run_until([&] { return finished == kRequests; }, 10s));
  for (int i = 0; i < kRequests; ++i) {
    ASSERT_TRUE(*results[i]) << results[i]->error().message;
    EXPECT_EQ((*results[i])->body, "request-" + std::to_string(i));
  }
}

TEST_F(AsyncTransportTest, NonPositiveTimeoutIsRejected) {
  std::optional<Result<HttpResponse>> result;
  async_http(io_.get_executor(), server_target(), "GET", "/hello", "", {}, 0ms,
             [&](Result<HttpResponse> r) { result = std::move(r); });
  EXPECT_FALSE(result.has_value());  // never completes inside the call
  ASSERT_TRUE(run_until([&] { return result.has_value(); }));
  ASSERT_FALSE(*result);
  EXPECT_EQ(result->error().code, async_codes::kInvalidRequest);
}

TEST_F(AsyncTransportTest, PeerHangingUpMidBodyIsATransportFailure) {
  std::optional<Result<HttpResponse>> result;
  async_http(io_.get_executor(), server_target(), "GET", "/truncated", "", {}, 2s,
             [&](Result<HttpResponse> r) { result = std::move(r); });
  ASSERT_TRUE(run_until([&] { return result.has_value(); }));
  ASSERT_FALSE(*result);
  EXPECT_EQ(result->error().code, async_codes::kTransportFailed);
}

TEST_F(AsyncTransportTest, HeadReadsNoBody) {
  std::optional<Result<HttpResponse>> result;
  async_http(io_.get_executor(), server_target(), "HEAD", "/hello", "", {}, 2s,
             [&](Result<HttpResponse> r) { result = std::move(r); });
  ASSERT_TRUE(run_until([&] { return result.has_value(); }));
  ASSERT_TRUE(*result) << result->error().message;
  EXPECT_EQ((*result)->status, 200);
  EXPECT_EQ((*result)->headers.at("content-length"), "5");
  EXPECT_TRUE((*result)->body.empty());
}

TEST(HttpTargetTest, ParsesHttpUrlsAndRefusesOthers) {
  auto plain = HttpTarget::from_url("http://127.0.0.1:8787/api");
  ASSERT_TRUE(plain);
  EXPECT_EQ(plain->host, "127.0.0.1");
  EXPECT_EQ(plain->port, 8787);
  auto default_port = HttpTarget::from_url("http://example.com");
  ASSERT_TRUE(default_port);
  EXPECT_EQ(default_port->port, 80);
  auto v6 = HttpTarget::from_url("http://[::1]:9000");
  ASSERT_TRUE(v6);
  EXPECT_EQ(v6->host, "::1");
  EXPECT_EQ(v6->port, 9000);
  for (const char* bad : {"https://127.0.0.1:8787", "ws://h:1", "http://", "http://h:0", "http://h:70000", "http://h:x",
                          "http://user@h:1"}) {
    auto refused = HttpTarget::from_url(bad);
    ASSERT_FALSE(refused) << bad;
    EXPECT_EQ(refused.error().code, async_codes::kInvalidOptions) << bad;
  }
}

// --- WebSocket -------------------------------------------------------------------------------

struct WsEvents {
  std::optional<Status> opened;
  std::vector<std::string> frames;
  int closes = 0;
  int close_code = 0;
  std::string close_reason;
};

std::shared_ptr<AsyncWs> open_socket(asio::io_context& io, uint16_t port, const std::string& target, WsEvents& events,
                                     WsOptions options = {}) {
  auto ws = AsyncWs::create(io.get_executor(), options);
  ws->set_frame_handler([&events](std::string&& frame) { events.frames.push_back(std::move(frame)); });
  ws->set_close_handler([&events](int code, std::string reason) {
    ++events.closes;
    events.close_code = code;
    events.close_reason = std::move(reason);
  });
  ws->connect("127.0.0.1", port, target, {"ablo-v1", "ablo-v2"}, 2s, [&events](Status s) { events.opened = s; });
  return ws;
}

TEST_F(AsyncTransportTest, WebSocketOpensEchoesAndClosesQuietly) {
  WsEvents events;
  auto ws = open_socket(io_, server_.port(), "/ws", events);
  ASSERT_TRUE(run_until([&] { return events.opened.has_value(); }));
  ASSERT_TRUE(*events.opened) << events.opened->error().message;
  EXPECT_TRUE(ws->is_open());
  EXPECT_EQ(ws->selected_subprotocol(), "ablo-v2");
  ASSERT_TRUE(ws->send("one"));
  ASSERT_TRUE(ws->send("two"));
  ASSERT_TRUE(run_until([&] { return events.frames.size() == 2; }));
  EXPECT_EQ(events.frames, (std::vector<std::string>{"one", "two"}));
  ws->close(1000, "done");
  EXPECT_FALSE(ws->is_open());
  run_for(200ms);
  EXPECT_EQ(events.closes, 0);  // close() never reports back
  auto late = ws->send("three");
  ASSERT_FALSE(late);
  EXPECT_EQ(late.error().code, async_codes::kNotOpen);
}

TEST_F(AsyncTransportTest, WebSocketReportsThePeersCloseCodeOnce) {
  WsEvents events;
  auto ws = open_socket(io_, server_.port(), "/ws", events);
  ASSERT_TRUE(run_until([&] { return events.opened.has_value(); }));
  ASSERT_TRUE(ws->send("close:4001"));
  ASSERT_TRUE(run_until([&] { return events.closes > 0; }));
  run_for(100ms);
  EXPECT_EQ(events.closes, 1);
  EXPECT_EQ(events.close_code, 4001);
  EXPECT_EQ(events.close_reason, "bye");
  EXPECT_FALSE(ws->failure().has_value());
  EXPECT_FALSE(ws->is_open());
}

TEST_F(AsyncTransportTest, WebSocketRefusalCarriesStatusBodyAndTheServersCode) {
  WsEvents events;
  auto ws = open_socket(io_, server_.port(), "/denied", events);
  ASSERT_TRUE(run_until([&] { return events.opened.has_value(); }));
  ASSERT_FALSE(*events.opened);
  const Error& error = events.opened->error();
  EXPECT_EQ(error.code, "apikey_invalid");
  EXPECT_EQ(error.message, "bad key");
  EXPECT_EQ(error.details.at("httpStatus").as_int64(), 401);
  EXPECT_NE(std::string(error.details.at("body").as_string()).find("apikey_invalid"), std::string::npos);
  EXPECT_EQ(error.details.at("requestId").as_string(), "req-denied");
  run_for(100ms);
  EXPECT_EQ(events.closes, 0);  // never opened: no close event
}

TEST_F(AsyncTransportTest, WebSocketConnectFailuresReportOnce) {
  WsEvents refused;
  auto a = open_socket(io_, closed_port(), "/ws", refused);
  ASSERT_TRUE(run_until([&] { return refused.opened.has_value(); }));
  ASSERT_FALSE(*refused.opened);
  EXPECT_EQ(refused.opened->error().code, async_codes::kTransportFailed);

  // A listener that never answers the upgrade: the connect deadline ends it.
  tcp::acceptor silent(io_, tcp::endpoint(asio::ip::address_v4::loopback(), 0));
  WsEvents timed_out;
  auto b = AsyncWs::create(io_.get_executor());
  b->connect("127.0.0.1", silent.local_endpoint().port(), "/ws", {}, 200ms,
             [&timed_out](Status s) { timed_out.opened = s; });
  ASSERT_TRUE(run_until([&] { return timed_out.opened.has_value(); }, 3s));
  ASSERT_FALSE(*timed_out.opened);
  EXPECT_EQ(timed_out.opened->error().code, async_codes::kTimedOut);
}

TEST_F(AsyncTransportTest, WebSocketCloseBeforeOpenSuppressesOnOpen) {
  WsEvents events;
  auto ws = open_socket(io_, server_.port(), "/ws", events);
  ws->close();
  run_for(300ms);
  EXPECT_FALSE(events.opened.has_value());
  EXPECT_EQ(events.closes, 0);
}

TEST_F(AsyncTransportTest, WebSocketPeerVanishingMidFrameIsAnAbnormalClose) {
  WsEvents events;
  auto ws = open_socket(io_, server_.port(), "/ws", events);
  ASSERT_TRUE(run_until([&] { return events.opened.has_value(); }));
  ASSERT_TRUE(ws->send("vanish"));
  ASSERT_TRUE(run_until([&] { return events.closes > 0; }));
  run_for(100ms);
  EXPECT_EQ(events.closes, 1);
  EXPECT_EQ(events.close_code, 1006);
  EXPECT_TRUE(events.frames.empty());  // half a frame is no frame
  ASSERT_TRUE(ws->failure().has_value());
  EXPECT_EQ(ws->failure()->code, async_codes::kTransportFailed);
}

TEST_F(AsyncTransportTest, WebSocketWriteQueueOverflowFailsTheConnection) {
  WsEvents events;
  WsOptions options;
  options.max_queued_frames = 4;
  auto ws = open_socket(io_, server_.port(), "/ws", events, options);
  ASSERT_TRUE(run_until([&] { return events.opened.has_value(); }));
  // All sends happen within one handler: the first write cannot complete before it returns.
  std::vector<Status> sends;
  for (int i = 0; i < 10; ++i) sends.push_back(ws->send("frame-" + std::to_string(i)));
  for (int i = 0; i < 4; ++i) EXPECT_TRUE(sends[i]) << i;
  ASSERT_FALSE(sends[4]);
  EXPECT_EQ(sends[4].error().code, async_codes::kQueueOverflow);
  for (int i = 5; i < 10; ++i) EXPECT_FALSE(sends[i]) << i;  // the connection is failed
  EXPECT_EQ(events.closes, 0);                               // reported later, not inside send()
  ASSERT_TRUE(run_until([&] { return events.closes > 0; }));
  run_for(100ms);
  EXPECT_EQ(events.closes, 1);
  EXPECT_EQ(events.close_code, 1006);
  ASSERT_TRUE(ws->failure().has_value());
  EXPECT_EQ(ws->failure()->code, async_codes::kQueueOverflow);
}

TEST_F(AsyncTransportTest, WebSocketNoHandlerRunsAfterCloseReturned) {
  WsEvents events;
  auto ws = open_socket(io_, server_.port(), "/ws", events);
  ASSERT_TRUE(run_until([&] { return events.opened.has_value(); }));
  ASSERT_TRUE(ws->send("later"));
  ASSERT_TRUE(run_until([&] { return ws->queued_frames() == 0; }));
  // The server answers and closes meanwhile; none of it is read before close().
  std::this_thread::sleep_for(400ms);
  ws->close();
  run_for(300ms);
  EXPECT_TRUE(events.frames.empty());
  EXPECT_EQ(events.closes, 0);
}

TEST_F(AsyncTransportTest, WebSocketAnswersPings) {
  WsEvents events;
  auto ws = open_socket(io_, server_.port(), "/ws", events);
  ASSERT_TRUE(run_until([&] { return events.opened.has_value(); }));
  ASSERT_TRUE(ws->send("ping"));
  run_for(100ms);
  ASSERT_TRUE(ws->send("after-ping"));  // lets the server's read loop see the pong
  ASSERT_TRUE(run_until([&] { return !events.frames.empty(); }));
  EXPECT_EQ(events.frames.front(), "pong-seen");
}

TEST_F(AsyncTransportTest, WebSocketMessageAboveTheBoundFailsTheConnection) {
  WsEvents events;
  WsOptions options;
  options.max_message_bytes = 1024;
  auto ws = open_socket(io_, server_.port(), "/ws", events, options);
  ASSERT_TRUE(run_until([&] { return events.opened.has_value(); }));
  ASSERT_TRUE(ws->send("big:512"));
  ASSERT_TRUE(ws->send("big:4096"));
  ASSERT_TRUE(run_until([&] { return events.closes > 0; }));
  ASSERT_EQ(events.frames.size(), 1u);
  EXPECT_EQ(events.frames[0].size(), 512u);
  ASSERT_TRUE(ws->failure().has_value());
  EXPECT_EQ(ws->failure()->code, async_codes::kBodyTooLarge);
}

TEST_F(AsyncTransportTest, RequestsOnAMultiThreadedExecutorCompleteOnItsThreads) {
  asio::io_context pool;
  auto work = asio::make_work_guard(pool);
  std::vector<std::thread> threads;
  for (int i = 0; i < 2; ++i) threads.emplace_back([&pool] { pool.run(); });
  std::mutex mutex;
  std::condition_variable all_done;
  std::set<std::thread::id> completion_threads;
  int succeeded = 0, finished = 0;
  constexpr int kRequests = 32;
  for (int i = 0; i < kRequests; ++i) {
    async_http(pool.get_executor(), server_target(), "POST", "/echo", std::to_string(i), {}, 5s,
               [&, i](Result<HttpResponse> r) {
                 std::lock_guard lock(mutex);
                 completion_threads.insert(std::this_thread::get_id());
                 if (r && r->body == std::to_string(i)) ++succeeded;
                 ++finished;
                 all_done.notify_all();
               });
  }
  {
    std::unique_lock lock(mutex);
    all_done.wait_for(lock, 10s, [&] { return finished == kRequests; });
  }
  const std::set<std::thread::id> pool_threads{threads[0].get_id(), threads[1].get_id()};
  work.reset();
  pool.stop();
  for (auto& thread : threads) thread.join();
  EXPECT_EQ(succeeded, kRequests);
  ASSERT_FALSE(completion_threads.empty());
  for (const auto& id : completion_threads) EXPECT_EQ(pool_threads.count(id), 1u);
}

TEST_F(AsyncTransportTest, WebSocketThroughTheFaultProxy) {
  testing::TcpProxy proxy(server_.port());
  WsEvents events;
  auto ws = open_socket(io_, proxy.port(), "/ws", events);
  ASSERT_TRUE(run_until([&] { return events.opened.has_value(); }));
  ASSERT_TRUE(*events.opened);
  ASSERT_TRUE(ws->send(R"({"type":"ack","lastSyncId":7})"));
  ASSERT_TRUE(run_until([&] { return events.frames.size() == 1; }));
  // The proxy saw the masked frame and decodes it.
  const auto captured = proxy.captured_upstream();
  ASSERT_EQ(captured.size(), 1u);
  EXPECT_EQ(testing::TcpProxy::websocket_client_texts(captured[0]),
            (std::vector<std::string>{R"({"type":"ack","lastSyncId":7})"}));
  // Silence: nothing comes back, the socket stays open.
  proxy.blackhole();
  ASSERT_TRUE(ws->send("unanswered"));
  run_for(300ms);
  EXPECT_EQ(events.frames.size(), 1u);
  EXPECT_TRUE(ws->is_open());
  // A cut connection is an abnormal close.
  proxy.cut();
  ASSERT_TRUE(run_until([&] { return events.closes > 0; }));
  EXPECT_EQ(events.close_code, 1006);
  ASSERT_TRUE(ws->failure().has_value());
  EXPECT_EQ(ws->failure()->code, async_codes::kTransportFailed);
}

TEST_F(AsyncTransportTest, WebSocketCloseAgainstASilentPeerEndsAfterTheGracePeriod) {
  testing::TcpProxy proxy(server_.port());
  WsEvents events;
  WsOptions options;
  options.close_timeout = 300ms;
  auto ws = open_socket(io_, proxy.port(), "/ws", events, options);
  ASSERT_TRUE(run_until([&] { return events.opened.has_value(); }));
  ASSERT_TRUE(*events.opened);
  proxy.blackhole();  // the close frame goes nowhere, no answer comes
  ws->close(1000, "bye");
  const auto started = std::chrono::steady_clock::now();
  ASSERT_TRUE(run_until([&] { return proxy.open_connections() == 0; }, 3s));  // our side hung up
  EXPECT_GE(std::chrono::steady_clock::now() - started, 250ms);
  EXPECT_EQ(events.closes, 0);
}

// Every code the transport raises is a code of the 0.9.1 registry (wire or client surface).
TEST(AsyncTransportCodesTest, AreAllInTheRegistry) {
  const auto path = std::filesystem::path(ABLO_SOURCE_DIR).parent_path() / "shared/reference/errors-0.9.1.json";
  std::ifstream file(path);
  if (!file) GTEST_SKIP() << "no " << path;
  std::stringstream text;
  text << file.rdbuf();
  std::set<std::string> registry;
  const boost::json::value parsed =
      boost::json::parse(text.str());  // named: a range-for would not extend a temporary's life
  for (const auto& entry : parsed.at("codes").as_array()) registry.insert(std::string(entry.at("code").as_string()));
  ASSERT_GT(registry.size(), 100u);
  for (std::string_view code : {async_codes::kTransportFailed, async_codes::kTimedOut, async_codes::kCancelled,
                                async_codes::kBodyTooLarge, async_codes::kQueueOverflow, async_codes::kNotOpen,
                                async_codes::kInvalidOptions, async_codes::kInvalidRequest}) {
    EXPECT_EQ(registry.count(std::string(code)), 1u) << code;
  }
}

}  // namespace async_transport_test
}  // namespace ablo::client
