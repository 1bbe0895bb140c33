#pragma once
// Starts the real `ablo serve` binary (path in $ABLO_BIN) on a free loopback port with a
// fresh data directory, and offers the client steps every integration test needs.
#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <boost/json/object.hpp>
#include <sys/types.h>

#include "client/transport.h"

namespace ablo::testing {

class ServerProcess {
 public:
  // `schema_json`, when given, is written to a file and passed as --schema.
  explicit ServerProcess(std::string schema_json = {});
  ~ServerProcess();
  ServerProcess(const ServerProcess&) = delete;
  ServerProcess& operator=(const ServerProcess&) = delete;

  uint16_t port() const { return port_; }
  const std::string& api_key() const { return api_key_; }
  const std::string& data_dir() const { return data_dir_; }

  void stop();     // SIGTERM, then SIGKILL after 10 s
  void restart();  // same data directory, new port

  // POST /api/auth/capability as the 0.9.1 quickstart does; the parsed response.
  boost::json::object exchange() const;
  // Opens /api/sync/ws the way the 0.9.1 client does (bearer + sync subprotocols).
  std::unique_ptr<client::WsConnection> connect_ws(const std::string& token,
                                                   const std::vector<std::string>& groups) const;

 private:
  void start();

  std::string data_dir_;
  std::string schema_file_;
  pid_t pid_ = -1;
  uint16_t port_ = 0;
  std::string api_key_;
};

// The first frame (parsed) that satisfies `matches`, skipping others; nullopt on timeout.
std::optional<boost::json::object> receive_until(client::WsConnection& ws,
                                                 const std::function<bool(const boost::json::object&)>& matches,
                                                 std::chrono::milliseconds timeout);

}  // namespace ablo::testing
