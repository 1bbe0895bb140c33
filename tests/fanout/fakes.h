#pragma once
// Stand-ins for the hub's surroundings in the fan-out tests: the store's delta log and a
// connection's send queue, both recording what they are given.
#include <cstdint>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <vector>

#include <boost/json.hpp>

#include "fanout/hub.h"

namespace ablo::fanout::fakes {

namespace json = boost::json;

// A log the hub reads catch-up pages from, standing in for the store.
class FakeLog {
 public:
  void append(store::Delta delta) {
    std::lock_guard lock(mutex_);
    deltas_.push_back(std::move(delta));
  }
  Result<std::vector<store::Delta>> read(const std::string& tenant, int64_t after, int64_t up_to, int limit) {
    std::lock_guard lock(mutex_);
    std::vector<store::Delta> out;
    for (const auto& d : deltas_) {
      if (d.tenant == tenant && d.id > after && d.id <= up_to && static_cast<int>(out.size()) < limit) out.push_back(d);
    }
    return out;
  }

 private:
  std::mutex mutex_;
  std::vector<store::Delta> deltas_;
};

// Records what a connection would have sent, in order: ids of deltas, whether live or catch-up.
class RecordingOutbox : public Outbox {
 public:
  void push_frame(std::string frame) override {
    auto parsed = json::parse(frame).as_object();
    std::lock_guard lock(mutex_);
    frames.push_back(parsed);
    if (parsed.at("type") == "sync_response") {
      for (const auto& d : parsed.at("payload").at("deltas").as_array()) ids.push_back(d.at("id").as_int64());
    }
  }
  void push_delta(std::shared_ptr<const EncodedDelta> delta) override {
    std::lock_guard lock(mutex_);
    ids.push_back(delta->id);
    live_ids.push_back(delta->id);
  }
  void push_deltas(std::span<const std::shared_ptr<const EncodedDelta>> deltas) override {
    {
      std::lock_guard lock(mutex_);
      std::vector<int64_t> batch;
      for (const auto& d : deltas) batch.push_back(d->id);
      batches.push_back(std::move(batch));
      encodings.insert(encodings.end(), deltas.begin(), deltas.end());
    }
    for (const auto& d : deltas) push_delta(d);
  }
  std::vector<int64_t> received() {
    std::lock_guard lock(mutex_);
    return ids;
  }

  std::mutex mutex_;
  std::vector<json::object> frames;
  std::vector<int64_t> ids;
  std::vector<int64_t> live_ids;
  std::vector<std::vector<int64_t>> batches;  // ids per push_deltas call
  std::vector<std::shared_ptr<const EncodedDelta>> encodings;
};

inline store::Delta delta(int64_t id, std::vector<std::string> groups, std::string tenant = "org_1/test") {
  store::Delta d;
  d.id = id;
  d.tenant = std::move(tenant);
  d.model_name = "tasks";
  d.model_id = "row" + std::to_string(id);
  d.data = json::object{{"id", d.model_id}};
  d.sync_groups = std::move(groups);
  return d;
}

}  // namespace ablo::fanout::fakes
