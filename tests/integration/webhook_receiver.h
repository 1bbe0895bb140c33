#pragma once
// A real HTTP receiver for webhook tests, in the test process: a loopback listener whose
// answer to each request is chosen by the test (2xx, 4xx, 5xx, 3xx, slow, non-HTTP bytes, a
// dropped connection), and which records every request it read (headers, body, arrival).
// Each connection is served on its own thread (joined on destruction).
#include <sys/socket.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

namespace ablo::testing {

struct ReceivedRequest {
  std::string target;
  std::map<std::string, std::string> headers;  // lowercase names
  std::string body;
  std::chrono::steady_clock::time_point at;
};

struct ReceiverAnswer {
  int status = 200;
  int delay_ms = 0;            // wait before answering
  std::string location;        // for a 3xx
  bool garbage = false;        // answer bytes that are not HTTP
  bool drop = false;           // close without answering
};

class WebhookReceiver {
 public:
  // `answer(n)`: what to do with the n-th request (0-based). Default: 200 at once.
  // With `cert_file`/`key_file` (PEM) it speaks HTTPS.
  explicit WebhookReceiver(uint16_t port = 0, const std::string& cert_file = {}, const std::string& key_file = {})
      : acceptor_(io_) {
    if (!cert_file.empty()) {
      tls_ = std::make_unique<boost::asio::ssl::context>(boost::asio::ssl::context::tls_server);
      tls_->use_certificate_chain_file(cert_file);
      tls_->use_private_key_file(key_file, boost::asio::ssl::context::pem);
    }
    namespace asio = boost::asio;
    asio::ip::tcp::endpoint endpoint(asio::ip::make_address("127.0.0.1"), port);
    acceptor_.open(endpoint.protocol());
    acceptor_.set_option(asio::socket_base::reuse_address(true));
    acceptor_.bind(endpoint);
    acceptor_.listen();
    port_ = acceptor_.local_endpoint().port();
    accept_thread_ = std::thread([this] { accept_loop(); });
  }
  ~WebhookReceiver() { close(); }

  uint16_t port() const { return port_; }
  std::string url(const std::string& path = "/hook") const {
    return std::string(tls_ ? "https" : "http") + "://127.0.0.1:" + std::to_string(port_) + path;
  }
  void set_answer(std::function<ReceiverAnswer(int)> answer) {
    std::lock_guard lock(mutex_);
    answer_ = std::move(answer);
  }
  std::vector<ReceivedRequest> requests() const {
    std::lock_guard lock(mutex_);
    return requests_;
  }
  // Waits until `done(requests)` holds or the timeout passes; returns whether it held.
  bool wait_for(const std::function<bool(const std::vector<ReceivedRequest>&)>& done,
                std::chrono::milliseconds timeout) {
    std::unique_lock lock(mutex_);
    return changed_.wait_for(lock, timeout, [&] { return done(requests_); });
  }
  // Stops listening and joins every connection thread.
  void close() {
    if (closed_.exchange(true)) return;
    boost::system::error_code ignored;
    // close() alone does not wake a thread blocked in accept(); shutdown() does (Linux). The
    // acceptor is closed only once that thread is gone: closing it while accept() runs on it
    // is a data race on the socket object (TSan).
    ::shutdown(acceptor_.native_handle(), SHUT_RDWR);
    if (accept_thread_.joinable()) accept_thread_.join();
    acceptor_.close(ignored);
    std::vector<std::thread> connections;
    {
      std::lock_guard lock(mutex_);
      connections.swap(connections_);
    }
    for (auto& t : connections) t.join();
  }

 private:
  void accept_loop() {
    while (!closed_) {
      boost::system::error_code ec;
      boost::asio::ip::tcp::socket socket(io_);
      acceptor_.accept(socket, ec);
      if (ec) return;
      std::lock_guard lock(mutex_);
      connections_.emplace_back([this, s = std::move(socket)]() mutable { serve(std::move(s)); });
    }
  }

  void serve(boost::asio::ip::tcp::socket socket) {
    if (!tls_) return exchange(socket, socket);
    boost::asio::ssl::stream<boost::asio::ip::tcp::socket&> stream(socket, *tls_);
    boost::system::error_code ec;
    stream.handshake(boost::asio::ssl::stream_base::server, ec);
    if (!ec) exchange(stream, socket);
  }

  template <class Stream>
  void exchange(Stream& socket, boost::asio::ip::tcp::socket& tcp) {
    namespace beast = boost::beast;
    namespace http = beast::http;
    beast::flat_buffer buffer;
    http::request<http::string_body> request;
    beast::error_code ec;
    http::read(socket, buffer, request, ec);
    if (ec) return;
    ReceivedRequest received{std::string(request.target()), {}, request.body(), std::chrono::steady_clock::now()};
    for (const auto& field : request) {
      std::string name(field.name_string());
      for (auto& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      received.headers[name] = std::string(field.value());
    }
    ReceiverAnswer answer;
    {
      std::lock_guard lock(mutex_);
      const int index = static_cast<int>(requests_.size());
      requests_.push_back(received);
      if (answer_) answer = answer_(index);
    }
    changed_.notify_all();
    if (answer.delay_ms > 0) std::this_thread::sleep_for(std::chrono::milliseconds(answer.delay_ms));
    if (answer.drop) return;
    if (answer.garbage) {
      boost::asio::write(socket, boost::asio::buffer(std::string("SSH-2.0-OpenSSH_9.2\r\n\x01\x02\x03")), ec);
      return;
    }
    http::response<http::string_body> response{static_cast<http::status>(answer.status), 11};
    if (!answer.location.empty()) response.set(http::field::location, answer.location);
    response.body() = answer.status >= 400 ? "receiver says no" : "ok";
    response.prepare_payload();
    http::write(socket, response, ec);
    tcp.shutdown(boost::asio::ip::tcp::socket::shutdown_both, ec);
  }

  boost::asio::io_context io_;
  std::unique_ptr<boost::asio::ssl::context> tls_;
  boost::asio::ip::tcp::acceptor acceptor_;
  uint16_t port_ = 0;
  std::thread accept_thread_;
  std::atomic<bool> closed_{false};
  mutable std::mutex mutex_;
  std::condition_variable changed_;
  std::function<ReceiverAnswer(int)> answer_;
  std::vector<ReceivedRequest> requests_;
  std::vector<std::thread> connections_;
};

}  // namespace ablo::testing
