#pragma once
// `ablo source` (issue 11): Data Source mode from the command line, over the REST API of a
// running server — add|add-database|list|status|remove.
namespace CLI {
class App;
}

namespace ablo::cli {

void add_source_commands(CLI::App& app);

}  // namespace ablo::cli
