#include "source/adapter.h"

#include <thread>

namespace ablo::source {

std::string_view to_string(Mode mode) {
  switch (mode) {
    case Mode::kHosted: return "hosted";
    case Mode::kSelfHosted: return "selfHosted";
    case Mode::kSource: return "source";
  }
  return "hosted";
}

boost::json::object Scope::to_json() const {
  boost::json::object scope;
  if (!participant_id.empty()) scope["participantId"] = participant_id;
  if (!participant_kind.empty()) scope["participantKind"] = participant_kind;
  if (!organization_id.empty()) scope["organizationId"] = organization_id;
  if (!required_sync_groups.empty()) {
    boost::json::array groups;
    for (const auto& group : required_sync_groups) groups.emplace_back(group);
    scope["requiredSyncGroups"] = std::move(groups);
  }
  scope["mode"] = test_mode ? "test" : "live";
  return scope;
}

void DataAdapter::wait_for_events(std::chrono::milliseconds timeout, const std::atomic<bool>& stop) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!stop.load() && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::min<std::chrono::steady_clock::duration>(
        std::chrono::milliseconds(100), deadline - std::chrono::steady_clock::now()));
  }
}

}  // namespace ablo::source
