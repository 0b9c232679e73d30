// 16 threads x 1000 unary calls while the server's access tokens live 50 ms:
// no call fails, no refresh token is reused, and refreshes track elapsed
// time / token lifetime, not the number of calls.

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

TEST(Stress, SixteenThreadsThousandCallsEachWhileTokensExpireEvery50ms) {
  // Sanitizer builds run several times slower; they scale the token lifetime
  // (AUTHREFRESH_TIME_SCALE, set by --config=asan), since a token that
  // expires before a call's round trip ends cannot be helped by any client.
  int scale = 1;
  if (const char* s = std::getenv("AUTHREFRESH_TIME_SCALE")) {
    if (!absl::SimpleAtoi(s, &scale) || scale < 1) scale = 1;
  }
  const absl::Duration kTtl = absl::Milliseconds(50) * scale;
  constexpr int kThreads = 16;
  constexpr int kCallsPerThread = 1000;
  HarnessOptions options;
  options.servers.access_ttl = kTtl;
  // Tokens here live 50 ms and expires_in (whole seconds) cannot say so:
  // loop protection must allow a rejection-driven refresh every 50 ms.
  options.manager.min_refresh_interval = absl::Milliseconds(10) * scale;
  Harness h(options);

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

}  // namespace
}  // namespace authrefresh
