// interceptor/internal/token_response.h
//
// The one place that turns a token service's response (RFC 6749 section 5.1)
// into a Token, and that decides whether a token may be sent as a header.

#ifndef AUTHREFRESH_INTERCEPTOR_INTERNAL_TOKEN_RESPONSE_H_
#define AUTHREFRESH_INTERCEPTOR_INTERNAL_TOKEN_RESPONSE_H_

#include <cstddef>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "interceptor/token.h"
#include "protos/token_service.pb.h"

namespace authrefresh {
namespace internal {

// Longest access or refresh token accepted (7 KiB). gRPC's default limit on
// all request metadata together is 8 KiB; a longer token leaves no room for
// the rest and would be refused by servers.
inline constexpr size_t kMaxTokenBytes = 7 * 1024;

// OK if `access_token` can be sent as `authorization: Bearer <token>`: 1 to
// kMaxTokenBytes visible ASCII characters (no space, control character or
// non-ASCII byte). Otherwise INVALID_ARGUMENT naming the problem and the
// offending byte's position, never the token. `what` names the field.
absl::Status CheckTokenSyntax(absl::string_view token, absl::string_view what);

// Validates `response` and builds the Token that replaces `previous`:
// an empty refresh_token or scope keeps the previous one; expires_in counts
// from `sent_at` (when the refresh was sent), 0 meaning "no expiry given".
// A malformed response (empty access_token, token_type other than Bearer,
// negative expires_in, a token that fails CheckTokenSyntax) yields
// INVALID_ARGUMENT "malformed token response: ...", which never contains
// the tokens.
absl::StatusOr<Token> TokenFromResponse(const v1::TokenResponse& response,
                                        absl::Time sent_at,
                                        const Token& previous);

}  // namespace internal
}  // namespace authrefresh

#endif  // AUTHREFRESH_INTERCEPTOR_INTERNAL_TOKEN_RESPONSE_H_
