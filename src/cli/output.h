#pragma once
// How every `ablo` command reports: text for people or, with the global --json, one JSON
// document for scripts; and failures as ONE stderr line `ablo: <code>: <message> (hint: <hint>)`.
#include <string>
#include <string_view>

#include <boost/json/object.hpp>

#include <boost/json/value.hpp>

#include "client/transport.h"
#include "common/result.h"

namespace ablo::cli {

// Set once from the parsed command line (the global --json flag).
void set_json_output(bool enabled);
bool json_output();

// What to do about `error`: the hint the command attached (details.hint), else one per code.
std::string hint_for(const Error& error);
// `error` with `hint` attached (hint_for returns it).
Error with_hint(Error error, std::string hint);
// Prints the one error line on stderr (line breaks in the message become spaces); returns 1.
int print_error(const Error& error);
std::string one_line(const std::string& text);

// The error of a non-2xx answer: the code and message of the server's error envelope, or the
// HTTP status when the body is not an envelope.
Error error_of_response(const client::HttpResponse& response);

// A member as text to show: a string as it is, another value as its JSON (ids may be numbers),
// empty when absent or null. (common/json_member.h's string_member reads strings only.)
std::string display_member(const boost::json::object& object, std::string_view name);

// What a command found: printed as `text`, or as `document` under --json.
struct Outcome {
  boost::json::value document;
  std::string text;
  int exit_code = 0;
};

// Prints `outcome` (or the error line) and returns the exit code.
int report(const Result<Outcome>& outcome);

// Ends a subcommand callback: a non-zero code leaves CLI11_PARSE with that code.
void finish_command(int exit_code);

}  // namespace ablo::cli
