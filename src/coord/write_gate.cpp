#include "coord/write_gate.h"

namespace ablo::coord {

Status ClaimWriteGate::check_write(const auth::Principal& principal, const schema::Model& model,
                                   const engine::Operation& op) {
  // Most writes meet no claim at all, and this runs for every operation on the writer thread:
  // such a write passes with nothing built (a claim taken after this check is one taken after
  // the write, as it would be a moment later under the full check).
  if (op.claim_id.empty() && !op.fence_token && coordinator_.holds_no_claims()) return {};
  std::set<std::string> fields;  // empty: the operation affects the whole row
  if (op.type == engine::OpType::kUpdate) {
    for (const auto& member : op.input) fields.emplace(member.key());
  }
  const std::string tenant = principal.tenant.key();
  const Owner writer{principal.participant_id, principal.credential_id()};
  // A write made under a claim (0.49 `claim`/`claimId` + `fenceToken`, 0.9.1 `intent`) is
  // refused when that claim is no longer the row's current grant: checked here, on the writer
  // thread, against the claim plane as it stands when the write applies.
  if (!op.claim_id.empty() || op.fence_token) {
    if (auto fenced = coordinator_.check_fence(tenant, writer, model.key, op.id, op.claim_id,
                                               op.fence_token);
        !fenced) {
      return fenced;
    }
  }
  return coordinator_.authorize_write(tenant, writer, model.key, op.id, fields);
}


}  // namespace ablo::coord
