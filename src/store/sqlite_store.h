#pragma once
#include <filesystem>
#include <memory>

#include "store/store.h"

namespace ablo::store {

struct SqliteOptions {
  // FULL fsyncs the WAL on every commit (durable); NORMAL may lose the last commits on power loss.
  bool synchronous_full = true;
  int reader_connections = 4;
  // WAL pages after which a commit wakes the checkpoint thread, and after which the writer
  // checkpoints itself so that the WAL can start over (sqlite_store.cpp, Checkpointer).
  int checkpoint_pages = 4000;
  int writer_checkpoint_pages = 16000;
};

// Opens (creating if needed) the embedded store at <data_dir>/ablo.db in WAL mode.
Result<std::unique_ptr<Store>> open_sqlite_store(const std::filesystem::path& data_dir, SqliteOptions options = {});

}  // namespace ablo::store
