// The failure classification and the backoff schedule.

#include "interceptor/internal/refresh_policy.h"

#include <algorithm>
#include <string>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "interceptor/internal/failure_part.h"
#include "interceptor/token.h"
#include "interceptor/token_event.h"
#include "interceptor/token_refresher.h"
#include "tests/testing/status_matchers.h"

namespace authrefresh {
namespace {

using internal::Backoff;
using internal::ExamineGrantFailure;
using internal::GrantFailure;
using internal::IsTerminalRefreshError;
using internal::NoRefreshTokenStatus;
using internal::RefreshJitterFraction;
using internal::TerminalStatus;
using ::testing::AllOf;
using ::testing::HasSubstr;
using ::testing::Not;
using testing::StatusIs;

TEST(RefreshPolicy, ClassifiesTokenServiceErrors) {
  for (absl::StatusCode c :
       {absl::StatusCode::kUnauthenticated, absl::StatusCode::kPermissionDenied,
        absl::StatusCode::kInvalidArgument, absl::StatusCode::kFailedPrecondition}) {
    EXPECT_TRUE(IsTerminalRefreshError(c)) << absl::StatusCodeToString(c);
  }
  for (absl::StatusCode c :
       {absl::StatusCode::kUnavailable, absl::StatusCode::kDeadlineExceeded,
        absl::StatusCode::kResourceExhausted, absl::StatusCode::kAborted,
        absl::StatusCode::kInternal, absl::StatusCode::kUnknown}) {
    EXPECT_FALSE(IsTerminalRefreshError(c)) << absl::StatusCodeToString(c);
  }
}

// A refresh-token grant that the token service answers with invalid_grant
// is an expired session; the classification depends on what was presented,
// not on the code alone.
TEST(RefreshPolicy, InvalidGrantIsASessionOnlyWhenARefreshTokenWasPresented) {
  const absl::Status invalid_grant = absl::UnauthenticatedError("invalid_grant");
  GrantFailure with = ExamineGrantFailure(invalid_grant, true, 3, {});
  GrantFailure without = ExamineGrantFailure(invalid_grant, false, 3, {});
  EXPECT_TRUE(with.terminal);
  EXPECT_EQ(with.reason, TerminalReason::kSessionExpired);
  EXPECT_TRUE(without.terminal);
  EXPECT_EQ(without.reason, TerminalReason::kClientRejected);
  EXPECT_FALSE(ExamineGrantFailure(absl::UnavailableError("x"), true, 3, {}).terminal);
  EXPECT_FALSE(ExamineGrantFailure(absl::InternalError("malformed token response: x"), true,
                                   3, {}).terminal);
}

// gRPC's status code table: a client library whose credentials cannot be
// obtained fails the call UNAUTHENTICATED; FAILED_PRECONDITION and its kin
// are the servers'.
TEST(RefreshPolicy, TerminalStatusesAreUnauthenticatedAndSayWhichPartRefused) {
  EXPECT_THAT(TerminalStatus(TerminalReason::kSessionExpired, "UNAUTHENTICATED: invalid_grant"),
              StatusIs(absl::StatusCode::kUnauthenticated,
                       HasSubstr("session expired, log in again")));
  EXPECT_THAT(TerminalStatus(TerminalReason::kClientRejected, "PERMISSION_DENIED: x"),
              StatusIs(absl::StatusCode::kUnauthenticated,
                       AllOf(HasSubstr("rejected this client (PERMISSION_DENIED: x)"),
                             HasSubstr("will not help"))));
  EXPECT_THAT(NoRefreshTokenStatus(), StatusIs(absl::StatusCode::kUnauthenticated,
                                               HasSubstr("no refresh token")));
}

// A failure of the shared backend names the backend, never the token
// service; an unreachable one is its own condition, not a failed attempt.
TEST(RefreshPolicy, TheSharedBackendsFailuresNameTheBackend) {
  const absl::Status refused = internal::WithFailurePart(
      absl::FailedPreconditionError(
          "shared token backend: PERMISSION_DENIED: Redis at 127.0.0.1:6379 refused AUTH "
          "(WRONGPASS)"),
      internal::FailurePart::kSharedBackend);
  GrantFailure f = ExamineGrantFailure(refused, true, 3, {});
  EXPECT_TRUE(f.terminal);
  EXPECT_EQ(f.reason, TerminalReason::kClientRejected);
  EXPECT_FALSE(f.backend_unreachable);
  EXPECT_THAT(f.terminal_status,
              StatusIs(absl::StatusCode::kUnauthenticated,
                       AllOf(HasSubstr("the shared token backend refused this replica"),
                             HasSubstr("refused AUTH (WRONGPASS)"),
                             Not(HasSubstr("token service")))));

  const absl::Status down = internal::WithFailurePart(
      absl::UnavailableError("shared token backend unreachable: cannot connect"),
      internal::FailurePart::kSharedBackendUnreachable);
  f = ExamineGrantFailure(down, true, 3, {});
  EXPECT_FALSE(f.terminal);
  EXPECT_TRUE(f.backend_unreachable);
  // The token service's own failures are not marked.
  EXPECT_FALSE(ExamineGrantFailure(absl::UnavailableError("503"), true, 3, {}).backend_unreachable);
}

TEST(RefreshPolicy, BackendRetriesDoubleFromTenMillisecondsToAHundred) {
  EXPECT_EQ(internal::BackendRetryDelay(0), absl::Milliseconds(10));
  EXPECT_EQ(internal::BackendRetryDelay(1), absl::Milliseconds(20));
  EXPECT_EQ(internal::BackendRetryDelay(3), absl::Milliseconds(80));
  EXPECT_EQ(internal::BackendRetryDelay(4), absl::Milliseconds(100));
  EXPECT_EQ(internal::BackendRetryDelay(1000), absl::Milliseconds(100));
}

TEST(RefreshPolicy, EveryMessageOfAFailureIsMadeOnceWithTheSecretsRedacted) {
  const absl::Status cause = WithRetryAfter(
      absl::UnavailableError("token endpoint echoed rt-SECRET and at-SECRET"), absl::Hours(5));
  GrantFailure f = ExamineGrantFailure(cause, true, 4, {"rt-SECRET", "at-SECRET", ""});
  const std::string rt = TokenFingerprint("rt-SECRET");
  const std::string at = TokenFingerprint("at-SECRET");
  EXPECT_EQ(f.described,
            "UNAVAILABLE: token endpoint echoed " + rt + " and " + at);
  EXPECT_EQ(f.event_reason.code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(f.event_reason.message(), "token endpoint echoed " + rt + " and " + at);
  EXPECT_THAT(f.gave_up_status,
              StatusIs(absl::StatusCode::kUnavailable,
                       HasSubstr("failed 4 times in a row; last error: " + f.described)));
  EXPECT_THAT(f.backing_off_status,
              StatusIs(absl::StatusCode::kUnavailable, HasSubstr("backing off")));
  EXPECT_EQ(f.retry_after, absl::Hours(1));  // capped
  for (const absl::Status& s : {f.gave_up_status, f.backing_off_status, f.event_reason}) {
    EXPECT_THAT(s.message(), Not(HasSubstr("SECRET")));
  }
}

TEST(RefreshPolicy, JitterFractionIsAFunctionOfTheTokenWithinTheBound) {
  EXPECT_EQ(RefreshJitterFraction("at-1", 0.5), RefreshJitterFraction("at-1", 0.5));
  EXPECT_NE(RefreshJitterFraction("at-1", 0.5), RefreshJitterFraction("at-2", 0.5));
  EXPECT_EQ(RefreshJitterFraction("at-1", 0.0), 0.0);
  double low = 1, high = 0;
  for (int i = 0; i < 1000; ++i) {
    const double f = RefreshJitterFraction(absl::StrCat("token-", i), 0.5);
    EXPECT_GE(f, 0.0);
    EXPECT_LT(f, 0.5);
    low = std::min(low, f);
    high = std::max(high, f);
  }
  EXPECT_LT(low, 0.01);
  EXPECT_GT(high, 0.49);
  EXPECT_LT(RefreshJitterFraction("at-1", 7.0), 1.0);  // clamped to [0, 1]
}

TEST(Backoff, WithoutJitterFollowsGrpcCoresSchedule) {
  Backoff b(absl::Seconds(1), 1.6, absl::Seconds(120), 0.0, 1);
  EXPECT_EQ(b.DelayAfter(1), absl::Seconds(1));
  EXPECT_EQ(b.DelayAfter(2), absl::Seconds(1.6));
  EXPECT_EQ(b.DelayAfter(3), absl::Seconds(2.56));
  EXPECT_EQ(b.DelayAfter(4), absl::Seconds(4.096));
  EXPECT_EQ(b.DelayAfter(12), absl::Seconds(120));  // 1.6^11 = 175.9: capped
  EXPECT_EQ(b.DelayAfter(100), absl::Seconds(120));
}

TEST(Backoff, JitterStaysWithinBoundsAndIsReproducibleFromTheSeed) {
  Backoff a(absl::Seconds(10), 1.6, absl::Seconds(120), 0.2, 42);
  Backoff b(absl::Seconds(10), 1.6, absl::Seconds(120), 0.2, 42);
  Backoff c(absl::Seconds(10), 1.6, absl::Seconds(120), 0.2, 43);
  bool differs = false;
  for (int i = 0; i < 200; ++i) {
    const absl::Duration da = a.DelayAfter(1);
    EXPECT_EQ(da, b.DelayAfter(1));
    EXPECT_GE(da, absl::Seconds(8));
    EXPECT_LE(da, absl::Seconds(12));
    differs |= da != c.DelayAfter(1);
  }
  EXPECT_TRUE(differs);
}

}  // namespace
}  // namespace authrefresh
