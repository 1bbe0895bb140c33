#include "cli/db_commands.h"

#include <cstdio>
#include <memory>
#include <optional>
#include <string>

#include <CLI/CLI.hpp>
#include <boost/json.hpp>

#include "cli/output.h"
#include "cli/progress.h"
#include "cli/schema_file.h"
#include "introspect/introspect.h"
#include "pg/connection.h"
#include "schema/schema.h"

namespace ablo::cli {

namespace {

namespace json = boost::json;

// Exit codes of `ablo check` (scripts branch on them): fits, does not fit, could not tell.
constexpr int kExitOk = 0;
constexpr int kExitProblems = 1;
constexpr int kExitError = 2;

struct DatabaseOptions {
  std::string database_url;  // --database, else DATABASE_URL
  std::string pg_schema = "public";
};

struct PullOptions : DatabaseOptions {
  std::string output_file;  // stdout when empty
};

struct CheckOptions : DatabaseOptions {
  std::string schema_file;
};

// The one error line (cli/output.h), with `ablo check`'s own exit code for "could not tell".
int report_error(const Error& error) {
  print_error(error);
  return kExitError;
}

// Returning normally means success to main(); any other outcome ends parsing with the code.
void finish(int exit_code) {
  if (exit_code != kExitOk) throw CLI::RuntimeError(exit_code);
}

Result<std::unique_ptr<pg::Connection>> connect(const DatabaseOptions& options) {
  if (options.database_url.empty()) {
    return fail("invalid_request", "no database: pass --database URL or set DATABASE_URL");
  }
  return pg::Connection::open(options.database_url);
}

void add_database_options(CLI::App& command, DatabaseOptions& options) {
  command.add_option("--database", options.database_url, "PostgreSQL URL (default: $DATABASE_URL)")
      ->envname("DATABASE_URL");
  command.add_option("--pg-schema", options.pg_schema, "PostgreSQL schema holding the tables")->capture_default_str();
}

// Two-space indented JSON, for a file people read and edit (Boost.JSON here has no pretty printer).
void write_pretty(std::ostream& out, const json::value& value, int depth = 0) {
  const std::string indent(static_cast<std::size_t>(depth + 1) * 2, ' ');
  const std::string closing_indent(static_cast<std::size_t>(depth) * 2, ' ');
  if (value.is_object() && !value.as_object().empty()) {
    out << "{\n";
    bool first = true;
    for (const auto& [key, member] : value.as_object()) {
      out << (first ? "" : ",\n") << indent << json::serialize(json::string(key)) << ": ";
      write_pretty(out, member, depth + 1);
      first = false;
    }
    out << "\n" << closing_indent << "}";
  } else if (value.is_array() && !value.as_array().empty()) {
    out << "[";
    bool first = true;
    for (const auto& item : value.as_array()) {
      out << (first ? "" : ", ");
      write_pretty(out, item, depth + 1);
      first = false;
    }
    out << "]";
  } else {
    out << json::serialize(value);
  }
}

int run_pull(const PullOptions& options) {
  auto conn = connect(options);
  if (!conn) return report_error(conn.error());
  std::optional<ProgressBar> bar;  // sized once the tables are known
  auto pulled = introspect::pull_schema(**conn, options.pg_schema,
                                        [&bar](std::size_t done, std::size_t total, const std::string& table) {
                                          if (!bar) bar.emplace("pull", total);
                                          bar->update(done, table);
                                        });
  if (bar) bar->finish();
  if (!pulled) return report_error(pulled.error());
  for (const auto& warning : pulled->warnings) std::fprintf(stderr, "warning: %s\n", warning.c_str());

  std::ostringstream text;
  write_pretty(text, pulled->schema);
  text << "\n";
  if (options.output_file.empty()) {
    std::fputs(text.str().c_str(), stdout);
    return kExitOk;
  }
  std::ofstream out(options.output_file);
  out << text.str();
  out.close();
  if (!out) return report_error(Error("invalid_request", "cannot write " + options.output_file));
  std::fprintf(stderr, "wrote %zu models to %s\n", pulled->schema.at("models").as_object().size(),
               options.output_file.c_str());
  return kExitOk;
}

Result<std::shared_ptr<const schema::Schema>> load_schema(const std::string& path) {
  auto document = read_schema_file(path);
  if (!document) return tl::unexpected(document.error());
  return schema::Schema::parse(*document);
}

int run_check(const CheckOptions& options) {
  auto schema = load_schema(options.schema_file);
  if (!schema) return report_error(schema.error());
  auto conn = connect(options);
  if (!conn) return report_error(conn.error());
  auto report = introspect::check_schema(**conn, **schema, options.pg_schema);
  if (!report) return report_error(report.error());
  for (const auto& warning : report->warnings) std::fprintf(stderr, "warning: %s\n", warning.c_str());
  if (report->ok()) {
    std::printf("ok\n");
    return kExitOk;
  }
  for (const auto& problem : report->problems) std::printf("%s\n", problem.c_str());
  return kExitProblems;
}

}  // namespace

void add_db_commands(CLI::App& app) {
  // The callbacks outlive this function; the options live as long as they do.
  auto pull = std::make_shared<PullOptions>();
  auto* pull_cmd = app.add_subcommand("pull", "Write the schema JSON v3 of an existing PostgreSQL database's tables");
  add_database_options(*pull_cmd, *pull);
  pull_cmd->add_option("-o,--output", pull->output_file, "Write to this file instead of stdout");
  pull_cmd->callback([pull] { finish(run_pull(*pull)); });

  auto check = std::make_shared<CheckOptions>();
  auto* check_cmd = app.add_subcommand(
      "check", "Verify (read-only) that a PostgreSQL database has the tables and columns a schema needs");
  check_cmd->add_option("schema_file", check->schema_file, "Schema JSON v3 file")->required();
  add_database_options(*check_cmd, *check);
  check_cmd->callback([check] { finish(run_check(*check)); });
}

}  // namespace ablo::cli
