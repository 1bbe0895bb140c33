#pragma once
// The one error type that crosses module boundaries, and the Result alias built on it.
// An Error carries a registry code (see errors/registry.h); the HTTP/WS layers turn it
// into the wire envelope. Nothing below net/ knows about HTTP.
#include <string>
#include <utility>

#include <boost/json/object.hpp>
#include <tl/expected.hpp>

#include "common/error_code.h"

namespace ablo {

struct Error {
  std::string code;       // registry code, e.g. "invalid_request", "stale_context" (set from an ErrorCode)
  std::string message;    // human-readable, names the offending field where there is one
  std::string param;      // optional field path ("input.status", "models.tasks.scope")
  boost::json::object details;  // extra top-level envelope members (e.g. failedStatement)

  Error() = default;
  Error(ErrorCode c, std::string m, std::string p = {})
      : code(c.view()), message(std::move(m)), param(std::move(p)) {}
};

template <class T>
using Result = tl::expected<T, Error>;
using Status = tl::expected<void, Error>;

inline tl::unexpected<Error> fail(ErrorCode code, std::string message, std::string param = {}) {
  return tl::unexpected<Error>(Error(code, std::move(message), std::move(param)));
}

// A database-level failure (kStoreUnavailable, kStoreConflict): nothing was applied, retry is safe.
inline bool is_store_failure(const Error& error) {
  return error.code == kStoreUnavailable.view() || error.code == kStoreConflict.view();
}

}  // namespace ablo
