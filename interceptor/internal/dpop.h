// interceptor/internal/dpop.h
//
// DPoP (RFC 9449): the key a client proves possession of, and the proof JWT
// it sends with every token request and every call. The key's private part
// never leaves this object: statuses, logs and events only ever show the
// public JWK and its RFC 7638 thumbprint (the token's "cnf.jkt").
//
// Not yet used by the refreshers or the channel; issue 24 wires it in.

#ifndef AUTHREFRESH_INTERCEPTOR_INTERNAL_DPOP_H_
#define AUTHREFRESH_INTERCEPTOR_INTERNAL_DPOP_H_

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "interceptor/internal/jws.h"

namespace authrefresh {
namespace internal {

// What one proof asserts (RFC 9449 section 4.2).
struct DpopClaims {
  absl::string_view method;  // "htm": "POST" for a token request and a gRPC call
  absl::string_view uri;     // "htu": without query and fragment (DpopTargetUri)
  absl::Time issued_at;      // "iat", whole seconds
  absl::string_view nonce;   // "nonce", when the server gave one; empty: none
  // The access token the proof goes with, for "ath" = base64url(SHA-256);
  // empty (token requests): no "ath".
  absl::string_view access_token;
};

class DpopKey {
 public:
  // An unencrypted PEM private key for `algorithm` (ES256 wants EC P-256,
  // EdDSA Ed25519, RS256 and PS256 RSA of at least 2048 bits).
  // INVALID_ARGUMENT starting with `what`, never quoting the key.
  static absl::StatusOr<std::shared_ptr<const DpopKey>> FromPem(absl::string_view pem,
                                                                JwsAlgorithm algorithm,
                                                                absl::string_view what);
  // The same, read from a file; an unreadable file is INVALID_ARGUMENT
  // naming its path.
  static absl::StatusOr<std::shared_ptr<const DpopKey>> FromFile(const std::string& path,
                                                                 JwsAlgorithm algorithm,
                                                                 absl::string_view what);
  // A new key, kept only in this process: tokens bound to it cannot be used
  // by another process, nor after a restart.
  static absl::StatusOr<std::shared_ptr<const DpopKey>> Generate(JwsAlgorithm algorithm);

  JwsAlgorithm algorithm() const { return key_->algorithm(); }
  // The public key as a JWK (RFC 7638's required members, no whitespace).
  const std::string& public_jwk() const { return key_->public_jwk(); }
  // base64url(SHA-256(public_jwk())): RFC 7638's thumbprint, which a token
  // service puts in the token's "cnf": {"jkt": ...}.
  const std::string& thumbprint() const { return thumbprint_; }

  // A proof JWT: header {"typ":"dpop+jwt","alg","jwk"} (encoded once, when
  // the key is made), claims {"jti" (128 random bits), "htm", "htu", "iat",
  // "nonce"?, "ath"?}. Thread-safe. INTERNAL if OpenSSL fails to sign.
  absl::StatusOr<std::string> Proof(const DpopClaims& claims) const;

 private:
  explicit DpopKey(std::unique_ptr<const JwsPrivateKey> key);
  const std::unique_ptr<const JwsPrivateKey> key_;
  const std::string thumbprint_;
  const std::string encoded_header_;  // base64url of the header, and "."
};

// `url` as a proof's "htu": its query and fragment removed (RFC 9449
// section 4.2), the scheme and host lowercased (RFC 3986 section 6.2.2.1).
// INVALID_ARGUMENT unless it is an absolute http:// or https:// URL.
absl::StatusOr<std::string> DpopTargetUri(absl::string_view url);

}  // namespace internal
}  // namespace authrefresh

#endif  // AUTHREFRESH_INTERCEPTOR_INTERNAL_DPOP_H_
