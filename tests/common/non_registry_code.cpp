// Compiled by two ctest cases: error_code.not_a_registry_code must FAIL to compile
// ("route_not_found" is not a code of the 0.9.1 registry, so it does not convert to
// ErrorCode), and error_code.registry_code_compiles (-DABLO_USE_REGISTRY_CODE) is its control:
// the same file with a registry code compiles, so the failure is the code's and nothing else.
#include "common/result.h"

#ifdef ABLO_USE_REGISTRY_CODE
ablo::Status refuse() { return ablo::fail("entity_not_found", "no such route"); }
#else
ablo::Status refuse() { return ablo::fail("route_not_found", "no such route"); }
#endif
