#pragma once
// How the client library builds an ablo::Error (internal; design §1, §13).
//
// ablo::ErrorCode (common/error_code.h) accepts only the wire registry: the server must never
// send a client-surface code. The library raises client-surface codes too (db_not_opened,
// model_disposed, invalid_options, …), so it has its own checked code type: a literal converts
// to SdkCode only at compile time and only when it is a wire code or a client-surface code of
// the 0.9.1 registry (sdk/client_codes.inc), so every code the SDK can raise is a registry code
// (T66) by construction. sdk_error() then sets Error::code directly, as client/transport.cpp
// does for its local failures.
#include <string>
#include <string_view>
#include <utility>

#include "common/result.h"

namespace ablo::sdk_detail {

namespace sdk_code_tables {

#define ABLO_ERROR(code, category, status, retry, message) std::string_view(code),
#define ABLO_CLIENT_ERROR(code, category, retry, message) std::string_view(code),
inline constexpr std::string_view kKnownCodes[] = {
#include "errors/registry_table.inc"
#include "errors/registry_2026_08_04.inc"
#include "sdk/client_codes.inc"
};
#undef ABLO_CLIENT_ERROR
#undef ABLO_ERROR

constexpr std::string_view known_code(std::string_view code) {
  for (std::string_view known : kKnownCodes) {
    if (known == code) return known;
  }
  return {};
}

// Not constexpr: reaching it from the consteval constructor is the compile error.
inline void sdk_code_not_in_the_registry() {}

}  // namespace sdk_code_tables

class SdkCode {
 public:
  // NOLINTNEXTLINE(google-explicit-constructor): literals convert implicitly, checked at compile time.
  consteval SdkCode(const char* code) : code_(sdk_code_tables::known_code(code)) {
    if (code_.empty()) sdk_code_tables::sdk_code_not_in_the_registry();
  }
  constexpr std::string_view view() const { return code_; }

 private:
  std::string_view code_;
};

inline Error sdk_error(SdkCode code, std::string message, std::string param = {}) {
  Error error;
  error.code = std::string(code.view());
  error.message = std::move(message);
  error.param = std::move(param);
  return error;
}

inline tl::unexpected<Error> sdk_fail(SdkCode code, std::string message, std::string param = {}) {
  return tl::unexpected<Error>(sdk_error(code, std::move(message), std::move(param)));
}

}  // namespace ablo::sdk_detail
