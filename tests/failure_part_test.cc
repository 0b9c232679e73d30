// The failure-part mark (internal/failure_part): which part of the system a
// refresher's error comes from, carried on the status.

#include "interceptor/internal/failure_part.h"

#include "absl/status/status.h"
#include "gtest/gtest.h"

namespace authrefresh {
namespace {

using internal::FailurePart;
using internal::FailurePartOf;
using internal::WithFailurePart;

TEST(FailurePart, AnUnmarkedErrorIsTheTokenServices) {
  EXPECT_EQ(FailurePartOf(absl::UnavailableError("503")), FailurePart::kTokenService);
  EXPECT_EQ(FailurePartOf(absl::OkStatus()), FailurePart::kTokenService);
}

TEST(FailurePart, TheMarkTravelsWithCodeAndMessageKept) {
  for (FailurePart part : {FailurePart::kSharedBackend, FailurePart::kSharedBackendUnreachable}) {
    const absl::Status marked = WithFailurePart(absl::UnavailableError("down"), part);
    EXPECT_EQ(FailurePartOf(marked), part);
    EXPECT_EQ(marked.code(), absl::StatusCode::kUnavailable);
    EXPECT_EQ(marked.message(), "down");
    // Copies keep it; marking again replaces it.
    const absl::Status copy = marked;
    EXPECT_EQ(FailurePartOf(copy), part);
    EXPECT_EQ(FailurePartOf(WithFailurePart(copy, FailurePart::kTokenService)),
              FailurePart::kTokenService);
  }
}

TEST(FailurePart, AnOkStatusIsNeverMarked) {
  EXPECT_TRUE(WithFailurePart(absl::OkStatus(), FailurePart::kSharedBackend).ok());
}

}  // namespace
}  // namespace authrefresh
