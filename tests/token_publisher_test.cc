// The token calls read without a lock (internal/token_publisher).

#include "interceptor/internal/token_publisher.h"

#include <thread>

#include "gtest/gtest.h"

namespace authrefresh {
namespace {

using internal::TokenPublisher;
using internal::TokenSnapshot;

const absl::Time kT0 = absl::FromUnixSeconds(1'700'000'000);

TEST(TokenPublisher, EachPublishIsANewImmutableSnapshot) {
  TokenPublisher p;
  TokenPublisher::Snapshot first = p.Publish(1, Token{"at-1"}, absl::OkStatus(), kT0);
  EXPECT_EQ(first->authorization, "Bearer at-1");
  EXPECT_EQ(first->generation, 1u);
  TokenPublisher::Snapshot second = p.Publish(2, Token{""}, absl::OkStatus(), kT0);
  EXPECT_EQ(second->authorization, "");  // no token: nothing to send
  EXPECT_NE(first->id, second->id);
  EXPECT_EQ(first->token.access_token, "at-1");  // the old one is untouched
  EXPECT_EQ(p.Latest(), second);
}

// Current() keeps this thread's snapshot until a newer one is published;
// another thread sees the newest.
TEST(TokenPublisher, CurrentFollowsPublishesOnEveryThread) {
  TokenPublisher p;
  p.Publish(1, Token{"at-1"}, absl::OkStatus(), kT0);
  EXPECT_EQ(p.Current().generation, 1u);
  p.Publish(2, Token{"at-2"}, absl::OkStatus(), kT0);
  EXPECT_EQ(p.Current().generation, 2u);
  uint64_t seen = 0;
  std::thread([&] { seen = p.Current().generation; }).join();
  EXPECT_EQ(seen, 2u);
  // Two publishers on one thread do not share the cached snapshot.
  TokenPublisher other;
  other.Publish(7, Token{"at-other"}, absl::OkStatus(), kT0);
  EXPECT_EQ(other.Current().token.access_token, "at-other");
  EXPECT_EQ(p.Current().token.access_token, "at-2");
}

TEST(TokenPublisher, SendableNeedsATokenBeforeExpiryNewerThanTheRejectedOneAndNoEnd) {
  TokenPublisher p;
  const TokenSnapshot& s =
      *p.Publish(3, Token{"at-3", "", kT0 + absl::Seconds(10)}, absl::OkStatus(), kT0);
  EXPECT_TRUE(p.Sendable(s, kT0));
  EXPECT_FALSE(p.Sendable(s, kT0 + absl::Seconds(10)));  // expired
  p.SetRejected(3);
  EXPECT_FALSE(p.Sendable(s, kT0));
  p.SetRejected(2);
  EXPECT_TRUE(p.Sendable(s, kT0));
  const TokenSnapshot& ended =
      *p.Publish(4, Token{"at-3"}, absl::UnauthenticatedError("session expired"), kT0);
  EXPECT_FALSE(p.Sendable(ended, kT0));
  const TokenSnapshot& none = *p.Publish(5, Token{""}, absl::OkStatus(), kT0);
  EXPECT_FALSE(p.Sendable(none, kT0));
}

TEST(TokenPublisher, AcceptedGenerationOnlyGrows) {
  TokenPublisher p;
  p.NoteAccepted(4);
  p.NoteAccepted(2);
  EXPECT_EQ(p.accepted(), 4u);
  std::thread a([&] { for (uint64_t g = 0; g < 1000; ++g) p.NoteAccepted(g); });
  std::thread b([&] { for (uint64_t g = 1000; g > 0; --g) p.NoteAccepted(g); });
  a.join();
  b.join();
  EXPECT_EQ(p.accepted(), 1000u);
}

}  // namespace
}  // namespace authrefresh
