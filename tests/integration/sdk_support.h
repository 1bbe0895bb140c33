#pragma once
// What the client library's integration tests share: client options for a test server (and,
// through server_fixture.h, `eventually` for conditions the library's own threads make true).
#include <chrono>
#include <filesystem>
#include <string>

#include <unistd.h>

#include "integration/quickstart_schema.h"
#include "integration/server_fixture.h"
#include "sdk/client.h"

namespace ablo::testing {

// A client of the quickstart schema on 127.0.0.1:`port`, with short batching and reconnect
// delays so a test does not wait on them.
inline Options sdk_options(uint16_t port, const std::string& api_key, std::string store_path = ":memory:",
                           ParticipantKind kind = ParticipantKind::kSystem) {
  Options options;
  options.base_url = "http://127.0.0.1:" + std::to_string(port);
  options.api_key = api_key;
  options.schema = kQuickstartSchema;
  options.store_path = std::move(store_path);
  options.participant_kind = kind;
  options.timing.batch_delay = std::chrono::milliseconds(5);
  options.timing.reconnect = Backoff{std::chrono::milliseconds(50), std::chrono::milliseconds(300), 0.5};
  return options;
}

// A scratch directory (a client's store file lives there), removed at the end of the test.
struct ScratchDir {
  std::filesystem::path path;
  explicit ScratchDir(const std::string& name)
      : path(std::filesystem::temp_directory_path() / (name + "-" + std::to_string(::getpid()))) {
    std::filesystem::remove_all(path);
    std::filesystem::create_directories(path);
  }
  ~ScratchDir() { std::filesystem::remove_all(path); }
  std::string file(const std::string& name) const { return (path / name).string(); }
};

}  // namespace ablo::testing
