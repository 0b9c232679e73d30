// What a token endpoint's HTTP answer means (RFC 6749 sections 5.1 and 5.2),
// without a network: every status, error code and malformed body.

#include "interceptor/internal/oauth_http.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "interceptor/internal/refresh_policy.h"
#include "interceptor/token_refresher.h"
#include "tests/testing/status_matchers.h"

namespace authrefresh {
namespace {

using internal::HttpAnswer;
using internal::InterpretTokenEndpointAnswer;
using internal::ParseRetryAfter;
using ::testing::HasSubstr;
using ::testing::Not;
using testing::IsOk;
using testing::StatusIs;

constexpr char kRefresh[] = "rt-presented-SECRET";
const absl::Time kNow = absl::FromUnixSeconds(1'700'000'000);

absl::StatusOr<Token> Interpret(long status, std::string body,
                                            std::optional<std::string> retry_after = {}) {
  HttpAnswer a;
  a.status = status;
  a.content_type = "application/json";
  a.body = std::move(body);
  a.retry_after = std::move(retry_after);
  return InterpretTokenEndpointAnswer(a, {kRefresh}, /*sent_at=*/kNow - absl::Seconds(2), kNow);
}

TEST(OAuthHttp, SuccessfulResponseFillsEveryField) {
  auto r = Interpret(200, R"({"access_token":"at-1","token_type":"Bearer",
      "expires_in":300,"refresh_token":"rt-2","scope":"read write",
      "id_token":"ignored","not-before-policy":0})");
  ASSERT_THAT(r, IsOk());
  EXPECT_EQ(r->access_token, "at-1");
  // expires_in counts from when the request was sent.
  EXPECT_EQ(r->issued_at, kNow - absl::Seconds(2));
  EXPECT_EQ(r->expires_at, kNow - absl::Seconds(2) + absl::Seconds(300));
  EXPECT_EQ(r->refresh_token, "rt-2");
  EXPECT_EQ(r->scope, "read write");
}

TEST(OAuthHttp, ExpiresInAsAStringIsAccepted) {
  // Some servers (older Azure AD) send numbers as strings.
  auto r = Interpret(200, R"({"access_token":"a","token_type":"bearer","expires_in":"3600"})");
  ASSERT_THAT(r, IsOk());
  EXPECT_EQ(r->expires_at, kNow - absl::Seconds(2) + absl::Seconds(3600));
}

TEST(OAuthHttp, EachRfc6749ErrorMapsToItsCodeAndTerminality) {
  struct Case {
    const char* error;
    absl::StatusCode code;
    bool terminal;
  };
  for (const Case& c : std::vector<Case>{
           {"invalid_grant", absl::StatusCode::kUnauthenticated, true},
           {"invalid_client", absl::StatusCode::kPermissionDenied, true},
           {"unauthorized_client", absl::StatusCode::kPermissionDenied, true},
           {"invalid_request", absl::StatusCode::kInvalidArgument, true},
           {"invalid_scope", absl::StatusCode::kInvalidArgument, true},
           {"unsupported_grant_type", absl::StatusCode::kFailedPrecondition, true},
           {"temporarily_unavailable", absl::StatusCode::kUnavailable, false},
           {"server_error", absl::StatusCode::kInternal, false},
           {"something_new", absl::StatusCode::kUnknown, false},
       }) {
    SCOPED_TRACE(c.error);
    auto r = Interpret(400, absl::StrCat(R"({"error":")", c.error,
                                         R"(","error_description":"why"})"));
    EXPECT_THAT(r, StatusIs(c.code, HasSubstr(c.error)));
    EXPECT_THAT(r.status().message(), HasSubstr("why"));
    EXPECT_EQ(internal::IsTerminalRefreshError(r.status().code()), c.terminal);
  }
}

TEST(OAuthHttp, ErrorObjectWinsEvenWithStatus200) {
  EXPECT_THAT(Interpret(200, R"({"error":"invalid_grant"})"),
              StatusIs(absl::StatusCode::kUnauthenticated, HasSubstr("invalid_grant")));
}

TEST(OAuthHttp, DescriptionIsCleanedBoundedAndScrubbedOfTheRefreshToken) {
  auto r = Interpret(400, absl::StrCat(R"({"error":"invalid_grant","error_description":"token )",
                                       kRefresh, R"( is bad\u0007)", std::string(500, 'x'),
                                       R"("})"));
  ASSERT_FALSE(r.ok());
  EXPECT_THAT(r.status().message(), Not(HasSubstr(kRefresh)));
  EXPECT_THAT(r.status().message(), HasSubstr("<redacted>"));
  EXPECT_THAT(r.status().message(), Not(HasSubstr("\a")));
  EXPECT_LT(r.status().message().size(), 320u);
}

TEST(OAuthHttp, RateLimitAndServerErrorsAreTransientWithRetryAfter) {
  auto limited = Interpret(429, "", "7");
  EXPECT_THAT(limited, StatusIs(absl::StatusCode::kResourceExhausted));
  EXPECT_EQ(RetryAfterOf(limited.status()), absl::Seconds(7));
  auto down = Interpret(503, "<html>oops</html>", "Tue, 14 Nov 2023 22:13:40 GMT");
  EXPECT_THAT(down, StatusIs(absl::StatusCode::kUnavailable, HasSubstr("HTTP 503")));
  EXPECT_EQ(RetryAfterOf(down.status()), absl::Seconds(20));  // kNow + 20 s
  EXPECT_FALSE(internal::IsTerminalRefreshError(down.status().code()));
  auto no_hint = Interpret(502, "");
  EXPECT_EQ(RetryAfterOf(no_hint.status()), std::nullopt);
}

TEST(OAuthHttp, UnauthorizedWithoutAnErrorObjectIsTheClientsCredentials) {
  EXPECT_THAT(Interpret(401, ""), StatusIs(absl::StatusCode::kPermissionDenied,
                                           HasSubstr("client's credentials")));
}

TEST(OAuthHttp, MalformedAnswersAreTransientAndNeverQuoteTheBody) {
  for (const char* body : {"", "not json", "[1,2]", R"({"access_token":)",
                           R"({"access_token":"at-SECRET","expires_in":"soon"})",
                           R"({"access_token":["at-SECRET"]})"}) {
    SCOPED_TRACE(body);
    auto r = Interpret(200, body);
    EXPECT_THAT(r, StatusIs(absl::StatusCode::kInternal, HasSubstr("malformed token response")));
    EXPECT_THAT(r.status().message(), Not(HasSubstr("SECRET")));
    EXPECT_FALSE(internal::IsTerminalRefreshError(r.status().code()));
  }
}

TEST(OAuthHttp, RedirectsAndOtherStatusesSayWhatWasWrong) {
  EXPECT_THAT(Interpret(302, ""), StatusIs(absl::StatusCode::kInternal,
                                           HasSubstr("redirects are not followed")));
  EXPECT_THAT(Interpret(404, "<html/>"),
              StatusIs(absl::StatusCode::kInternal, HasSubstr("is token_endpoint right?")));
}

TEST(OAuthHttp, OversizedBodyIsRefused) {
  std::string big = absl::StrCat(R"({"access_token":")",
                                 std::string(internal::kMaxTokenEndpointResponseBytes, 'a'),
                                 R"(","token_type":"Bearer"})");
  EXPECT_THAT(Interpret(200, big),
              StatusIs(absl::StatusCode::kInternal, HasSubstr("larger than")));
}

TEST(OAuthHttp, RetryAfterParsesSecondsAndDatesAndRejectsJunk) {
  EXPECT_EQ(ParseRetryAfter("120", kNow), absl::Seconds(120));
  EXPECT_EQ(ParseRetryAfter(" 0 ", kNow), absl::ZeroDuration());
  EXPECT_EQ(ParseRetryAfter("99999999999999999999999", kNow), internal::kMaxRetryAfter);
  EXPECT_EQ(ParseRetryAfter("86400", kNow), internal::kMaxRetryAfter);
  EXPECT_EQ(ParseRetryAfter("Tue, 14 Nov 2023 22:13:30 GMT", kNow), absl::Seconds(10));
  EXPECT_EQ(ParseRetryAfter("Mon, 01 Jan 2001 00:00:00 GMT", kNow), absl::ZeroDuration());
  EXPECT_EQ(ParseRetryAfter("", kNow), std::nullopt);
  EXPECT_EQ(ParseRetryAfter("-5", kNow), std::nullopt);
  EXPECT_EQ(ParseRetryAfter("soon", kNow), std::nullopt);
  EXPECT_EQ(ParseRetryAfter("12s", kNow), std::nullopt);
}

}  // namespace
}  // namespace authrefresh
