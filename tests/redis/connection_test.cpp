#include "redis/connection.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include "support/private_redis.h"

namespace ablo::redis {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;
using Type = Reply::Type;
using ablo::testing::PrivateRedis;

constexpr auto kTimeout = 5s;

std::unique_ptr<Connection> open_ok(const std::string& url) {
  auto connection = Connection::open(url, kTimeout);
  if (!connection) ADD_FAILURE() << connection.error().message;
  return connection ? std::move(*connection) : nullptr;
}

Reply command_ok(Connection& connection, const std::vector<std::string>& args) {
  auto reply = connection.command(args, kTimeout);
  if (!reply) ADD_FAILURE() << args.front() << ": " << reply.error().message;
  return reply ? *reply : Reply{};
}

std::vector<std::string> texts(const Reply& array) {
  std::vector<std::string> out;
  for (const auto& element : array.elements) out.push_back(element.text);
  return out;
}

// Receives until an array reply whose first element is `kind` arrives (5 s at most).
std::optional<Reply> receive_kind(Connection& connection, const std::string& kind) {
  const auto deadline = Clock::now() + kTimeout;
  while (Clock::now() < deadline) {
    auto replies = connection.receive(100ms);
    if (!replies) {
      ADD_FAILURE() << replies.error().message;
      return std::nullopt;
    }
    for (auto& reply : *replies) {
      if (reply.type == Type::array && !reply.elements.empty() && reply.elements[0].text == kind) return reply;
    }
  }
  return std::nullopt;
}

// A loopback socket that listens but never accepts or answers: connects succeed (the kernel
// completes the handshake), replies never come.
class SilentServer {
 public:
  SilentServer() {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t size = sizeof(address);
    if (::bind(fd_, reinterpret_cast<sockaddr*>(&address), size) != 0 || ::listen(fd_, 16) != 0 ||
        ::getsockname(fd_, reinterpret_cast<sockaddr*>(&address), &size) != 0) {
      throw std::runtime_error("SilentServer: cannot listen");
    }
    port_ = ntohs(address.sin_port);
  }
  ~SilentServer() { ::close(fd_); }
  int port() const { return port_; }

 private:
  int fd_ = -1;
  int port_ = 0;
};

// A loopback port where nothing listens (bound once to find it, then released).
int closed_port() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t size = sizeof(address);
  ::bind(fd, reinterpret_cast<sockaddr*>(&address), size);
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&address), &size);
  ::close(fd);
  return ntohs(address.sin_port);
}

TEST(RedisConnection, PingSetGetRoundTrip) {
  PrivateRedis redis;
  auto connection = open_ok(redis.url());
  ASSERT_TRUE(connection);
  const Reply pong = command_ok(*connection, {"PING"});
  EXPECT_EQ(pong.type, Type::simple);
  EXPECT_EQ(pong.text, "PONG");
  EXPECT_EQ(command_ok(*connection, {"SET", "greeting", "hello"}).text, "OK");
  const Reply value = command_ok(*connection, {"GET", "greeting"});
  EXPECT_EQ(value.type, Type::bulk);
  EXPECT_EQ(value.text, "hello");
  EXPECT_EQ(command_ok(*connection, {"GET", "missing"}).type, Type::null);
}

TEST(RedisConnection, BinaryAndLargeValuesRoundTrip) {
  PrivateRedis redis;
  auto connection = open_ok(redis.url());
  ASSERT_TRUE(connection);
  const std::string odd("a\r\nb\0c$-1\r\n", 11);
  std::string large(3 * 1024 * 1024, '\0');
  for (std::size_t i = 0; i < large.size(); ++i) large[i] = static_cast<char>(i * 7 + i / 1000);
  EXPECT_EQ(command_ok(*connection, {"SET", "odd", odd}).text, "OK");
  EXPECT_EQ(command_ok(*connection, {"SET", "large", large}).text, "OK");
  EXPECT_EQ(command_ok(*connection, {"GET", "odd"}).text, odd);
  const Reply back = command_ok(*connection, {"GET", "large"});
  EXPECT_EQ(back.text.size(), large.size());
  EXPECT_TRUE(back.text == large);
}

TEST(RedisConnection, PipelineRepliesComeBackInCommandOrder) {
  PrivateRedis redis;
  auto connection = open_ok(redis.url());
  ASSERT_TRUE(connection);
  auto replies = connection->pipeline({{"SET", "n", "10"},
                                       {"INCR", "n"},
                                       {"INCRBY", "n", "-30"},
                                       {"RPUSH", "list", "x", "y", "z"},
                                       {"LRANGE", "list", "0", "-1"},
                                       {"GET", "n"},
                                       {"GET", "nothing"}},
                                      kTimeout);
  ASSERT_TRUE(replies) << replies.error().message;
  ASSERT_EQ(replies->size(), 7u);
  EXPECT_EQ((*replies)[0].text, "OK");
  EXPECT_EQ((*replies)[1].integer, 11);
  EXPECT_EQ((*replies)[2].integer, -19);
  EXPECT_EQ((*replies)[3].integer, 3);
  EXPECT_EQ((*replies)[4].type, Type::array);
  EXPECT_EQ(texts((*replies)[4]), (std::vector<std::string>{"x", "y", "z"}));
  EXPECT_EQ((*replies)[5].text, "-19");
  EXPECT_EQ((*replies)[6].type, Type::null);
  auto none = connection->pipeline({}, kTimeout);
  ASSERT_TRUE(none);
  EXPECT_TRUE(none->empty());
}

TEST(RedisConnection, ErrorRepliesAreRepliesAndLeaveTheConnectionUsable) {
  PrivateRedis redis;
  auto connection = open_ok(redis.url());
  ASSERT_TRUE(connection);
  const Reply unknown = command_ok(*connection, {"NOSUCHCOMMAND", "x"});
  EXPECT_EQ(unknown.type, Type::error);
  EXPECT_TRUE(unknown.text.starts_with("ERR unknown command")) << unknown.text;
  auto replies = connection->pipeline({{"SET", "s", "text"}, {"INCR", "s"}, {"GET", "s"}}, kTimeout);
  ASSERT_TRUE(replies) << replies.error().message;
  ASSERT_EQ(replies->size(), 3u);
  EXPECT_EQ((*replies)[1].type, Type::error);
  EXPECT_TRUE((*replies)[1].text.starts_with("ERR value is not an integer")) << (*replies)[1].text;
  EXPECT_EQ((*replies)[2].text, "text");
  EXPECT_EQ(command_ok(*connection, {"PING"}).text, "PONG");
}

TEST(RedisConnection, SelectsTheDatabaseNamedInTheUrl) {
  PrivateRedis redis;
  auto db2 = open_ok(redis.url() + "/2");
  auto db0 = open_ok(redis.url() + "/");
  ASSERT_TRUE(db2 && db0);
  EXPECT_EQ(command_ok(*db2, {"SET", "where", "two"}).text, "OK");
  EXPECT_EQ(command_ok(*db0, {"GET", "where"}).type, Type::null);
  auto again = open_ok(redis.url() + "/2");
  ASSERT_TRUE(again);
  EXPECT_EQ(command_ok(*again, {"GET", "where"}).text, "two");
  auto missing = Connection::open(redis.url() + "/99", kTimeout);
  ASSERT_FALSE(missing);
  EXPECT_TRUE(missing.error().message.starts_with("redis: SELECT 99 failed: ERR")) << missing.error().message;
}

TEST(RedisAuth, RightPasswordAuthenticatesWithOrWithoutUser) {
  PrivateRedis redis("s3cret");
  const std::string address = "127.0.0.1:" + std::to_string(redis.port());
  auto anonymous = open_ok(redis.url());
  ASSERT_TRUE(anonymous);
  const Reply refused = command_ok(*anonymous, {"GET", "k"});
  EXPECT_EQ(refused.type, Type::error) << "the server must require a password for this test to mean anything";
  EXPECT_TRUE(refused.text.starts_with("NOAUTH")) << refused.text;

  auto password_only = open_ok("redis://:s3cret@" + address);
  ASSERT_TRUE(password_only);
  EXPECT_EQ(command_ok(*password_only, {"SET", "k", "v"}).text, "OK");
  auto with_user = open_ok("redis://default:s3cret@" + address + "/0");
  ASSERT_TRUE(with_user);
  EXPECT_EQ(command_ok(*with_user, {"GET", "k"}).text, "v");
}

TEST(RedisAuth, WrongPasswordFailsWithAClearError) {
  PrivateRedis redis("s3cret");
  auto connection = Connection::open("redis://:wrong@127.0.0.1:" + std::to_string(redis.port()), kTimeout);
  ASSERT_FALSE(connection);
  EXPECT_EQ(connection.error().code, "internal_error");
  EXPECT_TRUE(connection.error().message.starts_with("redis: AUTH failed: WRONGPASS")) << connection.error().message;
  EXPECT_EQ(connection.error().message.find("wrong"), std::string::npos) << "the password must not be echoed";
}

// A subscriber on channel "wake" (its confirmation received) and a publisher.
class RedisPubSub : public ::testing::Test {
 protected:
  void SetUp() override {
    subscriber = open_ok(redis.url());
    publisher = open_ok(redis.url());
    ASSERT_TRUE(subscriber && publisher);
    ASSERT_TRUE(subscriber->send({"SUBSCRIBE", "wake"}));
    auto confirmed = receive_kind(*subscriber, "subscribe");
    ASSERT_TRUE(confirmed) << "no subscribe confirmation";
    EXPECT_EQ(texts(*confirmed)[1], "wake");
  }
  PrivateRedis redis;
  std::unique_ptr<Connection> subscriber, publisher;
};

TEST_F(RedisPubSub, PublishOnOneConnectionReachesASubscriberOnAnother) {

  const Reply receivers = command_ok(*publisher, {"PUBLISH", "wake", "hello\r\nthere"});
  EXPECT_EQ(receivers.integer, 1);
  auto message = receive_kind(*subscriber, "message");
  ASSERT_TRUE(message) << "no message";
  ASSERT_EQ(message->elements.size(), 3u);
  EXPECT_EQ(texts(*message), (std::vector<std::string>{"message", "wake", "hello\r\nthere"}));
}

TEST_F(RedisPubSub, SeveralMessagesArriveInPublishOrder) {
  std::vector<std::vector<std::string>> publishes;
  for (int i = 0; i < 50; ++i) publishes.push_back({"PUBLISH", "wake", std::to_string(i)});
  ASSERT_TRUE(publisher->pipeline(publishes, kTimeout));
  std::vector<std::string> payloads;
  const auto deadline = Clock::now() + kTimeout;
  while (payloads.size() < 50 && Clock::now() < deadline) {
    auto replies = subscriber->receive(100ms);
    ASSERT_TRUE(replies) << replies.error().message;
    for (const auto& reply : *replies) payloads.push_back(reply.elements.at(2).text);
  }
  ASSERT_EQ(payloads.size(), 50u);
  for (int i = 0; i < 50; ++i) EXPECT_EQ(payloads[static_cast<std::size_t>(i)], std::to_string(i));
}

TEST_F(RedisPubSub, ReceiveWithNothingPendingReturnsNoRepliesAfterTheTimeout) {
  const auto start = Clock::now();
  auto replies = subscriber->receive(150ms);
  const auto waited = Clock::now() - start;
  ASSERT_TRUE(replies) << replies.error().message;
  EXPECT_TRUE(replies->empty());
  EXPECT_GE(waited, 150ms);
  EXPECT_LT(waited, 1s);
}

TEST_F(RedisPubSub, ReceiveReportsAnErrorAfterTheServerStops) {
  redis.stop();
  std::optional<Error> error;
  const auto deadline = Clock::now() + kTimeout;
  while (!error && Clock::now() < deadline) {
    auto replies = subscriber->receive(100ms);
    if (!replies) error = replies.error();
  }
  ASSERT_TRUE(error) << "receive() kept succeeding after the server stopped";
  EXPECT_EQ(error->message, "redis: connection to 127.0.0.1:" + std::to_string(redis.port()) + " closed by the server");
  auto again = subscriber->receive(10ms);
  ASSERT_FALSE(again);
  EXPECT_TRUE(again.error().message.starts_with("redis: connection unusable after an earlier failure"));

  // The server comes back on the same port; a new connection works.
  redis.start();
  auto reopened = open_ok(redis.url());
  ASSERT_TRUE(reopened);
  EXPECT_EQ(command_ok(*reopened, {"PING"}).text, "PONG");
}

TEST(RedisOpen, NothingListeningFailsWithinTheTimeout) {
  const int port = closed_port();
  const auto start = Clock::now();
  auto connection = Connection::open("redis://127.0.0.1:" + std::to_string(port), 2s);
  ASSERT_FALSE(connection);
  EXPECT_LT(Clock::now() - start, 2s);
  EXPECT_EQ(connection.error().code, "internal_error");
  EXPECT_EQ(connection.error().message, "redis: connect to 127.0.0.1:" + std::to_string(port) + ": Connection refused");
}

TEST(RedisOpen, ASilentServerMakesCommandsAndAuthTimeOutOnTime) {
  SilentServer silent;
  const std::string address = "127.0.0.1:" + std::to_string(silent.port());
  auto connection = Connection::open("redis://" + address, 1s);
  ASSERT_TRUE(connection) << connection.error().message;

  auto start = Clock::now();
  auto reply = (*connection)->command({"PING"}, 200ms);
  auto waited = Clock::now() - start;
  ASSERT_FALSE(reply);
  EXPECT_EQ(reply.error().message, "redis: no reply from " + address + " within 200 ms");
  EXPECT_GE(waited, 200ms);
  EXPECT_LT(waited, 1s);
  // The PING's reply could still arrive and be taken for the next command's: refused.
  auto next = (*connection)->command({"PING"}, 200ms);
  ASSERT_FALSE(next);
  EXPECT_TRUE(next.error().message.starts_with("redis: connection unusable after an earlier failure"));

  start = Clock::now();
  auto authenticated = Connection::open("redis://:pw@" + address, 300ms);
  waited = Clock::now() - start;
  ASSERT_FALSE(authenticated);
  EXPECT_TRUE(authenticated.error().message.starts_with("redis: no reply from")) << authenticated.error().message;
  EXPECT_LT(waited, 1s);
}

TEST(RedisOpen, MalformedUrlsAreRejectedWithoutConnecting) {
  for (const char* url : {"", "not a url", "http://127.0.0.1:6379", "rediss://127.0.0.1", "redis://",
                          "redis://127.0.0.1:port", "redis://127.0.0.1:99999", "redis://127.0.0.1:6379/db",
                          "redis://127.0.0.1:6379/1/2", "redis://127.0.0.1:6379/-1", "redis://user@127.0.0.1",
                          "redis://127.0.0.1:6379?db=1"}) {
    auto connection = Connection::open(url, 1s);
    ASSERT_FALSE(connection) << url;
    EXPECT_EQ(connection.error().code, "internal_error") << url;
    EXPECT_TRUE(connection.error().message.starts_with("redis: ")) << url;
    EXPECT_EQ(connection.error().message.find("connect to"), std::string::npos) << url << ": " << connection.error().message;
  }
  auto bad_port = Connection::open("redis://127.0.0.1:99999", 1s);
  ASSERT_FALSE(bad_port);
  EXPECT_EQ(bad_port.error().message, "redis: bad port \"99999\" in URL");
  auto bad_db = Connection::open("redis://:topsecret@127.0.0.1:6379/x", 1s);
  ASSERT_FALSE(bad_db);
  EXPECT_EQ(bad_db.error().message, "redis: bad database \"/x\" in URL (expected /<number>)");
  EXPECT_EQ(bad_db.error().message.find("topsecret"), std::string::npos);
}

}  // namespace
}  // namespace ablo::redis
