// interceptor/prometheus_metrics.h
//
// Prometheus out of the box: `MakePrometheusMetrics()` returns a MetricsSink
// (metrics.h) that registers authrefresh's counters and histograms in a
// prometheus-cpp Registry the application owns, and is itself the
// Collectable of the one observed gauge (authrefresh_token_expires_in_seconds,
// read when scraped). Register both with your Exposer:
//
//   auto registry = std::make_shared<prometheus::Registry>();
//   auto metrics = *authrefresh::MakePrometheusMetrics(registry);
//   prometheus::Exposer exposer("127.0.0.1:9464");
//   exposer.RegisterCollectable(registry);
//   exposer.RegisterCollectable(metrics);
//   options.metrics = {metrics, "orders-api"};  // TokenManagerOptions
//
// Names follow OpenTelemetry's Prometheus translation: dots become
// underscores, a unit of seconds adds _seconds, a counter adds _total
// (authrefresh.refresh.count is authrefresh_refresh_count_total). Each
// instrument's attributes are labels; counters and histograms are bound to
// their labels when a TokenManager is created, so an event is one atomic
// add (a histogram's Observe takes prometheus-cpp's own short lock).
//
// Bazel: @authrefresh//interceptor:prometheus_metrics. CMake:
// authrefresh::prometheus_metrics (built when prometheus-cpp is found,
// Debian's prometheus-cpp-dev).

#ifndef AUTHREFRESH_INTERCEPTOR_PROMETHEUS_METRICS_H_
#define AUTHREFRESH_INTERCEPTOR_PROMETHEUS_METRICS_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "interceptor/metrics.h"
#include "prometheus/collectable.h"
#include "prometheus/metric_family.h"
#include "prometheus/registry.h"

namespace authrefresh {

class PrometheusMetrics : public MetricsSink, public prometheus::Collectable {
 public:
  // The observed gauges only (counters and histograms are in the registry).
  std::vector<prometheus::MetricFamily> Collect() const override = 0;
};

// `registry` holds the counters and histograms for as long as it lives, also
// after the TokenManagers that fed them are gone. INVALID_ARGUMENT when it is
// null.
absl::StatusOr<std::shared_ptr<PrometheusMetrics>> MakePrometheusMetrics(
    std::shared_ptr<prometheus::Registry> registry);

// The Prometheus name of `instrument` (authrefresh_refresh_count_total).
std::string PrometheusName(const MetricInstrument& instrument);

}  // namespace authrefresh

#endif  // AUTHREFRESH_INTERCEPTOR_PROMETHEUS_METRICS_H_
