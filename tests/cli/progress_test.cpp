// The progress bar draws only on a terminal without --json, and redraws at most ~10 times a second.
#include "cli/progress.h"

#include <cstdio>
#include <memory>
#include <string>
#include <thread>

#include <gtest/gtest.h>

namespace ablo::cli {
namespace {

// Everything written to `file` so far.
std::string contents(std::FILE* file) {
  std::fflush(file);
  std::rewind(file);
  std::string text;
  char buffer[512];
  while (std::size_t n = std::fread(buffer, 1, sizeof buffer, file)) text.append(buffer, n);
  return text;
}

using File = std::unique_ptr<std::FILE, int (*)(std::FILE*)>;

TEST(ProgressTest, DrawsOnlyOnATerminalWithoutJson) {
  EXPECT_TRUE(should_draw_progress(/*stderr_is_tty=*/true, /*json_output=*/false));
  EXPECT_FALSE(should_draw_progress(false, false)) << "piped: silent";
  EXPECT_FALSE(should_draw_progress(true, true)) << "--json: silent";
}

TEST(ProgressTest, ADisabledBarWritesNothing) {
  File out(std::tmpfile(), &std::fclose);
  {
    ProgressBar bar("pull", 3, /*enabled=*/false, out.get());
    bar.update(1, "tasks");
    bar.finish();
    EXPECT_EQ(bar.redraws(), 0);
  }
  EXPECT_EQ(contents(out.get()), "");
}

TEST(ProgressTest, RedrawsInPlaceAtMostTenTimesASecond) {
  File out(std::tmpfile(), &std::fclose);
  ProgressBar bar("migrate", 4, /*enabled=*/true, out.get());
  bar.update(1, "add_field task.a");
  bar.update(2, "add_field task.b");  // within 100 ms of the first: not drawn
  EXPECT_EQ(bar.redraws(), 1);
  std::this_thread::sleep_for(std::chrono::milliseconds(120));
  bar.update(3, "add_field task.c");
  EXPECT_EQ(bar.redraws(), 2);
  bar.finish();
  const auto text = contents(out.get());
  EXPECT_EQ(text.front(), '\r');
  EXPECT_NE(text.find("migrate [#######"), std::string::npos) << text;
  EXPECT_NE(text.find("4/4"), std::string::npos) << "finish draws the full bar: " << text;
  EXPECT_EQ(text.back(), '\n');
  EXPECT_EQ(text.find('\n'), text.size() - 1) << "one line, redrawn with \\r";
}

}  // namespace
}  // namespace ablo::cli
