#pragma once
// The sync WebSocket protocol of one connection (protocol.md §3), independent of the socket
// library: the transport feeds received text frames in and supplies an Outbox for frames out.
//
// Threading: on_text/on_close are called by the connection's own executor, one at a time.
// Commit results arrive on the engine's writer thread and claim/presence frames on whichever
// thread changed the coordination plane; both go straight to the Outbox.
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "auth/auth_service.h"
#include "coord/coordinator.h"
#include "engine/engine.h"
#include "fanout/hub.h"
#include "net/fenced_outbox.h"

namespace ablo::net {

inline constexpr std::string_view kSyncSubprotocol = "ablo.sync.v1";
inline constexpr std::string_view kBearerSubprotocolPrefix = "ablo.bearer.";

struct UpgradeGrant {
  auth::Principal principal;
  std::vector<std::string> groups;  // requested ∩ allowed
  bool offered_sync_subprotocol = false;
};

// Authenticates a /api/sync/ws upgrade: the token from the `ablo.bearer.` subprotocol entry
// (or a legacy `authorization=Bearer …` query parameter / Authorization header), then narrows
// the requested syncGroups to the allowed ones.
Result<UpgradeGrant> authorize_upgrade(const auth::AuthService& auth, const std::string& subprotocols,
                                       const std::string& target, const std::string& authorization);

class SyncConnection {
 public:
  // `socket` outlives this connection; `schedule` runs a task later (FencedOutbox rechecks).
  SyncConnection(engine::Engine& engine, coord::Coordinator& coordinator, UpgradeGrant grant,
                 std::weak_ptr<fanout::Outbox> socket, FencedOutbox::Schedule schedule);
  ~SyncConnection();
  SyncConnection(const SyncConnection&) = delete;
  SyncConnection& operator=(const SyncConnection&) = delete;

  void on_text(std::string_view text);
  void on_close();

 private:
  void dispatch(std::string_view text);
  void reject_failed_commit(std::string_view text);
  void handle_commit(const boost::json::object& payload);
  void handle_participant_claim(const boost::json::object& payload);
  // False (and the refusal sent) when the principal may not claim the intent_begin's target.
  bool authorize_intent(const boost::json::object& payload);
  void send(std::string frame);

  engine::Engine& engine_;
  coord::Coordinator& coordinator_;
  uint64_t coord_session_ = 0;
  UpgradeGrant grant_;
  std::weak_ptr<fanout::Outbox> outbox_;  // the socket: replies to the client's requests
  FencedOutbox fenced_;                   // in front of the socket: the hub's and coordinator's frames
  std::shared_ptr<fanout::Subscription> subscription_;
};

}  // namespace ablo::net
