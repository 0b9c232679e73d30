#include "interceptor/internal/refresh_policy.h"

#include <algorithm>
#include <cmath>

#include "absl/strings/str_cat.h"

#include "interceptor/token_manager.h"

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

RefreshFailure ClassifyRefreshFailure(const absl::Status& status, bool from_service,
                                      bool presented_refresh_token) {
  RefreshFailure f;
  f.reason = TerminalReason::kSessionExpired;
  if (!from_service || !IsTerminalRefreshError(status.code())) return f;
  f.terminal = true;
  f.reason = status.code() == absl::StatusCode::kUnauthenticated && presented_refresh_token
                 ? TerminalReason::kSessionExpired
                 : TerminalReason::kClientRejected;
  return f;
}

std::string DescribeCause(const absl::Status& cause, bool from_service) {
  if (!from_service) return std::string(cause.message());
  return absl::StrCat(absl::StatusCodeToString(cause.code()), ": ", cause.message());
}

absl::Status TerminalStatus(TerminalReason reason, const std::string& described) {
  switch (reason) {
    case TerminalReason::kSessionExpired:
      return absl::UnauthenticatedError(absl::StrCat(
          "authrefresh: session expired, log in again: the token service "
          "rejected the refresh token (",
          described, ")"));
    case TerminalReason::kClientRejected:
      return absl::FailedPreconditionError(absl::StrCat(
          "authrefresh: the token service rejected this client (", described,
          "); fix the client's credentials or configuration: logging in again "
          "will not help"));
  }
  return absl::InternalError("authrefresh: unknown terminal reason");
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
