#pragma once
// The engine's write guard backed by the claim plane (http-api.md §5.7): an operation on a
// row actively claimed by another owner fails with entity_claimed. A claim on a field blocks
// only updates that touch that field; creates, deletes, archives and entity-level claims
// block the whole row. The holder's own writes pass (and are still stale-checked). A write
// that names the claim it is made under (claim id, fence token) is refused with claim_lost or
// fence_token_stale once that claim is no longer the row's current grant.
#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "coord/coordinator.h"
#include "engine/engine.h"

namespace ablo::coord {

class ClaimWriteGate : public engine::WriteGate {
 public:
  explicit ClaimWriteGate(Coordinator& coordinator) : coordinator_(coordinator) {}
  // In a cluster: applies the claim ops other nodes appended since this replica last looked.
  Status before_group() override { return coordinator_.catch_up(); }
  Status check_write(const auth::Principal& principal, const schema::Model& model,
                     const engine::Operation& op) override;

 private:
  Coordinator& coordinator_;
};

}  // namespace ablo::coord
