// The fault scenarios of the reliability suite, against mock servers on
// 127.0.0.1 whose TokenService rotates refresh tokens and detects reuse
// (RFC 9700). Every concurrency scenario asserts reuse_detected == 0.

#include <chrono>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "gmock/gmock.h"
#include "grpcpp/create_channel.h"
#include "gtest/gtest.h"
#include "tests/testing/fake_clock.h"
#include "tests/testing/harness.h"
#include "tests/testing/status_matchers.h"

namespace authrefresh {
namespace {

using ::testing::HasSubstr;
using testing::FakeClock;
using testing::Harness;
using testing::HarnessOptions;
using testing::IsOk;
using testing::StatusIs;

int CountOk(const std::vector<Harness::Outcome>& outcomes) {
  int ok = 0;
  for (const auto& o : outcomes) ok += o.status.ok() ? 1 : 0;
  return ok;
}

void ExpireCurrentToken(Harness& h) {
  Token t = h.manager()->CurrentToken();
  t.access_token.clear();  // no valid token at all
  h.manager()->SetToken(t);
}

// 1
TEST(Faults, CallsStartingWithoutAValidTokenShareOneRefresh) {
  Harness h;
  ExpireCurrentToken(h);
  std::vector<Harness::Outcome> outcomes = h.Storm(64);
  EXPECT_EQ(CountOk(outcomes), 64);
  EXPECT_EQ(h.tokens().calls(), 1);
  EXPECT_EQ(h.echo().hits(), 64);  // nobody sent a bad token
  EXPECT_EQ(h.echo().rejected(), 0);
  EXPECT_EQ(h.authority().reuse_detected(), 0);
}

// 2
TEST(Faults, CallsInFlightWhenTheServerRevokesAreAllReplayedAfterOneRefresh) {
  Harness h;
  h.echo().Pause();
  std::vector<Harness::Outcome> outcomes = h.Storm(32, [&] {
    h.echo().AwaitPaused(32);  // all 32 are at the server with the old token
    h.authority().RevokeAccessTokens();
    h.echo().Resume();
  });
  EXPECT_EQ(CountOk(outcomes), 32);
  EXPECT_EQ(h.tokens().calls(), 1);
  EXPECT_EQ(h.manager()->Stats().calls_replayed, 32u);
  EXPECT_EQ(h.echo().hits(), 64);
  EXPECT_EQ(h.echo().rejected(), 32);
  EXPECT_EQ(h.authority().reuse_detected(), 0);
}

// 3
TEST(Faults, RejectionOfAnOlderTokenReplaysWithTheNewerOneWithoutRefreshing) {
  Harness h;
  h.echo().Pause();
  std::vector<Harness::Outcome> outcomes = h.Storm(1, [&] {
    h.echo().AwaitPaused(1);  // sent with generation 1
    h.authority().RevokeAccessTokens();
    h.manager()->SetToken(h.authority().Login());  // generation 2 exists
    h.echo().Resume();
  });
  ASSERT_THAT(outcomes[0].status, IsOk());
  EXPECT_EQ(outcomes[0].reply.authorization(), h.CurrentFingerprint());
  EXPECT_EQ(h.tokens().calls(), 0);
  EXPECT_EQ(h.manager()->Stats().calls_replayed, 1u);
  EXPECT_EQ(h.echo().hits(), 2);
}

// 4, with a fake clock so that the backoff schedule is checked exactly.
class BackoffTest : public ::testing::Test {
 protected:
  BackoffTest() : h_([this] {
    HarnessOptions o;
    o.manager.clock = clock_;
    o.manager.backoff_jitter = 0;
    o.manager.max_refresh_attempts = 3;
    return o;
  }()) {}

  // Waits for the client to schedule its retry, checks when, and fires it.
  void FireRetryAfter(absl::Duration expected) {
    const absl::Time failed_at = clock_->Now();
    clock_->AwaitTimer();
    EXPECT_EQ(clock_->NextTimer() - failed_at, expected);
    clock_->AdvanceTo(clock_->NextTimer());
  }

  std::shared_ptr<FakeClock> clock_ = std::make_shared<FakeClock>();
  Harness h_;
};

TEST_F(BackoffTest, TransientFailuresAreRetriedOnScheduleAndWaitingCallsSucceed) {
  h_.tokens().FailNext(2, grpc::Status(grpc::StatusCode::UNAVAILABLE, "token service down"));
  ExpireCurrentToken(h_);
  std::vector<Harness::Outcome> outcomes = h_.Storm(16, [&] {
    h_.tokens().AwaitCalls(1);
    FireRetryAfter(absl::Seconds(1));
    h_.tokens().AwaitCalls(2);
    EXPECT_EQ(h_.tokens().calls(), 2);  // not before the backoff allowed
    FireRetryAfter(absl::Seconds(1.6));
  });
  EXPECT_EQ(CountOk(outcomes), 16);
  EXPECT_EQ(h_.tokens().calls(), 3);
  EXPECT_EQ(h_.authority().reuse_detected(), 0);
}

TEST_F(BackoffTest, PastMaxAttemptsCallsFailThenTheNextCallAfterTheDelaySucceeds) {
  h_.tokens().FailNext(3, grpc::Status(grpc::StatusCode::UNAVAILABLE, "token service down"));
  ExpireCurrentToken(h_);
  std::vector<Harness::Outcome> outcomes = h_.Storm(16, [&] {
    h_.tokens().AwaitCalls(1);
    FireRetryAfter(absl::Seconds(1));
    h_.tokens().AwaitCalls(2);
    FireRetryAfter(absl::Seconds(1.6));
  });
  for (const auto& o : outcomes) {
    EXPECT_THAT(o.status, StatusIs(absl::StatusCode::kUnavailable,
                                   HasSubstr("token service down")));
  }
  EXPECT_EQ(h_.tokens().calls(), 3);
  // Backing off for 2.56 s: calls fail at once, the service is left alone.
  EXPECT_THAT(h_.Say("during"), StatusIs(absl::StatusCode::kUnavailable,
                                         HasSubstr("backing off")));
  EXPECT_EQ(h_.tokens().calls(), 3);
  clock_->Advance(absl::Seconds(2.56));
  EXPECT_THAT(h_.Say("after"), IsOk());
  EXPECT_EQ(h_.tokens().calls(), 4);
  EXPECT_EQ(h_.authority().reuse_detected(), 0);
}

// 5
TEST(Faults, HungRefreshIsAbandonedAtItsTimeoutAndCallsEndAtTheirDeadline) {
  HarnessOptions options;
  options.refresher.timeout = absl::Milliseconds(500);
  options.manager.initial_backoff = absl::Milliseconds(50);
  Harness h(options);
  h.tokens().Hold();
  ExpireCurrentToken(h);
  grpc::ClientContext ctx;
  const auto deadline = std::chrono::system_clock::now() + std::chrono::milliseconds(200);
  ctx.set_deadline(deadline);
  test::EchoReply reply;
  grpc::Status s = h.stub().Say(&ctx, test::EchoRequest(), &reply);
  const auto late = std::chrono::system_clock::now() - deadline;
  EXPECT_THAT(s, StatusIs(absl::StatusCode::kDeadlineExceeded));
  EXPECT_LT(late, std::chrono::milliseconds(100));
  // The hung refresh is abandoned at 500 ms, and retried after the backoff.
  h.tokens().AwaitCalls(2);
  EXPECT_GE(h.manager()->Stats().refreshes_failed, 1u);
  h.tokens().Release();
}

// 6
TEST(Faults, WaitingCallIsCancelledPromptly) {
  Harness h;
  h.tokens().Hold();
  ExpireCurrentToken(h);
  grpc::ClientContext ctx;
  test::EchoRequest request;
  test::EchoReply reply;
  grpc::Status status;
  absl::Notification done;
  h.stub().async()->Say(&ctx, &request, &reply, [&](grpc::Status s) {
    status = std::move(s);
    done.Notify();
  });
  h.tokens().AwaitHeld(1);
  const absl::Time cancelled_at = absl::Now();
  ctx.TryCancel();
  done.WaitForNotification();
  EXPECT_LT(absl::Now() - cancelled_at, absl::Milliseconds(100));
  EXPECT_THAT(status, StatusIs(absl::StatusCode::kCancelled));
  EXPECT_EQ(h.echo().hits(), 0);
  h.tokens().Release();
}

// 7
TEST(Faults, ServerRejectingEveryTokenGetsTwoAttemptsPerCallAndOneRefreshPerBurst) {
  HarnessOptions options;
  // One burst inside one loop-protection interval, however slow the machine
  // (sanitizers, valgrind).
  options.manager.min_refresh_interval = absl::Minutes(1);
  Harness h(options);
  h.echo().RejectAll(true);
  std::vector<Harness::Outcome> outcomes = h.Storm(100);
  for (const auto& o : outcomes) {
    EXPECT_THAT(o.status, StatusIs(absl::StatusCode::kUnauthenticated));
  }
  EXPECT_LE(h.echo().hits(), 200);
  EXPECT_EQ(h.tokens().calls(), 1);
  EXPECT_EQ(h.authority().reuse_detected(), 0);
}

// 9
struct Malformed {
  const char* name;
  std::function<void(v1::TokenResponse&)> edit;
  const char* problem;
};

void PrintTo(const Malformed& m, std::ostream* os) { *os << m.name; }

class MalformedResponse : public ::testing::TestWithParam<Malformed> {};

TEST_P(MalformedResponse, FailsTheRefreshWithAClearErrorAndIsNeverAttached) {
  HarnessOptions options;
  options.manager.max_refresh_attempts = 1;
  Harness h(options);
  const Token before = h.manager()->CurrentToken();
  v1::TokenResponse bad;
  bad.set_access_token("at-fine");
  bad.set_token_type("Bearer");
  bad.set_expires_in(60);
  GetParam().edit(bad);
  h.tokens().RespondNext(bad);
  h.authority().RevokeAccessTokens();
  grpc::Status s = h.Say("x");
  EXPECT_THAT(s, StatusIs(absl::StatusCode::kUnavailable,
                          ::testing::AllOf(HasSubstr("malformed token response: "),
                                           HasSubstr(GetParam().problem))));
  if (!bad.access_token().empty()) {
    EXPECT_THAT(s.error_message(), ::testing::Not(HasSubstr(bad.access_token())));
  }
  EXPECT_EQ(h.manager()->CurrentToken().access_token, before.access_token);
  EXPECT_EQ(h.echo().hits(), 1);  // the rejected attempt; no replay
}

INSTANTIATE_TEST_SUITE_P(
    Faults, MalformedResponse,
    ::testing::Values(
        Malformed{"EmptyAccessToken", [](auto& r) { r.set_access_token(""); },
                  "access_token is empty"},
        Malformed{"NotBearer", [](auto& r) { r.set_token_type("MAC"); },
                  "token_type is \"MAC\""},
        Malformed{"NegativeExpiresIn", [](auto& r) { r.set_expires_in(-5); },
                  "expires_in is negative"},
        Malformed{"CrLf", [](auto& r) { r.set_access_token("at\r\nx-evil: 1"); },
                  "0x0d at offset 2"},
        Malformed{"Nul", [](auto& r) { r.set_access_token(std::string("at\0x", 4)); },
                  "0x00 at offset 2"},
        Malformed{"NonAscii", [](auto& r) { r.set_access_token("at\xe2\x82\xac"); },
                  "0xe2 at offset 2"},
        Malformed{"SixteenKiB",
                  [](auto& r) { r.set_access_token(std::string(16 * 1024, 'a')); },
                  "over the 7168-byte limit"}),
    [](const ::testing::TestParamInfo<Malformed>& info) { return info.param.name; });

TEST(Faults, UnparsableTokenResponseFailsTheRefresh) {
  testing::UnparsableServer garbage;
  HarnessOptions options;
  options.manager.max_refresh_attempts = 1;
  options.token_service_address = garbage.address();
  Harness h(options);
  const Token before = h.manager()->CurrentToken();
  h.authority().RevokeAccessTokens();
  grpc::Status s = h.Say("x");
  EXPECT_THAT(s, StatusIs(absl::StatusCode::kUnavailable,
                          HasSubstr("token refresh failed")));
  EXPECT_EQ(garbage.calls(), 1);
  EXPECT_EQ(h.manager()->CurrentToken().access_token, before.access_token);
}

// 10. gRPC replays a Trailers-Only UNAUTHENTICATED before anyone can read
// its challenge, and the replay's credentials start a refresh; loop
// protection then holds every later one back for min_refresh_interval.
TEST(Faults, InsufficientScopeCostsAtMostOneRefreshPerInterval) {
  auto clock = std::make_shared<FakeClock>();
  HarnessOptions o;
  o.manager.clock = clock;
  Harness h(o);
  h.echo().AnswerWith(grpc::Status(grpc::StatusCode::UNAUTHENTICATED, "scope"),
                      "Bearer realm=\"api\", error=\"insufficient_scope\", "
                      "scope=\"admin\"");
  for (int i = 0; i < 20; ++i) {
    EXPECT_THAT(h.Say("x"), StatusIs(absl::StatusCode::kUnauthenticated));
  }
  EXPECT_EQ(h.echo().hits(), 40);  // each call and its one replay
  EXPECT_EQ(h.tokens().calls(), 1);
  // A burst, too.
  std::vector<Harness::Outcome> burst = h.Storm(32);
  EXPECT_EQ(CountOk(burst), 0);
  EXPECT_EQ(h.tokens().calls(), 1);
  // After the interval, one more.
  clock->Advance(absl::Seconds(1));
  EXPECT_THAT(h.Say("z"), StatusIs(absl::StatusCode::kUnauthenticated));
  EXPECT_EQ(h.tokens().calls(), 2);
  // PERMISSION_DENIED is not replayed at all.
  h.echo().AnswerWith(grpc::Status(grpc::StatusCode::PERMISSION_DENIED, "scope"),
                      "Bearer error=\"insufficient_scope\"");
  const int hits = h.echo().hits();
  EXPECT_THAT(h.Say("y"), StatusIs(absl::StatusCode::kPermissionDenied));
  EXPECT_EQ(h.echo().hits(), hits + 1);
  EXPECT_EQ(h.tokens().calls(), 2);
}

TEST(Faults, InvalidTokenChallengeRefreshesAsUsual) {
  Harness h;
  h.authority().RevokeAccessTokens();  // the server adds error="invalid_token"
  EXPECT_THAT(h.Say("x"), IsOk());
  EXPECT_EQ(h.tokens().calls(), 1);
}

// 13
TEST(Faults, OneManagerSharedByThreeChannelsRefreshesOnce) {
  Harness h;
  InterceptorOptions allow;
  allow.allow_insecure_transport = true;
  std::vector<std::unique_ptr<test::Echo::Stub>> stubs;
  for (int i = 0; i < 3; ++i) {
    stubs.push_back(test::Echo::NewStub(CreateAuthRefreshChannel(
        h.servers().address(), grpc::InsecureChannelCredentials(), h.manager(), allow)));
  }
  h.authority().RevokeAccessTokens();
  std::vector<std::thread> threads;
  std::vector<int> ok(3);
  for (int i = 0; i < 3; ++i) {
    threads.emplace_back([&, i] { ok[i] = CountOk(Harness::Storm(*stubs[i], 100)); });
  }
  for (auto& t : threads) t.join();
  EXPECT_THAT(ok, ::testing::ElementsAre(100, 100, 100));
  EXPECT_EQ(h.tokens().calls(), 1);
  EXPECT_EQ(h.authority().reuse_detected(), 0);
}

// 14: authrefresh leaves the response to gRPC, which reports it exactly
// as it does on a plain channel.
TEST(Faults, ResponseThatDoesNotParseEndsAsOnAPlainChannel) {
  Harness h;
  testing::UnparsableServer garbage;
  InterceptorOptions allow;
  allow.allow_insecure_transport = true;
  auto stub = test::Echo::NewStub(CreateAuthRefreshChannel(
      garbage.address(), grpc::InsecureChannelCredentials(), h.manager(), allow));
  auto plain = test::Echo::NewStub(
      grpc::CreateChannel(garbage.address(), grpc::InsecureChannelCredentials()));
  grpc::ClientContext ctx, plain_ctx;
  test::EchoReply reply;
  const grpc::Status expected = plain->Say(&plain_ctx, test::EchoRequest(), &reply);
  ASSERT_FALSE(expected.ok());
  const grpc::Status s = stub->Say(&ctx, test::EchoRequest(), &reply);
  EXPECT_EQ(s.error_code(), expected.error_code());
  EXPECT_EQ(s.error_message(), expected.error_message());
  EXPECT_EQ(garbage.calls(), 2);
  EXPECT_EQ(h.tokens().calls(), 0);
}

}  // namespace
}  // namespace authrefresh
