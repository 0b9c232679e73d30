// interceptor/internal/jws.h
//
// Signed JWTs (RFC 7519) in JWS compact serialization (RFC 7515), RS256 and
// ES256 (RFC 7518 section 3), for client assertions (RFC 7523 section 2.2)
// and the JWT-bearer grant (section 2.1). All cryptography is OpenSSL 3's:
// key parsing, SHA-256, the signatures, random numbers and certificate
// thumbprints. Nothing here ever puts key material in a status.

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

enum class JwsAlgorithm { kRS256, kES256 };

// What a signing key is made of, already read from its files.
struct JwsKeyMaterial {
  JwsAlgorithm algorithm = JwsAlgorithm::kRS256;
  std::string private_key_pem;  // unencrypted PEM
  std::string key_id;           // "kid"; empty: none
  std::string certificate_pem;  // optional: "x5t" and "x5t#S256"
};

class JwtSigner {
 public:
  // Parses and checks the key: a PEM private key, unencrypted, of the
  // algorithm's type (RSA of at least 2048 bits for RS256, EC P-256 for
  // ES256), matching the certificate when one is given. Errors are
  // INVALID_ARGUMENT starting with `what` (the option's name) and naming the
  // problem, never the key; INTERNAL if OpenSSL cannot compute the
  // certificate's thumbprint.
  static absl::StatusOr<std::shared_ptr<const JwtSigner>> Create(
      const JwsKeyMaterial& key, absl::string_view what);
  ~JwtSigner();
  JwtSigner(const JwtSigner&) = delete;
  JwtSigner& operator=(const JwtSigner&) = delete;

  // header.payload.signature for the JSON object `claims_json`, with the
  // header {"alg", "typ":"JWT", "kid"?, "x5t"?, "x5t#S256"?}. Thread-safe.
  absl::StatusOr<std::string> Sign(absl::string_view claims_json) const;

 private:
  struct Key;
  JwtSigner(std::unique_ptr<Key> key, JwsAlgorithm algorithm, std::string header);
  const std::unique_ptr<Key> key_;
  const JwsAlgorithm algorithm_;
  const std::string encoded_header_;
};

// For a TLS client certificate: checks that both parse (an unencrypted PEM
// private key of any type, a PEM X.509 certificate) and belong together.
// INVALID_ARGUMENT starting with `what`, never quoting either.
absl::Status CheckCertificateAndKey(absl::string_view certificate_pem,
                                    absl::string_view private_key_pem,
                                    absl::string_view what);

// base64url without padding (RFC 7515 section 2).
std::string Base64Url(absl::string_view data);

// 128 bits from OpenSSL's CSPRNG, base64url: a fresh "jti".
std::string NewJwtId();

// Builds a JSON object, one member at a time, escaping strings (RFC 8259).
class JsonObject {
 public:
  JsonObject& Add(absl::string_view name, absl::string_view value);
  JsonObject& Add(absl::string_view name, int64_t value);
  std::string Close() const { return out_ + "}"; }

 private:
  void Name(absl::string_view name);
  std::string out_ = "{";
};

}  // namespace internal
}  // namespace authrefresh

#endif  // AUTHREFRESH_INTERCEPTOR_INTERNAL_JWS_H_
