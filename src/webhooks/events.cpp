#include "webhooks/events.h"

#include <algorithm>
#include <cctype>

#include <boost/json.hpp>

#include "common/time.h"

namespace ablo::webhooks {

namespace json = boost::json;

namespace {

std::optional<std::string_view> verb_of(char action) {
  switch (action) {
    case 'I': return "created";
    case 'U': return "updated";
    case 'D': return "deleted";
    case 'A': return "archived";
    case 'V': return "unarchived";
    default: return std::nullopt;  // C (covering), G/S (sync groups): permission mechanics
  }
}

std::string lower(std::string_view text) {
  std::string out(text);
  std::transform(out.begin(), out.end(), out.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return out;
}

constexpr std::string_view kVerbs[] = {"created", "updated", "deleted", "archived", "unarchived"};

}  // namespace

std::optional<std::string> event_type_of(const store::Delta& delta) {
  auto verb = verb_of(delta.action);
  if (!verb) return std::nullopt;
  return lower(delta.model_name) + "." + std::string(*verb);
}

std::optional<json::object> event_of(const store::Delta& delta) {
  auto type = event_type_of(delta);
  if (!type) return std::nullopt;
  json::value data = nullptr;
  if (delta.data && delta.action != 'D') data = *delta.data;
  return json::object{{"id", std::to_string(delta.id)},
                      {"type", *type},
                      {"model", delta.model_name},
                      {"objectId", delta.model_id},
                      {"syncId", delta.id},
                      {"data", std::move(data)},
                      {"createdAt", iso8601_from_ms(delta.created_at_ms)}};
}

bool event_enabled(const std::vector<std::string>& enabled_events, std::string_view model, std::string_view type) {
  const auto model_lower = lower(model);
  for (const auto& entry : enabled_events) {
    if (entry == "*") return true;
    const auto wanted = lower(entry);
    if (wanted == model_lower || wanted == type) return true;
  }
  return false;
}

Status validate_enabled_events(const std::vector<std::string>& enabled_events) {
  if (enabled_events.empty()) return fail("invalid_request", "enabledEvents must name at least one event", "enabledEvents");
  if (enabled_events.size() > 100) return fail("invalid_request", "enabledEvents takes at most 100 entries", "enabledEvents");
  for (const auto& entry : enabled_events) {
    if (entry == "*") continue;
    const auto dot = entry.find('.');
    const auto name = entry.substr(0, dot);
    const bool name_ok = !name.empty() && name.size() <= 128 &&
                         std::all_of(name.begin(), name.end(), [](unsigned char c) { return std::isalnum(c) || c == '_'; });
    const bool verb_ok = dot == std::string::npos ||
                         std::find(std::begin(kVerbs), std::end(kVerbs), std::string_view(entry).substr(dot + 1)) !=
                             std::end(kVerbs);
    if (!name_ok || !verb_ok) {
      return fail("invalid_request",
                  "enabledEvents entries are \"*\", a model name, or <model>.<created|updated|deleted|archived|"
                  "unarchived>; got \"" + entry.substr(0, 200) + "\"",
                  "enabledEvents");
    }
  }
  return {};
}

std::string batch_id(std::string_view endpoint_id, int64_t first_sync_id, int64_t last_sync_id) {
  return "msg_" + std::string(endpoint_id) + "_" + std::to_string(first_sync_id) + "_" + std::to_string(last_sync_id);
}

BatchBuilder::BatchBuilder(std::string endpoint_id, std::size_t max_events, std::size_t max_bytes)
    : endpoint_id_(std::move(endpoint_id)), max_events_(std::max<std::size_t>(1, max_events)), max_bytes_(max_bytes) {}

bool BatchBuilder::add(const json::object& event, int64_t sync_id) {
  if (full()) return false;
  auto text = json::serialize(event);
  // A batch never grows past max_bytes, except that its first event always fits (else an
  // event larger than the cap would block the endpoint for ever).
  if (events_ > 0 && data_.size() + 1 + text.size() > max_bytes_) return false;
  if (events_ > 0) data_ += ',';
  data_ += text;
  ++events_;
  if (first_ == 0) first_ = sync_id;
  last_ = sync_id;
  return true;
}

void BatchBuilder::cover(int64_t sync_id) {
  if (first_ == 0) first_ = sync_id;
  last_ = std::max(last_, sync_id);
}

Batch BatchBuilder::finish() const {
  Batch batch;
  batch.first_sync_id = first_;
  batch.last_sync_id = last_;
  batch.events = events_;
  batch.id = batch_id(endpoint_id_, first_, last_);
  batch.body = R"({"object":"webhook_batch","endpoint":)" + json::serialize(json::value(endpoint_id_)) +
               R"(,"data":[)" + data_ + "]}";
  return batch;
}

RetrySchedule RetrySchedule::standard() {
  constexpr int64_t kSecond = 1000, kMinute = 60 * kSecond, kHour = 60 * kMinute;
  return {{5 * kSecond, 5 * kMinute, 30 * kMinute, 2 * kHour, 5 * kHour, 10 * kHour, 10 * kHour}};
}

Result<RetrySchedule> RetrySchedule::parse(std::string_view text) {
  RetrySchedule schedule;
  std::size_t start = 0;
  while (start <= text.size()) {
    const auto comma = text.find(',', start);
    const auto item = text.substr(start, comma == std::string_view::npos ? std::string_view::npos : comma - start);
    if (item.empty() || item.size() > 12 ||
        !std::all_of(item.begin(), item.end(), [](unsigned char c) { return std::isdigit(c); })) {
      return fail("invalid_request", "the retry schedule is a comma-separated list of milliseconds");
    }
    schedule.delays_ms.push_back(std::stoll(std::string(item)));
    if (comma == std::string_view::npos) break;
    start = comma + 1;
  }
  return schedule;
}

std::optional<int64_t> RetrySchedule::delay_after(int failures) const {
  if (failures < 1 || failures > static_cast<int>(delays_ms.size())) return std::nullopt;
  return delays_ms[static_cast<std::size_t>(failures - 1)];
}

}  // namespace ablo::webhooks
