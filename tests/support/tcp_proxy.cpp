// The fault proxy of tests/support/tcp_proxy.h: one io_context on its own thread; each
// connection is two sockets and two read→write pumps, which consult the mode on every read.
#include "support/tcp_proxy.h"

#include <array>
#include <atomic>
#include <chrono>
#include <future>
#include <mutex>
#include <set>
#include <thread>

#include <boost/asio.hpp>

namespace ablo::testing {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;

namespace tcp_proxy_detail {

enum class Mode { kForward, kRefuse, kBlackhole, kHoldDownstream };

constexpr std::size_t kCaptureCap = std::size_t{16} << 20;
constexpr auto kIoWait = std::chrono::seconds(5);

}  // namespace tcp_proxy_detail

using tcp_proxy_detail::Mode;

struct TcpProxySession;

struct TcpProxy::Impl {
  asio::io_context io;
  tcp::acceptor acceptor{io};
  uint16_t listening_port = 0;  // read by any thread; the acceptor itself belongs to the proxy thread
  std::thread thread;
  std::atomic<uint16_t> target_port{0};
  std::atomic<Mode> mode{Mode::kForward};
  std::atomic<std::size_t> accepted{0};
  std::atomic<std::size_t> open{0};
  std::set<std::shared_ptr<TcpProxySession>> sessions;  // proxy thread only

  mutable std::mutex capture_mutex;
  std::vector<std::string> captures;  // guarded by capture_mutex

  void accept_next();
  void capture(std::size_t index, const char* data, std::size_t size) {
    std::lock_guard lock(capture_mutex);
    std::string& captured = captures[index];
    captured.append(data, std::min(size, tcp_proxy_detail::kCaptureCap - captured.size()));
  }

  // Runs `work` on the proxy thread and waits for it (bounded), so a change is in effect on return.
  template <class Work>
  void run_on_proxy_thread(Work work) {
    std::promise<void> finished;
    auto done = finished.get_future();
    asio::post(io, [&work, &finished] {
      work();
      finished.set_value();
    });
    if (done.wait_for(tcp_proxy_detail::kIoWait) != std::future_status::ready) std::abort();  // a hung proxy thread
  }

  void close_all();
};

struct TcpProxySession : std::enable_shared_from_this<TcpProxySession> {
  TcpProxySession(TcpProxy::Impl& owner, tcp::socket accepted, std::size_t n)
      : impl(owner), client(std::move(accepted)), server(owner.io), index(n) {}

  TcpProxy::Impl& impl;
  tcp::socket client;
  tcp::socket server;
  std::size_t index;
  std::array<char, 16 * 1024> upstream_buffer{};
  std::array<char, 16 * 1024> downstream_buffer{};
  bool closed = false;

  void start(uint16_t port) {
    server.async_connect(tcp::endpoint(asio::ip::address_v4::loopback(), port),
                         [self = shared_from_this()](boost::system::error_code ec) {
                           if (ec || self->closed) return self->close();
                           self->pump(true);
                           self->pump(false);
                         });
  }

  // One direction: read, then forward, drop or close depending on the mode at that moment.
  void pump(bool upstream) {
    tcp::socket& from = upstream ? client : server;
    auto& buffer = upstream ? upstream_buffer : downstream_buffer;
    from.async_read_some(asio::buffer(buffer),
                         [self = shared_from_this(), upstream](boost::system::error_code ec, std::size_t size) {
                           if (ec || self->closed) return self->close();
                           const Mode mode = self->impl.mode.load();
                           if (mode == Mode::kRefuse) return self->close();
                           const bool forward = mode == Mode::kForward || (mode == Mode::kHoldDownstream && upstream);
                           if (!forward) return self->pump(upstream);
                           const auto& data = upstream ? self->upstream_buffer : self->downstream_buffer;
                           if (upstream) self->impl.capture(self->index, data.data(), size);
                           asio::async_write(upstream ? self->server : self->client, asio::buffer(data.data(), size),
                                             [self, upstream](boost::system::error_code ec, std::size_t) {
                                               if (ec || self->closed) return self->close();
                                               self->pump(upstream);
                                             });
                         });
  }

  void close() {
    if (closed) return;
    closed = true;
    boost::system::error_code ignored;
    client.close(ignored);
    server.close(ignored);
    impl.open--;
    impl.sessions.erase(shared_from_this());
  }
};

void TcpProxy::Impl::accept_next() {
  acceptor.async_accept([this](boost::system::error_code ec, tcp::socket socket) {
    if (ec == asio::error::operation_aborted || !acceptor.is_open()) return;
    if (!ec) {
      const std::size_t index = accepted++;
      {
        std::lock_guard lock(capture_mutex);
        captures.emplace_back();
      }
      if (mode.load() == Mode::kRefuse) {
        boost::system::error_code ignored;
        socket.close(ignored);
      } else {
        auto session = std::make_shared<TcpProxySession>(*this, std::move(socket), index);
        sessions.insert(session);
        open++;
        session->start(target_port.load());
      }
    }
    accept_next();
  });
}

void TcpProxy::Impl::close_all() {
  const auto open_sessions = sessions;  // close() erases from `sessions`
  for (const auto& session : open_sessions) session->close();
}

TcpProxy::TcpProxy(uint16_t target_port) : impl_(std::make_unique<Impl>()) {
  impl_->target_port = target_port;
  const tcp::endpoint endpoint(asio::ip::address_v4::loopback(), 0);
  impl_->acceptor.open(endpoint.protocol());
  impl_->acceptor.set_option(tcp::acceptor::reuse_address(true));
  impl_->acceptor.bind(endpoint);
  impl_->acceptor.listen();
  impl_->listening_port = impl_->acceptor.local_endpoint().port();
  impl_->accept_next();
  impl_->thread = std::thread([impl = impl_.get()] { impl->io.run(); });
}

TcpProxy::~TcpProxy() {
  impl_->run_on_proxy_thread([impl = impl_.get()] {
    boost::system::error_code ignored;
    impl->acceptor.close(ignored);
    impl->close_all();
  });
  impl_->io.stop();
  impl_->thread.join();
}

uint16_t TcpProxy::port() const { return impl_->listening_port; }

void TcpProxy::cut() {
  impl_->run_on_proxy_thread([impl = impl_.get()] { impl->close_all(); });
}

void TcpProxy::refuse() {
  impl_->mode = Mode::kRefuse;
  cut();
}

void TcpProxy::restore() {
  impl_->run_on_proxy_thread([impl = impl_.get()] { impl->mode = Mode::kForward; });
}

void TcpProxy::blackhole() {
  impl_->run_on_proxy_thread([impl = impl_.get()] { impl->mode = Mode::kBlackhole; });
}

void TcpProxy::hold_downstream() {
  impl_->run_on_proxy_thread([impl = impl_.get()] { impl->mode = Mode::kHoldDownstream; });
}

void TcpProxy::retarget(uint16_t target_port) {
  impl_->run_on_proxy_thread([impl = impl_.get(), target_port] { impl->target_port = target_port; });
}

std::size_t TcpProxy::connections() const { return impl_->accepted.load(); }

std::size_t TcpProxy::open_connections() const { return impl_->open.load(); }

std::vector<std::string> TcpProxy::captured_upstream() const {
  std::lock_guard lock(impl_->capture_mutex);
  return impl_->captures;
}

std::vector<std::string> TcpProxy::websocket_client_texts(std::string_view captured) {
  std::vector<std::string> texts;
  const auto head_end = captured.find("\r\n\r\n");
  if (head_end == std::string_view::npos) return texts;
  std::size_t at = head_end + 4;
  std::string message;
  bool in_text = false;
  const auto byte = [&](std::size_t i) { return static_cast<unsigned char>(captured[i]); };
  while (at + 2 <= captured.size()) {
    const bool fin = byte(at) & 0x80;
    const int opcode = byte(at) & 0x0F;
    const bool masked = byte(at + 1) & 0x80;
    std::uint64_t length = byte(at + 1) & 0x7F;
    std::size_t header = 2;
    const std::size_t extra = length == 126 ? 2 : length == 127 ? 8 : 0;
    if (at + header + extra > captured.size()) break;
    if (extra > 0) {
      length = 0;
      for (std::size_t i = 0; i < extra; ++i) length = (length << 8) | byte(at + header + i);
      header += extra;
    }
    std::array<unsigned char, 4> mask{};
    if (masked) {
      if (at + header + 4 > captured.size()) break;
      for (std::size_t i = 0; i < 4; ++i) mask[i] = byte(at + header + i);
      header += 4;
    }
    if (at + header + length > captured.size()) break;
    std::string payload(captured.substr(at + header, length));
    for (std::size_t i = 0; i < payload.size() && masked; ++i) payload[i] = static_cast<char>(payload[i] ^ mask[i % 4]);
    at += header + length;
    if (opcode >= 8) continue;  // control frames (close, ping, pong) interleave with fragments
    if (opcode == 1) {
      in_text = true;
      message.clear();
    } else if (opcode == 2) {
      in_text = false;
    }
    if (!in_text) continue;
    message += payload;
    if (fin) {
      texts.push_back(std::move(message));
      message.clear();
      in_text = false;
    }
  }
  return texts;
}

}  // namespace ablo::testing
