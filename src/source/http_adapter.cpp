#include "source/http_adapter.h"

#include <fmt/format.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/json/parse.hpp>

#include "common/random.h"
#include "common/time.h"
#include "source/contract.h"
#include "source/signature.h"
#include "webhooks/http_post.h"

namespace ablo::source {

namespace json = boost::json;

namespace {

// A list page of 1,000 wide rows fits; anything larger is refused rather than read unbounded.
constexpr std::size_t kMaxResponseBytes = 32 * 1024 * 1024;

bool retryable_status(int status) { return status >= 500 || status == 408 || status == 429; }

// Another 4xx: the endpoint's own code when the client knows it, else invalid_request
// (internal_error would tell the client "retry": a refusal is not that).
ErrorCode refusal_code(const std::string& source_error) {
  const ErrorCode known = ErrorCode::from_stored(source_error);
  return known.view() == "internal_error" ? ErrorCode("invalid_request") : known;
}

Error refusal(int status, const std::string& body) {
  std::string source_error;
  std::string source_message;
  boost::system::error_code ec;
  auto parsed = json::parse(body, ec);
  if (!ec && parsed.is_object()) {
    if (const auto* e = parsed.as_object().if_contains("error"); e && e->is_string()) source_error = e->as_string();
    if (const auto* m = parsed.as_object().if_contains("message"); m && m->is_string()) source_message = m->as_string();
  }
  const std::string what = fmt::format("the data source answered HTTP {}{}{}", status,
                                       source_error.empty() ? "" : ": " + source_error,
                                       source_message.empty() ? "" : " (" + source_message + ")");
  Error error = retryable_status(status) ? Error("source_network_error", what)
                : status == 401          ? Error("source_api_key_unresolved", what)
                : status == 403          ? Error("forbidden", what)
                                         : Error(refusal_code(source_error), what);
  error.details["httpStatus"] = status;
  if (!source_error.empty()) error.details["sourceError"] = source_error;
  return error;
}

class HttpEndpoint final : public DataAdapter {
 public:
  explicit HttpEndpoint(HttpEndpointOptions options) : options_(std::move(options)) {
    if (options_.url.starts_with("https://")) {
      std::string error;
      tls_ = webhooks::make_tls_client_context(options_.extra_ca_file, error);
      if (!tls_) tls_error_ = error;
    }
  }

  Mode mode() const override { return Mode::kSource; }

  Result<std::optional<json::object>> load(const std::string& model, const std::string& id, const Scope& scope) override {
    auto answer = call(contract::load_request(model, id, scope));
    if (!answer) return tl::unexpected(answer.error());
    return contract::read_load(*answer);
  }

  Result<ListPage> list(const std::string& model, const ListQuery& query, const Scope& scope) override {
    auto answer = call(contract::list_request(model, query, scope));
    if (!answer) return tl::unexpected(answer.error());
    return contract::read_list(*answer);
  }

  Result<std::vector<json::object>> commit(const ChangeSet& change_set) override {
    auto answer = call(contract::commit_request(change_set));
    if (!answer) return tl::unexpected(answer.error());
    return contract::read_commit(*answer);
  }

  Result<EventsPage> events(const std::optional<std::string>& cursor, int limit) override {
    auto answer = call(contract::events_request(cursor, limit));
    if (!answer) return tl::unexpected(answer.error());
    return contract::read_events(*answer);
  }

 private:
  Result<json::value> call(std::string body) {
    if (!tls_error_.empty()) return fail("source_network_error", "TLS is unavailable: " + tls_error_);
    const auto signed_headers =
        sign_request(options_.signing_key, random_id("msg"), now_ms() / 1000, body);
    webhooks::PostRequest request;
    request.url = options_.url;
    request.headers = {{"content-type", "application/json"},
                       {"webhook-id", signed_headers.id},
                       {"webhook-timestamp", signed_headers.timestamp},
                       {"webhook-signature", signed_headers.signature}};
    request.body = std::move(body);
    request.timeout_ms = options_.timeout_ms;
    request.max_response_bytes = kMaxResponseBytes;
    webhooks::PostOutcome outcome;
    io_.restart();
    webhooks::post_async(io_, tls_.get(), std::move(request), [&](webhooks::PostOutcome done) { outcome = std::move(done); });
    io_.run();
    if (!outcome.error.empty()) {
      return fail("source_network_error", fmt::format("the data source at {} did not answer: {}", options_.url, outcome.error));
    }
    if (outcome.status < 200 || outcome.status >= 300) return tl::unexpected(refusal(outcome.status, outcome.body));
    boost::system::error_code ec;
    auto parsed = json::parse(outcome.body, ec);
    if (ec) {
      return fail("invalid_request", fmt::format("the data source answered HTTP {} with a body that is not JSON "
                                                 "(or longer than {} bytes)", outcome.status, kMaxResponseBytes));
    }
    return parsed;
  }

  HttpEndpointOptions options_;
  boost::asio::io_context io_;  // this adapter's own loop, run by the calling thread per call
  std::unique_ptr<boost::asio::ssl::context> tls_;
  std::string tls_error_;
};

}  // namespace

std::unique_ptr<DataAdapter> make_http_endpoint(HttpEndpointOptions options) {
  return std::make_unique<HttpEndpoint>(std::move(options));
}

}  // namespace ablo::source
