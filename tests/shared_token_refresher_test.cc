// The cross-replica protocol of shared_token.h, with replicas as
// TokenManagers in one process sharing a backend (in memory, or the file-lock
// backend on one file), granting against a token service with rotating
// refresh tokens and reuse detection. Ordering is controlled with the
// service's gate and the backend's count of waiting replicas, never sleeps.
// Real processes and a real Redis: tests/shared_redis_test.cc.

#include "interceptor/shared_token.h"

#include <signal.h>
#include <sys/file.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <fcntl.h>
#include <atomic>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/notification.h"
#include "absl/synchronization/mutex.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "interceptor/internal/refresh_coordinator.h"
#include "interceptor/internal/token_manager_access.h"
#include "interceptor/token_event.h"
#include "interceptor/token_manager.h"
#include "tests/testing/manual_refresher.h"
#include "tests/testing/shared_fakes.h"
#include "tests/testing/status_matchers.h"

namespace authrefresh {
namespace {

using internal::RefreshCoordinator;
using ::testing::AllOf;
using ::testing::HasSubstr;
using ::testing::Not;
using testing::FakeSharedBackend;
using testing::IsOk;
using testing::RotatingTokenService;
using testing::StatusIs;

// What one wait for a token ended with.
class Outcome {
 public:
  RefreshCoordinator::WaitCallback Callback() {
    return [inner = inner_](absl::StatusOr<RefreshCoordinator::Snapshot> r) {
      absl::MutexLock lock(&inner->mu);
      inner->result = std::move(r);
    };
  }
  void Take(const RefreshCoordinator::Wait& w) {
    if (!w.ready) return;
    absl::MutexLock lock(&inner_->mu);
    inner_->result = *w.ready;
  }
  absl::StatusOr<std::string> Get() {
    absl::MutexLock lock(&inner_->mu);
    auto done = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(inner_->mu) {
      return inner_->result.has_value();
    };
    inner_->mu.Await(absl::Condition(&done));
    if (!inner_->result->ok()) return inner_->result->status();
    return (**inner_->result)->token.access_token;
  }

 private:
  struct Inner {
    absl::Mutex mu;
    std::optional<absl::StatusOr<RefreshCoordinator::Snapshot>> result ABSL_GUARDED_BY(mu);
  };
  std::shared_ptr<Inner> inner_ = std::make_shared<Inner>();
};

struct Replica {
  std::shared_ptr<TokenManager> manager;

  // Asks for a token newer than the current one (the server rejected it).
  Outcome NeedNewToken() {
    Outcome o;
    RefreshCoordinator::WaitRequest request;
    request.rejected_generation = internal::TokenManagerAccess::Coordinator(*manager)->Current().generation;
    o.Take(internal::TokenManagerAccess::Coordinator(*manager)->Await(request, o.Callback()));
    return o;
  }
  // Asks for any sendable token (a first call).
  Outcome FirstCall() {
    Outcome o;
    o.Take(internal::TokenManagerAccess::Coordinator(*manager)->Await({}, o.Callback()));
    return o;
  }
};

Replica MakeReplica(std::shared_ptr<RotatingTokenService> service, bool refresh_tokens,
                    std::shared_ptr<SharedTokenBackend> backend, Token initial,
                    SharedTokenRefresherOptions shared = {}, TokenManagerOptions m = {}) {
  auto refresher = MakeSharedTokenRefresher(
      std::make_unique<RotatingTokenService::Refresher>(std::move(service), refresh_tokens),
      std::move(backend), std::move(shared));
  EXPECT_THAT(refresher.status(), IsOk());
  m.min_refresh_interval = absl::ZeroDuration();  // rounds follow each other at once
  return Replica{TokenManager::Create(std::move(initial), *std::move(refresher), std::move(m))};
}

std::string TempPath(const std::string& name) {
  const char* dir = getenv("TEST_TMPDIR");
  const std::string path = absl::StrCat(dir ? dir : "/tmp", "/", name, "-", getpid());
  unlink(path.c_str());
  unlink((path + ".lock").c_str());
  return path;
}

// Each round every replica's token is rejected at once (a revocation); the
// grant is held until all the others wait for it. Over three rounds: one
// grant per round, every replica gets the round's token, and no rotated
// refresh token is ever presented again.
void ThreeRoundsOfFourReplicas(const std::function<std::shared_ptr<SharedTokenBackend>()>& backend,
                               FakeSharedBackend* fake) {
  auto service = std::make_shared<RotatingTokenService>();
  std::vector<Replica> replicas;
  for (int i = 0; i < 4; ++i) {
    replicas.push_back(MakeReplica(service, true, backend(), Token{"at-0", "rt-0"}));
  }
  for (int round = 1; round <= 3; ++round) {
    SCOPED_TRACE(absl::StrCat("round ", round));
    service->Close();
    std::vector<Outcome> outcomes;
    outcomes.push_back(replicas[0].NeedNewToken());
    service->AwaitInGrant(1);  // replica 0 holds the lease and is granting
    for (int i = 1; i < 4; ++i) outcomes.push_back(replicas[i].NeedNewToken());
    if (fake != nullptr) fake->AwaitWaiting(3);  // the others wait for it
    service->Open();
    for (Outcome& o : outcomes) {
      absl::StatusOr<std::string> token = o.Get();
      ASSERT_THAT(token.status(), IsOk());
      EXPECT_EQ(*token, absl::StrCat("at-", round));
    }
    EXPECT_EQ(service->grants(), round);
    // Replica 0 was the holder each round; rotate who goes first.
    std::rotate(replicas.begin(), replicas.begin() + 1, replicas.end());
  }
  EXPECT_EQ(service->reuse(), 0);
  EXPECT_EQ(service->refused(), 0);
  for (Replica& r : replicas) {
    EXPECT_EQ(r.manager->CurrentToken().refresh_token, "rt-3");
    EXPECT_EQ(r.manager->Stats().refreshes_failed, 0u);
  }
}

TEST(SharedToken, FourReplicasMakeOneGrantPerRoundAndNeverReuseARefreshToken) {
  auto fake = std::make_shared<FakeSharedBackend>();
  ThreeRoundsOfFourReplicas([&] { return fake; }, fake.get());
  EXPECT_EQ(fake->record().generation, 3u);
  EXPECT_EQ(fake->record().token.access_token, "at-3");
  EXPECT_EQ(fake->record().token.refresh_token, "rt-3");
  EXPECT_EQ(fake->writes(), 3);
}

TEST(SharedToken, FileLockBackendGivesTheSameGuaranteesOnOneHost) {
  const std::string path = TempPath("shared-record");
  // One backend object per replica, as separate processes would have.
  ThreeRoundsOfFourReplicas([&] { return MakeFileLockBackend(path); }, nullptr);
  absl::StatusOr<SharedRecord> record = MakeFileLockBackend(path)->Read();
  ASSERT_THAT(record.status(), IsOk());
  EXPECT_EQ(record->generation, 3u);
  EXPECT_EQ(record->token.refresh_token, "rt-3");
}

TEST(SharedToken, ReplicasStartingWithNoTokenMakeOneGrant) {
  auto fake = std::make_shared<FakeSharedBackend>();
  auto service = std::make_shared<RotatingTokenService>();
  std::vector<Replica> replicas;
  for (int i = 0; i < 8; ++i) replicas.push_back(MakeReplica(service, false, fake, Token{}));
  service->Close();
  std::vector<Outcome> outcomes;
  outcomes.push_back(replicas[0].FirstCall());
  service->AwaitInGrant(1);
  for (int i = 1; i < 8; ++i) outcomes.push_back(replicas[i].FirstCall());
  fake->AwaitWaiting(7);
  service->Open();
  for (Outcome& o : outcomes) EXPECT_EQ(o.Get().value_or("failed"), "at-1");
  EXPECT_EQ(service->grants(), 1);
  // A replica started later adopts the record: no grant.
  Replica late = MakeReplica(service, false, fake, Token{});
  EXPECT_EQ(late.FirstCall().Get().value_or("failed"), "at-1");
  EXPECT_EQ(service->grants(), 1);
}

// Between this replica's first read and its lease, another replica rotated
// the refresh token and wrote the record: the re-read after taking the lease
// sees it, and this replica adopts instead of presenting rt-0 again (what a
// lock without the re-read does: Duende.AccessTokenManagement#1286).
TEST(SharedToken, TheRecordIsReadAgainAfterTheLeaseIsTaken) {
  auto fake = std::make_shared<FakeSharedBackend>();
  auto service = std::make_shared<RotatingTokenService>();
  Replica r = MakeReplica(service, true, fake, Token{"at-0", "rt-0"});
  fake->BeforeNextLease([&] {
    absl::StatusOr<Token> other = service->Grant("rt-0", true);
    ASSERT_THAT(other.status(), IsOk());
    SharedRecord record{1, *other};
    ASSERT_EQ(fake->CompareAndSwap(0, record).value_or(false), true);
  });
  EXPECT_EQ(r.NeedNewToken().Get().value_or("failed"), "at-1");
  EXPECT_EQ(service->grants(), 1);  // the other replica's only
  EXPECT_EQ(service->reuse(), 0);
  EXPECT_EQ(r.manager->CurrentToken().refresh_token, "rt-1");
}

// Through a TokenManager: the token another replica wrote is adopted with
// its expiry and issue time to the millisecond. (Rebuilt into a wire
// response, expires_in would round it down to whole seconds and the adopter
// would refresh up to a second early: more grants than one process alone.)
TEST(SharedToken, AnAdoptedTokenKeepsItsExactExpiry) {
  auto fake = std::make_shared<FakeSharedBackend>();
  auto service = std::make_shared<RotatingTokenService>();
  Replica r = MakeReplica(service, true, fake, Token{"at-0", "rt-0"});
  const absl::Time now = absl::Now();
  const Token other{"at-other", "rt-other", now + absl::Milliseconds(1'923), "read",
                    now - absl::Milliseconds(77)};
  ASSERT_EQ(fake->CompareAndSwap(0, SharedRecord{1, other}).value_or(false), true);
  EXPECT_EQ(r.NeedNewToken().Get().value_or("failed"), "at-other");
  const Token adopted = r.manager->CurrentToken();
  EXPECT_EQ(adopted.expires_at, other.expires_at);
  EXPECT_EQ(adopted.issued_at, other.issued_at);
  EXPECT_EQ(adopted.refresh_token, "rt-other");
  EXPECT_EQ(service->grants(), 0);
}

TEST(SharedToken, AHolderThatDiedIsReplacedWhenItsLeaseRunsOut) {
  auto fake = std::make_shared<FakeSharedBackend>();
  auto service = std::make_shared<RotatingTokenService>();
  SharedTokenRefresherOptions shared;
  shared.wait_step = absl::Milliseconds(20);
  // A replica took the lease and died before writing.
  const absl::Time lease_end = absl::Now() + absl::Milliseconds(300);
  fake->HoldLease("dead-replica", lease_end);
  Replica r = MakeReplica(service, true, fake, Token{"at-0", "rt-0"}, shared);
  Outcome o = r.NeedNewToken();
  fake->AwaitWaiting(1);
  EXPECT_EQ(service->grants(), 0);
  EXPECT_EQ(o.Get().value_or("failed"), "at-1");
  EXPECT_GE(absl::Now(), lease_end);  // not before the dead holder's lease ended
  EXPECT_EQ(service->grants(), 1);
  EXPECT_EQ(fake->record().generation, 1u);
}

// A holder whose lease ran out while it was paused finishes its grant later:
// the compare-and-set on the generation refuses its write, and the newer
// record stays.
TEST(SharedToken, AStaleHolderCannotOverwriteANewerRecord) {
  auto fake = std::make_shared<FakeSharedBackend>();
  auto slow = std::make_shared<RotatingTokenService>("A-");
  auto fast = std::make_shared<RotatingTokenService>("B-");
  SharedTokenRefresherOptions shared;
  shared.lease_ttl = absl::Milliseconds(100);
  shared.wait_step = absl::Milliseconds(20);
  shared.max_wait = absl::Seconds(30);
  Replica a = MakeReplica(slow, false, fake, Token{}, shared);
  Replica b = MakeReplica(fast, false, fake, Token{}, shared);
  slow->Close();
  Outcome from_a = a.FirstCall();
  slow->AwaitInGrant(1);  // A holds the lease, paused inside its grant
  Outcome from_b = b.FirstCall();
  EXPECT_EQ(from_b.Get().value_or("failed"), "B-at-1");  // after A's lease ran out
  EXPECT_EQ(fake->record().token.access_token, "B-at-1");
  slow->Open();
  EXPECT_EQ(from_a.Get().value_or("failed"), "A-at-1");  // its own, still valid token
  EXPECT_EQ(fake->refused_writes(), 1);
  EXPECT_EQ(fake->record().generation, 1u);
  EXPECT_EQ(fake->record().token.access_token, "B-at-1");
}

// The grant succeeded (the refresh token is rotated) but the record cannot
// be written: the holder keeps its token and the lease, retries the write
// in the background, and the others wait for that record instead of
// granting from the older one.
TEST(SharedToken, ARecordThatCannotBeWrittenIsWrittenLaterAndNeverLost) {
  auto fake = std::make_shared<FakeSharedBackend>();
  auto service = std::make_shared<RotatingTokenService>();
  SharedTokenRefresherOptions shared;
  shared.lease_ttl = absl::Seconds(4);  // the write is retried for 2 s
  shared.wait_step = absl::Milliseconds(20);
  Replica a = MakeReplica(service, true, fake, Token{"at-0", "rt-0"}, shared);
  Replica b = MakeReplica(service, true, fake, Token{"at-0", "rt-0"}, shared);
  fake->SetWritesFail(true);
  EXPECT_EQ(a.NeedNewToken().Get().value_or("failed"), "at-1");  // used, unwritten
  EXPECT_GT(fake->failed_writes(), 1);  // retried
  EXPECT_EQ(fake->record().generation, 0u);
  Outcome from_b = b.NeedNewToken();
  fake->AwaitWaiting(1);  // b waits: a still holds the lease
  fake->SetWritesFail(false);
  EXPECT_EQ(from_b.Get().value_or("failed"), "at-1");  // adopted a's record
  EXPECT_EQ(fake->record().generation, 1u);
  EXPECT_EQ(fake->record().token.refresh_token, "rt-1");
  EXPECT_EQ(service->grants(), 1);
  EXPECT_EQ(service->reuse(), 0);
}

// A backend that lost its data (Redis restarted without persistence) while
// a replica's record was unwritten gets that record, the newest there is.
TEST(SharedToken, AnUnwrittenRecordIsWrittenOverABackendThatLostItsData) {
  auto fake = std::make_shared<FakeSharedBackend>();
  auto service = std::make_shared<RotatingTokenService>();
  SharedTokenRefresherOptions shared;
  shared.lease_ttl = absl::Milliseconds(200);
  shared.wait_step = absl::Milliseconds(20);
  Replica a = MakeReplica(service, true, fake, Token{"at-0", "rt-0"}, shared);
  EXPECT_EQ(a.NeedNewToken().Get().value_or("failed"), "at-1");
  ASSERT_EQ(fake->record().generation, 1u);
  fake->SetWritesFail(true);
  EXPECT_EQ(a.NeedNewToken().Get().value_or("failed"), "at-2");  // unwritten
  fake->Reset();  // the data is gone
  fake->SetWritesFail(false);
  fake->AwaitGeneration(1);  // written in the background
  EXPECT_EQ(fake->record().token.access_token, "at-2");
  EXPECT_EQ(fake->record().token.refresh_token, "rt-2");
}

// Destroying a replica while its grant is in flight waits for the grant and
// writes it: the token service has rotated the refresh token, and dropping
// the answer would leave the others with a dead one.
TEST(SharedToken, DestroyingAReplicaDuringItsGrantStillWritesTheRecord) {
  auto fake = std::make_shared<FakeSharedBackend>();
  auto grants = std::make_shared<testing::ManualRefresher::State>();  // answered by hand
  auto waiting = std::make_shared<absl::Notification>();
  SharedTokenRefresherOptions shared;
  shared.lease_ttl = absl::Seconds(30);
  shared.debug_log = [waiting](absl::string_view line) {
    if (absl::StartsWith(line, "destroyed during a grant")) waiting->Notify();
  };
  auto refresher = MakeSharedTokenRefresher(std::make_unique<testing::ManualRefresher>(grants),
                                            fake, shared);
  ASSERT_THAT(refresher.status(), IsOk());
  Replica a{TokenManager::Create(Token{"at-0", "rt-0"}, *std::move(refresher))};
  Outcome outcome = a.NeedNewToken();
  grants->AwaitInFlight(1);
  std::thread destroy([&] { a.manager.reset(); });
  waiting->WaitForNotification();  // the destructor waits for the grant
  grants->Complete(testing::Bearer("at-1", "rt-1"));  // the token service rotated
  destroy.join();
  EXPECT_EQ(fake->record().generation, 1u);
  EXPECT_EQ(fake->record().token.refresh_token, "rt-1");
  EXPECT_FALSE(outcome.Get().ok());  // the manager failed its waiter when destroyed
}

// kWait: while the backend cannot be reached, a call that needs a new token
// waits (no grant without the lease) and the TokenManager retries soon, with
// one event for the outage and no failed attempt counted against the token
// service; when the backend answers, the call gets the new token.
TEST(SharedToken, AnUnreachableBackendKeepsCallsWaitingWithoutAGrantUntilItIsBack) {
  auto fake = std::make_shared<FakeSharedBackend>();
  auto service = std::make_shared<RotatingTokenService>();
  auto outage_reported = std::make_shared<absl::Notification>();
  auto events = std::make_shared<std::atomic<int>>(0);
  TokenManagerOptions m;
  m.max_refresh_attempts = 1;
  m.on_event = [outage_reported, events](const TokenEvent& e) {
    if (e.kind != TokenEvent::Kind::kSharedBackendUnreachable) return;
    if (events->fetch_add(1) == 0) outage_reported->Notify();
  };
  Replica r = MakeReplica(service, true, fake, Token{"at-0", "rt-0"}, {}, m);
  fake->SetUnreachable(true);
  Outcome waiting = r.NeedNewToken();
  ASSERT_TRUE(outage_reported->WaitForNotificationWithTimeout(absl::Seconds(60)));
  EXPECT_EQ(service->grants(), 0);
  EXPECT_EQ(r.manager->CurrentToken().access_token, "at-0");  // still sent while valid
  fake->SetUnreachable(false);
  absl::StatusOr<std::string> token = waiting.Get();
  ASSERT_THAT(token.status(), IsOk());
  EXPECT_EQ(*token, "at-1");
  EXPECT_EQ(service->grants(), 1);
  EXPECT_EQ(events->load(), 1);
  const TokenManagerStats stats = r.manager->Stats();
  EXPECT_GE(stats.shared_backend_unreachable, 1u);
  EXPECT_EQ(stats.refreshes_failed, 0u);
  EXPECT_EQ(stats.refreshes_succeeded, 1u);
}

// A backend that refuses this replica (its password, say) is a
// misconfiguration: terminal, and named as the backend's, not the token
// service's.
TEST(SharedToken, ARefusingBackendEndsRefreshingNamingTheBackend) {
  auto fake = std::make_shared<FakeSharedBackend>();
  auto service = std::make_shared<RotatingTokenService>();
  fake->SetError(absl::PermissionDeniedError("Redis at 127.0.0.1:6379 refused AUTH (WRONGPASS)"));
  Replica r = MakeReplica(service, true, fake, Token{"at-0", "rt-0"});
  absl::StatusOr<std::string> token = r.NeedNewToken().Get();
  EXPECT_THAT(token.status(),
              StatusIs(absl::StatusCode::kUnauthenticated,
                       AllOf(HasSubstr("the shared token backend refused this replica"),
                             HasSubstr("refused AUTH (WRONGPASS)"),
                             Not(HasSubstr("token service")))));
  EXPECT_EQ(service->grants(), 0);
}

TEST(SharedToken, RefreshLocallyWhenUnreachableAndWriteTheTokenBackLater) {
  auto fake = std::make_shared<FakeSharedBackend>();
  auto service = std::make_shared<RotatingTokenService>();
  SharedTokenRefresherOptions shared;
  shared.when_unavailable = SharedTokenRefresherOptions::WhenUnavailable::kRefreshLocally;
  Replica r = MakeReplica(service, true, fake, Token{"at-0", "rt-0"}, shared);
  fake->SetUnreachable(true);
  EXPECT_EQ(r.NeedNewToken().Get().value_or("failed"), "at-1");
  EXPECT_EQ(service->grants(), 1);
  EXPECT_EQ(fake->writes(), 0);
  fake->SetUnreachable(false);
  // The next refresh first writes the pending record (generation 1), then
  // replaces it as usual.
  EXPECT_EQ(r.NeedNewToken().Get().value_or("failed"), "at-2");
  EXPECT_EQ(fake->writes(), 2);
  EXPECT_EQ(fake->record().generation, 2u);
  EXPECT_EQ(fake->record().token.refresh_token, "rt-2");
  EXPECT_EQ(service->reuse(), 0);
}

// kRefreshLocally with a grant that needs no refresh token (client
// credentials): three replicas grant on their own during an outage and
// their calls succeed; once the backend is back, one of their records is
// written, the others are dropped, and the other two adopt it at their next
// refresh: one record, one token, no further grant.
TEST(SharedToken, RefreshLocallyReplicasConvergeOnOneRecordAfterTheOutage) {
  auto fake = std::make_shared<FakeSharedBackend>();
  auto service = std::make_shared<RotatingTokenService>();
  SharedTokenRefresherOptions shared;
  shared.when_unavailable = SharedTokenRefresherOptions::WhenUnavailable::kRefreshLocally;
  // No background write of a pending record during the test: each is
  // written by its replica's next refresh, in the order the test makes them.
  shared.wait_step = absl::Hours(1);
  shared.lease_ttl = absl::Seconds(30);
  shared.max_wait = absl::Hours(2);
  std::vector<Replica> replicas;
  for (int i = 0; i < 3; ++i) {
    replicas.push_back(MakeReplica(service, false, fake, Token{"at-0", ""}, shared));
  }
  fake->SetUnreachable(true);
  for (Replica& r : replicas) ASSERT_THAT(r.NeedNewToken().Get().status(), IsOk());
  EXPECT_EQ(service->grants(), 3);
  EXPECT_EQ(fake->writes(), 0);
  fake->SetUnreachable(false);
  // Each replica writes its pending record before anything else: the first
  // wins, the others find generation 1 written and drop theirs.
  for (Replica& r : replicas) ASSERT_THAT(r.NeedNewToken().Get().status(), IsOk());
  const SharedRecord record = fake->record();
  EXPECT_EQ(fake->writes(), 1 + 1);  // the winner's pending record, then its next grant
  for (Replica& r : replicas) {
    EXPECT_EQ(r.manager->CurrentToken().access_token, record.token.access_token);
  }
  EXPECT_EQ(service->grants(), 4);
  EXPECT_EQ(record.generation, 2u);
}

// The refresh token that counts is the shared record's. One replica
// rotates it three times and goes away; the record's access token expires.
// A replica started later with the deploy-time refresh token presents the
// record's, not its own long-rotated one: the token service sees no reuse.
TEST(SharedToken, AReplicaStartedLaterPresentsTheRecordsRefreshTokenNotItsOwn) {
  auto fake = std::make_shared<FakeSharedBackend>();
  auto service = std::make_shared<RotatingTokenService>();
  {
    Replica first = MakeReplica(service, true, fake, Token{"at-0", "rt-0"});
    for (int round = 1; round <= 3; ++round) {
      ASSERT_THAT(first.NeedNewToken().Get().status(), IsOk());
    }
  }
  SharedRecord expired = fake->record();
  ASSERT_EQ(expired.generation, 3u);
  ASSERT_EQ(expired.token.refresh_token, "rt-3");
  expired.token.expires_at = absl::Now() - absl::Seconds(1);
  expired.generation = 4;
  ASSERT_EQ(fake->CompareAndSwap(3, expired).value_or(false), true);

  Replica later = MakeReplica(service, true, fake, Token{"at-0", "rt-0"});
  absl::StatusOr<std::string> token = later.NeedNewToken().Get();
  ASSERT_THAT(token.status(), IsOk());
  EXPECT_EQ(*token, "at-4");
  EXPECT_EQ(service->reuse(), 0);
  EXPECT_EQ(service->grants(), 4);
  EXPECT_EQ(fake->record().token.refresh_token, "rt-4");
}

TEST(SharedToken, OptionsAreChecked) {
  auto make = [](SharedTokenRefresherOptions o, bool with_backend = true) {
    return MakeSharedTokenRefresher(
        std::make_unique<RotatingTokenService::Refresher>(
            std::make_shared<RotatingTokenService>(), true),
        with_backend ? std::make_shared<FakeSharedBackend>() : nullptr, o)
        .status();
  };
  SharedTokenRefresherOptions o;
  EXPECT_THAT(make(o), IsOk());
  EXPECT_THAT(make(o, false), StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("backend")));
  o.max_wait = o.lease_ttl;
  EXPECT_THAT(make(o), StatusIs(absl::StatusCode::kInvalidArgument,
                                HasSubstr("max_wait must exceed lease_ttl")));
}

}  // namespace
}  // namespace authrefresh
