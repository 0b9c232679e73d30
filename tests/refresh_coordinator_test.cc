// The single-flight core, with a fake clock and a refresher the test
// completes by hand: no gRPC, no sleeps.

#include "interceptor/internal/refresh_coordinator.h"
#include "interceptor/internal/token_manager_access.h"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "interceptor/token_manager.h"
#include "tests/testing/fake_clock.h"
#include "tests/testing/manual_refresher.h"
#include "tests/testing/recording_metrics.h"
#include "tests/testing/status_matchers.h"

namespace authrefresh {
namespace {

using internal::RefreshCoordinator;
using ::testing::HasSubstr;
using ::testing::Not;
using testing::Bearer;
using testing::FakeClock;
using testing::IsOk;
using testing::ManualRefresher;
using testing::StatusIs;

// Records what each waiter received. Its state is shared with the callbacks,
// so a waiter completed after the test body (at teardown) is harmless.
class Results {
 public:
  RefreshCoordinator::WaitCallback Callback() {
    return [inner = inner_](absl::StatusOr<RefreshCoordinator::Snapshot> r) {
      absl::MutexLock lock(&inner->mu);
      inner->results.push_back(std::move(r));
    };
  }
  void Take(const RefreshCoordinator::Wait& w) {
    if (!w.ready) return;
    absl::MutexLock lock(&inner_->mu);
    inner_->results.push_back(*w.ready);
  }
  int size() {
    absl::MutexLock lock(&inner_->mu);
    return static_cast<int>(inner_->results.size());
  }
  std::vector<absl::StatusOr<RefreshCoordinator::Snapshot>> all() {
    absl::MutexLock lock(&inner_->mu);
    return inner_->results;
  }

 private:
  struct Inner {
    absl::Mutex mu;
    std::vector<absl::StatusOr<RefreshCoordinator::Snapshot>> results
        ABSL_GUARDED_BY(mu);
  };
  std::shared_ptr<Inner> inner_ = std::make_shared<Inner>();
};

class CoordinatorTest : public ::testing::Test {
 protected:
  void Make(Token initial, TokenManagerOptions options = {}) {
    options.clock = clock_;
    refresher_->clock = clock_;
    options.backoff_jitter = 0;  // exact schedule unless a test asks
    if (!jittered_) options.refresh_jitter = 0;
    if (!options.on_session_expired) {
      options.on_session_expired = [this](const absl::Status& s) {
        absl::MutexLock lock(&mu_);
        expired_.push_back(s);
      };
    }
    manager_ = TokenManager::Create(
        std::move(initial), std::make_unique<ManualRefresher>(refresher_),
        std::move(options));
  }
  RefreshCoordinator& core() {
    return *internal::TokenManagerAccess::Coordinator(*manager_);
  }
  // What a call does with `s` now: whether it may send it, and, if so, the
  // proactive refresh it starts inside the margin.
  bool Send(const internal::TokenSnapshot& s) {
    const absl::Time now = clock_->Now();
    if (!core().Sendable(s, now)) return false;
    core().RefreshIfDue(s, now);
    return true;
  }
  // A wait for a token newer than `rejected` (0: any sendable token).
  RefreshCoordinator::Wait Await(uint64_t rejected, absl::Time deadline,
                                 RefreshCoordinator::WaitCallback done) {
    RefreshCoordinator::WaitRequest request;
    request.rejected_generation = rejected;
    request.deadline = deadline;
    return core().Await(request, std::move(done));
  }
  int expired_calls() {
    absl::MutexLock lock(&mu_);
    return static_cast<int>(expired_.size());
  }

  bool jittered_ = false;  // keep options.refresh_jitter as given
  std::shared_ptr<FakeClock> clock_ = std::make_shared<FakeClock>();
  std::shared_ptr<ManualRefresher::State> refresher_ =
      std::make_shared<ManualRefresher::State>();
  std::shared_ptr<TokenManager> manager_;
  absl::Mutex mu_;
  std::vector<absl::Status> expired_ ABSL_GUARDED_BY(mu_);
};

Token Valid(std::string access = "at-0", std::string refresh = "rt-0") {
  return Token{std::move(access), std::move(refresh), absl::InfiniteFuture(), ""};
}

TEST_F(CoordinatorTest, FastPathReadsCurrentTokenWithoutRefreshing) {
  Make(Valid());
  const auto& s = core().Current();
  EXPECT_EQ(s.authorization, "Bearer at-0");
  EXPECT_EQ(s.generation, 1u);
  EXPECT_TRUE(Send(s));
  EXPECT_EQ(refresher_->calls(), 0);
}

TEST_F(CoordinatorTest, ThousandConcurrentWaitersShareOneRefresh) {
  Make(Valid());
  Results results;
  constexpr int kWaiters = 1000;
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < kWaiters / 8; ++i) {
        results.Take(Await(1, absl::InfiniteFuture(), results.Callback()));
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(refresher_->calls(), 1);
  EXPECT_EQ(results.size(), 0);  // all waiting
  refresher_->Complete(Bearer("at-1", "rt-1"));
  ASSERT_EQ(results.size(), kWaiters);
  for (const auto& r : results.all()) {
    ASSERT_THAT(r, IsOk());
    EXPECT_EQ((*r)->authorization, "Bearer at-1");
    EXPECT_EQ((*r)->generation, 2u);
  }
  TokenManagerStats stats = manager_->Stats();
  EXPECT_EQ(stats.refreshes_started, 1u);
  EXPECT_EQ(stats.refreshes_succeeded, 1u);
  EXPECT_EQ(stats.calls_waited, static_cast<uint64_t>(kWaiters));
}

TEST_F(CoordinatorTest, OnTokensRefreshedRunsBeforeWaitersAreReleased) {
  Results results;
  int released_when_called = -1;
  Token persisted;
  TokenManagerOptions options;
  options.on_tokens_refreshed = [&](const Token& t) {
    released_when_called = results.size();
    persisted = t;
  };
  Make(Valid(), options);
  for (int i = 0; i < 3; ++i) {
    results.Take(Await(1, absl::InfiniteFuture(), results.Callback()));
  }
  refresher_->Complete(Bearer("at-1", "rt-1"));
  EXPECT_EQ(released_when_called, 0);
  EXPECT_EQ(persisted.refresh_token, "rt-1");
  EXPECT_EQ(results.size(), 3);
}

TEST_F(CoordinatorTest, RejectionOfAnOlderTokenUsesTheNewerOneWithoutRefreshing) {
  Make(Valid());
  Results first;
  first.Take(Await(1, absl::InfiniteFuture(), first.Callback()));
  refresher_->Complete(Bearer("at-1", "rt-1"));
  ASSERT_EQ(first.size(), 1);

  // A call sent with generation 1 is rejected after generation 2 exists.
  Results late;
  RefreshCoordinator::Wait w =
      Await(1, absl::InfiniteFuture(), late.Callback());
  ASSERT_TRUE(w.ready.has_value());
  ASSERT_THAT(*w.ready, IsOk());
  EXPECT_EQ((**w.ready)->authorization, "Bearer at-1");
  EXPECT_EQ(refresher_->calls(), 1);
}

TEST_F(CoordinatorTest, RotatedRefreshTokenReplacesTheOldAndEmptyKeepsIt) {
  Make(Valid("at-0", "rt-0"));
  Results r;
  r.Take(Await(1, absl::InfiniteFuture(), r.Callback()));
  refresher_->Complete(Bearer("at-1", "rt-1"));
  EXPECT_EQ(manager_->CurrentToken().refresh_token, "rt-1");

  clock_->Advance(absl::Seconds(1));  // past the loop protection
  r.Take(Await(2, absl::InfiniteFuture(), r.Callback()));
  refresher_->Complete(Bearer("at-2", ""));  // no rotation this time
  EXPECT_EQ(manager_->CurrentToken().refresh_token, "rt-1");
  EXPECT_EQ(manager_->CurrentToken().access_token, "at-2");

  clock_->Advance(absl::Seconds(1));
  r.Take(Await(3, absl::InfiniteFuture(), r.Callback()));
  absl::MutexLock lock(&refresher_->mu);
  EXPECT_THAT(refresher_->presented, ::testing::ElementsAre("rt-0", "rt-1", "rt-1"));
}

TEST_F(CoordinatorTest, ExpiresInCountsFromWhenTheRefreshWasSent) {
  Make(Valid());
  const absl::Time sent = clock_->Now();
  Results r;
  r.Take(Await(1, absl::InfiniteFuture(), r.Callback()));
  clock_->Advance(absl::Seconds(5));  // the refresh takes 5 s
  refresher_->Complete(Bearer("at-1", "rt-1", 60));
  EXPECT_EQ(manager_->CurrentToken().expires_at, sent + absl::Seconds(60));
}

TEST_F(CoordinatorTest, ExpiredTokenIsNotSendableAndWaitsForARefresh) {
  Make(Token{"at-0", "rt-0", clock_->Now() + absl::Seconds(10), ""});
  EXPECT_TRUE(Send(core().Current()));
  clock_->Advance(absl::Seconds(10));
  EXPECT_FALSE(Send(core().Current()));
  Results r;
  RefreshCoordinator::Wait w =
      Await(0, absl::InfiniteFuture(), r.Callback());
  EXPECT_FALSE(w.ready.has_value());
  EXPECT_EQ(refresher_->calls(), 1);
  refresher_->Complete(Bearer("at-1", "rt-1", 60));
  ASSERT_EQ(r.size(), 1);
  EXPECT_TRUE(Send(core().Current()));
}

TEST_F(CoordinatorTest, TerminalFailureEndsTheSessionOnceUntilSetToken) {
  Make(Valid());
  Results r;
  for (int i = 0; i < 16; ++i) {
    r.Take(Await(1, absl::InfiniteFuture(), r.Callback()));
  }
  refresher_->Complete(
      absl::UnauthenticatedError("invalid_grant: refresh token revoked"));
  ASSERT_EQ(r.size(), 16);
  for (const auto& result : r.all()) {
    EXPECT_THAT(result, StatusIs(absl::StatusCode::kUnauthenticated,
                                 ::testing::AllOf(HasSubstr("session expired"),
                                                  HasSubstr("invalid_grant"))));
  }
  EXPECT_EQ(expired_calls(), 1);
  EXPECT_FALSE(core().Current().terminal.ok());

  // Later calls fail at once, without calling the token service.
  Results later;
  RefreshCoordinator::Wait w =
      Await(1, absl::InfiniteFuture(), later.Callback());
  ASSERT_TRUE(w.ready.has_value());
  EXPECT_THAT(*w.ready, StatusIs(absl::StatusCode::kUnauthenticated));
  EXPECT_EQ(refresher_->calls(), 1);
  EXPECT_EQ(expired_calls(), 1);

  manager_->SetToken(Valid("at-new", "rt-new"));
  EXPECT_TRUE(Send(core().Current()));
  EXPECT_EQ(core().Current().authorization, "Bearer at-new");
  EXPECT_EQ(manager_->Stats().sessions_expired, 1u);
}

// Only UNAUTHENTICATED (invalid_grant) is an expired session; a token
// service that rejects the client itself (invalid_client and its kin) is a
// misconfiguration that logging in again cannot fix: its own status, its
// own callback, its own event, and the cause's code shown once.
TEST_F(CoordinatorTest, TerminalFailuresSayWhetherTheSessionOrTheClientWasRejected) {
  struct Case {
    absl::StatusCode code;
    TerminalReason reason;
  };
  for (const Case& c : {Case{absl::StatusCode::kUnauthenticated, TerminalReason::kSessionExpired},
                        Case{absl::StatusCode::kPermissionDenied, TerminalReason::kClientRejected},
                        Case{absl::StatusCode::kInvalidArgument, TerminalReason::kClientRejected},
                        Case{absl::StatusCode::kFailedPrecondition, TerminalReason::kClientRejected}}) {
    SCOPED_TRACE(absl::StatusCodeToString(c.code));
    auto rejected = std::make_shared<std::vector<absl::Status>>();
    auto events = std::make_shared<std::vector<TokenEvent>>();
    TokenManagerOptions options;
    options.on_client_rejected = [rejected](const absl::Status& s) { rejected->push_back(s); };
    options.on_event = [events](const TokenEvent& e) { events->push_back(e); };
    const int expired_before = expired_calls();
    const int grants_before = refresher_->calls();
    Make(Valid(), options);
    Results r;
    r.Take(Await(1, absl::InfiniteFuture(), r.Callback()));
    refresher_->Complete(absl::Status(c.code, "token endpoint: invalid_client (HTTP 401)"));
    ASSERT_EQ(r.size(), 1);
    const absl::Status failed = r.all()[0].status();
    const std::string code = absl::StatusCodeToString(c.code);
    // The cause, with its code once.
    EXPECT_THAT(failed.message(), HasSubstr(code + ": token endpoint: invalid_client"));
    EXPECT_THAT(failed.message(), Not(HasSubstr(code + ": " + code)));
    ASSERT_FALSE(events->empty());
    const TokenEvent& last = events->back();
    if (c.reason == TerminalReason::kSessionExpired) {
      EXPECT_THAT(failed, StatusIs(absl::StatusCode::kUnauthenticated,
                                   HasSubstr("session expired, log in again")));
      EXPECT_EQ(expired_calls(), expired_before + 1);
      EXPECT_TRUE(rejected->empty());
      EXPECT_EQ(last.kind, TokenEvent::Kind::kSessionExpired);
      EXPECT_EQ(manager_->Stats().sessions_expired, 1u);
    } else {
      EXPECT_THAT(failed, StatusIs(absl::StatusCode::kUnauthenticated,
                                   ::testing::AllOf(HasSubstr("rejected this client"),
                                                    HasSubstr("will not help"))));
      EXPECT_EQ(expired_calls(), expired_before);  // the user is not logged out
      ASSERT_EQ(rejected->size(), 1u);
      EXPECT_EQ(rejected->front(), failed);
      EXPECT_EQ(last.kind, TokenEvent::Kind::kClientRejected);
      EXPECT_EQ(manager_->Stats().clients_rejected, 1u);
    }
    EXPECT_EQ(last.terminal_reason, c.reason);
    // The event's reason is the cause as the service gave it: code once.
    const TokenEvent& failure = (*events)[events->size() - 2];
    EXPECT_EQ(failure.kind, TokenEvent::Kind::kRefreshFailed);
    EXPECT_TRUE(failure.terminal);
    EXPECT_EQ(failure.terminal_reason, c.reason);
    EXPECT_EQ(failure.reason.ToString(), code + ": token endpoint: invalid_client (HTTP 401)");
    // Later calls fail at once with the same status, no grant.
    Results later;
    RefreshCoordinator::Wait w = Await(1, absl::InfiniteFuture(), later.Callback());
    ASSERT_TRUE(w.ready.has_value());
    EXPECT_EQ(w.ready->status(), failed);
    EXPECT_EQ(refresher_->calls(), grants_before + 1);
  }
}

TEST_F(CoordinatorTest, TransientFailuresRetryOnTheBackoffScheduleThenSucceed) {
  Make(Valid());
  Results r;
  for (int i = 0; i < 16; ++i) {
    r.Take(Await(1, absl::InfiniteFuture(), r.Callback()));
  }
  const absl::Time t0 = clock_->Now();
  refresher_->Complete(absl::UnavailableError("connection refused"));
  EXPECT_EQ(r.size(), 0);
  EXPECT_EQ(clock_->NextTimer(), t0 + absl::Seconds(1));
  clock_->Advance(absl::Milliseconds(999));
  EXPECT_EQ(refresher_->calls(), 1);  // not before the backoff allows
  clock_->Advance(absl::Milliseconds(1));
  EXPECT_EQ(refresher_->calls(), 2);
  refresher_->Complete(absl::DeadlineExceededError("slow"));
  EXPECT_EQ(clock_->NextTimer(), t0 + absl::Seconds(1) + absl::Seconds(1.6));
  clock_->AdvanceTo(clock_->NextTimer());
  EXPECT_EQ(refresher_->calls(), 3);
  refresher_->Complete(Bearer("at-1", "rt-1"));
  ASSERT_EQ(r.size(), 16);
  for (const auto& result : r.all()) EXPECT_THAT(result, IsOk());
  EXPECT_EQ(manager_->Stats().refreshes_failed, 2u);
  EXPECT_EQ(expired_calls(), 0);
}

TEST_F(CoordinatorTest, RetryAfterFromTheTokenServiceDelaysTheNextAttempt) {
  Make(Valid());
  Results r;
  r.Take(Await(1, absl::InfiniteFuture(), r.Callback()));
  const absl::Time t0 = clock_->Now();
  // Longer than the 1 s backoff: the server's delay wins.
  refresher_->Complete(WithRetryAfter(absl::UnavailableError("HTTP 503"), absl::Seconds(7)));
  EXPECT_EQ(clock_->NextTimer(), t0 + absl::Seconds(7));
  clock_->Advance(absl::Milliseconds(6999));
  EXPECT_EQ(refresher_->calls(), 1);
  clock_->Advance(absl::Milliseconds(1));
  EXPECT_EQ(refresher_->calls(), 2);
  // Shorter than the 1.6 s backoff: the backoff wins.
  const absl::Time t1 = clock_->Now();
  refresher_->Complete(WithRetryAfter(absl::UnavailableError("HTTP 429"), absl::Seconds(1)));
  EXPECT_EQ(clock_->NextTimer(), t1 + absl::Seconds(1.6));
  // An absurd delay is capped at one hour.
  clock_->AdvanceTo(clock_->NextTimer());
  const absl::Time t2 = clock_->Now();
  refresher_->Complete(WithRetryAfter(absl::UnavailableError("HTTP 503"), absl::Hours(50)));
  EXPECT_EQ(refresher_->calls(), 3);
  EXPECT_EQ(r.size(), 1);  // the third failure ends the round: the waiter fails
  clock_->AdvanceTo(t2 + absl::Hours(1));
  r.Take(Await(1, absl::InfiniteFuture(), r.Callback()));
  EXPECT_EQ(refresher_->calls(), 4);  // after exactly the capped delay
  refresher_->Complete(Bearer("at-1", "rt-1"));
  EXPECT_EQ(r.size(), 2);
}

TEST(RetryAfter, RoundTripsThroughAStatusAndIgnoresOk) {
  EXPECT_EQ(RetryAfterOf(WithRetryAfter(absl::UnavailableError("x"), absl::Milliseconds(1500))),
            absl::Milliseconds(1500));
  EXPECT_EQ(RetryAfterOf(absl::UnavailableError("x")), std::nullopt);
  EXPECT_EQ(RetryAfterOf(WithRetryAfter(absl::OkStatus(), absl::Seconds(1))), std::nullopt);
}

TEST_F(CoordinatorTest, TransientFailuresPastMaxAttemptsFailWaitersThenBackOff) {
  Make(Valid());
  Results r;
  for (int i = 0; i < 16; ++i) {
    r.Take(Await(1, absl::InfiniteFuture(), r.Callback()));
  }
  for (int attempt = 1; attempt <= 3; ++attempt) {
    refresher_->Complete(absl::UnavailableError("token service down"));
    if (attempt < 3) clock_->AdvanceTo(clock_->NextTimer());
  }
  EXPECT_EQ(refresher_->calls(), 3);
  ASSERT_EQ(r.size(), 16);
  for (const auto& result : r.all()) {
    EXPECT_THAT(result, StatusIs(absl::StatusCode::kUnavailable,
                                 HasSubstr("token service down")));
  }
  EXPECT_EQ(clock_->PendingTimers(), 0);  // nobody waits: no retry scheduled

  // While backing off (2.56 s after the third failure), calls fail fast.
  Results during;
  RefreshCoordinator::Wait w =
      Await(1, absl::InfiniteFuture(), during.Callback());
  ASSERT_TRUE(w.ready.has_value());
  EXPECT_THAT(*w.ready, StatusIs(absl::StatusCode::kUnavailable));
  EXPECT_EQ(refresher_->calls(), 3);

  clock_->Advance(absl::Seconds(2.56));
  Results after;
  w = Await(1, absl::InfiniteFuture(), after.Callback());
  EXPECT_FALSE(w.ready.has_value());
  EXPECT_EQ(refresher_->calls(), 4);
  refresher_->Complete(Bearer("at-1", "rt-1"));
  ASSERT_EQ(after.size(), 1);
  EXPECT_THAT(after.all()[0], IsOk());
  EXPECT_EQ(expired_calls(), 0);
}

// A refresher of the application's own that returns a token no header can
// carry: the coordinator checks every refresher's token.
TEST_F(CoordinatorTest, MalformedTokenIsTransientAndNeverPublished) {
  Make(Valid());
  Results r;
  r.Take(Await(1, absl::InfiniteFuture(), r.Callback()));
  refresher_->CompleteWithToken(Token{"at\r\nx-evil: 1", "rt-1"});
  EXPECT_EQ(core().Current().authorization, "Bearer at-0");
  EXPECT_EQ(r.size(), 0);  // still waiting: a retry is scheduled
  EXPECT_EQ(clock_->PendingTimers(), 1);
  EXPECT_EQ(manager_->Stats().refreshes_failed, 1u);
}

TEST_F(CoordinatorTest, MalformedResponseErrorNamesTheProblem) {
  TokenManagerOptions options;
  options.max_refresh_attempts = 1;
  Make(Valid(), options);
  Results r;
  r.Take(Await(1, absl::InfiniteFuture(), r.Callback()));
  v1::TokenResponse bad = Bearer("at-1");
  bad.set_token_type("mac");
  refresher_->Complete(bad);
  ASSERT_EQ(r.size(), 1);
  EXPECT_THAT(r.all()[0],
              StatusIs(absl::StatusCode::kUnavailable,
                       HasSubstr("malformed token response: token_type is \"mac\"")));
}

TEST_F(CoordinatorTest, WaiterDeadlineEndsOnlyThatWait) {
  Make(Valid());
  Results short_wait, long_wait;
  short_wait.Take(Await(1, clock_->Now() + absl::Seconds(1),
                               short_wait.Callback()));
  long_wait.Take(Await(1, clock_->Now() + absl::Seconds(60),
                              long_wait.Callback()));
  clock_->Advance(absl::Seconds(1));
  ASSERT_EQ(short_wait.size(), 1);
  EXPECT_THAT(short_wait.all()[0], StatusIs(absl::StatusCode::kDeadlineExceeded));
  EXPECT_EQ(long_wait.size(), 0);
  refresher_->Complete(Bearer("at-1"));
  ASSERT_EQ(long_wait.size(), 1);
  EXPECT_THAT(long_wait.all()[0], IsOk());
  EXPECT_EQ(clock_->PendingTimers(), 0);  // its deadline timer was cancelled
}

TEST_F(CoordinatorTest, CancelledWaiterIsNeverCalled) {
  Make(Valid());
  Results r;
  RefreshCoordinator::Wait w = Await(1, absl::InfiniteFuture(), r.Callback());
  ASSERT_NE(w.ticket, 0u);
  EXPECT_TRUE(core().CancelWait(w.ticket));
  EXPECT_FALSE(core().CancelWait(w.ticket));
  refresher_->Complete(Bearer("at-1"));
  EXPECT_EQ(r.size(), 0);
}

TEST_F(CoordinatorTest, DestroyingTheManagerFailsWaitersAndSilencesCallbacks) {
  std::atomic<int> refreshed{0};
  TokenManagerOptions options;
  options.on_tokens_refreshed = [&](const Token&) { ++refreshed; };
  Make(Valid(), options);
  Results r;
  for (int i = 0; i < 16; ++i) {
    r.Take(Await(1, absl::InfiniteFuture(), r.Callback()));
  }
  std::shared_ptr<RefreshCoordinator> core_ref = internal::TokenManagerAccess::Coordinator(*manager_);
  manager_.reset();
  ASSERT_EQ(r.size(), 16);
  for (const auto& result : r.all()) {
    EXPECT_THAT(result, StatusIs(absl::StatusCode::kUnavailable,
                                 HasSubstr("TokenManager was destroyed")));
  }
  {
    absl::MutexLock lock(&refresher_->mu);
    EXPECT_EQ(refresher_->destroyed, 1);
  }
  refresher_->Complete(Bearer("at-1"));  // a late answer is harmless
  EXPECT_EQ(refreshed.load(), 0);
  EXPECT_EQ(expired_calls(), 0);
}

TEST_F(CoordinatorTest, NoRefreshTokenEndsTheSessionWithoutCallingTheService) {
  Make(Valid("at-0", ""));
  Results r;
  RefreshCoordinator::Wait w = Await(1, absl::InfiniteFuture(), r.Callback());
  ASSERT_TRUE(w.ready.has_value());
  EXPECT_THAT(*w.ready, StatusIs(absl::StatusCode::kUnauthenticated,
                                 HasSubstr("no refresh token")));
  EXPECT_EQ(refresher_->calls(), 0);
  EXPECT_EQ(expired_calls(), 1);
}

// A refresher that needs no refresh token (client credentials, JWT bearer,
// token exchange): the manager starts from nothing, every need for a token
// is a grant with an empty GrantRequest, and there is no session to expire.
TEST_F(CoordinatorTest, GrantWithoutARefreshTokenStartsFromNothingAndNeverExpiresASession) {
  refresher_->needs_refresh_token = false;
  auto rejected = std::make_shared<std::vector<absl::Status>>();
  TokenManagerOptions options;
  options.on_client_rejected = [rejected](const absl::Status& s) { rejected->push_back(s); };
  Make(Token{}, options);
  EXPECT_FALSE(Send(core().Current()));
  EXPECT_EQ(refresher_->calls(), 0);  // nothing until a call needs a token

  // 1000 first calls: one grant.
  Results first;
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 125; ++i) {
        first.Take(Await(0, absl::InfiniteFuture(), first.Callback()));
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(refresher_->calls(), 1);
  refresher_->Complete(Bearer("at-1", "", 3600));
  ASSERT_EQ(first.size(), 1000);
  for (const auto& r : first.all()) {
    ASSERT_THAT(r, IsOk());
    EXPECT_EQ((*r)->authorization, "Bearer at-1");
  }

  // A rejection: a new grant, not "session expired, no refresh token".
  const uint64_t at1 = core().Current().generation;
  Results second;
  second.Take(Await(at1, absl::InfiniteFuture(), second.Callback()));
  EXPECT_EQ(refresher_->calls(), 2);
  refresher_->Complete(Bearer("at-2", "", 3600));
  ASSERT_EQ(second.size(), 1);
  ASSERT_THAT(second.all()[0], IsOk());
  EXPECT_EQ((*second.all()[0])->authorization, "Bearer at-2");

  // invalid_grant from such a grant (a rejected assertion or subject token)
  // means the client was rejected: no login can fix it.
  clock_->Advance(absl::Seconds(2));  // past loop protection's interval
  const uint64_t at2 = core().Current().generation;
  Results third;
  third.Take(Await(at2, absl::InfiniteFuture(), third.Callback()));
  EXPECT_EQ(refresher_->calls(), 3);
  refresher_->Complete(absl::UnauthenticatedError("invalid_grant: bad assertion signature"));
  ASSERT_EQ(third.size(), 1);
  EXPECT_THAT(third.all()[0],
              StatusIs(absl::StatusCode::kUnauthenticated,
                       ::testing::AllOf(HasSubstr("rejected this client"),
                                        HasSubstr("UNAUTHENTICATED: invalid_grant"))));
  EXPECT_EQ(expired_calls(), 0);
  EXPECT_EQ(rejected->size(), 1u);
  EXPECT_EQ(manager_->Stats().sessions_expired, 0u);
  EXPECT_EQ(manager_->Stats().clients_rejected, 1u);
  {
    absl::MutexLock lock(&refresher_->mu);
    for (const std::string& presented : refresher_->presented) EXPECT_EQ(presented, "");
  }

  // SetToken({}) after fixing the configuration: the next call grants again.
  manager_->SetToken(Token{});
  Results fourth;
  fourth.Take(Await(0, absl::InfiniteFuture(), fourth.Callback()));
  EXPECT_EQ(refresher_->calls(), 4);
  refresher_->Complete(Bearer("at-3", "", 3600));
  ASSERT_EQ(fourth.size(), 1);
  EXPECT_THAT(fourth.all()[0], IsOk());
}

// A token service may return a refresh token to a service grant anyway
// (RFC 8693 allows it; Keycloak can for client credentials). The refresher
// does not use it, so its grants present none, and their invalid_grant is
// still a rejected client, not an expired session.
TEST_F(CoordinatorTest, RefreshTokenReturnedToAServiceGrantIsNeverPresented) {
  refresher_->needs_refresh_token = false;
  Make(Token{});
  Results r;
  r.Take(Await(0, absl::InfiniteFuture(), r.Callback()));
  refresher_->Complete(Bearer("at-1", "rt-unasked", 3600));
  ASSERT_EQ(r.size(), 1);
  EXPECT_EQ(manager_->CurrentToken().refresh_token, "rt-unasked");  // kept, as returned
  Results again;
  again.Take(Await(core().Current().generation, absl::InfiniteFuture(), again.Callback()));
  refresher_->Complete(absl::UnauthenticatedError("invalid_grant: subject token expired"));
  ASSERT_EQ(again.size(), 1);
  EXPECT_THAT(again.all()[0], StatusIs(absl::StatusCode::kUnauthenticated,
                                       HasSubstr("rejected this client")));
  EXPECT_EQ(expired_calls(), 0);
  absl::MutexLock lock(&refresher_->mu);
  EXPECT_EQ(refresher_->presented, (std::vector<std::string>{"", ""}));
}

TEST_F(CoordinatorTest, ProactiveRefreshWorksWithoutARefreshToken) {
  refresher_->needs_refresh_token = false;
  Make(Token{"at-0", "", clock_->Now() + absl::Seconds(120), ""});
  clock_->Advance(absl::Seconds(90));  // 30 s before expiry: inside the margin
  EXPECT_TRUE(Send(core().Current()));
  EXPECT_EQ(refresher_->calls(), 1);
  EXPECT_EQ(manager_->Stats().calls_waited, 0u);
  refresher_->Complete(Bearer("at-1", "", 3600));
  EXPECT_EQ(core().Current().authorization, "Bearer at-1");
  EXPECT_EQ(manager_->Stats().refreshes_succeeded, 1u);
}

TEST_F(CoordinatorTest, EmptyAccessTokenRefreshesOnFirstUse) {
  Make(Token{"", "rt-0", absl::InfiniteFuture(), ""});
  EXPECT_FALSE(Send(core().Current()));
  Results r;
  r.Take(Await(0, absl::InfiniteFuture(), r.Callback()));
  EXPECT_EQ(refresher_->calls(), 1);
  refresher_->Complete(Bearer("at-1"));
  ASSERT_EQ(r.size(), 1);
  EXPECT_THAT(r.all()[0], IsOk());
}

TEST_F(CoordinatorTest, UnsendableInitialTokenIsTreatedAsAbsent) {
  Make(Token{"bad\ntoken", "rt-0", absl::InfiniteFuture(), ""});
  EXPECT_EQ(core().Current().authorization, "");
  EXPECT_FALSE(Send(core().Current()));
}

TEST_F(CoordinatorTest, SetTokenDuringARefreshDiscardsItsResult) {
  Make(Valid());
  Results r;
  r.Take(Await(1, absl::InfiniteFuture(), r.Callback()));
  manager_->SetToken(Valid("at-login", "rt-login"));
  ASSERT_EQ(r.size(), 1);  // released with the new login
  EXPECT_EQ((*r.all()[0])->authorization, "Bearer at-login");
  refresher_->Complete(Bearer("at-stale", "rt-stale"));
  EXPECT_EQ(manager_->CurrentToken().access_token, "at-login");
  EXPECT_EQ(manager_->CurrentToken().refresh_token, "rt-login");
}

TEST_F(CoordinatorTest, SetTokenNeverPutsASecondGrantInFlight) {
  Make(Valid());
  Results r;
  r.Take(Await(1, absl::InfiniteFuture(), r.Callback()));
  ASSERT_EQ(refresher_->in_flight(), 1);
  // A login that still needs a refresh (no access token yet).
  manager_->SetToken(Token{"", "rt-login", absl::InfiniteFuture(), ""});
  EXPECT_EQ(refresher_->in_flight(), 1);  // not two
  EXPECT_EQ(r.size(), 0);
  refresher_->Complete(Bearer("at-stale", "rt-stale"));  // dropped
  EXPECT_EQ(refresher_->in_flight(), 1);  // the follow-up with the new token
  refresher_->Complete(Bearer("at-login-1", "rt-login-1"));
  ASSERT_EQ(r.size(), 1);
  EXPECT_EQ((*r.all()[0])->authorization, "Bearer at-login-1");
  absl::MutexLock lock(&refresher_->mu);
  EXPECT_THAT(refresher_->presented, ::testing::ElementsAre("rt-0", "rt-login"));
}

TEST_F(CoordinatorTest, TokenServiceErrorsNeverEchoTheTokens) {
  Make(Valid("at-secret-0", "rt-secret-0"));
  Results r;
  r.Take(Await(1, absl::InfiniteFuture(), r.Callback()));
  refresher_->Complete(absl::UnauthenticatedError(
      "invalid_grant: rt-secret-0 was revoked; at-secret-0 too"));
  ASSERT_EQ(r.size(), 1);
  const std::string message(r.all()[0].status().message());
  EXPECT_THAT(message, Not(HasSubstr("rt-secret-0")));
  EXPECT_THAT(message, Not(HasSubstr("at-secret-0")));
  EXPECT_THAT(message, HasSubstr(TokenFingerprint("rt-secret-0")));
}

TEST_F(CoordinatorTest, NoteRejectionStartsOneRefreshForTheCurrentTokenOnly) {
  Make(Valid());
  core().NoteRejection(1);
  core().NoteRejection(1);
  EXPECT_EQ(refresher_->calls(), 1);
  refresher_->Complete(Bearer("at-1"));
  core().NoteRejection(1);  // an older token: nothing to do
  EXPECT_EQ(refresher_->calls(), 1);
  EXPECT_EQ(core().Current().authorization, "Bearer at-1");
}

TEST_F(CoordinatorTest, RejectedTokenIsNotSentAgainWhileTheRefreshRuns) {
  Make(Valid());
  core().NoteRejection(1);
  EXPECT_FALSE(Send(core().Current()));
  Results r;
  RefreshCoordinator::Wait w = Await(0, absl::InfiniteFuture(), r.Callback());
  EXPECT_FALSE(w.ready.has_value());  // waits instead of sending at-0
  EXPECT_EQ(refresher_->calls(), 1);
  refresher_->Complete(Bearer("at-1"));
  ASSERT_EQ(r.size(), 1);
  EXPECT_EQ((*r.all()[0])->authorization, "Bearer at-1");
  EXPECT_TRUE(Send(core().Current()));
}

TEST_F(CoordinatorTest, ServerRejectingEveryTokenGetsOneRefreshPerInterval) {
  Make(Valid());
  Results r;
  r.Take(Await(1, absl::InfiniteFuture(), r.Callback()));
  refresher_->Complete(Bearer("at-1", "rt-1"));
  ASSERT_EQ(r.size(), 1);
  // The token that rejection bought is rejected at once: decline, and hand
  // back that same token so that the server's answer reaches the caller.
  RefreshCoordinator::Wait w = Await(2, absl::InfiniteFuture(), r.Callback());
  EXPECT_TRUE(w.declined);
  ASSERT_TRUE(w.ready.has_value());
  ASSERT_THAT(*w.ready, IsOk());
  EXPECT_EQ((**w.ready)->generation, 2u);
  core().NoteRejection(2);
  EXPECT_EQ(refresher_->calls(), 1);
  EXPECT_TRUE(Send(core().Current()));  // not marked rejected
  clock_->Advance(absl::Seconds(1));
  w = Await(2, absl::InfiniteFuture(), r.Callback());
  EXPECT_FALSE(w.declined);
  EXPECT_EQ(refresher_->calls(), 2);
}

TEST_F(CoordinatorTest, RejectionAfterAnExpiryRefreshIsNotLoopProtected) {
  Make(Token{"at-0", "rt-0", clock_->Now() + absl::Seconds(5), ""});
  clock_->Advance(absl::Seconds(5));
  Results r;
  r.Take(Await(0, absl::InfiniteFuture(), r.Callback()));  // expiry
  refresher_->Complete(Bearer("at-1", "rt-1"));
  // Revoked right after it was issued: a normal rejection, refreshed.
  RefreshCoordinator::Wait w = Await(2, absl::InfiniteFuture(), r.Callback());
  EXPECT_FALSE(w.declined);
  EXPECT_EQ(refresher_->calls(), 2);
}

// A token that a server accepted and then rejects has expired or was
// revoked: refreshed at once, however young, with loop protection on.
TEST_F(CoordinatorTest, RejectionOfAnAcceptedTokenIsNeverLoopProtected) {
  Make(Valid());
  Results r;
  r.Take(Await(1, absl::InfiniteFuture(), r.Callback()));
  refresher_->Complete(Bearer("at-1", "rt-1"));  // generation 2, for a rejection
  core().NoteAccepted(2);
  RefreshCoordinator::Wait w = Await(2, absl::InfiniteFuture(), r.Callback());
  EXPECT_FALSE(w.declined);
  EXPECT_EQ(refresher_->calls(), 2);
  refresher_->Complete(Bearer("at-2", "rt-2"));
  EXPECT_EQ(core().Current().authorization, "Bearer at-2");
}

// Unless a replay carrying it was rejected: that token does not help the
// calls that need it (insufficient_scope for some methods, say), whoever
// else accepts it.
TEST_F(CoordinatorTest, TokenWhoseReplayWasRejectedIsLoopProtectedEvenIfAccepted) {
  Make(Valid());
  Results r;
  r.Take(Await(1, absl::InfiniteFuture(), r.Callback()));
  refresher_->Complete(Bearer("at-1", "rt-1"));
  core().NoteAccepted(2);
  core().NoteReplayRejected(2);
  RefreshCoordinator::Wait w = Await(2, absl::InfiniteFuture(), r.Callback());
  EXPECT_TRUE(w.declined);
  core().NoteRejection(2);
  EXPECT_EQ(refresher_->calls(), 1);
  clock_->Advance(absl::Seconds(1));  // min_refresh_interval
  w = Await(2, absl::InfiniteFuture(), r.Callback());
  EXPECT_FALSE(w.declined);
  EXPECT_EQ(refresher_->calls(), 2);
}

// A replay that gRPC failed on the client while it waited for a refresh
// (NoteReplayRejected(0)) marks the token that refresh brings.
TEST_F(CoordinatorTest, ReplayEndedBeforeItsTokenArrivedMarksTheTokenInFlight) {
  Make(Valid());
  Results r;
  r.Take(Await(1, absl::InfiniteFuture(), r.Callback()));  // refresh in flight
  core().NoteReplayRejected(0);
  refresher_->Complete(Bearer("at-1", "rt-1"));
  core().NoteAccepted(2);
  RefreshCoordinator::Wait w = Await(2, absl::InfiniteFuture(), r.Callback());
  EXPECT_TRUE(w.declined);
  EXPECT_EQ(refresher_->calls(), 1);
}

// A second attempt where the method's retry policy also retries other codes
// may not be a rejection at all: at most one such refresh per interval.
TEST_F(CoordinatorTest, AmbiguousSuspicionsRefreshAtMostOncePerInterval) {
  Make(Valid());
  Results r;
  RefreshCoordinator::WaitRequest suspect;
  suspect.rejected_generation = 1;
  suspect.ambiguous = true;
  r.Take(core().Await(suspect, r.Callback()));
  EXPECT_EQ(refresher_->calls(), 1);
  refresher_->Complete(Bearer("at-1", "rt-1"));
  core().NoteAccepted(2);
  suspect.rejected_generation = 2;
  RefreshCoordinator::Wait w = core().Await(suspect, r.Callback());
  ASSERT_TRUE(w.ready.has_value());  // the same token, sent again
  EXPECT_EQ((**w.ready)->generation, 2u);
  EXPECT_EQ(refresher_->calls(), 1);
  EXPECT_TRUE(Send(core().Current()));  // not marked rejected
  clock_->Advance(absl::Seconds(1));
  w = core().Await(suspect, r.Callback());
  EXPECT_FALSE(w.ready.has_value());
  EXPECT_EQ(refresher_->calls(), 2);
}

TEST_F(CoordinatorTest, ProactiveRefreshStartsInsideTheMarginWithoutWaiting) {
  // A 2-minute token: the margin is min(60 s, 25% of 120 s) = 30 s.
  Make(Token{"at-0", "rt-0", clock_->Now() + absl::Seconds(120), ""});
  clock_->Advance(absl::Seconds(89));
  EXPECT_TRUE(Send(core().Current()));
  EXPECT_EQ(refresher_->calls(), 0);
  clock_->Advance(absl::Seconds(1));  // 30 s before expiry
  EXPECT_TRUE(Send(core().Current()));  // still sent, no waiting
  EXPECT_TRUE(Send(core().Current()));
  EXPECT_EQ(refresher_->calls(), 1);  // one background refresh
  EXPECT_EQ(manager_->Stats().calls_waited, 0u);
  refresher_->Complete(Bearer("at-1", "rt-1", 3600));
  EXPECT_EQ(core().Current().authorization, "Bearer at-1");
  // A 1-hour token: the margin is the full 60 s.
  clock_->Advance(absl::Seconds(3600 - 61));
  EXPECT_TRUE(Send(core().Current()));
  EXPECT_EQ(refresher_->calls(), 1);
  clock_->Advance(absl::Seconds(1));
  EXPECT_TRUE(Send(core().Current()));
  EXPECT_EQ(refresher_->calls(), 2);
}

// Different tokens start their background refresh at different points of
// the first half of the margin (refresh_jitter 0.5), and every manager that
// holds the same token picks the same point, whatever its seed: replicas that
// share a credential refresh it when one process would.
TEST_F(CoordinatorTest, ProactiveRefreshStartIsJitteredPerTokenAndTheSameForEveryHolder) {
  jittered_ = true;
  auto start_of = [&](const std::string& access_token, uint64_t seed) {
    TokenManagerOptions options;
    options.refresh_jitter = 0.5;
    options.jitter_seed = seed;
    const absl::Time expires = clock_->Now() + absl::Seconds(3600);
    Make(Token{access_token, "rt-0", expires, ""}, options);
    // The 60 s margin starts at expires - 60 s; the refresh starts within
    // its first 30 s.
    return core().Current().refresh_after - (expires - absl::Seconds(60));
  };
  std::vector<absl::Duration> starts;
  for (int i = 1; i <= 50; ++i) {
    const std::string token = absl::StrCat("at-", i);
    const absl::Duration offset = start_of(token, 1);
    EXPECT_GE(offset, absl::ZeroDuration());
    EXPECT_LE(offset, absl::Seconds(30));
    EXPECT_EQ(offset, start_of(token, 1000 + i));  // the token decides, not the seed
    starts.push_back(offset);
  }
  std::sort(starts.begin(), starts.end());
  EXPECT_GT(starts.back() - starts.front(), absl::Seconds(20));  // spread out
  starts.erase(std::unique(starts.begin(), starts.end()), starts.end());
  EXPECT_GT(starts.size(), 45u);  // (nearly) every token its own point
}

TEST_F(CoordinatorTest, ValidTokenKeepsBeingSentWhileAProactiveRefreshBacksOff) {
  Make(Token{"at-0", "rt-0", clock_->Now() + absl::Seconds(600), ""});
  clock_->Advance(absl::Seconds(545));  // inside the 60 s margin
  EXPECT_TRUE(Send(core().Current()));
  for (int attempt = 1; attempt <= 3; ++attempt) {
    refresher_->Complete(absl::UnavailableError("down"));
    EXPECT_TRUE(Send(core().Current()));  // never waits
    if (attempt < 3) clock_->AdvanceTo(clock_->NextTimer());
  }
  EXPECT_EQ(refresher_->calls(), 3);
  EXPECT_EQ(manager_->Stats().calls_waited, 0u);
  // Backing off 2.56 s: calls still go out, no refresh is attempted.
  EXPECT_TRUE(Send(core().Current()));
  EXPECT_EQ(refresher_->calls(), 3);
  clock_->Advance(absl::Seconds(2.56));
  EXPECT_TRUE(Send(core().Current()));
  EXPECT_EQ(refresher_->calls(), 4);
  refresher_->Complete(Bearer("at-1", "rt-1", 600));
  EXPECT_EQ(core().Current().authorization, "Bearer at-1");
}

TEST_F(CoordinatorTest, EventsReportEachStepWithDurationsAndFingerprintsOnly) {
  auto events = std::make_shared<std::vector<TokenEvent>>();
  TokenManagerOptions options;
  options.on_event = [events](const TokenEvent& e) { events->push_back(e); };
  options.on_session_expired = [](const absl::Status&) {};
  Make(Valid("at-0", "rt-0"), options);
  Results r;
  r.Take(Await(1, absl::InfiniteFuture(), r.Callback()));
  clock_->Advance(absl::Milliseconds(250));
  refresher_->Complete(absl::UnavailableError("down"));
  clock_->AdvanceTo(clock_->NextTimer());
  clock_->Advance(absl::Milliseconds(40));
  refresher_->Complete(Bearer("at-1", "rt-1"));
  core().CountReplay();
  clock_->Advance(absl::Seconds(5));
  r.Take(Await(2, absl::InfiniteFuture(), r.Callback()));
  refresher_->Complete(absl::UnauthenticatedError("invalid_grant: rt-1 revoked"));

  using K = TokenEvent::Kind;
  std::vector<K> kinds;
  for (const TokenEvent& e : *events) kinds.push_back(e.kind);
  EXPECT_THAT(kinds, ::testing::ElementsAre(
                         K::kRefreshStarted, K::kRefreshFailed, K::kRefreshStarted,
                         K::kRefreshSucceeded, K::kCallReplayed, K::kRefreshStarted,
                         K::kRefreshFailed, K::kSessionExpired));
  const auto& ev = *events;
  EXPECT_EQ(ev[0].token_fingerprint, TokenFingerprint("rt-0"));
  EXPECT_EQ(ev[1].duration, absl::Milliseconds(250));
  EXPECT_THAT(ev[1].reason, StatusIs(absl::StatusCode::kUnavailable, HasSubstr("down")));
  EXPECT_FALSE(ev[1].terminal);
  EXPECT_EQ(ev[3].duration, absl::Milliseconds(40));
  EXPECT_EQ(ev[3].token_fingerprint, TokenFingerprint("at-1"));
  EXPECT_TRUE(ev[6].terminal);
  EXPECT_THAT(std::string(ev[6].reason.message()), Not(HasSubstr("rt-1")));
  EXPECT_THAT(ev[7].reason, StatusIs(absl::StatusCode::kUnauthenticated,
                                     HasSubstr("session expired")));
}

// TokenManagerOptions::metrics: the same steps as the events above, as
// instruments bound to credential=orders; durations are the fake clock's;
// the expiry gauge reads the current token at collection and is gone once
// the manager is.
TEST_F(CoordinatorTest, MetricsCountRefreshesByOutcomeAndReasonAndCallsThatWaited) {
  auto metrics = std::make_shared<testing::RecordingMetrics>();
  TokenManagerOptions options;
  options.metrics = {metrics, "orders"};
  options.on_session_expired = [](const absl::Status&) {};
  Make(Token{"at-0", "rt-0", clock_->Now() + absl::Seconds(120), ""}, options);
  const std::string kExpiresIn = "authrefresh.token.expires_in{credential=orders}";
  EXPECT_EQ(metrics->observe(kExpiresIn), 120.0);
  clock_->Advance(absl::Seconds(90));  // inside the 30 s margin: proactive
  EXPECT_TRUE(Send(core().Current()));
  EXPECT_EQ(metrics->observe(kExpiresIn), 30.0);
  clock_->Advance(absl::Milliseconds(40));
  refresher_->Complete(Bearer("at-1", "rt-1", 3600));
  // expires_in counts from when the refresh was sent, 40 ms ago.
  EXPECT_THAT(metrics->observe(kExpiresIn), ::testing::Optional(::testing::DoubleNear(3599.96, 1e-9)));
  // A rejection: three calls wait; a transient failure, then a success.
  Results r;
  for (int i = 0; i < 3; ++i) r.Take(Await(2, absl::InfiniteFuture(), r.Callback()));
  clock_->Advance(absl::Milliseconds(250));
  refresher_->Complete(absl::UnavailableError("down"));
  clock_->AdvanceTo(clock_->NextTimer());
  clock_->Advance(absl::Milliseconds(10));
  refresher_->Complete(Bearer("at-2", "rt-2"));
  core().CountReplay();
  core().CountRejection();
  core().CountFailure(absl::StatusCode::kDeadlineExceeded);
  core().CountFailure(absl::StatusCode::kNotFound);  // not authrefresh's: not counted
  // The session ends (past loop protection's interval).
  clock_->Advance(absl::Seconds(5));
  r.Take(Await(3, absl::InfiniteFuture(), r.Callback()));
  refresher_->Complete(absl::UnauthenticatedError("invalid_grant"));

  const auto refreshes = [&](const char* outcome, const char* reason) {
    return metrics->count(absl::StrCat("authrefresh.refresh.count{credential=orders,outcome=",
                                       outcome, ",reason=", reason, "}"));
  };
  EXPECT_EQ(refreshes("success", "proactive"), 1u);
  EXPECT_EQ(refreshes("success", "demand"), 1u);
  EXPECT_EQ(refreshes("failure", "demand"), 1u);
  EXPECT_EQ(refreshes("session_expired", "demand"), 1u);
  EXPECT_EQ(refreshes("failure", "proactive") + refreshes("client_rejected", "demand"), 0u);
  EXPECT_THAT(metrics->recorded("authrefresh.refresh.duration{credential=orders,outcome=success}"),
              ::testing::ElementsAre(0.04, 0.01));
  EXPECT_THAT(metrics->recorded("authrefresh.refresh.duration{credential=orders,outcome=failure}"),
              ::testing::ElementsAre(0.25, 0.0));
  EXPECT_EQ(metrics->count("authrefresh.call.waited{credential=orders}"), 4u);
  EXPECT_EQ(manager_->Stats().calls_waited, 4u);
  EXPECT_EQ(metrics->count("authrefresh.call.replayed{credential=orders}"), 1u);
  EXPECT_EQ(metrics->count("authrefresh.call.rejected{credential=orders}"), 1u);
  EXPECT_EQ(metrics->count("authrefresh.call.failed{credential=orders,code=DEADLINE_EXCEEDED}"),
            1u);
  for (const std::string& made : metrics->made()) {
    EXPECT_THAT(made, ::testing::StartsWith("authrefresh.")) << made;
    EXPECT_THAT(made, Not(HasSubstr("at-"))) << made;
  }
  manager_->SetToken(Valid("at-9", "rt-9"));
  EXPECT_EQ(metrics->observe(kExpiresIn), std::nullopt);  // no expiry
  manager_.reset();
  EXPECT_FALSE(metrics->gauge_registered(kExpiresIn));
}

// Records saves; fails them on demand; notes how many waiters were already
// released when each save happened.
class RecordingStore final : public TokenStore {
 public:
  explicit RecordingStore(std::function<int()> released) : released_(released) {}
  absl::StatusOr<std::optional<Token>> Load() override { return loaded; }
  absl::Status Save(const Token& t) override {
    saved.push_back(t);
    released_at_save.push_back(released_());
    return fail ? absl::UnavailableError("disk full") : absl::OkStatus();
  }
  std::optional<Token> loaded;
  bool fail = false;
  std::vector<Token> saved;
  std::vector<int> released_at_save;

 private:
  std::function<int()> released_;
};

TEST_F(CoordinatorTest, StoredTokenIsLoadedAndEveryNewTokenSavedBeforeRelease) {
  Results r;
  auto store = std::make_shared<RecordingStore>([&] { return r.size(); });
  store->loaded = Valid("at-stored", "rt-stored");
  TokenManagerOptions options;
  options.store = store;
  Make(Valid("at-baked-in", "rt-baked-in"), options);
  EXPECT_EQ(core().Current().authorization, "Bearer at-stored");

  for (int i = 0; i < 3; ++i) {
    r.Take(Await(1, absl::InfiniteFuture(), r.Callback()));
  }
  refresher_->Complete(Bearer("at-1", "rt-1"));
  ASSERT_EQ(store->saved.size(), 1u);
  EXPECT_EQ(store->saved[0].refresh_token, "rt-1");
  EXPECT_EQ(store->released_at_save[0], 0);  // saved before any release
  EXPECT_EQ(r.size(), 3);
  manager_->SetToken(Valid("at-login", "rt-login"));
  ASSERT_EQ(store->saved.size(), 2u);
  EXPECT_EQ(store->saved[1].refresh_token, "rt-login");
}

TEST_F(CoordinatorTest, FailedSaveIsReportedAndTheNewTokenStillUsed) {
  Results r;
  auto store = std::make_shared<RecordingStore>([&] { return r.size(); });
  store->fail = true;
  std::vector<absl::Status> errors;
  TokenManagerOptions options;
  options.store = store;
  options.on_store_error = [&](const absl::Status& s) { errors.push_back(s); };
  Make(Valid(), options);
  r.Take(Await(1, absl::InfiniteFuture(), r.Callback()));
  refresher_->Complete(Bearer("at-1", "rt-1"));
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_THAT(errors[0], StatusIs(absl::StatusCode::kUnavailable, HasSubstr("disk full")));
  EXPECT_EQ(manager_->CurrentToken().refresh_token, "rt-1");  // not lost
  ASSERT_EQ(r.size(), 1);
  EXPECT_THAT(r.all()[0], IsOk());
}

TEST_F(CoordinatorTest, RetriesFollowTheSeededJitteredScheduleExactly) {
  TokenManagerOptions options;
  options.max_refresh_attempts = 5;
  options.jitter_seed = 42;
  Make(Valid(), options);
  // Make() zeroes the jitter; the schedule under test uses 20%.
  manager_.reset();
  options.backoff_jitter = 0.2;
  options.clock = clock_;
  options.on_session_expired = [](const absl::Status&) {};
  manager_ = TokenManager::Create(Valid(), std::make_unique<ManualRefresher>(refresher_),
                                  options);
  internal::Backoff expected(options);  // the same seed: the same schedule
  Results r;
  r.Take(Await(1, absl::InfiniteFuture(), r.Callback()));
  for (int failure = 1; failure <= 4; ++failure) {
    const absl::Time failed_at = clock_->Now();
    refresher_->Complete(absl::UnavailableError("down"));
    const absl::Duration delay = clock_->NextTimer() - failed_at;
    EXPECT_EQ(delay, expected.DelayAfter(failure)) << "failure " << failure;
    const absl::Duration base = absl::Seconds(std::pow(1.6, failure - 1));
    EXPECT_GE(delay, base * 0.8);
    EXPECT_LE(delay, base * 1.2);
    clock_->AdvanceTo(clock_->NextTimer());
  }
  EXPECT_EQ(refresher_->calls(), 5);
}

TEST(Fingerprint, IsShortStableAndNotAPrefix) {
  const std::string secret = "eyJhbGciOiJSUzI1NiJ9.payload.signature";
  const std::string fp = TokenFingerprint(secret);
  EXPECT_EQ(fp, TokenFingerprint(secret));
  EXPECT_EQ(fp.size(), std::string("sha256:").size() + 12);
  EXPECT_THAT(fp, ::testing::StartsWith("sha256:"));
  EXPECT_THAT(fp, Not(HasSubstr(secret.substr(0, 4))));
  EXPECT_NE(fp, TokenFingerprint(secret + "x"));
  EXPECT_EQ(TokenFingerprint(""), "none");
}

}  // namespace
}  // namespace authrefresh
