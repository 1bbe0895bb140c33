#pragma once
// Agent tasks (http-api.md §6.2): one agent run that commits are attributed to
// (`causedByTaskId` on every delta) and whose token and compute cost is metered.
//
// Thread-safe: state lives in the Store.
#include <string>

#include <boost/json/object.hpp>

#include "auth/auth_service.h"
#include "common/result.h"
#include "store/store.h"

namespace ablo::engine {

class TaskService {
 public:
  explicit TaskService(store::Store& store) : store_(store) {}

  // POST /v1/tasks {prompt, parentTaskId?, surface?, metadata?}. User sessions may not open
  // tasks; a parent must exist and belong to the same participant.
  Result<boost::json::object> open(const auth::Principal& principal, const boost::json::object& body) const;
  // POST /v1/tasks/{id}/close {costInputTokens, costOutputTokens, costComputeMs}; closing twice
  // answers alreadyClosed and leaves the costs alone.
  Result<boost::json::object> close(const auth::Principal& principal, const std::string& id,
                                    const boost::json::object& body) const;
  // The task a commit is attributed to: `requested` when it is an open task of the same
  // participant, or — when none is named — the caller capability's single open task; "" when
  // there is none. Errors: turn_not_found, turn_foreign_agent, turn_validation_failed (closed).
  Result<std::string> attribute(const auth::Principal& principal, const std::string& requested) const;

 private:
  store::Store& store_;
};

}  // namespace ablo::engine
