// interceptor/internal/metrics_recorder.h
//
// The instruments of metrics.h, made once from MetricsOptions and bound to
// their attributes: `ManagerMetrics` for a TokenManager (its refreshes and
// calls, the expiry gauge) and `SharedMetrics` for the shared refresher's
// protocol. Every method is a null check when no sink is set (or the sink
// declined the instrument), else one virtual call. No locks.

#ifndef AUTHREFRESH_INTERCEPTOR_INTERNAL_METRICS_RECORDER_H_
#define AUTHREFRESH_INTERCEPTOR_INTERNAL_METRICS_RECORDER_H_

#include <memory>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "interceptor/metrics.h"
#include "interceptor/token_event.h"

namespace authrefresh {
namespace internal {

// A counter that may be absent.
class CounterHandle {
 public:
  CounterHandle() = default;
  CounterHandle(MetricsSink& sink, const MetricInstrument& instrument,
                const MetricAttributes& attributes)
      : counter_(sink.MakeCounter(instrument, attributes)) {}
  void Add() const {
    if (counter_) counter_->Add(1);
  }

 private:
  std::unique_ptr<MetricsSink::Counter> counter_;
};

// A histogram of durations, in seconds, that may be absent.
class DurationHandle {
 public:
  DurationHandle() = default;
  DurationHandle(MetricsSink& sink, const MetricInstrument& instrument,
                 const MetricAttributes& attributes)
      : histogram_(sink.MakeHistogram(instrument, attributes)) {}
  void Record(absl::Duration d) const {
    if (histogram_) histogram_->Record(absl::ToDoubleSeconds(d));
  }

 private:
  std::unique_ptr<MetricsSink::Histogram> histogram_;
};

class ManagerMetrics {
 public:
  // How a grant ended, as refresh.count's outcome.
  enum class Outcome { kSuccess, kFailure, kSessionExpired, kClientRejected };

  explicit ManagerMetrics(const MetricsOptions& options);

  bool enabled() const { return sink_ != nullptr; }

  void RefreshEnded(Outcome outcome, bool proactive, absl::Duration took) const;
  void CallWaited() const { waited_.Add(); }
  void CallReplayed() const { replayed_.Add(); }
  void CallRejected() const { rejected_.Add(); }
  // A call ended with authrefresh's own status `code`; codes other than the
  // four of metrics.h are not counted.
  void CallFailed(absl::StatusCode code) const;

  // Registers the expiry gauge; destroy the result before what `observer`
  // reads. Null when there is no sink.
  std::unique_ptr<MetricsSink::Observation> ObserveExpiry(MetricsSink::Observer observer) const;

 private:
  static constexpr int kOutcomes = 4;
  const std::shared_ptr<MetricsSink> sink_;
  const MetricAttributes credential_;
  CounterHandle refreshes_[kOutcomes][2];  // [outcome][proactive]
  DurationHandle succeeded_took_, failed_took_;
  CounterHandle waited_, replayed_, rejected_;
  CounterHandle failed_unauthenticated_, failed_unavailable_, failed_deadline_, failed_cancelled_;
};

class SharedMetrics {
 public:
  explicit SharedMetrics(const MetricsOptions& options);

  void LeaseWaited(absl::Duration d) const { lease_wait_.Record(d); }
  void Adopted() const { adopted_.Add(); }
  void Granted(bool ok) const { (ok ? granted_ok_ : granted_failed_).Add(); }
  // A backend operation failed with `s`: UNAVAILABLE is unreachable, the
  // rest refused.
  void BackendError(const absl::Status& s) const;

 private:
  const std::shared_ptr<MetricsSink> sink_;  // outlives the instruments
  DurationHandle lease_wait_;
  CounterHandle adopted_, granted_ok_, granted_failed_, unreachable_, refused_;
};

}  // namespace internal
}  // namespace authrefresh

#endif  // AUTHREFRESH_INTERCEPTOR_INTERNAL_METRICS_RECORDER_H_
