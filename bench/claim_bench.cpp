// Claim grant latency over real sockets on loopback.
//
// Starts `ablo serve`, connects N contenders (each its own exchanged participant, all in one
// sync group, so every claim change also fans presence and queue snapshots out to all of
// them), then measures:
//   1. begin -> intent_acquired for a free row (each contender its own row);
//   2. release -> intent_granted for the next waiter, with all N queued on one row, handing
//      the row down the whole line. Grants must follow arrival order.
#include <algorithm>
#include <condition_variable>
#include <map>
#include <mutex>
#include <chrono>
#include <cstdio>
#include <cstdlib>

#include <CLI/CLI.hpp>
#include <boost/json.hpp>

#include "integration/server_fixture.h"

namespace json = boost::json;
using Clock = std::chrono::steady_clock;

namespace {

constexpr const char* kSchema = R"({"v":3,"models":{"items":{"fields":{
  "title":{"type":"string","isOptional":false,"isIndexed":false}},
  "relations":{},"load":"instant","typename":"items","tenancy":{"kind":"column","column":"organization_id"},
  "plane":"tenant"}},"identityRoles":[]})";

// Frames are handled on each connection's own I/O thread as they arrive, so a contender's
// backlog of presence and queue frames never delays the moment its grant is seen.
struct Contender {
  std::unique_ptr<ablo::client::WsConnection> ws;
  std::mutex mutex;
  std::condition_variable arrived;
  std::map<std::string, std::pair<std::string, Clock::time_point>> answers;  // intent -> (type, when)

  void listen() {
    ws->set_frame_handler([this](std::string&& text) {
      const auto now = Clock::now();
      // Only intent_* answers matter; skip the rest without parsing them.
      if (text.find("\"intent_acquired\"") == std::string::npos && text.find("\"intent_queued\"") == std::string::npos &&
          text.find("\"intent_granted\"") == std::string::npos) {
        return;
      }
      auto frame = json::parse(text).as_object();
      std::lock_guard lock(mutex);
      answers[std::string(frame.at("payload").at("intentId").as_string())] = {std::string(frame.at("type").as_string()), now};
      arrived.notify_all();
    });
  }
};

void send(Contender& c, std::string_view type, json::object payload) {
  c.ws->send_text(json::serialize(json::object{{"type", type}, {"payload", std::move(payload)}}));
}

void begin(Contender& c, const std::string& intent, const std::string& row) {
  send(c, "intent_begin", {{"intentId", intent}, {"entityType", "items"}, {"entityId", row}, {"action", "editing"},
                           {"queue", true}});
}

// Waits until `intent` is answered with one of `types`; microseconds since `since`, or -1.
int64_t await_intent(Contender& c, std::initializer_list<std::string_view> types, const std::string& intent,
                     Clock::time_point since, std::chrono::milliseconds timeout) {
  std::unique_lock lock(c.mutex);
  const bool answered = c.arrived.wait_for(lock, timeout, [&] {
    auto it = c.answers.find(intent);
    return it != c.answers.end() && std::find(types.begin(), types.end(), it->second.first) != types.end();
  });
  if (!answered) return -1;
  return std::chrono::duration_cast<std::chrono::microseconds>(c.answers[intent].second - since).count();
}

void report(const char* what, std::vector<int64_t> us) {
  std::sort(us.begin(), us.end());
  auto at = [&](double p) { return us.empty() ? 0.0 : us[static_cast<std::size_t>(p * (us.size() - 1))] / 1000.0; };
  std::printf("%-34s n=%zu p50=%.2f ms p90=%.2f ms p99=%.2f ms max=%.2f ms\n", what, us.size(), at(0.5), at(0.9),
              at(0.99), us.empty() ? 0.0 : us.back() / 1000.0);
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"claim_bench: claim grant latency over loopback"};
  std::string server_bin = std::getenv("ABLO_BIN") ? std::getenv("ABLO_BIN") : ABLO_BIN_DEFAULT;
  int contenders = 100, rounds = 1, timeout_s = 30;
  app.add_option("--server-bin", server_bin)->capture_default_str();
  app.add_option("--contenders", contenders)->capture_default_str();
  app.add_option("--rounds", rounds, "Hand the hot row down the line this many times")->capture_default_str();
  app.add_option("--timeout", timeout_s, "Give up waiting for one frame after this many seconds")->capture_default_str();
  CLI11_PARSE(app, argc, argv);
  setenv("ABLO_BIN", server_bin.c_str(), 1);
  const auto timeout = std::chrono::milliseconds(timeout_s * 1000);

  ablo::testing::ServerProcess server(kSchema);
  std::vector<Contender> line(static_cast<std::size_t>(contenders));  // never resized: handlers point into it
  for (auto& c : line) {
    auto exchange = server.exchange();
    std::vector<std::string> groups;
    for (const auto& g : exchange.at("scope").at("syncGroups").as_array()) groups.emplace_back(g.as_string());
    c.ws = server.connect_ws(std::string(exchange.at("token").as_string()), groups);
    c.listen();
  }

  std::vector<int64_t> acquire;
  for (int i = 0; i < contenders; ++i) {
    const std::string intent = "own-" + std::to_string(i);
    const auto sent = Clock::now();
    begin(line[i], intent, "row-" + std::to_string(i));
    const int64_t us = await_intent(line[i], {"intent_acquired"}, intent, sent, timeout);
    if (us < 0) {
      std::fprintf(stderr, "contender %d: no intent_acquired for its own row\n", i);
      return 1;
    }
    acquire.push_back(us);
  }
  for (int i = 0; i < contenders; ++i) send(line[i], "intent_abandon", {{"intentId", "own-" + std::to_string(i)}});

  std::vector<int64_t> handover;
  for (int round = 0; round < rounds; ++round) {
    auto intent = [&](int i) { return "hot-" + std::to_string(round) + "-" + std::to_string(i); };
    for (int i = 0; i < contenders; ++i) {
      begin(line[i], intent(i), "hot-row");
      // The previous round's last release has no reply, so the first contender may still find
      // the row held for a moment: then it is granted instead of acquiring.
      const bool first = i == 0;
      const int64_t answered =
          first ? await_intent(line[i], {"intent_acquired", "intent_granted"}, intent(i), Clock::now(), timeout)
                : await_intent(line[i], {"intent_queued"}, intent(i), Clock::now(), timeout);
      if (answered < 0) {
        std::fprintf(stderr, "round %d contender %d: no answer to intent_begin\n", round, i);
        return 1;
      }
    }
    for (int i = 1; i < contenders; ++i) {
      const auto released = Clock::now();
      send(line[i - 1], "intent_abandon", {{"intentId", intent(i - 1)}});
      const int64_t us = await_intent(line[i], {"intent_granted"}, intent(i), released, timeout);
      if (us < 0) {
        std::fprintf(stderr, "round %d: contender %d was not granted after %d released (FIFO broken?)\n", round, i, i - 1);
        return 1;
      }
      handover.push_back(us);
    }
    send(line[contenders - 1], "intent_abandon", {{"intentId", intent(contenders - 1)}});
  }

  std::printf("contenders=%d rounds=%d (every change also fans presence + queue snapshots to all)\n", contenders, rounds);
  report("begin -> intent_acquired (free row)", acquire);
  report("release -> next intent_granted", handover);
  std::printf("grants followed arrival order: yes\n");
  for (auto& c : line) c.ws->close();
  return 0;
}
