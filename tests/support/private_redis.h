#pragma once
// A redis-server of one test's own (a temporary directory, a free loopback port, no
// persistence), started daemonized and stopped/restarted on the same port for fault tests.
// Needs the redis-server binary (Debian package redis-server).
#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <stdexcept>
#include <string>
#include <thread>

#include "support/loopback_port.h"
#include "support/watchdog.h"

namespace ablo::testing {

class PrivateRedis {
 public:
  // `requirepass`: when not empty, clients must AUTH with it.
  explicit PrivateRedis(std::string requirepass = {}) : password_(std::move(requirepass)) {
    binary_ = find_binary();
    std::string pattern = "/tmp/ablo-redis-XXXXXX";
    if (!mkdtemp(pattern.data())) throw std::runtime_error("PrivateRedis: mkdtemp failed");
    dir_ = pattern;
    port_ = free_loopback_port_below_ephemeral_range();
    start();
    stop_when_this_process_dies("kill -9 $(cat " + dir_ + "/redis.pid)");
  }
  ~PrivateRedis() {
    stop_process(SIGKILL);
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }
  PrivateRedis(const PrivateRedis&) = delete;
  PrivateRedis& operator=(const PrivateRedis&) = delete;

  int port() const { return port_; }
  // Without credentials; tests that need them write redis://[user]:password@127.0.0.1:<port>.
  std::string url() const { return "redis://127.0.0.1:" + std::to_string(port_); }

  // Shuts the server down (its clients see the connection close) and waits until it is gone.
  void stop() { stop_process(SIGTERM); }

  // Starts the server (again) on the same port and waits until it answers.
  void start() {
    std::string command = binary_ + " --bind 127.0.0.1 --port " + std::to_string(port_) +
                          " --save '' --appendonly no --daemonize yes --pidfile " + dir_ + "/redis.pid --logfile " +
                          dir_ + "/redis.log --dir " + dir_;
    if (!password_.empty()) command += " --requirepass '" + password_ + "'";
    if (std::system(command.c_str()) != 0) throw std::runtime_error("PrivateRedis: failed: " + command);
    wait_until_answering();
    std::ifstream pidfile(dir_ + "/redis.pid");
    if (!(pidfile >> pid_)) throw std::runtime_error("PrivateRedis: no pid in " + dir_ + "/redis.pid");
  }

 private:
  static std::string find_binary() {
    for (const char* path : {"/usr/bin/redis-server", "/usr/local/bin/redis-server"}) {
      if (std::filesystem::exists(path)) return path;
    }
    throw std::runtime_error("redis-server not found (apt install redis-server): the redis tests need a real server");
  }

  // Sends an inline PING with a plain socket (not the client under test); any reply counts,
  // including -NOAUTH from a server with a password.
  bool answers() const {
    const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0) return false;
    timeval wait{1, 0};
    ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &wait, sizeof(wait));
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    address.sin_port = htons(static_cast<uint16_t>(port_));
    char reply = 0;
    const bool ok = ::connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)) == 0 &&
                    ::send(fd, "PING\r\n", 6, MSG_NOSIGNAL) == 6 && ::recv(fd, &reply, 1, 0) == 1 &&
                    (reply == '+' || reply == '-');
    ::close(fd);
    return ok;
  }

  void wait_until_answering() const {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (!answers()) {
      if (std::chrono::steady_clock::now() > deadline) {
        throw std::runtime_error("redis-server did not answer on port " + std::to_string(port_) + " within 10 s (see " +
                                 dir_ + "/redis.log)");
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
  }

  // The daemonized server is not our child, so "gone" is: no such process, or a zombie
  // waiting for an init that may not reap it.
  bool running() const {
    if (::kill(pid_, 0) != 0) return false;
    std::ifstream file("/proc/" + std::to_string(pid_) + "/stat");
    const std::string stat((std::istreambuf_iterator<char>(file)), std::istreambuf_iterator<char>());
    const auto name_end = stat.rfind(')');  // "pid (name) state ...": the name may hold spaces
    return name_end == std::string::npos || stat.substr(name_end + 2, 1) != "Z";
  }

  void stop_process(int signal) {
    if (pid_ <= 0) return;
    ::kill(pid_, signal);
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (running()) {
      if (std::chrono::steady_clock::now() > deadline) ::kill(pid_, SIGKILL);
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    pid_ = 0;
  }

  std::string binary_, dir_, password_;
  int port_ = 0;
  pid_t pid_ = 0;
};

}  // namespace ablo::testing
