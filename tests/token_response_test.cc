// The one place that validates token responses.

#include "interceptor/internal/token_response.h"

#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/manual_refresher.h"
#include "tests/testing/status_matchers.h"

namespace authrefresh {
namespace {

using internal::CheckGrantedToken;
using internal::CheckTokenSyntax;
using internal::kMaxTokenBytes;
using internal::TokenFromResponse;
using internal::WithKeptFields;
using ::testing::AllOf;
using testing::Bearer;
using ::testing::HasSubstr;
using testing::IsOk;
using ::testing::Not;
using testing::StatusIs;

const absl::Time kSent = absl::FromUnixSeconds(1'700'000'000);

TEST(TokenFromResponse, BuildsTheToken) {
  v1::TokenResponse r = Bearer("at-new", "rt-new", 300);
  r.set_scope("read write");
  absl::StatusOr<Token> t = TokenFromResponse(r, kSent);
  ASSERT_THAT(t, IsOk());
  EXPECT_EQ(t->access_token, "at-new");
  EXPECT_EQ(t->refresh_token, "rt-new");
  EXPECT_EQ(t->expires_at, kSent + absl::Seconds(300));
  EXPECT_EQ(t->issued_at, kSent);
  EXPECT_EQ(t->scope, "read write");
}

TEST(TokenFromResponse, ADpopGrantWantsADpopToken) {
  const internal::ExpectedTokenType dpop{"jkt-of-the-key", false};
  v1::TokenResponse r = Bearer("at-new", "rt-new", 300);
  r.set_token_type("DPoP");
  absl::StatusOr<Token> bound = TokenFromResponse(r, kSent, {}, dpop);
  ASSERT_THAT(bound, IsOk());
  EXPECT_EQ(bound->dpop_jkt, "jkt-of-the-key");
  // Without DPoP asked, a DPoP answer is malformed.
  EXPECT_THAT(TokenFromResponse(r, kSent),
              StatusIs(absl::StatusCode::kInternal, HasSubstr("expected \"Bearer\"")));
  // A downgrade to Bearer is a rejected client unless accepted.
  r.set_token_type("Bearer");
  EXPECT_THAT(TokenFromResponse(r, kSent, {}, dpop),
              StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("accept_bearer")));
  absl::StatusOr<Token> downgraded =
      TokenFromResponse(r, kSent, {}, internal::ExpectedTokenType{"jkt-of-the-key", true});
  ASSERT_THAT(downgraded, IsOk());
  EXPECT_EQ(downgraded->dpop_jkt, "");
  r.set_token_type("mac");
  EXPECT_THAT(TokenFromResponse(r, kSent, {}, dpop),
              StatusIs(absl::StatusCode::kInternal, HasSubstr("expected \"DPoP\"")));
}

TEST(UsableWithKey, ATokenBoundToAnotherKeyLosesItsAccessToken) {
  Token t{"at", "rt", kSent + absl::Hours(1), "s", kSent};
  t.dpop_jkt = "old-key";
  const Token same = internal::UsableWithKey(t, "old-key");
  EXPECT_EQ(same.access_token, "at");
  const Token other = internal::UsableWithKey(t, "new-key");
  EXPECT_EQ(other.access_token, "");
  EXPECT_EQ(other.refresh_token, "rt");
  EXPECT_EQ(other.dpop_jkt, "");
  EXPECT_EQ(internal::UsableWithKey(t, "").access_token, "");
  t.dpop_jkt.clear();  // a bearer token is usable with or without a key
  EXPECT_EQ(internal::UsableWithKey(t, "new-key").access_token, "at");
}

TEST(TokenFromResponse, WhatTheAnswerLeftOutStaysEmptyAndNoExpiryIsNever) {
  absl::StatusOr<Token> t = TokenFromResponse(Bearer("at-new", "", 0), kSent);
  ASSERT_THAT(t, IsOk());
  EXPECT_EQ(t->refresh_token, "");
  EXPECT_EQ(t->scope, "");
  EXPECT_EQ(t->expires_at, absl::InfiniteFuture());
}

TEST(WithKeptFields, KeepsTheRefreshTokenAndScopeTheAnswerDidNotCarry) {
  const Token previous{"at-old", "rt-old", absl::InfiniteFuture(), "read"};
  Token kept = WithKeptFields(Token{"at-new"}, previous);
  EXPECT_EQ(kept.access_token, "at-new");
  EXPECT_EQ(kept.refresh_token, "rt-old");
  EXPECT_EQ(kept.scope, "read");
  Token rotated =
      WithKeptFields(Token{"at-new", "rt-new", absl::InfiniteFuture(), "write"}, previous);
  EXPECT_EQ(rotated.refresh_token, "rt-new");
  EXPECT_EQ(rotated.scope, "write");
}

TEST(CheckGrantedToken, RefusesWhatNoHeaderCanCarryAsTransient) {
  EXPECT_THAT(CheckGrantedToken(Token{"at-1", ""}), IsOk());
  EXPECT_THAT(CheckGrantedToken(Token{"", "rt-1"}),
              StatusIs(absl::StatusCode::kInternal, HasSubstr("access_token is empty")));
  EXPECT_THAT(CheckGrantedToken(Token{"at-1", "rt\n1"}),
              StatusIs(absl::StatusCode::kInternal, HasSubstr("refresh_token has a byte")));
}

TEST(TokenFromResponse, TokenTypeIsCaseInsensitive) {
  v1::TokenResponse r = Bearer("at-new");
  r.set_token_type("bEaReR");
  EXPECT_THAT(TokenFromResponse(r, kSent), IsOk());
}

TEST(TokenFromResponse, AWrongTokenTypeIsShownWithoutAnySecretInIt) {
  v1::TokenResponse r = Bearer("at-new#1", "rt-new#1");
  r.set_token_type("x-rt-presented#1-at-new#1-rt-new#1");
  absl::StatusOr<Token> t = TokenFromResponse(r, kSent, {"rt-presented#1"});
  EXPECT_THAT(t, StatusIs(absl::StatusCode::kInternal, HasSubstr("token_type is \"x-<redacted>-")));
  EXPECT_THAT(std::string(t.status().message()),
              AllOf(Not(HasSubstr("rt-presented#1")), Not(HasSubstr("at-new#1")),
                    Not(HasSubstr("rt-new#1"))));
}

TEST(TokenFromResponse, HugeExpiresInSaturates) {
  v1::TokenResponse r = Bearer("at-new", "", INT64_MAX);
  absl::StatusOr<Token> t = TokenFromResponse(r, kSent);
  ASSERT_THAT(t, IsOk());
  EXPECT_EQ(t->expires_at, absl::InfiniteFuture());
}

struct Malformed {
  const char* name;
  v1::TokenResponse response;
  const char* problem;
};

class MalformedResponse : public ::testing::TestWithParam<Malformed> {};

TEST_P(MalformedResponse, IsRejectedWithAClearErrorThatHidesTheToken) {
  const Malformed& m = GetParam();
  absl::StatusOr<Token> t = TokenFromResponse(m.response, kSent);
  EXPECT_THAT(
      t, StatusIs(absl::StatusCode::kInternal,
                  ::testing::AllOf(HasSubstr("malformed token response"), HasSubstr(m.problem))));
  if (!m.response.access_token().empty()) {
    EXPECT_THAT(std::string(t.status().message()), Not(HasSubstr(m.response.access_token())));
  }
}

v1::TokenResponse With(std::function<void(v1::TokenResponse&)> edit) {
  v1::TokenResponse r = Bearer("at-new", "rt-new", 60);
  edit(r);
  return r;
}

INSTANTIATE_TEST_SUITE_P(
    All, MalformedResponse,
    ::testing::Values(
        Malformed{"EmptyAccessToken", With([](auto& r) { r.set_access_token(""); }),
                  "access_token is empty"},
        Malformed{"NotBearer", With([](auto& r) { r.set_token_type("MAC"); }),
                  "token_type is \"MAC\""},
        Malformed{"MissingTokenType", With([](auto& r) { r.set_token_type(""); }),
                  "expected \"Bearer\""},
        Malformed{"NegativeExpiry", With([](auto& r) { r.set_expires_in(-1); }),
                  "expires_in is negative"},
        Malformed{"CrLf", With([](auto& r) { r.set_access_token("ab\r\nx: y"); }),
                  "0x0d at offset 2"},
        Malformed{"Nul", With([](auto& r) { r.set_access_token(std::string("ab\0c", 4)); }),
                  "0x00 at offset 2"},
        Malformed{"Space", With([](auto& r) { r.set_access_token("ab cd"); }), "0x20 at offset 2"},
        Malformed{"NonAscii", With([](auto& r) { r.set_access_token("tok\xc3\xa9"); }),
                  "0xc3 at offset 3"},
        Malformed{"SixteenKiB",
                  With([](auto& r) { r.set_access_token(std::string(16 * 1024, 'a')); }),
                  "over the 7168-byte limit"},
        Malformed{"BadRefreshToken", With([](auto& r) { r.set_refresh_token("rt\nnew"); }),
                  "refresh_token has a byte"}),
    [](const ::testing::TestParamInfo<Malformed>& info) { return info.param.name; });

TEST(CheckTokenSyntax, AcceptsVisibleAsciiUpToTheLimit) {
  EXPECT_THAT(CheckTokenSyntax("eyJhbGc.iOiJ-_~+/=", "t"), IsOk());
  EXPECT_THAT(CheckTokenSyntax(std::string(kMaxTokenBytes, 'a'), "t"), IsOk());
  EXPECT_THAT(CheckTokenSyntax(std::string(kMaxTokenBytes + 1, 'a'), "t"),
              StatusIs(absl::StatusCode::kInvalidArgument));
}

}  // namespace
}  // namespace authrefresh
