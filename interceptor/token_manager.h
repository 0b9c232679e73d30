// interceptor/token_manager.h
//
// Defines `TokenManager`: the current token of one credential, shared by every
// channel that uses it, and the single-flight refresh that renews it.
//
// Calls read the current token without taking a lock. When a call needs a new
// token (the server rejected the one it sent, or the token has expired), it
// waits, without blocking a thread, for the one refresh in flight, starting it
// if none is.
//
// The failure policy. This table is the one statement of what a refresh
// outcome means. The left column is the refresher's status code
// (TokenRefresher::Refresh), which may be the token service's own; the
// statuses calls get (the other columns) are made by authrefresh, never
// passed on from a server:
//
//   refresh outcome                  waiting calls               later calls
//   -------------------------------  --------------------------  -------------
//   success                          replayed with the new token use it
//   session expired: UNAUTHENTICATED UNAUTHENTICATED "session    same, at once,
//   (OAuth invalid_grant) to a grant expired, log in again";     until
//   that presented a refresh token,  on_session_expired runs     SetToken
//   or no refresh token to present   once
//   client rejected: PERMISSION_     UNAUTHENTICATED "the token  same, at once,
//   DENIED (invalid_client,          service rejected this       until
//   unauthorized_client, HTTP 401),  client"; on_client_rejected SetToken
//   INVALID_ARGUMENT (invalid_       runs once
//   request, invalid_scope), FAILED_
//   PRECONDITION (unsupported_grant_
//   type), or UNAUTHENTICATED to a
//   grant without a refresh token
//   transient: every other code      keep waiting while the      wait, or
//   (UNAVAILABLE, DEADLINE_EXCEEDED, refresh is retried with     UNAVAILABLE at
//   RESOURCE_EXHAUSTED, INTERNAL,    backoff; UNAVAILABLE after  once while
//   ...), and a malformed response   max_refresh_attempts        backing off
//   shared backend misconfigured     UNAUTHENTICATED "the shared same, at once,
//   (MakeSharedTokenRefresher:       token backend refused this  until
//   Redis refused the password, a    replica"; on_client_       SetToken
//   wrong encryption key, EACCES)    rejected runs once
//   shared backend unreachable       keep waiting: retried every wait
//   (MakeSharedTokenRefresher,       10-100 ms, no attempt
//   kWait, for up to its max_wait;   counted, no backoff;
//   then it is transient, above)     kSharedBackendUnreachable
//
// A waiting call also ends 10 ms before its own deadline (DEADLINE_EXCEEDED,
// saying what it waited for, e.g. "... shared token backend unreachable:
// ...") or when it is cancelled (CANCELLED). The terminal statuses are UNAUTHENTICATED because
// that is what gRPC's own call credentials give a call whose credentials
// could not be obtained (gRPC's doc/statuscodes.md); codes such as
// FAILED_PRECONDITION are left to servers, whose meaning an application may
// act on.

#ifndef AUTHREFRESH_INTERCEPTOR_TOKEN_MANAGER_H_
#define AUTHREFRESH_INTERCEPTOR_TOKEN_MANAGER_H_

#include <memory>

#include "interceptor/token.h"
#include "interceptor/token_event.h"          // IWYU pragma: export
#include "interceptor/token_manager_options.h"  // IWYU pragma: export
#include "interceptor/token_refresher.h"

namespace authrefresh {

namespace internal {
class RefreshCoordinator;
struct TokenManagerAccess;
}  // namespace internal

class TokenManager {
 public:
  // `initial` may have an empty access token (the first call refreshes) and
  // an empty refresh token: with a refresher that needs one, the session then
  // ends at the first rejection; with one that does not (client credentials,
  // JWT bearer, token exchange), `Token{}` is the usual start. A token
  // that could not be sent as a header value (control characters, non-ASCII,
  // over 7 KiB) is treated as absent. `refresher` must not be null.
  static std::shared_ptr<TokenManager> Create(
      Token initial, std::unique_ptr<TokenRefresher> refresher,
      TokenManagerOptions options = {});

  // Fails every call still waiting for a refresh (UNAVAILABLE, "the
  // TokenManager was destroyed while the call waited for a token refresh"),
  // then destroys the refresher, which cancels its grant in flight (a shared
  // refresher first waits for that grant, at most lease_ttl: shared_token.h),
  // and returns after any callback already running has returned. No callback
  // runs afterwards.
  ~TokenManager();

  TokenManager(const TokenManager&) = delete;
  TokenManager& operator=(const TokenManager&) = delete;

  // The current token. Thread-safe.
  Token CurrentToken() const;

  // Replaces the token, e.g. after a new login; ends a terminal failure and
  // releases any waiting call with the new token. A refresh in flight
  // finishes, but its result is discarded.
  void SetToken(Token token);

  // Counters since creation. Thread-safe.
  TokenManagerStats Stats() const;

 private:
  friend struct internal::TokenManagerAccess;  // the interceptor's way in
  explicit TokenManager(std::shared_ptr<internal::RefreshCoordinator> c);
  const std::shared_ptr<internal::RefreshCoordinator> coordinator_;
};

}  // namespace authrefresh

#endif  // AUTHREFRESH_INTERCEPTOR_TOKEN_MANAGER_H_
