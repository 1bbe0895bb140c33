#pragma once
// Low-level wire transport for the native client, tests and benchmarks: blocking HTTP/1.1
// requests and a WebSocket connection whose frames are read on a background I/O thread.
// Speaks plain ws/http on loopback or any host; no TLS yet.
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
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

// Ends a streaming request from another thread: its blocking connect or read returns at once
// (http_stream then fails with "connection_failed"). Once cancelled it stays cancelled.
class StreamCanceller {
 public:
  void cancel();
  bool cancelled() const;

 private:
  friend struct StreamSocketGuard;
  mutable std::mutex mutex_;
  int socket_fd_ = -1;  // the open socket of the request under way, -1 when none
  bool cancelled_ = false;
};

// One request whose response body is handed to `on_body` piece by piece as it arrives (for
// server-sent events, which never end by themselves). `on_head` sees the status and headers
// first. No timeout: a stream lasts until the peer ends it or `canceller` cancels it. Returns
// the status and headers (body empty) once the body has ended; transport failures as in
// http_request.
Result<HttpResponse> http_stream(const std::string& host, uint16_t port, const std::string& method,
                                 const std::string& target, const std::string& body,
                                 const std::map<std::string, std::string>& headers,
                                 const std::function<void(const HttpResponse& head)>& on_head,
                                 const std::function<void(std::string_view piece)>& on_body,
                                 StreamCanceller* canceller = nullptr);

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
