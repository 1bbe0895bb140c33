#pragma once
// What every benchmark shares: the one-model schema they run against, a microsecond clock and
// the sync_request a fresh socket sends.
#include <chrono>
#include <cstdint>
#include <string>

namespace ablo::bench {

// `items {title, n?, sentAt?}`: sentAt carries a writer's send time for latency measurements.
inline constexpr const char* kItemsSchema = R"({"v":3,"models":{"items":{"fields":{
  "title":{"type":"string","isOptional":false,"isIndexed":false},
  "n":{"type":"number","isOptional":true,"isIndexed":false},
  "sentAt":{"type":"number","isOptional":true,"isIndexed":false}},
  "relations":{},"load":"instant","typename":"items","tenancy":{"kind":"column","column":"organization_id"},
  "plane":"tenant"}},"identityRoles":[]})";

// Steady-clock microseconds, comparable across the threads of one process.
inline int64_t now_us() {
  return std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

inline std::string sync_request() {
  return R"({"type":"sync_request","payload":{"cursor":null,"versions":{},"lastSyncId":0,"capabilities":[]}})";
}

}  // namespace ablo::bench
