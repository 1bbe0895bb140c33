#pragma once
// A loopback TCP proxy for fault tests (docs/client-library.md §14): the client under test
// connects to port(), the proxy forwards to 127.0.0.1:<target port>, and the test switches
// what happens to connections. It runs on its own thread; every method is thread-safe and
// returns once the change is in effect (bounded: it waits at most 5 s for the proxy thread).
//
// Modes apply to existing and new connections alike:
//   restore()          forward both ways (the initial mode)
//   refuse()           close every open connection and every new one at once: an offline period
//   blackhole()        accept, forward nothing either way (bytes read are dropped): heartbeat silence
//   hold_downstream()  client → server forwarded, server → client dropped: "the server applied it
//                      but the answer never came"
// Dropped bytes are gone: after blackhole()/hold_downstream() a connection's stream is broken,
// so tests usually cut() before restore().
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace ablo::testing {

class TcpProxy {
 public:
  explicit TcpProxy(uint16_t target_port);
  ~TcpProxy();
  TcpProxy(const TcpProxy&) = delete;
  TcpProxy& operator=(const TcpProxy&) = delete;

  uint16_t port() const;  // where clients connect (127.0.0.1)

  void cut();  // close every open connection now (both sides); the mode stays
  void refuse();
  void restore();
  void blackhole();
  void hold_downstream();
  void retarget(uint16_t target_port);  // new connections go there; open ones stay where they are

  std::size_t connections() const;       // accepted so far, refused ones included
  std::size_t open_connections() const;  // currently forwarding (or held/blackholed)

  // Client → server bytes actually forwarded, one string per connection in accept order (a
  // refused connection has an empty entry). Each is capped at 16 MiB.
  std::vector<std::string> captured_upstream() const;

  // The text messages a WebSocket client sent in `captured` (one captured_upstream() entry):
  // skips the HTTP upgrade request and unmasks the frames (fragments joined); stops at the
  // first incomplete frame.
  static std::vector<std::string> websocket_client_texts(std::string_view captured);

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace ablo::testing
