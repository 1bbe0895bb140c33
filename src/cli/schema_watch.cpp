#include "cli/schema_watch.h"

#include <cstdio>
#include <functional>
#include <map>

#include <boost/json.hpp>
#include <fmt/format.h>

#include "cli/output.h"
#include "cli/schema_file.h"

namespace ablo::cli {

namespace json = boost::json;

namespace {

std::string_view cast_name(schema::Cast cast) {
  switch (cast) {
    case schema::Cast::kSafe:
      return "safe";
    case schema::Cast::kRisky:
      return "risky";
    case schema::Cast::kLossy:
      return "lossy";
  }
  return "?";
}

std::string describe_alter(const schema::MigrationStep& step) {
  std::string what;
  const auto add = [&what](const std::string& part) { what += (what.empty() ? "" : ", ") + part; };
  if (step.type_changed) add(fmt::format("type changed ({} cast)", cast_name(step.cast)));
  if (step.made_required) add("made required");
  if (step.made_optional) add("made optional");
  if (!step.enum_values_removed.empty())
    add("enum values removed: " + fmt::format("{}", fmt::join(step.enum_values_removed, ",")));
  if (what.empty()) what = "changed";
  return what;
}

std::string describe_step(const schema::MigrationStep& step) {
  const std::string field = step.model + "." + step.field;
  switch (step.kind) {
    case schema::StepKind::kCreateModel:
      return "+ model " + step.model;
    case schema::StepKind::kDropModel:
      return "- model " + step.model;
    case schema::StepKind::kRenameModel:
      return "~ model " + step.from + " -> " + step.to;
    case schema::StepKind::kAddField:
      return "+ field " + field + (step.backfill ? " (backfill " + json::serialize(*step.backfill) + ")" : "");
    case schema::StepKind::kDropField:
      return "- field " + field;
    case schema::StepKind::kRenameField:
      return "~ field " + step.model + "." + step.from + " -> " + step.to;
    case schema::StepKind::kAlterField:
      return "~ field " + field + ": " + describe_alter(step);
  }
  return "? " + field;
}

}  // namespace

std::vector<std::string> describe_plan(const schema::MigrationPlan& plan) {
  std::vector<std::string> lines;
  for (const auto& step : plan.steps) lines.push_back(describe_step(step));
  return lines;
}

std::vector<std::string> blocked_plan_fixes(const schema::MigrationPlan& plan, const std::string& schema_file) {
  std::vector<std::string> lines;
  const std::string push = "ablo schema push " + schema_file;
  for (const auto& blocker : plan.blockers) {
    lines.push_back(fmt::format("blocked: {}", blocker.message));
    lines.push_back(fmt::format("  run: {} --backfill {}.{}=<value>", push, blocker.model, blocker.field));
  }
  // A field dropped where another is added may be a rename: say how to keep its data.
  std::map<std::string, std::vector<std::string>> added_by_model;
  for (const auto& step : plan.steps) {
    if (step.kind == schema::StepKind::kAddField) added_by_model[step.model].push_back(step.field);
  }
  for (const auto& warning : plan.warnings) {
    lines.push_back(fmt::format("needs --force: {}", warning.message));
    if (warning.code == "drop_field") {
      for (const auto& added : added_by_model[warning.model]) {
        lines.push_back(fmt::format("  if {0}.{1} was renamed to {0}.{2}: run: {3} --rename {0}.{1}:{0}.{2}",
                                    warning.model, warning.field, added, push));
      }
    }
  }
  if (!plan.warnings.empty()) lines.push_back("  to accept the loss: run: " + push + " --force");
  if (!plan.warnings.empty() && !plan.blockers.empty()) {  // one push has to carry both
    std::string both = push + " --force";
    for (const auto& blocker : plan.blockers)
      both += fmt::format(" --backfill {}.{}=<value>", blocker.model, blocker.field);
    lines.push_back("  both at once: run: " + both);
  }
  return lines;
}

SchemaWatcher::SchemaWatcher(std::string schema_file, engine::Engine& engine, std::chrono::milliseconds period)
    : schema_file_(std::move(schema_file)), engine_(engine), period_(period) {}

SchemaWatcher::~SchemaWatcher() { stop(); }

void SchemaWatcher::start() {
  thread_ = std::thread([this] { run(); });
}

void SchemaWatcher::stop() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void SchemaWatcher::run() {
  std::unique_lock lock(mutex_);
  while (!stopping_) {
    lock.unlock();
    try {
      look();
    } catch (const std::exception& e) {  // a bug: reported, and the server keeps running
      say("schema_failed", std::string("internal error while reading the schema file: ") + e.what());
    }
    lock.lock();
    wake_.wait_for(lock, period_, [this] { return stopping_; });
  }
}

void SchemaWatcher::look() {
  std::error_code time_error, size_error;
  FileStamp stamp{std::filesystem::last_write_time(schema_file_, time_error),
                  std::filesystem::file_size(schema_file_, size_error)};
  if (const auto ec = time_error ? time_error : size_error) {
    if (!seen_ || seen_->size != 0 || seen_->content_hash != 0)
      say("schema_missing", schema_file_ + ": " + ec.message());
    seen_ = FileStamp{};
    return;
  }
  if (seen_ && seen_->modified == stamp.modified && seen_->size == stamp.size) return;
  auto text = read_file(schema_file_);
  if (!text) return;  // gone between the two looks: the next look reports it
  stamp.content_hash = std::hash<std::string>{}(*text);
  const bool content_changed = !seen_ || seen_->content_hash != stamp.content_hash;
  seen_ = stamp;
  if (content_changed) apply(*text);
}

void SchemaWatcher::apply(const std::string& text) {
  const auto active = engine_.schema();
  const auto keep = fmt::format("still serving the last good schema ({})", active ? active->hash() : "none");
  boost::system::error_code ec;
  auto document = json::parse(text, ec);
  if (ec) return say("schema_invalid", fmt::format("{} is not valid JSON: {}; {}", schema_file_, ec.message(), keep));
  if (document.is_object() && document.as_object().contains("schema")) document = document.as_object().at("schema");
  auto next = schema::Schema::parse(document);
  if (!next) return say("schema_invalid", fmt::format("{}: {}; {}", schema_file_, next.error().message, keep));
  const auto plan = schema::diff_schema(active.get(), **next, {});
  if (plan.steps.empty()) return say("schema_unchanged", schema_file_ + ": no schema change");
  auto lines = describe_plan(plan);
  if (!plan.applicable(false)) {
    for (auto& fix : blocked_plan_fixes(plan, schema_file_)) lines.push_back(std::move(fix));
    return say("schema_blocked", fmt::format("{}: not applied; {}\n  {}", schema_file_, keep, fmt::join(lines, "\n  ")),
               {{"plan", plan.to_json()}});
  }
  auto pushed = engine_.push_schema(document);
  if (!pushed) {
    return say("schema_failed",
               fmt::format("{}: {}: {}; {}", schema_file_, pushed.error().code, pushed.error().message, keep));
  }
  say("schema_applied",
      fmt::format("{}: applied as version {}\n  {}", schema_file_, pushed->version, fmt::join(lines, "\n  ")),
      {{"version", pushed->version}, {"plan", plan.to_json()}});
}

// One event: a readable paragraph, or one NDJSON line under --json.
void SchemaWatcher::say(const std::string& event, const std::string& text, json::object details) {
  if (json_output()) {
    details["event"] = event;
    details["message"] = text;
    std::printf("%s\n", json::serialize(details).c_str());
  } else {
    std::printf("ablo dev: %s\n", text.c_str());
  }
  std::fflush(stdout);
}

}  // namespace ablo::cli
