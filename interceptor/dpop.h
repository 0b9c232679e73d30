// interceptor/dpop.h
//
// Defines `DpopKey`: the key of DPoP (RFC 9449), which binds access tokens
// to a key the client holds, so that a token is useless to whoever steals it
// without the key. Give the key to the HTTP refresher
// (HttpTokenRefresherOptions::dpop): every grant then carries a proof of it,
// the token service binds the tokens it issues to it, and every call through
// an authrefresh channel with that manager carries `authorization: DPoP
// <token>` and a fresh `dpop` proof (README, "DPoP").
//
// The private key never leaves this object: statuses, logs and events only
// ever show the public JWK and its RFC 7638 thumbprint (the "jkt" that a
// token service writes in a bound token's "cnf").

#ifndef AUTHREFRESH_INTERCEPTOR_DPOP_H_
#define AUTHREFRESH_INTERCEPTOR_DPOP_H_

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace authrefresh {
namespace internal {
class JwsPrivateKey;
}  // namespace internal

class DpopKey {
 public:
  enum class Algorithm {
    kES256,  // ECDSA P-256 with SHA-256: the default, and the fastest here
    kEdDSA,  // Ed25519
    kRS256,  // RSASSA-PKCS1-v1_5 with SHA-256, RSA of >= 2048 bits
    kPS256,  // RSASSA-PSS with SHA-256, RSA of >= 2048 bits
  };
  // "ES256", "EdDSA", "RS256", "PS256": the JWS "alg" value.
  static const char* AlgorithmName(Algorithm algorithm);

  // An unencrypted PEM private key ("PRIVATE KEY", "EC PRIVATE KEY" or "RSA
  // PRIVATE KEY") of the kind `algorithm` wants. INVALID_ARGUMENT naming the
  // problem (not PEM, encrypted, a public key, the wrong type or size),
  // never quoting the key.
  static absl::StatusOr<std::shared_ptr<const DpopKey>> FromPem(
      absl::string_view pem, Algorithm algorithm = Algorithm::kES256);
  // The same, read once from a file (at most 64 KiB); an unreadable file is
  // INVALID_ARGUMENT naming its path. Replicas that share tokens
  // (shared_token.h) must all read the same key.
  static absl::StatusOr<std::shared_ptr<const DpopKey>> FromFile(
      const std::string& path, Algorithm algorithm = Algorithm::kES256);
  // A new key, kept only in this process's memory: tokens bound to it die
  // with the process (a restart, or another replica, must get new ones).
  static absl::StatusOr<std::shared_ptr<const DpopKey>> Generate(
      Algorithm algorithm = Algorithm::kES256);

  ~DpopKey();
  DpopKey(const DpopKey&) = delete;
  DpopKey& operator=(const DpopKey&) = delete;

  Algorithm algorithm() const { return algorithm_; }
  // The public key as a JWK (RFC 7638's required members, no whitespace).
  const std::string& public_jwk() const { return public_jwk_; }
  // base64url(SHA-256(public_jwk())): RFC 7638's thumbprint, the "jkt" of a
  // token bound to this key (Token::dpop_jkt).
  const std::string& thumbprint() const { return thumbprint_; }

  // What one proof asserts (RFC 9449 section 4.2).
  struct Claims {
    absl::string_view method;  // "htm": "POST" for a token request and a gRPC call
    absl::string_view uri;     // "htu": the URL without query and fragment
    absl::Time issued_at;      // "iat", whole seconds
    absl::string_view nonce;   // "nonce", when the server gave one; empty: none
    // The access token the proof goes with, for "ath" = base64url(SHA-256);
    // empty (token requests): no "ath".
    absl::string_view access_token;
    // "ath" already computed (base64url(SHA-256(access_token))); when set,
    // access_token is not hashed again.
    absl::string_view access_token_hash;
  };
  // A proof JWT: header {"typ":"dpop+jwt","alg","jwk"} (encoded once, when
  // the key is made), claims {"jti" (128 random bits), "htm", "htu", "iat",
  // "nonce"?, "ath"?}. Thread-safe. INTERNAL if OpenSSL fails to sign.
  absl::StatusOr<std::string> Proof(const Claims& claims) const;

 private:
  DpopKey(std::unique_ptr<const internal::JwsPrivateKey> key, Algorithm algorithm);
  const std::unique_ptr<const internal::JwsPrivateKey> key_;
  const Algorithm algorithm_;
  const std::string public_jwk_;
  const std::string thumbprint_;
  const std::string encoded_header_;  // base64url of the header, and "."
};

}  // namespace authrefresh

#endif  // AUTHREFRESH_INTERCEPTOR_DPOP_H_
