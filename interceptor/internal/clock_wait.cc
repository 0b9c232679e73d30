#include "interceptor/internal/clock_wait.h"

#include <utility>

#include "absl/synchronization/mutex.h"
#include "interceptor/internal/mutex.h"

namespace authrefresh {
namespace internal {
namespace {

// A one-shot signal; internal::Mutex, so that ThreadSanitizer sees it.
struct Signal {
  Mutex mu;
  absl::CondVar cv;
  bool fired ABSL_GUARDED_BY(mu) = false;
};

}  // namespace

void SleepUntil(Clock& clock, absl::Time when) {
  if (clock.Now() >= when) return;
  auto signal = std::make_shared<Signal>();
  std::shared_ptr<Clock::Timer> timer = clock.Schedule(when, [signal] {
    MutexLock lock(&signal->mu);
    signal->fired = true;
    signal->cv.SignalAll();
  });
  MutexLock lock(&signal->mu);
  while (!signal->fired) signal->mu.Wait(&signal->cv);
}

std::shared_ptr<Clock> ClockOrSystem(std::shared_ptr<Clock> clock) {
  return clock != nullptr ? std::move(clock) : SystemClock();
}

}  // namespace internal
}  // namespace authrefresh
