#include "cli/generate_command.h"

#include <filesystem>
#include <fstream>
#include <memory>
#include <string>

#include <CLI/CLI.hpp>
#include <boost/json.hpp>
#include <fmt/format.h>

#include "cli/output.h"
#include "cli/schema_file.h"
#include "schema/codegen_cpp.h"
#include "schema/schema.h"

namespace ablo::cli {

namespace {

namespace fs = std::filesystem;

struct GenerateOptions {
  std::string lang;
  std::string schema_file;
  std::string out_dir;
  std::string namespace_name = "ablo_gen";
  std::string header_name = "ablo_models.h";
};

Status check_generate_options(const GenerateOptions& options) {
  if (options.lang != "cpp") {
    return tl::unexpected(with_hint(Error("invalid_request", fmt::format("--lang {} is not supported: only cpp (a header for "
                                                                          "the native C++ client library)", options.lang)),
                                    "use --lang cpp"));
  }
  if (!schema::is_cpp_namespace(options.namespace_name)) {
    return tl::unexpected(with_hint(Error("invalid_request", fmt::format("--namespace {} is not a C++ namespace name",
                                                                          options.namespace_name)),
                                    "use identifiers joined by ::, e.g. --namespace acme::models"));
  }
  const fs::path header(options.header_name);
  if (options.header_name.empty() || header.has_parent_path() || header.filename() != header || header == "." || header == "..") {
    return tl::unexpected(with_hint(Error("invalid_request", fmt::format("--header {} is not a file name", options.header_name)),
                                    "name the file with --header and its directory with -o"));
  }
  return {};
}

// Writes `text` to `path` through a temporary file, so a build that includes the header never
// reads half of it.
Status write_atomically(const fs::path& path, const std::string& text) {
  std::error_code ec;
  fs::create_directories(path.parent_path(), ec);
  if (ec) return fail("invalid_request", fmt::format("cannot create {}: {}", path.parent_path().string(), ec.message()));
  const fs::path temporary = path.string() + ".tmp";
  {
    std::ofstream out(temporary, std::ios::binary | std::ios::trunc);
    out << text;
    if (!out.flush()) return fail("invalid_request", "cannot write " + temporary.string());
  }
  fs::rename(temporary, path, ec);
  if (ec) return fail("invalid_request", fmt::format("cannot write {}: {}", path.string(), ec.message()));
  return {};
}

Result<Outcome> run_generate(const GenerateOptions& options) {
  if (auto ok = check_generate_options(options); !ok) return tl::unexpected(ok.error());
  auto document = read_schema_file(options.schema_file);
  if (!document) return tl::unexpected(document.error());
  auto parsed = schema::Schema::parse(*document);
  if (!parsed) {
    Error error = std::move(parsed.error());
    error.message = options.schema_file + ": " + error.message;
    return tl::unexpected(std::move(error));
  }
  const auto& schema = **parsed;
  const fs::path path = fs::path(options.out_dir.empty() ? "." : options.out_dir) / options.header_name;
  if (auto written = write_atomically(path, schema::generate_cpp(schema, {.namespace_name = options.namespace_name}));
      !written) {
    return tl::unexpected(written.error());
  }
  Outcome outcome;
  outcome.document = boost::json::object{{"path", path.string()},
                                         {"namespace", options.namespace_name},
                                         {"models", schema.models().size()},
                                         {"schemaHash", schema.hash()}};
  outcome.text = fmt::format("wrote {} ({} models, namespace {}, schema hash {})", path.string(), schema.models().size(),
                             options.namespace_name, schema.hash());
  return outcome;
}

}  // namespace

void add_generate_command(CLI::App& app) {
  auto options = std::make_shared<GenerateOptions>();
  auto* command = app.add_subcommand("generate", "Generate typed models of a schema file (--lang cpp: one C++ header)");
  command->add_option("--lang", options->lang, "Target language: cpp")->required();
  command->add_option("schema", options->schema_file, "Schema JSON v3 file")->required();
  command->add_option("-o,--out", options->out_dir, "Directory to write the header to (created if missing)")->required();
  command->add_option("--namespace", options->namespace_name, "C++ namespace of the generated code")->capture_default_str();
  command->add_option("--header", options->header_name, "File name of the header")->capture_default_str();
  command->callback([options] { finish_command(report(run_generate(*options))); });
}

}  // namespace ablo::cli
