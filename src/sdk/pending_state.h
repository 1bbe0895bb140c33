#pragma once
// The shared slot behind a Pending<T> (client.h): settled once by the library, taken once by the
// caller (wait, wait_for, then). Internal to ablo_sdk.
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <thread>

#include "sdk/client.h"

namespace ablo::sdk_detail {

template <class T>
struct PendingState {
  // `io_thread`: the client's I/O thread, on which wait() must not block; `fallback`: where
  // then() runs a callback given no executor.
  PendingState(std::thread::id io_thread, std::shared_ptr<Executor> fallback)
      : io_thread(io_thread), fallback(std::move(fallback)) {}

  // First settle wins; later ones are ignored (a write confirmed after its caller's timeout).
  void settle(Result<T> value) {
    std::unique_lock lock(mutex);
    if (result || delivered) return;
    if (callback) {
      delivered = true;
      auto run = std::move(callback);
      auto executor = std::move(callback_executor);
      lock.unlock();
      post(executor, std::move(run), std::move(value));
      return;
    }
    result.emplace(std::move(value));
    ready.notify_all();
  }

  static void post(const std::shared_ptr<Executor>& executor, std::function<void(Result<T>)> run, Result<T> value) {
    // std::function needs a copyable task: the value travels in a shared holder.
    auto holder = std::make_shared<Result<T>>(std::move(value));
    executor->post([run = std::move(run), holder]() mutable { run(std::move(*holder)); });
  }

  std::mutex mutex;
  std::condition_variable ready;
  std::optional<Result<T>> result;  // settled, not yet taken
  bool taken = false;                // the caller took the result (or registered then())
  bool delivered = false;            // handed to the then() callback
  std::function<void(Result<T>)> callback;
  std::shared_ptr<Executor> callback_executor;
  const std::thread::id io_thread;
  const std::shared_ptr<Executor> fallback;
};

template <class T>
std::shared_ptr<PendingState<T>> make_pending_state(std::thread::id io_thread, std::shared_ptr<Executor> fallback) {
  return std::make_shared<PendingState<T>>(io_thread, std::move(fallback));
}

// A Pending that is already settled (argument errors, nothing to send).
template <class T>
Pending<T> settled_pending(Result<T> value, std::shared_ptr<Executor> fallback) {
  auto state = make_pending_state<T>(std::thread::id{}, std::move(fallback));
  state->settle(std::move(value));
  return Pending<T>(std::move(state));
}

}  // namespace ablo::sdk_detail
