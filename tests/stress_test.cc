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

  std::atomic<int> failed{0};
  std::atomic<int> first_error_code{-1};
  const absl::Time start = absl::Now();
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&] {
      test::EchoRequest request;
      request.set_text("stress");
      for (int i = 0; i < kCallsPerThread; ++i) {
        grpc::ClientContext ctx;
        ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(20));
        test::EchoReply reply;
        grpc::Status s = h.stub().Say(&ctx, request, &reply);
        if (!s.ok()) {
          ++failed;
          int expected = -1;
          first_error_code.compare_exchange_strong(expected, s.error_code());
        }
      }
    });
  }
  for (auto& t : threads) t.join();
  const absl::Duration elapsed = absl::Now() - start;

  const TokenManagerStats stats = h.manager()->Stats();
  const double periods = elapsed / kTtl;
  std::printf("token lifetime %.0f ms; elapsed %.0f ms = %.0f token lifetimes; refreshes %llu; replays "
              "%llu; server hits %d for %d calls\n",
              absl::ToDoubleMilliseconds(kTtl), absl::ToDoubleMilliseconds(elapsed),
              periods,
              static_cast<unsigned long long>(stats.refreshes_succeeded),
              static_cast<unsigned long long>(stats.calls_replayed),
              h.echo().hits(), kThreads * kCallsPerThread);
  EXPECT_EQ(failed.load(), 0) << "first error code " << first_error_code.load();
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

  std::atomic<int> calls{0}, failed{0};
  std::atomic<int> first_error_code{-1};
  const absl::Time start = absl::Now();
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&] {
      test::EchoRequest request;
      request.set_text("early death");
      while (absl::Now() - start < kRun) {
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
  for (auto& t : threads) t.join();
  const absl::Duration elapsed = absl::Now() - start;
  const TokenManagerStats stats = h.manager()->Stats();
  const double lifetimes = elapsed / kRealLifetime;
  std::printf("tokens live %.0f ms, expires_in says %.0f s; %d calls in %.0f ms "
              "(%.1f lifetimes): %d failed, %llu refreshes, %llu replays\n",
              absl::ToDoubleMilliseconds(kRealLifetime), 1.0 * scale, calls.load(),
              absl::ToDoubleMilliseconds(elapsed), lifetimes, failed.load(),
              static_cast<unsigned long long>(stats.refreshes_succeeded),
              static_cast<unsigned long long>(stats.calls_replayed));
  EXPECT_EQ(failed.load(), 0) << "first error code " << first_error_code.load();
  EXPECT_EQ(h.authority().reuse_detected(), 0);
  EXPECT_EQ(stats.refreshes_failed, 0u);
  // One refresh per lifetime, give or take the first and the last.
  EXPECT_LE(stats.refreshes_succeeded, lifetimes + 2);
  EXPECT_GE(stats.refreshes_succeeded, lifetimes - 2);
}

}  // namespace
}  // namespace authrefresh
