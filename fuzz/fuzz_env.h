#pragma once
// The server a fuzz target drives, built once per process: a SQLite store in a fresh temporary
// directory, the engine with a schema that has every field type, the auth service with one
// secret key, the coordinator and the HTTP router — what `ablo serve` wires together, minus
// sockets.
//
// Exception boundaries turn a throwing handler into a logged error and a 500 / rejection, so a
// fuzzer would never see the bug. Here every log line from a boundary (" threw: ") aborts
// the process instead, and libFuzzer records the input as a crash.
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <memory>
#include <mutex>
#include <string>

#include <boost/json.hpp>
#include <spdlog/sinks/base_sink.h>
#include <spdlog/spdlog.h>

#include "auth/auth_service.h"
#include "coord/coordinator.h"
#include "coord/write_gate.h"
#include "engine/engine.h"
#include "fanout/hub.h"
#include "net/router.h"
#include "store/sqlite_store.h"
#include "fuzz_schema.h"

namespace ablo::fuzz {


// Aborts on a message from an exception boundary; drops everything else (logging is slow).
class AbortOnBoundarySink : public spdlog::sinks::base_sink<std::mutex> {
 protected:
  void sink_it_(const spdlog::details::log_msg& msg) override {
    const std::string_view text(msg.payload.data(), msg.payload.size());
    if (text.find(" threw: ") != std::string_view::npos) {
      std::fprintf(stderr, "exception boundary reached: %.*s\n", static_cast<int>(text.size()), text.data());
      std::abort();
    }
  }
  void flush_() override {}
};

struct Env {
  std::filesystem::path dir;
  std::unique_ptr<store::Store> store;
  std::unique_ptr<fanout::Hub> hub;
  std::unique_ptr<engine::Engine> engine;
  std::unique_ptr<auth::AuthService> auth;
  std::unique_ptr<coord::Coordinator> coordinator;
  std::unique_ptr<net::Router> router;
  std::string secret_key;
  auth::Principal principal;

  Env() {
    spdlog::set_default_logger(std::make_shared<spdlog::logger>("fuzz", std::make_shared<AbortOnBoundarySink>()));
    std::string pattern = (std::filesystem::temp_directory_path() / "ablo-fuzz-XXXXXX").string();
    if (!mkdtemp(pattern.data())) die("mkdtemp failed");
    dir = pattern;
    auto opened = store::open_sqlite_store(dir.string());
    if (!opened) die(opened.error().message);
    store = std::move(*opened);
    hub = std::make_unique<fanout::Hub>([this](const std::string& tenant, int64_t after, int64_t up_to, int limit) {
      return store->read_deltas(tenant, after, up_to, limit);
    });
    engine = std::make_unique<engine::Engine>(*store, *hub);
    auth = std::make_unique<auth::AuthService>(*store, [this] { return engine->schema(); });
    if (auto ok = engine->start(); !ok) die(ok.error().message);
    if (auto pushed = engine->push_schema(boost::json::parse(kSchema)); !pushed) die(pushed.error().message);
    coordinator = std::make_unique<coord::Coordinator>(coord::CoordinatorOptions{
        .clock = {},
        .model_key =
            [this](std::string_view entity_type) {
              const auto* model = engine->schema()->resolve(entity_type);
              return model ? model->key : std::string();
            },
        .delta_head = [this] { return hub->head(); }});
    engine->set_write_gate(std::make_shared<coord::ClaimWriteGate>(*coordinator));
    // A claimed read that waits is answered later; the fuzzer runs that work at once.
    router = std::make_unique<net::Router>(*engine, *auth, *coordinator, [](std::function<void()> task) { task(); });
    auto key = auth->create_secret_key("org_fuzz", true, "fuzz");
    if (!key) die(key.error().message);
    secret_key = *key;
    auto authenticated = auth->authenticate(secret_key);
    if (!authenticated) die(authenticated.error().message);
    principal = *authenticated;
  }

  ~Env() {
    std::error_code ec;
    std::filesystem::remove_all(dir, ec);
  }

  [[noreturn]] static void die(const std::string& why) {
    std::fprintf(stderr, "fuzz environment: %s\n", why.c_str());
    std::exit(1);
  }
};

// The process's environment, built on first use. Never destroyed: libFuzzer exits with
// threads (the commit writer) still running.
inline Env& env() {
  static Env* instance = new Env();
  return *instance;
}

}  // namespace ablo::fuzz
