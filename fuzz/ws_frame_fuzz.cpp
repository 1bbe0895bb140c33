// WebSocket frames: each input line is one text frame for a fresh sync connection
// (SyncConnection::on_text, the handler server.cpp calls for every frame), authenticated by
// the environment's secret key, over the real engine, hub and coordinator.
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string_view>

#include "fuzz_env.h"
#include "net/ws_protocol.h"

namespace {

// The socket: frames are dropped (the fuzzer looks for crashes, not answers).
class NullOutbox : public ablo::fanout::Outbox {
 public:
  void push_frame(std::string) override {}
  void push_delta(std::shared_ptr<const ablo::fanout::EncodedDelta>) override {}
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto& env = ablo::fuzz::env();
  auto socket = std::make_shared<NullOutbox>();
  ablo::net::UpgradeGrant grant{env.principal, env.principal.allowed_groups, true};
  ablo::net::SyncConnection connection(*env.engine, *env.coordinator, grant, socket,
                                       [](std::chrono::milliseconds, std::function<void()>) {});
  std::string_view frames(reinterpret_cast<const char*>(data), size);
  while (!frames.empty()) {
    const auto end = frames.find('\n');
    connection.on_text(frames.substr(0, end));
    if (end == std::string_view::npos) break;
    frames.remove_prefix(end + 1);
  }
  connection.on_close();
  return 0;
}
