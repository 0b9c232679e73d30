// interceptor/internal/refresh_policy.h
//
// The one place that decides what a refresh failure means (terminal, and
// why, or transient), how it is shown, and when a failed refresh may be
// tried again. Plain values in and out: no locks, no threads, no gRPC.

#ifndef AUTHREFRESH_INTERCEPTOR_INTERNAL_REFRESH_POLICY_H_
#define AUTHREFRESH_INTERCEPTOR_INTERNAL_REFRESH_POLICY_H_

#include <cstdint>
#include <random>

#include <string>

#include "absl/status/status.h"
#include "absl/time/time.h"

namespace authrefresh {
struct TokenManagerOptions;
enum class TerminalReason;

namespace internal {

// True when a token service's error means the refresh token is dead and only
// a new login helps: UNAUTHENTICATED (RFC 6749 invalid_grant),
// PERMISSION_DENIED, INVALID_ARGUMENT, FAILED_PRECONDITION. Every other code
// (UNAVAILABLE, DEADLINE_EXCEEDED, RESOURCE_EXHAUSTED, ABORTED, INTERNAL,
// UNKNOWN, ...) is transient. A malformed response is transient too, but the
// caller decides that: it is not a status from the token service.
bool IsTerminalRefreshError(absl::StatusCode code);

// What a failed grant means.
struct RefreshFailure {
  bool terminal = false;
  TerminalReason reason;  // when terminal
};
// `status` is the refresher's error (`from_service`) or a malformed
// response's (never terminal: the next answer may be well formed).
// UNAUTHENTICATED ends the session when the grant presented a refresh token
// (`presented_refresh_token`); without one there is no session, and it means
// the client's own grant was refused (an assertion or subject token the
// token service rejected, say). PERMISSION_DENIED, INVALID_ARGUMENT and
// FAILED_PRECONDITION mean the client was rejected.
RefreshFailure ClassifyRefreshFailure(const absl::Status& status, bool from_service,
                                      bool presented_refresh_token);

// How a refresh failure's cause is shown, everywhere: "CODE: message" for a
// token service's error (its code once), the message alone for authrefresh's
// own (a malformed response).
std::string DescribeCause(const absl::Status& cause, bool from_service);

// The status calls fail with once refreshing stopped for `reason`;
// `described` is DescribeCause() of what ended it (already redacted).
absl::Status TerminalStatus(TerminalReason reason, const std::string& described);

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
