#include "cli/source_commands.h"

#include <cstdio>
#include <memory>
#include <string>

#include <CLI/CLI.hpp>
#include <boost/json.hpp>
#include <fmt/format.h>

#include "cli/api_target.h"
#include "cli/output.h"

namespace ablo::cli {

namespace json = boost::json;

namespace {

std::string member_text(const json::object& object, std::string_view key) {
  const auto* value = object.if_contains(key);
  if (!value || value->is_null()) return "-";
  if (value->is_string()) return std::string(value->as_string());
  return json::serialize(*value);
}

// One source, as `ablo source status` shows it to a person.
void print_source(const json::object& source) {
  std::printf("%s  %s  %s\n", member_text(source, "id").c_str(), member_text(source, "mode").c_str(),
              member_text(source, "url").c_str());
  const auto* status_value = source.if_contains("status");
  if (!status_value || !status_value->is_object()) return;
  const auto& status = status_value->as_object();
  std::printf("  state %s, last success %s\n", member_text(status, "state").c_str(),
              member_text(status, "lastSuccessAt").c_str());
  if (const auto* error = status.if_contains("lastError"); error && error->is_object()) {
    std::printf("  last error %s: %s (%s)\n", member_text(error->as_object(), "code").c_str(),
                member_text(error->as_object(), "message").c_str(), member_text(error->as_object(), "at").c_str());
  }
  std::printf("  requests %s, failures %s, retries %s, commits forwarded %s, rows loaded %s\n",
              member_text(status, "requests").c_str(), member_text(status, "failures").c_str(),
              member_text(status, "retries").c_str(), member_text(status, "commitsForwarded").c_str(),
              member_text(status, "hydratedRows").c_str());
  std::printf("  events applied %s, skipped %s, rejected %s, lag %s ms, cursor %s%s\n",
              member_text(status, "eventsApplied").c_str(), member_text(status, "eventsSkipped").c_str(),
              member_text(status, "eventsRejected").c_str(), member_text(status, "eventLagMs").c_str(),
              member_text(status, "cursor").c_str(),
              member_text(status, "eventsFeed") == "false" ? " (the endpoint has no events feed)" : "");
}

// GET of one source or the list, printed for a person (JSON with --json).
int show_sources(const ApiTargetOptions& api, const std::string& id) {
  if (json_output()) return print_api_call(api, "GET", "/v1/datasources" + (id.empty() ? "" : "/" + id));
  auto endpoint = resolve_api_target_with_key(api);
  if (!endpoint) return print_error(endpoint.error());
  auto answer = endpoint->get_json("/v1/datasources" + (id.empty() ? "" : "/" + id));
  if (!answer) return print_error(answer.error());
  if (!id.empty()) {
    print_source(*answer);
    return 0;
  }
  const auto* data = answer->if_contains("data");
  if (!data || !data->is_array() || data->as_array().empty()) {
    std::printf("no data source: this environment's rows live in Ablo (ablo source add <url> to add one)\n");
    return 0;
  }
  for (const auto& source : data->as_array()) {
    if (source.is_object()) print_source(source.as_object());
  }
  return 0;
}

}  // namespace

void add_source_commands(CLI::App& app) {
  auto* source_cmd = app.add_subcommand("source", "Data Source mode: keep your own database or endpoint canonical");
  source_cmd->require_subcommand(1);

  struct AddOptions {
    ApiTargetOptions api;
    std::string url, signing_key;
    int64_t timeout_ms = 10'000;
    int64_t poll_ms = 1'000;
  };
  auto add = std::make_shared<AddOptions>();
  auto* add_cmd = source_cmd->add_subcommand(
      "add", "Register a signed Data Source endpoint (datasource contract: load | list | commit | events)");
  add_cmd->add_option("url", add->url, "e.g. https://app.example.com/api/ablo/source")->required();
  add_cmd->add_option("--signing-key", add->signing_key, "The sk_ key requests are signed with (default: --key)");
  add_cmd->add_option("--timeout-ms", add->timeout_ms, "Time the endpoint has to answer one request")->capture_default_str();
  add_cmd->add_option("--poll-ms", add->poll_ms, "How often the endpoint's events feed is polled")->capture_default_str();
  add_api_target_options(*add_cmd, add->api);
  add_cmd->callback([add] {
    json::object body{{"endpoint", add->url}, {"timeoutMs", add->timeout_ms}, {"pollIntervalMs", add->poll_ms}};
    if (!add->signing_key.empty()) body["signingKey"] = add->signing_key;
    finish_command(print_api_call(add->api, "POST", "/v1/datasources", json::serialize(body)));
  });

  struct DatabaseOptions {
    ApiTargetOptions api;
    std::string url, pg_schema;
  };
  auto database = std::make_shared<DatabaseOptions>();
  auto* database_cmd = source_cmd->add_subcommand(
      "add-database", "Register your PostgreSQL as this environment's data (selfHosted; what DATABASE_URL does)");
  database_cmd->add_option("connection-string", database->url, "postgres://user:password@host:5432/db")->required();
  database_cmd->add_option("--pg-schema", database->pg_schema, "PostgreSQL schema of the tables (default public)");
  add_api_target_options(*database_cmd, database->api);
  database_cmd->callback([database] {
    json::object body{{"connectionString", database->url}};
    if (!database->pg_schema.empty()) body["schema"] = database->pg_schema;
    finish_command(print_api_call(database->api, "POST", "/v1/datasource", json::serialize(body)));
  });

  struct ShowOptions {
    ApiTargetOptions api;
    std::string id;
  };
  auto list = std::make_shared<ShowOptions>();
  auto* list_cmd = source_cmd->add_subcommand("list", "The environment's data sources and their status");
  add_api_target_options(*list_cmd, list->api);
  list_cmd->callback([list] { finish_command(show_sources(list->api, {})); });

  auto status = std::make_shared<ShowOptions>();
  auto* status_cmd = source_cmd->add_subcommand(
      "status", "Last success, last error, requests, retries, events applied, event lag and cursor of a source");
  status_cmd->add_option("id", status->id, "The source (default: all)");
  add_api_target_options(*status_cmd, status->api);
  status_cmd->callback([status] { finish_command(show_sources(status->api, status->id)); });

  auto remove = std::make_shared<ShowOptions>();
  auto* remove_cmd = source_cmd->add_subcommand("remove", "Stop using a data source (its rows stay in Ablo's cache)");
  remove_cmd->add_option("id", remove->id)->required();
  add_api_target_options(*remove_cmd, remove->api);
  remove_cmd->callback([remove] { finish_command(print_api_call(remove->api, "DELETE", "/v1/datasources/" + remove->id)); });
}

}  // namespace ablo::cli
