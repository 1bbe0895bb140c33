// sdk-todo: a terminal multiplayer to-do list on the native client library (issue 16).
//
// Every process showing the list sees the others' changes live: the list is a live query
// (observe) printed again after every change, whoever made it. Commands on stdin:
//   add <title>   done <n>   rm <n>   list   quit
// Writes are optimistic: they show at once, also offline, and reach the server when it is
// reachable (with --store, unsent writes survive a restart).
#include <chrono>
#include <cstdio>
#include <iostream>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>

#include "sdk-common/connection_flags.h"
#include "sdk/client.h"

namespace {

// The latest result of the live query, and the printing of it (from the callback thread and
// from `list` on the main thread).
class Screen {
 public:
  void show(std::vector<ablo::Row> rows) {
    std::lock_guard lock(mutex_);
    rows_ = std::move(rows);
    print_locked();
  }
  void print() {
    std::lock_guard lock(mutex_);
    print_locked();
  }
  // The id of the n-th row shown (1-based).
  std::optional<std::string> id_at(std::size_t n) {
    std::lock_guard lock(mutex_);
    if (n == 0 || n > rows_.size()) return std::nullopt;
    return rows_[n - 1].id;
  }

 private:
  void print_locked() {
    std::printf("todos:\n");
    for (std::size_t i = 0; i < rows_.size(); ++i) {
      const auto& data = rows_[i].data;
      const bool done = data.at("status") == "done";
      std::printf("  %zu. [%c] %s\n", i + 1, done ? 'x' : ' ', std::string(data.at("title").as_string()).c_str());
    }
    std::printf("(%zu items)\n", rows_.size());
    std::fflush(stdout);
  }

  std::mutex mutex_;
  std::vector<ablo::Row> rows_;
};

// Parses "<n>" of `done <n>` / `rm <n>`.
std::optional<std::size_t> number(const std::string& text) {
  try {
    return std::stoul(text);
  } catch (const std::exception&) {
    return std::nullopt;
  }
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"A terminal multiplayer to-do list (ablo native client example)"};
  examples::ConnectionFlags flags;
  examples::add_connection_flags(app, flags);
  CLI11_PARSE(app, argc, argv);

  try {
    ablo::Client client(examples::client_options(flags));
    auto todos = client.model("todos");
    // Writes the server refuses are rolled back (the list shows it) and reported here.
    auto failures = client.on_mutation_failure([](const ablo::MutationFailure& failure) {
      std::fprintf(stderr, "refused: %s %s: %s\n", failure.model.c_str(), failure.id.c_str(), ablo::describe(failure.error).c_str());
    });

    Screen screen;
    auto live = todos.query().order_by("position").observe([&screen](const ablo::QueryUpdate& update) { screen.show(update.rows); });

    for (std::string line; std::getline(std::cin, line);) {
      const auto space = line.find(' ');
      const std::string command = line.substr(0, space);
      const std::string argument = space == std::string::npos ? "" : line.substr(space + 1);
      if (command == "quit") break;
      if (command == "list") {
        screen.print();
      } else if (command == "add" && !argument.empty()) {
        const auto now = std::chrono::system_clock::now().time_since_epoch();
        // Dropping the Pending is fine: the write goes on, a refusal reaches on_mutation_failure.
        todos.create({{"title", argument}, {"status", "todo"},
                      {"position", std::chrono::duration_cast<std::chrono::milliseconds>(now).count()}});
      } else if ((command == "done" || command == "rm") && number(argument)) {
        const auto id = screen.id_at(*number(argument));
        if (!id) {
          std::fprintf(stderr, "no item %s\n", argument.c_str());
        } else if (command == "done") {
          todos.update(*id, {{"status", "done"}});
        } else {
          todos.remove(*id);
        }
      } else if (!line.empty()) {
        std::fprintf(stderr, "commands: add <title> | done <n> | rm <n> | list | quit\n");
      }
    }
    // Give the last writes a moment to reach the server; with --store they are kept otherwise.
    auto flushed = client.wait_for_flush(std::chrono::seconds(5)).wait_result();
    if (!flushed) std::fprintf(stderr, "not sent yet: %s\n", ablo::describe(flushed.error()).c_str());
    return 0;
  } catch (const ablo::Exception& error) {
    std::fprintf(stderr, "sdk_todo: %s\n", ablo::describe(error.error()).c_str());
    return 1;
  }
}
