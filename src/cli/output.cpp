#include "cli/output.h"

#include <atomic>
#include <cstdio>
#include <string_view>
#include <utility>

#include <CLI/CLI.hpp>
#include <boost/json.hpp>

namespace ablo::cli {

namespace json = boost::json;

namespace {

std::atomic<bool> json_mode{false};

// What a developer usually does next, per code (a command's own hint wins).
std::string_view default_hint(std::string_view code) {
  struct CodeHint {
    std::string_view code, hint;
  };
  static constexpr CodeHint kHints[] = {
      {"connection_failed", "is the server running? start it with `ablo dev` or `ablo serve`, or set ABLO_API_URL"},
      {"apikey_missing", "set ABLO_API_KEY (`ablo init` writes one to .env) or pass --key"},
      {"apikey_invalid", "check ABLO_API_KEY: `ablo keys create --data-dir <the server's data dir>` makes a new one"},
      {"apikey_revoked", "this key was revoked: create a new one with `ablo keys create`"},
      {"apikey_expired", "this key expired: create a new one with `ablo keys create`"},
      {"auth_no_credentials", "pass a key with --key or ABLO_API_KEY"},
      {"invalid_schema", "fix the schema file (JSON v3, see README \"Using it\")"},
      {"incompatible_change", "re-run the push with the flags it names (--force, --rename, --backfill)"},
      {"model_not_found", "`ablo status` lists the server's models; check the model's key"},
      {"store_unavailable", "the database is unreachable: check --database / DATABASE_URL"},
      {"source_network_error", "the database is unreachable: check --database / DATABASE_URL"},
  };
  for (const auto& entry : kHints) {
    if (entry.code == code) return entry.hint;
  }
  return "run the command with --help for its options";
}

}  // namespace

void set_json_output(bool enabled) { json_mode = enabled; }
bool json_output() { return json_mode; }

std::string hint_for(const Error& error) {
  if (const auto* hint = error.details.if_contains("hint"); hint && hint->is_string()) {
    return std::string(hint->as_string());
  }
  return std::string(default_hint(error.code));
}

Error with_hint(Error error, std::string hint) {
  error.details["hint"] = std::move(hint);
  return error;
}

// Line breaks and tabs (libpq's messages have them) as single spaces: the error stays one line.
std::string one_line(const std::string& text) {
  std::string out;
  for (const char c : text) {
    const bool space = c == '\n' || c == '\r' || c == '\t' || c == ' ';
    if (!space) {
      out += c;
    } else if (!out.empty() && out.back() != ' ') {
      out += ' ';
    }
  }
  while (!out.empty() && out.back() == ' ') out.pop_back();
  return out;
}

int print_error(const Error& error) {
  std::fprintf(stderr, "ablo: %s: %s (hint: %s)\n", error.code.c_str(), one_line(error.message).c_str(),
               one_line(hint_for(error)).c_str());
  return 1;
}

Error error_of_response(const client::HttpResponse& response) {
  boost::system::error_code ec;
  const auto parsed = json::parse(response.body, ec);
  const auto* envelope = !ec && parsed.is_object() ? &parsed.as_object() : nullptr;
  const auto* code = envelope ? envelope->if_contains("code") : nullptr;
  const auto* message = envelope ? envelope->if_contains("message") : nullptr;
  if (code && code->is_string()) {  // the server sends registry codes only; anything else reads as internal_error
    return Error(ErrorCode::from_stored(code->as_string()),
                 message && message->is_string() ? std::string(message->as_string()) : response.body);
  }
  return Error(response.status >= 500 ? ErrorCode("internal_error") : ErrorCode("invalid_request"),
               "HTTP " + std::to_string(response.status) + ": " + response.body.substr(0, 300));
}

std::string display_member(const json::object& object, std::string_view name) {
  const auto* value = object.if_contains(name);
  if (!value) return {};
  if (value->is_string()) return std::string(value->as_string());
  if (value->is_null()) return {};
  return json::serialize(*value);
}

int report(const Result<Outcome>& outcome) {
  if (!outcome) return print_error(outcome.error());
  if (json_output()) {
    std::printf("%s\n", json::serialize(outcome->document).c_str());
  } else if (!outcome->text.empty()) {
    std::fputs(outcome->text.c_str(), stdout);
    if (outcome->text.back() != '\n') std::fputc('\n', stdout);
  }
  std::fflush(stdout);
  return outcome->exit_code;
}

void finish_command(int exit_code) {
  if (exit_code != 0) throw CLI::RuntimeError(exit_code);
}

}  // namespace ablo::cli
