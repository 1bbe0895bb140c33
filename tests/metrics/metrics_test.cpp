// The Prometheus text the registry renders (metrics/metrics.h).
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "metrics/metrics.h"

namespace ablo::metrics {
namespace {

TEST(MetricsTest, RendersCountersGaugesSamplersAndHistogramsInTheTextFormat) {
  Registry registry;
  registry.counter("t_requests_total", "Requests", {{"class", "2xx"}}).add(3);
  registry.counter("t_requests_total", "Requests", {{"class", "5xx"}}).add();
  registry.gauge("t_open", "Open things").set(7);
  registry.sampled("t_depth", "A depth", [] { return 2.5; }, {{"queue", "a\"b"}});
  auto& latency = registry.histogram("t_latency_seconds", "Latency", {0.01, 0.1});
  latency.observe(0.005);
  latency.observe(0.05);
  latency.observe(3);
  EXPECT_EQ(registry.render(),
            "# HELP t_depth A depth\n# TYPE t_depth gauge\nt_depth{queue=\"a\\\"b\"} 2.5\n"
            "# HELP t_latency_seconds Latency\n# TYPE t_latency_seconds histogram\n"
            "t_latency_seconds_bucket{le=\"0.01\"} 1\nt_latency_seconds_bucket{le=\"0.1\"} 2\n"
            "t_latency_seconds_bucket{le=\"+Inf\"} 3\nt_latency_seconds_sum 3.055\nt_latency_seconds_count 3\n"
            "# HELP t_open Open things\n# TYPE t_open gauge\nt_open 7\n"
            "# HELP t_requests_total Requests\n# TYPE t_requests_total counter\n"
            "t_requests_total{class=\"2xx\"} 3\nt_requests_total{class=\"5xx\"} 1\n");
}

TEST(MetricsTest, TheSameSeriesIsRegisteredOnceAndUpdatesFromManyThreadsAddUp) {
  Registry registry;
  auto& first = registry.counter("t_total", "T");
  EXPECT_EQ(&first, &registry.counter("t_total", "T"));
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 10'000; ++i) registry.counter("t_total", "T").add();
    });
  }
  for (auto& thread : threads) thread.join();
  EXPECT_EQ(first.value(), 40'000u);
  registry.sampled("t_gone", "G", [] { return 1.0; });
  registry.forget("t_gone");
  EXPECT_EQ(registry.render().find("t_gone 1"), std::string::npos);
}

}  // namespace
}  // namespace ablo::metrics
