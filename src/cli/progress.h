#pragma once
// A progress bar for long CLI work (migrate steps, pull tables, backfills): drawn on stderr and
// redrawn in place with \r at most ~10 times a second, only when stderr is a terminal and
// output is not --json. Piped or scripted runs see nothing from it.
#include <chrono>
#include <cstddef>
#include <cstdio>
#include <string>

namespace ablo::cli {

// Whether a bar is drawn: a terminal, and not --json (which promises parseable output only).
bool should_draw_progress(bool stderr_is_tty, bool json_output);

class ProgressBar {
 public:
  // Decides from isatty(stderr) and the global --json.
  ProgressBar(std::string label, std::size_t total);
  // `enabled` and `out` injected (tests).
  ProgressBar(std::string label, std::size_t total, bool enabled, std::FILE* out);
  ~ProgressBar();  // finishes the line when it drew one
  ProgressBar(const ProgressBar&) = delete;
  ProgressBar& operator=(const ProgressBar&) = delete;

  // `done` of total finished; `item` names the one under way. Redraws when ~100 ms have passed.
  void update(std::size_t done, const std::string& item = {});
  // Draws the full bar and ends its line.
  void finish();
  bool enabled() const { return enabled_; }
  int redraws() const { return redraws_; }

 private:
  void draw(const std::string& item);

  std::string label_;
  std::size_t total_;
  std::size_t done_ = 0;
  bool enabled_;
  std::FILE* out_;
  bool finished_ = false;
  int redraws_ = 0;
  std::chrono::steady_clock::time_point last_draw_{};
};

}  // namespace ablo::cli
