#include "metrics/metrics.h"

#include <cmath>

#include <fmt/format.h>

namespace ablo::metrics {

namespace {

std::string escaped(const std::string& value) {
  std::string out;
  for (char c : value) {
    if (c == '\\' || c == '"') out += '\\';
    if (c == '\n') {
      out += "\\n";
      continue;
    }
    out += c;
  }
  return out;
}

// `{a="x",b="y"}`, or "" without labels.
std::string render_labels(const Labels& labels) {
  if (labels.empty()) return {};
  std::string out = "{";
  for (const auto& [name, value] : labels) {
    if (out.size() > 1) out += ',';
    out += name + "=\"" + escaped(value) + "\"";
  }
  return out + "}";
}

// The labels with one more (le="…" of a bucket).
std::string with_label(const std::string& rendered, const std::string& name, const std::string& value) {
  const std::string extra = name + "=\"" + value + "\"";
  if (rendered.empty()) return "{" + extra + "}";
  return rendered.substr(0, rendered.size() - 1) + "," + extra + "}";
}

std::string number(double value) {
  if (std::isinf(value)) return value > 0 ? "+Inf" : "-Inf";
  if (std::isnan(value)) return "NaN";
  if (value == std::floor(value) && std::fabs(value) < 1e15) return fmt::format("{}", static_cast<int64_t>(value));
  return fmt::format("{}", value);
}

}  // namespace

Histogram::Histogram(std::vector<double> bounds)
    : bounds_(std::move(bounds)), buckets_(new std::atomic<uint64_t>[bounds_.size() + 1]) {
  for (std::size_t i = 0; i <= bounds_.size(); ++i) buckets_[i].store(0, std::memory_order_relaxed);
}

void Histogram::observe(double value) {
  std::size_t i = 0;
  while (i < bounds_.size() && value > bounds_[i]) ++i;
  buckets_[i].fetch_add(1, std::memory_order_relaxed);
  sum_micros_.fetch_add(static_cast<uint64_t>(std::max(0.0, value) * 1e6), std::memory_order_relaxed);
}

Histogram::Snapshot Histogram::snapshot() const {
  Snapshot s;
  s.bounds = bounds_;
  uint64_t running = 0;
  for (std::size_t i = 0; i <= bounds_.size(); ++i) {
    running += buckets_[i].load(std::memory_order_relaxed);
    s.cumulative.push_back(running);
  }
  s.count = running;
  s.sum = static_cast<double>(sum_micros_.load(std::memory_order_relaxed)) / 1e6;
  return s;
}

std::vector<double> latency_buckets() {
  return {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10};
}

std::vector<double> size_buckets() { return {1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024}; }

std::vector<double> byte_buckets() {
  return {1 << 10, 1 << 12, 1 << 14, 1 << 16, 1 << 18, 1 << 20, 1 << 22, 1 << 24};
}

Registry::Family& Registry::family(const std::string& name, Kind kind, const std::string& help) {
  auto& f = families_[name];
  if (f.help.empty()) {
    f.kind = kind;
    f.help = help;
  }
  return f;
}

Counter& Registry::counter(const std::string& name, const std::string& help, const Labels& labels) {
  std::lock_guard lock(mutex_);
  auto& slot = family(name, Kind::kCounter, help).counters[render_labels(labels)];
  if (!slot) slot = std::make_unique<Counter>();
  return *slot;
}

Gauge& Registry::gauge(const std::string& name, const std::string& help, const Labels& labels) {
  std::lock_guard lock(mutex_);
  auto& slot = family(name, Kind::kGauge, help).gauges[render_labels(labels)];
  if (!slot) slot = std::make_unique<Gauge>();
  return *slot;
}

Histogram& Registry::histogram(const std::string& name, const std::string& help, std::vector<double> bounds,
                               const Labels& labels) {
  std::lock_guard lock(mutex_);
  auto& slot = family(name, Kind::kHistogram, help).histograms[render_labels(labels)];
  if (!slot) slot = std::make_unique<Histogram>(std::move(bounds));
  return *slot;
}

void Registry::sampled(const std::string& name, const std::string& help, std::function<double()> sample,
                       const Labels& labels) {
  std::lock_guard lock(mutex_);
  family(name, Kind::kGauge, help).samplers[render_labels(labels)] = std::move(sample);
}

void Registry::forget(const std::string& name) {
  std::lock_guard lock(mutex_);
  if (auto it = families_.find(name); it != families_.end()) it->second.samplers.clear();
}

// Samplers run after the registry's mutex is released: they may take their owner's lock (the
// coordinator's), under which that owner may register a series, which takes this mutex.
std::string Registry::render() const {
  struct Sampled {
    std::size_t at;  // where in `out` the family's sampler lines go
    std::string name;
    std::vector<std::pair<std::string, std::function<double()>>> samplers;
  };
  std::string out;
  std::vector<Sampled> pending;
  {
    std::lock_guard lock(mutex_);
    for (const auto& [name, f] : families_) {
      static constexpr const char* kTypes[] = {"counter", "gauge", "histogram"};
      out += fmt::format("# HELP {} {}\n# TYPE {} {}\n", name, f.help, name, kTypes[static_cast<int>(f.kind)]);
      for (const auto& [labels, c] : f.counters) out += fmt::format("{}{} {}\n", name, labels, c->value());
      for (const auto& [labels, g] : f.gauges) out += fmt::format("{}{} {}\n", name, labels, g->value());
      if (!f.samplers.empty()) pending.push_back({out.size(), name, {f.samplers.begin(), f.samplers.end()}});
      for (const auto& [labels, h] : f.histograms) {
        const auto s = h->snapshot();
        for (std::size_t i = 0; i < s.bounds.size(); ++i) {
          out += fmt::format("{}_bucket{} {}\n", name, with_label(labels, "le", number(s.bounds[i])), s.cumulative[i]);
        }
        out += fmt::format("{}_bucket{} {}\n", name, with_label(labels, "le", "+Inf"), s.count);
        out += fmt::format("{}_sum{} {}\n{}_count{} {}\n", name, labels, number(s.sum), name, labels, s.count);
      }
    }
  }
  // Inserted back to front so the recorded offsets stay valid.
  for (auto it = pending.rbegin(); it != pending.rend(); ++it) {
    std::string lines;
    for (const auto& [labels, sample] : it->samplers) lines += fmt::format("{}{} {}\n", it->name, labels, number(sample()));
    out.insert(it->at, lines);
  }
  return out;
}

Registry& global() {
  static Registry* registry = new Registry();  // never destroyed: series outlive every user
  return *registry;
}

}  // namespace ablo::metrics
