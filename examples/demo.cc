// bazel run //examples:demo
//
// One process, all on 127.0.0.1: a TokenService that issues 2-second access
// tokens and rotates refresh tokens (detecting reuse), a resource service
// that rejects expired or revoked tokens, and 32 client workers calling it
// through authrefresh for 10 seconds. Every 3 seconds the server also revokes
// every access token, as a key rotation would. The TokenManager's metrics go
// to a Prometheus registry served at http://127.0.0.1:<port>/metrics while it
// runs. Prints a line per second from those metrics (calls/s, refreshes,
// replays, waits), a summary and the final /metrics (fetched over HTTP, the
// histogram buckets left out); exits non-zero if any call failed.

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_split.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "curl/curl.h"
#include "grpcpp/create_channel.h"
#include "interceptor/authrefresh.h"
#include "interceptor/prometheus_metrics.h"
#include "prometheus/exposer.h"
#include "prometheus/registry.h"
#include "tests/protos/echo.grpc.pb.h"
#include "tests/testing/mock_servers.h"

namespace {

struct Flags {
  int workers = 32;
  int seconds = 10;
  int token_ttl_seconds = 2;
  int revoke_every_seconds = 3;
  int metrics = 1;  // 0: no metrics sink (to compare)
};

Flags ParseFlags(int argc, char** argv) {
  Flags f;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    auto value = [&](const char* name, int* out) {
      std::string prefix = std::string("--") + name + "=";
      if (arg.rfind(prefix, 0) == 0 && !absl::SimpleAtoi(arg.substr(prefix.size()), out)) {
        std::fprintf(stderr, "bad value for --%s\n", name);
        std::exit(2);
      }
    };
    value("workers", &f.workers);
    value("seconds", &f.seconds);
    value("token_ttl_seconds", &f.token_ttl_seconds);
    value("revoke_every_seconds", &f.revoke_every_seconds);
    value("metrics", &f.metrics);
  }
  return f;
}

double Percentile(std::vector<double>& v, double p) {
  if (v.empty()) return 0;
  const size_t i = std::min(v.size() - 1, static_cast<size_t>(p * v.size()));
  std::nth_element(v.begin(), v.begin() + i, v.end());
  return v[i];
}

// The sum of every series of the metric family `name` (a counter, or a
// histogram's sample count), as a scrape would show it.
double Total(const std::vector<prometheus::MetricFamily>& families, const std::string& name) {
  double total = 0;
  for (const prometheus::MetricFamily& f : families) {
    if (f.name != name) continue;
    for (const prometheus::ClientMetric& m : f.metric) {
      total += f.type == prometheus::MetricType::Histogram
                   ? static_cast<double>(m.histogram.sample_count)
                   : m.counter.value;
    }
  }
  return total;
}

// GET `url`; empty on failure.
std::string HttpGet(const std::string& url) {
  std::string body;
  CURL* curl = curl_easy_init();
  curl_easy_setopt(curl, CURLOPT_URL, url.c_str());
  curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, 5000L);
  curl_easy_setopt(
      curl, CURLOPT_WRITEFUNCTION, +[](char* p, size_t size, size_t n, void* out) {
        static_cast<std::string*>(out)->append(p, size * n);
        return size * n;
      });
  curl_easy_setopt(curl, CURLOPT_WRITEDATA, &body);
  if (curl_easy_perform(curl) != CURLE_OK) body.clear();
  curl_easy_cleanup(curl);
  return body;
}

}  // namespace

int main(int argc, char** argv) {
  const Flags flags = ParseFlags(argc, argv);
  authrefresh::testing::MockServers::Options server_options;
  server_options.access_ttl = absl::Seconds(flags.token_ttl_seconds);
  authrefresh::testing::MockServers servers(server_options);
  servers.tokens().set_latency(absl::Milliseconds(20));
  std::printf("mock TokenService and Echo service on %s (tokens live %ds, "
              "revoked every %ds)\n",
              servers.address().c_str(), flags.token_ttl_seconds,
              flags.revoke_every_seconds);

  // Metrics: a registry the application owns, served on a free port.
  auto registry = std::make_shared<prometheus::Registry>();
  std::shared_ptr<authrefresh::PrometheusMetrics> metrics =
      *authrefresh::MakePrometheusMetrics(registry);
  prometheus::Exposer exposer("127.0.0.1:0");
  exposer.RegisterCollectable(registry);
  exposer.RegisterCollectable(metrics);
  const std::string metrics_url =
      "http://127.0.0.1:" + std::to_string(exposer.GetListeningPorts().at(0)) + "/metrics";
  std::printf("metrics at %s\n", metrics_url.c_str());

  // --- What an application writes (see examples/quickstart.cc). ---
  authrefresh::TokenManagerOptions manager_options;
  if (flags.metrics != 0) manager_options.metrics = {metrics, "demo"};
  manager_options.on_session_expired = [](const absl::Status& s) {
    std::printf("session expired: %s\n", std::string(s.message()).c_str());
  };
  auto manager = authrefresh::TokenManager::Create(
      servers.authority().Login(),
      authrefresh::MakeGrpcTokenRefresher(
          grpc::CreateChannel(servers.address(), grpc::InsecureChannelCredentials()),
          {.client_id = "demo"}),
      manager_options);
  authrefresh::InterceptorOptions options;
  options.allow_insecure_transport = true;  // loopback demo only: never in production
  auto channel = authrefresh::CreateAuthRefreshChannel(
      servers.address(), grpc::InsecureChannelCredentials(), manager, options);
  auto stub = authrefresh::test::Echo::NewStub(channel);
  // ----------------------------------------------------------------

  std::atomic<int64_t> ok{0}, failed{0};
  std::atomic<bool> stop{false};
  absl::Mutex mu;
  std::vector<double> latencies_ms;  // guarded by mu
  std::string first_error;           // guarded by mu
  std::vector<std::thread> workers;
  for (int w = 0; w < flags.workers; ++w) {
    workers.emplace_back([&, w] {
      std::vector<double> mine;
      authrefresh::test::EchoRequest request;
      request.set_text("worker " + std::to_string(w));
      while (!stop.load()) {
        grpc::ClientContext ctx;
        ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
        authrefresh::test::EchoReply reply;
        const absl::Time start = absl::Now();
        grpc::Status s = stub->Say(&ctx, request, &reply);
        mine.push_back(absl::ToDoubleMilliseconds(absl::Now() - start));
        if (s.ok()) {
          ++ok;
        } else {
          ++failed;
          absl::MutexLock lock(&mu);
          if (first_error.empty()) {
            first_error = std::to_string(s.error_code()) + ": " + s.error_message();
          }
        }
      }
      absl::MutexLock lock(&mu);
      latencies_ms.insert(latencies_ms.end(), mine.begin(), mine.end());
    });
  }

  const absl::Time start = absl::Now();
  absl::Time next_revoke = start + absl::Seconds(flags.revoke_every_seconds);
  int64_t calls_before = 0;
  for (int second = 1; second <= flags.seconds; ++second) {
    const absl::Time tick = start + absl::Seconds(second);
    while (absl::Now() < tick) {
      if (absl::Now() >= next_revoke) {
        servers.authority().RevokeAccessTokens();
        next_revoke += absl::Seconds(flags.revoke_every_seconds);
      }
      absl::SleepFor(std::min(tick, next_revoke) - absl::Now());  // pacing, not sync
    }
    const std::vector<prometheus::MetricFamily> now = registry->Collect();
    const int64_t calls = ok.load() + failed.load();
    std::printf("t=%2ds  calls/s=%-7lld failed=%-3lld refreshes=%-3.0f replays=%-4.0f "
                "waited=%.0f\n",
                second, static_cast<long long>(calls - calls_before),
                static_cast<long long>(failed.load()),
                Total(now, "authrefresh_refresh_duration_seconds"),
                Total(now, "authrefresh_call_replayed_total"),
                Total(now, "authrefresh_call_waited_total"));
    calls_before = calls;
    std::fflush(stdout);
  }
  stop = true;
  for (auto& t : workers) t.join();

  const authrefresh::TokenManagerStats stats = manager->Stats();
  std::vector<double> lat;
  {
    absl::MutexLock lock(&mu);
    lat = latencies_ms;
  }
  const double p50 = Percentile(lat, 0.50), p99 = Percentile(lat, 0.99);
  std::printf("\nsummary: calls ok=%lld failed=%lld | refreshes=%llu (token "
              "service grants=%d, reuse detected=%d) | replays=%llu | waited=%llu "
              "| latency p50=%.2f ms p99=%.2f ms\n",
              static_cast<long long>(ok.load()), static_cast<long long>(failed.load()),
              static_cast<unsigned long long>(stats.refreshes_succeeded),
              servers.authority().grants(), servers.authority().reuse_detected(),
              static_cast<unsigned long long>(stats.calls_replayed),
              static_cast<unsigned long long>(stats.calls_waited), p50, p99);
  std::printf("\n%s, histogram buckets left out:\n", metrics_url.c_str());
  for (absl::string_view line : absl::StrSplit(HttpGet(metrics_url), '\n')) {
    if (absl::StartsWith(line, "authrefresh_") && !absl::StrContains(line, "_bucket{")) {
      std::printf("  %.*s\n", static_cast<int>(line.size()), line.data());
    }
  }
  if (failed.load() > 0) {
    absl::MutexLock lock(&mu);
    std::printf("FAILED: %lld calls failed; first error: %s\n",
                static_cast<long long>(failed.load()), first_error.c_str());
    return 1;
  }
  if (stats.refreshes_succeeded < 2) {
    std::printf("FAILED: expected more than one refresh\n");
    return 1;
  }
  std::printf("OK: every call succeeded across %llu token refreshes\n",
              static_cast<unsigned long long>(stats.refreshes_succeeded));
  return 0;
}
