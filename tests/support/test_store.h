#pragma once
// The store a parameterized test runs against: "sqlite" (a temporary directory) or "postgres"
// (a fresh database on $ABLO_TEST_DATABASE_URL).
#include <memory>
#include <string>
#include <vector>

#include "store/pg_store.h"
#include "store/sqlite_store.h"
#include "support/pg_database.h"
#include "support/temp_dir.h"

namespace ablo::testing {

// Every store available here: SQLite always, PostgreSQL when a test server was provided
// (scripts/test.sh always provides one).
inline std::vector<std::string> test_stores() {
  std::vector<std::string> kinds{"sqlite"};
  if (!test_database_url().empty()) kinds.push_back("postgres");
  return kinds;
}

struct TestStore {
  explicit TestStore(const std::string& kind) {
    if (kind == "postgres") {
      database = std::make_unique<TempPgDatabase>();
      store = *store::open_pg_store(database->url());
    } else {
      store = *store::open_sqlite_store(dir.path());
    }
  }
  TempDir dir;
  std::unique_ptr<TempPgDatabase> database;
  std::unique_ptr<store::Store> store;
};

}  // namespace ablo::testing
