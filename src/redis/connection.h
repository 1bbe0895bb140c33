#pragma once
// A minimal Redis client over one TCP connection (POSIX sockets and poll(), no library):
// request/response with pipelining, and a raw send/receive pair for subscriber mode, where
// the server pushes messages unasked. Used by the cluster layer for optional pub/sub
// wake-ups between nodes (PUBLISH on one node, SUBSCRIBE on the others).
//
// Threading: a Connection is used by one thread at a time.
//
// Timeouts: every call is bounded by the timeout it is given (send() by the one given to
// open()); nothing blocks longer. Name resolution (getaddrinfo) is the exception: it cannot be
// bounded, so give IP addresses or names the resolver answers locally.
//
// Errors: code "internal_error", messages starting "redis: " and naming what failed. A
// Redis error reply (-ERR ...) is not a failure: it comes back as a Reply of Type::error.
// After a transport or protocol failure, or a timeout in the middle of a reply, the stream
// is out of step and every later call fails; the owner opens a new Connection.
#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/result.h"
#include "redis/resp.h"

namespace ablo::redis {

class Connection {
 public:
  // redis://[[user]:password@]host[:port][/db]; default port 6379. Connects with a
  // non-blocking connect bounded by `timeout` (TCP_NODELAY), then AUTH (AUTH password, or
  // AUTH user password) when a password is given, then SELECT db when a db other than 0 is
  // given; all of it within `timeout`.
  static Result<std::unique_ptr<Connection>> open(const std::string& url, std::chrono::milliseconds timeout);
  ~Connection();  // closes the socket
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  // Sends the commands in one write and reads one reply per command, all within `timeout`.
  // A Redis error reply is returned as a Reply of Type::error (not as a failure); failures
  // are transport/protocol problems.
  Result<std::vector<Reply>> pipeline(const std::vector<std::vector<std::string>>& commands,
                                      std::chrono::milliseconds timeout);
  Result<Reply> command(const std::vector<std::string>& args, std::chrono::milliseconds timeout);  // pipeline of one

  // For subscriber mode, where replies arrive unasked:
  Status send(const std::vector<std::string>& args);
  // Waits up to `timeout` for data, reads what is there, and returns every complete reply
  // (possibly none). A closed or failed connection is an error.
  Result<std::vector<Reply>> receive(std::chrono::milliseconds timeout);

  int socket() const;

 private:
  using Clock = std::chrono::steady_clock;
  Connection(int fd, std::string peer, std::chrono::milliseconds io_timeout);

  Status write_all(const std::string& bytes, Clock::time_point deadline);
  // Waits until the socket is readable; false on timeout.
  Result<bool> wait_readable(Clock::time_point deadline);
  // Reads everything the socket holds now into the parser (the socket is non-blocking).
  Status read_available();
  // The replies the parser holds complete, at most `limit`.
  Result<std::vector<Reply>> parsed(std::size_t limit);
  // Marks the connection unusable (the stream is out of step) and returns the error.
  tl::unexpected<Error> broken(std::string message);

  int fd_;
  std::string peer_;                       // "host:port", for messages
  std::chrono::milliseconds io_timeout_;   // the open() timeout, bounds send()
  ReplyParser parser_;
  std::optional<Error> broken_;
};

}  // namespace ablo::redis
