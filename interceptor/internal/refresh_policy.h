// interceptor/internal/refresh_policy.h
//
// The one place that decides what a failed grant means and how it is shown
// (the failure-policy table in token_manager.h, in code), which statuses calls
// fail with, and when a failed refresh may be tried again. Plain values in
// and out: no locks, no threads, no gRPC.

#ifndef AUTHREFRESH_INTERCEPTOR_INTERNAL_REFRESH_POLICY_H_
#define AUTHREFRESH_INTERCEPTOR_INTERNAL_REFRESH_POLICY_H_

#include <cstdint>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "interceptor/token_event.h"
#include "interceptor/token_manager_options.h"

namespace authrefresh {
namespace internal {

// True for the codes the failure policy treats as terminal when a token
// service answers with them: UNAUTHENTICATED (invalid_grant),
// PERMISSION_DENIED, INVALID_ARGUMENT and FAILED_PRECONDITION. Which
// TerminalReason they mean is ExamineGrantFailure's to say. Every other code
// is transient.
bool IsTerminalRefreshError(absl::StatusCode code);

// What a refresher's error means, with every message it needs made once,
// outside any lock.
struct GrantFailure {
  bool terminal = false;
  TerminalReason reason = TerminalReason::kSessionExpired;  // when terminal
  // "CODE: message", the secrets replaced by their fingerprints.
  std::string described;
  // The refresher's code and its redacted message (TokenEvent::reason).
  absl::Status event_reason;
  // Terminal: what calls fail with from now on (TerminalStatus, or
  // SharedBackendMisconfiguredStatus).
  absl::Status terminal_status;
  // Transient: what waiting calls fail with when the attempts run out, and
  // what calls fail with while the backoff delay runs.
  absl::Status gave_up_status;
  absl::Status backing_off_status;
  // The delay the token service asked for (WithRetryAfter), at most 1 hour.
  std::optional<absl::Duration> retry_after;
  // The shared token backend cannot be reached right now
  // (FailurePart::kSharedBackendUnreachable): not a failure of the token
  // service. Tried again within BackendRetryDelay(); waiting calls wait on.
  bool backend_unreachable = false;
};

// The pause before the `retries`-th attempt (0 first) of a refresh that found
// the shared backend unreachable: 10 ms, doubling, at most 100 ms, so that
// waiting calls proceed within about 100 ms of the backend's return.
absl::Duration BackendRetryDelay(int retries);
inline constexpr absl::Duration kMaxBackendRetryDelay = absl::Milliseconds(100);

// `cause` is the refresher's error; `presented_refresh_token` whether the
// grant presented one (UNAUTHENTICATED then ends the session; without one
// there is no session, and it means the client's own grant was refused);
// `max_attempts` is TokenManagerOptions::max_refresh_attempts; each of
// `secrets` (the tokens the manager holds and the one the grant presented)
// is replaced by its TokenFingerprint() in every message, since token
// services sometimes echo what they were sent.
GrantFailure ExamineGrantFailure(const absl::Status& cause, bool presented_refresh_token,
                                 int max_attempts,
                                 const std::vector<absl::string_view>& secrets);

// The status calls fail with once refreshing stopped for `reason`;
// `described` says what ended it (already redacted). UNAUTHENTICATED for
// both reasons, as gRPC's own call credentials fail a call whose
// credentials cannot be obtained.
absl::Status TerminalStatus(TerminalReason reason, absl::string_view described);

// TerminalReason::kClientRejected when it was the shared token backend that
// refused (FailurePart::kSharedBackend): UNAUTHENTICATED, naming the backend,
// not the token service.
absl::Status SharedBackendMisconfiguredStatus(absl::string_view described);

// The session ends without a grant: the refresher needs a refresh token and
// the manager has none.
absl::Status NoRefreshTokenStatus();

// What waiting calls fail with when the TokenManager is destroyed, and what
// later calls get from a destroyed one.
absl::Status DestroyedWhileWaitingStatus();
absl::Status DestroyedStatus();

// `text` with each non-empty secret replaced by its TokenFingerprint().
std::string Redact(absl::string_view text, const std::vector<absl::string_view>& secrets);

// Where inside its refresh margin the proactive refresh of the token
// `access_token` starts, as a fraction of the margin in [0, jitter): drawn
// from the token's SHA-256, so every process holding the token picks the
// same point. `jitter` is clamped to [0, 1].
double RefreshJitterFraction(absl::string_view access_token, double jitter);

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
