#pragma once
// A PostgreSQL server of one test's own (initdb in a temporary directory, a free loopback
// port), for fault tests that restart the database without disturbing other tests. As root
// the server runs as the `postgres` user (initdb refuses root).
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <string>

#include "support/loopback_port.h"
#include "support/watchdog.h"

namespace ablo::testing {

class PrivatePostgres {
 public:
  // `durable`: fsync and synchronous commit on, as in production (benchmarks); tests turn them
  // off for speed.
  explicit PrivatePostgres(bool durable = false) : durable_(durable) {
    bin_ = find_bin();
    std::string pattern = "/tmp/ablo-pg-XXXXXX";
    dir_ = mkdtemp(pattern.data());
    run_as_ = getuid() == 0 ? "runuser -u postgres -- " : "";
    try {
      if (getuid() == 0) sh("chown postgres:postgres " + dir_);
      sh(run_as_ + bin_ + "/initdb -D " + dir_ + "/data -U postgres -A trust --no-sync >" + dir_ + "/initdb.log 2>&1");
      start_on_a_free_port();
    } catch (...) {  // no destructor runs: the directory would stay (the error carries pg.log)
      remove_directory();
      throw;
    }
    stop_when_this_process_dies(run_as_ + bin_ + "/pg_ctl -D " + dir_ + "/data -m immediate stop");
  }
  ~PrivatePostgres() {
    std::system((run_as_ + bin_ + "/pg_ctl -D " + dir_ + "/data -m immediate -w stop >/dev/null 2>&1").c_str());
    remove_directory();
  }
  PrivatePostgres(const PrivatePostgres&) = delete;
  PrivatePostgres& operator=(const PrivatePostgres&) = delete;

  std::string url() const { return "postgresql://postgres@127.0.0.1:" + std::to_string(port_) + "/postgres"; }
  // The postmaster's pid (the first line of postmaster.pid; 0 when not running): its backends
  // are its children, which is how the benchmarks find PostgreSQL's own CPU.
  pid_t postmaster_pid() const {
    std::ifstream file(dir_ + "/data/postmaster.pid");
    long pid = 0;
    file >> pid;
    return static_cast<pid_t>(pid);
  }

  // Stops the server (fast: open connections are terminated) and starts it again.
  void restart() { stop(); start(); }
  // Stops the server (fast) until start() runs it again: an outage of the shared database.
  void stop() { sh(run_as_ + bin_ + "/pg_ctl -D " + dir_ + "/data -m fast -w -t 30 stop >/dev/null"); }
  void start() {
    if (!try_start()) throw did_not_start();
  }

 private:
  // Another test may bind the chosen port between the check and the server's bind; the port is
  // only ours once the server holds it, so the first start tries a few.
  // pg.log grows across attempts: only the part an attempt added says why it failed.
  void start_on_a_free_port() {
    for (int attempt = 0; attempt < 5; ++attempt) {
      port_ = free_loopback_port_below_ephemeral_range();
      const std::size_t log_before = log().size();
      if (try_start()) return;
      if (log().find("could not bind", log_before) == std::string::npos) break;
    }
    throw did_not_start();
  }

  std::runtime_error did_not_start() const {
    return std::runtime_error("PostgreSQL did not start on port " + std::to_string(port_) + ":\n" + log());
  }

  bool try_start() {
    const std::string command =
        run_as_ + bin_ + "/pg_ctl -D " + dir_ + "/data -l " + dir_ + "/pg.log -w -t 30 -o \"-c listen_addresses=127.0.0.1 -p " +
        std::to_string(port_) + " -k " + dir_ + (durable_ ? "" : " -c fsync=off -c synchronous_commit=off") +
        " -c max_connections=300\" start >/dev/null";
    return std::system(command.c_str()) == 0;
  }

  std::string log() const {
    std::ifstream file(dir_ + "/pg.log");
    std::stringstream text;
    text << file.rdbuf();
    return text.str();
  }

  void remove_directory() {
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }

  static void sh(const std::string& command) {
    if (std::system(command.c_str()) != 0) throw std::runtime_error("failed: " + command);
  }

  static std::string find_bin() {
    for (const char* version : {"17", "16", "15", "14", "13"}) {
      std::string bin = std::string("/usr/lib/postgresql/") + version + "/bin";
      if (std::filesystem::exists(bin + "/initdb")) return bin;
    }
    throw std::runtime_error("PostgreSQL server binaries not found (apt install postgresql)");
  }

  bool durable_ = false;
  std::string bin_, dir_, run_as_;
  int port_ = 0;
};

}  // namespace ablo::testing
