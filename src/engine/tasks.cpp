#include "engine/tasks.h"

#include <algorithm>
#include <array>

#include <boost/json.hpp>
#include <fmt/format.h>

#include "auth/keys.h"
#include "common/json_member.h"
#include "common/json_number.h"
#include "common/random.h"
#include "common/time.h"

namespace ablo::engine {

namespace json = boost::json;

namespace {

constexpr std::size_t kMaxPromptChars = 256'000;
constexpr std::array<std::string_view, 8> kSurfaces = {"chat_deck", "chat_spreadsheet", "chat_document", "chat_unified",
                                                       "mcp",       "agent_worker",     "eval",          "other"};

Result<int64_t> cost_of(const json::object& body, std::string_view key) {
  const auto* v = body.if_contains(key);
  if (!v || v->is_null()) return 0;
  if (!v->is_number() || number_as_double(*v).value_or(-1) < 0) {
    return fail("invalid_body", fmt::format("{} must be an integer >= 0", key), std::string(key));
  }
  return clamped_int64(*v, 0, std::numeric_limits<int64_t>::max()).value_or(0);
}

std::string participant_of(const store::TaskRecord& task) { return string_member(task.data, "participantId"); }

}  // namespace

Result<json::object> TaskService::open(const auth::Principal& principal, const json::object& body) const {
  if (principal.participant_kind == "user") return fail("forbidden", "a user session cannot open a task");
  const std::string prompt = string_member(body, "prompt");
  if (prompt.empty()) return fail("invalid_body", "prompt is required", "prompt");
  if (prompt.size() > kMaxPromptChars) return fail("invalid_body", "prompt is longer than 256000 characters", "prompt");
  const std::string parent = string_member(body, "parentTaskId");
  if (!parent.empty()) {
    auto found = store_.find_task(principal.tenant.key(), parent);
    if (!found) return tl::unexpected(found.error());
    if (!*found) return fail("parent_turn_not_found", fmt::format("no task '{}'", parent), "parentTaskId");
    if (participant_of(**found) != principal.participant_id) {
      return fail("parent_turn_foreign_agent", "the parent task belongs to another agent", "parentTaskId");
    }
  }
  std::string surface = string_member(body, "surface");
  if (std::find(kSurfaces.begin(), kSurfaces.end(), surface) == kSurfaces.end()) surface = "other";
  store::TaskRecord task{principal.tenant.key(), random_id("task"), principal.capability_id, true, {}};
  task.data = {{"object", "task"},
               {"id", task.id},
               {"taskId", task.id},
               {"turnId", task.id},
               {"status", "open"},
               {"promptHash", "sha256:" + auth::sha256_hex(prompt)},
               {"openedAt", iso8601_from_ms(now_ms())},
               {"parentTaskId", parent.empty() ? json::value(nullptr) : json::value(parent)},
               {"surface", surface},
               {"participantId", principal.participant_id},
               {"capabilityId", principal.capability_id.empty() ? json::value(nullptr) : json::value(principal.capability_id)},
               {"metadata", body.contains("metadata") ? body.at("metadata") : json::value(nullptr)}};
  if (auto ok = store_.put_task(task); !ok) return tl::unexpected(ok.error());
  return task.data;
}

Result<json::object> TaskService::close(const auth::Principal& principal, const std::string& id,
                                        const json::object& body) const {
  auto found = store_.find_task(principal.tenant.key(), id);
  if (!found) return tl::unexpected(found.error());
  if (!*found) return fail("turn_not_found", fmt::format("no task '{}'", id), "id");
  auto task = std::move(**found);
  if (participant_of(task) != principal.participant_id && !principal.secret_key) {
    return fail("turn_foreign_agent", "the task belongs to another agent");
  }
  if (!task.open) {
    return json::object{{"id", id}, {"closed", true}, {"alreadyClosed", true}, {"endedAt", task.data["endedAt"]}};
  }
  int64_t costs[3];
  const std::array<std::string_view, 3> names = {"costInputTokens", "costOutputTokens", "costComputeMs"};
  for (std::size_t i = 0; i < names.size(); ++i) {
    auto cost = cost_of(body, names[i]);
    if (!cost) return tl::unexpected(cost.error());
    costs[i] = *cost;
    task.data[names[i]] = *cost;
  }
  const int64_t ended = now_ms();
  task.open = false;
  task.data["status"] = "closed";
  task.data["endedAt"] = iso8601_from_ms(ended);
  if (auto ok = store_.put_task(task); !ok) return tl::unexpected(ok.error());
  // "All metering for the task aggregates against the caller's org + API key."
  const std::string day = iso8601_from_ms(ended).substr(0, 10);
  auto metered = store_.write([&](store::WriteTransaction& txn) -> Status {
    const std::array<std::string_view, 3> events = {"task_input_tokens", "task_output_tokens", "task_compute_ms"};
    for (std::size_t i = 0; i < events.size(); ++i) {
      auto ok = txn.add_usage(task.tenant, day, principal.key_id, std::string(events[i]), static_cast<double>(costs[i]), 1);
      if (!ok) return ok;
    }
    return {};
  });
  if (!metered) return tl::unexpected(metered.error());
  return json::object{{"id", id}, {"closed", true}, {"alreadyClosed", false}, {"endedAt", task.data["endedAt"]}};
}

Result<std::string> TaskService::attribute(const auth::Principal& principal, const std::string& requested) const {
  if (requested.empty()) {
    if (principal.capability_id.empty()) return std::string();
    auto open = store_.open_tasks_of_capability(principal.tenant.key(), principal.capability_id);
    if (!open) return tl::unexpected(open.error());
    return open->size() == 1 ? open->front().id : std::string();
  }
  auto found = store_.find_task(principal.tenant.key(), requested);
  if (!found) return tl::unexpected(found.error());
  if (!*found) return fail("turn_not_found", fmt::format("no task '{}'", requested), "causedByTaskId");
  if (participant_of(**found) != principal.participant_id) {
    return fail("turn_foreign_agent", "causedByTaskId names another agent's task", "causedByTaskId");
  }
  if (!(*found)->open) return fail("turn_validation_failed", "causedByTaskId names a closed task", "causedByTaskId");
  return requested;
}

}  // namespace ablo::engine
