#pragma once
// `ablo generate --lang cpp SCHEMA.json -o DIR [--namespace NAME] [--header NAME]`: typed models
// of a schema file for the native client library (docs/client-library.md §17); the generator
// itself is schema/codegen_cpp.h. Offline: it reads the file, never the server.
namespace CLI {
class App;
}

namespace ablo::cli {

// Registers `generate` on `app` (it runs from its callback).
void add_generate_command(CLI::App& app);

}  // namespace ablo::cli
