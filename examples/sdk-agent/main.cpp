// sdk-agent: an "agent" working through the open rows of `todos` on the native client library
// (issue 16). It takes one row at a time with a claim — so several agents never work on the same
// row — "thinks" for --think-ms, writes its result back under the claim, and releases it.
// With --until-empty it exits once no open row is left; else it waits for new ones.
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <mutex>
#include <string>
#include <thread>

#include <CLI/CLI.hpp>

#include "sdk-common/connection_flags.h"
#include "sdk/client.h"

namespace {

using namespace std::chrono_literals;

struct AgentFlags {
  std::string name = "agent";
  int think_ms = 100;
  bool until_empty = false;
  int claim_wait_ms = 0;  // 0: do not queue for a row another agent holds, take another one
};

// Wakes the main loop when the set of open rows may have changed (live query).
class Wakeup {
 public:
  void notify() {
    std::lock_guard lock(mutex_);
    changed_ = true;
    cv_.notify_one();
  }
  void wait(std::chrono::milliseconds at_most) {
    std::unique_lock lock(mutex_);
    cv_.wait_for(lock, at_most, [this] { return changed_; });
    changed_ = false;
  }

 private:
  std::mutex mutex_;
  std::condition_variable cv_;
  bool changed_ = false;
};

ablo::ClaimOptions claim_options(const AgentFlags& flags) {
  ablo::ClaimOptions options;
  options.ttl = 30s;
  options.action = "processing";
  options.description = flags.name + " works on it";
  options.wait = flags.claim_wait_ms > 0;
  if (options.wait) options.timeout = std::chrono::milliseconds(flags.claim_wait_ms);
  return options;
}

// Takes `row` if no one else holds it and it is still open; true when it was processed here.
bool process(const ablo::ModelHandle& todos, const ablo::Row& row, const AgentFlags& flags) {
  auto granted = todos.claim(row.id, claim_options(flags)).wait_result();
  if (!granted) return false;  // held by another agent (entity_claimed / grant_timeout), or gone
  ablo::Claim claim = std::move(*granted);
  // The row as of the grant: another agent may have finished it since this one listed it.
  const auto& fresh = claim.row().data;
  if (fresh.at("status") != "todo") return false;

  std::this_thread::sleep_for(std::chrono::milliseconds(flags.think_ms));
  const auto* runs = fresh.if_contains("runs");
  const int64_t previous_runs = runs && runs->is_number() ? runs->to_number<int64_t>() : 0;
  const std::string title(fresh.at("title").as_string());
  // Under the claim: readAt = the grant, so a write over someone else's change is refused.
  auto written = claim.update({{"status", "done"},
                               {"result", flags.name + " processed \"" + title + "\""},
                               {"handledBy", flags.name},
                               {"runs", previous_runs + 1}})
                     .wait_result();
  if (!written) {
    std::fprintf(stderr, "%s: %s not written: %s\n", flags.name.c_str(), row.id.c_str(), ablo::describe(written.error()).c_str());
    return false;
  }
  std::printf("done %s\n", row.id.c_str());
  std::fflush(stdout);
  return true;  // the claim is released as it leaves scope
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"An agent processing open todos one at a time under a claim (ablo native client example)"};
  examples::ConnectionFlags connection;
  AgentFlags flags;
  examples::add_connection_flags(app, connection);
  app.add_option("--name", flags.name, "this agent's name (written to handledBy)");
  app.add_option("--think-ms", flags.think_ms, "how long to \"think\" about each row");
  app.add_flag("--until-empty", flags.until_empty, "exit when no open row is left");
  app.add_option("--claim-wait-ms", flags.claim_wait_ms, "queue this long for a row another agent holds (0: skip it)");
  CLI11_PARSE(app, argc, argv);

  try {
    auto options = examples::client_options(connection);
    options.participant_kind = ablo::ParticipantKind::kAgent;
    ablo::Client client(std::move(options));
    client.ready().wait();
    auto todos = client.model("todos");
    auto open_rows = todos.where("status", ablo::Op::kEq, "todo").order_by("position");

    Wakeup wakeup;
    auto live = open_rows.observe([&wakeup](const ablo::QueryUpdate&) { wakeup.notify(); });
    for (;;) {
      auto rows = open_rows.list();
      if (!rows) throw ablo::Exception(rows.error());
      if (rows->empty() && flags.until_empty) break;
      bool progressed = false;
      for (const auto& row : *rows) progressed = process(todos, row, flags) || progressed;
      if (progressed) continue;
      // Everything open is held by other agents (or nothing is open): wait for a change.
      wakeup.wait(rows->empty() ? 5s : 200ms);
    }
    client.wait_for_flush(10s).wait();
    std::fprintf(stderr, "%s: nothing left to do\n", flags.name.c_str());
    return 0;
  } catch (const ablo::Exception& error) {
    std::fprintf(stderr, "sdk_agent: %s\n", ablo::describe(error.error()).c_str());
    return 1;
  }
}
