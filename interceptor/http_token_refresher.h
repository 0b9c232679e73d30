// interceptor/http_token_refresher.h
//
// Defines `MakeHttpTokenRefresher()`: a TokenRefresher that runs the OAuth 2.0
// refresh-token grant against an HTTP token endpoint (RFC 6749 section 6), as
// Keycloak, Auth0, Okta, Ory Hydra, Azure AD and most other authorization
// servers expose. Build target: //interceptor:http_token_refresher (links
// libcurl).

#ifndef AUTHREFRESH_INTERCEPTOR_HTTP_TOKEN_REFRESHER_H_
#define AUTHREFRESH_INTERCEPTOR_HTTP_TOKEN_REFRESHER_H_

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "interceptor/token_refresher.h"

namespace authrefresh {

struct HttpTokenRefresherOptions {
  // The token endpoint, e.g.
  // "https://sso.example.com/realms/prod/protocol/openid-connect/token".
  // Must be https:// unless allow_insecure_http is set.
  std::string token_endpoint;

  // How the client authenticates (RFC 6749 section 2.3.1).
  enum class ClientAuth {
    // `authorization: Basic base64(urlencode(client_id):urlencode(secret))`.
    kClientSecretBasic,
    // client_id and client_secret in the form body.
    kClientSecretPost,
    // A public client: client_id in the body, no secret.
    kNone,
  };
  ClientAuth client_auth = ClientAuth::kClientSecretBasic;
  std::string client_id;
  std::string client_secret;  // required by Basic and Post; empty for kNone

  // Sent as `scope` when not empty (asking for the same or fewer scopes).
  std::string scope;
  // More form parameters some servers want, e.g. {"audience", "..."} (Auth0).
  std::vector<std::pair<std::string, std::string>> extra_parameters;

  // A grant that takes longer (connecting included) is abandoned with
  // DEADLINE_EXCEEDED, a transient failure the TokenManager retries.
  absl::Duration timeout = absl::Seconds(20);

  // TLS: the server's certificate is always verified, and its name checked.
  // Trust anchors: the system's CA bundle, unless one of these is set.
  std::string ca_file;  // path of a PEM bundle
  std::string ca_pem;   // PEM text

  // Allows an http:// token endpoint. The refresh token and the client
  // secret then travel in cleartext: for loopback tests only.
  bool allow_insecure_http = false;
};

// Validates `options` and returns the refresher, or INVALID_ARGUMENT naming
// what is wrong (no endpoint, not a URL, http:// without allow_insecure_http,
// a missing client_id or client_secret, an unreadable ca_file, ...). Nothing
// is sent until the first refresh.
//
// Each refresher owns one worker thread, started on its first refresh, that
// runs the HTTP exchange with libcurl's multi interface; no application
// thread ever blocks on it. Redirects are not followed. Responses over
// 64 KiB are refused. Errors map to status codes as the TokenManager expects:
// invalid_grant ends the session (UNAUTHENTICATED), invalid_client and
// unauthorized_client too (PERMISSION_DENIED); 429, 5xx and network errors
// are transient, and a Retry-After header delays the next attempt.
// Destroying the refresher aborts a grant in flight (its callback then runs
// with CANCELLED) and joins the worker without waiting on the network.
absl::StatusOr<std::unique_ptr<TokenRefresher>> MakeHttpTokenRefresher(
    HttpTokenRefresherOptions options);

}  // namespace authrefresh

#endif  // AUTHREFRESH_INTERCEPTOR_HTTP_TOKEN_REFRESHER_H_
