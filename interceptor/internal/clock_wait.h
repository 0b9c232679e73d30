// interceptor/internal/clock_wait.h
//
// Waiting on a Clock's time, for authrefresh's own worker threads (the
// shared refresher's and the backends' I/O): with a fake clock, a test ends
// such a wait by advancing time, never by sleeping.

#ifndef AUTHREFRESH_INTERCEPTOR_INTERNAL_CLOCK_WAIT_H_
#define AUTHREFRESH_INTERCEPTOR_INTERNAL_CLOCK_WAIT_H_

#include <memory>

#include "absl/time/time.h"
#include "interceptor/clock.h"

namespace authrefresh {
namespace internal {

// Blocks the calling thread until `clock` reaches `when` (at once if it has).
// Never call it on a gRPC or application thread.
void SleepUntil(Clock& clock, absl::Time when);

// `clock`, or SystemClock() when it is null.
std::shared_ptr<Clock> ClockOrSystem(std::shared_ptr<Clock> clock);

}  // namespace internal
}  // namespace authrefresh

#endif  // AUTHREFRESH_INTERCEPTOR_INTERNAL_CLOCK_WAIT_H_
