// interceptor/token.h
//
// Defines `Token`, the credential that authrefresh attaches and refreshes, and
// `TokenFingerprint()`, the only form in which authrefresh ever shows a token.

#ifndef AUTHREFRESH_INTERCEPTOR_TOKEN_H_
#define AUTHREFRESH_INTERCEPTOR_TOKEN_H_

#include <string>

#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace authrefresh {

// An OAuth 2.0 access token and the refresh token that renews it.
struct Token {
  // Sent as `authorization: Bearer <access_token>`. Empty means "none yet":
  // the first call starts a refresh (or, with no refresh token to present,
  // ends the session: see refresh_token).
  std::string access_token;
  // Presented to the token service to get a new access token. Empty, with a
  // refresher that needs one (TokenRefresher::NeedsRefreshToken): the
  // session ends as soon as a new access token is needed. Refreshers that
  // need none are never given it.
  std::string refresh_token;
  // When the access token stops being valid. Calls do not send a token at or
  // past this time; they wait for a refresh instead (SkipTokenRefresh() calls
  // send it as it is).
  absl::Time expires_at = absl::InfiniteFuture();
  // The scope granted, as the token service reported it (informational).
  std::string scope;
  // When the token service issued the access token, as well as the client
  // knows it: when the request that obtained it was sent (expires_in counts
  // from there). The proactive-refresh margin is a fraction of the lifetime
  // from here to expires_at. InfinitePast: unknown; a TokenManager then
  // counts the lifetime from when it received the token.
  absl::Time issued_at = absl::InfinitePast();
  // DPoP (dpop.h): the RFC 7638 thumbprint of the key this token is bound
  // to (its "cnf.jkt"); empty for a bearer token. The HTTP refresher sets it
  // when the token service answers token_type DPoP. A bound token goes out
  // as `authorization: DPoP <access_token>` with a proof signed by that key,
  // and only from a TokenManager whose refresher holds the key: a
  // TokenManager whose refresher has another key (or none) does not send
  // such a token and gets a new one instead.
  std::string dpop_jkt;
};

// Returns a short, stable, non-reversible identifier for `secret`
// ("sha256:" and the first 12 hex digits of its SHA-256), safe to log. It is
// never a prefix of the secret. Returns "none" for an empty secret.
std::string TokenFingerprint(absl::string_view secret);

}  // namespace authrefresh

#endif  // AUTHREFRESH_INTERCEPTOR_TOKEN_H_
