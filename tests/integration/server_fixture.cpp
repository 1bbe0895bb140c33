#include "integration/server_fixture.h"

#include <chrono>
#include <thread>

#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <stdexcept>

#include <boost/json.hpp>
#include <poll.h>
#include <sys/wait.h>
#include <sys/prctl.h>
#include <unistd.h>

namespace ablo::testing {

namespace json = boost::json;

std::string url_encode(std::string_view text) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : text) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
      out.push_back(static_cast<char>(c));
    } else {
      out += {'%', kHex[c >> 4], kHex[c & 15]};
    }
  }
  return out;
}

std::string server_binary() {
  const char* path = std::getenv("ABLO_BIN");  // overrides the binary built beside the tests
  return path && *path ? path : ABLO_SERVER_BINARY;
}

int64_t resident_kib(pid_t pid) {
  std::ifstream status("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(status, line)) {
    if (line.rfind("VmRSS:", 0) == 0) return std::stoll(line.substr(6));
  }
  return 0;
}

bool testing_postgres() {
  const char* store = std::getenv("ABLO_TEST_STORE");
  return store && std::string_view(store) == "postgres";
}

ServerProcess::ServerProcess(std::string schema_json)
    : ServerProcess(std::move(schema_json), std::string()) {}

ServerProcess::ServerProcess(std::string schema_json, std::string database_url, std::vector<std::string> extra_args)
    : database_url_(std::move(database_url)), extra_args_(std::move(extra_args)) {
  if (database_url_.empty() && testing_postgres()) {
    own_database_ = std::make_unique<TempPgDatabase>();
    database_url_ = own_database_->url();
  }
  std::string pattern = "/tmp/ablo-it-XXXXXX";
  data_dir_ = mkdtemp(pattern.data());
  if (!schema_json.empty()) {
    schema_file_ = data_dir_ + "-schema.json";
    std::ofstream(schema_file_) << schema_json;
  }
  start();
}

ServerProcess::~ServerProcess() {
  stop();
  std::error_code ec;
  std::filesystem::remove_all(data_dir_, ec);
  if (!schema_file_.empty()) std::filesystem::remove(schema_file_, ec);
}

void ServerProcess::start() {
  int pipe_fds[2];
  if (pipe(pipe_fds) != 0) throw std::runtime_error("pipe failed");
  const std::string binary = server_binary();
  pid_ = fork();
  if (pid_ == 0) {
    prctl(PR_SET_PDEATHSIG, SIGKILL);  // a crashed test must not leave servers behind
    dup2(pipe_fds[1], STDOUT_FILENO);
    close(pipe_fds[0]);
    close(pipe_fds[1]);
    std::vector<std::string> args = {binary, "serve", "--host", "127.0.0.1", "--port", "0", "--data-dir", data_dir_};
    if (!schema_file_.empty()) args.insert(args.end(), {"--schema", schema_file_});
    if (!database_url_.empty()) args.insert(args.end(), {"--database", database_url_});
    args.insert(args.end(), extra_args_.begin(), extra_args_.end());
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    execv(binary.c_str(), argv.data());
    _exit(127);
  }
  close(pipe_fds[1]);
  // Read stdout until both announcement lines have arrived (or 20 s pass).
  std::string seen;
  port_ = 0;
  api_key_.clear();
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  while ((port_ == 0 || api_key_.empty()) && std::chrono::steady_clock::now() < deadline) {
    pollfd pfd{pipe_fds[0], POLLIN, 0};
    if (poll(&pfd, 1, 200) <= 0) continue;
    char buf[512];
    const ssize_t n = read(pipe_fds[0], buf, sizeof buf);
    if (n <= 0) break;
    seen.append(buf, static_cast<std::size_t>(n));
    std::size_t line_start = 0, newline;
    while ((newline = seen.find('\n', line_start)) != std::string::npos) {
      const std::string line = seen.substr(line_start, newline - line_start);
      line_start = newline + 1;
      constexpr std::string_view kListening = "ablo: listening on http://127.0.0.1:";
      constexpr std::string_view kKey = "ablo: test API key: ";
      if (line.rfind(kListening, 0) == 0) port_ = static_cast<uint16_t>(std::stoi(line.substr(kListening.size())));
      if (line.rfind(kKey, 0) == 0) api_key_ = line.substr(kKey.size());
    }
  }
  close(pipe_fds[0]);
  if (port_ == 0 || api_key_.empty()) {
    stop();
    throw std::runtime_error("ablo serve did not announce itself; stdout was: " + seen);
  }
}

void ServerProcess::stop() {
  if (pid_ <= 0) return;
  kill(pid_, SIGTERM);
  for (int i = 0; i < 100; ++i) {
    if (waitpid(pid_, nullptr, WNOHANG) == pid_) {
      pid_ = -1;
      return;
    }
    usleep(100 * 1000);
  }
  kill(pid_, SIGKILL);
  waitpid(pid_, nullptr, 0);
  pid_ = -1;
}

void ServerProcess::kill_hard() {
  if (pid_ <= 0) return;
  kill(pid_, SIGKILL);
  waitpid(pid_, nullptr, 0);
  pid_ = -1;
}

void ServerProcess::restart() {
  stop();
  start();
}

std::string ServerProcess::create_live_key() const {
  const std::string where = database_url_.empty() ? "--data-dir '" + data_dir_ + "'" : "--database '" + database_url_ + "'";
  FILE* pipe = popen((server_binary() + " keys create --live " + where + " 2>&1").c_str(), "r");
  if (!pipe) throw std::runtime_error("cannot run ablo keys create");
  char buffer[512];
  std::string output;
  while (std::size_t n = fread(buffer, 1, sizeof buffer, pipe)) output.append(buffer, n);
  pclose(pipe);
  const auto at = output.find("sk_live_");
  if (at == std::string::npos) throw std::runtime_error("ablo keys create --live printed no key: " + output);
  return output.substr(at, output.find_first_of(" \n", at) - at);
}

json::object ServerProcess::exchange() const {
  auto response = client::http_request("127.0.0.1", port_, "POST", "/api/auth/capability",
                                       R"({"participantKind":"system","wideScope":true,"ttlSeconds":3600})",
                                       {{"Authorization", "Bearer " + api_key_}});
  if (!response || response->status != 200) {
    throw std::runtime_error("exchange failed: " + (response ? response->body : response.error().message));
  }
  return json::parse(response->body).as_object();
}

std::unique_ptr<client::WsConnection> ServerProcess::connect_ws(const std::string& token,
                                                                const std::vector<std::string>& groups) const {
  std::string target = "/api/sync/ws?cursor=";
  for (const auto& group : groups) target += "&syncGroups=" + url_encode(group);
  auto ws = client::WsConnection::connect("127.0.0.1", port_, target, {"ablo.bearer." + token, "ablo.sync.v1"});
  if (!ws) throw std::runtime_error("WebSocket connect failed: " + ws.error().message);
  return std::move(*ws);
}

std::optional<json::object> receive_until(client::WsConnection& ws, const std::function<bool(const json::object&)>& matches,
                                          std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (true) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) return std::nullopt;
    auto frame = ws.receive(left);
    if (!frame) return std::nullopt;
    boost::system::error_code ec;
    auto parsed = json::parse(*frame, ec);
    if (ec || !parsed.is_object() || !parsed.as_object().contains("type")) continue;
    if (matches(parsed.as_object())) return std::move(parsed.as_object());
  }
}

bool eventually(const std::function<bool()>& condition, std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    if (condition()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return condition();
}

}  // namespace ablo::testing
