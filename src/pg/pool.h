#pragma once
// A small pool of PostgreSQL connections to one database, for calls that each need a
// connection for a moment (reads, single-statement writes).
//
// Broken connections are dropped instead of returned, so the pool heals after a database
// restart. A pooled connection that turns out to have died while idle (the restart raced the
// health check) is replaced, and an `idempotent` call runs once more on the fresh one.
//
// Threading: `with` may be called from any thread; each call has its connection to itself.
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "pg/connection.h"

namespace ablo::pg {

class Pool {
 public:
  Pool(std::string url, std::size_t max_idle) : url_(std::move(url)), max_idle_(max_idle) {}

  const std::string& url() const { return url_; }

  // Adds an open connection to the idle ones.
  void give(std::unique_ptr<Connection> conn) {
    std::lock_guard lock(mutex_);
    if (idle_.size() < max_idle_) idle_.push_back(std::move(conn));
  }

  template <class Fn>
  auto with(Fn&& fn, bool idempotent = true) -> decltype(fn(std::declval<Connection&>())) {
    std::unique_ptr<Connection> conn = take();
    const bool pooled = conn && conn->healthy();
    if (!pooled) {
      auto opened = Connection::open(url_);
      if (!opened) return tl::unexpected(opened.error());
      conn = std::move(*opened);
    }
    auto result = fn(*conn);
    if (!result && idempotent && pooled && is_unavailable(result.error())) {
      auto opened = Connection::open(url_);
      if (!opened) return tl::unexpected(opened.error());
      conn = std::move(*opened);
      result = fn(*conn);
    }
    if (conn->healthy()) give(std::move(conn));
    return result;
  }

 private:
  std::unique_ptr<Connection> take() {
    std::lock_guard lock(mutex_);
    if (idle_.empty()) return nullptr;
    auto conn = std::move(idle_.back());
    idle_.pop_back();
    return conn;
  }

  std::string url_;
  std::size_t max_idle_;
  std::mutex mutex_;  // guards idle_
  std::vector<std::unique_ptr<Connection>> idle_;
};

// Runs a setup script (CREATE TABLE IF NOT EXISTS …) in one transaction under an advisory lock,
// so processes starting together do not race to create the same objects.
inline Status run_setup(Connection& conn, int64_t lock_key, std::string_view script) {
  if (auto ok = conn.exec_script("BEGIN"); !ok) return ok;
  if (auto ok = conn.exec("SELECT pg_advisory_xact_lock($1)", {std::to_string(lock_key)}); !ok) {
    (void)conn.exec_script("ROLLBACK");
    return tl::unexpected(ok.error());
  }
  if (auto ok = conn.exec_script(script); !ok) {
    (void)conn.exec_script("ROLLBACK");
    return ok;
  }
  return conn.exec_script("COMMIT");
}

}  // namespace ablo::pg
