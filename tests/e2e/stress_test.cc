// Load while tokens die early, with the default loop protection:
//  * 16 threads x 1000 unary calls while the server's access tokens live
//    50 ms (expires_in, in whole seconds, cannot say so);
//  * 8 threads for 3 s while tokens live 400 ms and the token service
//    answers expires_in: 1 (clock skew, or a server that revokes early).
// No call fails, no refresh token is reused, and refreshes track elapsed
// time / token lifetime, not the number of calls: a token that a server
// accepted and later rejects is an expiry, never a loop.

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/time/clock.h"
#include "gtest/gtest.h"
#include "tests/testing/harness.h"

namespace authrefresh {
namespace {

using testing::Harness;
using testing::HarnessOptions;

int TimeScale() {
  int scale = 1;
  if (const char* s = std::getenv("AUTHREFRESH_TIME_SCALE")) {
    if (!absl::SimpleAtoi(s, &scale) || scale < 1) scale = 1;
  }
  return scale;
}

// What `threads` threads calling Say() back to back saw.
struct Load {
  int calls = 0;
  int failed = 0;
  int first_error_code = -1;  // of the first failed call seen
  absl::Duration elapsed;
};

// Runs `threads` threads that call Say() until each has made `calls_each`
// calls, or, with calls_each 0, until `run` has passed.
Load RunLoad(Harness& h, int threads, int calls_each, absl::Duration run,
             const std::string& text) {
  std::atomic<int> calls{0}, failed{0}, first_error_code{-1};
  const absl::Time start = absl::Now();
  std::vector<std::thread> workers;
  for (int t = 0; t < threads; ++t) {
    workers.emplace_back([&] {
      test::EchoRequest request;
      request.set_text(text);
      for (int i = 0; calls_each > 0 ? i < calls_each : absl::Now() - start < run; ++i) {
        grpc::ClientContext ctx;
        ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(20));
        test::EchoReply reply;
        grpc::Status s = h.stub().Say(&ctx, request, &reply);
        ++calls;
        if (!s.ok()) {
          ++failed;
          int expected = -1;
          first_error_code.compare_exchange_strong(expected, s.error_code());
        }
      }
    });
  }
  for (auto& w : workers) w.join();
  return Load{calls.load(), failed.load(), first_error_code.load(), absl::Now() - start};
}

TEST(Stress, SixteenThreadsThousandCallsEachWhileTokensExpireEvery50ms) {
  // Sanitizer builds run several times slower; they scale the token lifetime
  // (AUTHREFRESH_TIME_SCALE, set by --config=asan), since a token that
  // expires before a call's round trip ends cannot be helped by any client.
  const int scale = TimeScale();
  const absl::Duration kTtl = absl::Milliseconds(50) * scale;
  constexpr int kThreads = 16;
  constexpr int kCallsPerThread = 1000;
  HarnessOptions options;
  options.servers.access_ttl = kTtl;
  Harness h(options);  // default loop protection (min_refresh_interval 1 s)

  const Load load = RunLoad(h, kThreads, kCallsPerThread, absl::ZeroDuration(), "stress");
  const absl::Duration elapsed = load.elapsed;

  const TokenManagerStats stats = h.manager()->Stats();
  const double periods = elapsed / kTtl;
  std::printf("token lifetime %.0f ms; elapsed %.0f ms = %.0f token lifetimes; refreshes %llu; replays "
              "%llu; server hits %d for %d calls\n",
              absl::ToDoubleMilliseconds(kTtl), absl::ToDoubleMilliseconds(elapsed),
              periods,
              static_cast<unsigned long long>(stats.refreshes_succeeded),
              static_cast<unsigned long long>(stats.calls_replayed),
              h.echo().hits(), kThreads * kCallsPerThread);
  EXPECT_EQ(load.calls, kThreads * kCallsPerThread);
  EXPECT_EQ(load.failed, 0) << "first error code " << load.first_error_code;
  EXPECT_EQ(h.authority().reuse_detected(), 0);
  EXPECT_EQ(stats.refreshes_failed, 0u);
  // At most one refresh per token lifetime (plus the first), and not one per
  // call: each lifetime needs one, started by its first rejection.
  EXPECT_LE(stats.refreshes_succeeded, periods + 2);
  EXPECT_GE(stats.refreshes_succeeded, periods / 4);
  EXPECT_EQ(h.echo().hits(), kThreads * kCallsPerThread +
                                 static_cast<int>(stats.calls_replayed));
}

TEST(Stress, TokensThatDieBeforeTheirExpiresInNeverFailACall) {
  const int scale = TimeScale();
  const absl::Duration kRealLifetime = absl::Milliseconds(400) * scale;
  const absl::Duration kRun = absl::Seconds(3) * scale;
  constexpr int kThreads = 8;
  HarnessOptions options;
  options.servers.access_ttl = kRealLifetime;
  Harness h(options);  // default options: min_refresh_interval 1 s
  h.authority().set_advertised_expires_in(absl::Seconds(1) * scale);

  const Load load = RunLoad(h, kThreads, 0, kRun, "early death");
  const absl::Duration elapsed = load.elapsed;
  const TokenManagerStats stats = h.manager()->Stats();
  const double lifetimes = elapsed / kRealLifetime;
  std::printf("tokens live %.0f ms, expires_in says %.0f s; %d calls in %.0f ms "
              "(%.1f lifetimes): %d failed, %llu refreshes, %llu replays\n",
              absl::ToDoubleMilliseconds(kRealLifetime), 1.0 * scale, load.calls,
              absl::ToDoubleMilliseconds(elapsed), lifetimes, load.failed,
              static_cast<unsigned long long>(stats.refreshes_succeeded),
              static_cast<unsigned long long>(stats.calls_replayed));
  EXPECT_EQ(load.failed, 0) << "first error code " << load.first_error_code;
  EXPECT_EQ(h.authority().reuse_detected(), 0);
  EXPECT_EQ(stats.refreshes_failed, 0u);
  // One refresh per lifetime, give or take the first and the last.
  EXPECT_LE(stats.refreshes_succeeded, lifetimes + 2);
  EXPECT_GE(stats.refreshes_succeeded, lifetimes - 2);
}

}  // namespace
}  // namespace authrefresh
