// The `ablo` command: serve (zero-config embedded server, or a node of a PostgreSQL cluster),
// dev (serve + schema watch), keys, schema push, migrate; the other command groups register
// themselves from their own files.
#include <csignal>
#include <cstdio>
#include <limits>
#include <iostream>

#include <CLI/CLI.hpp>
#include <boost/json.hpp>
#include <fmt/format.h>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include "auth/auth_service.h"
#include "cli/audit_commands.h"
#include "cli/db_commands.h"
#include "cli/dev_commands.h"
#include "cli/generate_command.h"
#include "cli/log_format.h"
#include "cli/api_target.h"
#include "cli/mcp_bridge.h"
#include "cli/output.h"
#include "cli/schema_file.h"
#include "cli/progress.h"
#include "cli/schema_watch.h"
#include "cli/source_commands.h"
#include "cli/webhook_commands.h"
#include "metrics/metrics.h"
#include "cluster/log_listener.h"
#include "cluster/pg_op_log.h"
#include "cluster/redis_wakeups.h"
#include "common/random.h"
#include "coord/coordinator.h"
#include "coord/write_gate.h"
#include "engine/engine.h"
#include "fanout/hub.h"
#include "fanout/log_follower.h"
#include "net/server.h"
#include "schema/diff.h"
#include "source/service.h"
#include "store/migration_progress.h"
#include "store/pg_store.h"
#include "store/sqlite_store.h"

namespace {

namespace json = boost::json;
using namespace ablo;
using cli::read_schema_file;

int die(const Error& error) { return cli::print_error(error); }

// Where the data lives: PostgreSQL when a database URL is given (--database or DATABASE_URL),
// else the embedded SQLite store in the data directory.
struct StoreLocation {
  std::string database_url;
  std::string data_dir = "./ablo-data";
  bool relaxed_durability = false;
  std::string describe() const { return database_url.empty() ? data_dir : "PostgreSQL"; }
};

// `announce`, for a cluster node with Redis wake-ups: replaces the store's NOTIFYs.
Result<std::unique_ptr<store::Store>> open_store(const StoreLocation& where, pg::Announce announce = {}) {
  if (!where.database_url.empty()) {
    store::PgOptions options;
    options.announce = std::move(announce);
    return store::open_pg_store(where.database_url, options);
  }
  store::SqliteOptions options;
  options.synchronous_full = !where.relaxed_durability;
  return store::open_sqlite_store(where.data_dir, options);
}

// A setting created once and then shared: nodes starting together agree on the first value.
Result<std::string> setting_or_create(store::Store& store, const std::string& key,
                                      const std::function<Result<std::string>()>& create) {
  auto existing = store.get_setting(key);
  if (!existing) return tl::unexpected(existing.error());
  if (*existing) return **existing;
  auto created = create();
  if (!created) return created;
  auto stored = store.put_setting_if_absent(key, *created);
  if (!stored) return tl::unexpected(stored.error());
  if (*stored) return created;
  auto winner = store.get_setting(key);
  if (!winner) return tl::unexpected(winner.error());
  return winner->value_or(*created);
}

// The organization this data directory serves by default, created on first start.
Result<std::string> default_org(store::Store& store) {
  return setting_or_create(store, "default_org", []() -> Result<std::string> { return random_id("org", 16); });
}

// A development sandbox key kept in the data directory and printed at every start, so a
// fresh `ablo serve` is usable at once. Production keys come from `ablo keys create --live`.
Result<std::string> dev_test_key(store::Store& store, auth::AuthService& auth, const std::string& org) {
  return setting_or_create(store, "dev_test_key", [&] { return auth.create_secret_key(org, true, "development key"); });
}

// `--source-database`: registers the database as the tenant's selfHosted source unless it is.
Status register_source_database(source::SourceService& sources, const store::Tenant& tenant, const std::string& url) {
  for (const auto& existing : sources.list(tenant)) {
    if (existing.config.url == url) return {};
    return fail("invalid_request", fmt::format("this organization already has data source {}; remove it first "
                                               "(ablo source remove {})", existing.config.id, existing.config.id));
  }
  source::SourceConfig config;
  config.tenant = tenant;
  config.mode = source::Mode::kSelfHosted;
  config.url = url;
  auto added = sources.add(std::move(config));
  if (!added) return tl::unexpected(added.error());
  spdlog::info("data source {} (selfHosted) registered", added->config.id);
  return {};
}

struct ServeOptions {
  std::string host = "127.0.0.1";
  uint16_t port = 8787;
  StoreLocation where;
  std::string schema_file;
  int io_threads = 2;
  int worker_threads = 32;  // HTTP handlers; each in-flight HTTP commit holds one
  std::string redis_url;    // cluster wake-ups through Redis instead of NOTIFY
  int poll_interval_ms = cluster::kDefaultPollIntervalMs;
  std::string audit_secret_file;      // the audit chain's HMAC key (cli/audit_commands.h)
  net::ServerLimits limits;           // sockets, frames, bodies, bootstraps
  coord::CoordinatorOptions bounds;   // only its bounds are read from the command line
  cli::WebhookServeOptions webhooks;  // outbound webhook delivery (issue 13)
  std::string metrics_token;          // GET /metrics needs it as the bearer (issue 15)
  // Data Source mode (issue 11): the default organization's sandbox rows live in this
  // PostgreSQL (selfHosted); sources may be on loopback/private addresses.
  std::string source_database;
  bool allow_private_sources = false;
  int64_t max_catch_up_deltas = 0;  // 0 = every gap is paged
  int64_t max_capability_ttl = 0;   // seconds; 0 = the default bounds
};

// Several nodes on one PostgreSQL: each publishes the shared log (its own commits and the
// others') through a LogFollower, replays the coordinator's op log (cluster-wide claims and
// presence), and is woken for both by LISTEN/NOTIFY, or Redis pub/sub with --redis
// (cluster/log_listener.h).
struct ClusterNode {
  fanout::LogFollower follower;
  std::unique_ptr<cluster::PgOpLog> op_log;
  coord::Coordinator* coordinator = nullptr;  // set before the listener starts
  cluster::LogListener listener;

  ClusterNode(store::Store& store, fanout::Hub& hub, engine::Engine& engine, const ServeOptions& options)
      : follower(hub, [&store](int64_t after, int limit) { return store.read_log(after, limit); }),
        listener(options.redis_url.empty() ? cluster::pg_wakeups(options.where.database_url)
                                           : cluster::redis_wakeups(options.redis_url),
                 {.deltas_committed = [this] { report(follower.catch_up()); },
                  .schema_changed = [&engine] { report(engine.reload_schema()); },
                  .claims_appended = [this] { report(coordinator->catch_up()); }},
                 options.poll_interval_ms) {}

  static void report(const Status& status) {
    if (!status) spdlog::warn("cluster: {}", status.error().message);
  }
};

// The address and the sandbox key, for people (and the test fixture) or, under --json, as
// one JSON line (`ablo dev --json` then prints NDJSON only).
void announce_listening(const std::string& host, uint16_t port, const std::string& test_key) {
  const auto url = fmt::format("http://{}:{}", host, port);
  if (cli::json_output()) {
    std::printf("%s\n", json::serialize(json::object{{"event", "listening"}, {"url", url}, {"testApiKey", test_key}}).c_str());
  } else {
    std::printf("ablo: listening on %s\nablo: test API key: %s\n", url.c_str(), test_key.c_str());
  }
  std::fflush(stdout);
}

// What runs beside the server while it serves (`ablo dev`'s schema watcher): made once the
// server listens, released (and so stopped) before the server stops.
using WhileServing = std::function<std::shared_ptr<void>(engine::Engine& engine)>;

int serve(const ServeOptions& options, const WhileServing& while_serving = {}) {
  // Block the stop signals before any thread starts so only sigwait below receives them.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);

  const bool clustered = !options.where.database_url.empty();
  if (!options.redis_url.empty() && !clustered) {
    return die(Error("invalid_request", "--redis wakes the nodes of a PostgreSQL cluster: it needs --database"));
  }
  // Lives longer than everything that announces through it.
  std::unique_ptr<cluster::RedisPublisher> redis;
  if (!options.redis_url.empty()) redis = std::make_unique<cluster::RedisPublisher>(options.redis_url);
  auto store = open_store(options.where, redis ? redis->announcer() : pg::Announce{});
  if (!store) return die(store.error());
  fanout::Hub hub([&](const std::string& tenant, int64_t after, int64_t up_to, int limit) {
    return (*store)->read_deltas(tenant, after, up_to, limit);
  });
  hub.set_held_limit(options.limits.max_send_queue_bytes);  // a socket that never asks for its catch-up
  hub.set_max_catch_up_deltas(options.max_catch_up_deltas);
  std::unique_ptr<ClusterNode> node;
  engine::EngineOptions engine_options;
  auto audit_key = cli::resolve_audit_key(**store, clustered, options.where.data_dir, options.audit_secret_file);
  if (!audit_key) return die(audit_key.error());
  engine_options.audit_key = std::move(*audit_key);
  if (clustered) {
    engine_options.publish = [&node](const std::vector<store::Delta>& deltas) {
      ClusterNode::report(node->follower.publish_committed(deltas));
    };
  }
  engine::Engine engine(**store, hub, engine_options);
  if (clustered) node = std::make_unique<ClusterNode>(**store, hub, engine, options);
  auth::AuthService auth(**store, [&] { return engine.schema(); });
  auth.set_max_capability_ttl_seconds(options.max_capability_ttl);
  if (auto ok = engine.start(); !ok) return die(ok.error());
  if (node) {
    node->follower.start_at(engine.head());
    hub.set_log_follower([&node](int64_t through) { return node->follower.catch_up(through); });
    // How far this node's subscribers are behind the shared log (a stalled listener shows here;
    // one indexed read per scrape). NaN when the database does not answer.
    metrics::global().sampled("ablo_cluster_log_lag_deltas",
                              "Deltas committed to the shared log that this node has not yet published",
                              [&store = **store, &node] {
                                const auto head = store.head_sync_id();
                                if (!head) return std::numeric_limits<double>::quiet_NaN();
                                return static_cast<double>(std::max<int64_t>(0, *head - node->follower.published_through()));
                              });
  }

  if (!options.schema_file.empty()) {
    auto schema_json = read_schema_file(options.schema_file);
    if (!schema_json) return die(schema_json.error());
    auto pushed = engine.push_schema(*schema_json);
    if (!pushed) return die(pushed.error());
    spdlog::info("schema {} active (version {})", engine.schema()->hash(), pushed->version);
  }

  auto org = default_org(**store);
  if (!org) return die(org.error());
  auto key = dev_test_key(**store, auth, *org);
  if (!key) return die(key.error());

  // Data Source mode (issue 11): tenants with a source get their commits forwarded to it.
  auto sources = std::make_shared<source::SourceService>(engine, **store);
  if (auto ok = sources->start(); !ok) return die(ok.error());
  if (!options.source_database.empty()) {
    if (auto ok = register_source_database(*sources, store::Tenant{*org, true}, options.source_database); !ok) {
      return die(ok.error());
    }
  }
  engine.set_commit_forwarder(sources);

  coord::Coordinator coordinator({.clock = {},
                                  .model_key =
                                      [&engine](std::string_view entity_type) {
                                        const auto* model = engine.schema()->resolve(entity_type);
                                        return model ? model->key : std::string();
                                      },
                                  .delta_head = [&hub] { return hub.head(); },
                                  .max_claims_per_owner = options.bounds.max_claims_per_owner,
                                  .max_line_depth = options.bounds.max_line_depth,
                                  .max_presence_bytes = options.bounds.max_presence_bytes,
                                  .max_claimed_waits = options.bounds.max_claimed_waits,
                                  // claim.grant / claim.release rows: queued, written by the commit writer.
                                  .audit = [&engine](audit::AuditRow row) { engine.record_audit_later(std::move(row)); }});
  if (node) {
    auto op_log = cluster::PgOpLog::open(options.where.database_url, redis ? redis->announcer() : pg::Announce{});
    if (!op_log) return die(op_log.error());
    node->op_log = std::move(*op_log);
    if (auto joined = coordinator.join_cluster(node->op_log.get()); !joined) return die(joined.error());
    node->coordinator = &coordinator;
    node->listener.start();
    spdlog::info("cluster node {} on PostgreSQL, woken by {}", node->op_log->node_id(),
                 redis ? "Redis pub/sub" : "LISTEN/NOTIFY");
  }
  // Installed once the coordinator has joined the cluster: the gate's before_group reads the log
  // join_cluster sets, and commits already flow (a data source's feed started above), so a gate
  // installed before the join raced with it (TSan) and checked claims not yet restored.
  engine.set_write_gate(std::make_shared<coord::ClaimWriteGate>(coordinator));
  coordinator.start();
  for (const char* state : {"active", "queued"}) {
    metrics::global().sampled(
        "ablo_claims", "Claims holding a row (active) and waiting in a line (queued)",
        [&coordinator, active = std::string(state) == "active"] {
          const auto census = coordinator.census();
          return static_cast<double>(active ? census.active : census.queued);
        },
        {{"state", state}});
  }

  // Webhooks (issue 13): on PostgreSQL each node leases endpoints under its own id; one SQLite
  // file has one server process, which takes its endpoints back at once after a restart.
  auto webhook_service = cli::WebhookService::create(**store, options.webhooks,
                                                     node ? "node-" + std::to_string(node->op_log->node_id()) : std::string("local"),
                                                     [&hub] { return hub.head(); });
  if (!webhook_service) return die(webhook_service.error());
  net::ServerOptions server_options{options.host, options.port, options.io_threads, options.worker_threads,
                                    options.limits, &(*webhook_service)->registry()};
  server_options.metrics_token = options.metrics_token;
  server_options.sources = sources.get();
  server_options.allow_private_sources = options.allow_private_sources;
  server_options.readiness_checks.emplace_back("sources", [&sources]() -> std::string {
    return sources->hydrating() ? "a data source is still loading its rows" : "ok";
  });
  if (node) {
    server_options.readiness_checks.emplace_back("cluster", [&node]() -> std::string {
      return node->listener.listening() ? "ok" : "not hearing the other nodes (wake-up listener disconnected)";
    });
  }
  server_options.data_location = options.where.describe();
  net::Server server(engine, auth, coordinator, std::move(server_options));
  auto port = server.start();
  if (!port) {
    if (node) node->listener.stop();  // it calls into the coordinator, which goes first
    return die(port.error());
  }
  (*webhook_service)->start(*port);
  // Both only post a coalesced wake-up: the hub's publishing thread never waits for them.
  hub.set_publish_listener([service = webhook_service->get(), &server] {
    service->log_advanced();
    server.log_advanced();  // MCP waits and subscriptions
  });
  announce_listening(options.host, *port, *key);
  spdlog::info("data in {} (organization {})", options.where.describe(), *org);
  auto companion = while_serving ? while_serving(engine) : nullptr;

  int signal = 0;
  sigwait(&stop_signals, &signal);
  spdlog::info("stopping on signal {}", signal);
  companion.reset();  // before the engine it pushes to stops
  metrics::global().forget("ablo_claims");  // its samplers read the coordinator
  metrics::global().forget("ablo_cluster_log_lag_deltas");  // and this one the store and the follower
  coordinator.stop();  // first: ends the claimed reads that wait (they answer model_claimed_timeout)
  hub.set_publish_listener({});  // before the worker goes
  (*webhook_service)->stop();  // releases this node's endpoint leases
  server.stop();
  engine.set_commit_forwarder(nullptr);
  sources->stop();  // after the server (no new commits), before the engine it commits through
  if (node) node->listener.stop();
  engine.stop();
  return 0;
}

// A new secret key in the default organization of `where`, with its key.create audit row.
Result<std::string> new_secret_key(const StoreLocation& where, bool live, const std::string& label,
                                   const std::string& audit_secret_file) {
  auto store = open_store(where);
  if (!store) return tl::unexpected(store.error());
  auth::AuthService auth(**store, [] { return schema::Schema::empty(); });
  auto org = default_org(**store);
  if (!org) return tl::unexpected(org.error());
  auto key = auth.create_secret_key(*org, !live, label);
  if (!key) return key;
  if (auto audited = cli::record_key_creation(**store, !where.database_url.empty(), where.data_dir,
                                                   audit_secret_file, *key); !audited) {
    std::fprintf(stderr, "ablo: the key.create audit row was not written: %s\n", audited.error().message.c_str());
  }
  return key;
}

int create_key(const StoreLocation& where, bool live, const std::string& label, const std::string& audit_secret_file) {
  auto key = new_secret_key(where, live, label, audit_secret_file);
  if (!key) return die(key.error());
  std::printf("%s\n", key->c_str());
  return 0;
}

// `ablo dev`: `ablo serve` with the schema file watched and pushed on every change. The
// watcher makes the first push too, so a broken file at start is reported, not fatal.
int dev(ServeOptions options, const std::string& schema_file) {
  options.schema_file.clear();
  options.allow_private_sources = true;  // a development endpoint or database runs on this machine
  return serve(options, [&schema_file](engine::Engine& engine) {
    auto watcher = std::make_shared<cli::SchemaWatcher>(schema_file, engine);
    watcher->start();
    return std::shared_ptr<void>(watcher);
  });
}

struct PushOptions {
  std::string file;
  cli::ApiTargetOptions api;  // schema push: the server and key
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

// `ablo migrate`: plans the change from the database's active schema to FILE, prints the plan,
// and (unless --dry-run) applies it in one transaction — the same path as a schema push.
int migrate(const PushOptions& options, const StoreLocation& where, bool dry_run) {
  if (where.database_url.empty()) return die(Error("invalid_request", "migrate needs --database or DATABASE_URL"));
  auto schema_json = read_schema_file(options.file);
  if (!schema_json) return die(schema_json.error());
  auto body = push_body(options, *schema_json);
  if (!body) return die(body.error());
  auto hints = schema::parse_migration_hints(*body);
  if (!hints) return die(hints.error());
  auto next = schema::Schema::parse(*schema_json);
  if (!next) return die(next.error());
  auto store = open_store(where);
  if (!store) return die(store.error());
  fanout::Hub hub([&](const std::string& tenant, int64_t after, int64_t up_to, int limit) {
    return (*store)->read_deltas(tenant, after, up_to, limit);
  });
  engine::Engine engine(**store, hub);
  if (auto ok = engine.start(); !ok) return die(ok.error());
  const auto plan = schema::diff_schema(engine.schema().get(), **next, *hints);
  std::printf("%s\n", json::serialize(plan.to_json()).c_str());
  if (dry_run) {
    std::printf("dry run: nothing applied\n");
    return plan.applicable(options.force) ? 0 : 1;
  }
  cli::ProgressBar bar("migrate", plan.steps.size());
  store::set_migration_step_observer([&bar](std::size_t done, std::size_t, const schema::MigrationStep& step) {
    bar.update(done, std::string(schema::to_string(step.kind)) + " " + step.model + (step.field.empty() ? "" : "." + step.field));
  });
  auto pushed = engine.push_schema(*schema_json, *hints, options.force);
  store::set_migration_step_observer({});
  if (!pushed) return die(pushed.error());
  bar.finish();
  std::printf("applied: schema version %lld\n", static_cast<long long>(pushed->version));
  return 0;
}

int push_schema(const PushOptions& options) {
  auto schema_json = read_schema_file(options.file);
  if (!schema_json) return die(schema_json.error());
  auto built = push_body(options, *schema_json);
  if (!built) return die(built.error());
  json::object body = std::move(*built);
  auto api = cli::resolve_api_target(options.api);
  if (!api) return die(api.error());
  if (auto ok = api->require_key(); !ok) return die(ok.error());
  auto response = api->call("POST", "/api/schema", json::serialize(body));
  if (!response) return die(response.error());
  std::printf("%s\n", response->body.c_str());  // the plan, or what blocks it
  return response->status == 200 ? 0 : die(cli::error_of_response(*response));
}

// The resource bounds of `ablo serve` (README "Limits and security").
void add_limit_options(CLI::App& serve_cmd, ServeOptions& options) {
  auto& limits = options.limits;
  auto& bounds = options.bounds;
  serve_cmd.add_option("--max-send-queue-bytes", limits.max_send_queue_bytes,
                       "Bytes queued for one WebSocket; a client that falls further behind is closed with 1013 and "
                       "resumes from its cursor")
      ->check(CLI::Range(std::size_t{64 * 1024}, std::size_t{1} << 34))
      ->capture_default_str();
  serve_cmd.add_option("--max-frame-bytes", limits.max_frame_bytes, "Largest inbound WebSocket message (larger: close 1009)")
      ->check(CLI::Range(std::size_t{1024}, std::size_t{1} << 30))
      ->capture_default_str();
  serve_cmd.add_option("--source-database", options.source_database,
                       "Data Source mode, selfHosted: the default organization's sandbox rows live in this existing "
                       "PostgreSQL (postgres://…); writes made there by other programs reach clients as deltas")
      ->envname("ABLO_SOURCE_DATABASE");
  serve_cmd.add_option("--max-catch-up-deltas", options.max_catch_up_deltas,
                       "A reconnecting client that asks for more deltas than this and can re-bootstrap (the native "
                       "client library) is told to bootstrap instead; 0: never")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  serve_cmd.add_option("--max-capability-ttl", options.max_capability_ttl,
                       "Longest lifetime in seconds of a token exchanged at /api/auth/capability (clients refresh "
                       "before it ends; tests of token refresh use a few seconds); 0: 60 s … 7 days as requested")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  serve_cmd.add_flag("--allow-private-sources", options.allow_private_sources,
                     "Let keys register data sources on loopback, private or link-local addresses");
  serve_cmd.add_option("--metrics-token", options.metrics_token,
                       "Bearer token GET /metrics requires (default: open; it serves aggregates only)")
      ->envname("ABLO_METRICS_TOKEN");
  serve_cmd.add_option("--max-body-bytes", limits.max_body_bytes, "Largest HTTP request body (larger: 413)")
      ->check(CLI::Range(std::size_t{1024}, std::size_t{1} << 32))
      ->capture_default_str();
  serve_cmd.add_option("--max-connections", limits.max_connections,
                       "Open WebSockets on this node (beyond: 503 instance_at_capacity)")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  serve_cmd.add_option("--max-connections-per-credential", limits.max_connections_per_credential,
                       "Open WebSockets per API key or capability (beyond: 429 connection_limit_exceeded)")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  serve_cmd.add_option("--bootstrap-threads", limits.bootstrap_threads,
                       "Bootstraps built at once (each holds its answer in memory); others wait their turn")
      ->check(CLI::Range(1, 256))
      ->capture_default_str();
  serve_cmd.add_option("--max-claims-per-owner", bounds.max_claims_per_owner,
                       "Claims one owner may hold or wait for (beyond: queue_too_deep)")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  serve_cmd.add_option("--max-claim-line", bounds.max_line_depth,
                       "Claims and waiters on one row (beyond: queue_too_deep)")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  serve_cmd.add_option("--max-presence-bytes", bounds.max_presence_bytes,
                       "Largest presence a participant may set (larger presence_update frames are ignored)")
      ->check(CLI::Range(std::size_t{256}, std::size_t{1} << 24))
      ->capture_default_str();
  serve_cmd.add_option("--max-claimed-waits", bounds.max_claimed_waits,
                       "Claimed reads (ifClaimed: wait) waiting at once (beyond: queue_too_deep)")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
}

// The options of `ablo serve`, which `ablo dev` takes too.
void add_serve_options(CLI::App& serve_cmd, ServeOptions& options) {
  serve_cmd.add_option("--host", options.host, "Address to listen on")->capture_default_str();
  serve_cmd.add_option("--port", options.port, "Port (0 picks a free one)")->capture_default_str();
  serve_cmd.add_option("--data-dir", options.where.data_dir, "Where the embedded store lives")->capture_default_str();
  serve_cmd.add_option("--database", options.where.database_url,
                       "PostgreSQL URL (postgres://…); several nodes may share one")
      ->envname("DATABASE_URL");
  serve_cmd.add_option("--schema", options.schema_file, "Schema JSON v3 file to activate at start");
  serve_cmd.add_option("--io-threads", options.io_threads, "Network threads")->capture_default_str();
  serve_cmd.add_option("--worker-threads", options.worker_threads, "HTTP handler threads (bounds concurrent HTTP commits)")
      ->capture_default_str();
  serve_cmd.add_option("--redis", options.redis_url,
                       "Redis URL (redis://…): cluster nodes wake each other through Redis pub/sub instead of "
                       "PostgreSQL NOTIFY")
      ->envname("REDIS_URL");
  serve_cmd.add_option("--cluster-poll-ms", options.poll_interval_ms,
                       "How often a cluster node reads the shared logs without a wake-up (a lost one only waits this long)")
      ->check(CLI::Range(50, 3600 * 1000))
      ->capture_default_str();
  add_limit_options(serve_cmd, options);
  serve_cmd.add_option("--audit-secret-file", options.audit_secret_file,
                       "File holding the audit chain's secret (or ABLO_AUDIT_SECRET; default: generated once)");
  cli::add_webhook_serve_options(serve_cmd, options.webhooks);
  serve_cmd.add_flag("--relaxed-durability", options.where.relaxed_durability,
                      "Skip the fsync per commit group (may lose the last commits on power loss)");
}

// Parses the command line and runs the callbacks of the command groups that register them.
// An exit code when the run ends here: --help, a command's own exit status, or a usage error
// as the one error line.
std::optional<int> parse_command_line(CLI::App& app, int argc, char** argv) {
  try {
    app.parse(argc, argv);
    return std::nullopt;
  } catch (const CLI::Success& help) {  // --help
    return app.exit(help);
  } catch (const CLI::RuntimeError& finished) {  // a callback's exit status (cli/output.h finish_command)
    return finished.get_exit_code();
  } catch (const CLI::ParseError& usage) {
    return die(cli::with_hint(Error("invalid_request", usage.what()), "see `ablo --help` or `ablo <command> --help`"));
  }
}

}  // namespace

int main(int argc, char** argv) {
  spdlog::set_default_logger(spdlog::stderr_color_mt("ablo"));
  CLI::App app{"Ablo: a self-hostable sync engine"};
  app.require_subcommand(1);
  std::string log_format = "text";
  app.add_option("--log-format", log_format, "text, or json: one JSON object per log line (with request_id)")
      ->check(CLI::IsMember({"text", "json"}))
      ->capture_default_str();
  app.fallthrough();  // `ablo serve --log-format json` works as well as `ablo --log-format json serve`
  bool json_output = false;
  app.add_flag("--json", json_output, "Print one JSON document (NDJSON for streams) instead of text");
  app.parse_complete_callback([&log_format, &json_output] {
    if (log_format == "json") cli::use_json_logs();
    cli::set_json_output(json_output);
  });

  ServeOptions serve_options;
  auto* serve_cmd = app.add_subcommand("serve", "Run the server (SQLite in --data-dir by default)");
  add_serve_options(*serve_cmd, serve_options);

  ServeOptions dev_options;
  std::string dev_schema_file = "schema.json";
  auto* dev_cmd = app.add_subcommand("dev", "Serve, and push the schema file to the server on every change (prints the plan)");
  add_serve_options(*dev_cmd, dev_options);
  dev_cmd->get_option("--schema")->description("Schema JSON v3 file to watch and push")->default_str("schema.json");

  StoreLocation key_store;
  bool live = false;
  std::string label;
  auto* keys_cmd = app.add_subcommand("keys", "Manage API keys");
  keys_cmd->require_subcommand(1);
  auto* create_cmd = keys_cmd->add_subcommand("create", "Create a secret key (sk_test_ unless --live)");
  create_cmd->add_option("--data-dir", key_store.data_dir)->capture_default_str();
  create_cmd->add_option("--database", key_store.database_url, "PostgreSQL URL")->envname("DATABASE_URL");
  create_cmd->add_flag("--live", live, "Create a live key instead of a sandbox (test) key");
  create_cmd->add_option("--label", label);
  std::string key_audit_secret_file;
  create_cmd->add_option("--audit-secret-file", key_audit_secret_file,
                         "The server's audit secret file, when it has one (the key.create audit row is chained with it)");

  PushOptions push;
  auto* schema_cmd = app.add_subcommand("schema", "Manage the schema");
  schema_cmd->require_subcommand(1);
  auto* push_cmd = schema_cmd->add_subcommand("push", "Push a schema JSON v3 file to a running server (migrates)");
  push_cmd->add_option("file", push.file)->required();
  cli::add_api_target_options(*push_cmd, push.api);
  push_cmd->add_flag("--force", push.force, "Accept drops and lossy or risky casts");
  push_cmd->add_option("--rename", push.renames, "old:new (model) or model.old:model.new (field)");
  push_cmd->add_option("--backfill", push.backfills, "model.field=value for rows that need a value");

  PushOptions migration;
  StoreLocation migrate_store;
  bool dry_run = false;
  auto* migrate_cmd = app.add_subcommand("migrate", "Apply a schema file's tables and migrations to a PostgreSQL database");
  migrate_cmd->add_option("file", migration.file, "Schema JSON v3 file")->required();
  migrate_cmd->add_option("--database", migrate_store.database_url, "PostgreSQL URL")->envname("DATABASE_URL");
  migrate_cmd->add_flag("--dry-run", dry_run, "Print the plan only");
  migrate_cmd->add_flag("--force", migration.force, "Accept drops and lossy or risky casts");
  migrate_cmd->add_option("--rename", migration.renames, "old:new (model) or model.old:model.new (field)");
  migrate_cmd->add_option("--backfill", migration.backfills, "model.field=value for rows that need a value");
  ablo::cli::add_db_commands(app);
  ablo::cli::add_audit_commands(app);
  ablo::cli::add_webhook_commands(app);
  ablo::cli::add_source_commands(app);
  ablo::cli::add_mcp_bridge_command(app);
  ablo::cli::add_generate_command(app);
  ablo::cli::add_dev_commands(app, {.create_test_key = [](const std::string& data_dir) {
                                      return new_secret_key({.data_dir = data_dir}, false, "ablo init", {});
                                    }});

  cli::load_dotenv_defaults();  // before parsing: the options' env fallbacks read it

  try {
    if (auto exit_code = parse_command_line(app, argc, argv)) return *exit_code;
    if (serve_cmd->parsed()) return serve(serve_options);
    if (dev_cmd->parsed()) {
      if (!dev_options.schema_file.empty()) dev_schema_file = dev_options.schema_file;
      return dev(dev_options, dev_schema_file);
    }
    if (create_cmd->parsed()) return create_key(key_store, live, label, key_audit_secret_file);
    if (migrate_cmd->parsed()) return migrate(migration, migrate_store, dry_run);
    if (push_cmd->parsed()) return push_schema(push);
    return 0;
  } catch (const std::exception& e) {  // a bug, not an input: still one line and a non-zero exit
    return die(Error("internal_error", e.what()));
  }
}
