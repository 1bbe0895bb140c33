#pragma once
// The developer commands of issue 15: `ablo init`, `whoami`, `status`, `doctor` (its checks in
// cli/doctor_command.h) and `logs` (`ablo dev` runs the server, so it lives beside `serve` in
// main.cpp). Each prints text, or one JSON document under the global --json (NDJSON for
// `logs --follow`); failures are one line (cli/output.h).
#include <functional>
#include <string>

#include "common/result.h"

namespace CLI {
class App;
}

namespace ablo::cli {

// The starter schema `ablo init` writes: one `task` model.
extern const char* const kStarterSchema;

struct DevCommandHooks {
  // Creates a sk_test_ key in the embedded store at `data_dir`, as `ablo keys create` does.
  std::function<Result<std::string>(const std::string& data_dir)> create_test_key;
};

// Registers init, whoami, status, doctor and logs on `app` (each runs from its callback).
void add_dev_commands(CLI::App& app, DevCommandHooks hooks);

}  // namespace ablo::cli
