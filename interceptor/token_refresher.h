// interceptor/token_refresher.h
//
// Defines `TokenRefresher`, the asynchronous OAuth 2.0 refresh-token grant
// (RFC 6749 section 6) that a TokenManager runs. See grpc_token_refresher.h
// for the one that speaks authrefresh.v1.TokenService.

#ifndef AUTHREFRESH_INTERCEPTOR_TOKEN_REFRESHER_H_
#define AUTHREFRESH_INTERCEPTOR_TOKEN_REFRESHER_H_

#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "protos/token_service.pb.h"

namespace authrefresh {

// Performs refresh-token grants (RFC 6749 section 6). A TokenManager owns its
// refresher and calls `Refresh` at most once at a time.
class TokenRefresher {
 public:
  using Done = std::function<void(absl::StatusOr<v1::TokenResponse>)>;

  // Destroying a refresher with a grant in flight must cancel the grant
  // without blocking; `done` may still be called later and must be harmless.
  virtual ~TokenRefresher() = default;

  // Starts one grant with `refresh_token` and returns without blocking. Calls
  // `done` exactly once, on any thread (possibly before returning), with the
  // token service's response, or with its error status. The response is
  // validated by the TokenManager, not here. Errors are classified by code:
  // UNAUTHENTICATED (OAuth invalid_grant) ends the session
  // (TerminalReason::kSessionExpired); PERMISSION_DENIED (invalid_client,
  // unauthorized_client, a 401), INVALID_ARGUMENT (invalid_request,
  // invalid_scope) and FAILED_PRECONDITION (unsupported_grant_type) mean the
  // token service rejected this client (kClientRejected); all others are
  // retried.
  virtual void Refresh(const std::string& refresh_token, Done done) = 0;
};

// Marks a transient refresher error with the delay the token service asked
// for (HTTP Retry-After, say): the TokenManager then waits at least that long,
// at most one hour, before its next attempt, instead of only its own backoff.
absl::Status WithRetryAfter(absl::Status status, absl::Duration delay);

// The delay WithRetryAfter attached to `status`, if any.
std::optional<absl::Duration> RetryAfterOf(const absl::Status& status);

}  // namespace authrefresh

#endif  // AUTHREFRESH_INTERCEPTOR_TOKEN_REFRESHER_H_
