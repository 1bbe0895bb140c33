#pragma once
// The server's version, as `project(ablo VERSION …)` in the top CMakeLists.txt says (CMake
// refuses to configure when the two differ). A header, not a compile definition, so a version
// bump recompiles only the files that report it.
namespace ablo {
inline constexpr const char* kAbloVersion = "0.1.0";
}
