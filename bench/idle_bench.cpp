// Memory per idle WebSocket connection.
//
// Starts `ablo serve`, exchanges tokens, then opens N sockets from ONE event loop (no thread per
// socket), each doing what a 0.9.1 client does on open (upgrade with the bearer subprotocol,
// sync_request) and then staying idle. Reports the server's resident memory before and after,
// and the difference per connection.
#include <sys/resource.h>

#include <chrono>
#include <cstdio>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <CLI/CLI.hpp>
#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/websocket.hpp>
#include <boost/json.hpp>

#include "bench_support.h"
#include "integration/server_fixture.h"

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace websocket = beast::websocket;
namespace json = boost::json;
using tcp = asio::ip::tcp;

namespace {

// This process and the server it starts need a descriptor per socket.
void raise_open_file_limit() {
  rlimit limit{};
  if (getrlimit(RLIMIT_NOFILE, &limit) == 0 && limit.rlim_cur < limit.rlim_max) {
    limit.rlim_cur = limit.rlim_max;
    setrlimit(RLIMIT_NOFILE, &limit);
  }
}

// One idle client: connect, upgrade, send sync_request, wait for the sync_response, then keep
// reading (the server's pings are answered by Beast) without ever writing again.
class IdleClient : public std::enable_shared_from_this<IdleClient> {
 public:
  IdleClient(asio::io_context& io, tcp::endpoint server, std::string token, int& ready, int& failed)
      : ws_(asio::make_strand(io)), server_(server), token_(std::move(token)), ready_(ready), failed_(failed) {}

  void start() {
    beast::get_lowest_layer(ws_).async_connect(server_, [self = shared_from_this()](beast::error_code ec) {
      if (ec) return self->fail();
      self->ws_.set_option(websocket::stream_base::decorator([token = self->token_](websocket::request_type& req) {
        req.set(beast::http::field::sec_websocket_protocol, "ablo.bearer." + token + ", ablo.sync.v1");
      }));
      self->ws_.async_handshake("127.0.0.1", "/api/sync/ws?cursor=", [self](beast::error_code ec) {
        if (ec) return self->fail();
        self->ws_.text(true);
        self->ws_.async_write(asio::buffer(self->request_), [self](beast::error_code ec, std::size_t) {
          if (ec) return self->fail();
          self->read();
        });
      });
    });
  }

 private:
  void read() {
    ws_.async_read(buffer_, [self = shared_from_this()](beast::error_code ec, std::size_t) {
      if (ec) {
        if (!self->synced_) self->fail();
        return;
      }
      if (!self->synced_ && beast::buffers_to_string(self->buffer_.data()).find("sync_response") != std::string::npos) {
        self->synced_ = true;
        ++self->ready_;
      }
      self->buffer_.consume(self->buffer_.size());
      self->read();
    });
  }
  void fail() { ++failed_; }

  websocket::stream<beast::tcp_stream> ws_;
  tcp::endpoint server_;
  std::string token_;
  std::string request_ = ablo::bench::sync_request();
  beast::flat_buffer buffer_;
  bool synced_ = false;
  int& ready_;
  int& failed_;
};

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"RSS per idle WebSocket connection"};
  int connections = 5000;
  int per_token = 50;
  app.add_option("--connections", connections, "idle sockets to open");
  app.add_option("--per-token", per_token, "sockets sharing one exchanged token");
  CLI11_PARSE(app, argc, argv);
  raise_open_file_limit();

  ablo::testing::ServerProcess server{ablo::bench::kItemsSchema};
  std::vector<std::string> tokens;
  for (int i = 0; i < (connections + per_token - 1) / per_token; ++i) {
    tokens.emplace_back(server.exchange().at("token").as_string());
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  const int64_t before = ablo::testing::resident_kib(server.pid());

  asio::io_context io;  // one event loop drives every socket
  int ready = 0, failed = 0;
  const tcp::endpoint endpoint(asio::ip::make_address("127.0.0.1"), server.port());
  std::vector<std::shared_ptr<IdleClient>> clients;
  const auto started = std::chrono::steady_clock::now();
  for (int i = 0; i < connections; ++i) {
    clients.push_back(std::make_shared<IdleClient>(io, endpoint, tokens[i / per_token], ready, failed));
    clients.back()->start();
    // Open in waves, so the listen backlog is not the thing being measured.
    if (i % 200 == 199) io.run_for(std::chrono::milliseconds(50));
  }
  while (ready + failed < connections && std::chrono::steady_clock::now() - started < std::chrono::seconds(120)) {
    io.run_for(std::chrono::milliseconds(100));
  }
  io.run_for(std::chrono::seconds(2));  // let the server settle
  const int64_t after = ablo::testing::resident_kib(server.pid());
  std::printf("connections: %d ready, %d failed (of %d)\n", ready, failed, connections);
  std::printf("server RSS: %lld KiB before, %lld KiB with the sockets open\n", static_cast<long long>(before), static_cast<long long>(after));
  if (ready > 0) std::printf("RSS per idle connection: %.1f KiB\n", static_cast<double>(after - before) / ready);
  return failed == 0 && ready == connections ? 0 : 1;
}
