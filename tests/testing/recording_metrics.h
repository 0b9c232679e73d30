// A MetricsSink (interceptor/metrics.h) that remembers every measurement,
// keyed "name{attr=value,...}", for tests to read and to wait on (a real
// condition, no sleep).

#ifndef AUTHREFRESH_TESTS_TESTING_RECORDING_METRICS_H_
#define AUTHREFRESH_TESTS_TESTING_RECORDING_METRICS_H_

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "interceptor/metrics.h"

namespace authrefresh {
namespace testing {

class RecordingMetrics : public MetricsSink, public std::enable_shared_from_this<RecordingMetrics> {
 public:
  static std::string Key(absl::string_view name, const MetricAttributes& attributes) {
    std::vector<std::string> parts;
    for (const auto& [k, v] : attributes) parts.push_back(absl::StrCat(k, "=", v));
    return absl::StrCat(name, "{", absl::StrJoin(parts, ","), "}");
  }

  std::unique_ptr<Counter> MakeCounter(const MetricInstrument& instrument,
                                       const MetricAttributes& attributes) override {
    Note(instrument, attributes);
    return std::make_unique<RecordingCounter>(shared_from_this(), Key(instrument.name, attributes));
  }
  std::unique_ptr<Histogram> MakeHistogram(const MetricInstrument& instrument,
                                           const MetricAttributes& attributes) override {
    Note(instrument, attributes);
    return std::make_unique<RecordingHistogram>(shared_from_this(),
                                                Key(instrument.name, attributes));
  }
  std::unique_ptr<Observation> ObserveGauge(const MetricInstrument& instrument,
                                            const MetricAttributes& attributes,
                                            Observer observer) override {
    Note(instrument, attributes);
    const std::string key = Key(instrument.name, attributes);
    absl::MutexLock lock(&mu_);
    gauges_[key] = std::move(observer);
    return std::make_unique<GaugeRegistration>(shared_from_this(), key);
  }

  // A counter's total (0 if never added to).
  uint64_t count(const std::string& key) const {
    absl::MutexLock lock(&mu_);
    auto it = counters_.find(key);
    return it == counters_.end() ? 0 : it->second;
  }
  // A histogram's recorded values.
  std::vector<double> recorded(const std::string& key) const {
    absl::MutexLock lock(&mu_);
    auto it = histograms_.find(key);
    return it == histograms_.end() ? std::vector<double>{} : it->second;
  }
  // A gauge's value now; none when unregistered or it has no value.
  std::optional<double> observe(const std::string& key) const {
    absl::MutexLock lock(&mu_);
    auto it = gauges_.find(key);
    if (it == gauges_.end()) return std::nullopt;
    return it->second();
  }
  bool gauge_registered(const std::string& key) const {
    absl::MutexLock lock(&mu_);
    return gauges_.count(key) > 0;
  }
  // Every key made, in order, with its unit: "name{...} unit".
  std::vector<std::string> made() const {
    absl::MutexLock lock(&mu_);
    return made_;
  }
  // Blocks until the counter `key` reaches `n` or `timeout` passes.
  bool AwaitCount(const std::string& key, uint64_t n, absl::Duration timeout) const {
    absl::MutexLock lock(&mu_);
    auto reached = [&] {
      mu_.AssertHeld();
      auto it = counters_.find(key);
      return it != counters_.end() && it->second >= n;
    };
    return mu_.AwaitWithTimeout(absl::Condition(&reached), timeout);
  }

 private:
  class RecordingCounter : public Counter {
   public:
    RecordingCounter(std::shared_ptr<RecordingMetrics> m, std::string key)
        : m_(std::move(m)), key_(std::move(key)) {}
    void Add(uint64_t value) override {
      absl::MutexLock lock(&m_->mu_);
      m_->counters_[key_] += value;
    }

   private:
    const std::shared_ptr<RecordingMetrics> m_;
    const std::string key_;
  };
  class RecordingHistogram : public Histogram {
   public:
    RecordingHistogram(std::shared_ptr<RecordingMetrics> m, std::string key)
        : m_(std::move(m)), key_(std::move(key)) {}
    void Record(double value) override {
      absl::MutexLock lock(&m_->mu_);
      m_->histograms_[key_].push_back(value);
    }

   private:
    const std::shared_ptr<RecordingMetrics> m_;
    const std::string key_;
  };
  class GaugeRegistration : public Observation {
   public:
    GaugeRegistration(std::shared_ptr<RecordingMetrics> m, std::string key)
        : m_(std::move(m)), key_(std::move(key)) {}
    ~GaugeRegistration() override {
      absl::MutexLock lock(&m_->mu_);
      m_->gauges_.erase(key_);
    }

   private:
    const std::shared_ptr<RecordingMetrics> m_;
    const std::string key_;
  };

  void Note(const MetricInstrument& instrument, const MetricAttributes& attributes) {
    absl::MutexLock lock(&mu_);
    made_.push_back(absl::StrCat(Key(instrument.name, attributes), " ", instrument.unit));
  }

  mutable absl::Mutex mu_;
  std::map<std::string, uint64_t> counters_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, std::vector<double>> histograms_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, Observer> gauges_ ABSL_GUARDED_BY(mu_);
  std::vector<std::string> made_ ABSL_GUARDED_BY(mu_);
};

}  // namespace testing
}  // namespace authrefresh

#endif  // AUTHREFRESH_TESTS_TESTING_RECORDING_METRICS_H_
