#include "coord/write_gate.h"

namespace ablo::coord {

Status ClaimWriteGate::check_write(const auth::Principal& principal, const schema::Model& model,
                                   const engine::Operation& op) {
  std::set<std::string> fields;  // empty: the operation affects the whole row
  if (op.type == engine::OpType::kUpdate) {
    for (const auto& member : op.input) fields.emplace(member.key());
  }
  const Participant writer = participant_of(principal, {});
  // A write made under a claim (0.49 `claim`/`claimId` + `fenceToken`, 0.9.1 `intent`) is
  // refused when that claim is no longer the row's current grant: checked here, on the writer
  // thread, against the claim plane as it stands when the write applies.
  if (!op.claim_id.empty() || op.fence_token) {
    if (auto fenced = coordinator_.check_fence(writer.tenant, writer.owner, model.key, op.id, op.claim_id,
                                               op.fence_token);
        !fenced) {
      return fenced;
    }
  }
  return coordinator_.authorize_write(writer.tenant, writer.owner, model.key, op.id, fields);
}


}  // namespace ablo::coord
