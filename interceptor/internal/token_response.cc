#include "interceptor/internal/token_response.h"

#include <cstdint>
#include <limits>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace authrefresh {
namespace internal {

absl::Status CheckTokenSyntax(absl::string_view token, absl::string_view what) {
  if (token.empty()) return absl::InvalidArgumentError(absl::StrCat(what, " is empty"));
  if (token.size() > kMaxTokenBytes) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "%s is %d bytes, over the %d-byte limit", what, token.size(), kMaxTokenBytes));
  }
  for (size_t i = 0; i < token.size(); ++i) {
    const unsigned char c = static_cast<unsigned char>(token[i]);
    // RFC 7230 field-value characters, minus space: a bearer token is one word.
    if (c < 0x21 || c > 0x7e) {
      return absl::InvalidArgumentError(absl::StrFormat(
          "%s has a byte not allowed in a header value (0x%02x at offset %d)",
          what, c, i));
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<Token> TokenFromResponse(const v1::TokenResponse& response,
                                        absl::Time sent_at,
                                        const Token& previous) {
  auto malformed = [](absl::string_view why) {
    return absl::InvalidArgumentError(absl::StrCat("malformed token response: ", why));
  };
  if (!absl::EqualsIgnoreCase(response.token_type(), "Bearer")) {
    // token_type is not a secret, but it is untrusted: show a bounded, escaped
    // excerpt.
    return malformed(absl::StrCat(
        "token_type is \"",
        absl::CHexEscape(absl::string_view(response.token_type()).substr(0, 32)),
        "\", expected \"Bearer\""));
  }
  if (absl::Status s = CheckTokenSyntax(response.access_token(), "access_token");
      !s.ok()) {
    return malformed(s.message());
  }
  if (!response.refresh_token().empty()) {
    if (absl::Status s =
            CheckTokenSyntax(response.refresh_token(), "refresh_token");
        !s.ok()) {
      return malformed(s.message());
    }
  }
  if (response.expires_in() < 0) {
    return malformed(absl::StrCat("expires_in is negative (",
                                  response.expires_in(), ")"));
  }

  Token token;
  token.access_token = response.access_token();
  token.refresh_token = response.refresh_token().empty()
                            ? previous.refresh_token
                            : response.refresh_token();
  token.scope = response.scope().empty() ? previous.scope : response.scope();
  // absl::Seconds saturates to InfiniteDuration on overflow.
  token.expires_at = response.expires_in() == 0
                         ? absl::InfiniteFuture()
                         : sent_at + absl::Seconds(response.expires_in());
  return token;
}

}  // namespace internal
}  // namespace authrefresh
