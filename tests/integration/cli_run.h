#pragma once
// Runs the real `ablo` binary as a command in a directory, capturing stdout, stderr and its exit
// status: what the CLI tests share (cli_dev_test, cli_generate_test).
#include <sys/wait.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include "integration/server_fixture.h"

namespace ablo::testing {

struct CommandRun {
  int exit_code = -1;
  std::string out;  // stdout
  std::string err;  // stderr
};

inline std::string read_text(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

// Runs `ablo <args>` in `cwd` with no ABLO_API_* from the test's own environment.
inline CommandRun run_ablo_in(const std::filesystem::path& cwd, const std::string& args) {
  const auto err_file = cwd / ".stderr-of-ablo";
  const std::string command = "cd '" + cwd.string() + "' && env -u ABLO_API_KEY -u ABLO_API_URL " + server_binary() +
                              " " + args + " 2>'" + err_file.string() + "'";
  CommandRun run;
  FILE* pipe = popen(command.c_str(), "r");
  if (!pipe) return run;
  char buffer[4096];
  while (std::size_t n = fread(buffer, 1, sizeof buffer, pipe)) run.out.append(buffer, n);
  const int status = pclose(pipe);
  run.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  run.err = read_text(err_file);
  std::filesystem::remove(err_file);
  return run;
}

}  // namespace ablo::testing
