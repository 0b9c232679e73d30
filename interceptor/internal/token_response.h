// interceptor/internal/token_response.h
//
// The one place that turns a token service's answer (RFC 6749 section 5.1,
// or authrefresh.v1.TokenResponse) into a Token, and the one rule for what a
// token must be to go out as a header.

#ifndef AUTHREFRESH_INTERCEPTOR_INTERNAL_TOKEN_RESPONSE_H_
#define AUTHREFRESH_INTERCEPTOR_INTERNAL_TOKEN_RESPONSE_H_

#include <cstddef>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "interceptor/token.h"
#include "interceptor/token_refresher.h"
#include "protos/token_service.pb.h"

namespace authrefresh {
namespace internal {

// Longest access or refresh token accepted (7 KiB). gRPC's default limit on
// all request metadata together is 8 KiB; a longer token leaves no room for
// the rest and would be refused by servers.
inline constexpr size_t kMaxTokenBytes = 7 * 1024;

// OK if `token` can be sent as `authorization: Bearer <token>`: 1 to
// kMaxTokenBytes visible ASCII characters (no space, control character or
// non-ASCII byte). Otherwise INVALID_ARGUMENT naming the problem and the
// offending byte's position, never the token. `what` names the field.
absl::Status CheckTokenSyntax(absl::string_view token, absl::string_view what);

// OK if a refresher's token can be used: an access token that passes
// CheckTokenSyntax, and a refresh token that is empty or passes it too.
// Otherwise INTERNAL "malformed token response: ..." (transient: the next
// answer may be well formed), never containing the tokens.
absl::Status CheckGrantedToken(const Token& token);

// The token_type a grant expects: "Bearer", or "DPoP" when the request
// carried a proof of the key with thumbprint `dpop_jkt`.
struct ExpectedTokenType {
  std::string dpop_jkt;  // empty: Bearer
  // With dpop_jkt: a "Bearer" answer is taken as a bearer token instead of
  // refused (HttpTokenRefresherOptions::Dpop::accept_bearer).
  bool accept_bearer = false;
};

// `response` as the Token of TokenRefresher::Done: expires_in counts from
// `sent_at` (when the request was sent; also the token's issued_at), 0
// meaning "no expiry given"; an empty refresh_token or scope stays empty.
// A malformed response (token_type other than `expected`'s, negative
// expires_in, a token that fails CheckGrantedToken) yields INTERNAL
// "malformed token response: ...", which never contains the response's
// tokens or `secrets` (what the request presented: the refresh token, a
// client secret). A "Bearer" answer to a DPoP request (unless accepted) is
// FAILED_PRECONDITION: the token service does not do DPoP for this client,
// which no retry fixes. A "DPoP" answer gets Token::dpop_jkt.
absl::StatusOr<Token> TokenFromResponse(const v1::TokenResponse& response,
                                        absl::Time sent_at,
                                        const std::vector<std::string>& secrets = {},
                                        const ExpectedTokenType& expected = {});

// `token` as a TokenManager whose refresher has the DPoP key with
// thumbprint `key_jkt` (empty: none) can use it: a token bound to another
// key (Token::dpop_jkt) loses its access token, so that the first call gets
// a new one (the refresh token is kept: a token service that bound it to
// the old key refuses it, and the session ends).
Token UsableWithKey(Token token, absl::string_view key_jkt);

// When a grant's expires_in counts from: `request.requested_at`, or
// absl::Now() when the caller did not say.
absl::Time RequestedAt(const GrantRequest& request);

// `granted` as it replaces `previous`: the refresh token and the scope that
// the answer did not carry (empty) are kept from `previous`.
Token WithKeptFields(Token granted, const Token& previous);

}  // namespace internal
}  // namespace authrefresh

#endif  // AUTHREFRESH_INTERCEPTOR_INTERNAL_TOKEN_RESPONSE_H_
