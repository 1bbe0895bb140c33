// Checkpoints of the SQLite store happen off the writer thread (sqlite_store.cpp, Checkpointer):
// the checkpoint thread copies the WAL into the database while the writer goes on, and the
// writer itself checkpoints only past its limit, which keeps the WAL file bounded under a
// writer that never pauses. Small thresholds make a few megabytes of writes enough.
#include <chrono>
#include <filesystem>
#include <string>
#include <thread>

#include <boost/json.hpp>
#include <gtest/gtest.h>

#include "store/sqlite_store.h"
#include "support/temp_dir.h"

namespace ablo::store {
namespace {

constexpr int kPageBytes = 4096;

Delta big_delta(int i) {
  Delta d;
  d.tenant = "org_1/live";
  d.model_name = "Note";
  d.model_id = "note-" + std::to_string(i);
  d.data = boost::json::object{{"id", d.model_id}, {"body", std::string(6000, static_cast<char>('a' + i % 26))}};
  d.sync_groups = {"org:org_1"};
  d.participant_id = "writer";
  return d;
}

void write_deltas(Store& store, int from, int count) {
  for (int i = from; i < from + count; ++i) {
    auto written = store.write([&](WriteTransaction& txn) -> Status {
      auto id = txn.append_delta(big_delta(i));
      if (!id) return tl::unexpected(id.error());
      return {};
    });
    ASSERT_TRUE(written) << written.error().message;
  }
}

std::uintmax_t size_or_zero(const std::filesystem::path& path) {
  std::error_code ec;
  const auto size = std::filesystem::file_size(path, ec);
  return ec ? 0 : size;
}

// The writer never checkpoints here (its limit is out of reach): pages reach the database
// file only through the checkpoint thread.
TEST(SqliteCheckpoint, TheCheckpointThreadCopiesTheWalIntoTheDatabase) {
  testing::TempDir dir;
  SqliteOptions options;
  options.checkpoint_pages = 50;
  options.writer_checkpoint_pages = 1'000'000;
  auto store = open_sqlite_store(dir.path(), options);
  ASSERT_TRUE(store) << store.error().message;
  const auto database = dir.path() / "ablo.db";
  const auto before = size_or_zero(database);
  write_deltas(**store, 0, 400);  // ~2.4 MB of rows

  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  while (size_or_zero(database) < before + 1'000'000 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  EXPECT_GE(size_or_zero(database), before + 1'000'000) << "nothing was checkpointed into " << database;
  auto page = (*store)->read_log(0, 1000);
  ASSERT_TRUE(page) << page.error().message;
  EXPECT_EQ(page->size(), 400u);
}

// A writer that never pauses leaves the checkpoint thread no moment at which every frame is
// copied, so only the writer's own checkpoint past its limit lets the WAL start over. Without
// it, 3,000 rows of ~6 KB would grow the WAL to over 18 MB.
TEST(SqliteCheckpoint, TheWalStaysBoundedUnderAWriterThatNeverPauses) {
  testing::TempDir dir;
  SqliteOptions options;
  options.checkpoint_pages = 50;
  options.writer_checkpoint_pages = 300;
  {
    auto store = open_sqlite_store(dir.path(), options);
    ASSERT_TRUE(store) << store.error().message;
    write_deltas(**store, 0, 3000);
    EXPECT_LT(size_or_zero(dir.path() / "ablo.db-wal"), 2000u * kPageBytes);
  }
  auto reopened = open_sqlite_store(dir.path(), options);
  ASSERT_TRUE(reopened) << reopened.error().message;
  int64_t after = 0, read = 0;
  for (;;) {
    auto page = (*reopened)->read_log(after, 1000);
    ASSERT_TRUE(page) << page.error().message;
    if (page->empty()) break;
    for (const auto& d : *page) EXPECT_EQ(d.model_id, "note-" + std::to_string(d.id - 1));
    read += static_cast<int64_t>(page->size());
    after = page->back().id;
  }
  EXPECT_EQ(read, 3000);
}

}  // namespace
}  // namespace ablo::store
