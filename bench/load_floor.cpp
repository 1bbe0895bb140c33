// The fan-out's kernel floor: a stand-in server that does, per delivered delta, only what no
// WebSocket server on this kernel can avoid — one send() of an already encoded frame per socket,
// over loopback TCP, which also pays the receiver's wake-up. No store, no JSON tree, no
// authorization, no per-socket queue: what ablo spends above this is user-space cost.
//
// It is a forked process (not a thread of the generator) so that its CPU is read from
// /proc/<pid>/stat exactly as ablo's is, and it can be pinned with --server-cpus the same way.
#include "load_floor.h"

#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <cstdio>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/websocket.hpp>

namespace ablo::bench {
namespace floor_detail {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace websocket = beast::websocket;
using tcp = asio::ip::tcp;
using WebSocket = websocket::stream<tcp::socket>;

// The value of `"key":"…"` or `"key":<number>` in a frame the generator wrote (it writes no
// spaces and no escapes in these fields).
std::string_view field_text(std::string_view frame, std::string_view key) {
  const std::string quoted = "\"" + std::string(key) + "\":";
  auto at = frame.find(quoted);
  if (at == std::string_view::npos) return {};
  at += quoted.size();
  if (at < frame.size() && frame[at] == '"') {
    const auto end = frame.find('"', at + 1);
    return frame.substr(at + 1, end - at - 1);
  }
  const auto end = frame.find_first_of(",}", at);
  return frame.substr(at, end - at);
}

// The header of a server-to-client (unmasked) text frame of `payload_bytes`, appended to `out`.
void append_text_header(std::string& out, std::size_t payload_bytes) {
  out += static_cast<char>(0x81);  // FIN + text
  if (payload_bytes < 126) {
    out += static_cast<char>(payload_bytes);
  } else {
    out += static_cast<char>(126);
    out += static_cast<char>((payload_bytes >> 8) & 0xff);
    out += static_cast<char>(payload_bytes & 0xff);
  }
}

// A delta payload of exactly `bytes` (if it fits) carrying the commit's send time; the
// generator's readers look only for "type":"delta" and "sentAt".
std::string delta_payload(std::string_view sent_at, int bytes) {
  std::string payload = R"({"type":"delta","payload":{"sentAt":)";
  payload += sent_at;
  payload += R"(,"pad":")";
  constexpr std::string_view kClose = "\"}}";
  const auto used = payload.size() + kClose.size();
  if (static_cast<std::size_t>(bytes) > used) payload.append(static_cast<std::size_t>(bytes) - used, 'x');
  payload += kClose;
  return payload;
}

std::string ack_payload(std::string_view client_tx_id) {
  return R"({"type":"mutation_result","payload":{"clientTxId":")" + std::string(client_tx_id) +
         R"(","success":true}})";
}

// All of `bytes` to a blocking socket: one send() unless the socket buffer is full.
void send_all(int fd, std::string_view bytes) {
  while (!bytes.empty()) {
    const ssize_t sent = ::send(fd, bytes.data(), bytes.size(), MSG_NOSIGNAL);
    if (sent < 0) {
      if (errno == EINTR) continue;
      return;  // the reader is gone: the generator counts the shortfall
    }
    bytes.remove_prefix(static_cast<std::size_t>(sent));
  }
}

// `pieces` with one sendmsg (a gather list, as Asio writes Beast's header and payload buffers);
// a partial write sends the rest as one buffer.
void send_gathered(int fd, const std::vector<std::string>& pieces, std::vector<iovec>& iov) {
  iov.clear();
  std::size_t total = 0;
  for (const auto& piece : pieces) {
    iov.push_back({const_cast<char*>(piece.data()), piece.size()});
    total += piece.size();
  }
  msghdr message{};
  message.msg_iov = iov.data();
  message.msg_iovlen = iov.size();
  ssize_t sent = 0;
  do {
    sent = ::sendmsg(fd, &message, MSG_NOSIGNAL);
  } while (sent < 0 && errno == EINTR);
  if (sent < 0 || static_cast<std::size_t>(sent) == total) return;
  std::string all;
  for (const auto& piece : pieces) all += piece;
  send_all(fd, std::string_view(all).substr(static_cast<std::size_t>(sent)));
}

// Upgrade, then answer the sync_request every generator socket sends first.
void accept_websocket(WebSocket& ws) {
  ws.next_layer().set_option(tcp::no_delay(true));
  ws.set_option(websocket::stream_base::decorator(
      [](websocket::response_type& res) { res.set(beast::http::field::sec_websocket_protocol, "ablo.sync.v1"); }));
  ws.read_message_max(1 << 20);
  ws.accept();
  beast::flat_buffer request;
  ws.read(request);
  ws.text(true);
  ws.write(asio::buffer(std::string_view(R"({"type":"sync_response","payload":{}})")));
}

class Floor {
 public:
  Floor(asio::io_context& io, const FloorServerOptions& options, WebSocket& writer, std::vector<int> subscriber_fds)
      : io_(io), options_(options), writer_(writer), subscriber_fds_(std::move(subscriber_fds)) {}

  // The event loop: the writer's commits arrive through Asio (epoll); the fan-out is plain
  // send() calls on blocking sockets, which never block while readers keep up.
  void run() {
    read_commit();
    io_.run();
  }

 private:
  void read_commit() {
    writer_.async_read(buffer_, [this](beast::error_code ec, std::size_t) {
      if (ec) return;  // the generator closed: done
      const auto data = buffer_.cdata();
      const std::string_view commit(static_cast<const char*>(data.data()), data.size());
      on_commit(commit);
      buffer_.consume(buffer_.size());
      read_commit();
    });
  }

  void on_commit(std::string_view commit) {
    const std::string ack = ack_payload(field_text(commit, "clientTxId"));
    std::string payload = delta_payload(field_text(commit, "sentAt"), options_.frame_bytes);
    if (options_.header_apart) {
      pieces_.emplace_back();
      append_text_header(pieces_.back(), payload.size());
      pieces_.push_back(std::move(payload));
    } else {
      append_text_header(batch_, payload.size());
      batch_ += payload;
    }
    if (++batched_ < options_.frames_per_send) {
      writer_.write(asio::buffer(ack));  // the writer's next commit completes the batch
      return;
    }
    if (options_.header_apart) {
      for (const int fd : subscriber_fds_) send_gathered(fd, pieces_, iov_);
    } else {
      for (const int fd : subscriber_fds_) send_all(fd, batch_);
    }
    batch_.clear();
    pieces_.clear();
    batched_ = 0;
    // Acknowledged after the fan-out, so the writer's next commit waits for it. Why: the floor
    // sends faster than the one-core generator reads (~5 against ~7 us a delivery at 1,000); with
    // the ack first it ran ahead, the frames queued in the sockets and write -> delivered grew
    // with the run, measuring the generator's backlog instead of a delivery.
    writer_.write(asio::buffer(ack));
  }

  asio::io_context& io_;
  FloorServerOptions options_;
  WebSocket& writer_;
  std::vector<int> subscriber_fds_;
  beast::flat_buffer buffer_;
  std::string batch_;  // encoded frames not sent yet (frames_per_send > 1)
  std::vector<std::string> pieces_;  // the same with header_apart: header, payload, header, …
  std::vector<iovec> iov_;
  int batched_ = 0;
};

[[noreturn]] void serve(int port_pipe, const FloorServerOptions& options) {
  prctl(PR_SET_PDEATHSIG, SIGKILL);
  try {
    asio::io_context io{1};
    tcp::acceptor acceptor(io, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
    acceptor.listen(4096);
    const uint16_t port = acceptor.local_endpoint().port();
    if (::write(port_pipe, &port, sizeof port) != sizeof port) _exit(1);
    ::close(port_pipe);
    std::vector<std::unique_ptr<WebSocket>> sockets;
    sockets.reserve(static_cast<std::size_t>(options.subscribers) + 1);
    for (int i = 0; i <= options.subscribers; ++i) {
      sockets.push_back(std::make_unique<WebSocket>(acceptor.accept()));
      accept_websocket(*sockets.back());
    }
    std::vector<int> fds;
    for (int i = 0; i < options.subscribers; ++i) fds.push_back(sockets[static_cast<std::size_t>(i)]->next_layer().native_handle());
    Floor floor(io, options, *sockets.back(), std::move(fds));
    floor.run();
  } catch (const std::exception& e) {
    std::fprintf(stderr, "floor server: %s\n", e.what());
    _exit(1);
  }
  _exit(0);
}

}  // namespace floor_detail

FloorServer fork_floor_server(const FloorServerOptions& options) {
  int fds[2];
  if (::pipe(fds) != 0) throw std::runtime_error("floor: pipe failed");
  const pid_t pid = ::fork();
  if (pid < 0) throw std::runtime_error("floor: fork failed");
  if (pid == 0) {
    ::close(fds[0]);
    floor_detail::serve(fds[1], options);
  }
  ::close(fds[1]);
  FloorServer server{pid, 0};
  const bool got_port = ::read(fds[0], &server.port, sizeof server.port) == sizeof server.port;
  ::close(fds[0]);
  if (!got_port) {
    stop_floor_server(pid);
    throw std::runtime_error("floor: the server did not start");
  }
  return server;
}

void stop_floor_server(pid_t pid) {
  if (pid <= 0) return;
  ::kill(pid, SIGKILL);
  ::waitpid(pid, nullptr, 0);
}

}  // namespace ablo::bench
