#include "cli/progress.h"

#include <algorithm>

#include <unistd.h>

#include "cli/output.h"

namespace ablo::cli {

namespace {
constexpr auto kMinRedrawInterval = std::chrono::milliseconds(100);
constexpr std::size_t kBarWidth = 30;
}  // namespace

bool should_draw_progress(bool stderr_is_tty, bool json) { return stderr_is_tty && !json; }

ProgressBar::ProgressBar(std::string label, std::size_t total)
    : ProgressBar(std::move(label), total, should_draw_progress(isatty(STDERR_FILENO) == 1, json_output()), stderr) {}

ProgressBar::ProgressBar(std::string label, std::size_t total, bool enabled, std::FILE* out)
    : label_(std::move(label)), total_(total), enabled_(enabled), out_(out) {}

ProgressBar::~ProgressBar() {
  if (redraws_ > 0 && !finished_) std::fputc('\n', out_);
}

void ProgressBar::update(std::size_t done, const std::string& item) {
  done_ = std::min(done, total_);
  if (!enabled_) return;
  const auto now = std::chrono::steady_clock::now();
  if (redraws_ > 0 && now - last_draw_ < kMinRedrawInterval) return;
  last_draw_ = now;
  draw(item);
}

void ProgressBar::finish() {
  done_ = total_;
  if (!enabled_ || finished_) return;
  draw({});
  std::fputc('\n', out_);
  finished_ = true;
}

void ProgressBar::draw(const std::string& item) {
  const std::size_t filled = total_ == 0 ? kBarWidth : done_ * kBarWidth / total_;
  const std::string bar = std::string(filled, '#') + std::string(kBarWidth - filled, '.');
  // \r and clear-to-end-of-line: a shorter item leaves no remains of a longer one.
  std::fprintf(out_, "\r\033[K%s [%s] %zu/%zu %s", label_.c_str(), bar.c_str(), done_, total_, item.c_str());
  std::fflush(out_);
  ++redraws_;
}

}  // namespace ablo::cli
