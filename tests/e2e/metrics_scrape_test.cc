// Metrics an operator scrapes: a TokenManager with the Prometheus adapter,
// prometheus-cpp's Exposer on 127.0.0.1, real gRPC servers, and a scripted
// revocation; /metrics is fetched over HTTP (libcurl) and its exact counter
// values and histogram counts are checked against the servers' own counts.

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "curl/curl.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "interceptor/prometheus_metrics.h"
#include "prometheus/exposer.h"
#include "prometheus/registry.h"
#include "tests/testing/harness.h"
#include "tests/testing/recording_metrics.h"
#include "tests/testing/status_matchers.h"

namespace authrefresh {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;
using testing::Harness;
using testing::HarnessOptions;
using testing::IsOk;
using testing::RecordingMetrics;
using testing::StatusIs;

// Forwards every instrument to two sinks: the Prometheus one under test, and
// a recording one the test waits on (a real condition, no sleep).
class Tee : public MetricsSink {
 public:
  Tee(std::shared_ptr<MetricsSink> a, std::shared_ptr<MetricsSink> b)
      : a_(std::move(a)), b_(std::move(b)) {}
  std::unique_ptr<Counter> MakeCounter(const MetricInstrument& i,
                                       const MetricAttributes& attrs) override {
    struct Both : Counter {
      std::unique_ptr<Counter> a, b;
      void Add(uint64_t v) override {
        a->Add(v);
        b->Add(v);
      }
    };
    auto both = std::make_unique<Both>();
    both->a = a_->MakeCounter(i, attrs);
    both->b = b_->MakeCounter(i, attrs);
    return both;
  }
  std::unique_ptr<Histogram> MakeHistogram(const MetricInstrument& i,
                                           const MetricAttributes& attrs) override {
    return a_->MakeHistogram(i, attrs);
  }
  std::unique_ptr<Observation> ObserveGauge(const MetricInstrument& i,
                                            const MetricAttributes& attrs,
                                            Observer observer) override {
    return a_->ObserveGauge(i, attrs, std::move(observer));
  }

 private:
  const std::shared_ptr<MetricsSink> a_, b_;
};

// GET http://127.0.0.1:<port>/metrics.
std::string Scrape(int port) {
  std::string body;
  CURL* curl = curl_easy_init();
  const std::string url = absl::StrCat("http://127.0.0.1:", port, "/metrics");
  curl_easy_setopt(curl, CURLOPT_URL, url.c_str());
  curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, 10'000L);
  curl_easy_setopt(
      curl, CURLOPT_WRITEFUNCTION, +[](char* p, size_t size, size_t n, void* out) {
        static_cast<std::string*>(out)->append(p, size * n);
        return size * n;
      });
  curl_easy_setopt(curl, CURLOPT_WRITEDATA, &body);
  const CURLcode rc = curl_easy_perform(curl);
  long status = 0;
  curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
  curl_easy_cleanup(curl);
  EXPECT_EQ(rc, CURLE_OK) << curl_easy_strerror(rc);
  EXPECT_EQ(status, 200);
  return body;
}

// "name{labels}" -> value, from the text exposition format.
std::map<std::string, double> Samples(const std::string& body) {
  std::map<std::string, double> out;
  for (absl::string_view line : absl::StrSplit(body, '\n')) {
    if (line.empty() || line[0] == '#') continue;
    const size_t space = line.rfind(' ');
    double v = 0;
    if (space == absl::string_view::npos || !absl::SimpleAtod(line.substr(space + 1), &v)) {
      ADD_FAILURE() << "unparsable sample: " << line;
      continue;
    }
    out[std::string(line.substr(0, space))] = v;
  }
  return out;
}

class MetricsScrape : public ::testing::Test {
 protected:
  MetricsScrape() {
    registry_ = std::make_shared<prometheus::Registry>();
    prometheus_ = *MakePrometheusMetrics(registry_);
    exposer_ = std::make_unique<prometheus::Exposer>("127.0.0.1:0");
    exposer_->RegisterCollectable(registry_);
    exposer_->RegisterCollectable(prometheus_);
  }
  int port() const { return exposer_->GetListeningPorts().at(0); }
  HarnessOptions Options() {
    HarnessOptions o;
    o.manager.metrics = {std::make_shared<Tee>(prometheus_, recorded_), "orders"};
    return o;
  }

  std::shared_ptr<prometheus::Registry> registry_;
  std::shared_ptr<PrometheusMetrics> prometheus_;
  std::unique_ptr<prometheus::Exposer> exposer_;
  std::shared_ptr<RecordingMetrics> recorded_ = std::make_shared<RecordingMetrics>();
};

constexpr int kCalls = 32;

TEST_F(MetricsScrape, ARevocationStormAndAnEndedSessionAreCountedExactly) {
  Harness h(Options());
  for (int i = 0; i < 10; ++i) ASSERT_THAT(h.Say("warm"), IsOk());
  {
    const std::map<std::string, double> s = Samples(Scrape(port()));
    EXPECT_EQ(s.at("authrefresh_call_waited_total{credential=\"orders\"}"), 0);
    EXPECT_EQ(s.at("authrefresh_refresh_count_total{credential=\"orders\",outcome=\"success\","
                   "reason=\"demand\"}"),
              0);
    const double expires_in =
        s.at("authrefresh_token_expires_in_seconds{credential=\"orders\"}");
    EXPECT_GT(expires_in, 3500);  // the login's 1-hour token
    EXPECT_LE(expires_in, 3600);
  }

  // The storm: every call's token is revoked. All kCalls first attempts
  // reach the server with it (held there on arrival, so that none sees the
  // first rejection and waits before sending), and the one refresh is held
  // until all kCalls replays wait for it.
  h.authority().RevokeAccessTokens();
  h.tokens().Hold();
  h.echo().Pause();
  std::vector<Harness::Outcome> out = h.Storm(kCalls, [&] {
    h.echo().AwaitPaused(kCalls);
    h.echo().Resume();
    h.tokens().AwaitHeld(1);
    ASSERT_TRUE(recorded_->AwaitCount("authrefresh.call.waited{credential=orders}", kCalls,
                                      absl::Seconds(30)));
    h.tokens().Release();
  });
  for (const auto& o : out) ASSERT_THAT(o.status, IsOk());
  ASSERT_EQ(h.echo().hits(), 10 + 2 * kCalls);
  ASSERT_EQ(h.tokens().calls(), 1);

  // The session ends: the next call's replay waits for a refresh that the
  // token service refuses; the call after it fails at once.
  h.authority().RevokeAccessTokens();
  h.authority().RevokeRefreshTokens();
  EXPECT_THAT(h.Say("ended"), StatusIs(absl::StatusCode::kUnauthenticated,
                                       HasSubstr("session expired")));
  EXPECT_THAT(h.Say("after"), StatusIs(absl::StatusCode::kUnauthenticated,
                                       HasSubstr("session expired")));
  ASSERT_EQ(h.echo().hits(), 10 + 2 * kCalls + 1);
  ASSERT_EQ(h.tokens().calls(), 2);

  const std::string body = Scrape(port());
  const std::map<std::string, double> s = Samples(body);
  const auto refreshes = [&](const char* outcome, const char* reason) {
    return s.at(absl::StrCat("authrefresh_refresh_count_total{credential=\"orders\",outcome=\"",
                             outcome, "\",reason=\"", reason, "\"}"));
  };
  EXPECT_EQ(refreshes("success", "demand"), 1);
  EXPECT_EQ(refreshes("session_expired", "demand"), 1);
  EXPECT_EQ(refreshes("failure", "demand"), 0);
  EXPECT_EQ(refreshes("success", "proactive"), 0);
  EXPECT_EQ(s.at("authrefresh_refresh_duration_seconds_count{credential=\"orders\","
                 "outcome=\"success\"}"),
            1);
  EXPECT_EQ(s.at("authrefresh_refresh_duration_seconds_count{credential=\"orders\","
                 "outcome=\"failure\"}"),
            1);
  // kCalls replays that waited, plus the ended call's replay.
  EXPECT_EQ(s.at("authrefresh_call_waited_total{credential=\"orders\"}"), kCalls + 1);
  EXPECT_EQ(s.at("authrefresh_call_replayed_total{credential=\"orders\"}"), kCalls + 1);
  EXPECT_EQ(s.at("authrefresh_call_rejected_total{credential=\"orders\"}"), kCalls + 1);
  EXPECT_EQ(s.at("authrefresh_call_failed_total{code=\"UNAUTHENTICATED\",credential=\"orders\"}"),
            2);
  EXPECT_EQ(s.at("authrefresh_call_failed_total{code=\"UNAVAILABLE\",credential=\"orders\"}"), 0);
  // The same as the manager's own counters.
  const TokenManagerStats stats = h.manager()->Stats();
  EXPECT_EQ(stats.calls_waited, static_cast<uint64_t>(kCalls + 1));
  EXPECT_EQ(stats.calls_replayed, static_cast<uint64_t>(kCalls + 1));
  EXPECT_THAT(body, HasSubstr("# TYPE authrefresh_refresh_count_total counter"));
  EXPECT_THAT(body, HasSubstr("# TYPE authrefresh_refresh_duration_seconds histogram"));
  EXPECT_THAT(body, HasSubstr("# TYPE authrefresh_token_expires_in_seconds gauge"));
  // No token, and no fingerprint, in what is scraped.
  const Token now = h.manager()->CurrentToken();
  EXPECT_THAT(body, Not(HasSubstr(now.access_token)));
  EXPECT_THAT(body, Not(HasSubstr(now.refresh_token)));
  EXPECT_THAT(body, Not(HasSubstr(TokenFingerprint(now.access_token))));

  // Once the manager is gone, its gauge is no longer scraped; counters stay.
  h.DropClient();
  const std::map<std::string, double> after = Samples(Scrape(port()));
  EXPECT_EQ(after.count("authrefresh_token_expires_in_seconds{credential=\"orders\"}"), 0u);
  EXPECT_EQ(after.at("authrefresh_call_waited_total{credential=\"orders\"}"), kCalls + 1);
}

// Two credentials in one registry: one family per instrument, a series each.
TEST_F(MetricsScrape, TwoCredentialsShareTheFamiliesWithTheirOwnSeries) {
  HarnessOptions a = Options();
  HarnessOptions b = Options();
  b.manager.metrics.credential = "billing";
  Harness ha(a);
  Harness hb(b);
  hb.authority().RevokeAccessTokens();
  ASSERT_THAT(hb.Say("one"), IsOk());
  const std::string body = Scrape(port());
  const std::map<std::string, double> s = Samples(body);
  EXPECT_EQ(s.at("authrefresh_call_replayed_total{credential=\"billing\"}"), 1);
  EXPECT_EQ(s.at("authrefresh_call_replayed_total{credential=\"orders\"}"), 0);
  size_t types = 0;
  for (size_t at = body.find("# TYPE authrefresh_call_replayed_total");
       at != std::string::npos; at = body.find("# TYPE authrefresh_call_replayed_total", at + 1)) {
    ++types;
  }
  EXPECT_EQ(types, 1u);
}

TEST(PrometheusMetrics, ANullRegistryIsAClearError) {
  EXPECT_THAT(MakePrometheusMetrics(nullptr).status(),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("registry is null")));
}

TEST(PrometheusMetrics, NamesFollowOpenTelemetrysPrometheusTranslation) {
  EXPECT_EQ(PrometheusName(metric::kRefreshCount), "authrefresh_refresh_count_total");
  EXPECT_EQ(PrometheusName(metric::kRefreshDuration), "authrefresh_refresh_duration_seconds");
  EXPECT_EQ(PrometheusName(metric::kTokenExpiresIn), "authrefresh_token_expires_in_seconds");
  EXPECT_EQ(PrometheusName(metric::kSharedLeaseWait),
            "authrefresh_shared_lease_wait_duration_seconds");
  EXPECT_EQ(PrometheusName(metric::kSharedBackendError), "authrefresh_shared_backend_error_total");
}

}  // namespace
}  // namespace authrefresh
