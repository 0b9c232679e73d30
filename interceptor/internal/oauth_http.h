// interceptor/internal/oauth_http.h
//
// The transport-free half of the HTTP token-endpoint refresher: what an
// RFC 6749 token endpoint's HTTP answer means. Pure functions, so they can be
// unit-tested and fuzzed without a network.

#ifndef AUTHREFRESH_INTERCEPTOR_INTERNAL_OAUTH_HTTP_H_
#define AUTHREFRESH_INTERCEPTOR_INTERNAL_OAUTH_HTTP_H_

#include <cstddef>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "interceptor/internal/token_response.h"
#include "interceptor/token.h"

namespace authrefresh {
namespace internal {

// Largest token-endpoint response body read (64 KiB); a longer one is an
// error, so a misbehaving server cannot make the library buffer without end.
inline constexpr size_t kMaxTokenEndpointResponseBytes = 64 * 1024;

// Longest Retry-After that is honoured (1 hour); a longer one is capped.
inline constexpr absl::Duration kMaxRetryAfter = absl::Hours(1);

// One HTTP answer of a token endpoint.
struct HttpAnswer {
  long status = 0;           // HTTP status code
  std::string content_type;  // the Content-Type header, may be empty
  std::string body;
  std::optional<std::string> retry_after;  // the Retry-After header
  std::optional<std::string> dpop_nonce;   // the DPoP-Nonce header (RFC 9449)
};

// Whether the answer is RFC 9449's nonce challenge: an OAuth error object
// whose error is "use_dpop_nonce" (HTTP 400).
bool IsDpopNonceChallenge(const HttpAnswer& answer);

// What the answer means (RFC 6749 sections 5.1 and 5.2), as a status whose
// code the TokenManager's failure policy reads (the table in
// token_manager.h):
//  - 200 with a JSON object: its fields as TokenFromResponse reads them
//    (unknown fields ignored; expires_in counts from `sent_at`);
//  - an OAuth error object ({"error": ...}), whatever the HTTP status:
//    invalid_grant -> UNAUTHENTICATED; invalid_client, unauthorized_client
//    -> PERMISSION_DENIED; invalid_request, invalid_scope ->
//    INVALID_ARGUMENT; unsupported_grant_type -> FAILED_PRECONDITION;
//    temporarily_unavailable -> UNAVAILABLE; server_error -> INTERNAL;
//    any other code -> UNKNOWN;
//  - 401 without an OAuth error: PERMISSION_DENIED (the client's credentials);
//  - 429: RESOURCE_EXHAUSTED; 5xx: UNAVAILABLE (with the Retry-After delay
//    attached, see WithRetryAfter);
//  - anything else (redirects, 404, a 200 that is not JSON or not a valid
//    token): INTERNAL, saying what was wrong.
// Messages carry the OAuth error code and a cleaned, bounded excerpt of
// error_description, never the body. Each of `secrets` (what the request
// carried: a refresh token, a client secret, an assertion, a subject token)
// is scrubbed from the description in case a server echoes it. `now`
// resolves an HTTP-date Retry-After.
// `expected` is the token_type wanted (TokenFromResponse).
absl::StatusOr<Token> InterpretTokenEndpointAnswer(const HttpAnswer& answer,
                                                   const std::vector<std::string>& secrets,
                                                   absl::Time sent_at, absl::Time now,
                                                   const ExpectedTokenType& expected = {});

// Parses Retry-After (RFC 9110 section 10.2.3): delay-seconds or an
// HTTP-date. nullopt when absent or unparsable; capped at kMaxRetryAfter;
// never negative.
std::optional<absl::Duration> ParseRetryAfter(absl::string_view value,
                                              absl::Time now);

// Printable ASCII only, at most `max` bytes, with each of `secrets` (the
// empty ones ignored) replaced by "<redacted>": for putting server-provided
// text in a status.
std::string CleanServerText(absl::string_view text,
                            const std::vector<std::string>& secrets, size_t max = 200);

}  // namespace internal
}  // namespace authrefresh

#endif  // AUTHREFRESH_INTERCEPTOR_INTERNAL_OAUTH_HTTP_H_
