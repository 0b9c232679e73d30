// Replicas ride out an outage of their shared Redis (MakeSharedTokenRefresher,
// kWait): real replica processes (tests/shared_replica) with the
// TokenManager's default retry policy (1 s backoff, 3 attempts), a real
// redis-server, and a revocation while Redis is down, so that every call
// needs a token that only a grant under the lease can give. The outage's
// length is the scenario; its start and end are the test's own actions,
// and every wait polls a condition (the replicas' counters) with a deadline.

#include <functional>
#include <iostream>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/time/clock.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/e2e/shared_replicas.h"
#include "tests/testing/status_matchers.h"

namespace authrefresh {
namespace {

using testing::Eventually;
using testing::IsOk;
using testing::SharedRedisTest;
using ::testing::HasSubstr;

class SharedBackendOutageTest : public SharedRedisTest {
 protected:
  static constexpr int kReplicas = 4;

  void StartReplicas(int deadline_ms) {
    for (int i = 0; i < kReplicas; ++i) {
      ASSERT_NO_FATAL_FAILURE(StartReplica(
          i, true, 1000, {"--default_retry=1", absl::StrCat("--deadline_ms=", deadline_ms)}));
    }
  }

  // Holds until `outage` has passed since `began` and every replica has
  // found the backend unreachable at least `attempts` times: their calls
  // have been waiting for it.
  void AwaitOutage(absl::Time began, absl::Duration outage, long attempts) {
    ASSERT_TRUE(Eventually([&] {
      if (absl::Now() < began + outage) return false;
      for (size_t i : All()) {
        if (Field(Stats(i), "shared_backend_unreachable") < attempts) return false;
      }
      return true;
    })) << "the replicas never found the backend unreachable";
  }

  // The first call succeeds soon after Redis answers again: the replicas
  // retry every 100 ms at most (plus, when paused, the attempt in flight,
  // which ends at the 1 s command timeout). Printed for docs/replicas.md.
  void ExpectRecoveryAfter(absl::Time back, long ok_before) {
    ASSERT_TRUE(Eventually([&] { return Sum("ok", All()) > ok_before; }));
    const absl::Duration recovery = absl::Now() - back;
    std::cout << "first call succeeded " << absl::FormatDuration(recovery)
              << " after Redis answered again\n";
    EXPECT_LT(recovery, absl::Seconds(3));
  }

  // The scenario of the tests below: all replicas calling; with `grant_first`,
  // one revocation and its grant; then Redis goes away (`stop`), the tokens
  // are revoked, the outage lasts 3 s and at least `attempts` refresh
  // attempts per replica, and Redis comes back (`start`). No call fails, no
  // attempt counts against the token service, one grant serves the outage's
  // revocation, and the record ends at `generation`.
  void RideOut(const std::function<absl::Status()>& stop,
               const std::function<absl::Status()>& start, long attempts, bool grant_first,
               uint64_t generation) {
    ASSERT_NO_FATAL_FAILURE(StartReplicas(10000));
    AwaitProgress(50);
    const int before = grant_first ? 1 : 0;
    if (grant_first) {
      servers_->authority().RevokeAccessTokens();
      AwaitProgress(100);
      ASSERT_EQ(servers_->authority().grants(), before);
    }
    ASSERT_THAT(stop(), IsOk());
    const absl::Time down = absl::Now();
    servers_->authority().RevokeAccessTokens();
    ASSERT_NO_FATAL_FAILURE(AwaitOutage(down, absl::Seconds(3), attempts));
    const long ok_during = Sum("ok", All());
    ASSERT_THAT(start(), IsOk());  // returns once Redis answers again
    ExpectRecoveryAfter(absl::Now(), ok_during);
    AwaitProgress(200);
    ExpectOneGrantAndNoReuse(before + 1);
    ExpectNoFailures(All());
    EXPECT_EQ(Sum("refreshes_failed", All()), 0);  // nothing against the token service
    absl::StatusOr<SharedRecord> record = Record();
    ASSERT_THAT(record.status(), IsOk());
    EXPECT_EQ(record->generation, generation);
  }

  std::function<absl::Status()> StopRedis() {
    return [this] { return redis_->Stop(); };
  }
  std::function<absl::Status()> RestartRedis() {
    return [this] { return redis_->Restart(); };
  }

  // One grant for the revocation, made after the outage; none presented a
  // refresh token twice.
  void ExpectOneGrantAndNoReuse(int grants) {
    EXPECT_EQ(servers_->authority().grants(), grants);
    EXPECT_EQ(servers_->authority().reuse_detected(), 0);
  }
};

// The scenario: Redis is gone for 3 s (longer than the TokenManager's
// three attempts with 1 s and 1.6 s backoff would last) and comes back empty.
// Calls have 10 s deadlines: none fails, and one grant serves all four
// replicas after Redis is back.
TEST_F(SharedBackendOutageTest, RedisKilledAndRestartedEmptyFailsNoCallThatCanWait) {
  // Empty after the restart: the record is written anew.
  RideOut(StopRedis(), RestartRedis(), 5, /*grant_first=*/false, /*generation=*/1);
}

// The same outage with a Redis that keeps its data (an append-only file):
// after the restart the record is still there, and the replicas go on from
// it with one grant.
class SharedBackendOutageWithPersistenceTest : public SharedBackendOutageTest {
 protected:
  testing::RedisServerOptions RedisOptions() const override {
    testing::RedisServerOptions o;
    o.persist = true;
    return o;
  }
};

TEST_F(SharedBackendOutageWithPersistenceTest, RedisKilledAndRestartedFailsNoCallThatCanWait) {
  // The record survived the restart: the outage's grant is generation 2.
  RideOut(StopRedis(), RestartRedis(), 5, /*grant_first=*/true, /*generation=*/2);
}

// The connections of every replica are cut (CLIENT KILL) while the lease
// holder's grant is in flight: its write finds its connection gone, is sent
// again on a new one, and lands; nothing is lost or granted twice.
TEST_F(SharedBackendOutageTest, TheHoldersConnectionCutDuringItsGrantLosesNothing) {
  ASSERT_NO_FATAL_FAILURE(StartReplicas(10000));
  AwaitProgress(50);
  servers_->tokens().Hold();
  servers_->authority().RevokeAccessTokens();
  servers_->tokens().AwaitHeld(1);
  ASSERT_THAT(redis_->Command({"CLIENT", "KILL", "TYPE", "normal"}).status(), IsOk());
  ASSERT_THAT(redis_->Command({"CLIENT", "KILL", "TYPE", "pubsub"}).status(), IsOk());
  servers_->tokens().Release();
  AwaitProgress(200);
  ExpectOneGrantAndNoReuse(1);
  ExpectNoFailures(All());
  EXPECT_EQ(Sum("written", All()), 1);
  EXPECT_EQ(Sum("write_failed", All()), 0);
  absl::StatusOr<SharedRecord> record = Record();
  ASSERT_THAT(record.status(), IsOk());
  EXPECT_EQ(record->generation, 1u);
}

// Redis stopped with SIGSTOP: connections are accepted and nothing answers,
// so each attempt ends at the backend's command timeout (1 s). After SIGCONT
// the record is still there and the replicas go on from it.
TEST_F(SharedBackendOutageTest, RedisPausedFailsNoCallThatCanWait) {
  RideOut([this] { return redis_->Pause(); }, [this] { return redis_->Resume(); }, 2,
          /*grant_first=*/true, /*generation=*/2);
}

// An outage longer than the calls' deadlines (2 s): the waiting calls fail
// DEADLINE_EXCEEDED naming the backend, not the token service; once Redis
// is back, calls succeed again and one grant serves them.
TEST_F(SharedBackendOutageTest, AnOutageLongerThanTheDeadlinesFailsCallsNamingTheBackend) {
  ASSERT_NO_FATAL_FAILURE(StartReplicas(2000));
  AwaitProgress(50);
  ASSERT_THAT(redis_->Stop(), IsOk());
  servers_->authority().RevokeAccessTokens();
  ASSERT_TRUE(Eventually([&] {
    for (size_t i : All()) {
      if (Field(Stats(i), "failed") == 0) return false;
    }
    return true;
  })) << "no call reached its deadline";
  // Every failure is DEADLINE_EXCEEDED. authrefresh ends the wait 10 ms
  // before the deadline with its own status, which names the backend; on a
  // loaded machine (or under a sanitizer) gRPC's own deadline can still come
  // first with a bare "Deadline Exceeded", so some, not all, failures must
  // name the backend. None may blame the token service.
  for (size_t i : All()) {
    const std::string last = Stats(i).fields().at("last_failure").string_value();
    EXPECT_THAT(last, ::testing::StartsWith("4: ")) << "replica " << i << ": " << last;
    EXPECT_THAT(last, ::testing::Not(HasSubstr("token service"))) << "replica " << i;
  }
  long failed = 0, naming = 0;
  for (size_t i : All()) {
    const google::protobuf::Struct stats = Stats(i);  // both counts at one moment
    failed += Field(stats, "failed");
    naming += Field(stats, "failed_naming_backend");
  }
  EXPECT_GT(naming, 0);
  std::cout << naming << " of " << failed << " failed calls name the shared backend\n";
  ASSERT_THAT(redis_->Restart(), IsOk());
  AwaitProgress(200);
  ExpectOneGrantAndNoReuse(1);
  // Calls in flight at the restart may still have hit their deadline; after
  // the progress above, none fails any more.
  const long failed_after = Sum("failed", All());
  AwaitProgress(200);
  EXPECT_EQ(Sum("failed", All()), failed_after);
  EXPECT_EQ(Sum("refreshes_failed", All()), 0);
}

// A Redis that refuses the replica's password is a misconfiguration of the
// backend: calls that need a new token fail UNAUTHENTICATED naming the
// backend and its refusal, never "the token service rejected this client",
// and the token service is not asked.
class SharedBackendWithPasswordTest : public SharedBackendOutageTest {
 protected:
  testing::RedisServerOptions RedisOptions() const override {
    testing::RedisServerOptions o;
    o.password = "pw-outage-1f3c";
    return o;
  }
};

TEST_F(SharedBackendWithPasswordTest, AWrongPasswordIsReportedAsTheBackendsRefusal) {
  ASSERT_NO_FATAL_FAILURE(StartReplica(0, true, 1000, {"--redis_password=wrong-pw-77aa"}));
  AwaitProgress(50);
  servers_->authority().RevokeAccessTokens();
  ASSERT_TRUE(Eventually([&] { return Field(Stats(0), "failed") > 0; }));
  const std::string last = Stats(0).fields().at("last_failure").string_value();
  EXPECT_THAT(last, ::testing::StartsWith("16: "));  // UNAUTHENTICATED
  EXPECT_THAT(last, HasSubstr("the shared token backend refused this replica"));
  EXPECT_THAT(last, HasSubstr("refused AUTH (WRONGPASS)"));
  EXPECT_THAT(last, ::testing::Not(HasSubstr("token service rejected")));
  EXPECT_THAT(last, ::testing::Not(HasSubstr("wrong-pw-77aa")));
  EXPECT_EQ(servers_->authority().grants(), 0);
}

}  // namespace
}  // namespace authrefresh
