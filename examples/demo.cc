// bazel run //examples:demo
//
// One process, all on 127.0.0.1: a TokenService that issues 2-second access
// tokens and rotates refresh tokens (detecting reuse), a resource service
// that rejects expired or revoked tokens, and 32 client workers calling it
// through authrefresh for 10 seconds. Every 3 seconds the server also revokes
// every access token, as a key rotation would. Prints a line per second and a
// summary; exits non-zero if any call failed.

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "grpcpp/create_channel.h"
#include "interceptor/authrefresh.h"
#include "tests/protos/echo.grpc.pb.h"
#include "tests/testing/mock_servers.h"

namespace {

struct Flags {
  int workers = 32;
  int seconds = 10;
  int token_ttl_seconds = 2;
  int revoke_every_seconds = 3;
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
  }
  return f;
}

double Percentile(std::vector<double>& v, double p) {
  if (v.empty()) return 0;
  const size_t i = std::min(v.size() - 1, static_cast<size_t>(p * v.size()));
  std::nth_element(v.begin(), v.begin() + i, v.end());
  return v[i];
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

  // --- What an application writes (see examples/quickstart.cc). ---
  authrefresh::TokenManagerOptions manager_options;
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
  for (int second = 1; second <= flags.seconds; ++second) {
    const absl::Time tick = start + absl::Seconds(second);
    while (absl::Now() < tick) {
      if (absl::Now() >= next_revoke) {
        servers.authority().RevokeAccessTokens();
        next_revoke += absl::Seconds(flags.revoke_every_seconds);
      }
      absl::SleepFor(std::min(tick, next_revoke) - absl::Now());  // pacing, not sync
    }
    const authrefresh::TokenManagerStats stats = manager->Stats();
    std::printf("t=%2ds  ok=%-8lld failed=%-3lld refreshes=%-3llu replays=%-4llu "
                "waited=%llu\n",
                second, static_cast<long long>(ok.load()),
                static_cast<long long>(failed.load()),
                static_cast<unsigned long long>(stats.refreshes_succeeded),
                static_cast<unsigned long long>(stats.calls_replayed),
                static_cast<unsigned long long>(stats.calls_waited));
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
