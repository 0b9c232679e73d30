// interceptor/internal/metrics_recorder: which instruments a TokenManager
// and a shared refresher make, with which units and attributes (the table of
// interceptor/metrics.h), and that a sink may decline any of them.

#include "interceptor/internal/metrics_recorder.h"

#include <memory>
#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/recording_metrics.h"

namespace authrefresh {
namespace {

using internal::ManagerMetrics;
using internal::SharedMetrics;
using ::testing::ElementsAre;

TEST(ManagerMetrics, MakesTheTablesInstrumentsBoundToTheCredential) {
  auto sink = std::make_shared<testing::RecordingMetrics>();
  ManagerMetrics m({sink, "orders-api"});
  auto gauge = m.ObserveExpiry([] { return 7.5; });
  EXPECT_THAT(
      sink->made(),
      ElementsAre(
          "authrefresh.refresh.count{credential=orders-api,outcome=success,reason=demand} "
          "{refresh}",
          "authrefresh.refresh.count{credential=orders-api,outcome=success,reason=proactive} "
          "{refresh}",
          "authrefresh.refresh.count{credential=orders-api,outcome=failure,reason=demand} "
          "{refresh}",
          "authrefresh.refresh.count{credential=orders-api,outcome=failure,reason=proactive} "
          "{refresh}",
          "authrefresh.refresh.count{credential=orders-api,outcome=session_expired,reason=demand} "
          "{refresh}",
          "authrefresh.refresh.count{credential=orders-api,outcome=session_expired,reason="
          "proactive} {refresh}",
          "authrefresh.refresh.count{credential=orders-api,outcome=client_rejected,reason=demand} "
          "{refresh}",
          "authrefresh.refresh.count{credential=orders-api,outcome=client_rejected,reason="
          "proactive} {refresh}",
          "authrefresh.refresh.duration{credential=orders-api,outcome=success} s",
          "authrefresh.refresh.duration{credential=orders-api,outcome=failure} s",
          "authrefresh.call.waited{credential=orders-api} {attempt}",
          "authrefresh.call.replayed{credential=orders-api} {attempt}",
          "authrefresh.call.rejected{credential=orders-api} {attempt}",
          "authrefresh.call.failed{credential=orders-api,code=UNAUTHENTICATED} {call}",
          "authrefresh.call.failed{credential=orders-api,code=UNAVAILABLE} {call}",
          "authrefresh.call.failed{credential=orders-api,code=DEADLINE_EXCEEDED} {call}",
          "authrefresh.call.failed{credential=orders-api,code=CANCELLED} {call}",
          "authrefresh.token.expires_in{credential=orders-api} s"));
  EXPECT_EQ(sink->observe("authrefresh.token.expires_in{credential=orders-api}"), 7.5);
  m.RefreshEnded(ManagerMetrics::Outcome::kClientRejected, /*proactive=*/true,
                 absl::Milliseconds(1500));
  EXPECT_EQ(sink->count("authrefresh.refresh.count{credential=orders-api,outcome=client_"
                        "rejected,reason=proactive}"),
            1u);
  EXPECT_THAT(sink->recorded("authrefresh.refresh.duration{credential=orders-api,outcome=failure}"),
              ElementsAre(1.5));
  gauge.reset();
  EXPECT_FALSE(sink->gauge_registered("authrefresh.token.expires_in{credential=orders-api}"));
}

TEST(SharedMetrics, MakesTheSharedInstruments) {
  auto sink = std::make_shared<testing::RecordingMetrics>();
  SharedMetrics m({sink, "orders-api"});
  EXPECT_THAT(
      sink->made(),
      ElementsAre("authrefresh.shared.lease_wait.duration{credential=orders-api} s",
                  "authrefresh.shared.adopted{credential=orders-api} {token}",
                  "authrefresh.shared.granted{credential=orders-api,outcome=success} {grant}",
                  "authrefresh.shared.granted{credential=orders-api,outcome=failure} {grant}",
                  "authrefresh.shared.backend_error{credential=orders-api,kind="
                  "unreachable} {error}",
                  "authrefresh.shared.backend_error{credential=orders-api,kind=refused} "
                  "{error}"));
  m.BackendError(absl::UnavailableError("down"));
  m.BackendError(absl::FailedPreconditionError("wrong key"));
  m.BackendError(absl::PermissionDeniedError("WRONGPASS"));
  EXPECT_EQ(sink->count("authrefresh.shared.backend_error{credential=orders-api,kind=unreachable}"),
            1u);
  EXPECT_EQ(sink->count("authrefresh.shared.backend_error{credential=orders-api,kind=refused}"),
            2u);
}

// A sink that declines every instrument (returns null): nothing is recorded
// and nothing breaks; the gauge's registration is null too.
class DecliningSink : public MetricsSink {
 public:
  std::unique_ptr<Counter> MakeCounter(const MetricInstrument&, const MetricAttributes&) override {
    ++asked;
    return nullptr;
  }
  std::unique_ptr<Histogram> MakeHistogram(const MetricInstrument&,
                                           const MetricAttributes&) override {
    ++asked;
    return nullptr;
  }
  std::unique_ptr<Observation> ObserveGauge(const MetricInstrument&, const MetricAttributes&,
                                            Observer) override {
    ++asked;
    return nullptr;
  }
  int asked = 0;
};

TEST(ManagerMetrics, ASinkMayDeclineEveryInstrument) {
  auto sink = std::make_shared<DecliningSink>();
  ManagerMetrics m({sink, "x"});
  EXPECT_EQ(m.ObserveExpiry([] { return 1.0; }), nullptr);
  m.RefreshEnded(ManagerMetrics::Outcome::kSuccess, false, absl::Seconds(1));
  m.CallWaited();
  m.CallFailed(absl::StatusCode::kCancelled);
  EXPECT_EQ(sink->asked, 18);  // each asked once, at creation
}

TEST(ManagerMetrics, WithoutASinkNothingIsAsked) {
  ManagerMetrics m({nullptr, "x"});
  EXPECT_FALSE(m.enabled());
  EXPECT_EQ(m.ObserveExpiry([] { return 1.0; }), nullptr);
}

TEST(MetricInstruments, TheTableListsElevenWithOpenTelemetryNames) {
  ASSERT_EQ(std::size(metric::kAll), 11u);
  for (const MetricInstrument* i : metric::kAll) {
    EXPECT_THAT(std::string(i->name), ::testing::MatchesRegex("authrefresh(\\.[a-z_]+)+"));
    EXPECT_FALSE(i->description.empty()) << i->name;
    EXPECT_EQ(i->boundaries.empty(), i->kind != MetricInstrument::Kind::kHistogram) << i->name;
  }
}

}  // namespace
}  // namespace authrefresh
