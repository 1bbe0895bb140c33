#pragma once
// Cleans up after a test process that dies without running its destructors (a ctest timeout,
// a crash): a detached shell waits for this process to end and then runs `stop_command`.
// Daemonized servers a test starts (a private PostgreSQL or Redis) would otherwise outlive it.
// After a normal end the command finds nothing left to stop and does nothing.
#include <unistd.h>

#include <cstdlib>
#include <string>

namespace ablo::testing {

inline void stop_when_this_process_dies(const std::string& stop_command) {
  const std::string pid = std::to_string(getpid());
  const std::string script = "while kill -0 " + pid + " 2>/dev/null; do sleep 1; done; " + stop_command;
  std::string quoted = "'";
  for (char c : script) quoted += c == '\'' ? std::string("'\\''") : std::string(1, c);
  quoted += "'";
  [[maybe_unused]] int ignored = std::system(("setsid sh -c " + quoted + " >/dev/null 2>&1 < /dev/null &").c_str());
}

}  // namespace ablo::testing
