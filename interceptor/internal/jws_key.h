// interceptor/internal/jws_key.h
//
// The private keys JWS signatures are made with (RFC 7515, RFC 7518 section
// 3, RFC 8037): parsed from PEM or generated, checked against their
// algorithm, their public half as a JWK, and certificates checked against
// them. All cryptography is OpenSSL 3's. Nothing here ever puts key
// material in a status.

#ifndef AUTHREFRESH_INTERCEPTOR_INTERNAL_JWS_KEY_H_
#define AUTHREFRESH_INTERCEPTOR_INTERNAL_JWS_KEY_H_

#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace authrefresh {
namespace internal {

class KeySigner;

enum class JwsAlgorithm { kRS256, kES256, kPS256, kEdDSA };

// "RS256", "ES256", "PS256", "EdDSA": the JWS "alg" value.
const char* JwsAlgorithmName(JwsAlgorithm algorithm);

// A private key checked against the JWS algorithm it signs with: RSA of at
// least 2048 bits for RS256 and PS256, EC P-256 for ES256, Ed25519 for
// EdDSA. Immutable and thread-safe.
class JwsPrivateKey {
 public:
  // Parses an unencrypted PEM private key ("PRIVATE KEY", "RSA PRIVATE KEY"
  // or "EC PRIVATE KEY"). INVALID_ARGUMENT starting with `what` and naming
  // the problem (not PEM, encrypted, unparsable, the wrong type or size for
  // `algorithm`), never the key.
  static absl::StatusOr<std::unique_ptr<const JwsPrivateKey>> FromPem(absl::string_view pem,
                                                                      JwsAlgorithm algorithm,
                                                                      absl::string_view what);
  // A new key from OpenSSL's generator (RSA keys have 2048 bits). INTERNAL
  // if OpenSSL fails.
  static absl::StatusOr<std::unique_ptr<const JwsPrivateKey>> Generate(JwsAlgorithm algorithm);
  ~JwsPrivateKey();
  JwsPrivateKey(const JwsPrivateKey&) = delete;
  JwsPrivateKey& operator=(const JwsPrivateKey&) = delete;

  JwsAlgorithm algorithm() const { return algorithm_; }
  // Parses `certificate_pem` (PEM X.509), checks that it is this key's, and
  // returns its SHA-1 and SHA-256 thumbprints, base64url: the "x5t" and
  // "x5t#S256" JWS headers. INVALID_ARGUMENT starting with `what`; INTERNAL
  // if OpenSSL cannot compute a thumbprint.
  struct Thumbprints {
    std::string sha1;
    std::string sha256;
  };
  absl::StatusOr<Thumbprints> CertificateThumbprints(absl::string_view certificate_pem,
                                                     absl::string_view what) const;
  // The JWS signature of `signing_input` (RFC 7515 section 5.1), raw bytes:
  // r || s for ES256 (RFC 7518 section 3.4), PSS with a 32-byte salt for
  // PS256. Thread-safe (KeySigner).
  absl::StatusOr<std::string> Sign(absl::string_view signing_input) const;
  // The public key as a JWK with exactly the members RFC 7638 section 3.2
  // requires, in its order and without whitespace, so that it is both the
  // "jwk" header and the input of the key's thumbprint: {"crv","kty","x","y"}
  // (EC), {"crv","kty","x"} (Ed25519), {"e","kty","n"} (RSA).
  const std::string& public_jwk() const { return public_jwk_; }

 private:
  struct Key;
  JwsPrivateKey(std::unique_ptr<Key> key, JwsAlgorithm algorithm);
  static absl::StatusOr<std::unique_ptr<const JwsPrivateKey>> Finish(std::unique_ptr<Key> key,
                                                                     JwsAlgorithm algorithm,
                                                                     absl::string_view what);
  const std::unique_ptr<Key> key_;
  const JwsAlgorithm algorithm_;
  std::string public_jwk_;
  std::unique_ptr<KeySigner> signer_;
};

// For a TLS client certificate: checks that both parse (an unencrypted PEM
// private key of any type, a PEM X.509 certificate) and belong together.
// INVALID_ARGUMENT starting with `what`, never quoting either.
absl::Status CheckCertificateAndKey(absl::string_view certificate_pem,
                                    absl::string_view private_key_pem, absl::string_view what);

}  // namespace internal
}  // namespace authrefresh

#endif  // AUTHREFRESH_INTERCEPTOR_INTERNAL_JWS_KEY_H_
