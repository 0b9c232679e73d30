// SystemClock() and RunSoon() (internal/system_clock): timers on gRPC's
// threads, never inline, cancellable.

#include "interceptor/internal/system_clock.h"

#include <thread>

#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "gtest/gtest.h"
#include "interceptor/clock.h"

namespace authrefresh {
namespace {

TEST(SystemClock, ATimerRunsOnAnotherThreadNotBeforeItsTime) {
  std::shared_ptr<Clock> clock = SystemClock();
  EXPECT_EQ(clock, SystemClock());  // one, shared
  const absl::Time when = clock->Now() + absl::Milliseconds(50);
  absl::Notification fired;
  std::thread::id ran_on;
  absl::Time ran_at;
  std::shared_ptr<Clock::Timer> timer = clock->Schedule(when, [&] {
    ran_on = std::this_thread::get_id();
    ran_at = absl::Now();
    fired.Notify();
  });
  ASSERT_TRUE(fired.WaitForNotificationWithTimeout(absl::Seconds(30)));
  EXPECT_NE(ran_on, std::this_thread::get_id());
  EXPECT_GE(ran_at, when);
  EXPECT_FALSE(timer->Cancel());  // it ran
}

TEST(SystemClock, ACancelledTimerNeverRunsAndAPastTimeIsNotInline) {
  std::shared_ptr<Clock> clock = SystemClock();
  std::atomic<bool> ran{false};
  std::shared_ptr<Clock::Timer> timer =
      clock->Schedule(clock->Now() + absl::Hours(1), [&] { ran = true; });
  EXPECT_TRUE(timer->Cancel());
  EXPECT_FALSE(timer->Cancel());
  // Due already: still on another thread, after Schedule returns.
  absl::Notification fired;
  std::thread::id ran_on = std::this_thread::get_id();
  clock->Schedule(absl::InfinitePast(), [&] {
    ran_on = std::this_thread::get_id();
    fired.Notify();
  });
  ASSERT_TRUE(fired.WaitForNotificationWithTimeout(absl::Seconds(30)));
  EXPECT_NE(ran_on, std::this_thread::get_id());
  EXPECT_FALSE(ran);
}

TEST(RunSoon, RunsOnAnotherThread) {
  absl::Notification done;
  std::thread::id ran_on = std::this_thread::get_id();
  internal::RunSoon([&] {
    ran_on = std::this_thread::get_id();
    done.Notify();
  });
  ASSERT_TRUE(done.WaitForNotificationWithTimeout(absl::Seconds(30)));
  EXPECT_NE(ran_on, std::this_thread::get_id());
}

}  // namespace
}  // namespace authrefresh
