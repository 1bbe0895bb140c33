#pragma once
// A child process of a test (the `ablo` binary in `ablo dev`, an example program) whose stdout is
// collected while it runs and whose stdin the test may write to. The child dies with the test
// (PR_SET_PDEATHSIG) and is killed by the destructor if still running.
#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <mutex>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

namespace ablo::testing {

struct ChildOptions {
  std::filesystem::path cwd;                                 // empty: the test's own
  std::vector<std::string> unset_env;                        // removed from the child's environment
  std::vector<std::pair<std::string, std::string>> set_env;  // added or replaced
  bool pipe_stdin = false;                                   // else stdin is /dev/null
};

class ChildProcess {
 public:
  ChildProcess(std::string binary, std::vector<std::string> args, ChildOptions options = {}) {
    int out[2];
    int in[2] = {-1, -1};
    if (pipe(out) != 0) throw std::runtime_error("pipe failed");
    if (options.pipe_stdin && pipe(in) != 0) throw std::runtime_error("pipe failed");
    pid_ = fork();
    if (pid_ < 0) throw std::runtime_error("fork failed");
    if (pid_ == 0) {
      prctl(PR_SET_PDEATHSIG, SIGKILL);
      if (!options.cwd.empty() && chdir(options.cwd.c_str()) != 0) _exit(126);
      for (const auto& name : options.unset_env) unsetenv(name.c_str());
      for (const auto& [name, value] : options.set_env) setenv(name.c_str(), value.c_str(), 1);
      dup2(out[1], STDOUT_FILENO);
      close(out[0]);
      close(out[1]);
      if (options.pipe_stdin) {
        dup2(in[0], STDIN_FILENO);
        close(in[0]);
        close(in[1]);
      } else {
        const int null_fd = open("/dev/null", O_RDONLY);
        dup2(null_fd, STDIN_FILENO);
        close(null_fd);
      }
      args.insert(args.begin(), binary);
      std::vector<char*> argv;
      for (auto& arg : args) argv.push_back(arg.data());
      argv.push_back(nullptr);
      execv(binary.c_str(), argv.data());
      _exit(127);
    }
    close(out[1]);
    if (options.pipe_stdin) {
      close(in[0]);
      stdin_fd_ = in[1];
    }
    reader_ = std::thread([this, fd = out[0]] {
      char buffer[1024];
      ssize_t n;
      while ((n = read(fd, buffer, sizeof buffer)) > 0) {
        std::lock_guard lock(mutex_);
        output_.append(buffer, static_cast<std::size_t>(n));
      }
      close(fd);
    });
  }
  ~ChildProcess() {
    close_stdin();
    stop(SIGKILL);
    if (reader_.joinable()) reader_.join();
  }
  ChildProcess(const ChildProcess&) = delete;
  ChildProcess& operator=(const ChildProcess&) = delete;

  pid_t pid() const { return pid_; }

  std::string output() {
    std::lock_guard lock(mutex_);
    return output_;
  }
  // Waits (bounded) until stdout holds `text` at least `times` times.
  bool wait_for(const std::string& text, std::chrono::milliseconds timeout, int times = 1) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < deadline) {
      if (occurrences(text) >= times) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    return false;
  }
  int occurrences(const std::string& text) {
    const auto out = output();
    int count = 0;
    for (auto at = out.find(text); at != std::string::npos; at = out.find(text, at + 1)) ++count;
    return count;
  }

  // Writes to the child's stdin (ChildOptions::pipe_stdin); false when it is closed.
  bool write_stdin(std::string_view text) {
    while (!text.empty() && stdin_fd_ >= 0) {
      const ssize_t n = write(stdin_fd_, text.data(), text.size());
      if (n <= 0) return false;
      text.remove_prefix(static_cast<std::size_t>(n));
    }
    return stdin_fd_ >= 0;
  }
  void close_stdin() {
    if (stdin_fd_ >= 0) close(stdin_fd_);
    stdin_fd_ = -1;
  }

  // Waits (bounded) for the child to exit by itself; its exit status, or -1 if it was still
  // running at the deadline (then killed) or died of a signal.
  int wait_exit(std::chrono::milliseconds timeout) {
    if (pid_ <= 0) return exit_status_;
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    int status = 0;
    while (std::chrono::steady_clock::now() < deadline) {
      if (waitpid(pid_, &status, WNOHANG) == pid_) return finished(status);
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    kill(pid_, SIGKILL);
    waitpid(pid_, &status, 0);
    finished(status);
    return exit_status_ = -1;
  }

  // Sends `signal` and waits (bounded) for the exit; the exit status, -1 when killed.
  int stop(int signal) {
    if (pid_ <= 0) return exit_status_;
    kill(pid_, signal);
    int status = 0;
    for (int i = 0; i < 100 && waitpid(pid_, &status, WNOHANG) != pid_; ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    if (kill(pid_, 0) == 0 && waitpid(pid_, &status, WNOHANG) == 0) {
      kill(pid_, SIGKILL);
      waitpid(pid_, &status, 0);
    }
    return finished(status);
  }

 private:
  int finished(int status) {
    pid_ = -1;
    exit_status_ = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    // The reader ends when the child's stdout closes: join it so output() is complete.
    if (reader_.joinable()) reader_.join();
    return exit_status_;
  }

  pid_t pid_ = -1;
  int exit_status_ = -1;
  int stdin_fd_ = -1;
  std::thread reader_;
  std::mutex mutex_;
  std::string output_;
};

}  // namespace ablo::testing
