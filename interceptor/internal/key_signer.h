// interceptor/internal/key_signer.h
//
// Defines `KeySigner`: the JWS signatures of one OpenSSL private key, made
// the cheap way. A signature context is set up once and reused, and SHA-256
// is fetched from OpenSSL's providers once, instead of both at every
// signature: that setup was about 24,000 instructions, 8% of an ES256
// signature, paid by every DPoP proof.

#ifndef AUTHREFRESH_INTERCEPTOR_INTERNAL_KEY_SIGNER_H_
#define AUTHREFRESH_INTERCEPTOR_INTERNAL_KEY_SIGNER_H_

#include <openssl/types.h>

#include <cstddef>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "interceptor/internal/jws_key.h"
#include "interceptor/internal/mutex.h"

namespace authrefresh {
namespace internal {

class KeySigner {
 public:
  // Signs with `pkey` (which it keeps a reference to) as `algorithm` says;
  // the key's type must fit it (JwsPrivateKey checks). INTERNAL if OpenSSL
  // has no SHA-256.
  static absl::StatusOr<std::unique_ptr<KeySigner>> Create(EVP_PKEY* pkey, JwsAlgorithm algorithm);
  ~KeySigner();
  KeySigner(const KeySigner&) = delete;
  KeySigner& operator=(const KeySigner&) = delete;

  // The JWS signature of `signing_input`, raw bytes: r || s for ES256 (RFC
  // 7518 section 3.4), PKCS#1 v1.5 for RS256, PSS with a 32-byte salt for
  // PS256, Ed25519 for EdDSA. Thread-safe. INTERNAL if OpenSSL fails.
  absl::StatusOr<std::string> Sign(absl::string_view signing_input);

 private:
  KeySigner(EVP_PKEY* pkey, EVP_MD* sha256, JwsAlgorithm algorithm);
  // A context for EVP_PKEY_sign of a SHA-256 digest, from the idle ones or
  // new; null if OpenSSL fails. Give it back with Release().
  EVP_PKEY_CTX* Acquire();
  void Release(EVP_PKEY_CTX* ctx);
  absl::StatusOr<std::string> SignDigest(absl::string_view signing_input);
  absl::StatusOr<std::string> SignEd25519(absl::string_view signing_input);

  // Contexts kept when idle; more threads signing at once make more, and
  // free those beyond this many when they are done.
  static constexpr size_t kMaxIdle = 16;

  EVP_PKEY* const pkey_;
  EVP_MD* const sha256_;
  const JwsAlgorithm algorithm_;
  Mutex mu_;
  // Set-up contexts not in use now; a context is used by one thread at a
  // time.
  std::vector<EVP_PKEY_CTX*> idle_ ABSL_GUARDED_BY(mu_);
};

}  // namespace internal
}  // namespace authrefresh

#endif  // AUTHREFRESH_INTERCEPTOR_INTERNAL_KEY_SIGNER_H_
