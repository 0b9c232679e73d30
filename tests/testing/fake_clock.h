// A Clock whose time moves only when the test says so. Due timers run on the
// test's thread, inside Advance/AdvanceTo, outside the clock's lock.

#ifndef AUTHREFRESH_TESTS_TESTING_FAKE_CLOCK_H_
#define AUTHREFRESH_TESTS_TESTING_FAKE_CLOCK_H_

#include <atomic>
#include <map>
#include <memory>
#include <thread>
#include <utility>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "interceptor/clock.h"

namespace authrefresh {
namespace testing {

class FakeClock final : public Clock {
 public:
  explicit FakeClock(absl::Time start = absl::FromUnixSeconds(1'700'000'000))
      : now_(start) {}

  absl::Time Now() override {
    absl::MutexLock lock(&mu_);
    return now_;
  }

  std::shared_ptr<Timer> Schedule(absl::Time when,
                                  std::function<void()> fn) override {
    auto timer = std::make_shared<FakeTimer>(std::move(fn));
    absl::MutexLock lock(&mu_);
    timers_.emplace(std::make_pair(when, next_++), timer);
    return timer;
  }

  // Moves time forward and runs every timer due by then, in time order.
  void Advance(absl::Duration d) { AdvanceTo(Now() + d); }
  void AdvanceTo(absl::Time t) {
    for (;;) {
      std::shared_ptr<FakeTimer> due;
      {
        absl::MutexLock lock(&mu_);
        auto it = timers_.begin();
        if (it == timers_.end() || it->first.first > t) {
          if (t > now_) now_ = t;
          return;
        }
        if (it->first.first > now_) now_ = it->first.first;
        due = it->second;
        timers_.erase(it);
      }
      due->Fire();
    }
  }

  // Timers scheduled and neither run nor cancelled.
  int PendingTimers() {
    absl::MutexLock lock(&mu_);
    int n = 0;
    for (const auto& [key, t] : timers_) n += t->pending() ? 1 : 0;
    return n;
  }

  // Blocks until a timer is pending (a real condition, no sleep), e.g. until
  // code running on another thread has scheduled its retry.
  void AwaitTimer() {
    absl::MutexLock lock(&mu_);
    auto any = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
      for (const auto& [key, t] : timers_) {
        if (t->pending()) return true;
      }
      return false;
    };
    mu_.Await(absl::Condition(&any));
  }

  // The earliest pending timer's time (InfiniteFuture if none).
  absl::Time NextTimer() {
    absl::MutexLock lock(&mu_);
    for (const auto& [key, t] : timers_) {
      if (t->pending()) return key.first;
    }
    return absl::InfiniteFuture();
  }

 private:
  class FakeTimer final : public Timer {
   public:
    explicit FakeTimer(std::function<void()> fn) : fn_(std::move(fn)) {}
    bool Cancel() override {
      absl::MutexLock lock(&mu_);
      if (state_ != kPending) return false;
      state_ = kCancelled;
      return true;
    }
    void Fire() {
      {
        absl::MutexLock lock(&mu_);
        if (state_ != kPending) return;
        state_ = kFired;
      }
      fn_();
    }
    bool pending() {
      absl::MutexLock lock(&mu_);
      return state_ == kPending;
    }

   private:
    enum State { kPending, kFired, kCancelled };
    absl::Mutex mu_;
    State state_ ABSL_GUARDED_BY(mu_) = kPending;
    std::function<void()> fn_;
  };

  absl::Mutex mu_;
  absl::Time now_ ABSL_GUARDED_BY(mu_);
  uint64_t next_ ABSL_GUARDED_BY(mu_) = 0;
  std::map<std::pair<absl::Time, uint64_t>, std::shared_ptr<FakeTimer>> timers_
      ABSL_GUARDED_BY(mu_);
};

// Runs `fn` on a thread of its own, and while it runs moves `clock` from one
// timer to the next (a thread that sleeps on the clock waits on one of its
// timers), so that code that waits on the clock runs through its waits in no
// real time. Returns when `fn` has returned, with the clock's time then.
template <typename Fn>
absl::Time RunAdvancingClock(FakeClock& clock, Fn fn) {
  std::atomic<bool> done{false};
  std::thread runner([&] {
    fn();
    done = true;
  });
  while (!done) {
    // `fn` sleeps on a timer, or runs between two waits on its thread.
    if (clock.PendingTimers() > 0) {
      clock.AdvanceTo(clock.NextTimer());
    } else {
      std::this_thread::yield();
    }
  }
  runner.join();
  return clock.Now();
}

}  // namespace testing
}  // namespace authrefresh

#endif  // AUTHREFRESH_TESTS_TESTING_FAKE_CLOCK_H_
