#pragma once
// A fresh PostgreSQL database for one test, created on the server named by
// $ABLO_TEST_DATABASE_URL (scripts/with-postgres.sh starts one) and dropped afterwards.
#include <cstdlib>
#include <stdexcept>
#include <string>

#include "common/random.h"
#include "pg/connection.h"

namespace ablo::testing {

// The test server's URL, or "" when no PostgreSQL was provided.
inline std::string test_database_url() {
  const char* url = std::getenv("ABLO_TEST_DATABASE_URL");
  return url ? url : "";
}

// `url` with its database name replaced.
inline std::string with_database(const std::string& url, const std::string& database) {
  const auto slash = url.rfind('/');
  return url.substr(0, slash + 1) + database;
}

// CREATE DATABASE options for a database whose default collation is ICU's "en" (it sorts as a
// database created with an en_US locale would: "apple" before "Banana").
inline constexpr const char* kIcuEnglish = "TEMPLATE template0 LOCALE_PROVIDER icu ICU_LOCALE 'en' LOCALE 'C.UTF-8'";

class TempPgDatabase {
 public:
  // `options`: what follows CREATE DATABASE name (e.g. kIcuEnglish); none: the server's defaults.
  explicit TempPgDatabase(const std::string& options = "") : admin_url_(test_database_url()) {
    if (admin_url_.empty()) throw std::runtime_error("ABLO_TEST_DATABASE_URL is not set");
    name_ = "ablo_test_" + random_base62(12);
    for (auto& c : name_) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    run("CREATE DATABASE " + pg::quote_identifier(name_) + (options.empty() ? "" : " " + options));
    url_ = with_database(admin_url_, name_);
  }
  ~TempPgDatabase() {
    try {
      run("DROP DATABASE IF EXISTS " + pg::quote_identifier(name_) + " WITH (FORCE)");
    } catch (...) {
    }
  }
  TempPgDatabase(const TempPgDatabase&) = delete;
  TempPgDatabase& operator=(const TempPgDatabase&) = delete;

  const std::string& url() const { return url_; }

 private:
  void run(const std::string& sql) const {
    auto conn = pg::Connection::open(admin_url_);
    if (!conn) throw std::runtime_error(conn.error().message);
    if (auto ok = (*conn)->exec_script(sql); !ok) throw std::runtime_error(ok.error().message);
  }

  std::string admin_url_;
  std::string name_;
  std::string url_;
};

}  // namespace ablo::testing
