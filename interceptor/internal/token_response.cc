#include "interceptor/internal/token_response.h"

#include <utility>

#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_replace.h"
#include "absl/time/clock.h"

namespace authrefresh {
namespace internal {
namespace {

absl::Status Malformed(absl::string_view why) {
  return absl::InternalError(absl::StrCat("malformed token response: ", why));
}

}  // namespace

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

absl::Status CheckGrantedToken(const Token& token) {
  if (absl::Status s = CheckTokenSyntax(token.access_token, "access_token"); !s.ok()) {
    return Malformed(s.message());
  }
  if (!token.refresh_token.empty()) {
    if (absl::Status s = CheckTokenSyntax(token.refresh_token, "refresh_token"); !s.ok()) {
      return Malformed(s.message());
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<Token> TokenFromResponse(const v1::TokenResponse& response,
                                        absl::Time sent_at,
                                        const std::vector<std::string>& secrets,
                                        const ExpectedTokenType& expected) {
  const bool bearer = absl::EqualsIgnoreCase(response.token_type(), "Bearer");
  const bool dpop = !expected.dpop_jkt.empty();
  if (dpop && bearer && !expected.accept_bearer) {
    return absl::FailedPreconditionError(
        "the token service answered token_type \"Bearer\" to a DPoP request: it does not "
        "bind this client's tokens to its key (enable DPoP for the client there, or set "
        "HttpTokenRefresherOptions::dpop.accept_bearer)");
  }
  const bool bound = dpop && absl::EqualsIgnoreCase(response.token_type(), "DPoP");
  if (!bearer && !bound) {
    // token_type is untrusted and may carry anything, even a token: show a
    // bounded, escaped excerpt with every secret taken out first.
    std::string shown = response.token_type();
    for (const std::string* secret :
         {&response.access_token(), &response.refresh_token()}) {
      if (!secret->empty()) absl::StrReplaceAll({{*secret, "<redacted>"}}, &shown);
    }
    for (const std::string& secret : secrets) {
      if (!secret.empty()) absl::StrReplaceAll({{secret, "<redacted>"}}, &shown);
    }
    return Malformed(absl::StrCat("token_type is \"",
                                  absl::CHexEscape(absl::string_view(shown).substr(0, 32)),
                                  "\", expected \"", dpop ? "DPoP" : "Bearer", "\""));
  }
  if (response.expires_in() < 0) {
    return Malformed(absl::StrCat("expires_in is negative (", response.expires_in(), ")"));
  }
  Token token;
  token.access_token = response.access_token();
  token.refresh_token = response.refresh_token();
  token.scope = response.scope();
  token.issued_at = sent_at;
  if (bound) token.dpop_jkt = expected.dpop_jkt;
  // absl::Seconds saturates to InfiniteDuration on overflow.
  token.expires_at = response.expires_in() == 0
                         ? absl::InfiniteFuture()
                         : sent_at + absl::Seconds(response.expires_in());
  if (absl::Status s = CheckGrantedToken(token); !s.ok()) return s;
  return token;
}

Token UsableWithKey(Token token, absl::string_view key_jkt) {
  if (!token.dpop_jkt.empty() && token.dpop_jkt != key_jkt) {
    token.access_token.clear();
    token.expires_at = absl::InfiniteFuture();
    token.issued_at = absl::InfinitePast();
    token.dpop_jkt.clear();
  }
  return token;
}

absl::Time RequestedAt(const GrantRequest& request) {
  return request.requested_at != absl::InfinitePast() ? request.requested_at : absl::Now();
}

Token WithKeptFields(Token granted, const Token& previous) {
  if (granted.refresh_token.empty()) granted.refresh_token = previous.refresh_token;
  if (granted.scope.empty()) granted.scope = previous.scope;
  return granted;
}

}  // namespace internal
}  // namespace authrefresh
