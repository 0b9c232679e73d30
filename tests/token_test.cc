// TokenFingerprint() (interceptor/token.h), the only form in which
// authrefresh shows a token: stable, short, and never the token itself.

#include "interceptor/token.h"

#include <string>

#include "absl/strings/match.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace authrefresh {
namespace {

using ::testing::MatchesRegex;
using ::testing::Ne;

TEST(TokenFingerprint, IsTheFirstTwelveHexDigitsOfTheSha256) {
  // sha256("abc") = ba7816bf8f01cfea414140de5dae2223...
  EXPECT_EQ(TokenFingerprint("abc"), "sha256:ba7816bf8f01");
  EXPECT_THAT(TokenFingerprint("eyJhbGciOiJSUzI1NiJ9.payload.signature"),
              MatchesRegex("sha256:[0-9a-f]{12}"));
}

TEST(TokenFingerprint, IsStableAndTellsTokensApart) {
  EXPECT_EQ(TokenFingerprint("access-one"), TokenFingerprint("access-one"));
  EXPECT_THAT(TokenFingerprint("access-one"), Ne(TokenFingerprint("access-two")));
}

TEST(TokenFingerprint, NeverShowsTheSecretAndNamesNoToken) {
  // A secret made of hex digits is not a prefix of its own fingerprint.
  const std::string secret = "ba7816bf8f01cfea";
  EXPECT_FALSE(absl::StrContains(TokenFingerprint(secret), secret.substr(0, 8)));
  EXPECT_EQ(TokenFingerprint(""), "none");
}

}  // namespace
}  // namespace authrefresh
