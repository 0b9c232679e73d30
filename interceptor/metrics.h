// interceptor/metrics.h
//
// Defines `MetricsSink`, the small interface a metrics library plugs into,
// `MetricsOptions`, which hands one to a TokenManager (token_manager_options.h)
// and a shared refresher (shared_token.h), and the instruments authrefresh
// records. Prometheus: prometheus_metrics.h. OpenTelemetry: the adapter in
// docs/metrics.md.
//
// The instruments, named as OpenTelemetry names them (Prometheus: dots become
// underscores, seconds add _seconds, counters add _total). Every one carries
// the attribute credential=<MetricsOptions::credential>; the others are
// listed. No attribute ever holds a token, a fingerprint or a secret.
//
//   name                                 kind       unit        attributes
//   -----------------------------------  ---------  ----------  --------------------------------
//   authrefresh.refresh.count            counter    {refresh}   outcome: success, failure,
//                                                               session_expired, client_rejected;
//                                                               reason: demand, proactive
//   authrefresh.refresh.duration         histogram  s           outcome: success, failure
//   authrefresh.call.waited              counter    {attempt}
//   authrefresh.call.replayed            counter    {attempt}
//   authrefresh.call.rejected            counter    {attempt}
//   authrefresh.call.failed              counter    {call}      code: UNAUTHENTICATED,
//                                                               UNAVAILABLE, DEADLINE_EXCEEDED,
//                                                               CANCELLED
//   authrefresh.token.expires_in         gauge      s           (observed at collection)
//   authrefresh.shared.lease_wait.duration histogram s
//   authrefresh.shared.adopted           counter    {token}
//   authrefresh.shared.granted           counter    {grant}     outcome: success, failure
//   authrefresh.shared.backend_error     counter    {error}     kind: unreachable, refused
//
// What each one counts:
//  * refresh.count, refresh.duration: each finished refresh of the
//    TokenManager (TokenEvent kRefreshSucceeded and kRefreshFailed; outcome
//    failure is a transient one, retried; refresh.duration's failure
//    includes the terminal ones). With a shared refresher a refresh may be
//    an adoption (shared.adopted), not a grant. A retry after a failed
//    proactive refresh counts as demand. reason proactive: the background refresh inside
//    the margin, no call waiting; demand: a call needed a new token (it had
//    none, it expired, or a server rejected it). An attempt that found the
//    shared backend unreachable is not a refresh (shared.backend_error).
//  * call.waited: call attempts that waited for a refresh
//    (TokenManagerStats::calls_waited).
//  * call.replayed: attempts after a call's first whose credentials
//    authrefresh ran (TokenManagerStats::calls_replayed).
//  * call.rejected: attempts a server rejected for their token, as
//    authrefresh learns of it: the second attempt under authrefresh's own
//    UNAUTHENTICATED-only retry policy (so a rare transparent retry counts
//    too), or the call's final answer (InterceptorOptions' rejection
//    policy). Not counted: rejections that a policy retrying other codes
//    too replays (ambiguous), third and later attempts, and calls of
//    methods that skip the token refresh.
//  * call.failed: calls that carried authrefresh's token and ended with
//    authrefresh's own status rather than a server's (docs/failures.md):
//    the session expired or the client was rejected (UNAUTHENTICATED), the
//    refresh kept failing (UNAVAILABLE), the call's deadline came while it
//    waited (DEADLINE_EXCEEDED), it was cancelled while it waited
//    (CANCELLED). A rejected call that gRPC could not replay (a stream, a
//    compressed call) is not counted here; its rejection is.
//  * token.expires_in: seconds until the current access token expires,
//    negative once it has; no value while there is no token or it has no
//    expiry.
//  * shared.*: MakeSharedTokenRefresher's protocol. lease_wait.duration: each
//    time the replica found another holding the lease, how long until it
//    adopted, granted or gave up; adopted: tokens taken from the shared
//    record (no grant); granted: grants this replica ran (under the lease, or
//    locally under kRefreshLocally); backend_error: failed backend operations
//    (unreachable: UNAVAILABLE; refused: a misconfiguration such as a wrong
//    password or key).
//
// Cost: nothing at all when MetricsOptions::sink is null. When set, a call
// that goes out with a valid token records nothing; the instruments are made
// once, when the TokenManager or refresher is created, and each event is one
// virtual call on an instrument bound to its attributes: no lookup, no lock
// of authrefresh's.

#ifndef AUTHREFRESH_INTERCEPTOR_METRICS_H_
#define AUTHREFRESH_INTERCEPTOR_METRICS_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/string_view.h"
#include "absl/types/span.h"

namespace authrefresh {

// What an instrument is. Names, descriptions and units are those of the
// table above; units are UCUM, as OpenTelemetry's.
struct MetricInstrument {
  enum class Kind { kCounter, kHistogram, kGauge };
  absl::string_view name;
  Kind kind;
  absl::string_view unit;
  absl::string_view description;
  // Histograms: the bucket boundaries authrefresh suggests (seconds), for a
  // sink that needs them up front (Prometheus) or takes advice
  // (OpenTelemetry's explicit bucket boundaries). Empty otherwise.
  absl::Span<const double> boundaries;
};

// Attribute names and values, in a fixed order, credential first.
using MetricAttributes = std::vector<std::pair<std::string, std::string>>;

// A metrics library's side. authrefresh calls the Make and Observe methods
// while a TokenManager or shared refresher is created (any thread, never
// under a lock of authrefresh's), once per instrument and attribute set: an
// implementation binds the attributes then, so that Add and Record are
// cheap. Add and Record are called from any thread, concurrently, and must
// be thread-safe; keep them lock-free (prometheus-cpp's and OpenTelemetry's
// are). A Make method may return null: that instrument is not recorded.
class MetricsSink {
 public:
  class Counter {
   public:
    virtual ~Counter() = default;
    virtual void Add(uint64_t value) = 0;
  };
  class Histogram {
   public:
    virtual ~Histogram() = default;
    virtual void Record(double value) = 0;
  };
  // An observed gauge's registration: while it lives, the sink may call the
  // observer (on its collection thread); its destructor must return only
  // once no call of it is running or will start.
  class Observation {
   public:
    virtual ~Observation() = default;
  };
  // The value now, or none (nothing to report).
  using Observer = std::function<std::optional<double>()>;

  virtual ~MetricsSink() = default;

  virtual std::unique_ptr<Counter> MakeCounter(const MetricInstrument& instrument,
                                               const MetricAttributes& attributes) = 0;
  virtual std::unique_ptr<Histogram> MakeHistogram(const MetricInstrument& instrument,
                                                   const MetricAttributes& attributes) = 0;
  virtual std::unique_ptr<Observation> ObserveGauge(const MetricInstrument& instrument,
                                                    const MetricAttributes& attributes,
                                                    Observer observer) = 0;
};

// Where a TokenManager (TokenManagerOptions::metrics) or a shared refresher
// (SharedTokenRefresherOptions::metrics) records. Give both of one
// credential the same.
struct MetricsOptions {
  // Null: nothing is recorded, at no cost.
  std::shared_ptr<MetricsSink> sink;
  // The credential attribute: a name the application chooses ("orders-api"),
  // the same for every replica of it. Shown as is; never a token or secret.
  std::string credential = "default";
};

namespace metric {

// Seconds: 1 ms to 60 s, for grants and lease waits.
inline constexpr double kDurationBoundaries[] = {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25,
                                                 0.5,   1,      2.5,   5,    10,    30,   60};

using Kind = MetricInstrument::Kind;

inline constexpr MetricInstrument kRefreshCount{
    "authrefresh.refresh.count", Kind::kCounter, "{refresh}",
    "Finished token refreshes (grants) of a TokenManager, by outcome and reason"};
inline constexpr MetricInstrument kRefreshDuration{"authrefresh.refresh.duration", Kind::kHistogram,
                                                   "s", "How long each token refresh (grant) took",
                                                   kDurationBoundaries};
inline constexpr MetricInstrument kCallWaited{"authrefresh.call.waited", Kind::kCounter,
                                              "{attempt}",
                                              "Call attempts that waited for a token refresh"};
inline constexpr MetricInstrument kCallReplayed{
    "authrefresh.call.replayed", Kind::kCounter, "{attempt}",
    "Call attempts after a call's first (replays with a new token)"};
inline constexpr MetricInstrument kCallRejected{"authrefresh.call.rejected", Kind::kCounter,
                                                "{attempt}",
                                                "Call attempts a server rejected for their token"};
inline constexpr MetricInstrument kCallFailed{
    "authrefresh.call.failed", Kind::kCounter, "{call}",
    "Calls that ended with authrefresh's own status, by code"};
inline constexpr MetricInstrument kTokenExpiresIn{"authrefresh.token.expires_in", Kind::kGauge, "s",
                                                  "Seconds until the current access token expires"};
inline constexpr MetricInstrument kSharedLeaseWait{
    "authrefresh.shared.lease_wait.duration", Kind::kHistogram, "s",
    "How long a replica waited behind another replica's refresh lease", kDurationBoundaries};
inline constexpr MetricInstrument kSharedAdopted{
    "authrefresh.shared.adopted", Kind::kCounter, "{token}",
    "Tokens a replica adopted from the shared record instead of a grant"};
inline constexpr MetricInstrument kSharedGranted{
    "authrefresh.shared.granted", Kind::kCounter, "{grant}",
    "Grants a replica ran for the shared record, by outcome"};
inline constexpr MetricInstrument kSharedBackendError{
    "authrefresh.shared.backend_error", Kind::kCounter, "{error}",
    "Failed operations of the shared token backend, by kind"};

// Every instrument above, in the table's order.
inline constexpr const MetricInstrument* kAll[] = {
    &kRefreshCount,  &kRefreshDuration, &kCallWaited,        &kCallReplayed,
    &kCallRejected,  &kCallFailed,      &kTokenExpiresIn,    &kSharedLeaseWait,
    &kSharedAdopted, &kSharedGranted,   &kSharedBackendError};

}  // namespace metric
}  // namespace authrefresh

#endif  // AUTHREFRESH_INTERCEPTOR_METRICS_H_
