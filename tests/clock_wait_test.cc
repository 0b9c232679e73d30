// Waiting on a Clock's time (internal/clock_wait).

#include "interceptor/internal/clock_wait.h"

#include <atomic>
#include <thread>

#include "gtest/gtest.h"
#include "tests/testing/fake_clock.h"

namespace authrefresh {
namespace {

using internal::SleepUntil;
using testing::FakeClock;

TEST(SleepUntil, ReturnsWhenTheClockReachesTheTimeAndNotBefore) {
  FakeClock clock;
  const absl::Time until = clock.Now() + absl::Minutes(10);
  std::atomic<bool> woke{false};
  std::thread sleeper([&] {
    SleepUntil(clock, until);
    woke = true;
  });
  clock.AwaitTimer();
  EXPECT_EQ(clock.NextTimer(), until);
  clock.Advance(absl::Minutes(9));
  EXPECT_FALSE(woke);
  clock.Advance(absl::Minutes(1));
  sleeper.join();
  EXPECT_TRUE(woke);
}

TEST(SleepUntil, ATimeAlreadyPassedReturnsAtOnceWithoutATimer) {
  FakeClock clock;
  SleepUntil(clock, clock.Now());
  SleepUntil(clock, clock.Now() - absl::Seconds(1));
  EXPECT_EQ(clock.PendingTimers(), 0);
}

TEST(ClockOrSystem, NullIsTheSystemClock) {
  EXPECT_EQ(internal::ClockOrSystem(nullptr), SystemClock());
  auto fake = std::make_shared<FakeClock>();
  EXPECT_EQ(internal::ClockOrSystem(fake), fake);
}

}  // namespace
}  // namespace authrefresh
