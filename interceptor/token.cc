#include "interceptor/token.h"
#include "interceptor/token_refresher.h"

#include <openssl/sha.h>

#include "absl/strings/escaping.h"
#include "absl/strings/numbers.h"
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

namespace {
constexpr char kRetryAfterPayload[] = "type.authrefresh.dev/retry-after-ms";
}  // namespace

absl::Status WithRetryAfter(absl::Status status, absl::Duration delay) {
  if (status.ok()) return status;
  status.SetPayload(kRetryAfterPayload,
                    absl::Cord(absl::StrCat(absl::ToInt64Milliseconds(delay))));
  return status;
}

std::optional<absl::Duration> RetryAfterOf(const absl::Status& status) {
  absl::optional<absl::Cord> payload = status.GetPayload(kRetryAfterPayload);
  int64_t ms = 0;
  if (!payload || !absl::SimpleAtoi(std::string(*payload), &ms) || ms < 0) {
    return std::nullopt;
  }
  return absl::Milliseconds(ms);
}

}  // namespace authrefresh
