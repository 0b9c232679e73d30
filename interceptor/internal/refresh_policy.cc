#include "interceptor/internal/refresh_policy.h"

#include <openssl/sha.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "interceptor/internal/failure_part.h"
#include "interceptor/token.h"
#include "interceptor/token_refresher.h"

namespace authrefresh {
namespace internal {

bool IsTerminalRefreshError(absl::StatusCode code) {
  switch (code) {
    case absl::StatusCode::kUnauthenticated:
    case absl::StatusCode::kPermissionDenied:
    case absl::StatusCode::kInvalidArgument:
    case absl::StatusCode::kFailedPrecondition:
      return true;
    default:
      return false;
  }
}

std::string Redact(absl::string_view text, const std::vector<absl::string_view>& secrets) {
  std::string out(text);
  for (absl::string_view secret : secrets) {
    if (!secret.empty()) absl::StrReplaceAll({{secret, TokenFingerprint(secret)}}, &out);
  }
  return out;
}

GrantFailure ExamineGrantFailure(const absl::Status& cause, bool presented_refresh_token,
                                 int max_attempts,
                                 const std::vector<absl::string_view>& secrets) {
  GrantFailure f;
  const std::string message = Redact(cause.message(), secrets);
  f.described = absl::StrCat(absl::StatusCodeToString(cause.code()), ": ", message);
  f.event_reason = absl::Status(cause.code(), message);
  f.terminal = IsTerminalRefreshError(cause.code());
  const FailurePart part = FailurePartOf(cause);
  if (f.terminal) {
    f.reason = cause.code() == absl::StatusCode::kUnauthenticated && presented_refresh_token
                   ? TerminalReason::kSessionExpired
                   : TerminalReason::kClientRejected;
    f.terminal_status = part == FailurePart::kTokenService
                            ? TerminalStatus(f.reason, f.described)
                            : SharedBackendMisconfiguredStatus(f.described);
    return f;
  }
  f.backend_unreachable = part == FailurePart::kSharedBackendUnreachable;
  f.gave_up_status = absl::UnavailableError(
      absl::StrCat("authrefresh: token refresh failed ", std::max(1, max_attempts),
                   " times in a row; last error: ", f.described));
  f.backing_off_status = absl::UnavailableError(absl::StrCat(
      "authrefresh: token refresh is backing off after repeated failures; last error: ",
      f.described));
  if (std::optional<absl::Duration> asked = RetryAfterOf(cause)) {
    f.retry_after = std::min(*asked, absl::Hours(1));
  }
  return f;
}

absl::Status TerminalStatus(TerminalReason reason, absl::string_view described) {
  switch (reason) {
    case TerminalReason::kSessionExpired:
      return absl::UnauthenticatedError(absl::StrCat(
          "authrefresh: session expired, log in again: the token service "
          "rejected the refresh token (",
          described, ")"));
    case TerminalReason::kClientRejected:
      return absl::UnauthenticatedError(absl::StrCat(
          "authrefresh: the token service rejected this client (", described,
          "); fix the client's credentials or configuration: logging in again "
          "will not help"));
  }
  return absl::InternalError("authrefresh: unknown terminal reason");
}

absl::Status SharedBackendMisconfiguredStatus(absl::string_view described) {
  return absl::UnauthenticatedError(absl::StrCat(
      "authrefresh: the shared token backend refused this replica (", described,
      "); fix the backend's configuration (its password, encryption key or file "
      "permissions): logging in again will not help"));
}

absl::Duration BackendRetryDelay(int retries) {
  return std::min(absl::Milliseconds(10) * (int64_t{1} << std::clamp(retries, 0, 4)),
                  kMaxBackendRetryDelay);
}

absl::Status NoRefreshTokenStatus() {
  return absl::UnauthenticatedError(
      "authrefresh: session expired, log in again: the access token was rejected or has "
      "expired, and there is no refresh token");
}

absl::Status DestroyedWhileWaitingStatus() {
  return absl::UnavailableError(
      "authrefresh: the TokenManager was destroyed while the call waited for a token refresh");
}

absl::Status DestroyedStatus() {
  return absl::UnavailableError("authrefresh: the TokenManager was destroyed");
}

double RefreshJitterFraction(absl::string_view access_token, double jitter) {
  unsigned char digest[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(access_token.data()), access_token.size(),
         digest);
  uint64_t bits = 0;
  std::memcpy(&bits, digest, sizeof(bits));
  // The top 53 bits: a double in [0, 1) with every value equally likely.
  const double unit = static_cast<double>(bits >> 11) * 0x1.0p-53;
  return unit * std::clamp(jitter, 0.0, 1.0);
}

Backoff::Backoff(absl::Duration initial, double multiplier, absl::Duration max,
                 double jitter, uint64_t seed)
    : initial_(initial),
      multiplier_(multiplier),
      max_(max),
      jitter_(std::clamp(jitter, 0.0, 1.0)),
      random_(seed != 0 ? seed : std::random_device{}()) {}

Backoff::Backoff(const TokenManagerOptions& options)
    : Backoff(options.initial_backoff, options.backoff_multiplier,
              options.max_backoff, options.backoff_jitter,
              options.jitter_seed) {}

absl::Duration Backoff::DelayAfter(int failures) {
  double seconds = absl::ToDoubleSeconds(initial_) *
                   std::pow(multiplier_, std::max(0, failures - 1));
  seconds = std::min(seconds, absl::ToDoubleSeconds(max_));
  std::uniform_real_distribution<double> factor(1.0 - jitter_, 1.0 + jitter_);
  return absl::Seconds(seconds * factor(random_));
}

}  // namespace internal
}  // namespace authrefresh
