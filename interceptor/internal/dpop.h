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

#include <cstddef>
#include <memory>
#include <string>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "interceptor/internal/jws.h"
#include "interceptor/internal/mutex.h"

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

// A gRPC call's "htu": gRPC's service URL for the call, as a credentials
// plugin gets it ("https://<authority>/<package.Service>", see
// tests/experiments/auth_context_probe), then "/" and the method name; the
// same target a token service would compute from the request's :scheme,
// :authority and :path.
absl::StatusOr<std::string> DpopCallUri(absl::string_view service_url,
                                        absl::string_view method_name);

// Whether `nonce` has RFC 9449's syntax (1*NQCHAR: printable ASCII but '"'
// and '\\') and at most kMaxDpopNonceBytes.
inline constexpr size_t kMaxDpopNonceBytes = 512;
bool IsValidDpopNonce(absl::string_view nonce);

// The latest nonce each server gave (RFC 9449 sections 8 and 9: a token
// endpoint's DPoP-Nonce header, a resource server's dpop-nonce metadata),
// by origin ("https://host:port"). Thread-safe; never holds its lock while
// calling anything. Invalid nonces are ignored. At most kMaxOrigins
// origins are kept: a new one past that replaces an arbitrary old one.
class DpopNonceCache {
 public:
  static constexpr size_t kMaxOrigins = 64;

  // The nonce to send to `origin`; empty when none is known.
  std::string Get(absl::string_view origin) const ABSL_LOCKS_EXCLUDED(mu_);
  // Records the nonce a response from `origin` carried. Returns whether it
  // is new (differs from the one kept), i.e. whether a request refused for
  // its nonce is worth sending again with this one.
  bool Update(absl::string_view origin, absl::string_view nonce) ABSL_LOCKS_EXCLUDED(mu_);

 private:
  mutable Mutex mu_;
  absl::flat_hash_map<std::string, std::string> nonces_ ABSL_GUARDED_BY(mu_);
};

}  // namespace internal
}  // namespace authrefresh

#endif  // AUTHREFRESH_INTERCEPTOR_INTERNAL_DPOP_H_
