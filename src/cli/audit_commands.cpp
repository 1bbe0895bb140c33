#include "cli/audit_commands.h"

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <memory>

#include <CLI/CLI.hpp>
#include <boost/json.hpp>
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "audit/audit.h"
#include "auth/auth_service.h"
#include "cli/api_target.h"
#include "cli/output.h"
#include "engine/audit_log.h"

namespace ablo::cli {

namespace json = boost::json;

Result<std::string> resolve_audit_key(store::Store& store, bool postgres, const std::string& data_dir,
                                      const std::string& secret_file) {
  if (const char* env = std::getenv("ABLO_AUDIT_SECRET"); env && *env) {
    if (std::string(env).size() < 32) return fail("invalid_request", "ABLO_AUDIT_SECRET must be at least 32 bytes");
    return std::string(env);
  }
  if (!secret_file.empty()) return audit::read_key_file(secret_file);
  if (!postgres) return audit::load_or_create_key_file(std::filesystem::path(data_dir) / "audit.key");
  // Several nodes must share one key: the database is the one place they all reach.
  constexpr const char* kSetting = "audit_secret";
  auto existing = store.get_setting(kSetting);
  if (!existing) return tl::unexpected(existing.error());
  std::string key;
  if (*existing) {
    key = **existing;
  } else {
    auto stored = store.put_setting_if_absent(kSetting, audit::generate_key());
    if (!stored) return tl::unexpected(stored.error());
    auto winner = store.get_setting(kSetting);
    if (!winner) return tl::unexpected(winner.error());
    if (!*winner) return fail("internal_error", "the audit secret setting vanished");
    key = **winner;
  }
  spdlog::warn(
      "audit: the audit chain's secret is kept in the database's settings table; the chain then detects edits only "
      "by someone who cannot read that table. Set ABLO_AUDIT_SECRET or --audit-secret-file on every node instead.");
  return key;
}

Status record_key_creation(store::Store& store, bool postgres, const std::string& data_dir,
                           const std::string& audit_secret_file, const std::string& secret) {
  auto audit_key = resolve_audit_key(store, postgres, data_dir, audit_secret_file);
  if (!audit_key) return tl::unexpected(audit_key.error());
  auth::AuthService auth(store, [] { return schema::Schema::empty(); });
  auto principal = auth.authenticate(secret);
  if (!principal) return tl::unexpected(principal.error());
  return engine::append_audit_row(store, *audit_key, *principal, "key.create",
                                  json::object{{"keyId", principal->key_id},
                                               {"live", !principal->tenant.sandbox},
                                               {"label", principal->credential_label}});
}

namespace {

struct AuditCommand {
  ApiTargetOptions api;
  std::string since;
  std::string until;
  std::string output;
};

void finish_audit_command(int exit_code) { finish_command(exit_code); }

// GET `target` with the command's server and key; transport failures and error statuses as Errors.
Result<client::HttpResponse> audit_get(const AuditCommand& options, const std::string& target) {
  auto endpoint = resolve_api_target(options.api);
  if (!endpoint) return tl::unexpected(endpoint.error());
  if (auto ok = endpoint->require_key(); !ok) return tl::unexpected(ok.error());
  auto response = endpoint->call("GET", target);
  if (response && response->status != 200) return tl::unexpected(error_of_response(*response));
  return response;
}

// An answer that is not the audit report the server sends.
int audit_failure(const std::string& message) { return print_error(Error("invalid_body", message)); }

// Walks the whole chain, one bounded call at a time (the server checks a bounded stretch per call).
int run_verify(const AuditCommand& options) {
  int64_t from = 1;
  int64_t checked = 0;
  while (true) {
    auto response = audit_get(options, fmt::format("/v1/audit/verify?fromSeq={}", from));
    if (!response) return print_error(response.error());
    boost::system::error_code ec;
    auto parsed = json::parse(response->body, ec);
    if (ec || !parsed.is_object()) return audit_failure("the server's answer is not JSON: " + response->body);
    const auto& report = parsed.as_object();
    const auto* ok = report.if_contains("ok");
    if (!ok || !ok->is_bool()) return audit_failure("the server's answer has no ok: " + response->body);
    if (!ok->as_bool()) {
      std::printf("%s\n", response->body.c_str());
      return 2;  // the chain is broken: a distinct exit status for scripts
    }
    checked += report.at("rowsChecked").to_number<int64_t>();
    const auto* complete = report.if_contains("complete");
    if (!complete || !complete->is_bool() || complete->as_bool()) {
      std::printf("%s\n", json::serialize(json::object{{"ok", true},
                                                       {"rowsChecked", checked},
                                                       {"fromSeq", 1},
                                                       {"lastSeq", report.at("lastSeq")}})
                              .c_str());
      return 0;
    }
    from = report.at("lastSeq").to_number<int64_t>() + 1;
  }
}

int run_export(const AuditCommand& options) {
  std::string target = "/v1/audit/export";
  std::string separator = "?";
  if (!options.since.empty()) {
    target += separator + "since=" + options.since;
    separator = "&";
  }
  if (!options.until.empty()) target += separator + "until=" + options.until;
  auto response = audit_get(options, target);
  if (!response) return print_error(response.error());
  if (options.output.empty() || options.output == "-") {
    std::fwrite(response->body.data(), 1, response->body.size(), stdout);
    return 0;
  }
  std::unique_ptr<std::FILE, int (*)(std::FILE*)> file(std::fopen(options.output.c_str(), "wb"), &std::fclose);
  if (!file) return print_error(Error("invalid_request", "cannot write " + options.output));
  std::fwrite(response->body.data(), 1, response->body.size(), file.get());
  return 0;
}

void add_connection_options(CLI::App& command, AuditCommand& options) { add_api_target_options(command, options.api); }

}  // namespace

void add_audit_commands(CLI::App& app) {
  auto* audit_cmd = app.add_subcommand("audit", "Read and check the audit trail of a running server");
  audit_cmd->require_subcommand(1);
  // The callbacks outlive this function; the options live as long as they do.
  auto verify = std::make_shared<AuditCommand>();
  auto* verify_cmd = audit_cmd->add_subcommand("verify", "Check the audit chain (exit 2 and the break when broken)");
  add_connection_options(*verify_cmd, *verify);
  verify_cmd->callback([verify] { finish_audit_command(run_verify(*verify)); });
  auto exported = std::make_shared<AuditCommand>();
  auto* export_cmd = audit_cmd->add_subcommand("export", "Write the audit rows as CSV (capped; see README)");
  add_connection_options(*export_cmd, *exported);
  export_cmd->add_option("--since", exported->since, "ISO-8601 time: rows at or after it");
  export_cmd->add_option("--until", exported->until, "ISO-8601 time: rows before it");
  export_cmd->add_option("-o,--output", exported->output, "File to write (default: stdout)");
  export_cmd->callback([exported] { finish_audit_command(run_export(*exported)); });
}

}  // namespace ablo::cli
