// The fault proxy (support/tcp_proxy.h), each mode against an in-process echo server.
#include "support/tcp_proxy.h"

#include <gtest/gtest.h>
#include <poll.h>
#include <sys/socket.h>

#include <atomic>
#include <list>
#include <mutex>
#include <thread>

#include <boost/asio.hpp>

namespace ablo::testing {
namespace tcp_proxy_test {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;
using namespace std::chrono_literals;

// Echoes every byte back prefixed with its name ("A:hello"), one thread per connection; counts
// what it received so a test can tell "arrived but not answered" from "never arrived".
class EchoServer {
 public:
  explicit EchoServer(std::string name)
      : name_(std::move(name)), acceptor_(io_, tcp::endpoint(asio::ip::address_v4::loopback(), 0)) {
    accept_thread_ = std::thread([this] { accept_loop(); });
  }
  ~EchoServer() {
    {
      std::lock_guard lock(mutex_);
      stopping_ = true;
      for (int fd : fds_) ::shutdown(fd, SHUT_RDWR);
    }
    ::shutdown(acceptor_.native_handle(), SHUT_RDWR);
    accept_thread_.join();
    for (auto& worker : workers_) worker.join();
  }
  uint16_t port() const { return acceptor_.local_endpoint().port(); }
  std::string received() const {
    std::lock_guard lock(mutex_);
    return received_;
  }

 private:
  void accept_loop() {
    for (;;) {
      auto socket = std::make_shared<tcp::socket>(io_);
      boost::system::error_code ec;
      acceptor_.accept(*socket, ec);
      std::lock_guard lock(mutex_);
      if (ec || stopping_) return;
      fds_.push_back(socket->native_handle());
      workers_.emplace_back([this, socket] { echo(*socket); });
    }
  }
  void echo(tcp::socket& socket) {
    std::array<char, 4096> buffer{};
    for (;;) {
      boost::system::error_code ec;
      const std::size_t n = socket.read_some(asio::buffer(buffer), ec);
      if (ec) return;
      {
        std::lock_guard lock(mutex_);
        received_.append(buffer.data(), n);
      }
      asio::write(socket, asio::buffer(name_ + ":" + std::string(buffer.data(), n)), ec);
      if (ec) return;
    }
  }

  std::string name_;
  asio::io_context io_;
  tcp::acceptor acceptor_;
  std::thread accept_thread_;
  mutable std::mutex mutex_;
  bool stopping_ = false;
  std::vector<int> fds_;
  std::string received_;
  std::list<std::thread> workers_;
};

// What one read returns within `limit`: bytes, "" at end of stream, nullopt when nothing came.
std::optional<std::string> read_within(tcp::socket& socket, std::chrono::milliseconds limit) {
  pollfd watched{socket.native_handle(), POLLIN, 0};
  if (::poll(&watched, 1, static_cast<int>(limit.count())) <= 0) return std::nullopt;
  std::array<char, 4096> buffer{};
  boost::system::error_code ec;
  const std::size_t n = socket.read_some(asio::buffer(buffer), ec);
  if (ec) return std::string();
  return std::string(buffer.data(), n);
}

class TcpProxyTest : public ::testing::Test {
 protected:
  tcp::socket connect_through_proxy() {
    tcp::socket socket(io_);
    socket.connect(tcp::endpoint(asio::ip::address_v4::loopback(), proxy_.port()));
    return socket;
  }
  static void send(tcp::socket& socket, const std::string& text) { asio::write(socket, asio::buffer(text)); }

  EchoServer server_a_{"A"};
  TcpProxy proxy_{server_a_.port()};
  asio::io_context io_;
};

TEST_F(TcpProxyTest, ForwardsBothWaysAndCapturesUpstream) {
  auto socket = connect_through_proxy();
  send(socket, "hello");
  EXPECT_EQ(read_within(socket, 2s), "A:hello");
  EXPECT_EQ(proxy_.connections(), 1u);
  EXPECT_EQ(proxy_.open_connections(), 1u);
  const auto captured = proxy_.captured_upstream();
  ASSERT_EQ(captured.size(), 1u);
  EXPECT_EQ(captured[0], "hello");
}

TEST_F(TcpProxyTest, CutClosesOpenConnectionsButNotTheProxy) {
  auto first = connect_through_proxy();
  send(first, "x");
  ASSERT_EQ(read_within(first, 2s), "A:x");
  proxy_.cut();
  EXPECT_EQ(read_within(first, 2s), "");  // end of stream
  EXPECT_EQ(proxy_.open_connections(), 0u);
  auto second = connect_through_proxy();
  send(second, "y");
  EXPECT_EQ(read_within(second, 2s), "A:y");
  EXPECT_EQ(proxy_.connections(), 2u);
}

TEST_F(TcpProxyTest, RefuseEndsAnOfflinePeriodOnlyWhenRestored) {
  auto open = connect_through_proxy();
  send(open, "x");
  ASSERT_EQ(read_within(open, 2s), "A:x");
  proxy_.refuse();
  EXPECT_EQ(read_within(open, 2s), "");  // existing connections end too
  auto refused = connect_through_proxy();
  EXPECT_EQ(read_within(refused, 2s), "");  // accepted and closed at once
  EXPECT_EQ(server_a_.received(), "x");
  proxy_.restore();
  auto back = connect_through_proxy();
  send(back, "z");
  EXPECT_EQ(read_within(back, 2s), "A:z");
  EXPECT_EQ(proxy_.connections(), 3u);
}

TEST_F(TcpProxyTest, BlackholeForwardsNothingAndKeepsTheConnection) {
  auto socket = connect_through_proxy();
  send(socket, "a");
  ASSERT_EQ(read_within(socket, 2s), "A:a");
  proxy_.blackhole();
  send(socket, "b");
  EXPECT_EQ(read_within(socket, 300ms), std::nullopt);  // silent, not closed
  EXPECT_EQ(server_a_.received(), "a");
  auto fresh = connect_through_proxy();
  send(fresh, "c");
  EXPECT_EQ(read_within(fresh, 300ms), std::nullopt);
  EXPECT_EQ(server_a_.received(), "a");
  EXPECT_EQ(proxy_.open_connections(), 2u);
}

TEST_F(TcpProxyTest, HoldDownstreamDeliversButSwallowsTheAnswer) {
  auto socket = connect_through_proxy();
  send(socket, "a");
  ASSERT_EQ(read_within(socket, 2s), "A:a");
  proxy_.hold_downstream();
  send(socket, "commit");
  EXPECT_EQ(read_within(socket, 300ms), std::nullopt);
  for (int i = 0; i < 100 && server_a_.received() != "acommit"; ++i) std::this_thread::sleep_for(10ms);
  EXPECT_EQ(server_a_.received(), "acommit");  // the server got it
  proxy_.cut();
  proxy_.restore();
  auto again = connect_through_proxy();
  send(again, "retry");
  EXPECT_EQ(read_within(again, 2s), "A:retry");
}

TEST_F(TcpProxyTest, RetargetSendsNewConnectionsElsewhere) {
  EchoServer server_b("B");
  auto old_connection = connect_through_proxy();
  send(old_connection, "1");
  ASSERT_EQ(read_within(old_connection, 2s), "A:1");
  proxy_.retarget(server_b.port());
  auto new_connection = connect_through_proxy();
  send(new_connection, "2");
  EXPECT_EQ(read_within(new_connection, 2s), "B:2");
  send(old_connection, "3");
  EXPECT_EQ(read_within(old_connection, 2s), "A:3");
}

TEST(TcpProxyWebSocketTest, DecodesMaskedClientTextFrames) {
  std::string captured = "GET /ws HTTP/1.1\r\nUpgrade: websocket\r\n\r\n";
  const auto masked_frame = [](uint8_t first_byte, const std::string& payload) {
    const unsigned char mask[4] = {0x11, 0x22, 0x33, 0x44};
    std::string frame;
    frame += static_cast<char>(first_byte);
    if (payload.size() < 126) {
      frame += static_cast<char>(0x80 | payload.size());
    } else {
      frame += static_cast<char>(0x80 | 126);
      frame += static_cast<char>(payload.size() >> 8);
      frame += static_cast<char>(payload.size() & 0xFF);
    }
    for (unsigned char m : mask) frame += static_cast<char>(m);
    for (std::size_t i = 0; i < payload.size(); ++i) frame += static_cast<char>(payload[i] ^ mask[i % 4]);
    return frame;
  };
  const std::string long_text(300, 'L');
  captured += masked_frame(0x81, R"({"type":"ack"})");
  captured += masked_frame(0x01, "frag-");   // text, not final
  captured += masked_frame(0x89, "ping");    // a control frame in between
  captured += masked_frame(0x80, "mented");  // continuation, final
  captured += masked_frame(0x81, long_text);
  captured += masked_frame(0x81, "cut off").substr(0, 5);  // incomplete: ignored
  EXPECT_EQ(TcpProxy::websocket_client_texts(captured),
            (std::vector<std::string>{R"({"type":"ack"})", "frag-mented", long_text}));
}

}  // namespace tcp_proxy_test
}  // namespace ablo::testing
