#pragma once
// `ablo mcp`: the MCP stdio transport bridged to the server's Streamable HTTP endpoint, for
// agents that only launch local MCP servers. Newline-delimited JSON-RPC on stdin is POSTed to
// <url>/mcp one message at a time (concurrently: a claim waiting in a queue does not hold up a
// read); each answer — a JSON body, or the events of an SSE response, progress notifications
// first — becomes one line on stdout, and so does every event of the session's GET stream of
// server notifications. stdout carries the protocol only; logs go to stderr.
namespace CLI {
class App;
}

namespace ablo::cli {

// Registers `mcp` on `app` (run from its callback): --url/ABLO_API_URL, --key/ABLO_API_KEY.
void add_mcp_bridge_command(CLI::App& app);

}  // namespace ablo::cli
