#pragma once
// kSanitizedBuild: true in the sanitizer passes (the code under test is built the same way).
// There, RSS says little about a process's own memory (ASan holds freed blocks in a quarantine of
// up to 256 MB and both sanitizers add shadow memory), so memory ceilings are asserted in the plain
// pass only; and code runs 3–15× slower, so the largest single-threaded workloads run smaller.
// g++ defines __SANITIZE_*__; clang-14 (the sanitizer passes' compiler) only answers __has_feature.

#if defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
#define ABLO_TEST_SANITIZED_BUILD 1
#endif
#endif

namespace ablo::testing {
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__) || defined(ABLO_TEST_SANITIZED_BUILD)
inline constexpr bool kSanitizedBuild = true;
#else
inline constexpr bool kSanitizedBuild = false;
#endif
}  // namespace ablo::testing
