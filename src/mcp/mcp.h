#pragma once
// The Model Context Protocol server built into `ablo` (issue 14): AI agents read, claim, write
// and wait on shared rows through MCP tools and resources. Transport: Streamable HTTP at /mcp
// on the server's own port (protocol revisions 2025-06-18 and 2025-03-26); `ablo mcp` bridges
// stdio to it.
//
// Every tool call is a call of the public REST API (the Backend) made with the session's own
// credential: MCP adds no read or write path of its own, so the authorization rule, the stale
// guard, claims and their bounds are the REST API's, by construction.
//
// A session is one participant: at `initialize` it exchanges the presented key for a
// capability of its own (participant `mcp_<client>_<random>`), so two agents sharing one key
// still queue behind each other for a claim, and people see each session in presence.
//
// Threading: one thread of its own (an actor) owns every session and all MCP state; handle()
// and log_advanced() only post to it. REST calls run wherever the Backend runs them (the
// server's worker pool) and their answers are posted back, so the actor never blocks and no
// socket thread ever waits for MCP work.
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace ablo::mcp {

using Headers = std::vector<std::pair<std::string, std::string>>;

// One REST call and its answer (the Backend is the server's router, in process).
struct RestCall {
  std::string method;  // GET | POST | PATCH | DELETE
  std::string target;  // path + query, e.g. "/v1/models/task/t1"
  std::string body;    // JSON text or empty
  std::string bearer;  // the credential the call is made with
  std::string idempotency_key;  // sent as Idempotency-Key when not empty
};
struct RestAnswer {
  int status = 0;
  std::string body;
};

class Backend {
 public:
  virtual ~Backend() = default;
  // Runs the call in the current REST dialect (as a client sending Ablo-Protocol-Version: 1:
  // reads carry stamps and claims, claims are tickets) and answers through `done` (any thread,
  // exactly once unless the server stops first; never throws).
  virtual void call(RestCall call, std::function<void(RestAnswer)> done) = 0;
  // A cheap fingerprint of the active schema: the tool list is regenerated when it changes.
  virtual std::string schema_fingerprint() const = 0;
};

// A server-sent-event response in progress (text/event-stream). Thread-safe.
class EventStream {
 public:
  virtual ~EventStream() = default;
  // Queues one event whose data is one JSON-RPC message. False when the stream has ended or
  // its queue is full (the stream is then ended: a client that does not read costs only itself).
  virtual bool send(std::string data) = 0;
  // Ends the response.
  virtual void finish() = 0;
};

// Where the answer to one /mcp request goes. Thread-safe; exactly one of the two is called once.
class Responder {
 public:
  virtual ~Responder() = default;
  virtual void respond(int status, Headers headers, std::string body) = 0;
  // Starts a 200 text/event-stream response. `gone` is called once (on any thread) if the
  // client goes away before finish().
  virtual std::shared_ptr<EventStream> open_stream(Headers headers, std::function<void()> gone) = 0;
};

// One HTTP request to /mcp.
struct HttpExchange {
  std::string method;            // POST | GET | DELETE
  std::string body;
  std::string authorization;     // the Authorization header
  std::string session_id;        // Mcp-Session-Id
  std::string protocol_version;  // MCP-Protocol-Version
  std::string accept;
  std::string origin;  // Origin, when a browser sent the request
  std::string host;    // Host
};

struct Options {
  std::size_t max_sessions = 1'000;
  std::size_t max_sessions_per_credential = 256;
  int64_t session_idle_ms = 15 * 60'000;  // no request and no open GET stream for this long: ended
  std::size_t max_calls_per_session = 32;  // requests in progress at once, beyond: an error
  std::size_t max_subscriptions_per_session = 256;
  std::size_t max_stream_events = 1'024;  // events queued on one SSE response
  int64_t max_wait_seconds = 600;          // claim_model waitSeconds, wait_for_change timeoutSeconds
  int64_t session_token_ttl_seconds = 24 * 3'600;  // the session capability; re-exchanged 5 min before expiry
  int64_t tick_ms = 250;    // housekeeping: claim renewals (a 1 s lease is renewed in time), idle sessions
  int64_t poll_ms = 1'000;  // safety net: schema changes, change waits whose wake-up was missed
};

class Service {
 public:
  Service(Backend& backend, Options options = {});
  ~Service();
  Service(const Service&) = delete;
  Service& operator=(const Service&) = delete;

  void start();
  // Ends every session (streams finished, waits answered) and joins the thread.
  void stop();
  // One request to /mcp. Any thread; never blocks, never throws.
  void handle(HttpExchange exchange, std::shared_ptr<Responder> responder);
  // The delta log advanced (the fan-out hub published): wakes waits and subscriptions. Any
  // thread, any rate: coalesced.
  void log_advanced();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace ablo::mcp
