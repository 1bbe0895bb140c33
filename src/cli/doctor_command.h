#pragma once
// `ablo doctor`: checks of a developer's setup, each ok, warn or fail with the line that fixes
// it — server reachable and ready, key accepted, sandbox key on a remote server, schema file
// valid and equal to the server's, ABLO_API_URL set, clock skew, Node for a JS project.
#include <string>

#include "cli/api_target.h"
#include "cli/output.h"

namespace ablo::cli {

struct DoctorOptions {
  ApiTargetOptions target;
  std::string schema_file = "schema.json";
};

// Every check, as text or a {ok, checks: [{name, status, detail, fix}]} document; exit code 1
// when one fails (0 with warnings).
Result<Outcome> run_doctor(const DoctorOptions& options);

}  // namespace ablo::cli
