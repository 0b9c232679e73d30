// interceptor/internal/aes_gcm.h
//
// AES-256-GCM with OpenSSL 3 (EVP): how the Redis backend keeps tokens
// encrypted at rest. Nothing here is hand-written cryptography.

#ifndef AUTHREFRESH_INTERCEPTOR_INTERNAL_AES_GCM_H_
#define AUTHREFRESH_INTERCEPTOR_INTERNAL_AES_GCM_H_

#include <cstddef>
#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace authrefresh {
namespace internal {

inline constexpr size_t kAes256KeyBytes = 32;

// base64(nonce || ciphertext || tag): `plaintext` encrypted under `key`
// (kAes256KeyBytes) with a fresh random 96-bit nonce and a 128-bit tag,
// authenticating `aad` too. INTERNAL if OpenSSL fails or the key is not
// 32 bytes.
absl::StatusOr<std::string> SealAes256Gcm(absl::string_view key, absl::string_view aad,
                                          absl::string_view plaintext);

// The plaintext of SealAes256Gcm's `sealed`; nullopt when it is not base64,
// too short, or does not authenticate under `key` and `aad`.
std::optional<std::string> OpenAes256Gcm(absl::string_view key, absl::string_view aad,
                                         absl::string_view sealed);

}  // namespace internal
}  // namespace authrefresh

#endif  // AUTHREFRESH_INTERCEPTOR_INTERNAL_AES_GCM_H_
