// interceptor/internal/jws.h
//
// Signed JWTs (RFC 7519) in JWS compact serialization (RFC 7515): RS256,
// ES256 and PS256 (RFC 7518 section 3) and EdDSA with Ed25519 (RFC 8037),
// for client assertions (RFC 7523 section 2.2), the JWT-bearer grant
// (section 2.1) and DPoP proofs (RFC 9449), and the encodings they share
// (base64url, jti, SHA-256, JSON objects). The keys are jws_key.h's. All
// cryptography is OpenSSL 3's. Nothing here ever puts key material in a
// status.

#ifndef AUTHREFRESH_INTERCEPTOR_INTERNAL_JWS_H_
#define AUTHREFRESH_INTERCEPTOR_INTERNAL_JWS_H_

#include <cstdint>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "interceptor/internal/jws_key.h"

namespace authrefresh {
namespace internal {

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
  // Room for a JWT header or claims set without growing the string.
  JsonObject() { out_.reserve(256); }
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
