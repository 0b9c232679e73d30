// The refresh state machine as a value (internal/refresh_state): each
// transition is called with a time and its Decision checked, with no lock,
// clock, thread or refresher. The coordinator's tests
// (refresh_coordinator_test) check that the decisions are carried out.

#include "interceptor/internal/refresh_state.h"

#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "interceptor/internal/failure_part.h"
#include "interceptor/token_refresher.h"
#include "tests/testing/status_matchers.h"

namespace authrefresh {
namespace {

using internal::AwaitDecision;
using internal::Decision;
using internal::ExamineGrantFailure;
using internal::GrantOrder;
using internal::GrantReport;
using internal::GrantResult;
using internal::RefreshState;
using internal::WaitRequest;
using ::testing::HasSubstr;
using testing::StatusIs;
using Answer = AwaitDecision::Answer;
using Release = Decision::Release;

const absl::Time kT0 = absl::FromUnixSeconds(1'700'000'000);

TokenManagerOptions Options() {
  TokenManagerOptions o;
  o.refresh_jitter = 0;
  o.backoff_jitter = 0;
  o.jitter_seed = 1;
  return o;
}

Token Valid(std::string access = "at-0", std::string refresh = "rt-0") {
  return Token{std::move(access), std::move(refresh), absl::InfiniteFuture(), ""};
}

WaitRequest Rejected(uint64_t generation) {
  WaitRequest r;
  r.rejected_generation = generation;
  return r;
}

GrantResult Granted(const GrantOrder& order, Token token) {
  GrantResult r{order};
  r.token = std::move(token);
  return r;
}

GrantResult Failed(const GrantOrder& order, const absl::Status& cause, int max_attempts = 3) {
  GrantResult r{order};
  r.failure = ExamineGrantFailure(cause, !order.refresh_token.empty(), max_attempts, {});
  return r;
}

TEST(RefreshState, StartsAtGenerationOneWithTheInitialToken) {
  RefreshState s(Options(), true, Valid(), kT0);
  EXPECT_EQ(s.generation(), 1u);
  EXPECT_EQ(s.token().access_token, "at-0");
  EXPECT_EQ(s.token().issued_at, kT0);  // unknown: counted from now
  EXPECT_TRUE(s.terminal().ok());
  EXPECT_EQ(s.refresh_after(), absl::InfiniteFuture());
}

TEST(RefreshState, AnUnsendableInitialTokenIsTreatedAsAbsent) {
  RefreshState s(Options(), true, Token{"bad token", "rt\n0"}, kT0);
  EXPECT_EQ(s.token().access_token, "");
  EXPECT_EQ(s.token().refresh_token, "");
}

// The first waiter starts the one grant; the others only wait; the answer
// publishes the next generation and releases them all with it.
TEST(RefreshState, OneGrantForEveryWaiterAndTheAnswerReleasesThem) {
  RefreshState s(Options(), true, Valid(), kT0);
  AwaitDecision first = s.Await(Rejected(1), kT0, 0);
  EXPECT_EQ(first.answer, Answer::kWait);
  ASSERT_TRUE(first.then.grant.has_value());
  EXPECT_EQ(first.then.grant->refresh_token, "rt-0");
  EXPECT_EQ(first.then.grant->access_token, "at-0");
  EXPECT_EQ(first.then.grant->sent_at, kT0);
  for (int i = 0; i < 5; ++i) {
    AwaitDecision more = s.Await(Rejected(1), kT0, 0);
    EXPECT_EQ(more.answer, Answer::kWait);
    EXPECT_FALSE(more.then.grant.has_value());
  }
  Decision done = s.OnGrantDone(Granted(*first.then.grant, Token{"at-1", "rt-1"}),
                                kT0 + absl::Milliseconds(30), true);
  EXPECT_TRUE(done.publish);
  EXPECT_EQ(done.release, Release::kWithToken);
  EXPECT_TRUE(done.refreshed);
  ASSERT_TRUE(done.save.has_value());
  EXPECT_EQ(done.save->access_token, "at-1");
  ASSERT_TRUE(done.report.has_value());
  EXPECT_EQ(done.report->outcome, GrantReport::Outcome::kSucceeded);
  EXPECT_EQ(done.report->took, absl::Milliseconds(30));
  EXPECT_TRUE(done.report->rotated);
  EXPECT_EQ(s.generation(), 2u);
  EXPECT_EQ(s.stats().refreshes_started, 1u);
  EXPECT_EQ(s.stats().calls_waited, 6u);
  // A rejection of the older token now answers with the newer one.
  EXPECT_EQ(s.Await(Rejected(1), kT0 + absl::Seconds(2), 0).answer, Answer::kToken);
}

TEST(RefreshState, WhatTheAnswerLeftOutIsKept) {
  TokenManagerOptions o = Options();
  RefreshState s(o, true, Token{"at-0", "rt-0", absl::InfiniteFuture(), "read"}, kT0);
  AwaitDecision a = s.Await(Rejected(1), kT0, 0);
  s.OnGrantDone(Granted(*a.then.grant, Token{"at-1"}), kT0, true);
  EXPECT_EQ(s.token().refresh_token, "rt-0");
  EXPECT_EQ(s.token().scope, "read");
}

// The margin is a fraction of the lifetime from issued_at, which for a
// refreshed token is when its grant was sent.
TEST(RefreshState, TheProactiveMarginCountsFromWhenTheTokenWasIssued) {
  RefreshState s(Options(), true, Valid(), kT0);
  AwaitDecision a = s.Await(Rejected(1), kT0, 0);
  Token t{"at-1", "rt-1", kT0 + absl::Seconds(120), "", kT0};
  s.OnGrantDone(Granted(*a.then.grant, t), kT0 + absl::Seconds(5), true);
  // 120 s lifetime: the margin is min(60 s, 25% of 120 s) = 30 s.
  EXPECT_EQ(s.refresh_after(), kT0 + absl::Seconds(90));
  // A token adopted from another replica keeps its own issue time.
  RefreshState adopted(Options(), true, Valid(), kT0);
  AwaitDecision b = adopted.Await(Rejected(1), kT0, 0);
  Token other{"at-9", "rt-9", kT0 + absl::Seconds(100), "", kT0 - absl::Seconds(20)};
  adopted.OnGrantDone(Granted(*b.then.grant, other), kT0 + absl::Seconds(1), true);
  EXPECT_EQ(adopted.refresh_after(), kT0 + absl::Seconds(70));  // 30 s of 120 s
}

TEST(RefreshState, InsideTheMarginOneProactiveGrantPerToken) {
  RefreshState s(Options(), true, Token{"at-0", "rt-0", kT0 + absl::Seconds(100), ""}, kT0);
  Decision d = s.OnRefreshDue(1, kT0 + absl::Seconds(80));
  EXPECT_EQ(d.early_refresh, 1u);
  ASSERT_TRUE(d.grant.has_value());
  EXPECT_TRUE(d.grant->proactive);
  Decision again = s.OnRefreshDue(1, kT0 + absl::Seconds(81));
  EXPECT_FALSE(again.grant.has_value());  // one in flight already
  EXPECT_FALSE(s.OnRefreshDue(7, kT0 + absl::Seconds(81)).early_refresh.has_value());
}

TEST(RefreshState, TransientFailuresRetryOnTheBackoffThenGiveUpAndBackOff) {
  TokenManagerOptions o = Options();
  o.max_refresh_attempts = 2;
  RefreshState s(o, true, Valid(), kT0);
  AwaitDecision a = s.Await(Rejected(1), kT0, 0);
  Decision first = s.OnGrantDone(Failed(*a.then.grant, absl::UnavailableError("down"), 2), kT0,
                                 true);
  ASSERT_TRUE(first.retry_at.has_value());
  EXPECT_EQ(*first.retry_at, kT0 + absl::Seconds(1));  // initial_backoff
  EXPECT_EQ(first.release, Release::kNone);
  EXPECT_EQ(first.report->round_failures, 1);
  EXPECT_FALSE(first.report->gave_up);
  // While the retry is scheduled, a new waiter waits without a grant.
  AwaitDecision waiting = s.Await(Rejected(1), kT0, 0);
  EXPECT_EQ(waiting.answer, Answer::kWait);
  EXPECT_FALSE(waiting.then.grant.has_value());
  Decision retry = s.OnRetryTimer(kT0 + absl::Seconds(1));
  ASSERT_TRUE(retry.grant.has_value());
  Decision second = s.OnGrantDone(Failed(*retry.grant, absl::UnavailableError("down"), 2),
                                  kT0 + absl::Seconds(1), true);
  EXPECT_TRUE(second.report->gave_up);
  EXPECT_EQ(second.release, Release::kWithStatus);
  EXPECT_THAT(second.release_status,
              StatusIs(absl::StatusCode::kUnavailable, HasSubstr("failed 2 times in a row")));
  EXPECT_EQ(second.early_refresh, 0u);  // re-armed for after the backoff
  // Backing off (1.6 s): calls fail at once; afterwards a call grants again.
  AwaitDecision during = s.Await(Rejected(1), kT0 + absl::Seconds(2), 0);
  EXPECT_EQ(during.answer, Answer::kFail);
  EXPECT_THAT(during.status, StatusIs(absl::StatusCode::kUnavailable, HasSubstr("backing off")));
  AwaitDecision after = s.Await(Rejected(1), kT0 + absl::Seconds(3), 0);
  EXPECT_EQ(after.answer, Answer::kWait);
  EXPECT_TRUE(after.then.grant.has_value());
}

absl::Status BackendDown() {
  return internal::WithFailurePart(
      absl::UnavailableError("shared token backend unreachable: cannot connect to Redis"),
      internal::FailurePart::kSharedBackendUnreachable);
}

// An unreachable shared backend is not a failing token service: no attempt
// counts, no backoff starts, the waiters wait on, and the grant is tried
// again within 100 ms for as long as it lasts.
TEST(RefreshState, AnUnreachableBackendIsRetriedSoonWithoutBackoffWhileCallsWait) {
  TokenManagerOptions o = Options();
  o.max_refresh_attempts = 2;
  RefreshState s(o, true, Valid(), kT0);
  AwaitDecision a = s.Await(Rejected(1), kT0, 0);
  ASSERT_TRUE(a.then.grant.has_value());
  GrantOrder order = *a.then.grant;
  absl::Time now = kT0;
  const absl::Duration expected[] = {absl::Milliseconds(10), absl::Milliseconds(20),
                                     absl::Milliseconds(40), absl::Milliseconds(80),
                                     absl::Milliseconds(100), absl::Milliseconds(100)};
  for (int i = 0; i < 6; ++i) {
    SCOPED_TRACE(i);
    Decision d = s.OnGrantDone(Failed(order, BackendDown(), 2), now, true);
    ASSERT_TRUE(d.report.has_value());
    EXPECT_EQ(d.report->outcome, GrantReport::Outcome::kBackendUnreachable);
    EXPECT_EQ(d.report->outage_began, i == 0);
    EXPECT_FALSE(d.report->gave_up);
    EXPECT_EQ(d.release, Release::kNone);
    ASSERT_TRUE(d.retry_at.has_value());
    EXPECT_EQ(*d.retry_at, now + expected[i]);
    EXPECT_THAT(s.backend_unreachable(),
                StatusIs(absl::StatusCode::kUnavailable, HasSubstr("cannot connect to Redis")));
    // A new call needing a token waits too, without a grant of its own.
    AwaitDecision more = s.Await(Rejected(1), now, 0);
    EXPECT_EQ(more.answer, Answer::kWait);
    EXPECT_FALSE(more.then.grant.has_value());
    now = *d.retry_at;
    Decision retry = s.OnRetryTimer(now);
    ASSERT_TRUE(retry.grant.has_value());
    order = *retry.grant;
  }
  EXPECT_EQ(s.stats().shared_backend_unreachable, 6u);
  EXPECT_EQ(s.stats().refreshes_failed, 0u);
  // The backend is back: the grant succeeds and releases the waiters.
  Decision back = s.OnGrantDone(Granted(order, Valid("at-1", "rt-1")), now, true);
  EXPECT_EQ(back.release, Release::kWithToken);
  EXPECT_TRUE(s.backend_unreachable().ok());
  // Two token-service failures still make a full round: the outage's
  // attempts did not count (later than loop protection's interval).
  now += absl::Minutes(5);
  AwaitDecision again = s.Await(Rejected(2), now, 0);
  ASSERT_TRUE(again.then.grant.has_value());
  Decision first = s.OnGrantDone(Failed(*again.then.grant, absl::UnavailableError("503"), 2),
                                 now, true);
  EXPECT_EQ(first.report->round_failures, 1);
  EXPECT_FALSE(first.report->gave_up);
  EXPECT_EQ(*first.retry_at, now + absl::Seconds(1));  // the token service's backoff
}

// An outage's further attempts are not new refreshes: refreshes_started
// counts the first only, and each order says it is a retry (no
// kRefreshStarted event). SetToken ends the outage: the retry is cancelled
// and the next attempt is a refresh again.
TEST(RefreshState, OutageRetriesAreNotNewRefreshesAndSetTokenEndsTheOutage) {
  RefreshState s(Options(), true, Valid(), kT0);
  AwaitDecision a = s.Await(Rejected(1), kT0, 0);
  EXPECT_FALSE(a.then.grant->outage_retry);
  Decision down = s.OnGrantDone(Failed(*a.then.grant, BackendDown()), kT0, true);
  Decision retry = s.OnRetryTimer(*down.retry_at);
  ASSERT_TRUE(retry.grant.has_value());
  EXPECT_TRUE(retry.grant->outage_retry);
  EXPECT_EQ(s.stats().refreshes_started, 1u);
  s.OnGrantDone(Failed(*retry.grant, BackendDown()), *down.retry_at, true);
  const absl::Time later = *down.retry_at + absl::Seconds(1);
  Decision set = s.SetToken(Valid("at-set", "rt-set"), later, true);
  EXPECT_TRUE(set.cancel_retry);
  EXPECT_EQ(set.release, Release::kWithToken);
  EXPECT_TRUE(s.backend_unreachable().ok());
  EXPECT_FALSE(s.retry_scheduled());
  AwaitDecision next = s.Await(Rejected(s.generation()), later + absl::Minutes(5), 0);
  ASSERT_TRUE(next.then.grant.has_value());
  EXPECT_FALSE(next.then.grant->outage_retry);
  EXPECT_EQ(s.stats().refreshes_started, 2u);
}

// A proactive refresh (nobody waiting) that finds the backend unreachable is
// retried the same way, and releases nobody.
TEST(RefreshState, AProactiveRefreshDuringAnOutageIsRetriedWithoutReleasingAnyone) {
  TokenManagerOptions o = Options();
  RefreshState s(o, true, Token{"at-0", "rt-0", kT0 + absl::Minutes(2), ""}, kT0);
  Decision due = s.OnRefreshDue(s.generation(), kT0 + absl::Minutes(2) - absl::Seconds(20));
  ASSERT_TRUE(due.grant.has_value());
  ASSERT_TRUE(due.grant->proactive);
  const absl::Time t = kT0 + absl::Minutes(2) - absl::Seconds(20);
  Decision down = s.OnGrantDone(Failed(*due.grant, BackendDown()), t, /*has_waiters=*/false);
  EXPECT_EQ(down.report->outcome, GrantReport::Outcome::kBackendUnreachable);
  EXPECT_EQ(down.release, Release::kNone);
  EXPECT_EQ(*down.retry_at, t + absl::Milliseconds(10));
  // The token is still sent meanwhile.
  EXPECT_EQ(s.Await(WaitRequest{}, t, 0).answer, Answer::kToken);
}

// The next outage starts over at 10 ms and is reported as a new one.
TEST(RefreshState, EachOutageBeginsAgainAfterTheBackendAnswered) {
  RefreshState s(Options(), true, Valid(), kT0);
  AwaitDecision a = s.Await(Rejected(1), kT0, 0);
  Decision down = s.OnGrantDone(Failed(*a.then.grant, BackendDown()), kT0, true);
  Decision retry = s.OnRetryTimer(*down.retry_at);
  // Answered, but the token service failed: the outage is over.
  Decision failed = s.OnGrantDone(Failed(*retry.grant, absl::UnavailableError("503")),
                                  *down.retry_at, true);
  EXPECT_EQ(failed.report->outcome, GrantReport::Outcome::kFailedTransient);
  EXPECT_TRUE(s.backend_unreachable().ok());
  Decision retry2 = s.OnRetryTimer(*failed.retry_at);
  Decision down2 = s.OnGrantDone(Failed(*retry2.grant, BackendDown()), *failed.retry_at, true);
  EXPECT_TRUE(down2.report->outage_began);
  EXPECT_EQ(*down2.retry_at, *failed.retry_at + absl::Milliseconds(10));
}

TEST(RefreshState, RetryAfterStretchesTheDelay) {
  RefreshState s(Options(), true, Valid(), kT0);
  AwaitDecision a = s.Await(Rejected(1), kT0, 0);
  Decision d = s.OnGrantDone(
      Failed(*a.then.grant, WithRetryAfter(absl::UnavailableError("503"), absl::Seconds(9))), kT0,
      true);
  EXPECT_EQ(*d.retry_at, kT0 + absl::Seconds(9));
}

TEST(RefreshState, InvalidGrantEndsTheSessionAndFailsEveryWaiter) {
  RefreshState s(Options(), true, Valid(), kT0);
  AwaitDecision a = s.Await(Rejected(1), kT0, 0);
  Decision d = s.OnGrantDone(Failed(*a.then.grant, absl::UnauthenticatedError("invalid_grant")),
                             kT0, true);
  EXPECT_EQ(d.ended, TerminalReason::kSessionExpired);
  EXPECT_TRUE(d.publish);
  EXPECT_EQ(d.release, Release::kWithStatus);
  EXPECT_THAT(d.release_status,
              StatusIs(absl::StatusCode::kUnauthenticated, HasSubstr("session expired")));
  EXPECT_EQ(s.terminal(), d.release_status);
  EXPECT_EQ(s.stats().sessions_expired, 1u);
  AwaitDecision later = s.Await(Rejected(2), kT0, 0);
  EXPECT_EQ(later.answer, Answer::kFail);
  EXPECT_EQ(later.status, s.terminal());
  // SetToken ends it.
  Decision set = s.SetToken(Valid("at-new", "rt-new"), kT0, false);
  EXPECT_TRUE(set.publish);
  EXPECT_TRUE(s.terminal().ok());
  EXPECT_EQ(s.Await(WaitRequest{}, kT0, 0).answer, Answer::kToken);
}

TEST(RefreshState, AClientRejectionIsItsOwnReasonWithTheSameCode) {
  RefreshState s(Options(), false, Token{}, kT0);  // a service grant
  AwaitDecision a = s.Await(WaitRequest{}, kT0, 0);
  ASSERT_TRUE(a.then.grant.has_value());
  EXPECT_EQ(a.then.grant->refresh_token, "");
  Decision d = s.OnGrantDone(Failed(*a.then.grant, absl::UnauthenticatedError("invalid_grant")),
                             kT0, true);
  EXPECT_EQ(d.ended, TerminalReason::kClientRejected);
  EXPECT_THAT(d.release_status,
              StatusIs(absl::StatusCode::kUnauthenticated, HasSubstr("rejected this client")));
  EXPECT_EQ(s.stats().clients_rejected, 1u);
}

TEST(RefreshState, NoRefreshTokenEndsTheSessionWithoutAGrant) {
  RefreshState s(Options(), true, Token{"at-0", ""}, kT0);
  AwaitDecision a = s.Await(Rejected(1), kT0, 0);
  EXPECT_EQ(a.answer, Answer::kFail);
  EXPECT_FALSE(a.then.grant.has_value());
  EXPECT_EQ(a.then.ended, TerminalReason::kSessionExpired);
  EXPECT_THAT(a.status, StatusIs(absl::StatusCode::kUnauthenticated, HasSubstr("no refresh token")));
}

// A token that a rejection's refresh issued, and that is rejected again
// before min_refresh_interval and before any server accepted it: the server
// rejects every token, so the rejection is passed on, not refreshed.
TEST(RefreshState, LoopProtectionDeclinesAYoungRejectedTokenUnlessItWasAccepted) {
  RefreshState s(Options(), true, Valid(), kT0);
  AwaitDecision a = s.Await(Rejected(1), kT0, 0);
  s.OnGrantDone(Granted(*a.then.grant, Token{"at-1", "rt-1"}), kT0, true);
  EXPECT_EQ(s.Await(Rejected(2), kT0 + absl::Milliseconds(500), 0).answer, Answer::kDeclined);
  EXPECT_FALSE(s.OnRejection(2, kT0 + absl::Milliseconds(500), 0).grant.has_value());
  // Accepted by a server once: a later rejection is a revocation.
  AwaitDecision accepted = s.Await(Rejected(2), kT0 + absl::Milliseconds(500), 2);
  EXPECT_EQ(accepted.answer, Answer::kWait);
  EXPECT_TRUE(accepted.then.grant.has_value());
}

TEST(RefreshState, AReplayRejectedWithTheNewTokenKeepsItLoopProtectedEvenIfAccepted) {
  RefreshState s(Options(), true, Valid(), kT0);
  AwaitDecision a = s.Await(Rejected(1), kT0, 0);
  s.OnGrantDone(Granted(*a.then.grant, Token{"at-1", "rt-1"}), kT0, true);
  s.OnReplayRejected(2);
  EXPECT_EQ(s.Await(Rejected(2), kT0 + absl::Milliseconds(10), /*accepted=*/2).answer,
            Answer::kDeclined);
  // After the interval it refreshes again.
  EXPECT_EQ(s.Await(Rejected(2), kT0 + absl::Seconds(2), 2).answer, Answer::kWait);
}

TEST(RefreshState, AmbiguousSuspicionsMarkTheTokenAtMostOncePerInterval) {
  RefreshState s(Options(), true, Token{"at-0", "rt-0"}, kT0);
  WaitRequest ambiguous = Rejected(1);
  ambiguous.ambiguous = true;
  AwaitDecision first = s.Await(ambiguous, kT0, 0);
  EXPECT_EQ(first.answer, Answer::kWait);
  ASSERT_TRUE(first.then.grant.has_value());
  s.OnGrantDone(Granted(*first.then.grant, Token{"at-1", "rt-1"}), kT0, true);
  // Within the interval a suspicion of the new token is not a rejection.
  EXPECT_EQ(s.Await(WaitRequest{2, true}, kT0 + absl::Milliseconds(100), 2).answer,
            Answer::kToken);
  EXPECT_EQ(s.rejected_generation(), 1u);
}

TEST(RefreshState, SetTokenDiscardsTheGrantInFlightAndGrantsAgainForWaiters) {
  RefreshState s(Options(), true, Valid(), kT0);
  AwaitDecision a = s.Await(Rejected(1), kT0, 0);
  Decision set = s.SetToken(Token{"", "rt-login"}, kT0, true);
  EXPECT_TRUE(set.cancel_retry);
  EXPECT_FALSE(set.grant.has_value());  // one is still in flight
  Decision stale = s.OnGrantDone(Granted(*a.then.grant, Token{"at-stale", "rt-stale"}), kT0,
                                 true);
  EXPECT_EQ(stale.report->outcome, GrantReport::Outcome::kDiscarded);
  EXPECT_FALSE(stale.publish);
  ASSERT_TRUE(stale.grant.has_value());
  EXPECT_EQ(stale.grant->refresh_token, "rt-login");
  EXPECT_EQ(s.token().access_token, "");
}

// SetToken with a token that cannot be sent and no refresh token: the
// waiting calls fail now, as a new call would, instead of waiting out their
// deadlines.
TEST(RefreshState, SetTokenWithNothingToGrantWithFailsTheWaiters) {
  RefreshState s(Options(), true, Token{"", "rt-0"}, kT0);
  Decision set = s.SetToken(Token{"at-expired", "", kT0 - absl::Seconds(1), ""}, kT0, true);
  EXPECT_FALSE(set.grant.has_value());
  EXPECT_EQ(set.ended, TerminalReason::kSessionExpired);
  EXPECT_EQ(set.release, Release::kWithStatus);
  EXPECT_THAT(set.release_status,
              StatusIs(absl::StatusCode::kUnauthenticated, HasSubstr("no refresh token")));
  // With no call waiting nothing ends: the next call decides.
  RefreshState quiet(Options(), true, Token{"", "rt-0"}, kT0);
  Decision none = quiet.SetToken(Token{"", ""}, kT0, false);
  EXPECT_FALSE(none.ended.has_value());
  EXPECT_EQ(none.release, Release::kNone);
}

// The same when the grant in flight at SetToken comes back: its answer is
// dropped, and there is nothing to grant again with.
TEST(RefreshState, ADiscardedGrantWithNothingToGrantWithFailsTheWaiters) {
  RefreshState s(Options(), true, Valid(), kT0);
  AwaitDecision a = s.Await(Rejected(1), kT0, 0);
  ASSERT_TRUE(a.then.grant.has_value());
  Decision set = s.SetToken(Token{"", ""}, kT0, true);
  EXPECT_EQ(set.release, Release::kNone);  // the grant in flight may still be dropped
  Decision stale = s.OnGrantDone(Granted(*a.then.grant, Token{"at-stale", "rt-stale"}), kT0,
                                 true);
  EXPECT_EQ(stale.report->outcome, GrantReport::Outcome::kDiscarded);
  EXPECT_FALSE(stale.grant.has_value());
  EXPECT_EQ(stale.release, Release::kWithStatus);
  EXPECT_THAT(stale.release_status, StatusIs(absl::StatusCode::kUnauthenticated));
}

TEST(RefreshState, ShutdownReleasesTheWaitersAndEndsEveryTransition) {
  RefreshState s(Options(), true, Valid(), kT0);
  AwaitDecision a = s.Await(Rejected(1), kT0, 0);
  Decision d = s.Shutdown();
  EXPECT_EQ(d.release, Release::kWithStatus);
  EXPECT_THAT(d.release_status, StatusIs(absl::StatusCode::kUnavailable, HasSubstr("destroyed")));
  EXPECT_TRUE(s.shut_down());
  Decision late = s.OnGrantDone(Granted(*a.then.grant, Token{"at-1"}), kT0, true);
  EXPECT_FALSE(late.publish);
  EXPECT_EQ(late.release, Release::kNone);
  EXPECT_EQ(s.Shutdown().release, Release::kNone);  // idempotent
}

}  // namespace
}  // namespace authrefresh
