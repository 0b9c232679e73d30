// interceptor/internal/system_clock.h
//
// `RunSoon()`, on the same gRPC executor threads that run SystemClock()'s
// timers (clock.h declares SystemClock itself).

#ifndef AUTHREFRESH_INTERCEPTOR_INTERNAL_SYSTEM_CLOCK_H_
#define AUTHREFRESH_INTERCEPTOR_INTERNAL_SYSTEM_CLOCK_H_

#include <functional>

namespace authrefresh {
namespace internal {

// Runs `fn` soon on one of gRPC's threads (grpc::Alarm), never inline. For
// work that must not run where it was decided: inside a PRE_SEND_CANCEL hook,
// which runs under the ClientContext's lock, or dropping the last reference
// to a channel from one of gRPC's own callback threads.
void RunSoon(std::function<void()> fn);

}  // namespace internal
}  // namespace authrefresh

#endif  // AUTHREFRESH_INTERCEPTOR_INTERNAL_SYSTEM_CLOCK_H_
