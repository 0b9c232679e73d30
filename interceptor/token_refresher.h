// interceptor/token_refresher.h
//
// Defines `TokenRefresher`: how a TokenManager gets a new token. One
// asynchronous grant at a time, from the manager's current state: the
// refresh-token grant (RFC 6749 section 6), or a grant that needs no refresh
// token (client credentials, JWT bearer, token exchange). See
// http_token_refresher.h for the OAuth token endpoint, grpc_token_refresher.h
// for authrefresh.v1.TokenService.

#ifndef AUTHREFRESH_INTERCEPTOR_TOKEN_REFRESHER_H_
#define AUTHREFRESH_INTERCEPTOR_TOKEN_REFRESHER_H_

#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "interceptor/token.h"

namespace authrefresh {

class DpopKey;  // dpop.h

// What a grant starts from: the TokenManager's state when it starts one.
struct GrantRequest {
  // The refresh token the manager holds; empty when it has none, and always
  // for a refresher whose NeedsRefreshToken() is false.
  std::string refresh_token;
  // The access token the manager holds now, which it wants replaced (empty:
  // none yet). A refresher that shares tokens between processes
  // (shared_token.h) adopts any other valid token instead of a grant.
  std::string access_token;
  // When the grant starts, on the TokenManager's clock (TokenManagerOptions::
  // clock): the token's expires_in counts from here, and it is the token's
  // issued_at. A refresher that starts its own request later (after waiting
  // for another replica, say) moves it forward. InfinitePast: absl::Now().
  absl::Time requested_at = absl::InfinitePast();
};

// Obtains new tokens. A TokenManager owns its refresher and calls `Refresh`
// at most once at a time.
class TokenRefresher {
 public:
  // The granted token, or why there is none. The token is what the token
  // service answered, parsed once by the refresher:
  //  * access_token: required;
  //  * refresh_token: empty when the answer had none; the TokenManager then
  //    keeps the one it presented (a rotated one replaces it);
  //  * scope: empty when the answer had none; the manager keeps its own;
  //  * expires_at: absolute (issued_at + expires_in), InfiniteFuture when
  //    the answer gave no expiry;
  //  * issued_at: GrantRequest::requested_at (expires_in counts from there).
  // The manager checks the token before it uses it: an access token that
  // cannot be sent as a header value is a malformed answer, transient.
  using Done = std::function<void(absl::StatusOr<Token>)>;

  // Destroying a refresher with a grant in flight must cancel the grant
  // without blocking (a refresher that must finish a grant first, such as
  // the shared one, says so); `done` may still be called later and must be
  // harmless.
  virtual ~TokenRefresher() = default;

  // Starts one grant and returns without blocking. Calls `done` exactly
  // once, on any thread (possibly before returning), with the new token or
  // an error status. What an error's code means (session expired, client
  // rejected, or transient and retried) is the failure-policy table in
  // token_manager.h.
  virtual void Refresh(const GrantRequest& request, Done done) = 0;

  // Whether a grant needs a refresh token. True for the refresh-token grant:
  // a manager without one ends the session (kSessionExpired) at the first
  // rejection, without a grant. False for grants that obtain a token from
  // the client's own credentials (client credentials, JWT bearer, token
  // exchange): the manager may start with no token at all, the first call
  // fetches one, and there is no session to expire; only a rejected client
  // is terminal.
  virtual bool NeedsRefreshToken() const { return true; }

  // The DPoP key (dpop.h) the refresher's grants prove, to which the token
  // service binds their tokens (Token::dpop_jkt); null (the default) for
  // bearer tokens. The TokenManager's channels sign each call's proof with
  // it. Must not change over the refresher's life.
  virtual std::shared_ptr<const DpopKey> dpop_key() const { return nullptr; }
};

// Marks a transient refresher error with the delay the token service asked
// for (HTTP Retry-After, say): the TokenManager then waits at least that long,
// at most one hour, before its next attempt, instead of only its own backoff.
absl::Status WithRetryAfter(absl::Status status, absl::Duration delay);

// The delay WithRetryAfter attached to `status`, if any.
std::optional<absl::Duration> RetryAfterOf(const absl::Status& status);

}  // namespace authrefresh

#endif  // AUTHREFRESH_INTERCEPTOR_TOKEN_REFRESHER_H_
