// Claim grant latency over real WebSockets on loopback.
//
// Starts `ablo serve`, connects N contenders (each its own exchanged participant, all in the
// same sync group, so every claim change also fans presence and queue snapshots out to all of
// them), then measures:
//   1. uncontended acquire: intent_begin -> intent_acquired, each contender on its own row;
//   2. handover: all N queue on one row in a known order, then the holder releases and we time
//      intent_abandon -> intent_granted at the next waiter, down the whole line. Grants must
//      follow arrival (FIFO) order; anything else, or a missing grant, exits non-zero.
#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <deque>
#include <functional>
#include <iterator>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>
#include <boost/json.hpp>

#include "bench_support.h"
#include "integration/server_fixture.h"

namespace json = boost::json;
using ablo::bench::now_us;
using ablo::bench::sync_request;
using Clock = std::chrono::steady_clock;

namespace {

constexpr const char* kHotRow = "hot-row";

// The frames the main thread waits for; every other type is only counted.
const std::set<std::string, std::less<>> kAwaited = {"intent_acquired", "intent_queued", "intent_granted",
                                                     "intent_lost",     "intent_rejected", "pong",
                                                     "sync_response"};

// The server writes `{"type":"...",` first. Reading the type from that prefix spares each I/O
// thread a full parse of the presence and queue fan-out (a queue snapshot lists all N waiters
// and reaches all N sockets on every change), which would otherwise compete with the server
// for the CPU during the measurement. Anything else falls back to a real parse.
std::string frame_type(const std::string& text) {
  constexpr std::string_view prefix = R"({"type":")";
  if (text.starts_with(prefix)) {
    const auto end = text.find('"', prefix.size());
    if (end != std::string::npos) return text.substr(prefix.size(), end - prefix.size());
  }
  boost::system::error_code ec;
  auto parsed = json::parse(text, ec);
  if (ec || !parsed.is_object()) return "(unparsable)";
  const auto* type = parsed.as_object().if_contains("type");
  return type && type->is_string() ? std::string(type->as_string()) : "(untyped)";
}

struct Event {
  int contender = -1;
  std::string type;
  std::string intent;     // payload.intentId, when there is one
  int64_t position = -1;  // payload.position of intent_queued
  int64_t at_us = 0;      // when the frame reached the contender's I/O thread
};

Event parse_event(int contender, const std::string& type, const std::string& text, int64_t at_us) {
  Event event{contender, type, {}, -1, at_us};
  const auto frame = json::parse(text).as_object();
  const auto* payload = frame.if_contains("payload");
  if (!payload || !payload->is_object()) return event;
  if (const auto* id = payload->as_object().if_contains("intentId"); id && id->is_string()) {
    event.intent = id->as_string();
  }
  if (const auto* pos = payload->as_object().if_contains("position"); pos && pos->is_number()) {
    event.position = pos->to_number<int64_t>();
  }
  return event;
}

// Hands awaited frames from every connection's I/O thread to the main thread, in arrival order.
// Keeps every event ever seen so a failure can show what did arrive.
class Inbox {
 public:
  void push(Event event) {
    {
      std::lock_guard lock(mutex_);
      history_.push_back(event);
      pending_.push_back(std::move(event));
    }
    arrived_.notify_all();
  }

  // Removes and returns the earliest pending event `wanted` accepts; nullopt on timeout.
  std::optional<Event> take(const std::function<bool(const Event&)>& wanted, std::chrono::milliseconds timeout) {
    std::unique_lock lock(mutex_);
    std::optional<Event> found;
    arrived_.wait_for(lock, timeout, [&] {
      auto it = std::find_if(pending_.begin(), pending_.end(), wanted);
      if (it == pending_.end()) return false;
      found = std::move(*it);
      pending_.erase(it);
      return true;
    });
    return found;
  }

  std::vector<Event> pending_matching(const std::function<bool(const Event&)>& wanted) {
    std::lock_guard lock(mutex_);
    std::vector<Event> out;
    std::copy_if(pending_.begin(), pending_.end(), std::back_inserter(out), wanted);
    return out;
  }

  std::vector<Event> history_of(int contender) {
    std::lock_guard lock(mutex_);
    std::vector<Event> out;
    std::copy_if(history_.begin(), history_.end(), std::back_inserter(out),
                 [&](const Event& e) { return e.contender == contender; });
    return out;
  }

 private:
  std::mutex mutex_;
  std::condition_variable arrived_;
  std::deque<Event> pending_;
  std::vector<Event> history_;
};

struct Contender {
  int index = 0;
  std::unique_ptr<ablo::client::WsConnection> ws;
  // Written on the I/O thread, read only for failure reports.
  std::mutex seen_mutex;
  std::map<std::string, int64_t> frames_by_type;
  std::string last_queue_snapshot;

  // Stop the I/O thread before the members its frame handler writes are destroyed.
  ~Contender() { ws.reset(); }

  void note(const std::string& type, std::string& text) {
    std::lock_guard lock(seen_mutex);
    ++frames_by_type[type];
    if (type == "intent_queue" && text.find(kHotRow) != std::string::npos) last_queue_snapshot = std::move(text);
  }
};

void listen(Contender& c, Inbox& inbox) {
  c.ws->set_frame_handler([&c, &inbox](std::string&& text) {
    const int64_t at = now_us();
    const std::string type = frame_type(text);
    if (kAwaited.contains(type)) inbox.push(parse_event(c.index, type, text, at));
    c.note(type, text);
  });
}

void send(Contender& c, std::string_view type, json::object payload) {
  c.ws->send_text(json::serialize(json::object{{"type", type}, {"payload", std::move(payload)}}));
}

void send_begin(Contender& c, const std::string& intent, const std::string& row) {
  send(c, "intent_begin",
       {{"intentId", intent}, {"entityType", "items"}, {"entityId", row}, {"action", "editing"}, {"queue", true}});
}

void send_abandon(Contender& c, const std::string& intent) { send(c, "intent_abandon", {{"intentId", intent}}); }

std::vector<std::unique_ptr<Contender>> connect_contenders(const ablo::testing::ServerProcess& server, int count,
                                                           Inbox& inbox) {
  std::vector<std::unique_ptr<Contender>> line;
  for (int i = 0; i < count; ++i) {
    auto exchange = server.exchange();  // one participant per contender
    std::vector<std::string> groups;
    for (const auto& g : exchange.at("scope").at("syncGroups").as_array()) groups.emplace_back(g.as_string());
    auto c = std::make_unique<Contender>();
    c->index = i;
    c->ws = server.connect_ws(std::string(exchange.at("token").as_string()), groups);
    listen(*c, inbox);
    c->ws->send_text(sync_request());
    line.push_back(std::move(c));
  }
  return line;
}

bool await_type(Inbox& inbox, int contender, std::string_view type, std::chrono::milliseconds timeout) {
  return inbox.take([&](const Event& e) { return e.contender == contender && e.type == type; }, timeout).has_value();
}

// The server handles one socket's frames in order, so a pong proves that everything the
// contender sent before the ping (e.g. an intent_abandon, which has no reply) was processed.
bool await_processed(Inbox& inbox, Contender& c, std::chrono::milliseconds timeout) {
  c.ws->send_text(R"({"type":"ping"})");
  return await_type(inbox, c.index, "pong", timeout);
}

// The server's direct answer to intent_begin for `intent` (acquired, queued, rejected or lost).
std::optional<Event> await_answer(Inbox& inbox, int contender, const std::string& intent,
                                  std::chrono::milliseconds timeout) {
  return inbox.take(
      [&](const Event& e) {
        return e.contender == contender && e.intent == intent && e.type != "intent_granted" && e.type != "pong";
      },
      timeout);
}

void print_silence(Contender& c, Inbox& inbox, int64_t since_us) {
  std::fprintf(stderr, "  contender %d: socket %s (close code %d)\n", c.index, c.ws->closed() ? "closed" : "open",
               c.ws->close_code());
  std::fprintf(stderr, "  its intent/pong frames (ms relative to the wait start):\n");
  for (const auto& e : inbox.history_of(c.index)) {
    if (e.type == "sync_response") continue;
    std::fprintf(stderr, "    %+9.2f %s intentId=%s%s\n", static_cast<double>(e.at_us - since_us) / 1000.0,
                 e.type.c_str(), e.intent.c_str(),
                 e.position >= 0 ? (" position=" + std::to_string(e.position)).c_str() : "");
  }
  std::lock_guard lock(c.seen_mutex);
  std::fprintf(stderr, "  all frames it received, by type:");
  for (const auto& [type, n] : c.frames_by_type) std::fprintf(stderr, " %s=%lld", type.c_str(), static_cast<long long>(n));
  std::fprintf(stderr, "\n  its last intent_queue snapshot for %s: %s\n", kHotRow,
               c.last_queue_snapshot.empty() ? "(none)" : c.last_queue_snapshot.substr(0, 4000).c_str());
}

// 1. Each contender, one at a time, claims its own free row.
bool measure_acquire(std::vector<std::unique_ptr<Contender>>& line, Inbox& inbox, std::chrono::milliseconds timeout,
                     std::vector<int64_t>& latencies_us) {
  for (auto& c : line) {
    const std::string intent = "own-" + std::to_string(c->index);
    const int64_t sent = now_us();
    send_begin(*c, intent, "row-" + std::to_string(c->index));
    auto answer = await_answer(inbox, c->index, intent, timeout);
    if (!answer || answer->type != "intent_acquired") {
      std::fprintf(stderr, "contender %d: expected intent_acquired for %s on its own row, got %s\n", c->index,
                   intent.c_str(), answer ? answer->type.c_str() : "nothing before the timeout");
      print_silence(*c, inbox, sent);
      return false;
    }
    latencies_us.push_back(answer->at_us - sent);
  }
  for (auto& c : line) send_abandon(*c, "own-" + std::to_string(c->index));
  for (auto& c : line) {
    if (!await_processed(inbox, *c, timeout)) {
      std::fprintf(stderr, "contender %d: no pong after releasing its own row\n", c->index);
      return false;
    }
  }
  return true;
}

// Fresh intent ids every round, so a late frame from an earlier round can never pass for this one.
std::string hot_prefix(int round) { return "hot-" + std::to_string(round) + "-"; }

std::string hot_intent(int round, int contender) { return hot_prefix(round) + std::to_string(contender); }

// All contenders join the hot row's line in index order, each answered before the next asks, so
// the FIFO order is 0, 1, ..., N-1: 0 acquires, i > 0 queues at position i - 1.
bool enqueue_line(std::vector<std::unique_ptr<Contender>>& line, Inbox& inbox, int round,
                  std::chrono::milliseconds timeout) {
  for (auto& c : line) {
    const int i = c->index;
    const int64_t sent = now_us();
    send_begin(*c, hot_intent(round, i), kHotRow);
    auto answer = await_answer(inbox, i, hot_intent(round, i), timeout);
    const std::string expected = i == 0 ? "intent_acquired" : "intent_queued";
    if (!answer || answer->type != expected || (i > 0 && answer->position != i - 1)) {
      std::fprintf(stderr, "round %d contender %d: expected %s%s for %s, got %s position=%lld\n", round, i,
                   expected.c_str(), i > 0 ? (" position=" + std::to_string(i - 1)).c_str() : "",
                   hot_intent(round, i).c_str(), answer ? answer->type.c_str() : "nothing before the timeout",
                   static_cast<long long>(answer ? answer->position : -1));
      print_silence(*c, inbox, sent);
      return false;
    }
  }
  return true;
}

bool is_hot_grant(const Event& e, int round) {
  return (e.type == "intent_granted" || e.type == "intent_lost") && e.intent.starts_with(hot_prefix(round));
}

struct ChainResult {
  bool complete = false;
  std::vector<int> grant_order;  // contender indices, holder first
};

// 2. The holder releases; time until the next grant; the grantee releases in turn.
ChainResult run_chain(std::vector<std::unique_ptr<Contender>>& line, Inbox& inbox, int round,
                      std::chrono::milliseconds timeout, std::vector<int64_t>& latencies_us) {
  ChainResult result;
  int holder = 0;
  result.grant_order.push_back(holder);
  for (std::size_t step = 1; step < line.size(); ++step) {
    const int64_t released = now_us();
    send_abandon(*line[holder], hot_intent(round, holder));
    auto grant = inbox.take([&](const Event& e) { return is_hot_grant(e, round); }, timeout);
    if (!grant || grant->type != "intent_granted" || grant->at_us < released) {
      const int expected = static_cast<int>(step);
      std::fprintf(stderr, "round %d step %zu: after contender %d released %s, expected intent_granted for %s at contender %d; got %s\n",
                   round, step, holder, hot_intent(round, holder).c_str(), hot_intent(round, expected).c_str(),
                   expected, grant ? (grant->type + " " + grant->intent + " at contender " +
                                      std::to_string(grant->contender) +
                                      (grant->at_us < released ? " (before the release was sent)" : ""))
                                         .c_str()
                                   : "nothing before the timeout");
      print_silence(*line[static_cast<std::size_t>(expected)], inbox, released);
      return result;
    }
    latencies_us.push_back(grant->at_us - released);
    holder = grant->contender;
    result.grant_order.push_back(holder);
  }
  send_abandon(*line[holder], hot_intent(round, holder));
  result.complete = await_processed(inbox, *line[holder], timeout);
  if (!result.complete) std::fprintf(stderr, "round %d: no pong after the last holder %d released\n", round, holder);
  return result;
}

bool in_arrival_order(const std::vector<int>& order) {
  for (std::size_t i = 0; i < order.size(); ++i) {
    if (order[i] != static_cast<int>(i)) return false;
  }
  return true;
}

void print_order(int round, const std::vector<int>& order) {
  std::printf("round %d grant order:", round);
  for (int i : order) std::printf(" %d", i);
  std::printf("\n");
}

double percentile_ms(const std::vector<int64_t>& sorted, double p) {
  if (sorted.empty()) return 0;
  const auto index = static_cast<std::size_t>(p * static_cast<double>(sorted.size() - 1));
  return static_cast<double>(sorted[index]) / 1000.0;
}

void print_distribution(const char* what, std::vector<int64_t> us) {
  std::sort(us.begin(), us.end());
  std::printf("%s: n=%zu p50=%.2f p90=%.2f p99=%.2f max=%.2f ms\n", what, us.size(), percentile_ms(us, 0.50),
              percentile_ms(us, 0.90), percentile_ms(us, 0.99), us.empty() ? 0.0 : us.back() / 1000.0);
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"claim_bench: claim acquire and handover latency over loopback"};
  std::string server_bin = std::getenv("ABLO_BIN") ? std::getenv("ABLO_BIN") : ABLO_BIN_DEFAULT;
  int contenders = 100, rounds = 1, timeout_s = 60;
  app.add_option("--server-bin", server_bin)->capture_default_str();
  app.add_option("--contenders", contenders)->capture_default_str()->check(CLI::Range(2, 100000));
  app.add_option("--rounds", rounds, "Hand the hot row down the whole line this many times")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  app.add_option("--timeout", timeout_s, "Fail when an awaited frame has not arrived after this many seconds")
      ->capture_default_str();
  CLI11_PARSE(app, argc, argv);
  setenv("ABLO_BIN", server_bin.c_str(), 1);
  const auto timeout = std::chrono::milliseconds(int64_t{timeout_s} * 1000);

  ablo::testing::ServerProcess server(ablo::bench::kItemsSchema);
  Inbox inbox;
  auto line = connect_contenders(server, contenders, inbox);
  for (auto& c : line) {
    if (!await_type(inbox, c->index, "sync_response", timeout)) {
      std::fprintf(stderr, "contender %d: no sync_response\n", c->index);
      return 1;
    }
  }

  std::vector<int64_t> acquire_us;
  if (!measure_acquire(line, inbox, timeout, acquire_us)) return 1;

  std::vector<int64_t> handover_us;
  bool fifo = true;
  std::printf("contenders=%d rounds=%d\n", contenders, rounds);
  for (int round = 0; round < rounds; ++round) {
    if (!enqueue_line(line, inbox, round, timeout)) return 1;
    const auto chain = run_chain(line, inbox, round, timeout, handover_us);
    if (!in_arrival_order(chain.grant_order)) {
      fifo = false;
      print_order(round, chain.grant_order);
    }
    if (!chain.complete) return 1;
    const auto extra = inbox.pending_matching([&](const Event& e) { return is_hot_grant(e, round); });
    for (const auto& e : extra) {
      std::fprintf(stderr, "round %d: unexpected extra %s %s at contender %d\n", round, e.type.c_str(),
                   e.intent.c_str(), e.contender);
    }
    if (!extra.empty()) return 1;
  }

  print_distribution("uncontended acquire (intent_begin -> intent_acquired)", acquire_us);
  print_distribution("handover (intent_abandon -> next intent_granted)", handover_us);
  std::printf("grants in FIFO arrival order: %s\n", fifo ? "yes" : "NO");
  for (auto& c : line) c->ws->close();
  return fifo ? 0 : 1;
}
