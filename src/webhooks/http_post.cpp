#include "webhooks/http_post.h"

#include <openssl/ssl.h>

#include <chrono>
#include <memory>
#include <optional>
#include <type_traits>

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <boost/url/parse.hpp>
#include <fmt/format.h>

namespace ablo::webhooks {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace ssl = asio::ssl;
using tcp = asio::ip::tcp;

namespace {

// One request over plain TCP (Tls = false) or TLS with certificate and host name verification.
template <bool Tls>
class Exchange : public std::enable_shared_from_this<Exchange<Tls>> {
  using Stream = std::conditional_t<Tls, beast::ssl_stream<beast::tcp_stream>, beast::tcp_stream>;

 public:
  Exchange(asio::io_context& io, ssl::context* tls, PostRequest request, std::function<void(PostOutcome)> done)
      : request_(std::move(request)), done_(std::move(done)), resolver_(io), stream_(make_stream(io, tls)), deadline_(io) {}

  void run(const boost::urls::url_view& url) {
    std::string host = url.host_address();
    if (host.starts_with('[') && host.ends_with(']')) host = host.substr(1, host.size() - 2);
    host_ = host;
    const std::string port = url.has_port() ? std::string(url.port()) : (Tls ? "443" : "80");
    std::string target(url.encoded_target());
    if (target.empty()) target = "/";

    message_.method(http::verb::post);
    message_.target(target);
    message_.version(11);
    message_.set(http::field::host, std::string(url.encoded_host_and_port()));
    message_.set(http::field::user_agent, "ablo-webhooks/1");
    message_.set(http::field::content_type, "application/json");
    message_.set(http::field::connection, "close");
    for (const auto& [name, value] : request_.headers) message_.set(name, value);
    message_.body() = std::move(request_.body);
    message_.prepare_payload();
    parser_.body_limit(request_.max_response_bytes);

    auto self = this->shared_from_this();
    deadline_.expires_after(std::chrono::milliseconds(request_.timeout_ms));
    deadline_.async_wait([self](beast::error_code ec) {
      if (ec || self->finished_) return;
      self->timed_out_ = true;
      self->resolver_.cancel();
      beast::error_code ignored;
      beast::get_lowest_layer(self->stream_).socket().close(ignored);
    });
    resolver_.async_resolve(host, port, [self](beast::error_code ec, tcp::resolver::results_type results) {
      if (ec) return self->finish_error("cannot resolve the host", ec);
      beast::get_lowest_layer(self->stream_).async_connect(results, [self](beast::error_code ec, const tcp::endpoint&) {
        if (ec) return self->finish_error("cannot connect", ec);
        self->secure();
      });
    });
  }

 private:
  static Stream make_stream(asio::io_context& io, ssl::context* tls) {
    if constexpr (Tls) {
      return Stream(io, *tls);
    } else {
      (void)tls;
      return Stream(io);
    }
  }

  // TLS: SNI, then the handshake verifies the chain and that the certificate names the host.
  void secure() {
    auto self = this->shared_from_this();
    if constexpr (Tls) {
      if (!SSL_set_tlsext_host_name(stream_.native_handle(), host_.c_str())) {
        return finish_error("cannot set the TLS server name");
      }
      stream_.set_verify_callback(ssl::host_name_verification(host_));
      stream_.async_handshake(ssl::stream_base::client, [self](beast::error_code ec) {
        if (ec) return self->finish_error("TLS handshake failed", ec);
        self->send();
      });
    } else {
      send();
    }
  }

  void send() {
    auto self = this->shared_from_this();
    http::async_write(stream_, message_, [self](beast::error_code ec, std::size_t) {
      if (ec) return self->finish_error("cannot send the request", ec);
      http::async_read(self->stream_, self->buffer_, self->parser_,
                       [self](beast::error_code ec, std::size_t) { self->on_read(ec); });
    });
  }

  void on_read(beast::error_code ec) {
    // A body beyond the cap is not read: the status (what decides) is already known.
    if (ec && !(ec == http::error::body_limit && parser_.is_header_done())) {
      return finish_error("no valid HTTP response", ec);
    }
    PostOutcome outcome;
    const auto& response = parser_.get();
    outcome.status = static_cast<int>(response.result_int());
    if (auto location = response.find(http::field::location); location != response.end()) {
      outcome.location = std::string(location->value().substr(0, 500));
    }
    if (!ec) outcome.body = response.body().substr(0, request_.max_response_bytes);
    finish(std::move(outcome));
  }

  void finish_error(std::string what, beast::error_code ec = {}) {
    PostOutcome outcome;
    if (timed_out_) {
      outcome.error = fmt::format("timed out after {} ms", request_.timeout_ms);
    } else {
      outcome.error = ec ? fmt::format("{}: {}", what, ec.message()) : what;
    }
    finish(std::move(outcome));
  }

  void finish(PostOutcome outcome) {
    if (finished_) return;
    finished_ = true;
    deadline_.cancel();
    beast::error_code ignored;
    auto& socket = beast::get_lowest_layer(stream_).socket();
    socket.shutdown(tcp::socket::shutdown_both, ignored);
    socket.close(ignored);
    if (timed_out_ && outcome.error.empty()) {
      outcome = PostOutcome{0, fmt::format("timed out after {} ms", request_.timeout_ms), {}, {}};
    }
    done_(std::move(outcome));
  }

  PostRequest request_;
  std::function<void(PostOutcome)> done_;
  std::string host_;
  tcp::resolver resolver_;
  Stream stream_;
  asio::steady_timer deadline_;
  http::request<http::string_body> message_;
  beast::flat_buffer buffer_;
  http::response_parser<http::string_body> parser_;
  bool finished_ = false;
  bool timed_out_ = false;
};

}  // namespace

std::unique_ptr<ssl::context> make_tls_client_context(const std::string& extra_ca_file, std::string& error) {
  auto context = std::make_unique<ssl::context>(ssl::context::tls_client);
  boost::system::error_code ec;
  context->set_default_verify_paths(ec);
  if (ec) {
    error = "cannot load the system certificate store: " + ec.message();
    return nullptr;
  }
  if (!extra_ca_file.empty()) {
    context->load_verify_file(extra_ca_file, ec);
    if (ec) {
      error = "cannot load " + extra_ca_file + ": " + ec.message();
      return nullptr;
    }
  }
  context->set_verify_mode(ssl::verify_peer);
  return context;
}

void post_async(asio::io_context& io, ssl::context* tls, PostRequest request, std::function<void(PostOutcome)> done) {
  auto url = boost::urls::parse_absolute_uri(request.url);
  if (!url) {
    done(PostOutcome{0, "the endpoint url does not parse", {}, {}});
    return;
  }
  if (url->scheme() == "https") {
    if (!tls) {
      done(PostOutcome{0, "https delivery is not configured on this server", {}, {}});
      return;
    }
    std::make_shared<Exchange<true>>(io, tls, std::move(request), std::move(done))->run(*url);
  } else {
    std::make_shared<Exchange<false>>(io, tls, std::move(request), std::move(done))->run(*url);
  }
}

}  // namespace ablo::webhooks
