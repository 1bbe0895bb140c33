#include "cli/webhook_commands.h"

#include <csignal>
#include <cstdio>
#include <thread>

#include <CLI/CLI.hpp>
#include <boost/json.hpp>
#include <boost/url/parse.hpp>

#include "cli/api_target.h"
#include "cli/output.h"
#include "client/transport.h"
#include "common/time.h"
#include "webhooks/events.h"
#include "webhooks/signing.h"

namespace ablo::cli {

namespace json = boost::json;

void add_webhook_serve_options(CLI::App& serve_cmd, WebhookServeOptions& options) {
  auto& worker = options.worker;
  serve_cmd.add_option("--webhook-timeout-ms", worker.request_timeout_ms,
                       "Time a webhook receiver has to answer one batch (then it counts as a failed attempt)")
      ->check(CLI::Range(int64_t{100}, int64_t{300'000}))
      ->capture_default_str();
  serve_cmd.add_option("--webhook-concurrency", worker.max_in_flight, "Webhook deliveries in flight at once (all endpoints)")
      ->check(CLI::Range(1, 1024))
      ->capture_default_str();
  serve_cmd.add_option("--webhook-poll-ms", worker.poll_ms, "Period of the delivery worker's timer (retries, lease renewal; new commits wake it at once)")
      ->check(CLI::Range(int64_t{5}, int64_t{60'000}))
      ->capture_default_str();
  serve_cmd.add_option("--webhook-batch-bytes", worker.max_batch_bytes, "Largest webhook batch body (about)")
      ->check(CLI::Range(std::size_t{1024}, std::size_t{16} << 20))
      ->capture_default_str();
  serve_cmd.add_option("--webhook-roll-grace-s", options.roll_grace_seconds,
                       "How long a rolled webhook secret still signs deliveries")
      ->check(CLI::Range(int64_t{0}, int64_t{30} * 24 * 3600))
      ->capture_default_str();
  serve_cmd.add_option("--webhook-ca-file", worker.tls_ca_file,
                       "PEM file of extra CA certificates trusted for https:// webhook endpoints");
  // Test-only knobs: a short retry schedule and lease.
  serve_cmd.add_option("--webhook-retry-delays-ms", options.retry_delays_ms)->group("");
  serve_cmd.add_option("--webhook-lease-ms", worker.lease_ms)->check(CLI::Range(int64_t{300}, int64_t{600'000}))->group("");
  // A later flag wins (a test adds its own on top of shared defaults).
  for (const char* name : {"--webhook-timeout-ms", "--webhook-concurrency", "--webhook-poll-ms", "--webhook-batch-bytes",
                           "--webhook-roll-grace-s", "--webhook-retry-delays-ms", "--webhook-lease-ms"}) {
    serve_cmd.get_option(name)->multi_option_policy(CLI::MultiOptionPolicy::TakeLast);
  }
}

Result<std::unique_ptr<WebhookService>> WebhookService::create(store::Store& store, const WebhookServeOptions& options,
                                                              std::string node_id, std::function<int64_t()> head) {
  auto worker = options.worker;
  worker.node_id = std::move(node_id);
  worker.head_source = std::move(head);
  if (!options.retry_delays_ms.empty()) {
    auto schedule = webhooks::RetrySchedule::parse(options.retry_delays_ms);
    if (!schedule) return tl::unexpected(schedule.error());
    worker.retries = std::move(*schedule);
  }
  webhooks::RegistryOptions registry{.roll_grace_ms = options.roll_grace_seconds * 1000};
  return std::unique_ptr<WebhookService>(new WebhookService(store, registry, std::move(worker)));
}

void WebhookService::start(uint16_t own_port) {
  registry_.set_own_port(own_port);
  worker_.start();
}

namespace {

using ApiOptions = ApiTargetOptions;

void finish_webhook_command(int exit_code) { finish_command(exit_code); }

int call_api(const ApiOptions& api, const std::string& method, const std::string& path, const std::string& body = {}) {
  return print_api_call(api, method, "/v1" + path, body);
}

// --- listen: follow the tenant's log over GET /v1/logs and forward signed batches -----------

volatile std::sig_atomic_t listen_stopped = 0;

struct ListenOptions {
  ApiOptions api;
  std::string forward_to;
  std::vector<std::string> events{"*"};
  int64_t poll_ms = 500;
};

std::optional<store::Delta> delta_of_log_event(const json::object& event) {
  const auto* delta = event.if_contains("delta");
  if (!delta || !delta->is_object()) return std::nullopt;
  const auto& d = delta->as_object();
  store::Delta out;
  out.id = d.at("id").to_number<int64_t>();
  const auto action = json::value_to<std::string>(d.at("actionType"));
  out.action = action.empty() ? '?' : action[0];
  out.model_name = json::value_to<std::string>(d.at("modelName"));
  out.model_id = json::value_to<std::string>(d.at("modelId"));
  if (d.at("data").is_object()) out.data = d.at("data").as_object();
  if (auto at = parse_iso8601_ms(json::value_to<std::string>(d.at("createdAt")))) out.created_at_ms = *at;
  return out;
}

Result<client::HttpResponse> forward(const boost::urls::url_view& target, const std::string& secret,
                                     const webhooks::Batch& batch) {
  const int64_t timestamp = now_ms() / 1000;
  auto signature = webhooks::signature_header({secret}, batch.id, timestamp, batch.body);
  if (!signature) return tl::unexpected(signature.error());
  std::string path(target.encoded_target());
  if (path.empty()) path = "/";
  const uint16_t port = target.has_port() ? target.port_number() : 80;
  return client::http_request(target.host_address(), port, "POST", path, batch.body,
                              {{"Content-Type", "application/json"},
                               {"webhook-id", batch.id},
                               {"webhook-timestamp", std::to_string(timestamp)},
                               {"webhook-signature", *signature}});
}

int run_listen(const ListenOptions& options) {
  auto target = boost::urls::parse_absolute_uri(options.forward_to);
  if (!target || target->scheme() != "http") {
    std::fprintf(stderr, "ablo: --forward-to must be an http:// URL\n");
    return 1;
  }
  if (auto ok = webhooks::validate_enabled_events(options.events); !ok) {
    std::fprintf(stderr, "ablo: %s\n", ok.error().message.c_str());
    return 1;
  }
  const auto secret = webhooks::new_secret();
  std::printf("ablo: forwarding to %s\nablo: signing secret (this session): %s\n", options.forward_to.c_str(),
              secret.c_str());
  std::fflush(stdout);
  auto endpoint = resolve_api_target_with_key(options.api);
  if (!endpoint) return print_error(endpoint.error());
  std::signal(SIGINT, [](int) { listen_stopped = 1; });
  std::signal(SIGTERM, [](int) { listen_stopped = 1; });
  const std::map<std::string, std::string> headers{{"Ablo-Protocol-Version", "1"}};
  std::string after;  // the log position forwarded so far; empty: start at the tail
  while (!listen_stopped) {
    const std::string path = after.empty() ? "/v1/logs?limit=1" : "/v1/logs?limit=100&after=" + after;
    auto page = endpoint->call("GET", path, {}, headers);
    if (!page || page->status != 200) {
      std::fprintf(stderr, "ablo: reading the log failed: %s\n",
                   page ? page->body.substr(0, 300).c_str() : page.error().message.c_str());
      std::this_thread::sleep_for(std::chrono::milliseconds(1000));
      continue;
    }
    auto parsed = json::parse(page->body).as_object();
    const auto next = json::value_to<std::string>(parsed.at("next_cursor"));
    if (after.empty()) {  // the first page only finds the tail
      after = next;
      continue;
    }
    webhooks::BatchBuilder builder("we_local", 100, 512 * 1024);
    for (const auto& item : parsed.at("data").as_array()) {
      auto delta = delta_of_log_event(item.as_object());
      if (!delta) continue;
      auto type = webhooks::event_type_of(*delta);
      if (type && webhooks::event_enabled(options.events, delta->model_name, *type)) builder.add(*webhooks::event_of(*delta), delta->id);
    }
    if (builder.size() > 0) {
      const auto batch = builder.finish();
      auto sent = forward(*target, secret, batch);
      const bool delivered = sent && sent->status >= 200 && sent->status < 300;
      std::printf("%s %zu events (%s) -> %s\n", batch.id.c_str(), batch.events, delivered ? "delivered" : "FAILED",
                  sent ? std::to_string(sent->status).c_str() : sent.error().message.c_str());
      std::fflush(stdout);
      if (!delivered) {  // the same events again after a pause: nothing is skipped
        std::this_thread::sleep_for(std::chrono::milliseconds(1000));
        continue;
      }
    }
    after = next;
    if (!parsed.at("has_more").as_bool()) std::this_thread::sleep_for(std::chrono::milliseconds(options.poll_ms));
  }
  return 0;
}

}  // namespace

void add_webhook_commands(CLI::App& app) {
  auto* webhooks_cmd = app.add_subcommand("webhooks", "Manage webhook endpoints of a running server");
  webhooks_cmd->require_subcommand(1);

  struct CreateOptions {
    ApiOptions api;
    std::string url, description;
    std::vector<std::string> events;
  };
  auto create = std::make_shared<CreateOptions>();
  auto* create_cmd = webhooks_cmd->add_subcommand("create", "Register an endpoint; prints its secret once");
  create_cmd->add_option("url", create->url)->required();
  create_cmd->add_option("--events", create->events, "Models or types (task,project.updated); default all")
      ->delimiter(',');
  create_cmd->add_option("--description", create->description);
  add_api_target_options(*create_cmd, create->api);
  create_cmd->callback([create] {
    json::object body{{"url", create->url}};
    if (!create->events.empty()) body["enabledEvents"] = json::value_from(create->events);
    if (!create->description.empty()) body["description"] = create->description;
    finish_webhook_command(call_api(create->api, "POST", "/webhook_endpoints", json::serialize(body)));
  });

  auto list = std::make_shared<ApiOptions>();
  auto* list_cmd = webhooks_cmd->add_subcommand("list", "List endpoints with their cursor, lag and last error");
  add_api_target_options(*list_cmd, *list);
  list_cmd->callback([list] { finish_webhook_command(call_api(*list, "GET", "/webhook_endpoints")); });

  struct IdOptions {
    ApiOptions api;
    std::string id;
  };
  const auto add_id_command = [&](const char* name, const char* help, std::string method, std::string suffix) {
    auto options = std::make_shared<IdOptions>();
    auto* cmd = webhooks_cmd->add_subcommand(name, help);
    cmd->add_option("id", options->id)->required();
    add_api_target_options(*cmd, options->api);
    cmd->callback([options, method, suffix] {
      finish_webhook_command(call_api(options->api, method, "/webhook_endpoints/" + options->id + suffix));
    });
  };
  add_id_command("roll", "Roll the signing secret (the old one keeps signing for the grace period)", "POST", "/roll_secret");
  add_id_command("enable", "Enable an endpoint: delivery resumes from its cursor", "POST", "/enable");
  add_id_command("disable", "Disable an endpoint (its cursor stays)", "POST", "/disable");
  add_id_command("rm", "Delete an endpoint", "DELETE", "");

  auto listen = std::make_shared<ListenOptions>();
  auto* listen_cmd =
      webhooks_cmd->add_subcommand("listen", "Forward the live log as signed webhook batches to a local program");
  listen_cmd->add_option("--forward-to", listen->forward_to, "e.g. http://localhost:3000/hook")->required();
  listen_cmd->add_option("--events", listen->events, "Models or types; default all")->delimiter(',');
  listen_cmd->add_option("--poll-ms", listen->poll_ms)->capture_default_str();
  add_api_target_options(*listen_cmd, listen->api);
  listen_cmd->callback([listen] { finish_webhook_command(run_listen(*listen)); });
}

}  // namespace ablo::cli
