#pragma once
// The flags both example programs share: where the server is, the key, the schema file and the
// local store file.
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <string>

#include <CLI/CLI.hpp>

#include "sdk/client.h"

namespace examples {

struct ConnectionFlags {
  std::string url;
  std::string key;  // empty: the library reads ABLO_API_KEY
  std::string schema_path = ABLO_EXAMPLE_SCHEMA;
  std::string store_path = ":memory:";
};

inline void add_connection_flags(CLI::App& app, ConnectionFlags& flags) {
  const char* env_url = std::getenv("ABLO_API_URL");
  flags.url = env_url ? env_url : "http://127.0.0.1:8787";
  app.add_option("--url", flags.url, "server URL (default $ABLO_API_URL, else http://127.0.0.1:8787)");
  app.add_option("--key", flags.key, "API key (default $ABLO_API_KEY)");
  app.add_option("--schema", flags.schema_path, "schema JSON file")->check(CLI::ExistingFile);
  app.add_option("--store", flags.store_path, "local store file: works offline, keeps unsent writes (default in memory)");
}

inline ablo::Options client_options(const ConnectionFlags& flags) {
  std::ifstream file(flags.schema_path);
  std::stringstream schema;
  schema << file.rdbuf();
  if (!file) throw std::runtime_error("cannot read " + flags.schema_path);
  ablo::Options options;
  options.base_url = flags.url;
  options.api_key = flags.key;
  options.schema = schema.str();
  options.store_path = flags.store_path;
  // Interactive programs: send a write at once instead of batching it with the next ones, and
  // retry a lost connection quickly.
  options.timing.batch_delay = std::chrono::milliseconds(5);
  options.timing.reconnect.initial = std::chrono::milliseconds(200);
  options.timing.reconnect.max = std::chrono::milliseconds(2000);
  return options;
}

}  // namespace examples
