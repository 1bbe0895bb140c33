#pragma once
// `ablo dev`'s schema loop: polls a schema file (mtime and size, then a content hash) and pushes
// every change to the running engine the way `ablo schema push` would. A change that needs
// --force, a rename or a backfill is not applied: the watcher prints what blocks and the exact
// command that would apply it, and the server keeps its last good schema. An unparsable file
// is reported the same way.
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <filesystem>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "engine/engine.h"
#include "schema/diff.h"

namespace ablo::cli {

// The plan as lines a person reads ("+ field task.notes (string, optional)").
std::vector<std::string> describe_plan(const schema::MigrationPlan& plan);
// What stops `plan` from applying without flags, and the command that applies it anyway.
std::vector<std::string> blocked_plan_fixes(const schema::MigrationPlan& plan, const std::string& schema_file);

class SchemaWatcher {
 public:
  SchemaWatcher(std::string schema_file, engine::Engine& engine,
                std::chrono::milliseconds period = std::chrono::milliseconds(300));
  ~SchemaWatcher();
  SchemaWatcher(const SchemaWatcher&) = delete;
  SchemaWatcher& operator=(const SchemaWatcher&) = delete;

  // The first look pushes the file as it is now; later looks push each change.
  void start();
  void stop();  // bounded: the poll thread wakes at once and is joined

 private:
  struct FileStamp {
    std::filesystem::file_time_type modified{};
    uintmax_t size = 0;
    std::size_t content_hash = 0;
    bool operator==(const FileStamp&) const = default;
  };

  void run();
  void look();
  void apply(const std::string& text);
  void say(const std::string& event, const std::string& text, boost::json::object details = {});

  const std::string schema_file_;
  engine::Engine& engine_;
  const std::chrono::milliseconds period_;
  std::optional<FileStamp> seen_;  // poll thread only
  std::mutex mutex_;
  std::condition_variable wake_;
  bool stopping_ = false;
  std::thread thread_;
};

}  // namespace ablo::cli
