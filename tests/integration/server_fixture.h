#pragma once
// Starts the real `ablo serve` binary (path in $ABLO_BIN) on a free loopback port with a
// fresh data directory, and offers the client steps every integration test needs.
//
// The store: SQLite in the data directory, or — when $ABLO_TEST_STORE is "postgres" (ctest
// runs the whole suite both ways) — a fresh PostgreSQL database per server. Cluster tests pass
// one database URL to several servers.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include <boost/json/object.hpp>
#include <sys/types.h>

#include "client/transport.h"
#include "support/pg_database.h"
#include "support/sanitized_build.h"

namespace ablo::testing {

class ServerProcess {
 public:
  // `schema_json`, when given, is written to a file and passed as --schema.
  explicit ServerProcess(std::string schema_json = {});
  // A node on an existing PostgreSQL database (several nodes may share it); `extra_args` are
  // appended to `ablo serve`'s command line.
  ServerProcess(std::string schema_json, std::string database_url, std::vector<std::string> extra_args = {});
  ~ServerProcess();
  ServerProcess(const ServerProcess&) = delete;
  ServerProcess& operator=(const ServerProcess&) = delete;

  uint16_t port() const { return port_; }
  pid_t pid() const { return pid_; }  // of the running server process
  const std::string& api_key() const { return api_key_; }
  const std::string& data_dir() const { return data_dir_; }

  void stop();     // SIGTERM, then SIGKILL after 10 s
  void kill_hard();  // SIGKILL at once: a crashed node
  void restart();  // same data directory, new port
  const std::string& database_url() const { return database_url_; }  // "" on SQLite

  // A secret key of another tenant: the live environment of the same organization
  // (`ablo keys create --live` on this server's store). Throws when none is printed.
  std::string create_live_key() const;
  // POST /api/auth/capability as the 0.9.1 quickstart does; the parsed response.
  boost::json::object exchange() const;
  // Opens /api/sync/ws the way the 0.9.1 client does (bearer + sync subprotocols).
  std::unique_ptr<client::WsConnection> connect_ws(const std::string& token,
                                                   const std::vector<std::string>& groups) const;

 private:
  void start();

  std::unique_ptr<TempPgDatabase> own_database_;
  std::string database_url_;
  std::string data_dir_;
  std::string schema_file_;
  std::vector<std::string> extra_args_;
  pid_t pid_ = -1;
  uint16_t port_ = 0;
  std::string api_key_;
};

// The `ablo` binary under test ($ABLO_BIN, else the one built beside the tests).
std::string server_binary();

// Percent-encodes everything but RFC 3986 unreserved characters (a query parameter's value).
std::string url_encode(std::string_view text);

// Resident memory of a process in KiB (VmRSS in /proc/<pid>/status); 0 if unreadable.
int64_t resident_kib(pid_t pid);

// Samples a process's resident memory on a thread of its own (every `period`) until stop(),
// which returns the peak in KiB.
class RssSampler {
 public:
  explicit RssSampler(pid_t pid, std::chrono::milliseconds period = std::chrono::milliseconds(10))
      : thread_([this, pid, period] {
          while (!stop_) {
            peak_ = std::max<int64_t>(peak_, resident_kib(pid));
            std::this_thread::sleep_for(period);
          }
        }) {}
  ~RssSampler() { stop(); }
  RssSampler(const RssSampler&) = delete;
  RssSampler& operator=(const RssSampler&) = delete;
  int64_t stop() {
    stop_ = true;
    if (thread_.joinable()) thread_.join();
    return peak_;
  }

 private:
  std::atomic<bool> stop_{false};
  std::atomic<int64_t> peak_{0};
  std::thread thread_;
};

// Polls `condition` every 50 ms until it holds or `timeout` passes; its last answer.
bool eventually(const std::function<bool()>& condition,
                std::chrono::milliseconds timeout = std::chrono::milliseconds(15'000));

// True when this run of the suite uses the PostgreSQL store ($ABLO_TEST_STORE=postgres).
bool testing_postgres();

// The first frame (parsed) that satisfies `matches`, skipping others; nullopt on timeout.
std::optional<boost::json::object> receive_until(client::WsConnection& ws,
                                                 const std::function<bool(const boost::json::object&)>& matches,
                                                 std::chrono::milliseconds timeout);

}  // namespace ablo::testing
