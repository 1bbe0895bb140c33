#include "redis/connection.h"

#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <climits>
#include <cstring>

#include <boost/url.hpp>
#include <fmt/format.h>

namespace ablo::redis {

namespace {

using Clock = std::chrono::steady_clock;

struct Target {
  std::string host;
  std::string port = "6379";
  std::string user;
  std::optional<std::string> password;
  int db = 0;
};

tl::unexpected<Error> failure(std::string message) {
  return tl::unexpected(Error("internal_error", std::move(message)));
}

// Messages never echo the URL itself: it may carry the password.
Result<Target> parse_url(const std::string& url) {
  constexpr const char* kShape = "expected redis://[[user]:password@]host[:port][/db]";
  auto parsed = boost::urls::parse_uri(url);
  if (!parsed) return failure(fmt::format("redis: malformed URL ({})", kShape));
  const boost::urls::url_view& uri = *parsed;
  if (uri.scheme() != "redis") {
    return failure(fmt::format("redis: URL scheme \"{}\" is not supported ({})", std::string(uri.scheme()), kShape));
  }
  Target target;
  target.host = uri.host_address();
  if (target.host.empty()) return failure(fmt::format("redis: URL has no host ({})", kShape));
  if (uri.has_port() && !uri.port().empty()) {
    // Parsed here: port_number() truncates to 16 bits (":99999" would become port 34463).
    const std::string port = uri.port();
    int number = 0;
    auto [end, ec] = std::from_chars(port.data(), port.data() + port.size(), number);
    if (ec != std::errc() || end != port.data() + port.size() || number < 1 || number > 65535) {
      return failure(fmt::format("redis: bad port \"{}\" in URL", port));
    }
    target.port = std::to_string(number);
  }
  if (uri.has_password()) {
    target.user = uri.user();
    target.password = uri.password();
  } else if (uri.has_userinfo() && !uri.user().empty()) {
    return failure("redis: URL names a user without a password (use redis://user:password@host)");
  }
  const std::string path = uri.path();
  if (!path.empty() && path != "/") {
    const std::string_view digits = std::string_view(path).substr(1);
    auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), target.db);
    if (path[0] != '/' || ec != std::errc() || end != digits.data() + digits.size() || target.db < 0) {
      return failure(fmt::format("redis: bad database \"{}\" in URL (expected /<number>)", path));
    }
  }
  if (uri.has_query() || uri.has_fragment()) return failure("redis: URL query and fragment are not supported");
  return target;
}

int remaining_ms(Clock::time_point deadline) {
  const auto left = std::chrono::ceil<std::chrono::milliseconds>(deadline - Clock::now()).count();
  return static_cast<int>(std::clamp<int64_t>(left, 0, INT_MAX));
}

// Waits until `events` are ready on `fd` (or an error/hangup, which the next call reports); false on timeout.
Result<bool> wait_for(int fd, short events, Clock::time_point deadline) {
  for (;;) {
    pollfd ready{fd, events, 0};
    const int n = ::poll(&ready, 1, remaining_ms(deadline));
    if (n > 0) return true;
    if (n == 0 && Clock::now() >= deadline) return false;
    if (n < 0 && errno != EINTR) return failure(fmt::format("redis: poll: {}", std::strerror(errno)));
  }
}

// One address: a non-blocking connect, waited for until the deadline. The error text on failure.
tl::expected<int, std::string> connect_one(const addrinfo& address, Clock::time_point deadline) {
  const int fd = ::socket(address.ai_family, address.ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, address.ai_protocol);
  if (fd < 0) return tl::unexpected(std::string(std::strerror(errno)));
  int error = 0;
  if (::connect(fd, address.ai_addr, address.ai_addrlen) != 0) {
    error = errno;
    if (error == EINPROGRESS) {
      auto ready = wait_for(fd, POLLOUT, deadline);
      socklen_t size = sizeof(error);
      if (!ready || !*ready) {
        ::close(fd);
        return tl::unexpected(ready ? std::string("timed out") : ready.error().message);
      }
      if (::getsockopt(fd, SOL_SOCKET, SO_ERROR, &error, &size) != 0) {
        error = errno;
      }
    }
  }
  if (error != 0) {
    ::close(fd);
    return tl::unexpected(std::string(std::strerror(error)));
  }
  // Commands are small and latency matters more than packet count (pipelines go out in one write anyway).
  const int on = 1;
  (void)::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof(on));
  return fd;
}

Result<int> connect_to(const Target& target, const std::string& peer, Clock::time_point deadline,
                       std::chrono::milliseconds timeout) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* found = nullptr;
  if (const int rc = ::getaddrinfo(target.host.c_str(), target.port.c_str(), &hints, &found); rc != 0) {
    return failure(fmt::format("redis: resolve {}: {}", target.host, ::gai_strerror(rc)));
  }
  std::unique_ptr<addrinfo, decltype(&::freeaddrinfo)> addresses(found, &::freeaddrinfo);
  std::string last_error = "no address";
  for (const addrinfo* address = addresses.get(); address; address = address->ai_next) {
    auto fd = connect_one(*address, deadline);
    if (fd) return *fd;
    last_error = fd.error();
    if (Clock::now() >= deadline) {
      if (last_error == "timed out") last_error = fmt::format("timed out after {} ms", timeout.count());
      break;
    }
  }
  return failure(fmt::format("redis: connect to {}: {}", peer, last_error));
}

}  // namespace

Result<std::unique_ptr<Connection>> Connection::open(const std::string& url, std::chrono::milliseconds timeout) {
  const auto deadline = Clock::now() + timeout;
  auto target = parse_url(url);
  if (!target) return tl::unexpected(target.error());
  const std::string peer = target->host.find(':') == std::string::npos
                               ? target->host + ":" + target->port
                               : "[" + target->host + "]:" + target->port;
  auto fd = connect_to(*target, peer, deadline, timeout);
  if (!fd) return tl::unexpected(fd.error());
  std::unique_ptr<Connection> connection(new Connection(*fd, peer, timeout));
  const auto left = [&] { return std::chrono::milliseconds(remaining_ms(deadline)); };
  if (target->password) {
    std::vector<std::string> auth = {"AUTH"};
    if (!target->user.empty()) auth.push_back(target->user);
    auth.push_back(*target->password);
    auto reply = connection->command(auth, left());
    if (!reply) return tl::unexpected(reply.error());
    if (reply->type == Reply::Type::error) return failure("redis: AUTH failed: " + reply->text);
  }
  if (target->db != 0) {
    auto reply = connection->command({"SELECT", std::to_string(target->db)}, left());
    if (!reply) return tl::unexpected(reply.error());
    if (reply->type == Reply::Type::error) {
      return failure(fmt::format("redis: SELECT {} failed: {}", target->db, reply->text));
    }
  }
  return connection;
}

Connection::Connection(int fd, std::string peer, std::chrono::milliseconds io_timeout)
    : fd_(fd), peer_(std::move(peer)), io_timeout_(io_timeout) {}

Connection::~Connection() { ::close(fd_); }

int Connection::socket() const { return fd_; }

Result<std::vector<Reply>> Connection::pipeline(const std::vector<std::vector<std::string>>& commands,
                                                std::chrono::milliseconds timeout) {
  if (broken_) return failure("redis: connection unusable after an earlier failure (" + broken_->message + ")");
  if (commands.empty()) return std::vector<Reply>{};
  const auto deadline = Clock::now() + timeout;
  std::string bytes;
  for (const auto& args : commands) bytes += encode_command(args);
  if (auto sent = write_all(bytes, deadline); !sent) return tl::unexpected(sent.error());
  std::vector<Reply> replies;
  replies.reserve(commands.size());
  for (;;) {
    auto more = parsed(commands.size() - replies.size());
    if (!more) return tl::unexpected(more.error());
    std::move(more->begin(), more->end(), std::back_inserter(replies));
    if (replies.size() == commands.size()) return replies;
    auto ready = wait_readable(deadline);
    if (!ready) return tl::unexpected(ready.error());
    // The replies still owed would arrive later and be taken for the next command's.
    if (!*ready) return broken(fmt::format("redis: no reply from {} within {} ms", peer_, timeout.count()));
    if (auto read = read_available(); !read) return tl::unexpected(read.error());
  }
}

Result<Reply> Connection::command(const std::vector<std::string>& args, std::chrono::milliseconds timeout) {
  auto replies = pipeline({args}, timeout);
  if (!replies) return tl::unexpected(replies.error());
  return std::move(replies->front());
}

Status Connection::send(const std::vector<std::string>& args) {
  if (broken_) return failure("redis: connection unusable after an earlier failure (" + broken_->message + ")");
  return write_all(encode_command(args), Clock::now() + io_timeout_);
}

Result<std::vector<Reply>> Connection::receive(std::chrono::milliseconds timeout) {
  if (broken_) return failure("redis: connection unusable after an earlier failure (" + broken_->message + ")");
  auto replies = parsed(SIZE_MAX);
  if (!replies || !replies->empty()) return replies;
  auto ready = wait_readable(Clock::now() + timeout);
  if (!ready) return tl::unexpected(ready.error());
  if (!*ready) return replies;
  auto read = read_available();
  replies = parsed(SIZE_MAX);
  // Replies that arrived just before the server closed are delivered; the next call reports the close.
  if (replies && !replies->empty()) return replies;
  if (!read) return tl::unexpected(read.error());
  return replies;
}

Status Connection::write_all(const std::string& bytes, Clock::time_point deadline) {
  std::size_t sent = 0;
  while (sent < bytes.size()) {
    // MSG_NOSIGNAL: a peer that went away is an error return, not a SIGPIPE that kills the process.
    const ssize_t n = ::send(fd_, bytes.data() + sent, bytes.size() - sent, MSG_NOSIGNAL);
    if (n >= 0) {
      sent += static_cast<std::size_t>(n);
      continue;
    }
    if (errno == EINTR) continue;
    if (errno != EAGAIN && errno != EWOULDBLOCK) {
      return broken(fmt::format("redis: send to {}: {}", peer_, std::strerror(errno)));
    }
    auto ready = wait_for(fd_, POLLOUT, deadline);
    if (!ready) return broken(ready.error().message);
    // A command cut off midway cannot be taken back: the stream is out of step either way.
    if (!*ready) return broken(fmt::format("redis: send to {}: timed out", peer_));
  }
  return {};
}

Result<bool> Connection::wait_readable(Clock::time_point deadline) {
  auto ready = wait_for(fd_, POLLIN, deadline);
  if (!ready) return broken(ready.error().message);
  return *ready;
}

Status Connection::read_available() {
  // Bounded, so a server that streams without pause cannot keep one call reading forever.
  constexpr int kMaxReads = 64;
  char chunk[16 * 1024];
  for (int reads = 0; reads < kMaxReads;) {
    const ssize_t n = ::recv(fd_, chunk, sizeof(chunk), 0);
    if (n > 0) {
      parser_.feed(std::string_view(chunk, static_cast<std::size_t>(n)));
      ++reads;
      continue;
    }
    if (n == 0) return broken(fmt::format("redis: connection to {} closed by the server", peer_));
    if (errno == EINTR) continue;
    if (errno == EAGAIN || errno == EWOULDBLOCK) return {};
    return broken(fmt::format("redis: read from {}: {}", peer_, std::strerror(errno)));
  }
  return {};
}

Result<std::vector<Reply>> Connection::parsed(std::size_t limit) {
  std::vector<Reply> replies;
  while (replies.size() < limit) {
    auto next = parser_.next();
    if (!next) return broken(next.error().message);
    if (!*next) break;
    replies.push_back(std::move(**next));
  }
  return replies;
}

tl::unexpected<Error> Connection::broken(std::string message) {
  broken_ = Error("internal_error", message);
  return tl::unexpected(*broken_);
}

}  // namespace ablo::redis
