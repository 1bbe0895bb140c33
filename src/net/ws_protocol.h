#pragma once
// The sync WebSocket protocol of one connection (protocol.md §3), independent of the socket
// library: the transport feeds received text frames in and supplies an Outbox for frames out.
//
// Threading: on_text/on_close are called by the connection's own executor, one at a time.
// Commit results arrive on the engine's syncer thread (once durable) and claim/presence frames
// on whichever thread changed the coordination plane; both go straight to the Outbox.
//
// Dialects (net/dialect.h): one socket speaks the dialect of its client — kIntents (0.9.1) or
// kClaims (0.11–0.49) — decided by the first frame that reveals it (dialect_revealed_by:
// sync_request with or without protocolVersion, claim_* / update_subscription, intent_*).
//  * Until then the socket is undecided. Frames both dialects send (presence_update, ack,
//    ping, commit) are handled as always. The coordinator is attached at once (a revocation or
//    a sweep must know the socket), but what it sends the socket, and the answers to commits
//    made meanwhile, are held by the DialectOutbox (bounded) and rendered once the dialect is
//    known (net/dialect_outbox.h). Deltas are held by the hub until the first sync_request.
//  * Once decided, a frame of the other dialect (intent_begin on a claims socket, claim_begin
//    or update_subscription on an intents socket, a sync_request with/without protocolVersion
//    against the socket's) is refused without effect: dropped, with a warning log.
//  * A sync_request announcing a protocol version this server does not speak closes the socket
//    with 4010 `protocol_version_unsupported` before any delta or held frame is sent.
// Both dialects produce the same typed coordinator requests (coord/requests.h for intent_*,
// net/claims_codec.h for claim_*); the coordinator's frames are rendered for kClaims sockets
// at the edge (claims_codec: claims_frame_of) and commit answers are the strict 0.49 receipt.
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "auth/auth_service.h"
#include "coord/coordinator.h"
#include "engine/engine.h"
#include "fanout/hub.h"
#include "net/claims_codec.h"
#include "net/dialect.h"
#include "net/dialect_outbox.h"
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
  using Handler = void (SyncConnection::*)(const boost::json::object& payload);
  static const std::unordered_map<std::string_view, Handler>& handlers();

  void dispatch(std::string_view text);
  // False when the frame must not be handled: it reveals another dialect than the socket's
  // (refused), or an unsupported protocol version (the socket is being closed with 4010).
  bool admit(std::string_view type, const boost::json::object& payload);
  void reject_failed_commit(std::string_view text);
  // Answers a commit in the socket's dialect (held while it is undecided).
  void answer_commit(std::string client_tx_id, Result<engine::CommitReceipt> result);

  // Frames both dialects send.
  void on_ping(const boost::json::object& payload);
  void on_sync_request(const boost::json::object& payload);
  void on_ack(const boost::json::object& payload);
  void handle_commit(const boost::json::object& payload);
  void on_presence_update(const boost::json::object& payload);
  void handle_participant_claim(const boost::json::object& payload);
  // kIntents (0.9.1).
  void on_intent_begin(const boost::json::object& payload);
  void on_intent_abandon(const boost::json::object& payload);
  void on_intent_reorder(const boost::json::object& payload);
  // kClaims (0.49).
  void on_claim_begin(const boost::json::object& payload);
  void on_claim_abandon(const boost::json::object& payload);
  void on_claim_reorder(const boost::json::object& payload);
  void on_claim_heartbeat(const boost::json::object& payload);
  void on_update_subscription(const boost::json::object& payload);
  // The fate of a heartbeated claim, renewing it when held. Uses the coordinator's public
  // renew()/list(); the one place to switch to a Coordinator::heartbeat op.
  std::string heartbeat_claim(const HeartbeatRequest& request);

  // False (and the refusal sent, in the socket's dialect) when the principal may not claim
  // the request's target.
  bool authorize_claim(const coord::ClaimRequest& request, Dialect dialect);
  void send(std::string frame);

  engine::Engine& engine_;
  coord::Coordinator& coordinator_;
  uint64_t coord_session_ = 0;
  UpgradeGrant grant_;
  std::weak_ptr<fanout::Outbox> outbox_;  // the socket: replies to the client's requests
  FencedOutbox fenced_;                   // in front of the socket: the hub's and coordinator's frames
  // In front of fenced_ for the coordinator: renders its frames in the socket's dialect.
  // Shared: commit answers reach it from the commit syncer thread, possibly after this connection.
  std::shared_ptr<DialectOutbox> dialect_;
  bool refused_ = false;  // closed for an unsupported protocol version: frames are ignored
  bool warned_mixed_ = false;
  std::shared_ptr<fanout::Subscription> subscription_;
};

}  // namespace ablo::net
