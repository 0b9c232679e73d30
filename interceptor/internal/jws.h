// interceptor/internal/jws.h
//
// Signed JWTs (RFC 7519) in JWS compact serialization (RFC 7515): RS256,
// ES256 and PS256 (RFC 7518 section 3) and EdDSA with Ed25519 (RFC 8037),
// for client assertions (RFC 7523 section 2.2), the JWT-bearer grant
// (section 2.1) and DPoP proofs (RFC 9449). All cryptography is OpenSSL 3's:
// key parsing and generation, SHA-256, the signatures, random numbers and
// certificate thumbprints. Nothing here ever puts key material in a status.

#ifndef AUTHREFRESH_INTERCEPTOR_INTERNAL_JWS_H_
#define AUTHREFRESH_INTERCEPTOR_INTERNAL_JWS_H_

#include <cstdint>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace authrefresh {
namespace internal {

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
  // The JWS signature of `signing_input` (RFC 7515 section 5.1), raw bytes:
  // r || s for ES256 (RFC 7518 section 3.4), PSS with a 32-byte salt for
  // PS256.
  absl::StatusOr<std::string> Sign(absl::string_view signing_input) const;
  // The public key as a JWK with exactly the members RFC 7638 section 3.2
  // requires, in its order and without whitespace, so that it is both the
  // "jwk" header and the input of the key's thumbprint: {"crv","kty","x","y"}
  // (EC), {"crv","kty","x"} (Ed25519), {"e","kty","n"} (RSA).
  const std::string& public_jwk() const { return public_jwk_; }

 private:
  friend class JwtSigner;  // checks a certificate against the key
  struct Key;
  JwsPrivateKey(std::unique_ptr<Key> key, JwsAlgorithm algorithm);
  static absl::StatusOr<std::unique_ptr<const JwsPrivateKey>> Finish(std::unique_ptr<Key> key,
                                                                     JwsAlgorithm algorithm,
                                                                     absl::string_view what);
  const std::unique_ptr<Key> key_;
  const JwsAlgorithm algorithm_;
  std::string public_jwk_;
};

// What a signing key is made of, already read from its files.
struct JwsKeyMaterial {
  JwsAlgorithm algorithm = JwsAlgorithm::kRS256;
  std::string private_key_pem;  // unencrypted PEM
  std::string key_id;           // "kid"; empty: none
  std::string certificate_pem;  // optional: "x5t" and "x5t#S256"
};

class JwtSigner {
 public:
  // Parses and checks the key (JwsPrivateKey::FromPem), matching the
  // certificate when one is given. Errors are
  // INVALID_ARGUMENT starting with `what` (the option's name) and naming the
  // problem, never the key; INTERNAL if OpenSSL cannot compute the
  // certificate's thumbprint.
  static absl::StatusOr<std::shared_ptr<const JwtSigner>> Create(const JwsKeyMaterial& key,
                                                                 absl::string_view what);
  ~JwtSigner();
  JwtSigner(const JwtSigner&) = delete;
  JwtSigner& operator=(const JwtSigner&) = delete;

  // header.payload.signature for the JSON object `claims_json`, with the
  // header {"alg", "typ":"JWT", "kid"?, "x5t"?, "x5t#S256"?}. Thread-safe.
  absl::StatusOr<std::string> Sign(absl::string_view claims_json) const;

 private:
  JwtSigner(std::unique_ptr<const JwsPrivateKey> key, std::string header);
  const std::unique_ptr<const JwsPrivateKey> key_;
  const std::string encoded_header_;
};

// For a TLS client certificate: checks that both parse (an unencrypted PEM
// private key of any type, a PEM X.509 certificate) and belong together.
// INVALID_ARGUMENT starting with `what`, never quoting either.
absl::Status CheckCertificateAndKey(absl::string_view certificate_pem,
                                    absl::string_view private_key_pem, absl::string_view what);

// base64url without padding (RFC 7515 section 2).
std::string Base64Url(absl::string_view data);

// 128 bits from OpenSSL's CSPRNG, base64url: a fresh "jti".
std::string NewJwtId();

// base64url(SHA-256(data)), OpenSSL's SHA-256: RFC 7638 thumbprints and
// DPoP's "ath".
std::string Sha256Base64Url(absl::string_view data);

// Builds a JSON object, one member at a time, escaping strings (RFC 8259).
class JsonObject {
 public:
  JsonObject& Add(absl::string_view name, absl::string_view value);
  JsonObject& Add(absl::string_view name, int64_t value);
  // `json` is already a JSON value (an object built by another JsonObject).
  JsonObject& AddJson(absl::string_view name, absl::string_view json);
  std::string Close() const { return out_ + "}"; }

 private:
  void Name(absl::string_view name);
  std::string out_ = "{";
};

}  // namespace internal
}  // namespace authrefresh

#endif  // AUTHREFRESH_INTERCEPTOR_INTERNAL_JWS_H_
