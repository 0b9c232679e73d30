// WithRetryAfter() and RetryAfterOf() (interceptor/token_refresher.h): the
// delay a token service asked for travels on the refresher's status.

#include "interceptor/token_refresher.h"

#include <optional>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "gtest/gtest.h"

namespace authrefresh {
namespace {

TEST(RetryAfter, RoundTripsOnTheStatusAndKeepsItsCodeAndMessage) {
  const absl::Status status =
      WithRetryAfter(absl::UnavailableError("token service busy"), absl::Milliseconds(2500));
  EXPECT_EQ(status.code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(status.message(), "token service busy");
  EXPECT_EQ(RetryAfterOf(status), absl::Milliseconds(2500));
}

TEST(RetryAfter, AStatusWithoutOneHasNone) {
  EXPECT_EQ(RetryAfterOf(absl::UnavailableError("x")), std::nullopt);
  EXPECT_EQ(RetryAfterOf(absl::OkStatus()), std::nullopt);
}

TEST(RetryAfter, AnOkStatusCarriesNoDelay) {
  const absl::Status ok = WithRetryAfter(absl::OkStatus(), absl::Seconds(3));
  EXPECT_TRUE(ok.ok());
  EXPECT_EQ(RetryAfterOf(ok), std::nullopt);
}

TEST(RetryAfter, ZeroIsKeptAndTheLatestDelayWins) {
  EXPECT_EQ(RetryAfterOf(WithRetryAfter(absl::UnavailableError("x"), absl::ZeroDuration())),
            absl::ZeroDuration());
  const absl::Status twice = WithRetryAfter(
      WithRetryAfter(absl::UnavailableError("x"), absl::Seconds(9)), absl::Seconds(1));
  EXPECT_EQ(RetryAfterOf(twice), absl::Seconds(1));
}

}  // namespace
}  // namespace authrefresh
