#pragma once
// `ablo_load floor` (issue 17 item 3): the least a WebSocket server must do per delivered delta
// on this kernel, as a stand-in server in a child process that the fan-out's readers connect to.
#include <sys/types.h>

#include <cstdint>

namespace ablo::bench {

struct FloorServerOptions {
  int subscribers = 100;  // connections that receive every delta; the next one is the writer
  int frame_bytes = 300;  // payload bytes of one delta frame (ablo's frame at the same test)
  int frames_per_send = 1;  // deltas a subscriber receives per send() (2: what batching would give)
  bool header_apart = false;  // each frame's header and payload as two buffers of one sendmsg (as Beast writes)
};

struct FloorServer {
  pid_t pid = 0;
  uint16_t port = 0;
};

// Forks the floor server (call before starting any thread) and returns its pid and port once it
// listens. It accepts `subscribers` WebSockets, then the writer's; for each commit message of
// the writer it sends one delta frame carrying the commit's sentAt to every subscriber, one
// send() per socket (per `frames_per_send` commits), then acknowledges the commit. It dies with
// its parent.
FloorServer fork_floor_server(const FloorServerOptions& options);

// SIGKILL and reap.
void stop_floor_server(pid_t pid);

}  // namespace ablo::bench
