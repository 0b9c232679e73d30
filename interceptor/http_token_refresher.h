// interceptor/http_token_refresher.h
//
// Defines `MakeHttpTokenRefresher()`: a TokenRefresher that gets tokens from
// an OAuth 2.0 token endpoint, as Keycloak, Auth0, Okta, Ory Hydra, Entra ID
// and most other authorization servers expose: the refresh-token, client
// credentials, JWT-bearer and token-exchange grants, with client_secret_basic,
// client_secret_post, private_key_jwt, tls_client_auth, a client assertion
// read from a file, or no client authentication. Build target: //interceptor:http_token_refresher (links
// libcurl and OpenSSL's libcrypto).

#ifndef AUTHREFRESH_INTERCEPTOR_HTTP_TOKEN_REFRESHER_H_
#define AUTHREFRESH_INTERCEPTOR_HTTP_TOKEN_REFRESHER_H_

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "interceptor/dpop.h"
#include "interceptor/token_refresher.h"

namespace authrefresh {

// A private key that signs JWTs: client assertions (private_key_jwt) and
// the JWT-bearer grant's assertions. Read once, by MakeHttpTokenRefresher.
struct JwtSigningKey {
  enum class Algorithm {
    kRS256,  // RSASSA-PKCS1-v1_5 with SHA-256; an RSA key of >= 2048 bits
    kES256,  // ECDSA P-256 with SHA-256; an EC P-256 key
  };
  Algorithm algorithm = Algorithm::kRS256;
  // The private key, unencrypted PEM ("PRIVATE KEY", "RSA PRIVATE KEY" or
  // "EC PRIVATE KEY"): the text, or the path of a file. Set one.
  std::string private_key_pem;
  std::string private_key_file;
  // The JWS "kid" header: the key's id in the client's JWKS at the token
  // service (Keycloak, Auth0, Okta pick the verification key by it).
  // Empty: no "kid".
  std::string key_id;
  // The key's X.509 certificate, optional (PEM text or a file): adds the
  // "x5t" and "x5t#S256" headers, the certificate's SHA-1 and SHA-256
  // thumbprints, by which Entra ID finds a certificate credential.
  std::string certificate_pem;
  std::string certificate_file;
};

struct HttpTokenRefresherOptions {
  // The token endpoint, e.g.
  // "https://sso.example.com/realms/prod/protocol/openid-connect/token".
  // Must be https:// unless allow_insecure_http is set.
  std::string token_endpoint;

  // How a new token is obtained.
  enum class Grant {
    // RFC 6749 section 6: presents the TokenManager's refresh token. The
    // session ends when the token service answers invalid_grant.
    kRefreshToken,
    // RFC 6749 section 4.4: the client's own credentials (client_auth) are
    // the grant. The TokenManager may start with `Token{}`.
    kClientCredentials,
    // RFC 7523 section 2.1: a JWT signed with `jwt_bearer.key` for every
    // grant (Google service accounts, Okta service apps, Entra ID OBO...).
    kJwtBearer,
    // RFC 8693: exchanges the token in `token_exchange.subject_token_file`,
    // read again at every grant (a Kubernetes projected service-account
    // token, rotated on disk by kubelet).
    kTokenExchange,
  };
  Grant grant = Grant::kRefreshToken;

  // How the client authenticates (RFC 6749 section 2.3, RFC 7523 section
  // 2.2, RFC 8705).
  enum class ClientAuth {
    // `authorization: Basic base64(urlencode(client_id):urlencode(secret))`.
    kClientSecretBasic,
    // client_id and client_secret in the form body.
    kClientSecretPost,
    // private_key_jwt: a JWT signed with `client_assertion_key`, fresh for
    // every request (iss = sub = client_id, aud = the token endpoint, a new
    // jti, exp = now + client_assertion_lifetime).
    kPrivateKeyJwt,
    // tls_client_auth: the client certificate below, presented in the TLS
    // handshake with the token endpoint (https:// only); client_id in the
    // body.
    kTlsClientAuth,
    // A public client: client_id in the body, no secret.
    kNone,
    // A client assertion somebody else issued, read from
    // `client_assertion_file` at every request and sent as
    // client_assertion (type jwt-bearer) with client_id: Entra ID workload
    // identity federation, where the file is the Kubernetes projected
    // service-account token ($AZURE_FEDERATED_TOKEN_FILE) that kubelet
    // rotates on disk. Nothing is signed here.
    kClientAssertionFile,
  };
  ClientAuth client_auth = ClientAuth::kClientSecretBasic;
  std::string client_id;
  std::string client_secret;  // kClientSecretBasic and kClientSecretPost only

  // kPrivateKeyJwt: the key that signs client assertions, their lifetime
  // (at most 10 minutes; servers refuse long-lived assertions) and their
  // "aud" (empty: token_endpoint, which Keycloak, Auth0, Okta and Entra ID
  // accept; some servers want their issuer URL instead).
  JwtSigningKey client_assertion_key;
  absl::Duration client_assertion_lifetime = absl::Seconds(60);
  std::string client_assertion_audience;

  // kClientAssertionFile: the file holding the assertion, a JWT (surrounding
  // whitespace removed), read at every request. Readable and a JWS in
  // compact form at construction, or INVALID_ARGUMENT (a PEM key given here
  // by mistake is refused, never sent); later, an unreadable, empty or
  // malformed file fails that grant as transient (a rotation in progress),
  // and an assertion the server refuses (expired, say) is its
  // invalid_client: a rejected client, terminal until SetToken().
  std::string client_assertion_file;

  // A client certificate for the token endpoint's TLS handshake: required by
  // kTlsClientAuth, and allowed with any other method (certificate-bound
  // tokens, RFC 8705 section 3). PEM files, passed to libcurl by path, so a
  // certificate rotated on disk is used from the next connection on.
  std::string client_certificate_file;
  std::string client_key_file;

  // Sent as `scope` when not empty.
  std::string scope;
  // Sent as `audience` when not empty (Auth0's API identifier; RFC 8693's
  // target service name).
  std::string audience;
  // Sent as one `resource` parameter each (RFC 8707 resource indicators:
  // absolute URIs of the services the token is for; Entra ID v1, Okta).
  std::vector<std::string> resources;
  // More form parameters some servers want.
  std::vector<std::pair<std::string, std::string>> extra_parameters;

  // kJwtBearer: the assertion that is the grant.
  struct JwtBearer {
    JwtSigningKey key;
    std::string issuer;   // "iss", required
    std::string subject;  // "sub", required
    std::string audience;  // "aud"; empty: token_endpoint
    absl::Duration lifetime = absl::Minutes(5);  // at most 1 hour
    // More string claims, e.g. {"scope", "..."} for Google's token endpoint.
    std::vector<std::pair<std::string, std::string>> extra_claims;
  };
  JwtBearer jwt_bearer;

  // kTokenExchange.
  struct TokenExchange {
    // Read at every grant, surrounding whitespace removed. Required.
    std::string subject_token_file;
    std::string subject_token_type = "urn:ietf:params:oauth:token-type:jwt";
    // Optional: delegation (RFC 8693 section 1.1). Read at every grant.
    std::string actor_token_file;
    std::string actor_token_type;  // required with actor_token_file
    // Optional `requested_token_type`.
    std::string requested_token_type;
  };
  TokenExchange token_exchange;

  // DPoP (RFC 9449): sender-constrained tokens. With a key, every grant
  // carries a `DPoP` header, a proof of the key (htm POST, htu the
  // token_endpoint without query and fragment, a fresh jti, iat, and the
  // server's nonce once it gave one); a `400 {"error":"use_dpop_nonce"}`
  // with a new `DPoP-Nonce` is sent again once with it (not a failed
  // attempt; never more than once per grant), and the nonce of every answer
  // is kept for the next grant. The answer must say token_type "DPoP"; the
  // token then carries Token::dpop_jkt = key->thumbprint(), and channels of
  // its TokenManager send it as `authorization: DPoP <token>` with a `dpop`
  // proof per attempt (README, "DPoP"). A "Bearer" answer is a rejected
  // client (FAILED_PRECONDITION) unless accept_bearer is set.
  struct Dpop {
    std::shared_ptr<const DpopKey> key;  // null: bearer tokens, no proofs
    bool accept_bearer = false;
  };
  Dpop dpop;

  // A grant that takes longer (connecting included) is abandoned with
  // DEADLINE_EXCEEDED, a transient failure the TokenManager retries.
  absl::Duration timeout = absl::Seconds(20);

  // TLS: the server's certificate is always verified, and its name checked.
  // Trust anchors: the system's CA bundle, unless one of these is set.
  std::string ca_file;  // path of a PEM bundle
  std::string ca_pem;   // PEM text

  // Allows an http:// token endpoint. The refresh token, the client secret
  // and assertions then travel in cleartext: for loopback tests only.
  bool allow_insecure_http = false;
};

// Validates `options` and returns the refresher, or INVALID_ARGUMENT naming
// what is wrong (no endpoint, not a URL, http:// without allow_insecure_http,
// a missing client_id or client_secret, an option the grant or client
// authentication does not use, dpop.accept_bearer without dpop.key, a key
// that cannot be read or parsed, is
// encrypted, or does not fit its algorithm, a certificate that does not
// match its key, an unreadable ca_file, subject token or client assertion
// file, a client assertion file that holds no JWT, ...). Errors
// name the option and the problem, never a key or a token. Nothing is sent
// until the first grant.
//
// Each refresher owns one worker thread, started on its first grant, that
// runs the HTTP exchange with libcurl's multi interface; no application
// thread ever blocks on it. Assertions are signed and subject tokens read on
// that thread. Redirects are not followed. Responses over 64 KiB are
// refused. (Subject, actor and client assertion files are read at every
// grant.) Errors map to the codes the TokenManager's failure policy
// (token_manager.h) reads: invalid_grant is UNAUTHENTICATED, which ends the
// session of a refresh-token grant and means a rejected client for the other
// grants; invalid_client, unauthorized_client and a 401 are
// PERMISSION_DENIED (a rejected client); 429, 5xx,
// network errors and an unreadable token or assertion file are transient, and a
// Retry-After header delays the next attempt. Destroying the refresher
// aborts a grant in flight (its callback then runs with CANCELLED) and joins
// the worker without waiting on the network.
absl::StatusOr<std::unique_ptr<TokenRefresher>> MakeHttpTokenRefresher(
    HttpTokenRefresherOptions options);

}  // namespace authrefresh

#endif  // AUTHREFRESH_INTERCEPTOR_HTTP_TOKEN_REFRESHER_H_
