// Compiled by ctest only (-fsyntax-only): an SDK error with a code outside the registry must not
// compile; with -DABLO_USE_REGISTRY_CODE a client-surface code must.
#include "sdk/sdk_error_code.h"

ablo::Error make_sdk_error() {
#ifdef ABLO_USE_REGISTRY_CODE
  return ablo::sdk_detail::sdk_error("db_not_opened", "a client-surface code compiles");
#else
  return ablo::sdk_detail::sdk_error("db_not_open", "a misspelt code does not");
#endif
}
