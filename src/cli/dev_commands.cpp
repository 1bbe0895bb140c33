#include "cli/dev_commands.h"

#include <algorithm>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <memory>
#include <thread>
#include <unordered_map>

#include <CLI/CLI.hpp>
#include <boost/json.hpp>
#include <fmt/format.h>

#include "cli/api_target.h"
#include "cli/doctor_command.h"
#include "cli/output.h"

namespace ablo::cli {

namespace json = boost::json;
namespace fs = std::filesystem;

const char* const kStarterSchema = R"({
  "v": 3,
  "models": {
    "task": {
      "typename": "task",
      "fields": {
        "title": {"type": "string", "isOptional": false, "isIndexed": false},
        "status": {"type": "enum", "enumValues": ["todo", "doing", "done"], "isOptional": false, "isIndexed": true},
        "notes": {"type": "string", "isOptional": true, "isIndexed": false}
      },
      "relations": {},
      "load": "instant",
      "tenancy": {"kind": "column", "column": "organization_id"},
      "plane": "tenant"
    }
  },
  "identityRoles": []
}
)";

namespace {

// Headers of a 0.49 client: GET /v1/logs answers log_events to it.
const std::map<std::string, std::string> kLogHeaders{{"Ablo-Protocol-Version", "1"}};

std::string comma_list(const json::value* list) {
  std::string out;
  if (!list || !list->is_array()) return out;
  for (const auto& item : list->as_array()) {
    out += (out.empty() ? "" : ", ") + (item.is_string() ? std::string(item.as_string()) : json::serialize(item));
  }
  return out;
}

// --- init ---------------------------------------------------------------------------------

struct InitOptions {
  std::string dir = ".";
  bool force = false;
};

// invalid_request when `path` exists and may not be overwritten.
Status refuse_to_overwrite(const fs::path& path, bool force) {
  if (!fs::exists(path) || force) return {};
  return tl::unexpected(with_hint(Error("invalid_request", path.string() + " already exists"),
                                  "pass --force to overwrite it, or run `ablo init` in another directory"));
}

Status write_new_file(const fs::path& path, const std::string& text, bool force) {
  if (auto ok = refuse_to_overwrite(path, force); !ok) return ok;
  std::ofstream out(path, std::ios::trunc);
  out << text;
  if (!out.flush()) return fail("invalid_request", "cannot write " + path.string());
  return {};
}

Result<Outcome> run_init(const InitOptions& options, const DevCommandHooks& hooks) {
  const fs::path dir(options.dir);
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) return fail("invalid_request", "cannot create " + dir.string() + ": " + ec.message());
  for (const char* name : {"schema.json", ".env"}) {  // both checked before a key or a file is made
    if (auto ok = refuse_to_overwrite(dir / name, options.force); !ok) return tl::unexpected(ok.error());
  }
  const auto data_dir = (dir / "ablo-data").string();
  auto key = hooks.create_test_key(data_dir);
  if (!key) return tl::unexpected(key.error());
  if (auto ok = write_new_file(dir / "schema.json", kStarterSchema, options.force); !ok)
    return tl::unexpected(ok.error());
  const std::string env = fmt::format("ABLO_API_KEY={}\nABLO_API_URL={}\n", *key, kDefaultApiUrl);
  if (auto ok = write_new_file(dir / ".env", env, options.force); !ok) return tl::unexpected(ok.error());

  Outcome outcome;
  outcome.document = json::object{{"schemaFile", (dir / "schema.json").string()},
                                  {"envFile", (dir / ".env").string()},
                                  {"dataDir", data_dir},
                                  {"apiUrl", kDefaultApiUrl},
                                  {"apiKeyPrefix", key->substr(0, 12)}};
  outcome.text = fmt::format(
      "Wrote {0}/schema.json (a `task` model) and {0}/.env (a sandbox key, data in {1}).\n\n"
      "## Run it\n\n"
      "    {3}ablo dev --data-dir ablo-data    # serves {2}, re-pushes schema.json on save\n\n"
      "## Connect a client\n\n"
      "    const ablo = Ablo({{ schema, apiKey: process.env.ABLO_API_KEY, baseURL: '{2}' }})\n\n"
      "Then: `ablo whoami`, `ablo status`, `ablo doctor`, `ablo logs --follow`.\n",
      dir.string(), data_dir, kDefaultApiUrl, options.dir == "." ? std::string() : "cd " + dir.string() + " && ");
  return outcome;
}

// --- whoami -------------------------------------------------------------------------------

Result<Outcome> run_whoami(const ApiTargetOptions& target) {
  auto api = resolve_api_target(target);
  if (!api) return tl::unexpected(api.error());
  if (auto ok = api->require_key(); !ok) return tl::unexpected(ok.error());
  auto identity = api->get_json("/api/auth/identity");
  if (!identity) return tl::unexpected(identity.error());
  const auto* authority = identity->if_contains("authority");
  const json::value* operations =
      authority && authority->is_object() ? authority->as_object().if_contains("operations") : nullptr;
  Outcome outcome;
  outcome.document = *identity;
  outcome.text = fmt::format("participant: {} ({})\norganization: {}\nsync groups: {}\noperations: {}\nserver: {}\n",
                             display_member(*identity, "participantId"), display_member(*identity, "participantKind"),
                             display_member(*identity, "organizationId"),
                             comma_list(identity->if_contains("syncGroups")), comma_list(operations), api->url());
  return outcome;
}

// --- status -------------------------------------------------------------------------------

// The sum over every label set of `name` in a Prometheus text exposition; nullopt when absent.
std::optional<double> metric_total(std::string_view text, std::string_view name) {
  std::optional<double> total;
  std::size_t start = 0;
  while (start < text.size()) {
    auto end = text.find('\n', start);
    if (end == std::string_view::npos) end = text.size();
    const auto line = text.substr(start, end - start);
    start = end + 1;
    if (!line.starts_with(name) || line.size() <= name.size()) continue;
    const char next = line[name.size()];
    if (next != ' ' && next != '{') continue;
    const auto space = line.rfind(' ');
    try {
      total = total.value_or(0) + std::stod(std::string(line.substr(space + 1)));
    } catch (const std::exception&) {  // a malformed sample: skip it
    }
  }
  return total;
}

json::object metrics_summary(const ApiEndpoint& api) {
  json::object out;
  auto response = api.call("GET", "/metrics");
  if (!response || response->status != 200) return out;
  // A series appears at its first use: absent from a live /metrics means none yet.
  for (const char* name : {"ablo_websocket_connections", "ablo_commits_total", "ablo_mcp_sessions"}) {
    out[name] = metric_total(response->body, name).value_or(0);
  }
  return out;
}

// `ablo status`'s document {url, health, ready, metrics, identity?} for people.
std::string status_text(const json::object& status) {
  const auto& ready = status.at("ready").as_object();
  std::string text = fmt::format("server: {} ({}, {})\n", display_member(status, "url"),
                                 display_member(status, "health"), display_member(ready, "status"));
  if (auto version = display_member(ready, "version"); !version.empty()) text += "version: " + version + "\n";
  if (auto data = display_member(ready, "dataLocation"); !data.empty()) text += "data: " + data + "\n";
  if (const auto* checks = ready.if_contains("checks"); checks && checks->is_object()) {
    for (const auto& [name, value] : checks->as_object())
      text += fmt::format("  {}: {}\n", std::string_view(name), display_member(checks->as_object(), name));
  }
  for (const auto& [name, value] : status.at("metrics").as_object()) {
    text += fmt::format("{}: {}\n", std::string_view(name), value.to_number<double>());
  }
  if (const auto* identity = status.if_contains("identity");
      identity && identity->as_object().contains("participantId")) {
    const auto& who = identity->as_object();
    text += fmt::format("key: {} ({}) in {}\n", display_member(who, "participantId"),
                        display_member(who, "participantKind"), display_member(who, "organizationId"));
  }
  return text;
}

Result<Outcome> run_status(const ApiTargetOptions& target) {
  auto api = resolve_api_target(target);
  if (!api) return tl::unexpected(api.error());
  auto health = api->get_json("/api/health");
  if (!health) return tl::unexpected(health.error());
  auto ready_response = api->call("GET", "/api/ready");
  if (!ready_response) return tl::unexpected(ready_response.error());
  boost::system::error_code ec;
  auto ready = json::parse(ready_response->body, ec);
  if (ec || !ready.is_object()) ready = json::object{};
  json::object document{{"url", api->url()},
                        {"health", display_member(*health, "status")},
                        {"ready", ready},
                        {"metrics", metrics_summary(*api)}};
  if (!api->key.empty()) {
    auto identity = api->get_json("/api/auth/identity");
    document["identity"] =
        identity ? json::value(*identity) : json::value(json::object{{"error", identity.error().code}});
  }
  Outcome outcome;
  outcome.text = status_text(document);
  outcome.document = std::move(document);
  return outcome;
}

// --- logs ---------------------------------------------------------------------------------

struct LogsOptions {
  ApiTargetOptions target;
  std::string model;
  bool follow = false;
  std::optional<int64_t> after;
  int tail = 50;
};

volatile std::sig_atomic_t logs_stopped = 0;

// A delta carries the row as it is after the change, not what changed: the fields that differ
// from the last delta of the same row this run printed (all of them for a row seen first).
class ChangedFields {
 public:
  std::string of(const json::object& event) {
    const auto* delta = event.if_contains("delta");
    const auto* data = delta && delta->is_object() ? delta->as_object().if_contains("data") : nullptr;
    if (!data || !data->is_object()) return {};
    const auto row_key = display_member(event, "model") + "/" + display_member(event, "recordId");
    if (last_.size() >= kMaxRowsRemembered) last_.clear();  // bounded: then rows count as first seen
    const auto previous = last_.find(row_key);
    std::string changed;
    for (const auto& [field, value] : data->as_object()) {
      if (is_bookkeeping(field)) continue;
      const json::value* before = previous == last_.end() ? nullptr : previous->second.if_contains(field);
      const bool differs = previous == last_.end() ? !value.is_null() : !before || *before != value;
      if (differs) changed += (changed.empty() ? "" : ",") + std::string(field);
    }
    last_[row_key] = data->as_object();
    return changed;
  }

 private:
  static constexpr std::size_t kMaxRowsRemembered = 10'000;
  static bool is_bookkeeping(std::string_view field) {
    static constexpr std::string_view kFields[] = {"id",        "createdAt", "updatedAt", "organizationId",
                                                   "createdBy", "archivedAt"};
    return std::find(std::begin(kFields), std::end(kFields), field) != std::end(kFields);
  }
  std::unordered_map<std::string, json::object> last_;
};

std::string log_line(const json::object& event, ChangedFields& changes) {
  return fmt::format("#{} {} {} {} {} [{}] {}", display_member(event, "id"), display_member(event, "at"),
                     display_member(event, "op"), display_member(event, "model"), display_member(event, "recordId"),
                     changes.of(event), display_member(event, "actor"));
}

struct FetchedLogPage {
  json::array events;
  int64_t next = 0;
  bool has_more = false;
};

Result<FetchedLogPage> read_log_page(const ApiEndpoint& api, const LogsOptions& options, std::optional<int64_t> after) {
  std::string target =
      after ? fmt::format("/v1/logs?limit=100&after={}", *after) : fmt::format("/v1/logs?limit={}", options.tail);
  if (!options.model.empty()) target += "&model=" + options.model;
  auto page = api.get_json(target, kLogHeaders);
  if (!page) return tl::unexpected(page.error());
  FetchedLogPage out;
  if (const auto* data = page->if_contains("data"); data && data->is_array()) out.events = data->as_array();
  out.next = std::atoll(display_member(*page, "next_cursor").c_str());  // "<id>.0"
  if (const auto* more = page->if_contains("has_more"); more && more->is_bool()) out.has_more = more->as_bool();
  return out;
}

void print_events(const json::array& events, json::array* collected, ChangedFields& changes) {
  for (const auto& event : events) {
    if (!event.is_object()) continue;
    if (collected) {
      collected->push_back(event);
    } else {
      std::printf("%s\n",
                  json_output() ? json::serialize(event).c_str() : log_line(event.as_object(), changes).c_str());
    }
  }
  std::fflush(stdout);
}

// Sleeps up to `delay`, in short slices so Ctrl-C ends it at once.
void pause_unless_stopped(std::chrono::milliseconds delay) {
  const auto until = std::chrono::steady_clock::now() + delay;
  while (!logs_stopped && std::chrono::steady_clock::now() < until)
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
}

Result<Outcome> run_logs(const LogsOptions& options) {
  auto api = resolve_api_target(options.target);
  if (!api) return tl::unexpected(api.error());
  if (auto ok = api->require_key(); !ok) return tl::unexpected(ok.error());
  // One JSON document at the end, unless following (then NDJSON as events arrive).
  json::array collected;
  json::array* sink = json_output() && !options.follow ? &collected : nullptr;
  ChangedFields changes;
  auto page = read_log_page(*api, options, options.after);
  if (!page) return tl::unexpected(page.error());
  print_events(page->events, sink, changes);
  std::signal(SIGINT, [](int) { logs_stopped = 1; });
  std::signal(SIGTERM, [](int) { logs_stopped = 1; });
  constexpr auto kFastest = std::chrono::milliseconds(100), kSlowest = std::chrono::milliseconds(1000);
  auto delay = kFastest;
  while (!logs_stopped && (page->has_more || options.follow)) {
    if (!page->has_more) pause_unless_stopped(delay);
    if (logs_stopped) break;
    auto next = read_log_page(*api, options, page->next);
    if (!next) return tl::unexpected(next.error());
    delay = next->events.empty() ? std::min(delay * 2, kSlowest) : kFastest;  // back off while idle
    print_events(next->events, sink, changes);
    page = std::move(next);
  }
  Outcome outcome;
  // Text lines (and NDJSON) are out already: a null document tells run_and_finish so.
  if (sink) outcome.document = json::object{{"data", std::move(collected)}, {"next_cursor", page->next}};
  return outcome;
}

// --- registration -------------------------------------------------------------------------

void run_and_finish(const std::function<Result<Outcome>()>& run) {
  auto outcome = run();
  if (outcome && outcome->document.is_null() && outcome->text.empty()) return finish_command(outcome->exit_code);
  finish_command(report(outcome));
}

}  // namespace

void add_dev_commands(CLI::App& app, DevCommandHooks hooks) {
  auto init = std::make_shared<InitOptions>();
  auto* init_cmd =
      app.add_subcommand("init", "Scaffold a project: schema.json, .env with a sandbox key, how to run it");
  init_cmd->add_option("dir", init->dir, "Project directory")->capture_default_str();
  init_cmd->add_flag("--force", init->force, "Overwrite an existing schema.json / .env");
  init_cmd->callback([init, hooks] { run_and_finish([&] { return run_init(*init, hooks); }); });

  auto whoami = std::make_shared<ApiTargetOptions>();
  auto* whoami_cmd = app.add_subcommand("whoami", "Who the key is: participant, organization, sync groups, operations");
  add_api_target_options(*whoami_cmd, *whoami);
  whoami_cmd->callback([whoami] { run_and_finish([&] { return run_whoami(*whoami); }); });

  auto status = std::make_shared<ApiTargetOptions>();
  auto* status_cmd = app.add_subcommand("status", "What is running: health, readiness, version, data, connections");
  add_api_target_options(*status_cmd, *status);
  status_cmd->callback([status] { run_and_finish([&] { return run_status(*status); }); });

  auto doctor = std::make_shared<DoctorOptions>();
  auto* doctor_cmd = app.add_subcommand("doctor", "Check the setup; exit 1 when a check fails (each names its fix)");
  add_api_target_options(*doctor_cmd, doctor->target);
  doctor_cmd->add_option("--schema", doctor->schema_file, "Schema file to check")->capture_default_str();
  doctor_cmd->callback([doctor] { run_and_finish([&] { return run_doctor(*doctor); }); });

  auto logs = std::make_shared<LogsOptions>();
  auto* logs_cmd = app.add_subcommand("logs", "Print the delta log (one line per delta); --follow tails it");
  add_api_target_options(*logs_cmd, logs->target);
  logs_cmd->add_option("--model", logs->model, "Only this model's deltas");
  logs_cmd->add_flag("-f,--follow", logs->follow, "Keep printing new deltas until Ctrl-C");
  logs_cmd->add_option("--after", logs->after, "Start after this delta id (default: the last --tail deltas)");
  logs_cmd->add_option("-n,--tail", logs->tail, "How many recent deltas to start with")
      ->check(CLI::Range(1, 100))
      ->capture_default_str();
  logs_cmd->callback([logs] { run_and_finish([&] { return run_logs(*logs); }); });
}

}  // namespace ablo::cli
