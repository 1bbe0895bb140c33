#include "webhooks/http_post.h"

#include <chrono>
#include <memory>

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/url/parse.hpp>
#include <fmt/format.h>

namespace ablo::webhooks {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

namespace {

class Exchange : public std::enable_shared_from_this<Exchange> {
 public:
  Exchange(asio::io_context& io, PostRequest request, std::function<void(PostOutcome)> done)
      : request_(std::move(request)), done_(std::move(done)), resolver_(io), stream_(io), deadline_(io) {}

  void run() {
    auto url = boost::urls::parse_absolute_uri(request_.url);
    if (!url) return finish_error("the endpoint url does not parse");
    if (url->scheme() != "http") return finish_error("https delivery is not supported by this server build");
    std::string host = url->host_address();
    if (host.starts_with('[') && host.ends_with(']')) host = host.substr(1, host.size() - 2);
    const std::string port = url->has_port() ? std::string(url->port()) : "80";
    std::string target(url->encoded_target());
    if (target.empty()) target = "/";

    message_.method(http::verb::post);
    message_.target(target);
    message_.version(11);
    message_.set(http::field::host, std::string(url->encoded_host_and_port()));
    message_.set(http::field::user_agent, "ablo-webhooks/1");
    message_.set(http::field::content_type, "application/json");
    message_.set(http::field::connection, "close");
    for (const auto& [name, value] : request_.headers) message_.set(name, value);
    message_.body() = std::move(request_.body);
    message_.prepare_payload();
    parser_.body_limit(request_.max_response_bytes);

    auto self = shared_from_this();
    deadline_.expires_after(std::chrono::milliseconds(request_.timeout_ms));
    deadline_.async_wait([self](beast::error_code ec) {
      if (ec || self->finished_) return;
      self->timed_out_ = true;
      self->resolver_.cancel();
      beast::error_code ignored;
      self->stream_.socket().close(ignored);
    });
    resolver_.async_resolve(host, port, [self](beast::error_code ec, tcp::resolver::results_type results) {
      if (ec) return self->finish_error("cannot resolve the host", ec);
      self->stream_.async_connect(results, [self](beast::error_code ec, const tcp::endpoint&) {
        if (ec) return self->finish_error("cannot connect", ec);
        http::async_write(self->stream_, self->message_, [self](beast::error_code ec, std::size_t) {
          if (ec) return self->finish_error("cannot send the request", ec);
          http::async_read(self->stream_, self->buffer_, self->parser_,
                           [self](beast::error_code ec, std::size_t) { self->on_read(ec); });
        });
      });
    });
  }

 private:
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
    stream_.socket().shutdown(tcp::socket::shutdown_both, ignored);
    stream_.socket().close(ignored);
    if (timed_out_ && outcome.error.empty()) outcome = PostOutcome{0, fmt::format("timed out after {} ms", request_.timeout_ms), {}, {}};
    done_(std::move(outcome));
  }

  PostRequest request_;
  std::function<void(PostOutcome)> done_;
  tcp::resolver resolver_;
  beast::tcp_stream stream_;
  asio::steady_timer deadline_;
  http::request<http::string_body> message_;
  beast::flat_buffer buffer_;
  http::response_parser<http::string_body> parser_;
  bool finished_ = false;
  bool timed_out_ = false;
};

}  // namespace

void post_async(asio::io_context& io, PostRequest request, std::function<void(PostOutcome)> done) {
  std::make_shared<Exchange>(io, std::move(request), std::move(done))->run();
}

}  // namespace ablo::webhooks
