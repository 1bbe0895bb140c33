#pragma once
// The one error type that crosses module boundaries, and the Result alias built on it.
// An Error carries a registry code (see errors/registry.h); the HTTP/WS layers turn it
// into the wire envelope. Nothing below net/ knows about HTTP.
#include <string>
#include <utility>

#include <boost/json/object.hpp>
#include <tl/expected.hpp>

namespace ablo {

struct Error {
  std::string code;       // registry code, e.g. "validation_error", "stale_context"
  std::string message;    // human-readable, names the offending field where there is one
  std::string param;      // optional field path ("input.status", "models.tasks.scope")
  boost::json::object details;  // extra top-level envelope members (e.g. failedStatement)

  Error() = default;
  Error(std::string c, std::string m, std::string p = {})
      : code(std::move(c)), message(std::move(m)), param(std::move(p)) {}
};

template <class T>
using Result = tl::expected<T, Error>;
using Status = tl::expected<void, Error>;

inline tl::unexpected<Error> fail(std::string code, std::string message, std::string param = {}) {
  return tl::unexpected<Error>(Error(std::move(code), std::move(message), std::move(param)));
}

}  // namespace ablo
