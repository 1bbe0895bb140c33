#pragma once
// The raw SQLite ceilings `ablo_load commits` reports beside its own rate (issue 17 item 2):
// what SQLite alone sustains on the same disk, for plain rows and for the rows one of our
// commits writes.
#include <cstdint>
#include <optional>
#include <string>

namespace ablo::bench {

struct Ceiling {
  int batch = 0;       // rows (or commits) per transaction
  int64_t units = 0;   // rows (or commits) written
  double seconds = 0;
  double per_second() const { return seconds > 0 ? static_cast<double>(units) / seconds : 0; }
};

// Rows shaped like the server's (a text key, the tenant column, a ~100-byte JSON body) inserted
// through one prepared statement into a new WAL database in `dir` with synchronous=FULL, `batch`
// rows per transaction, for `seconds`. Same filesystem as the server's data directory, so the
// same fsync cost.
std::optional<Ceiling> row_ceiling(const std::string& dir, int batch, double seconds);

// What SQLite alone spends on the rows one single-operation commit of ours writes: per commit
// one model row, one delta, two idempotency records (receipt and operation) and one audit row,
// after a point read of the row and of both idempotency keys, `batch` commits per transaction
// (WAL; synchronous=FULL: an fsync per transaction, or NORMAL: none, SQLite's CPU alone, as our
// writer thread sees it while another thread fsyncs). The tables (with their indexes) are created from the DDL in the
// server's database `server_db`, and every row is a copy of that table's latest row there with
// its keys made unique, so sizes and indexes are the server's own. The ratio of our rate to this
// one is the server's overhead over its storage engine.
std::optional<Ceiling> commit_shaped_ceiling(const std::string& dir, const std::string& server_db, int batch,
                                             double seconds, bool synchronous_full);

}  // namespace ablo::bench
