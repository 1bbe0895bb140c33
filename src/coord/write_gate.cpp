#include "coord/write_gate.h"

namespace ablo::coord {

Status ClaimWriteGate::check_write(const auth::Principal& principal, const schema::Model& model,
                                   const engine::Operation& op) {
  std::set<std::string> fields;  // empty: the operation affects the whole row
  if (op.type == engine::OpType::kUpdate) {
    for (const auto& member : op.input) fields.emplace(member.key());
  }
  const Participant writer = participant_of(principal, {});
  return coordinator_.authorize_write(writer.tenant, writer.owner, model.key, op.id, fields);
}

Status ClaimWriteGate::check_claimed(const auth::Principal& principal, const schema::Model& model,
                                     const std::string& row_id, const std::string& claim_id,
                                     std::optional<int64_t> fence_token) const {
  const Participant writer = participant_of(principal, {});
  return coordinator_.check_fence(writer.tenant, writer.owner, model.key, row_id, claim_id, fence_token);
}

}  // namespace ablo::coord
