#pragma once
// `--log-format json` (issue 15): one JSON object per log line on stderr — time (UTC, ms),
// level, thread, msg, and request_id when the message is about one request (the router starts
// such messages with the request's id).
namespace ablo::cli {

// Switches the default logger to JSON lines.
void use_json_logs();

}  // namespace ablo::cli
