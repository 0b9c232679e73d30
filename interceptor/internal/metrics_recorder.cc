#include "interceptor/internal/metrics_recorder.h"

#include <string>
#include <utility>

namespace authrefresh {
namespace internal {
namespace {

MetricAttributes With(const MetricAttributes& base, const std::string& name,
                      const std::string& value) {
  MetricAttributes a = base;
  a.emplace_back(name, value);
  return a;
}

constexpr const char* kOutcomeNames[] = {"success", "failure", "session_expired",
                                         "client_rejected"};

}  // namespace

ManagerMetrics::ManagerMetrics(const MetricsOptions& options)
    : sink_(options.sink), credential_{{"credential", options.credential}} {
  if (sink_ == nullptr) return;
  MetricsSink& sink = *sink_;
  for (int o = 0; o < kOutcomes; ++o) {
    const MetricAttributes outcome = With(credential_, "outcome", kOutcomeNames[o]);
    refreshes_[o][0] =
        CounterHandle(sink, metric::kRefreshCount, With(outcome, "reason", "demand"));
    refreshes_[o][1] =
        CounterHandle(sink, metric::kRefreshCount, With(outcome, "reason", "proactive"));
  }
  succeeded_took_ =
      DurationHandle(sink, metric::kRefreshDuration, With(credential_, "outcome", "success"));
  failed_took_ =
      DurationHandle(sink, metric::kRefreshDuration, With(credential_, "outcome", "failure"));
  waited_ = CounterHandle(sink, metric::kCallWaited, credential_);
  replayed_ = CounterHandle(sink, metric::kCallReplayed, credential_);
  rejected_ = CounterHandle(sink, metric::kCallRejected, credential_);
  const auto failed = [&](const char* code) {
    return CounterHandle(sink, metric::kCallFailed, With(credential_, "code", code));
  };
  failed_unauthenticated_ = failed("UNAUTHENTICATED");
  failed_unavailable_ = failed("UNAVAILABLE");
  failed_deadline_ = failed("DEADLINE_EXCEEDED");
  failed_cancelled_ = failed("CANCELLED");
}

void ManagerMetrics::RefreshEnded(Outcome outcome, bool proactive, absl::Duration took) const {
  refreshes_[static_cast<int>(outcome)][proactive ? 1 : 0].Add();
  (outcome == Outcome::kSuccess ? succeeded_took_ : failed_took_).Record(took);
}

void ManagerMetrics::CallFailed(absl::StatusCode code) const {
  switch (code) {
    case absl::StatusCode::kUnauthenticated:
      failed_unauthenticated_.Add();
      break;
    case absl::StatusCode::kUnavailable:
      failed_unavailable_.Add();
      break;
    case absl::StatusCode::kDeadlineExceeded:
      failed_deadline_.Add();
      break;
    case absl::StatusCode::kCancelled:
      failed_cancelled_.Add();
      break;
    default:
      break;
  }
}

std::unique_ptr<MetricsSink::Observation> ManagerMetrics::ObserveExpiry(
    MetricsSink::Observer observer) const {
  if (sink_ == nullptr) return nullptr;
  return sink_->ObserveGauge(metric::kTokenExpiresIn, credential_, std::move(observer));
}

SharedMetrics::SharedMetrics(const MetricsOptions& options) : sink_(options.sink) {
  if (sink_ == nullptr) return;
  MetricsSink& sink = *sink_;
  const MetricAttributes credential{{"credential", options.credential}};
  lease_wait_ = DurationHandle(sink, metric::kSharedLeaseWait, credential);
  adopted_ = CounterHandle(sink, metric::kSharedAdopted, credential);
  granted_ok_ = CounterHandle(sink, metric::kSharedGranted, With(credential, "outcome", "success"));
  granted_failed_ =
      CounterHandle(sink, metric::kSharedGranted, With(credential, "outcome", "failure"));
  unreachable_ =
      CounterHandle(sink, metric::kSharedBackendError, With(credential, "kind", "unreachable"));
  refused_ = CounterHandle(sink, metric::kSharedBackendError, With(credential, "kind", "refused"));
}

void SharedMetrics::BackendError(const absl::Status& s) const {
  (s.code() == absl::StatusCode::kUnavailable ? unreachable_ : refused_).Add();
}

}  // namespace internal
}  // namespace authrefresh
