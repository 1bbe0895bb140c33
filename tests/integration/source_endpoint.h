#pragma once
// The reference Data Source endpoint (examples/source-endpoint/endpoint.py) as a child process
// for integration tests: the customer's side of Data Source mode, backed by SQLite or — when
// the suite runs on PostgreSQL — by a fresh PostgreSQL database, with its test controls on.
// `write` changes its tables directly, as another program (a cron job, psql) would.
#include <poll.h>
#include <signal.h>
#include <sqlite3.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <memory>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <boost/json.hpp>

#include "client/transport.h"
#include "integration/server_fixture.h"
#include "pg/connection.h"
#include "support/pg_database.h"

namespace ablo::testing {

class SourceEndpointProcess {
 public:
  // `key`: the sk_ key the endpoint verifies with (the project's key).
  SourceEndpointProcess(const std::string& schema_json, const std::string& key) {
    char pattern[] = "/tmp/ablo-src-XXXXXX";
    if (!mkdtemp(pattern)) throw std::runtime_error("mkdtemp failed");
    dir_ = pattern;
    std::ofstream(dir_ + "/schema.json") << schema_json;
    if (testing_postgres()) {
      database_ = std::make_unique<TempPgDatabase>();
      database_url_ = database_->url();
    } else {
      database_url_ = "sqlite:" + dir_ + "/endpoint.db";
    }
    start(key);
  }
  ~SourceEndpointProcess() {
    stop();
    std::error_code ignored;
    std::filesystem::remove_all(dir_, ignored);
  }
  SourceEndpointProcess(const SourceEndpointProcess&) = delete;
  SourceEndpointProcess& operator=(const SourceEndpointProcess&) = delete;

  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_) + "/api/ablo/source"; }
  uint16_t port() const { return port_; }
  pid_t pid() const { return pid_; }
  // Where its rows live: "sqlite:<file>" or a PostgreSQL URL (for writers of their own, e.g. a
  // benchmark that keeps one connection open).
  const std::string& database_url() const { return database_url_; }

  // POST /_test/control (datasource test controls; {} resets them).
  void control(const boost::json::object& settings) const {
    auto response = client::http_request("127.0.0.1", port_, "POST", "/_test/control", boost::json::serialize(settings),
                                         {{"Content-Type", "application/json"}});
    if (!response || response->status != 200) throw std::runtime_error("the endpoint refused a test control");
  }

  // The last requests it received: {type, webhookId, timestamp, clientTxId?, status}.
  boost::json::array requests() const {
    auto response = client::http_request("127.0.0.1", port_, "GET", "/_test/requests", "", {});
    if (!response || response->status != 200) throw std::runtime_error("the endpoint's request log is unreadable");
    auto parsed = boost::json::parse(response->body);
    if (parsed.is_array()) return parsed.as_array();
    return parsed.as_object().at("requests").as_array();
  }

  // Commits the endpoint received carrying `client_tx_id`.
  int commits_with(const std::string& client_tx_id) const {
    int count = 0;
    for (const auto& request : requests()) {
      const auto& r = request.as_object();
      const auto* tx = r.if_contains("clientTxId");
      if (r.at("type") == "commit" && tx && tx->is_string() && tx->as_string() == client_tx_id) ++count;
    }
    return count;
  }
  int requests_of_type(std::string_view type) const {
    int count = 0;
    for (const auto& request : requests()) {
      if (request.as_object().at("type") == type.data()) ++count;
    }
    return count;
  }

  // Runs SQL on the endpoint's database directly, outside the endpoint (its triggers see it).
  void write(const std::string& sql) const {
    if (database_) {
      auto connection = pg::Connection::open(database_url_);
      if (!connection) throw std::runtime_error(connection.error().message);
      auto done = (*connection)->exec_script(sql);
      if (!done) throw std::runtime_error(done.error().message);
      return;
    }
    sqlite3* db = nullptr;
    if (sqlite3_open((dir_ + "/endpoint.db").c_str(), &db) != SQLITE_OK) throw std::runtime_error("sqlite3_open failed");
    sqlite3_busy_timeout(db, 5000);
    char* message = nullptr;
    const int rc = sqlite3_exec(db, sql.c_str(), nullptr, nullptr, &message);
    std::string error = message ? message : "";
    sqlite3_free(message);
    sqlite3_close(db);
    if (rc != SQLITE_OK) throw std::runtime_error("sqlite: " + error);
  }

  void stop() {
    if (pid_ <= 0) return;
    kill(pid_, SIGTERM);
    int status = 0;
    for (int i = 0; i < 50 && waitpid(pid_, &status, WNOHANG) == 0; ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    if (waitpid(pid_, &status, WNOHANG) == 0) {
      kill(pid_, SIGKILL);
      waitpid(pid_, &status, 0);
    }
    pid_ = -1;
  }

 private:
  void start(const std::string& key) {
    int fds[2];
    if (pipe(fds) != 0) throw std::runtime_error("pipe failed");
    const std::string script = std::string(ABLO_SOURCE_DIR) + "/examples/source-endpoint/endpoint.py";
    pid_ = fork();
    if (pid_ == 0) {
      prctl(PR_SET_PDEATHSIG, SIGKILL);
      dup2(fds[1], STDOUT_FILENO);
      close(fds[0]);
      close(fds[1]);
      std::vector<std::string> args{"/usr/bin/python3", script,     "--key",  key,
                                    "--schema",         dir_ + "/schema.json", "--database", database_url_,
                                    "--port",           "0",        "--test-controls"};
      std::vector<char*> argv;
      for (auto& arg : args) argv.push_back(arg.data());
      argv.push_back(nullptr);
      execv(args[0].c_str(), argv.data());
      _exit(127);
    }
    close(fds[1]);
    std::string seen;
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
    constexpr std::string_view kListening = "listening on http://127.0.0.1:";
    while (port_ == 0 && std::chrono::steady_clock::now() < deadline) {
      pollfd pfd{fds[0], POLLIN, 0};
      if (poll(&pfd, 1, 200) <= 0) continue;
      char buffer[512];
      const ssize_t n = read(fds[0], buffer, sizeof buffer);
      if (n <= 0) break;
      seen.append(buffer, static_cast<std::size_t>(n));
      if (const auto at = seen.find(kListening); at != std::string::npos && seen.find('\n', at) != std::string::npos) {
        port_ = static_cast<uint16_t>(std::stoi(seen.substr(at + kListening.size())));
      }
    }
    close(fds[0]);
    if (port_ == 0) {
      stop();
      throw std::runtime_error("the reference endpoint did not start; stdout was: " + seen);
    }
  }

  std::string dir_;
  std::unique_ptr<TempPgDatabase> database_;
  std::string database_url_;
  pid_t pid_ = -1;
  uint16_t port_ = 0;
};

}  // namespace ablo::testing
