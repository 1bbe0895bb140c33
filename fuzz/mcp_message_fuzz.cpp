// MCP messages (POST /mcp bodies) through mcp::Service on a live session, over the same REST
// router the server uses. Every message must be answered (a response, a 202, or an error):
// an answer that never comes within 5 s aborts, as does an exception reaching a boundary.
// Waits are capped at 0 s here so a claim or change wait answers at once.
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <future>
#include <memory>
#include <mutex>
#include <string>

#include "fuzz_env.h"
#include "mcp/mcp.h"
#include "net/mcp_backend.h"

namespace {

// Completes when the answer has been given in full (a response, or a stream's end).
class Answer : public ablo::mcp::Responder, public ablo::mcp::EventStream {
 public:
  void respond(int status, ablo::mcp::Headers headers, std::string body) override {
    for (const auto& [name, value] : headers) {
      if (name == "Mcp-Session-Id") session_id = value;
    }
    (void)status;
    (void)body;
    done();
  }
  std::shared_ptr<ablo::mcp::EventStream> open_stream(ablo::mcp::Headers, std::function<void()>) override {
    return std::shared_ptr<ablo::mcp::EventStream>(self_.lock(), this);
  }
  bool send(std::string) override { return true; }
  void finish() override { done(); }

  std::future<void> finished() { return promise_.get_future(); }
  void bind(const std::shared_ptr<Answer>& self) { self_ = self; }
  std::string session_id;

 private:
  void done() {
    std::lock_guard lock(mutex_);
    if (!answered_) promise_.set_value();
    answered_ = true;
  }
  std::mutex mutex_;
  bool answered_ = false;
  std::promise<void> promise_;
  std::weak_ptr<Answer> self_;
};

struct McpEnv {
  ablo::net::RouterBackend backend;
  ablo::mcp::Service service;
  std::string session_id;

  McpEnv()
      : backend(*ablo::fuzz::env().router, *ablo::fuzz::env().engine, [](std::function<void()> task) { task(); }),
        service(backend, ablo::mcp::Options{.max_wait_seconds = 0}) {
    service.start();
    auto answer = post(R"({"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":"2025-06-18",)"
                       R"("capabilities":{},"clientInfo":{"name":"fuzz","version":"1"}}})");
    session_id = answer->session_id;
    if (session_id.empty()) ablo::fuzz::Env::die("initialize failed");
  }

  std::shared_ptr<Answer> post(std::string body) {
    auto answer = std::make_shared<Answer>();
    answer->bind(answer);
    auto finished = answer->finished();
    ablo::mcp::HttpExchange exchange;
    exchange.method = "POST";
    exchange.body = std::move(body);
    exchange.authorization = "Bearer " + ablo::fuzz::env().secret_key;
    exchange.session_id = session_id;
    exchange.accept = "application/json, text/event-stream";
    service.handle(std::move(exchange), answer);
    if (finished.wait_for(std::chrono::seconds(5)) != std::future_status::ready) {
      std::fprintf(stderr, "an MCP message was never answered\n");
      std::abort();
    }
    return answer;
  }
};

McpEnv& mcp_env() {
  static McpEnv* instance = new McpEnv();
  return *instance;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  mcp_env().post(std::string(reinterpret_cast<const char*>(data), size));
  return 0;
}
