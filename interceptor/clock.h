// interceptor/clock.h
//
// Defines `Clock`, the source of time and timers for a TokenManager. The
// default, `SystemClock()`, reads absl::Now() and runs timers on gRPC's own
// threads (grpc::Alarm); tests inject a fake to control time exactly.

#ifndef AUTHREFRESH_INTERCEPTOR_CLOCK_H_
#define AUTHREFRESH_INTERCEPTOR_CLOCK_H_

#include <functional>
#include <memory>

#include "absl/time/time.h"

namespace authrefresh {

class Clock {
 public:
  // A scheduled callback.
  class Timer {
   public:
    virtual ~Timer() = default;
    // Prevents the callback from running. Returns true if it will not run;
    // false if it has run or is running. Never blocks, never runs callbacks.
    // Dropping the last reference to a Timer does not cancel it.
    virtual bool Cancel() = 0;
  };

  virtual ~Clock() = default;

  virtual absl::Time Now() = 0;

  // Runs `fn` once, at or after `when`. Never runs it inline (not even when
  // `when` has passed) and never while holding a lock of the caller's.
  virtual std::shared_ptr<Timer> Schedule(absl::Time when,
                                          std::function<void()> fn) = 0;
};

// absl::Now(), with timers on gRPC's executor threads. Shared by every
// TokenManager that is not given a clock.
std::shared_ptr<Clock> SystemClock();

}  // namespace authrefresh

#endif  // AUTHREFRESH_INTERCEPTOR_CLOCK_H_
