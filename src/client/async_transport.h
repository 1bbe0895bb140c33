#pragma once
// The asynchronous wire transport of the native client library (issue 16, design
// docs/client-library.md §1): one HTTP/1.1 request per call and a WebSocket, both running on
// the caller's executor (the client library runs one io_context thread per client). Nothing
// here blocks: no call waits for the network, every completion is an executor handler.
// Plain TCP only: `https://` is refused (invalid_options) until asio::ssl is added.
//
// Errors carry registry codes only (errors-0.9.1.json). The transport's own failures use these
// codes, which the SDK translates for its callers (exchange_network_error, bootstrap_fetch_timeout, …):
//
//   kTransportFailed   source_network_error        resolve/connect refused/reset, the peer closed
//                                                   before a complete response, malformed HTTP,
//                                                   a refused WebSocket upgrade whose body names no code
//   kTimedOut          wait_for_timeout            the call's deadline passed
//   kCancelled         model_disposed              Cancel::cancel() (the owner abandoned the call:
//                                                   disposal or a superseded attempt)
//   kBodyTooLarge      bootstrap_response_invalid  a response body above HttpRequest::max_body_bytes
//   kQueueOverflow     queue_too_deep              AsyncWs write queue full (the connection is closed)
//   kNotOpen           ws_not_ready                AsyncWs::send before the socket opened / after it closed
//   invalid_options    a base URL that is not http://host[:port] (https included)
//   invalid_request    a call the API does not allow (connect twice, a non-positive timeout)
//
// A refused WebSocket upgrade (HTTP status other than 101) fails with the code of the
// server's error envelope (`code` ?? `error.code` ?? `error` string, protocol.md §5.2), else
// kTransportFailed; details always hold {"httpStatus": N, "body": "<raw body>"} and
// "requestId" when the response had an x-request-id.
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <boost/asio/any_io_executor.hpp>

#include "client/transport.h"  // HttpResponse
#include "common/result.h"

namespace ablo::client {

// Strings, not ErrorCode: model_disposed, ws_not_ready and invalid_options are client-surface
// codes of the registry, which ErrorCode (wire codes only) does not accept.
namespace async_codes {
inline constexpr std::string_view kTransportFailed = "source_network_error";
inline constexpr std::string_view kTimedOut = "wait_for_timeout";
inline constexpr std::string_view kCancelled = "model_disposed";
inline constexpr std::string_view kBodyTooLarge = "bootstrap_response_invalid";
inline constexpr std::string_view kQueueOverflow = "queue_too_deep";
inline constexpr std::string_view kNotOpen = "ws_not_ready";
inline constexpr std::string_view kInvalidOptions = "invalid_options";
inline constexpr std::string_view kInvalidRequest = "invalid_request";
}  // namespace async_codes

// Where requests go. Only plain http; the host is sent in the Host header as host:port.
struct HttpTarget {
  std::string host;
  uint16_t port = 80;

  // "http://host[:port][/…]" → {host, port}; the path part is ignored (callers build targets).
  // https:// and anything else fail with invalid_options.
  static Result<HttpTarget> from_url(std::string_view url);
};

inline constexpr std::size_t kDefaultMaxBodyBytes = std::size_t{256} << 20;  // 256 MiB

struct HttpRequest {
  std::string method = "GET";
  std::string target = "/";  // origin-form path + query
  std::string body;          // sent with Content-Type application/json unless headers name another
  std::map<std::string, std::string> headers;
  // Deadline of the whole call (resolve, connect, write, read of head and body). Must be > 0.
  std::chrono::milliseconds timeout{30000};
  // A larger response body fails the call with kBodyTooLarge instead of growing memory
  // (also enforced on the streaming variant, which keeps nothing but counts).
  std::size_t max_body_bytes = kDefaultMaxBodyBytes;
};

// Abandons an asynchronous call. Thread-safe, idempotent; once the call's outcome is decided
// (its completion is posted) cancel() does nothing. Holding a Cancel does not keep the call alive.
class Cancel {
 public:
  virtual ~Cancel() = default;
  virtual void cancel() = 0;
};

// One request on its own connection (Connection: close). `done` runs exactly once on `ex`
// (posted, never inside async_http itself) while `ex`'s context keeps running: with the
// response (any HTTP status is a success; header names lowercased, `date` and `x-request-id`
// included), or an error with one of the codes above — kCancelled when cancelled before the
// outcome was decided. `ex` may be an io_context executor run by several threads or a strand:
// the call serialises its own work on a private strand over `ex`.
std::shared_ptr<Cancel> async_http(boost::asio::any_io_executor ex, HttpTarget where, HttpRequest request,
                                   std::function<void(Result<HttpResponse>)> done);

// The same, in the positional form of the design document.
std::shared_ptr<Cancel> async_http(boost::asio::any_io_executor ex, HttpTarget where, std::string method,
                                   std::string target, std::string body, std::map<std::string, std::string> headers,
                                   std::chrono::milliseconds timeout, std::function<void(Result<HttpResponse>)> done);

// Streaming variant for large bodies (the bootstrap through boost::json::stream_parser): the
// body is handed over piece by piece as it arrives and never kept. `on_head` sees status and
// headers (body empty) first; `on_body` each piece in order. Both run on the call's strand
// over `ex` and the next read starts only after they return (natural back-pressure); an error
// Status from either ends the call with that error. `done` as for async_http, with the head
// (body empty) on success. After `done` has been posted neither callback runs again.
std::shared_ptr<Cancel> async_http_stream(boost::asio::any_io_executor ex, HttpTarget where, HttpRequest request,
                                          std::function<Status(const HttpResponse& head)> on_head,
                                          std::function<Status(std::string_view piece)> on_body,
                                          std::function<void(Result<HttpResponse>)> done);

struct WsOptions {
  std::size_t max_message_bytes = std::size_t{64} << 20;  // a larger inbound message fails the socket
  std::size_t max_queued_frames = 4096;                   // write queue bounds: overflow fails
  std::size_t max_queued_bytes = std::size_t{64} << 20;   //   the socket with kQueueOverflow
  std::chrono::milliseconds close_timeout{2000};          // close(): queued frames + close handshake, then hard close
};

// A WebSocket client on the caller's executor. Create it with the executor that will run every
// handler: a single-threaded io_context's executor or a strand. Every member function must be
// called from that executor (inside one of its handlers); none blocks.
//
// Guarantees:
//  * on_open (given to connect) runs at most once: with success once the 101 arrived, or with
//    the connect failure (codes above; a refused upgrade carries the server's code and
//    details.httpStatus/body). It runs unless close() was called first.
//  * After a successful open: the frame handler runs once per inbound data message (text or
//    binary, whole messages, in order); then the close handler runs exactly once when the
//    connection ends for any reason other than close(): (peer's code, peer's reason) when the
//    peer sent a close frame (1005 when it carried no code), or (1006, what happened) when it
//    ended without one — network failure, peer vanished mid-frame, message too big, write
//    queue overflow; failure() then says why with a registry code. No frame after the close handler.
//  * After close() returned no handler of this object runs again (on_open, frame, close), even
//    for events already under way. close() is idempotent.
//  * RFC 6455 pings are answered (Beast does it while a read is pending).
//  * Handlers are released once the connection has ended (so a handler may capture its owner).
//  * Its I/O state lives on while I/O is pending. Call close() before dropping the last
//    pointer: without it ~AsyncWs posts a close(1001) to the executor, so handlers may still
//    run until that post executes. Destroy it before its io_context.
class AsyncWs {
 public:
  static std::shared_ptr<AsyncWs> create(boost::asio::any_io_executor ex, WsOptions options = {});
  ~AsyncWs();
  AsyncWs(const AsyncWs&) = delete;
  AsyncWs& operator=(const AsyncWs&) = delete;

  // Set before connect.
  void set_frame_handler(std::function<void(std::string&&)> handler);
  void set_close_handler(std::function<void(int code, std::string reason)> handler);

  // Opens ws://host:port<target> offering `subprotocols` in order; `timeout` bounds resolve,
  // connect and handshake (> 0). Once per object; a second call's on_open gets invalid_request.
  void connect(std::string host, uint16_t port, std::string target, std::vector<std::string> subprotocols,
               std::chrono::milliseconds timeout, std::function<void(Status)> on_open);

  // Queues a text frame; frames go out in call order. Unless open it fails with failure() when
  // the connection ended locally, else kNotOpen. kQueueOverflow when the queue is full — the
  // connection is then failed (socket closed at once; the close handler follows, posted, with
  // 1006 and failure() = the same error).
  Status send(std::string text);

  // Sends the queued frames, then a close frame (code, reason), and lets the peer answer;
  // hard-closes the socket after WsOptions::close_timeout. Before open it abandons the connect.
  void close(int code = 1000, std::string reason = {});

  bool is_open() const;                             // handshake done, not closing or closed
  const std::string& selected_subprotocol() const;  // from the 101 response ("" if none)
  const std::optional<Error>& failure() const;      // why the connection ended locally (nullopt: peer close or close())
  std::size_t queued_frames() const;                // frames not yet fully written

  struct State;  // implementation

 private:
  explicit AsyncWs(std::shared_ptr<State> state);
  std::shared_ptr<State> state_;
};

}  // namespace ablo::client
