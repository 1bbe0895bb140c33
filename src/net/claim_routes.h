#pragma once
// HTTP routes of the claim plane: GET/POST /v1/intents, DELETE /v1/intents/{id},
// POST/DELETE /v1/models/{model}/{id}/claim and POST …/claim/reorder (http-api.md §4.6, §5) for
// 0.9.1; for 0.49 (Ablo-Protocol-Version) the same model routes answer its shapes, plus
// /v1/claims, /v1/claims/{id}, /v1/claims/{id}/heartbeat, /v1/claims/heartbeat and
// …/claim/heartbeat (notes/dialect-049.md §3.2). A 0.49 claim is a ticket: queued, it waits
// without a socket while its owner heartbeats it, and may wait server-side (waitTimeoutMs).
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "auth/auth_service.h"
#include "coord/coordinator.h"
#include "engine/engine.h"
#include "net/http_types.h"

namespace ablo::net {

class ClaimRoutes {
 public:
  // Runs a task later on a thread that may block (the worker pool).
  using RunLater = std::function<void(std::function<void()>)>;
  using Answer = std::function<void(Result<HttpResponse>)>;
  ClaimRoutes(engine::Engine& engine, coord::Coordinator& coordinator, RunLater run_later = nullptr);

  // `parts` are the path segments after the optional "api" prefix, starting at "v1".
  // nullopt when the request is not a claim route.
  std::optional<Result<HttpResponse>> route(const HttpRequest& request, const std::vector<std::string>& parts,
                                            const auth::Principal& principal) const;

  // A 0.49 claim that waits server-side for its grant (POST …/claim or /v1/claims with
  // `waitTimeoutMs`), or a queued ticket's heartbeat that waits for it (POST
  // /v1/claims/{id}/heartbeat with `waitForGrantMs`; the ticket stays in line at the timeout):
  // its path segments (from "v1"), else nullopt. Cheap; no authentication.
  std::optional<std::vector<std::string>> waiting_claim(const HttpRequest& request) const;
  // Claims; when queued, answers through `answer` once granted (201) or at waitTimeoutMs
  // (grant_timeout, and the ticket leaves the line), from run_later — no thread waits meanwhile.
  // The answer when it is known at once.
  std::optional<Result<HttpResponse>> claim_and_wait(const HttpRequest& request, const std::vector<std::string>& parts,
                                                     const auth::Principal& principal, Answer answer) const;

 private:
  // 0.49 (claims dialect).
  std::optional<Result<HttpResponse>> route_claims(const HttpRequest& request, const std::vector<std::string>& parts,
                                                   const auth::Principal& principal,
                                                   const coord::Participant& who) const;
  // The claim request of a 0.49 acquire body (row from the path, or from body.target when
  // `model` is empty); authorized for the row.
  Result<coord::ClaimRequest> claim_request(const boost::json::object& body, const std::string& model,
                                            const std::string& id, const auth::Principal& principal) const;
  Result<HttpResponse> acquire(const HttpRequest& request, const std::vector<std::string>& parts,
                               const auth::Principal& principal, const coord::Participant& who,
                               coord::ClaimResult* result = nullptr) const;
  Result<HttpResponse> list_claims(const HttpRequest& request, const auth::Principal& principal,
                                   const coord::Participant& who) const;
  Result<HttpResponse> get_claim(const std::string& claim_id, const coord::Participant& who) const;
  Result<HttpResponse> release_claim(const HttpRequest& request, const std::string& claim_id,
                                     const auth::Principal& principal, const coord::Participant& who) const;
  Result<HttpResponse> heartbeat(const HttpRequest& request, std::string claim_id, const coord::Participant& who,
                                 const std::string& model = {}, const std::string& id = {}) const;
  std::optional<Result<HttpResponse>> heartbeat_and_wait(const HttpRequest& request, const std::string& claim_id,
                                                         const coord::Participant& who, Answer answer) const;
  Result<HttpResponse> heartbeat_all(const HttpRequest& request, const coord::Participant& who) const;
  Result<HttpResponse> release_row(const std::string& model, const std::string& id, const coord::Participant& who) const;
  Result<HttpResponse> reorder_row(const HttpRequest& request, const std::string& model, const std::string& id,
                                   const coord::Participant& who) const;

  // Only claims on rows the principal may read (and its own) are listed.
  Result<HttpResponse> list_intents(const HttpRequest& request, const auth::Principal& principal,
                                    const coord::Participant& who) const;
  // Claiming needs the write rule for the target row (Engine::authorize_claim).
  Result<HttpResponse> create_intent(const HttpRequest& request, const auth::Principal& principal,
                                     const coord::Participant& who) const;
  Result<HttpResponse> release_intent(const HttpRequest& request, const std::string& intent_id,
                                      const auth::Principal& principal, const coord::Participant& who) const;
  // `?force=true` on a release: an operator (a secret key only) ends someone else's claim
  // (coord op::Preempt). nullopt when the request does not ask for force.
  std::optional<Result<std::optional<bool>>> forced_release(const HttpRequest& request, const std::string& claim_id,
                                                            const auth::Principal& principal,
                                                            const coord::Participant& who) const;
  Result<HttpResponse> claim_model(const HttpRequest& request, const std::string& model, const std::string& id,
                                   const auth::Principal& principal, const coord::Participant& who) const;
  Result<HttpResponse> release_model(const std::string& model, const std::string& id,
                                     const coord::Participant& who) const;
  Result<HttpResponse> reorder_model(const HttpRequest& request, const std::string& model, const std::string& id,
                                     const coord::Participant& who) const;
  Result<const schema::Model*> model_of(const std::string& name) const;

  engine::Engine& engine_;
  coord::Coordinator& coordinator_;
  RunLater run_later_;
};

}  // namespace ablo::net
