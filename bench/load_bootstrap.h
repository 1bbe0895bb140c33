#pragma once
// `ablo_load bootstrap` (issue 17 item 5): one streamed bootstrap of many rows against the
// time to serialize those rows as JSON in-process, and the server's memory meanwhile.
#include <cstdint>
#include <string>
#include <vector>

namespace ablo::bench {

struct BootstrapLoadOptions {
  std::string server_bin;
  std::vector<std::string> server_args;
  int64_t rows = 1'000'000;
  int seed_threads = 4;  // POST /v1/commits in flight while seeding
  int repeats = 3;       // GETs (and baseline runs); the best of each is reported
};

// Starts `ablo serve` (SQLite, or PostgreSQL when $ABLO_TEST_STORE=postgres), seeds the rows and
// prints the figures; 0 when every GET returned every row.
int run_bootstrap_load(const BootstrapLoadOptions& options);

}  // namespace ablo::bench
