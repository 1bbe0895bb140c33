#pragma once
// Low-level wire transport for the native client, tests and benchmarks: blocking HTTP/1.1
// requests and a WebSocket connection whose frames are read on a background I/O thread.
// Speaks plain ws/http on loopback or any host; no TLS yet.
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/result.h"

namespace ablo::client {

struct HttpResponse {
  int status = 0;
  std::map<std::string, std::string> headers;  // lowercase names
  std::string body;
};

// One request per call, on a fresh connection (Connection: close). Errors are transport-level
// failures (code "connection_failed"); any HTTP status is a successful Result.
Result<HttpResponse> http_request(const std::string& host, uint16_t port, const std::string& method,
                                  const std::string& target, const std::string& body = {},
                                  const std::map<std::string, std::string>& headers = {});

class WsConnection {
 public:
  // Opens ws://host:port<target> offering `subprotocols` in order. On a refused upgrade the
  // error code is "handshake_failed" and the message holds the HTTP status and body.
  static Result<std::unique_ptr<WsConnection>> connect(const std::string& host, uint16_t port,
                                                       const std::string& target,
                                                       const std::vector<std::string>& subprotocols);
  ~WsConnection();
  WsConnection(const WsConnection&) = delete;
  WsConnection& operator=(const WsConnection&) = delete;

  // The subprotocol the server selected in its 101 response ("" if none).
  const std::string& selected_subprotocol() const;
  // Queues a text frame; safe from any thread; frames go out in call order.
  void send_text(std::string text);
  // Delivers every later text frame to `handler` on the connection's I/O thread instead of the
  // receive() queue. Set it before the peer has reason to send (e.g. before sync_request).
  void set_frame_handler(std::function<void(std::string&&)> handler);
  // Next received text frame, or nullopt on timeout or when the connection is closed.
  std::optional<std::string> receive(std::chrono::milliseconds timeout);
  // True once the peer closed or the connection failed. close_code() is the peer's code (0 if none).
  bool closed() const;
  int close_code() const;
  std::string close_reason() const;  // the peer's close reason ("" if none)
  // Sends a close frame (code 1000) and joins the I/O thread.
  void close();

  struct Impl;

 private:
  explicit WsConnection(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace ablo::client
