#include "cli/doctor_command.h"

#include <cctype>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <optional>
#include <vector>

#include <boost/json.hpp>
#include <fmt/format.h>

#include "cli/schema_file.h"
#include "common/time.h"
#include "schema/schema.h"

namespace ablo::cli {

namespace json = boost::json;
namespace fs = std::filesystem;

namespace {

enum class Verdict { kOk, kWarn, kFail };

struct Check {
  std::string name;
  Verdict verdict;
  std::string detail;
  std::string fix;  // empty when ok
};

std::string_view verdict_name(Verdict verdict) {
  switch (verdict) {
    case Verdict::kOk:
      return "ok";
    case Verdict::kWarn:
      return "warn";
    case Verdict::kFail:
      return "fail";
  }
  return "fail";
}

// What the checks learn from the server, read once.
struct ServerFacts {
  bool reachable = false;
  std::string unreachable_reason;
  json::object ready;
  std::optional<Error> identity_error;
  json::object schema;  // GET /api/schema, when the key is accepted
};

ServerFacts gather_facts(const ApiEndpoint& api) {
  ServerFacts facts;
  auto ready = api.call("GET", "/api/ready");
  if (!ready) {
    facts.unreachable_reason = ready.error().message;
    return facts;
  }
  facts.reachable = true;
  boost::system::error_code ec;
  auto parsed = json::parse(ready->body, ec);
  if (!ec && parsed.is_object()) facts.ready = std::move(parsed.as_object());
  if (api.key.empty()) return facts;
  auto identity = api.get_json("/api/auth/identity");
  if (!identity) {
    facts.identity_error = identity.error();
    return facts;
  }
  if (auto schema = api.get_json("/api/schema")) facts.schema = std::move(*schema);
  return facts;
}

Check check_url_configured(const DoctorOptions& options) {
  if (std::getenv("ABLO_API_URL") || options.target.url != kDefaultApiUrl)
    return {"ABLO_API_URL set", Verdict::kOk, options.target.url, {}};
  return {"ABLO_API_URL set", Verdict::kWarn, "not set: using " + std::string(kDefaultApiUrl),
          "add ABLO_API_URL=" + std::string(kDefaultApiUrl) + " to .env (`ablo init` writes it)"};
}

Check check_reachable(const ApiEndpoint& api, const ServerFacts& facts) {
  if (!facts.reachable) {
    return {"server reachable", Verdict::kFail, api.url() + ": " + facts.unreachable_reason,
            "start it with `ablo dev` (or `ablo serve`), or point ABLO_API_URL at it"};
  }
  const auto status = display_member(facts.ready, "status");
  if (status != "ready") {
    // Name the readiness checks that fail (store, schema, cluster), not the whole document.
    std::string failing;
    if (const auto* checks = facts.ready.if_contains("checks"); checks && checks->is_object()) {
      for (const auto& [name, verdict] : checks->as_object()) {
        if (verdict.is_string() && verdict.as_string() == "ok") continue;
        failing += (failing.empty() ? "" : "; ") + std::string(name) + ": " +
                   (verdict.is_string() ? std::string(verdict.as_string()) : json::serialize(verdict));
      }
    }
    return {"server reachable", Verdict::kFail,
            api.url() + " answers but is " + status + (failing.empty() ? "" : " (" + failing + ")"),
            "see the server's log; `ablo status` lists its checks"};
  }
  return {"server reachable", Verdict::kOk, api.url() + " is ready", {}};
}

Check check_key_accepted(const ApiEndpoint& api, const ServerFacts& facts) {
  if (api.key.empty()) {
    return {"key accepted", Verdict::kFail, "no key given", "set ABLO_API_KEY in .env or pass --key"};
  }
  if (!facts.reachable)
    return {"key accepted", Verdict::kWarn, "not checked: the server is unreachable", "fix the server first"};
  if (facts.identity_error) {
    return {"key accepted", Verdict::kFail, facts.identity_error->code + ": " + facts.identity_error->message,
            "create a key on that server (`ablo keys create --data-dir <its data dir>`) and put it in ABLO_API_KEY"};
  }
  return {"key accepted", Verdict::kOk, api.key.substr(0, std::min<std::size_t>(12, api.key.size())) + "…", {}};
}

Check check_key_mode(const ApiEndpoint& api) {
  const bool test_key = api.key.starts_with("sk_test_");
  if (test_key && !api.loopback()) {
    return {"key mode", Verdict::kWarn, "a sandbox (sk_test_) key against " + api.url(),
            "use a live key (`ablo keys create --live`) for a shared server"};
  }
  if (api.key.starts_with("sk_live_") && api.loopback()) {
    return {"key mode", Verdict::kWarn, "a live (sk_live_) key against a local server",
            "use the sandbox key `ablo init` / `ablo serve` print for local work"};
  }
  return {"key mode", Verdict::kOk, test_key ? "sandbox key" : "live key or token", {}};
}

Check check_schema(const DoctorOptions& options, const ServerFacts& facts) {
  const std::string name = "schema file";
  if (!fs::exists(options.schema_file)) {
    return {name, Verdict::kWarn, options.schema_file + " not found", "run `ablo init` or pass --schema FILE"};
  }
  auto json = read_schema_file(options.schema_file);
  auto parsed =
      json ? schema::Schema::parse(*json) : Result<std::shared_ptr<const schema::Schema>>(tl::unexpected(json.error()));
  if (!parsed) return {name, Verdict::kFail, parsed.error().message, "fix " + options.schema_file};
  if (facts.schema.empty())
    return {name, Verdict::kOk, options.schema_file + " is valid (not compared: no server schema read)", {}};
  const auto server_hash = display_member(facts.schema, "hash");
  if (server_hash != (*parsed)->hash()) {
    return {name, Verdict::kWarn,
            fmt::format("{} ({}) differs from the server's active schema ({})", options.schema_file, (*parsed)->hash(),
                        server_hash.empty() ? "none" : server_hash),
            "run: ablo schema push " + options.schema_file + " (or keep `ablo dev` running)"};
  }
  return {name, Verdict::kOk, options.schema_file + " is the server's active schema", {}};
}

Check check_clock(const ServerFacts& facts) {
  const auto server_time = display_member(facts.ready, "serverTime");
  auto server_ms = parse_iso8601_ms(server_time);
  if (!server_ms) return {"clock skew", Verdict::kWarn, "the server did not report its time", "upgrade the server"};
  const auto skew_ms = std::llabs(now_ms() - *server_ms);
  if (skew_ms > 5000) {
    return {"clock skew", Verdict::kFail, fmt::format("this machine and the server differ by {} ms", skew_ms),
            "sync both clocks (NTP: `timedatectl set-ntp true`); claims and tokens expire by the clock"};
  }
  return {"clock skew", Verdict::kOk, fmt::format("{} ms", skew_ms), {}};
}

std::optional<Check> check_node() {
  if (!fs::exists("package.json")) return std::nullopt;
  std::unique_ptr<FILE, int (*)(FILE*)> pipe(popen("node --version 2>/dev/null", "r"), &pclose);
  char buffer[64] = {};
  const bool read = pipe && std::fgets(buffer, sizeof buffer, pipe.get());
  if (!read)
    return Check{"node", Verdict::kWarn, "package.json present but no `node` on PATH", "install Node 18 or newer"};
  std::string version(buffer);
  while (!version.empty() && std::isspace(static_cast<unsigned char>(version.back()))) version.pop_back();
  const int major = std::atoi(version.c_str() + (version.starts_with("v") ? 1 : 0));
  if (major < 18) return Check{"node", Verdict::kWarn, version, "the @abloatai/ablo client needs Node 18 or newer"};
  return Check{"node", Verdict::kOk, version, {}};
}

}  // namespace

Result<Outcome> run_doctor(const DoctorOptions& options) {
  auto api = resolve_api_target(options.target);
  if (!api) return tl::unexpected(api.error());
  const auto facts = gather_facts(*api);
  std::vector<Check> checks{check_url_configured(options), check_reachable(*api, facts),
                            check_key_accepted(*api, facts), check_key_mode(*api), check_schema(options, facts)};
  if (facts.reachable) checks.push_back(check_clock(facts));
  if (auto node = check_node()) checks.push_back(*node);

  Outcome outcome;
  json::array listed;
  for (const auto& check : checks) {
    if (check.verdict == Verdict::kFail) outcome.exit_code = 1;
    listed.push_back(json::object{{"name", check.name},
                                  {"status", verdict_name(check.verdict)},
                                  {"detail", check.detail},
                                  {"fix", check.fix.empty() ? json::value(nullptr) : json::value(check.fix)}});
    outcome.text += fmt::format("{:<5} {}: {}\n", verdict_name(check.verdict), check.name, check.detail);
    if (!check.fix.empty()) outcome.text += "      fix: " + check.fix + "\n";
  }
  outcome.document = json::object{{"ok", outcome.exit_code == 0}, {"checks", std::move(listed)}};
  return outcome;
}

}  // namespace ablo::cli
