#pragma once
// Process metrics in the Prometheus text format (issue 15): counters, gauges and histograms
// that hot paths update with one relaxed atomic add, and gauges sampled at scrape time.
//
// Series are registered once (typically a function-local static at the place they are
// updated) and live as long as the process; registration takes the registry's mutex, updates
// never do. A scrape renders every family in name order.
#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

namespace ablo::metrics {

using Labels = std::vector<std::pair<std::string, std::string>>;

class Counter {
 public:
  void add(uint64_t n = 1) { value_.fetch_add(n, std::memory_order_relaxed); }
  uint64_t value() const { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<uint64_t> value_{0};
};

class Gauge {
 public:
  void set(int64_t v) { value_.store(v, std::memory_order_relaxed); }
  void add(int64_t n) { value_.fetch_add(n, std::memory_order_relaxed); }
  int64_t value() const { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<int64_t> value_{0};
};

// Observations in seconds (or any unit), counted into fixed buckets (upper bounds, ascending).
class Histogram {
 public:
  explicit Histogram(std::vector<double> bounds);
  void observe(double value);
  // The seconds from `start` to now (latency histograms).
  void observe_seconds_since(std::chrono::steady_clock::time_point start) {
    observe(std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
  }
  struct Snapshot {
    std::vector<double> bounds;
    std::vector<uint64_t> cumulative;  // per bound, then +Inf last
    double sum = 0;
    uint64_t count = 0;
  };
  Snapshot snapshot() const;

 private:
  const std::vector<double> bounds_;
  std::unique_ptr<std::atomic<uint64_t>[]> buckets_;  // bounds_.size() + 1 (+Inf)
  std::atomic<uint64_t> sum_micros_{0};               // the sum, in millionths of the unit
};

// Buckets for latencies in seconds: 0.5 ms … 10 s.
std::vector<double> latency_buckets();
// Buckets for sizes (commits per group, …): 1 … 1024, powers of two.
std::vector<double> size_buckets();
// Buckets for byte counts: 1 KiB … 16 MiB, powers of four.
std::vector<double> byte_buckets();

class Registry {
 public:
  Counter& counter(const std::string& name, const std::string& help, const Labels& labels = {});
  Gauge& gauge(const std::string& name, const std::string& help, const Labels& labels = {});
  Histogram& histogram(const std::string& name, const std::string& help, std::vector<double> bounds,
                       const Labels& labels = {});
  // A gauge read when scraped (a queue depth, a session count). Replaces an earlier sampler of
  // the same series. `sample` runs on the scraping thread, outside the registry's mutex (it may
  // take its owner's lock), and must be quick.
  void sampled(const std::string& name, const std::string& help, std::function<double()> sample,
               const Labels& labels = {});
  // Removes the samplers of one family (their owner is going away).
  void forget(const std::string& name);
  // The text exposition format 0.0.4.
  std::string render() const;

 private:
  enum class Kind { kCounter, kGauge, kHistogram };
  struct Family {
    Kind kind = Kind::kCounter;
    std::string help;
    std::map<std::string, std::unique_ptr<Counter>> counters;  // by rendered labels
    std::map<std::string, std::unique_ptr<Gauge>> gauges;
    std::map<std::string, std::function<double()>> samplers;
    std::map<std::string, std::unique_ptr<Histogram>> histograms;
  };
  Family& family(const std::string& name, Kind kind, const std::string& help);

  mutable std::mutex mutex_;
  std::map<std::string, Family> families_;  // GUARDED_BY(mutex_)
};

// The process's registry (what /metrics renders).
Registry& global();

}  // namespace ablo::metrics
