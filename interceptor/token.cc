#include "interceptor/token.h"

#include <openssl/sha.h>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"

namespace authrefresh {

std::string TokenFingerprint(absl::string_view secret) {
  if (secret.empty()) return "none";
  unsigned char digest[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(secret.data()), secret.size(),
         digest);
  return absl::StrCat(
      "sha256:",
      absl::BytesToHexString(absl::string_view(
          reinterpret_cast<const char*>(digest), 6)));
}

}  // namespace authrefresh
