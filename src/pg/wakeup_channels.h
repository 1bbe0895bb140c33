#pragma once
// The wake-up channels nodes of a cluster announce on. Payload-free: a wake-up only says
// "look at the table" (the delta log, the active schema, the coordinator's op log), so a lost
// or duplicated one delays or repeats a read, never changes what is read. They travel as
// PostgreSQL NOTIFY (the default) or Redis PUBLISH (`ablo serve --redis`), same names.
#include <functional>
#include <string_view>

namespace ablo::pg {

inline constexpr std::string_view kDeltasChannel = "ablo_deltas";
inline constexpr std::string_view kSchemaChannel = "ablo_schema";
inline constexpr std::string_view kClaimsChannel = "ablo_claims";

// Sends a wake-up on a channel after the change it announces has committed. Must not block
// for long and must not fail the caller: the safety poll covers a lost wake-up.
using Announce = std::function<void(std::string_view channel)>;

}  // namespace ablo::pg
