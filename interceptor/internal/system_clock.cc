// SystemClock(): absl::Now() and grpc::Alarm timers, which run on gRPC's
// executor threads (never inline, never on a thread of ours).

#include <algorithm>
#include <atomic>
#include <chrono>
#include <memory>
#include <mutex>

#include "absl/time/clock.h"
#include "grpcpp/alarm.h"
#include "interceptor/clock.h"
#include "interceptor/internal/system_clock.h"

namespace authrefresh {
namespace {

class AlarmTimer final : public Clock::Timer {
 public:
  enum State { kPending, kFired, kCancelled };

  bool Cancel() override {
    int expected = kPending;
    if (!state_.compare_exchange_strong(expected, kCancelled)) return false;
    // Fire the alarm early so its resources go now, not at the deadline. The
    // lock only guards the pointer; the gRPC call is made outside it.
    std::shared_ptr<grpc::Alarm> alarm;
    {
      std::lock_guard<std::mutex> lock(mu_);
      alarm = alarm_;
    }
    if (alarm != nullptr) alarm->Cancel();
    return true;
  }

  // Runs `fn` at `when` unless cancelled first. The callback releases the
  // timer's reference to the alarm (destroying an alarm from its own
  // callback is allowed), which also ends the timer <-> callback cycle.
  static std::shared_ptr<AlarmTimer> Start(absl::Time when,
                                           std::function<void()> fn) {
    auto timer = std::make_shared<AlarmTimer>();
    auto alarm = std::make_shared<grpc::Alarm>();
    {
      std::lock_guard<std::mutex> lock(timer->mu_);
      timer->alarm_ = alarm;
    }
    // grpc::Alarm needs a representable deadline: clamp the infinities.
    const absl::Time now = absl::Now();
    const auto deadline = absl::ToChronoTime(
        when == absl::InfiniteFuture() ? now + absl::Hours(24 * 365)
                                       : std::max(when, now));
    alarm->Set(deadline, [timer, fn = std::move(fn)](bool) mutable {
      int expected = kPending;
      if (timer->state_.compare_exchange_strong(expected, kFired)) fn();
      fn = nullptr;
      std::shared_ptr<grpc::Alarm> self;
      {
        std::lock_guard<std::mutex> lock(timer->mu_);
        self = std::move(timer->alarm_);
      }
      // `self` goes here, or in a concurrent Cancel() that holds a copy.
    });
    return timer;
  }

 private:
  std::atomic<int> state_{kPending};
  std::mutex mu_;
  std::shared_ptr<grpc::Alarm> alarm_;  // guarded by mu_; null once fired
};

class GrpcAlarmClock final : public Clock {
 public:
  absl::Time Now() override { return absl::Now(); }
  std::shared_ptr<Timer> Schedule(absl::Time when,
                                  std::function<void()> fn) override {
    return AlarmTimer::Start(when, std::move(fn));
  }
};

}  // namespace

std::shared_ptr<Clock> SystemClock() {
  static const auto* const clock = new std::shared_ptr<Clock>(
      std::make_shared<GrpcAlarmClock>());
  return *clock;
}

namespace internal {

void RunSoon(std::function<void()> fn) {
  SystemClock()->Schedule(absl::InfinitePast(), std::move(fn));
}

}  // namespace internal

}  // namespace authrefresh
