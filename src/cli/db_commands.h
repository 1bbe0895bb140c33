#pragma once
// `ablo pull` and `ablo check`: read-only commands against a customer's PostgreSQL
// (introspect/introspect.h). Kept apart from main.cpp so the database tooling grows here.
namespace CLI {
class App;
}

namespace ablo::cli {

// Registers `pull` and `check` on `app`. Each runs from its subcommand callback and ends a
// failed run with CLI::RuntimeError(exit code), which CLI11_PARSE turns into main's return.
void add_db_commands(CLI::App& app);

}  // namespace ablo::cli
