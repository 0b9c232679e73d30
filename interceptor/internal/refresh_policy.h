// interceptor/internal/refresh_policy.h
//
// The one place that decides what a refresh failure means (terminal or
// transient) and when a failed refresh may be tried again.

#ifndef AUTHREFRESH_INTERCEPTOR_INTERNAL_REFRESH_POLICY_H_
#define AUTHREFRESH_INTERCEPTOR_INTERNAL_REFRESH_POLICY_H_

#include <cstdint>
#include <random>

#include "absl/status/status.h"
#include "absl/time/time.h"

namespace authrefresh {
struct TokenManagerOptions;

namespace internal {

// True when a token service's error means the refresh token is dead and only
// a new login helps: UNAUTHENTICATED (RFC 6749 invalid_grant),
// PERMISSION_DENIED, INVALID_ARGUMENT, FAILED_PRECONDITION. Every other code
// (UNAVAILABLE, DEADLINE_EXCEEDED, RESOURCE_EXHAUSTED, ABORTED, INTERNAL,
// UNKNOWN, ...) is transient. A malformed response is transient too, but the
// caller decides that: it is not a status from the token service.
bool IsTerminalRefreshError(absl::StatusCode code);

// The backoff schedule between failed refresh attempts. Not thread-safe.
class Backoff {
 public:
  Backoff(absl::Duration initial, double multiplier, absl::Duration max,
          double jitter, uint64_t seed);
  explicit Backoff(const TokenManagerOptions& options);

  // The delay after the `failures`-th consecutive failure (1-based):
  // min(initial * multiplier^(failures-1), max) * U[1-jitter, 1+jitter].
  absl::Duration DelayAfter(int failures);

 private:
  absl::Duration initial_;
  double multiplier_;
  absl::Duration max_;
  double jitter_;
  std::mt19937_64 random_;
};

}  // namespace internal
}  // namespace authrefresh

#endif  // AUTHREFRESH_INTERCEPTOR_INTERNAL_REFRESH_POLICY_H_
