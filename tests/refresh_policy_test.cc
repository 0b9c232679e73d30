// The failure classification and the backoff schedule.

#include "interceptor/internal/refresh_policy.h"

#include "gtest/gtest.h"
#include "interceptor/token_manager.h"

namespace authrefresh {
namespace {

using internal::Backoff;
using internal::ClassifyRefreshFailure;
using internal::RefreshFailure;
using internal::IsTerminalRefreshError;

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
// is still an expired session; the classification depends on what was
// presented, not on the code alone.
TEST(RefreshPolicy, InvalidGrantIsASessionOnlyWhenARefreshTokenWasPresented) {
  const absl::Status invalid_grant = absl::UnauthenticatedError("invalid_grant");
  RefreshFailure with = ClassifyRefreshFailure(invalid_grant, true, true);
  RefreshFailure without = ClassifyRefreshFailure(invalid_grant, true, false);
  EXPECT_TRUE(with.terminal);
  EXPECT_EQ(with.reason, TerminalReason::kSessionExpired);
  EXPECT_TRUE(without.terminal);
  EXPECT_EQ(without.reason, TerminalReason::kClientRejected);
  EXPECT_FALSE(ClassifyRefreshFailure(absl::UnavailableError("x"), true, false).terminal);
  EXPECT_FALSE(ClassifyRefreshFailure(invalid_grant, false, true).terminal);
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
