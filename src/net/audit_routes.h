#pragma once
// The audit trail and commit history on the public API (issue 13; http-api.md §6.4):
//  * GET /v1/audit — a tenant's audit rows, newest first (filters actorKind, actorId,
//    action|kind, model, since, until; `cursor` = the previous page's nextCursor; limit ≤ 100);
//  * GET /v1/audit/verify — checks the chain, a bounded stretch per call (fromSeq, limit);
//  * GET /v1/audit/export — CSV, oldest first, cut at kExportRowCap rows (never refused);
//  * the spec's /api/orgs/{slug}/audit, …/audit/verify-chain, …/audit/export spellings (slug =
//    the caller's organization, else not found);
//  * GET /v1/commits, GET /v1/commits/{id} — commit history as the 0.49 client's strict
//    `commitRecordSchema` reads it, built from the commits' audit rows.
// One access rule for all of them: a secret key reads its whole tenant; a capability reads only
// the rows it authored (its own credential id); no one reads another tenant's. Verify walks
// the whole chain, so it is for secret keys only.
#include <optional>
#include <string>
#include <vector>

#include <boost/json/object.hpp>

#include "audit/audit.h"
#include "auth/auth_service.h"
#include "engine/engine.h"
#include "net/http_types.h"

namespace ablo::net {

// Appends a capability.mint / capability.revoke row for `capability` to the caller's chain
// through the commit writer (engine.record_audit). The capability is already stored: a failure
// here is logged, not answered (the token exists either way).
void record_capability_event(engine::Engine& engine, const auth::Principal& by, const char* action,
                             const store::CapabilityRecord& capability);

class AuditRoutes {
 public:
  AuditRoutes(engine::Engine& engine, auth::AuthService& auth) : engine_(engine), auth_(auth) {}

  // `parts` after the /api/v1 → /v1 normalisation. nullopt when the request is not one of these.
  std::optional<Result<HttpResponse>> route(const HttpRequest& request, const std::vector<std::string>& parts,
                                            const auth::Principal& principal) const;

  static constexpr int kMaxPageLimit = 100;
  static constexpr int kExportRowCap = 10'000;
  static constexpr int64_t kVerifyRowsPerCall = 10'000;

 private:
  Result<HttpResponse> list(const HttpRequest& request, const auth::Principal& principal) const;
  Result<HttpResponse> verify(const HttpRequest& request, const auth::Principal& principal) const;
  Result<HttpResponse> export_csv(const HttpRequest& request, const auth::Principal& principal) const;
  Result<HttpResponse> list_commits(const HttpRequest& request, const auth::Principal& principal) const;
  Result<HttpResponse> get_commit(const std::string& id, const auth::Principal& principal) const;
  boost::json::object credential_authority(const audit::AuditRow& row, const auth::Principal& principal) const;

  engine::Engine& engine_;
  auth::AuthService& auth_;
};

}  // namespace ablo::net
