// interceptor/internal/token_request.h
//
// The body of one token-endpoint request (RFC 6749 sections 4.4 and 6,
// RFC 7523, RFC 8693, RFC 8707), built fresh for every grant: new assertions
// (new jti, iat, exp) and subject tokens read from their files again. No
// network: the HTTP refresher sends what this builds.

#ifndef AUTHREFRESH_INTERCEPTOR_INTERNAL_TOKEN_REQUEST_H_
#define AUTHREFRESH_INTERCEPTOR_INTERNAL_TOKEN_REQUEST_H_

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "interceptor/internal/jws.h"
#include "interceptor/internal/small_file.h"  // ReadSmallFile, ShowPath
#include "interceptor/token_refresher.h"

namespace authrefresh {
namespace internal {

inline constexpr absl::string_view kClientAssertionType =
    "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

// A JWT signed for each request: {iss, sub, aud, iat, exp, jti} and any
// extra string claims.
struct AssertionSpec {
  std::shared_ptr<const JwtSigner> signer;
  std::string issuer;
  std::string subject;
  std::string audience;
  absl::Duration lifetime;
  std::vector<std::pair<std::string, std::string>> extra_claims;
};

// Everything about the request that does not change between grants, and
// how to make what does.
struct TokenRequestSpec {
  std::string grant_type;
  // Sent as they are, in this order (scope, audience, resource...,
  // subject_token_type, ..., client_id, client_secret, extra parameters).
  std::vector<std::pair<std::string, std::string>> parameters;
  // Sends `refresh_token` from the GrantRequest (the refresh-token grant).
  bool send_refresh_token = false;
  // `assertion`: the JWT-bearer grant's (RFC 7523 section 2.1).
  std::optional<AssertionSpec> grant_assertion;
  // `client_assertion` and `client_assertion_type`: private_key_jwt
  // (RFC 7523 section 2.2), signed here for every request...
  std::optional<AssertionSpec> client_assertion;
  // ...or issued elsewhere and read from this file at every request (a
  // projected service-account token, Entra ID workload identity). Its
  // content must be a JWS in compact form.
  std::string client_assertion_file;
  // Parameters whose value is a file's content, read at every request, with
  // surrounding whitespace removed: {"subject_token", path} (a projected
  // service-account token that kubelet rotates on disk).
  std::vector<std::pair<std::string, std::string>> file_parameters;
  // Values that are secret even though they are fixed (a client secret):
  // added to TokenRequestBody::secrets.
  std::vector<std::string> fixed_secrets;
};

struct TokenRequestBody {
  std::string form;  // application/x-www-form-urlencoded
  // Every secret the form carries, for scrubbing the answer's text.
  std::vector<std::string> secrets;
};

// Builds one request. Errors: UNAVAILABLE when a file parameter or the
// client assertion file cannot be read or is empty, or the client
// assertion file holds no JWS (transient: a rotated file may be back at the
// next attempt), INTERNAL when signing fails. Messages name the file, never
// its content. `new_jti` is NewJwtId except in tests.
absl::StatusOr<TokenRequestBody> BuildTokenRequest(
    const TokenRequestSpec& spec, const GrantRequest& request, absl::Time now,
    const std::function<std::string()>& new_jti = NewJwtId);

// application/x-www-form-urlencoded value encoding (WHATWG URL, as libcurl's
// curl_easy_escape): unreserved characters as they are, others %XX.
std::string FormEncode(absl::string_view value);

// Whether `value` has the shape of a JWS in compact serialization: three
// base64url segments joined by dots, the first two not empty. Not a
// verification: it keeps a PEM key or other text given by mistake from
// being sent as an assertion.
bool LooksLikeCompactJws(absl::string_view value);

// Whether `uri` starts with an RFC 3986 scheme ("https:", "urn:", ...).
bool IsAbsoluteUri(absl::string_view uri);

}  // namespace internal
}  // namespace authrefresh

#endif  // AUTHREFRESH_INTERCEPTOR_INTERNAL_TOKEN_REQUEST_H_
