// The cross-process protocol of shared_token.h (internal/shared_protocol),
// run directly: a synchronous grant, an in-memory backend, and a fake clock
// that drives every wait (the lease held by another replica, max_wait, the
// retries of a failing write), so no test sleeps or waits in real time.

#include "interceptor/internal/shared_protocol.h"

#include <atomic>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "interceptor/internal/failure_part.h"
#include "gtest/gtest.h"
#include "tests/testing/fake_clock.h"
#include "tests/testing/recording_metrics.h"
#include "tests/testing/shared_fakes.h"
#include "tests/testing/status_matchers.h"

namespace authrefresh {
namespace {

using internal::SharedProtocol;
using ::testing::HasSubstr;
using testing::FakeClock;
using testing::FakeSharedBackend;
using testing::IsOk;
using testing::RotatingTokenService;
using testing::RunAdvancingClock;
using testing::StatusIs;

class SharedProtocolTest : public ::testing::Test {
 protected:
  SharedProtocolTest() { service_->SetClock(clock_); }

  // A protocol for this replica; its grant is the rotating service's,
  // called synchronously, and records what it was asked.
  std::unique_ptr<SharedProtocol> Make(SharedTokenRefresherOptions o = {},
                                       bool needs_refresh_token = true) {
    if (o.owner_id.empty()) o.owner_id = "me";
    return std::make_unique<SharedProtocol>(
        backend_, o, clock_, needs_refresh_token,
        [this, needs_refresh_token](const GrantRequest& r) -> absl::StatusOr<Token> {
          granted_at_.push_back(r.requested_at);
          presented_.push_back(r.refresh_token);
          if (next_grant_) {
            absl::StatusOr<Token> scripted = *next_grant_;
            next_grant_.reset();
            return scripted;
          }
          return service_->Grant(r.refresh_token, needs_refresh_token);
        },
        [] { return false; });
  }

  std::shared_ptr<FakeClock> clock_ = std::make_shared<FakeClock>();
  std::shared_ptr<FakeSharedBackend> backend_ = std::make_shared<FakeSharedBackend>(clock_);
  std::shared_ptr<RotatingTokenService> service_ = std::make_shared<RotatingTokenService>();
  std::vector<absl::Time> granted_at_;
  std::vector<std::string> presented_;
  std::optional<absl::StatusOr<Token>> next_grant_;
};

// Another replica's token is adopted as it is: its expiry and issue time to
// the millisecond and beyond, so that this replica refreshes when it does.
TEST_F(SharedProtocolTest, AnotherReplicasTokenIsAdoptedWithItsExactTimes) {
  const Token other{"at-other", "rt-other", clock_->Now() + absl::Milliseconds(1'923),
                    "read", clock_->Now() - absl::Milliseconds(77)};
  ASSERT_EQ(backend_->CompareAndSwap(0, SharedRecord{1, other}).value_or(false), true);
  absl::StatusOr<Token> t = Make()->Serve(GrantRequest{"rt-0", "at-0"});
  ASSERT_THAT(t.status(), IsOk());
  EXPECT_EQ(t->access_token, "at-other");
  EXPECT_EQ(t->expires_at, other.expires_at);
  EXPECT_EQ(t->issued_at, other.issued_at);
  EXPECT_EQ(service_->grants(), 0);
  EXPECT_TRUE(presented_.empty());
}

// The record holds the token this replica wants replaced: it takes the
// lease, grants with the record's refresh token, writes generation + 1.
TEST_F(SharedProtocolTest, TheTokenToReplaceIsGrantedUnderTheLeaseAndWritten) {
  ASSERT_EQ(backend_->CompareAndSwap(0, SharedRecord{1, Token{"at-0", "rt-0"}}).value_or(false),
            true);
  absl::StatusOr<Token> t = Make()->Serve(GrantRequest{"rt-stale", "at-0"});
  ASSERT_THAT(t.status(), IsOk());
  EXPECT_EQ(t->access_token, "at-1");
  EXPECT_THAT(presented_, ::testing::ElementsAre("rt-0"));  // the record's, not the stale one
  EXPECT_EQ(backend_->record().generation, 2u);
  EXPECT_EQ(backend_->record().token.access_token, "at-1");
  EXPECT_EQ(backend_->record().token.issued_at, clock_->Now());
  EXPECT_EQ(service_->reuse(), 0);
}

// A holder that never finishes (it died): this replica waits in wait_step
// pieces of the clock's time until the lease runs out, then grants; the
// grant's requested_at is when it really started, not when the wait began.
TEST_F(SharedProtocolTest, ADeadHoldersLeaseRunsOutOnTheClockAndTheWaiterGrants) {
  SharedTokenRefresherOptions o;
  o.wait_step = absl::Seconds(1);
  const absl::Time start = clock_->Now();
  backend_->HoldLease("dead", start + absl::Seconds(30));
  std::unique_ptr<SharedProtocol> p = Make(o);
  absl::StatusOr<Token> t;
  const absl::Time end =
      RunAdvancingClock(*clock_, [&] { t = p->Serve(GrantRequest{"rt-0", "at-0"}); });
  ASSERT_THAT(t.status(), IsOk());
  EXPECT_EQ(end - start, absl::Seconds(30));
  ASSERT_EQ(granted_at_.size(), 1u);
  EXPECT_EQ(granted_at_[0], start + absl::Seconds(30));
  EXPECT_EQ(t->issued_at, start + absl::Seconds(30));
  EXPECT_EQ(service_->grants(), 1);
}

TEST_F(SharedProtocolTest, ALeaseThatIsNeverFreedEndsTheWaitAtMaxWait) {
  SharedTokenRefresherOptions o;
  o.max_wait = absl::Seconds(75);
  const absl::Time start = clock_->Now();
  backend_->HoldLease("stuck", absl::InfiniteFuture());
  std::unique_ptr<SharedProtocol> p = Make(o);
  absl::StatusOr<Token> t;
  const absl::Time end =
      RunAdvancingClock(*clock_, [&] { t = p->Serve(GrantRequest{"rt-0", "at-0"}); });
  EXPECT_THAT(t.status(), StatusIs(absl::StatusCode::kUnavailable,
                                   HasSubstr("waited 1m15s for another replica's refresh")));
  EXPECT_EQ(end - start, absl::Seconds(75));
  EXPECT_EQ(service_->grants(), 0);
}

// The grant succeeded but the record cannot be written: the write is tried
// again, with growing pauses on the clock, for half the lease; then the
// token is used here (never lost) and written once the backend takes it.
TEST_F(SharedProtocolTest, AWriteThatFailsIsRetriedForHalfTheLeaseThenKeptAndWrittenLater) {
  SharedTokenRefresherOptions o;
  o.lease_ttl = absl::Seconds(30);
  std::unique_ptr<SharedProtocol> p = Make(o);
  backend_->SetWritesFail(true);
  const absl::Time start = clock_->Now();
  absl::StatusOr<Token> t;
  const absl::Time end =
      RunAdvancingClock(*clock_, [&] { t = p->Serve(GrantRequest{"rt-0", "at-0"}); });
  ASSERT_THAT(t.status(), IsOk());
  EXPECT_EQ(t->access_token, "at-1");
  EXPECT_LE(end - start, absl::Seconds(15));
  EXPECT_GE(end - start, absl::Seconds(13));  // pauses 20 ms doubling to 1 s
  EXPECT_GE(backend_->failed_writes(), 10);
  EXPECT_TRUE(p->HasPending());
  EXPECT_EQ(backend_->record().generation, 0u);
  backend_->SetWritesFail(false);
  EXPECT_TRUE(p->FlushPendingWrite());
  EXPECT_FALSE(p->HasPending());
  EXPECT_EQ(backend_->record().generation, 1u);
  EXPECT_EQ(backend_->record().token.refresh_token, "rt-1");
}

TEST_F(SharedProtocolTest, AMalformedTokenIsNeverSharedAndTheLeaseIsReleased) {
  next_grant_ = Token{"at bad", "rt-1"};
  absl::StatusOr<Token> t = Make()->Serve(GrantRequest{"rt-0", "at-0"});
  EXPECT_THAT(t.status(), StatusIs(absl::StatusCode::kInternal, HasSubstr("malformed")));
  EXPECT_EQ(backend_->record().generation, 0u);
  EXPECT_EQ(backend_->writes(), 0);
  // The lease is free for the next replica.
  EXPECT_EQ(backend_->TryAcquireLease("next", absl::Seconds(30)).value_or(false), true);
}

// kWait: an outage is its own condition (the TokenManager retries within
// 100 ms while calls wait), until it has lasted max_wait; then it is a
// backend failure like any other. No grant is made without the lease.
TEST_F(SharedProtocolTest, AnUnreachableBackendIsMarkedUntilMaxWaitAndNoGrantIsMade) {
  SharedTokenRefresherOptions o;
  o.max_wait = absl::Seconds(75);
  std::unique_ptr<SharedProtocol> p = Make(o);
  backend_->SetUnreachable(true);
  absl::StatusOr<Token> t = p->Serve(GrantRequest{"rt-0", "at-0"});
  EXPECT_THAT(t.status(), StatusIs(absl::StatusCode::kUnavailable,
                                   HasSubstr("shared token backend unreachable: ")));
  EXPECT_EQ(internal::FailurePartOf(t.status()),
            internal::FailurePart::kSharedBackendUnreachable);
  // The TokenManager tries again and again; 74 s in, still an outage.
  for (int second = 2; second <= 74; second += 2) {
    clock_->Advance(absl::Seconds(2));
    t = p->Serve(GrantRequest{"rt-0", "at-0"});
    ASSERT_EQ(internal::FailurePartOf(t.status()),
              internal::FailurePart::kSharedBackendUnreachable)
        << second;
  }
  clock_->Advance(absl::Seconds(1));
  t = p->Serve(GrantRequest{"rt-0", "at-0"});
  EXPECT_THAT(t.status(),
              StatusIs(absl::StatusCode::kUnavailable,
                       HasSubstr("shared token backend: UNAVAILABLE: unreachable for 1m15s "
                                 "(more than max_wait)")));
  EXPECT_EQ(internal::FailurePartOf(t.status()), internal::FailurePart::kSharedBackend);
  EXPECT_EQ(service_->grants(), 0);
  // Back: the next refresh grants, and a later outage is counted afresh.
  backend_->SetUnreachable(false);
  ASSERT_THAT(p->Serve(GrantRequest{"rt-0", "at-0"}).status(), IsOk());
  EXPECT_EQ(service_->grants(), 1);
  backend_->SetUnreachable(true);
  EXPECT_EQ(internal::FailurePartOf(p->Serve(GrantRequest{"rt-1", "at-1"}).status()),
            internal::FailurePart::kSharedBackendUnreachable);
}

// The outage's clock: a Read that answers while taking the lease does not
// end the outage (only a Serve that ends otherwise does), and unreachable
// attempts further apart than kOutageGap are two outages, so an outage that
// ended unseen (SetToken, a backoff) is not added to the next one.
TEST_F(SharedProtocolTest, TheOutagesClockRunsAcrossAttemptsAndRestartsAfterAGap) {
  SharedTokenRefresherOptions o;
  o.max_wait = absl::Seconds(75);
  std::unique_ptr<SharedProtocol> p = Make(o);
  backend_->SetUnreachable(true);
  EXPECT_EQ(internal::FailurePartOf(p->Serve(GrantRequest{"rt-0", "at-0"}).status()),
            internal::FailurePart::kSharedBackendUnreachable);
  // Reads answer, but the lease cannot be taken: still the same outage.
  backend_->SetUnreachable(false);
  backend_->SetLeaseUnreachable(true);
  for (int i = 0; i < 15; ++i) {
    clock_->Advance(absl::Seconds(5));
    absl::Status s = p->Serve(GrantRequest{"rt-0", "at-0"}).status();
    if (i < 14) {
      ASSERT_EQ(internal::FailurePartOf(s), internal::FailurePart::kSharedBackendUnreachable)
          << i;
    } else {  // 75 s after the first
      EXPECT_THAT(s, StatusIs(absl::StatusCode::kUnavailable, HasSubstr("more than max_wait")));
    }
  }
  // An attempt more than kOutageGap after the last one begins a new outage.
  clock_->Advance(SharedProtocol::kOutageGap + absl::Seconds(1));
  EXPECT_EQ(internal::FailurePartOf(p->Serve(GrantRequest{"rt-0", "at-0"}).status()),
            internal::FailurePart::kSharedBackendUnreachable);
  EXPECT_EQ(service_->grants(), 0);
}

TEST_F(SharedProtocolTest, RefreshLocallyGrantsDuringAnOutageAndWritesBackAfterIt) {
  SharedTokenRefresherOptions o;
  o.when_unavailable = SharedTokenRefresherOptions::WhenUnavailable::kRefreshLocally;
  std::unique_ptr<SharedProtocol> p = Make(o, /*needs_refresh_token=*/false);
  backend_->SetUnreachable(true);
  absl::StatusOr<Token> t = p->Serve(GrantRequest{"", "at-0"});
  ASSERT_THAT(t.status(), IsOk());
  EXPECT_TRUE(p->HasPending());
  EXPECT_FALSE(p->FlushPendingWrite());  // still down
  backend_->SetUnreachable(false);
  EXPECT_TRUE(p->FlushPendingWrite());
  EXPECT_EQ(backend_->record().token.access_token, t->access_token);
}

// authrefresh.shared.*: each step of the protocol is counted once, with the
// credential attribute, and a lease wait's duration is the clock's.
TEST_F(SharedProtocolTest, MetricsCountLeaseWaitsAdoptionsGrantsAndBackendErrors) {
  auto metrics = std::make_shared<testing::RecordingMetrics>();
  SharedTokenRefresherOptions o;
  o.metrics = {metrics, "orders"};
  o.max_wait = absl::Seconds(75);
  std::unique_ptr<SharedProtocol> p = Make(o);
  const std::string kAdopted = "authrefresh.shared.adopted{credential=orders}";
  const std::string kGranted = "authrefresh.shared.granted{credential=orders,outcome=success}";
  const std::string kGrantFailed =
      "authrefresh.shared.granted{credential=orders,outcome=failure}";
  const std::string kWait = "authrefresh.shared.lease_wait.duration{credential=orders}";
  const std::string kUnreachable =
      "authrefresh.shared.backend_error{credential=orders,kind=unreachable}";
  const std::string kRefused = "authrefresh.shared.backend_error{credential=orders,kind=refused}";

  // A grant under the lease, no wait.
  ASSERT_THAT(p->Serve(GrantRequest{"rt-0", "at-0"}).status(), IsOk());
  EXPECT_EQ(metrics->count(kGranted), 1u);
  EXPECT_TRUE(metrics->recorded(kWait).empty());
  // Another replica wrote at-1: a replica that wants at-0 replaced adopts
  // it at once, without waiting for the lease another holds.
  const absl::Time start = clock_->Now();
  backend_->HoldLease("other", start + absl::Seconds(12));
  absl::StatusOr<Token> t;
  RunAdvancingClock(*clock_, [&] {
    t = Make(o)->Serve(GrantRequest{"rt-1", "at-0"});  // wants at-0 replaced: at-1 is adoptable
  });
  ASSERT_THAT(t.status(), IsOk());
  EXPECT_EQ(metrics->count(kAdopted), 1u);
  EXPECT_TRUE(metrics->recorded(kWait).empty());  // adopted at once: at-1 is in the record
  backend_->HoldLease("other", clock_->Now() + absl::Seconds(12));
  RunAdvancingClock(*clock_, [&] { t = p->Serve(GrantRequest{"rt-1", "at-1"}); });
  ASSERT_THAT(t.status(), IsOk());
  EXPECT_THAT(metrics->recorded(kWait), ::testing::ElementsAre(12.0));
  EXPECT_EQ(metrics->count(kGranted), 2u);
  // A failing grant, an outage and a refusal.
  next_grant_ = absl::UnavailableError("token service down");
  EXPECT_FALSE(p->Serve(GrantRequest{"rt-2", "at-2"}).ok());
  EXPECT_EQ(metrics->count(kGrantFailed), 1u);
  backend_->SetUnreachable(true);
  EXPECT_FALSE(p->Serve(GrantRequest{"rt-2", "at-2"}).ok());
  EXPECT_FALSE(p->Serve(GrantRequest{"rt-2", "at-2"}).ok());
  EXPECT_EQ(metrics->count(kUnreachable), 2u);
  EXPECT_EQ(metrics->count(kRefused), 0u);
  backend_->SetUnreachable(false);
  backend_->SetError(absl::PermissionDeniedError("WRONGPASS"));
  EXPECT_FALSE(p->Serve(GrantRequest{"rt-2", "at-2"}).ok());
  EXPECT_EQ(metrics->count(kRefused), 1u);
  EXPECT_EQ(metrics->count(kUnreachable), 2u);
  EXPECT_EQ(metrics->count(kAdopted), 1u);
  EXPECT_EQ(metrics->count(kGranted), 2u);
}

TEST(SharedBackendError, AMisconfigurationIsTerminalAndAnOutageTransient) {
  EXPECT_EQ(internal::SharedBackendError(absl::PermissionDeniedError("AUTH")).code(),
            absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(internal::SharedBackendError(absl::FailedPreconditionError("key")).code(),
            absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(internal::SharedBackendError(absl::DataLossError("bad file")).code(),
            absl::StatusCode::kUnavailable);
  EXPECT_THAT(internal::SharedBackendError(absl::UnavailableError("down")).message(),
              HasSubstr("shared token backend: UNAVAILABLE: down"));
  // Marked as the backend's, so the TokenManager names the backend.
  EXPECT_EQ(internal::FailurePartOf(internal::SharedBackendError(absl::PermissionDeniedError("x"))),
            internal::FailurePart::kSharedBackend);
}

}  // namespace
}  // namespace authrefresh
