#include "interceptor/prometheus_metrics.h"

#include <list>
#include <map>
#include <mutex>
#include <optional>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "prometheus/client_metric.h"
#include "prometheus/counter.h"
#include "prometheus/family.h"
#include "prometheus/histogram.h"

namespace authrefresh {
namespace {

prometheus::Labels LabelsOf(const MetricAttributes& attributes) {
  prometheus::Labels labels;
  for (const auto& [name, value] : attributes) labels[name] = value;
  return labels;
}

class BoundCounter : public MetricsSink::Counter {
 public:
  explicit BoundCounter(prometheus::Counter* c) : counter_(c) {}
  void Add(uint64_t value) override { counter_->Increment(static_cast<double>(value)); }

 private:
  prometheus::Counter* const counter_;  // owned by its family, in the registry
};

class BoundHistogram : public MetricsSink::Histogram {
 public:
  explicit BoundHistogram(prometheus::Histogram* h) : histogram_(h) {}
  void Record(double value) override { histogram_->Observe(value); }

 private:
  prometheus::Histogram* const histogram_;
};

class Sink : public PrometheusMetrics, public std::enable_shared_from_this<Sink> {
 public:
  explicit Sink(std::shared_ptr<prometheus::Registry> registry) : registry_(std::move(registry)) {}

  std::unique_ptr<Counter> MakeCounter(const MetricInstrument& instrument,
                                       const MetricAttributes& attributes) override {
    std::lock_guard<std::mutex> lock(mu_);
    auto& family = Family(counters_, instrument, prometheus::BuildCounter());
    return std::make_unique<BoundCounter>(&family.Add(LabelsOf(attributes)));
  }

  std::unique_ptr<Histogram> MakeHistogram(const MetricInstrument& instrument,
                                           const MetricAttributes& attributes) override {
    std::lock_guard<std::mutex> lock(mu_);
    auto& family = Family(histograms_, instrument, prometheus::BuildHistogram());
    return std::make_unique<BoundHistogram>(&family.Add(
        LabelsOf(attributes), prometheus::Histogram::BucketBoundaries(
                                  instrument.boundaries.begin(), instrument.boundaries.end())));
  }

  std::unique_ptr<Observation> ObserveGauge(const MetricInstrument& instrument,
                                            const MetricAttributes& attributes,
                                            Observer observer) override {
    std::lock_guard<std::mutex> lock(mu_);
    gauges_.push_back(Gauge{PrometheusName(instrument), std::string(instrument.description),
                            LabelsOf(attributes), std::move(observer)});
    return std::make_unique<Registration>(shared_from_this(), std::prev(gauges_.end()));
  }

  std::vector<prometheus::MetricFamily> Collect() const override {
    std::lock_guard<std::mutex> lock(mu_);  // Registration's destructor waits for this
    std::map<std::string, prometheus::MetricFamily> families;
    for (const Gauge& g : gauges_) {
      const std::optional<double> value = g.observer();
      if (!value) continue;
      prometheus::MetricFamily& f = families[g.name];
      f.name = g.name;
      f.help = g.help;
      f.type = prometheus::MetricType::Gauge;
      prometheus::ClientMetric m;
      for (const auto& [name, v] : g.labels) m.label.push_back({name, v});
      m.gauge.value = *value;
      f.metric.push_back(std::move(m));
    }
    std::vector<prometheus::MetricFamily> out;
    for (auto& [name, f] : families) out.push_back(std::move(f));
    return out;
  }

 private:
  struct Gauge {
    std::string name, help;
    prometheus::Labels labels;
    Observer observer;
  };
  using Gauges = std::list<Gauge>;

  class Registration : public Observation {
   public:
    Registration(std::shared_ptr<Sink> sink, Gauges::iterator it)
        : sink_(std::move(sink)), it_(it) {}
    ~Registration() override {
      std::lock_guard<std::mutex> lock(sink_->mu_);
      sink_->gauges_.erase(it_);
    }

   private:
    const std::shared_ptr<Sink> sink_;
    const Gauges::iterator it_;
  };

  template <typename T, typename Builder>
  prometheus::Family<T>& Family(std::map<std::string, prometheus::Family<T>*>& families,
                                const MetricInstrument& instrument, Builder builder) {
    const std::string name = PrometheusName(instrument);
    auto it = families.find(name);
    if (it == families.end()) {
      prometheus::Family<T>& f =
          builder.Name(name).Help(std::string(instrument.description)).Register(*registry_);
      it = families.emplace(name, &f).first;
    }
    return *it->second;
  }

  const std::shared_ptr<prometheus::Registry> registry_;
  mutable std::mutex mu_;
  std::map<std::string, prometheus::Family<prometheus::Counter>*> counters_;
  std::map<std::string, prometheus::Family<prometheus::Histogram>*> histograms_;
  Gauges gauges_;
};

}  // namespace

std::string PrometheusName(const MetricInstrument& instrument) {
  std::string name = absl::StrReplaceAll(instrument.name, {{".", "_"}});
  if (instrument.unit == "s") absl::StrAppend(&name, "_seconds");
  if (instrument.kind == MetricInstrument::Kind::kCounter) absl::StrAppend(&name, "_total");
  return name;
}

absl::StatusOr<std::shared_ptr<PrometheusMetrics>> MakePrometheusMetrics(
    std::shared_ptr<prometheus::Registry> registry) {
  if (registry == nullptr) {
    return absl::InvalidArgumentError("MakePrometheusMetrics: the registry is null");
  }
  return std::shared_ptr<PrometheusMetrics>(std::make_shared<Sink>(std::move(registry)));
}

}  // namespace authrefresh
