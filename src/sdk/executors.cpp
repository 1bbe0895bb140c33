// The executors of client.h: inline, one dedicated thread, and a queue the application drains.
#include <condition_variable>
#include <deque>
#include <mutex>
#include <thread>

#include <spdlog/spdlog.h>

#include "sdk/client.h"

namespace ablo {

namespace executors_impl {

// A callback that throws must not take the library's threads down with it.
void run_guarded(const std::function<void()>& task) {
  try {
    task();
  } catch (const std::exception& e) {
    spdlog::error("ablo client: a callback threw: {}", e.what());
  } catch (...) {
    spdlog::error("ablo client: a callback threw a non-exception");
  }
}

class InlineExecutor final : public Executor {
 public:
  void post(std::function<void()> task) override { run_guarded(task); }
};

// One worker draining a FIFO. Destruction runs what is queued, then joins — unless the last
// reference is dropped on the worker itself (a callback owning its client), which detaches.
class ThreadExecutor final : public Executor {
 public:
  explicit ThreadExecutor(std::string name) : name_(std::move(name)), worker_([this] { run(); }) {}
  ~ThreadExecutor() override {
    {
      std::lock_guard lock(mutex_);
      stopping_ = true;
    }
    wake_.notify_all();
    if (std::this_thread::get_id() == worker_.get_id()) {
      worker_.detach();
    } else {
      worker_.join();
    }
  }
  void post(std::function<void()> task) override {
    {
      std::lock_guard lock(mutex_);
      tasks_.push_back(std::move(task));
    }
    wake_.notify_one();
  }

 private:
  void run() {
    std::unique_lock lock(mutex_);
    while (true) {
      wake_.wait(lock, [&] { return stopping_ || !tasks_.empty(); });
      if (tasks_.empty()) return;
      auto task = std::move(tasks_.front());
      tasks_.pop_front();
      lock.unlock();
      run_guarded(task);
      task = nullptr;  // its captures die outside the lock
      lock.lock();
    }
  }

  std::string name_;
  std::mutex mutex_;
  std::condition_variable wake_;
  std::deque<std::function<void()>> tasks_;  // guarded by mutex_
  bool stopping_ = false;                    // guarded by mutex_
  std::thread worker_;                       // last: started once the rest exists
};

}  // namespace executors_impl

std::shared_ptr<Executor> inline_executor() {
  static const auto executor = std::make_shared<executors_impl::InlineExecutor>();
  return executor;
}

std::shared_ptr<Executor> make_thread_executor(std::string thread_name) {
  return std::make_shared<executors_impl::ThreadExecutor>(std::move(thread_name));
}

struct ManualExecutor::Impl {
  std::mutex mutex;
  std::condition_variable posted;
  std::deque<std::function<void()>> tasks;
};

ManualExecutor::ManualExecutor() : impl_(std::make_unique<Impl>()) {}
ManualExecutor::~ManualExecutor() = default;

void ManualExecutor::post(std::function<void()> task) {
  {
    std::lock_guard lock(impl_->mutex);
    impl_->tasks.push_back(std::move(task));
  }
  impl_->posted.notify_all();
}

std::size_t ManualExecutor::run_pending(std::size_t max_tasks) {
  std::size_t ran = 0;
  while (ran < max_tasks) {
    std::function<void()> task;
    {
      std::lock_guard lock(impl_->mutex);
      if (impl_->tasks.empty()) break;
      task = std::move(impl_->tasks.front());
      impl_->tasks.pop_front();
    }
    executors_impl::run_guarded(task);
    ++ran;
  }
  return ran;
}

std::size_t ManualExecutor::run_pending_for(std::chrono::milliseconds timeout, std::size_t max_tasks) {
  {
    std::unique_lock lock(impl_->mutex);
    impl_->posted.wait_for(lock, timeout, [&] { return !impl_->tasks.empty(); });
  }
  return run_pending(max_tasks);
}

}  // namespace ablo
