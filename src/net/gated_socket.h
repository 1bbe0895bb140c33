#pragma once
// The TCP socket under a WebSocket session, shared by two writers that must never interleave.
//
// Why: the session writes its frames itself (server frames are unmasked, so one encoded frame
// is the same bytes for every subscriber, and a write is one non-blocking send() straight from
// the shared buffers) instead of through Beast's write operation, whose per-write machinery was
// most of the fan-out's user-space CPU (docs/performance.md). Beast still reads the socket, and its
// reads write on their own: the pong to a ping, the reply to a close, the keep-alive ping, the
// close the session asks for, the 101 of the handshake. Those writes reach the socket through
// async_write_some below (Beast's next layer is this class), so the gate sees both writers:
//  * a Beast write is written whole before anything else goes out on the socket (Beast writes a
//    control frame with one async_write_some call; its composed async_write sees it done);
//  * a Beast write that arrives while the session's write is in flight waits for it (deferred),
//    and the session starts no write while a Beast write is in flight or waiting (can_write_own);
//    it asks to be resumed (resume_own_when_free) and is called when the Beast write completes.
// Threading: none of its own. Everything here runs on the socket's event loop thread (IoLoop),
// where Beast's operations on the stream and the session's writes both run.
#include <cstddef>
#include <functional>
#include <memory>
#include <type_traits>
#include <utility>

#include <boost/asio/associator.hpp>
#include <boost/asio/async_result.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/error.hpp>
#include <boost/beast/core/role.hpp>
#include <boost/beast/websocket/teardown.hpp>

namespace ablo::net {

class GatedSocket {
 public:
  using socket_type = boost::asio::ip::tcp::socket;
  using executor_type = socket_type::executor_type;
  using next_layer_type = socket_type;

  explicit GatedSocket(socket_type&& socket) : socket_(std::move(socket)) {}

  executor_type get_executor() noexcept { return socket_.get_executor(); }
  socket_type& next_layer() noexcept { return socket_; }
  const socket_type& next_layer() const noexcept { return socket_; }

  template <class MutableBuffers, class Token>
  auto async_read_some(const MutableBuffers& buffers, Token&& token) {
    return socket_.async_read_some(buffers, std::forward<Token>(token));
  }

  // Beast's writes: whole, and never into the middle of the session's write.
  template <class ConstBuffers, class Token>
  auto async_write_some(const ConstBuffers& buffers, Token&& token) {
    return boost::asio::async_initiate<Token, void(boost::beast::error_code, std::size_t)>(
        [this](auto handler, const ConstBuffers& buffers) {
          using Handler = decltype(handler);
          if (own_in_flight_) {
            deferred_ = std::make_unique<DeferredWrite<ConstBuffers, Handler>>(buffers, std::move(handler));
            return;
          }
          start_beast_write(buffers, std::move(handler));
        },
        token, buffers);
  }

  // The session's side. It may write while this is true; its write must then be wholly on the
  // socket (a complete send, or begin_own ... end_own around the asynchronous rest) before it
  // asks again.
  bool can_write_own() const { return !beast_in_flight_ && !deferred_; }
  void begin_own() { own_in_flight_ = true; }
  // The session's asynchronous write completed: a Beast write that waited goes now.
  void end_own() {
    own_in_flight_ = false;
    if (deferred_) std::exchange(deferred_, nullptr)->start(*this);
  }
  // Posted once, when the Beast write in flight (or waiting) completes. It must not own the
  // session (which owns this gate): capture a weak pointer.
  void resume_own_when_free(std::function<void()> resume) { resume_ = std::move(resume); }

 private:
  struct Deferred {
    virtual ~Deferred() = default;
    virtual void start(GatedSocket& gate) = 0;
  };
  // A Beast write that waits, with its handler's own type (so its associated executor and
  // allocator are kept).
  template <class ConstBuffers, class Handler>
  struct DeferredWrite final : Deferred {
    DeferredWrite(const ConstBuffers& buffers, Handler&& handler) : buffers(buffers), handler(std::move(handler)) {}
    void start(GatedSocket& gate) override { gate.start_beast_write(buffers, std::move(handler)); }
    ConstBuffers buffers;
    Handler handler;
  };

 public:
  // Completes a Beast write: opens the gate, posts the session's resume if it waits, then runs
  // Beast's handler (which may start its next write; the resumed session then finds the gate
  // shut and asks again). Public only for Asio's associator below.
  template <class Handler>
  struct BeastWriteDone {
    Handler handler;
    GatedSocket* gate;
    void operator()(boost::beast::error_code ec, std::size_t bytes) {
      gate->beast_in_flight_ = false;
      // Posted, not called: Beast's handler may start its next write first (the session then
      // asks again), and may end the session, and this gate with it, so it runs last.
      if (gate->resume_) boost::asio::post(gate->socket_.get_executor(), std::exchange(gate->resume_, nullptr));
      std::move(handler)(ec, bytes);
    }
  };

 private:
  template <class ConstBuffers, class Handler>
  void start_beast_write(const ConstBuffers& buffers, Handler&& handler) {
    beast_in_flight_ = true;
    boost::asio::async_write(socket_, buffers,
                             BeastWriteDone<std::decay_t<Handler>>{std::forward<Handler>(handler), this});
  }

  socket_type socket_;
  bool own_in_flight_ = false;     // the session's asynchronous write is out
  bool beast_in_flight_ = false;   // a Beast write is out
  std::unique_ptr<Deferred> deferred_;  // a Beast write waiting for the session's
  std::function<void()> resume_;        // the session, waiting for Beast's write
};

// Beast's close handshake ends with a teardown of its next layer (found by argument-dependent
// lookup): the TCP socket's.
inline void teardown(boost::beast::role_type role, GatedSocket& socket, boost::beast::error_code& ec) {
  boost::beast::websocket::teardown(role, socket.next_layer(), ec);
}
template <class TeardownHandler>
void async_teardown(boost::beast::role_type role, GatedSocket& socket, TeardownHandler&& handler) {
  boost::beast::websocket::async_teardown(role, socket.next_layer(), std::forward<TeardownHandler>(handler));
}

}  // namespace ablo::net

// Beast's write handler keeps its associated executor, allocator and cancellation slot through
// the gate's completion wrapper.
template <template <typename, typename> class Associator, typename Handler, typename DefaultCandidate>
struct boost::asio::associator<Associator, ablo::net::GatedSocket::BeastWriteDone<Handler>, DefaultCandidate>
    : Associator<Handler, DefaultCandidate> {
  static typename Associator<Handler, DefaultCandidate>::type get(
      const ablo::net::GatedSocket::BeastWriteDone<Handler>& done,
      const DefaultCandidate& candidate = DefaultCandidate()) noexcept {
    return Associator<Handler, DefaultCandidate>::get(done.handler, candidate);
  }
};
