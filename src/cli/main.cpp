// The `ablo` command: serve (zero-config embedded server), keys, schema push.
#include <csignal>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <sstream>

#include <CLI/CLI.hpp>
#include <boost/json.hpp>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include "auth/auth_service.h"
#include "cli/db_commands.h"
#include "client/transport.h"
#include "common/random.h"
#include "coord/coordinator.h"
#include "coord/write_gate.h"
#include "engine/engine.h"
#include "fanout/hub.h"
#include "net/server.h"
#include "store/sqlite_store.h"

namespace {

namespace json = boost::json;
using namespace ablo;

int die(const Error& error) {
  std::fprintf(stderr, "ablo: %s: %s\n", error.code.c_str(), error.message.c_str());
  return 1;
}

Result<std::string> read_file(const std::string& path) {
  std::ifstream in(path);
  if (!in) return fail("invalid_request", "cannot read " + path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

// The organization this data directory serves by default, created on first start.
Result<std::string> default_org(store::Store& store) {
  auto org = store.get_setting("default_org");
  if (!org) return tl::unexpected(org.error());
  if (*org) return **org;
  std::string created = random_id("org", 16);
  if (auto ok = store.put_setting("default_org", created); !ok) return tl::unexpected(ok.error());
  return created;
}

// A development sandbox key kept in the data directory and printed at every start, so a
// fresh `ablo serve` is usable at once. Production keys come from `ablo keys create --live`.
Result<std::string> dev_test_key(store::Store& store, auth::AuthService& auth, const std::string& org) {
  auto key = store.get_setting("dev_test_key");
  if (!key) return tl::unexpected(key.error());
  if (*key) return **key;
  auto created = auth.create_secret_key(org, true, "development key");
  if (!created) return created;
  if (auto ok = store.put_setting("dev_test_key", *created); !ok) return tl::unexpected(ok.error());
  return created;
}

struct ServeOptions {
  std::string host = "127.0.0.1";
  uint16_t port = 8787;
  std::string data_dir = "./ablo-data";
  std::string schema_file;
  int io_threads = 2;
  int worker_threads = 32;  // HTTP handlers; each in-flight HTTP commit holds one
  bool relaxed_durability = false;
};

int serve(const ServeOptions& options) {
  // Block the stop signals before any thread starts so only sigwait below receives them.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);

  store::SqliteOptions store_options;
  store_options.synchronous_full = !options.relaxed_durability;
  auto store = store::open_sqlite_store(options.data_dir, store_options);
  if (!store) return die(store.error());
  fanout::Hub hub([&](const std::string& tenant, int64_t after, int64_t up_to, int limit) {
    return (*store)->read_deltas(tenant, after, up_to, limit);
  });
  engine::Engine engine(**store, hub);
  auth::AuthService auth(**store, [&] { return engine.schema(); });
  if (auto ok = engine.start(); !ok) return die(ok.error());

  if (!options.schema_file.empty()) {
    auto text = read_file(options.schema_file);
    if (!text) return die(text.error());
    boost::system::error_code ec;
    auto parsed = json::parse(*text, ec);
    if (ec) return die(Error("invalid_schema", options.schema_file + " is not valid JSON: " + ec.message()));
    const json::value& schema_json = parsed.is_object() && parsed.as_object().contains("schema")
                                         ? parsed.as_object().at("schema")
                                         : parsed;
    auto pushed = engine.push_schema(schema_json);
    if (!pushed) return die(pushed.error());
    spdlog::info("schema {} active (version {})", engine.schema()->hash(), pushed->version);
  }

  auto org = default_org(**store);
  if (!org) return die(org.error());
  auto key = dev_test_key(**store, auth, *org);
  if (!key) return die(key.error());

  coord::Coordinator coordinator({.clock = {}, .model_key = [&engine](std::string_view entity_type) {
                                    const auto* model = engine.schema()->resolve(entity_type);
                                    return model ? model->key : std::string();
                                  }});
  engine.set_write_gate(std::make_shared<coord::ClaimWriteGate>(coordinator));
  coordinator.start();

  net::Server server(engine, auth, coordinator, {options.host, options.port, options.io_threads, options.worker_threads});
  auto port = server.start();
  if (!port) return die(port.error());
  std::printf("ablo: listening on http://%s:%u\n", options.host.c_str(), static_cast<unsigned>(*port));
  std::printf("ablo: test API key: %s\n", key->c_str());
  std::fflush(stdout);
  spdlog::info("data in {} (organization {})", options.data_dir, *org);

  int signal = 0;
  sigwait(&stop_signals, &signal);
  spdlog::info("stopping on signal {}", signal);
  coordinator.stop();  // first: ends claimed reads that wait on the worker pool
  server.stop();
  engine.stop();
  return 0;
}

int create_key(const std::string& data_dir, bool live, const std::string& label) {
  auto store = store::open_sqlite_store(data_dir);
  if (!store) return die(store.error());
  auth::AuthService auth(**store, [] { return schema::Schema::empty(); });
  auto org = default_org(**store);
  if (!org) return die(org.error());
  auto key = auth.create_secret_key(*org, !live, label);
  if (!key) return die(key.error());
  std::printf("%s\n", key->c_str());
  return 0;
}

struct PushOptions {
  std::string file, host = "127.0.0.1", key;
  uint16_t port = 8787;
  bool force = false;
  std::vector<std::string> renames;    // old:new, as model or model.field
  std::vector<std::string> backfills;  // model.field=value
};

// --rename old:new and --backfill model.field=value as the push body's renames/backfills
// (schema.md §2.6); the server coerces backfill text (true/false/numbers).
Result<json::object> push_body(const PushOptions& options, json::value schema) {
  json::array renames, backfills;
  for (const auto& rename : options.renames) {
    const auto colon = rename.find(':');
    if (colon == std::string::npos) return fail("invalid_request", "--rename takes old:new", "--rename");
    renames.push_back(json::object{{"from", rename.substr(0, colon)}, {"to", rename.substr(colon + 1)}});
  }
  for (const auto& backfill : options.backfills) {
    const auto dot = backfill.find('.');
    const auto equals = backfill.find('=');
    if (dot == std::string::npos || equals == std::string::npos || equals < dot) {
      return fail("invalid_request", "--backfill takes model.field=value", "--backfill");
    }
    backfills.push_back(json::object{{"model", backfill.substr(0, dot)},
                                     {"field", backfill.substr(dot + 1, equals - dot - 1)},
                                     {"value", backfill.substr(equals + 1)}});
  }
  return json::object{{"schema", std::move(schema)}, {"force", options.force}, {"renames", std::move(renames)},
                      {"backfills", std::move(backfills)}};
}

int push_schema(const PushOptions& options) {
  const std::string& file = options.file;
  auto text = read_file(file);
  if (!text) return die(text.error());
  boost::system::error_code ec;
  auto parsed = json::parse(*text, ec);
  if (ec) return die(Error("invalid_schema", file + " is not valid JSON"));
  auto built = push_body(options, parsed.is_object() && parsed.as_object().contains("schema")
                                      ? parsed.as_object().at("schema")
                                      : parsed);
  if (!built) return die(built.error());
  json::object body = std::move(*built);
  auto response = client::http_request(options.host, options.port, "POST", "/api/schema", json::serialize(body),
                                       {{"Authorization", "Bearer " + options.key}});
  if (!response) return die(response.error());
  std::printf("%s\n", response->body.c_str());
  return response->status == 200 ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  spdlog::set_default_logger(spdlog::stderr_color_mt("ablo"));
  CLI::App app{"Ablo: a self-hostable sync engine"};
  app.require_subcommand(1);

  ServeOptions serve_options;
  auto* serve_cmd = app.add_subcommand("serve", "Run the server (SQLite in --data-dir by default)");
  serve_cmd->add_option("--host", serve_options.host, "Address to listen on")->capture_default_str();
  serve_cmd->add_option("--port", serve_options.port, "Port (0 picks a free one)")->capture_default_str();
  serve_cmd->add_option("--data-dir", serve_options.data_dir, "Where the embedded store lives")->capture_default_str();
  serve_cmd->add_option("--schema", serve_options.schema_file, "Schema JSON v3 file to activate at start");
  serve_cmd->add_option("--io-threads", serve_options.io_threads, "Network threads")->capture_default_str();
  serve_cmd->add_option("--worker-threads", serve_options.worker_threads, "HTTP handler threads (bounds concurrent HTTP commits)")
      ->capture_default_str();
  serve_cmd->add_flag("--relaxed-durability", serve_options.relaxed_durability,
                      "Skip the fsync per commit group (may lose the last commits on power loss)");

  std::string data_dir = "./ablo-data";
  bool live = false;
  std::string label;
  auto* keys_cmd = app.add_subcommand("keys", "Manage API keys");
  keys_cmd->require_subcommand(1);
  auto* create_cmd = keys_cmd->add_subcommand("create", "Create a secret key (sk_test_ unless --live)");
  create_cmd->add_option("--data-dir", data_dir)->capture_default_str();
  create_cmd->add_flag("--live", live, "Create a live key instead of a sandbox (test) key");
  create_cmd->add_option("--label", label);

  PushOptions push;
  auto* schema_cmd = app.add_subcommand("schema", "Manage the schema");
  schema_cmd->require_subcommand(1);
  auto* push_cmd = schema_cmd->add_subcommand("push", "Push a schema JSON v3 file to a running server (migrates)");
  push_cmd->add_option("file", push.file)->required();
  push_cmd->add_option("--host", push.host)->capture_default_str();
  push_cmd->add_option("--port", push.port)->capture_default_str();
  push_cmd->add_option("--key", push.key, "Secret key (or ABLO_API_KEY)")->envname("ABLO_API_KEY")->required();
  push_cmd->add_flag("--force", push.force, "Accept drops and lossy or risky casts");
  push_cmd->add_option("--rename", push.renames, "old:new (model) or model.old:model.new (field)");
  push_cmd->add_option("--backfill", push.backfills, "model.field=value for rows that need a value");

  ablo::cli::add_db_commands(app);

  CLI11_PARSE(app, argc, argv);
  if (serve_cmd->parsed()) return serve(serve_options);
  if (create_cmd->parsed()) return create_key(data_dir, live, label);
  if (push_cmd->parsed()) return push_schema(push);
  return 0;
}
