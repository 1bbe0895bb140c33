#pragma once
// A minimal MCP client over Streamable HTTP for the integration tests: JSON-RPC requests on
// POST /mcp (answers as JSON or as a text/event-stream), and a GET /mcp event stream read on a
// thread of its own. Independent of the server's code: it speaks the wire only.
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <boost/asio.hpp>
#include <boost/json.hpp>

#include "client/transport.h"
#include "integration/server_fixture.h"

namespace ablo::testing {

// The JSON-RPC messages of a text/event-stream body (each `data:` line one message).
inline std::vector<boost::json::object> sse_messages(const std::string& body) {
  std::vector<boost::json::object> messages;
  std::size_t start = 0;
  while (start < body.size()) {
    auto end = body.find('\n', start);
    if (end == std::string::npos) end = body.size();
    const auto line = body.substr(start, end - start);
    if (line.rfind("data: ", 0) == 0) {
      boost::system::error_code ec;
      auto parsed = boost::json::parse(line.substr(6), ec);
      if (!ec && parsed.is_object()) messages.push_back(parsed.as_object());
    }
    start = end + 1;
  }
  return messages;
}

struct McpReply {
  int status = 0;
  std::map<std::string, std::string> headers;
  std::string body;
  std::vector<boost::json::object> messages;  // every JSON-RPC message in the answer, in order
  // The response (the message with an id), or an empty object.
  boost::json::object response() const {
    for (const auto& message : messages) {
      if (message.contains("id") && (message.contains("result") || message.contains("error"))) return message;
    }
    return {};
  }
  std::vector<boost::json::object> progress() const {
    std::vector<boost::json::object> found;
    for (const auto& message : messages) {
      const auto* method = message.if_contains("method");
      if (method && *method == "notifications/progress") found.push_back(message.at("params").as_object());
    }
    return found;
  }
};

class McpClient {
 public:
  McpClient(uint16_t port, std::string key, std::string client_name = "test",
            std::string protocol = "2025-06-18")
      : port_(port), key_(std::move(key)), client_name_(std::move(client_name)), protocol_(std::move(protocol)) {}

  // initialize + notifications/initialized; the initialize reply.
  McpReply initialize() {
    auto reply = post(boost::json::object{
                          {"jsonrpc", "2.0"},
                          {"id", (*next_id_)++},
                          {"method", "initialize"},
                          {"params", boost::json::object{{"protocolVersion", protocol_},
                                                         {"capabilities", boost::json::object{}},
                                                         {"clientInfo", boost::json::object{{"name", client_name_},
                                                                                            {"version", "1"}}}}}},
                      /*with_session=*/false);
    if (reply.status == 200) {
      session_ = reply.headers["mcp-session-id"];
      const auto result = reply.response().at("result").as_object();
      negotiated_ = std::string(result.at("protocolVersion").as_string());
      participant_ = std::string(result.at("_meta").as_object().at("ablo/participantId").as_string());
      post(boost::json::object{{"jsonrpc", "2.0"}, {"method", "notifications/initialized"}});
    }
    return reply;
  }

  McpReply post(const boost::json::object& message, bool with_session = true,
                std::map<std::string, std::string> headers = {}) const {
    return post_raw(boost::json::serialize(message), with_session, std::move(headers));
  }

  McpReply post_raw(const std::string& body, bool with_session = true,
                    std::map<std::string, std::string> headers = {}) const {
    headers.emplace("Authorization", "Bearer " + key_);
    headers.emplace("Content-Type", "application/json");
    headers.emplace("Accept", "application/json, text/event-stream");
    if (with_session && !session_.empty()) {
      headers.emplace("Mcp-Session-Id", session_);
      headers.emplace("MCP-Protocol-Version", negotiated_);
    }
    McpReply reply;
    auto response = client::http_request("127.0.0.1", port_, "POST", "/mcp", body, headers);
    if (!response) return reply;
    reply.status = response->status;
    reply.headers = response->headers;
    reply.body = response->body;
    if (reply.headers["content-type"].find("text/event-stream") != std::string::npos) {
      reply.messages = sse_messages(reply.body);
    } else if (!reply.body.empty()) {
      boost::system::error_code ec;
      auto parsed = boost::json::parse(reply.body, ec);
      if (!ec && parsed.is_object()) reply.messages.push_back(parsed.as_object());
    }
    return reply;
  }

  // A request; the whole reply.
  McpReply request(const std::string& method, boost::json::object params = {}) {
    boost::json::object message{{"jsonrpc", "2.0"}, {"id", (*next_id_)++}, {"method", method}};
    if (!params.empty()) message.emplace("params", std::move(params));
    return post(message);
  }

  // tools/call with a progress token; the reply.
  McpReply call(const std::string& tool, boost::json::object args) {
    return request("tools/call", boost::json::object{{"name", tool},
                                                     {"arguments", std::move(args)},
                                                     {"_meta", boost::json::object{{"progressToken", tool}}}});
  }

  McpReply end() const {
    std::map<std::string, std::string> headers{{"Authorization", "Bearer " + key_}, {"Mcp-Session-Id", session_}};
    McpReply reply;
    auto response = client::http_request("127.0.0.1", port_, "DELETE", "/mcp", {}, headers);
    if (response) reply.status = response->status;
    return reply;
  }

  const std::string& session() const { return session_; }
  const std::string& participant() const { return participant_; }
  const std::string& negotiated() const { return negotiated_; }
  const std::string& key() const { return key_; }
  uint16_t port() const { return port_; }

 private:
  uint16_t port_;
  std::string key_;
  std::string client_name_;
  std::string protocol_;
  std::string session_;
  std::string negotiated_;
  std::string participant_;
  std::shared_ptr<std::atomic<int64_t>> next_id_ = std::make_shared<std::atomic<int64_t>>(1);  // shared by copies
};

// structuredContent of a successful tool result ({} otherwise).
inline boost::json::object tool_output(const McpReply& reply) {
  const auto response = reply.response();
  const auto* result = response.if_contains("result");
  if (!result || !result->is_object()) return {};
  const auto* structured = result->as_object().if_contains("structuredContent");
  return structured && structured->is_object() ? structured->as_object() : boost::json::object{};
}

inline bool tool_failed(const McpReply& reply) {
  const auto response = reply.response();
  const auto* result = response.if_contains("result");
  return result && result->is_object() && result->as_object().at("isError").as_bool();
}

// An HTTP request on a socket the test controls: the response is read on a thread, message by
// message, until the server ends it or the test drops the connection (close()).
class RawStream {
 public:
  RawStream(uint16_t port, const std::string& method, const std::string& body,
            const std::map<std::string, std::string>& headers)
      : socket_(io_) {
    socket_.connect({boost::asio::ip::make_address("127.0.0.1"), port});
    std::string request = method + " /mcp HTTP/1.1\r\nHost: 127.0.0.1\r\n";
    for (const auto& [name, value] : headers) request += name + ": " + value + "\r\n";
    request += "Content-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body;
    boost::asio::write(socket_, boost::asio::buffer(request));
    reader_ = std::thread([this] { read_loop(); });
  }
  ~RawStream() { close(); }

  // The next message satisfying `matches`, or nullopt after `timeout`.
  std::optional<boost::json::object> next(const std::function<bool(const boost::json::object&)>& matches,
                                          std::chrono::milliseconds timeout) {
    std::unique_lock lock(mutex_);
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (true) {
      for (auto it = messages_.begin(); it != messages_.end(); ++it) {
        if (matches(*it)) {
          auto found = *it;
          messages_.erase(it);
          return found;
        }
      }
      if (cv_.wait_until(lock, deadline) == std::cv_status::timeout) return std::nullopt;
    }
  }
  bool ended() const { return ended_; }

  // Shutting the socket down ends the reader's blocking read; the descriptor is closed only
  // after the reader is gone (closing it under a read in progress is a data race).
  void close() {
    boost::system::error_code ec;
    socket_.shutdown(boost::asio::ip::tcp::socket::shutdown_both, ec);
    if (reader_.joinable()) reader_.join();
    socket_.close(ec);
  }

 private:
  void read_loop() {
    std::string pending;
    std::array<char, 4096> chunk{};
    boost::system::error_code ec;
    while (true) {
      const auto n = socket_.read_some(boost::asio::buffer(chunk), ec);
      if (ec) break;
      pending.append(chunk.data(), n);
      std::size_t end;
      while ((end = pending.find('\n')) != std::string::npos) {
        auto line = pending.substr(0, end);
        pending.erase(0, end + 1);
        for (auto& message : sse_messages(line + "\n")) {
          std::lock_guard lock(mutex_);
          messages_.push_back(std::move(message));
          cv_.notify_all();
        }
      }
    }
    ended_ = true;
    cv_.notify_all();
  }

  boost::asio::io_context io_;
  boost::asio::ip::tcp::socket socket_;
  std::thread reader_;
  std::mutex mutex_;
  std::condition_variable cv_;
  std::deque<boost::json::object> messages_;
  std::atomic<bool> ended_{false};
};

// GET /mcp: the session's notification stream.
inline std::unique_ptr<RawStream> open_notifications(const McpClient& client) {
  return std::make_unique<RawStream>(client.port(), "GET", "",
                                     std::map<std::string, std::string>{{"Authorization", "Bearer " + client.key()},
                                                                        {"Accept", "text/event-stream"},
                                                                        {"Mcp-Session-Id", client.session()}});
}

}  // namespace ablo::testing
