// Many replicas, one credential, with real processes and a real Redis: a
// redis-server started on 127.0.0.1 by the test, the mock token service
// (rotating refresh tokens, reuse detection that revokes the whole family)
// and resource service in this process, and replicas that are separate
// processes (tests/shared_replica.cc), each calling from 32 threads.
// Ordering comes from the token service's hold and the replicas' counters;
// waits poll a condition with a deadline.

#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <functional>
#include <iostream>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "interceptor/redis_backend.h"
#include "interceptor/shared_token.h"
#include "interceptor/token_manager_options.h"
#include "tests/testing/mock_servers.h"
#include "tests/testing/node_process.h"
#include "tests/testing/redis_server.h"
#include "tests/e2e/shared_replicas.h"
#include "tests/testing/status_matchers.h"

namespace authrefresh {
namespace {

using testing::IsOk;
using testing::MockServers;
using testing::NodeProcess;
using testing::RedisServer;
using testing::Eventually;
using testing::SharedRedisTest;

// How soon after a grant one process alone makes the next, for tokens that
// live `lifetime`: the refresh margin is min(refresh_margin, 25% of the
// lifetime) with the replicas' default options, and the proactive refresh
// starts at its beginning or later (the jitter only delays it). The margin
// counts from when the grant request was sent, a little before the token
// service recorded the grant: 200 ms allows for that request's latency on a
// loaded 2-core machine, times AUTHREFRESH_TIME_SCALE (4 under ASan, where
// six processes of 32 threads on 2 cores delayed one grant request by half a
// second). A replica that believed the token expired a second early, as
// adopters did when expires_in was rounded to whole seconds, would grant
// 0.6 s after for 2 s tokens; the mutation check of that is meaningful
// without a sanitizer only.
absl::Duration EarliestGrantSpacing(absl::Duration lifetime) {
  int scale = 1;
  if (const char* s = std::getenv("AUTHREFRESH_TIME_SCALE")) {
    if (!absl::SimpleAtoi(s, &scale) || scale < 1) scale = 1;
  }
  const TokenManagerOptions defaults;
  const absl::Duration margin =
      std::min(defaults.refresh_margin, lifetime * defaults.refresh_margin_fraction);
  return lifetime - margin - absl::Milliseconds(200) * scale;
}

std::vector<absl::Duration> Spacings(const std::vector<absl::Time>& times, size_t from) {
  std::vector<absl::Duration> out;
  for (size_t k = std::max<size_t>(from, 1); k < times.size(); ++k) {
    out.push_back(times[k] - times[k - 1]);
  }
  return out;
}

absl::Duration Shortest(const std::vector<absl::Duration>& spacings) {
  return spacings.empty() ? absl::ZeroDuration()
                          : *std::min_element(spacings.begin(), spacings.end());
}

// 4 processes x 32 threads. Three revocations: one grant each. Then tokens
// that live 3 s: one grant per expiry, the proactive refreshes of the four
// replicas jittered inside the margin. No refresh token is ever presented
// twice, and no call fails.
TEST_F(SharedRedisTest, FourProcessesMakeOneGrantPerRevocationAndPerExpiry) {
  for (int i = 0; i < 4; ++i) ASSERT_NO_FATAL_FAILURE(StartReplica(i));
  AwaitProgress(50);
  EXPECT_EQ(servers_->authority().grants(), 0);
  for (int round = 1; round <= 3; ++round) {
    SCOPED_TRACE(absl::StrCat("revocation ", round));
    servers_->authority().RevokeAccessTokens();
    AwaitProgress(200);
    EXPECT_EQ(servers_->authority().grants(), round);
    EXPECT_EQ(servers_->authority().reuse_detected(), 0);
  }
  servers_->authority().set_access_ttl(absl::Seconds(3));
  servers_->authority().RevokeAccessTokens();  // the next token lives 3 s
  ASSERT_TRUE(Eventually([&] { return servers_->authority().grants() >= 4 + 3; }));
  AwaitProgress(100);
  const std::vector<absl::Time> times = servers_->authority().grant_times();
  const int grants = servers_->authority().grants();
  // Each 3 s token is replaced once, inside its margin, and no earlier than
  // one process alone replaces it: replicas that adopted it know its exact
  // expiry. A second grant for the same expiry would follow the first within
  // milliseconds. (That no token outlived its replacement shows in the
  // failed calls, which must be 0.)
  for (size_t k = 4; k < times.size(); ++k) {
    EXPECT_GE(times[k] - times[k - 1], EarliestGrantSpacing(absl::Seconds(3)))
        << "grant " << k + 1;
  }
  EXPECT_EQ(servers_->authority().reuse_detected(), 0);
  ExpectNoFailures(All());
  // Every grant was made by one replica holding the lease, and written.
  EXPECT_EQ(Sum("leases", All()), grants);
  EXPECT_EQ(Sum("written", All()), grants);
  absl::StatusOr<SharedRecord> record = Record();
  ASSERT_THAT(record.status(), IsOk());
  EXPECT_EQ(record->generation, static_cast<uint64_t>(grants));
}

// Tokens that live 2 s. One process alone makes a grant every 1.5-1.75 s
// (its margin is 0.5 s). Five more processes join on the same credential:
// grants come no more often than before, each made by the one lease holder,
// and every other replica adopts the token with its exact expiry.
TEST_F(SharedRedisTest, SixProcessesMakeNoMoreGrantsThanOneAlone) {
  const absl::Duration lifetime = absl::Seconds(2);
  const absl::Duration floor = EarliestGrantSpacing(lifetime);
  ASSERT_NO_FATAL_FAILURE(StartReplica(0));
  AwaitProgress(50);
  servers_->authority().set_access_ttl(lifetime);
  servers_->authority().RevokeAccessTokens();  // the next token lives 2 s
  ASSERT_TRUE(Eventually([&] { return servers_->authority().grants() >= 4; }));
  const std::vector<absl::Duration> alone = Spacings(servers_->authority().grant_times(), 1);
  for (absl::Duration d : alone) EXPECT_GE(d, floor) << "one process alone";
  for (int i = 1; i < 6; ++i) ASSERT_NO_FATAL_FAILURE(StartReplica(i));
  AwaitProgress(50);
  const size_t joined = servers_->authority().grant_times().size();
  ASSERT_TRUE(Eventually([&] { return servers_->authority().grants() >= static_cast<int>(joined) + 6; }));
  AwaitProgress(50);
  const std::vector<absl::Time> times = servers_->authority().grant_times();
  const std::vector<absl::Duration> six = Spacings(times, joined);
  for (absl::Duration d : six) EXPECT_GE(d, floor) << "six processes";
  std::cout << "grant spacing, one process: " << Shortest(alone) << " shortest of "
            << alone.size() << "; six processes: " << Shortest(six) << " shortest of "
            << six.size() << "; floor " << floor << "\n";
  const int grants = servers_->authority().grants();
  EXPECT_EQ(Sum("leases", All()), grants);
  EXPECT_EQ(Sum("written", All()), grants);
  EXPECT_GE(Sum("adopted", All()), 5);
  EXPECT_EQ(servers_->authority().reuse_detected(), 0);
  ExpectNoFailures(All());
}

TEST_F(SharedRedisTest, ManyProcessesStartingWithNoTokenMakeOneGrant) {
  for (int i = 0; i < 8; ++i) ASSERT_NO_FATAL_FAILURE(StartReplica(i, false));
  AwaitProgress(20);
  EXPECT_EQ(servers_->authority().grants(), 1);
  EXPECT_EQ(servers_->authority().reuse_detected(), 0);
  EXPECT_EQ(Sum("adopted", All()), 7);
  ExpectNoFailures(All());
}

// The lease holder is killed while the token service holds its grant: the
// grant is never made, the lease runs out (2 s), another replica takes over.
// Calls wait up to 10 s, longer than the lease: none fails.
TEST_F(SharedRedisTest, KillingTheLeaseHolderMidGrantHandsTheRefreshOver) {
  for (int i = 0; i < 4; ++i) ASSERT_NO_FATAL_FAILURE(StartReplica(i));
  AwaitProgress(50);
  const std::vector<long> before = Leases();
  servers_->tokens().Hold();
  servers_->authority().RevokeAccessTokens();
  servers_->tokens().AwaitHeld(1);
  const int holder = NewHolder(before);
  ASSERT_GE(holder, 0);
  replicas_[holder]->Kill();
  ASSERT_TRUE(Eventually([&] { return servers_->tokens().held_cancelled() == 1; }));
  servers_->tokens().Release();  // answers the dead replica's call: no grant
  const std::vector<size_t> survivors = All();
  ASSERT_EQ(survivors.size(), 3u);
  AwaitProgress(200, survivors);
  EXPECT_EQ(servers_->authority().grants(), 1);
  EXPECT_EQ(servers_->authority().reuse_detected(), 0);
  EXPECT_EQ(Sum("leases", survivors), 1);
  ExpectNoFailures(survivors);
}

// Redis goes away: calls with a valid token keep flowing. It comes back
// empty (no persistence): the next revocation makes one grant and the record
// is written again.
TEST_F(SharedRedisTest, RedisStoppedAndRestartedLosesNothing) {
  for (int i = 0; i < 4; ++i) ASSERT_NO_FATAL_FAILURE(StartReplica(i));
  AwaitProgress(50);
  servers_->authority().RevokeAccessTokens();
  AwaitProgress(100);
  ASSERT_EQ(servers_->authority().grants(), 1);
  ASSERT_THAT(redis_->Stop(), IsOk());
  AwaitProgress(300);  // the fast path never touches Redis
  ASSERT_THAT(redis_->Restart(), IsOk());
  servers_->authority().RevokeAccessTokens();
  AwaitProgress(200);
  EXPECT_EQ(servers_->authority().grants(), 2);
  EXPECT_EQ(servers_->authority().reuse_detected(), 0);
  ExpectNoFailures(All());
  absl::StatusOr<SharedRecord> record = Record();
  ASSERT_THAT(record.status(), IsOk());
  EXPECT_EQ(record->generation, 1u);  // written anew after the restart
}

// A holder stopped (SIGSTOP) inside its grant outlives its lease; another
// replica refreshes and writes. When the stopped one resumes, its write is
// refused by the compare-and-set on the generation, and the newer record
// stays. (Rotation is off here: with a rotating refresh token both grants
// presenting the same one is the documented limit of a lease, see README.)
TEST_F(SharedRedisTest, AStoppedHolderCannotOverwriteTheNewerRecord) {
  servers_->authority().set_rotation(false);
  // A grant deadline longer than the pause, so that the stopped holder's
  // grant completes when it resumes, after its lease ran out.
  for (int i = 0; i < 4; ++i) ASSERT_NO_FATAL_FAILURE(StartReplica(i, true, 60000));
  AwaitProgress(50);
  const std::vector<long> before = Leases();
  servers_->tokens().Hold();
  servers_->authority().RevokeAccessTokens();
  servers_->tokens().AwaitHeld(1);
  const int stale = NewHolder(before);
  ASSERT_GE(stale, 0);
  ASSERT_EQ(kill(replicas_[stale]->pid(), SIGSTOP), 0);
  servers_->tokens().AwaitHeld(2);  // another replica, once the lease ran out
  servers_->tokens().Release();     // the stopped one's answer waits in its socket
  std::vector<size_t> others;
  for (size_t i : All()) {
    if (static_cast<int>(i) != stale) others.push_back(i);
  }
  ASSERT_TRUE(Eventually([&] { return Sum("written", others) == 1; }));
  absl::StatusOr<SharedRecord> newer = Record();
  ASSERT_THAT(newer.status(), IsOk());
  ASSERT_EQ(newer->generation, 1u);
  ASSERT_EQ(kill(replicas_[stale]->pid(), SIGCONT), 0);
  ASSERT_TRUE(Eventually([&] { return Field(Stats(stale), "fenced") == 1; }));
  absl::StatusOr<SharedRecord> after = Record();
  ASSERT_THAT(after.status(), IsOk());
  EXPECT_EQ(after->generation, 1u);
  EXPECT_EQ(after->token.access_token, newer->token.access_token);
  EXPECT_EQ(Field(Stats(stale), "written"), 0);
  EXPECT_EQ(servers_->authority().grants(), 2);
  AwaitProgress(100, others);
  ExpectNoFailures(others);
}

// The refresh token that counts is the shared record's. Two replicas rotate
// it three times; they stop, and the record's token (2 s) expires. A replica
// deployed later with the original login presents the record's refresh
// token, not its own long-rotated one: the token service sees no reuse, and
// the session lives on.
TEST_F(SharedRedisTest, AReplicaStartedLaterPresentsTheRecordsRefreshTokenNotItsOwn) {
  for (int i = 0; i < 2; ++i) ASSERT_NO_FATAL_FAILURE(StartReplica(i));
  AwaitProgress(50);
  for (int round = 1; round <= 3; ++round) {
    if (round == 3) servers_->authority().set_access_ttl(absl::Seconds(2));
    servers_->authority().RevokeAccessTokens();
    AwaitProgress(100);
    ASSERT_EQ(servers_->authority().grants(), round);
  }
  for (size_t i : All()) replicas_[i]->Kill();
  absl::StatusOr<SharedRecord> record = Record();
  ASSERT_THAT(record.status(), IsOk());
  ASSERT_EQ(record->generation, 3u);
  ASSERT_NE(record->token.refresh_token, login_.refresh_token);  // rotated
  const absl::Time expires_at = record->token.expires_at;
  // Not adoptable any more: a grant is needed.
  ASSERT_TRUE(Eventually([&] { return absl::Now() > expires_at; }, absl::Seconds(10)));
  servers_->authority().set_access_ttl(absl::Hours(1));
  ASSERT_NO_FATAL_FAILURE(StartReplica(2));  // login_: the deploy-time tokens
  AwaitProgress(100, {2});
  EXPECT_EQ(servers_->authority().grants(), 4);
  EXPECT_EQ(servers_->authority().reuse_detected(), 0);
  ExpectNoFailures({2});
  absl::StatusOr<SharedRecord> after = Record();
  ASSERT_THAT(after.status(), IsOk());
  EXPECT_EQ(after->generation, 4u);
}

}  // namespace
}  // namespace authrefresh
