#pragma once
// Names the calling thread as `top -H`, `perf --per-thread` and /proc/<pid>/task/<tid>/comm show
// it, so a profile or a benchmark can say which of the server's threads is busy. Linux keeps at
// most 15 characters.
#include <pthread.h>

#include <string>
#include <string_view>
#include <thread>
#include <utility>

namespace ablo {

inline void name_this_thread(std::string_view name) {
  const std::string kept(name.substr(0, 15));
  pthread_setname_np(pthread_self(), kept.c_str());
}

// A thread that names itself, then runs `body`.
template <class Body>
std::thread named_thread(std::string name, Body&& body) {
  return std::thread([name = std::move(name), body = std::forward<Body>(body)]() mutable {
    name_this_thread(name);
    body();
  });
}

}  // namespace ablo
