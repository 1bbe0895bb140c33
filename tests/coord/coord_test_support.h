#pragma once
// Shared by the coordinator tests: an outbox that records frames, participants and the
// intent_begin payload.
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include <boost/json.hpp>

#include "coord/coordinator.h"

namespace ablo::coord {

class RecordingOutbox : public fanout::Outbox {
 public:
  void push_frame(std::string frame) override {
    std::lock_guard lock(mutex_);
    frames_.push_back(boost::json::parse(frame).as_object());
  }
  void push_delta(std::shared_ptr<const fanout::EncodedDelta>) override {}

  // Frames of one type received so far, oldest first.
  std::vector<boost::json::object> of_type(std::string_view type) const {
    std::lock_guard lock(mutex_);
    std::vector<boost::json::object> out;
    for (const auto& f : frames_) {
      if (f.at("type").as_string() == type) out.push_back(f.at("payload").as_object());
    }
    return out;
  }
  std::size_t count() const {
    std::lock_guard lock(mutex_);
    return frames_.size();
  }
  void clear() {
    std::lock_guard lock(mutex_);
    frames_.clear();
  }

 private:
  mutable std::mutex mutex_;
  std::vector<boost::json::object> frames_;
};

inline Participant participant(const std::string& id, std::vector<std::string> groups, std::string kind = "agent") {
  return Participant{"org/live", Owner{id, "cred_" + id}, std::move(kind), std::move(groups), false};
}

inline boost::json::object begin_payload(const std::string& intent, const std::string& row, bool queue = true,
                           std::optional<int64_t> ttl_ms = std::nullopt) {
  boost::json::object p{{"intentId", intent}, {"entityType", "weatherReports"}, {"entityId", row}, {"action", "editing"},
                 {"queue", queue}};
  if (ttl_ms) p["estimatedMs"] = *ttl_ms;
  return p;
}

}  // namespace ablo::coord
