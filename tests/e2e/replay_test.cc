// End to end, against mock servers on 127.0.0.1: every call shape (unary,
// server-, client- and bidi-streaming) through every API (sync, callback,
// completion queue, GenericStub) is replayed once after one shared refresh,
// and the replayed call stays the application's own.

#include <atomic>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "absl/synchronization/blocking_counter.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "gmock/gmock.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/server_builder.h"
#include "gtest/gtest.h"
#include "tests/testing/call_shapes.h"
#include "tests/testing/counting_proxy.h"
#include "tests/testing/harness.h"
#include "tests/testing/status_matchers.h"

namespace authrefresh {
namespace {

using ::testing::HasSubstr;
using ::testing::Lt;
using testing::Api;
using testing::CallCase;
using testing::CallPlan;
using testing::Harness;
using testing::HarnessOptions;
using testing::IsOk;
using testing::RunCall;
using testing::Seen;
using testing::Shape;
using testing::StatusIs;

// How many replies a successful call of each shape brings back.
int ExpectedReplies(const CallCase& c, const CallPlan& plan) {
  switch (c.shape) {
    case Shape::kUnary:
    case Shape::kClientStream:
      return 1;
    case Shape::kServerStream:
    case Shape::kBidi:
      return plan.messages;
  }
  return 0;
}

// gRPC 1.51 can send a client-streaming or bidi call again with requests
// missing or without its half-close (docs/limits.md, measured by
// tests/experiments/grpc_retry_probe), so authrefresh replays unary calls
// and server streams only.
bool Replayable(const CallCase& c) {
  return (c.shape == Shape::kUnary || c.shape == Shape::kServerStream) &&
         // A GenericStub stream is a bidi call to gRPC, whatever its method.
         !(c.shape == Shape::kServerStream && c.api == Api::kGeneric);
}

class EveryShape : public ::testing::TestWithParam<CallCase> {};

INSTANTIATE_TEST_SUITE_P(
    Replay, EveryShape, ::testing::ValuesIn(testing::AllCallCases()),
    [](const ::testing::TestParamInfo<CallCase>& info) {
      return testing::CaseName(info.param);
    });

TEST_P(EveryShape, ValidTokenIsOneServerHitAndNoRefresh) {
  Harness h;
  const CallPlan plan;
  Seen seen = RunCall(h.channel(), GetParam(), plan);
  ASSERT_THAT(seen.status, IsOk());
  ASSERT_EQ(static_cast<int>(seen.replies.size()), ExpectedReplies(GetParam(), plan));
  for (const auto& r : seen.replies) EXPECT_EQ(r.authorization(), h.CurrentFingerprint());
  EXPECT_EQ(h.echo().hits(), 1);
  EXPECT_EQ(h.tokens().calls(), 0);
  EXPECT_EQ(h.manager()->Stats().calls_replayed, 0u);
}

TEST_P(EveryShape, RevokedTokenIsReplayedOnceAfterOneRefresh) {
  Harness h;
  h.authority().RevokeAccessTokens();
  const CallPlan plan;
  Seen seen = RunCall(h.channel(), GetParam(), plan);
  if (!Replayable(GetParam())) {
    // Not replayed: a clear status, one hit, and the refresh it started
    // serves the next call.
    EXPECT_THAT(seen.status, StatusIs(absl::StatusCode::kUnauthenticated,
                                      ::testing::AllOf(HasSubstr("not replayed"),
                                                       HasSubstr("the next call"))));
    EXPECT_EQ(h.echo().hits(), 1);
    h.tokens().AwaitCalls(1);  // the refresh the rejection started
    Seen next = RunCall(h.channel(), GetParam(), plan);
    EXPECT_THAT(next.status, IsOk());
    EXPECT_EQ(h.echo().hits(), 2);
    EXPECT_EQ(h.echo().max_attempt(), 1);
    EXPECT_EQ(h.tokens().calls(), 1);
    EXPECT_EQ(h.authority().reuse_detected(), 0);
    return;
  }
  ASSERT_THAT(seen.status, IsOk());
  ASSERT_EQ(static_cast<int>(seen.replies.size()), ExpectedReplies(GetParam(), plan));
  for (const auto& r : seen.replies) EXPECT_EQ(r.authorization(), h.CurrentFingerprint());
  EXPECT_EQ(h.echo().hits(), 2);
  EXPECT_EQ(h.echo().rejected(), 1);
  EXPECT_EQ(h.echo().max_attempt(), 2);
  EXPECT_EQ(h.tokens().calls(), 1);
  EXPECT_EQ(h.manager()->Stats().calls_replayed, 1u);
  EXPECT_EQ(h.authority().reuse_detected(), 0);
  // The application sees the replay's answer, not the rejection's.
  EXPECT_EQ(seen.Trailing("x-attempt"), "2");
  EXPECT_EQ(seen.Trailing("www-authenticate"), "");
}

// Retry-once, pinned whatever loop protection does: with it turned off
// (min_refresh_interval 0) every rejection refreshes, and still no call
// reaches the server a third time.
TEST_P(EveryShape, NoCallReachesTheServerThreeTimes) {
  HarnessOptions o;
  o.manager.min_refresh_interval = absl::ZeroDuration();
  Harness h(o);
  h.echo().RejectAll(true);
  const int per_call = Replayable(GetParam()) ? 2 : 1;
  for (int i = 0; i < 3; ++i) {
    Seen seen = RunCall(h.channel(), GetParam());
    EXPECT_THAT(seen.status, StatusIs(absl::StatusCode::kUnauthenticated));
    if (per_call == 2) {
      // The final attempt's own answer: its trailers and binary details.
      EXPECT_EQ(seen.status.error_message(), "invalid_token");
      EXPECT_EQ(seen.Trailing("x-attempt"), std::to_string(2 * i + 2));
      EXPECT_EQ(seen.status.error_details(), absl::StrCat("hit-", 2 * i + 2));
    }
  }
  EXPECT_EQ(h.echo().hits(), 3 * per_call);
  EXPECT_EQ(h.echo().max_attempt(), per_call);
  EXPECT_EQ(h.authority().reuse_detected(), 0);
}

// An `authorization` header of the application's own is left alone: no
// token of authrefresh's is added, nothing is refreshed. gRPC's retry may
// send the call twice, with the application's header both times.
TEST_P(EveryShape, ApplicationsOwnAuthorizationIsLeftAlone) {
  Harness h;
  h.authority().RevokeAccessTokens();
  CallPlan plan;
  plan.prepare = [](grpc::ClientContext* ctx) {
    ctx->AddMetadata("authorization", "Bearer app-own");
  };
  Seen seen = RunCall(h.channel(), GetParam(), plan);
  EXPECT_THAT(seen.status, StatusIs(absl::StatusCode::kUnauthenticated));
  const int hits = Replayable(GetParam()) ? 2 : 1;
  EXPECT_EQ(h.echo().hits(), hits);
  EXPECT_EQ(h.echo().hits_with_authorization("Bearer app-own"), hits);
  EXPECT_EQ(h.echo().hits_with_several_authorizations(), 0);
  EXPECT_EQ(h.tokens().calls(), 0);
  EXPECT_EQ(h.manager()->Stats().calls_replayed, 0u);
}

TEST_P(EveryShape, DeadSessionFailsWithTheFailurePolicysStatus) {
  auto expired = std::make_shared<std::atomic<int>>(0);
  HarnessOptions o;
  o.manager.on_session_expired = [expired](const absl::Status&) { ++*expired; };
  Harness h(o);
  h.authority().RevokeRefreshTokens();
  h.authority().RevokeAccessTokens();
  Seen seen = RunCall(h.channel(), GetParam());
  EXPECT_THAT(seen.status.error_message(), ::testing::Not(HasSubstr("plugin")));
  if (Replayable(GetParam())) {
    // The replay waited for the refresh, which found the session dead.
    EXPECT_THAT(seen.status, StatusIs(absl::StatusCode::kUnauthenticated,
                                      ::testing::AllOf(HasSubstr("session expired"),
                                                       HasSubstr("invalid_grant"))));
  } else {
    EXPECT_THAT(seen.status, StatusIs(absl::StatusCode::kUnauthenticated));
    Seen next = RunCall(h.channel(), GetParam());  // after the refresh failed
    EXPECT_THAT(next.status, StatusIs(absl::StatusCode::kUnauthenticated,
                                      HasSubstr("session expired")));
  }
  EXPECT_EQ(h.echo().hits(), 1);  // no replay, no call after the session died
  EXPECT_EQ(h.tokens().calls(), 1);
  // The callback runs on the thread that completed the refresh; a call that
  // started meanwhile (`next`) can fail before it has returned.
  const absl::Time deadline = absl::Now() + absl::Seconds(10);
  while (expired->load() == 0 && absl::Now() < deadline) {
    absl::SleepFor(absl::Milliseconds(1));  // polls the callback's counter
  }
  EXPECT_EQ(*expired, 1);
}

TEST_P(EveryShape, ExpiredTokenWaitsForTheRefreshAndIsNeverSent) {
  Harness h;
  Token expired = h.manager()->CurrentToken();
  expired.expires_at = absl::Now() - absl::Seconds(1);
  h.manager()->SetToken(expired);
  Seen seen = RunCall(h.channel(), GetParam());
  ASSERT_THAT(seen.status, IsOk());
  EXPECT_EQ(h.tokens().calls(), 1);
  EXPECT_EQ(h.echo().hits(), 1);
  EXPECT_EQ(h.echo().rejected(), 0);
}

// A rejection in the response headers (not Trailers-Only) commits the call:
// it is not replayed, and a challenge there is read like one in trailers.
TEST(Replay, RejectionAfterResponseHeadersIsNotReplayedAndTheNextCallWorks) {
  Harness h;
  grpc::ClientContext ctx;
  test::EchoRequest request;
  request.set_reject_after(0);  // headers, then UNAUTHENTICATED
  auto reader = h.stub().Listen(&ctx, request);
  test::EchoReply reply;
  EXPECT_FALSE(reader->Read(&reply));
  EXPECT_THAT(reader->Finish(), StatusIs(absl::StatusCode::kUnauthenticated));
  EXPECT_EQ(h.echo().hits(), 1);
  EXPECT_EQ(h.manager()->Stats().calls_replayed, 0u);
  // It started the refresh, so the next call carries a new token.
  EXPECT_THAT(h.Say("next"), IsOk());
  EXPECT_EQ(h.tokens().calls(), 1);
}

TEST(Replay, InsufficientScopeInTheResponseHeadersStartsNoRefresh) {
  std::vector<std::string> seen_challenges;
  absl::Mutex mu;
  HarnessOptions o;
  o.interceptor.is_rejection = [&](const ServerAnswer& answer) {
    auto it = answer.initial_metadata.find("www-authenticate");
    if (it != answer.initial_metadata.end()) {
      absl::MutexLock lock(&mu);
      seen_challenges.emplace_back(it->second.data(), it->second.size());
    }
    return IsTokenRejection(answer);
  };
  Harness h(o);
  grpc::ClientContext ctx;
  test::EchoRequest request;
  request.set_reject_after(0);
  request.set_challenge_in_headers("Bearer error=\"insufficient_scope\", scope=\"admin\"");
  auto reader = h.stub().Listen(&ctx, request);
  test::EchoReply reply;
  EXPECT_FALSE(reader->Read(&reply));
  EXPECT_THAT(reader->Finish(), StatusIs(absl::StatusCode::kUnauthenticated));
  EXPECT_EQ(h.tokens().calls(), 0);
  EXPECT_EQ(h.echo().hits(), 1);
  absl::MutexLock lock(&mu);
  EXPECT_THAT(seen_challenges, ::testing::ElementsAre(HasSubstr("insufficient_scope")));
}

TEST(Replay, SkipTokenRefreshNeverWaitsNorRefreshesAndNeverSendsTheMark) {
  Harness h;
  h.authority().RevokeAccessTokens();
  const Token before = h.manager()->CurrentToken();
  for (const CallCase& c : testing::AllCallCases()) {
    CallPlan plan;
    plan.prepare = [](grpc::ClientContext* ctx) { SkipTokenRefresh(ctx); };
    Seen seen = RunCall(h.channel(), c, plan);
    EXPECT_THAT(seen.status, StatusIs(absl::StatusCode::kUnauthenticated))
        << testing::CaseName(c);
  }
  EXPECT_EQ(h.tokens().calls(), 0);
  EXPECT_EQ(h.echo().leaked_markers(), 0);
  EXPECT_EQ(h.echo().hits_with_authorization("Bearer " + before.access_token),
            h.echo().hits());
  // Unmarked calls on the same channel still refresh and replay.
  EXPECT_THAT(h.Say("unmarked"), IsOk());
  EXPECT_EQ(h.tokens().calls(), 1);
}

// A request over the replay buffer commits the call once it is sent: its
// rejection is not replayed, but it starts the refresh for the next call.
TEST(Replay, RequestOverTheReplayBufferIsNotReplayedAndTheNextCallWorks) {
  HarnessOptions o;
  o.interceptor.replay_buffer_bytes = 64 << 10;
  Harness h(o);
  h.authority().RevokeAccessTokens();
  test::EchoRequest big;
  big.set_padding(std::string(100 << 10, 'b'));
  grpc::ClientContext ctx;
  test::EchoReply reply;
  EXPECT_THAT(h.stub().Say(&ctx, big, &reply), StatusIs(absl::StatusCode::kUnauthenticated));
  EXPECT_EQ(h.echo().hits(), 1);
  EXPECT_EQ(h.manager()->Stats().calls_replayed, 0u);
  EXPECT_THAT(h.Say("small"), IsOk());
  EXPECT_EQ(h.echo().hits(), 2);
  EXPECT_EQ(h.tokens().calls(), 1);
  // Under the limit, the same channel replays.
  h.authority().RevokeAccessTokens();
  test::EchoRequest fits;
  fits.set_padding(std::string(60 << 10, 'f'));
  grpc::ClientContext ctx2;
  ASSERT_THAT(h.stub().Say(&ctx2, fits, &reply), IsOk());
  EXPECT_EQ(reply.request_padding_bytes(), 60 << 10);
  EXPECT_EQ(h.echo().hits(), 4);
  EXPECT_EQ(h.tokens().calls(), 2);
}

TEST(Replay, AuthorityAndDeadlineAreTheApplicationsOnTheReplay) {
  HarnessOptions o;
  o.servers.tokens_latency = absl::Milliseconds(300);  // a slow token service
  Harness h(o);
  h.authority().RevokeAccessTokens();
  grpc::ClientContext ctx;
  ctx.set_authority("api.example.test");
  const absl::Time deadline = absl::Now() + absl::Seconds(10);
  ctx.set_deadline(absl::ToChronoTime(deadline));
  test::EchoReply reply;
  ASSERT_THAT(h.stub().Say(&ctx, test::EchoRequest(), &reply), IsOk());
  EXPECT_EQ(reply.previous_attempts(), 1);  // this is the replay
  EXPECT_EQ(reply.authority(), "api.example.test");
  // The same deadline, not one restarted after the 300 ms refresh.
  EXPECT_THAT(std::abs(reply.deadline_unix_ms() - absl::ToUnixMillis(deadline)), Lt(100));
}

// wait_for_ready: a call waits for a server that is not up yet.
TEST(Replay, WaitForReadyWaitsForTheServer) {
  Harness h;  // only for its manager and token service
  const int port = testing::UnusedPort();
  InterceptorOptions allow;
  allow.allow_insecure_transport = true;
  auto channel = CreateAuthRefreshChannel(absl::StrCat("127.0.0.1:", port),
                                          grpc::InsecureChannelCredentials(),
                                          h.manager(), allow);
  // Without wait_for_ready, the call fails at once.
  {
    grpc::ClientContext ctx;
    test::EchoReply reply;
    EXPECT_THAT(test::Echo::NewStub(channel)->Say(&ctx, test::EchoRequest(), &reply),
                StatusIs(absl::StatusCode::kUnavailable));
  }
  ASSERT_EQ(channel->GetState(false), GRPC_CHANNEL_TRANSIENT_FAILURE);
  grpc::Status status;
  absl::Notification done;
  grpc::ClientContext ctx;
  ctx.set_wait_for_ready(true);
  ctx.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(20)));
  test::EchoRequest request;
  request.set_text("ready");
  test::EchoReply reply;
  auto stub = test::Echo::NewStub(channel);
  stub->async()->Say(&ctx, &request, &reply, [&](grpc::Status s) {
    status = std::move(s);
    done.Notify();
  });
  // The call is waiting (not failed) while nothing listens; now start one.
  EXPECT_FALSE(done.HasBeenNotified());
  testing::MockServers::Options late;
  late.port = port;
  late.authority = &h.authority();  // h's tokens are good there
  testing::MockServers server(late);
  done.WaitForNotification();
  EXPECT_THAT(status, IsOk());
  EXPECT_EQ(server.echo().hits(), 1);
}

// A callback server that sends its response headers at once and holds the
// response until told to send it.
class HeadersFirstServer final : public test::Echo::CallbackService {
 public:
  HeadersFirstServer() {
    grpc::ServerBuilder b;
    int port = 0;
    b.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port);
    b.RegisterService(this);
    server_ = b.BuildAndStart();
    address_ = absl::StrCat("127.0.0.1:", port);
  }
  ~HeadersFirstServer() override { server_->Shutdown(); }
  const std::string& address() const { return address_; }
  void Release() { release_.Notify(); }

  grpc::ServerUnaryReactor* Say(grpc::CallbackServerContext* ctx,
                                const test::EchoRequest*, test::EchoReply* reply) override {
    ctx->AddInitialMetadata("x-initial", "early");
    auto* reactor = ctx->DefaultReactor();
    reactor->StartSendInitialMetadata();
    std::thread([this, reactor, reply] {
      release_.WaitForNotification();
      reply->set_text("late");
      reactor->Finish(grpc::Status::OK);
    }).detach();
    return reactor;
  }

 private:
  absl::Notification release_;
  std::unique_ptr<grpc::Server> server_;
  std::string address_;
};

TEST(Replay, InitialMetadataArrivesWithTheHeadersNotWithTheResponse) {
  Harness h;
  HeadersFirstServer server;
  InterceptorOptions allow;
  allow.allow_insecure_transport = true;
  auto stub = test::Echo::NewStub(CreateAuthRefreshChannel(
      server.address(), grpc::InsecureChannelCredentials(), h.manager(), allow));
  grpc::ClientContext ctx;
  grpc::CompletionQueue cq;
  auto rpc = stub->PrepareAsyncSay(&ctx, test::EchoRequest(), &cq);
  rpc->StartCall();
  int headers_tag = 1, finish_tag = 2;
  rpc->ReadInitialMetadata(&headers_tag);
  void* got = nullptr;
  bool ok = false;
  ASSERT_TRUE(cq.Next(&got, &ok));
  // The headers arrived while the server still holds the response.
  ASSERT_EQ(got, &headers_tag);
  ASSERT_TRUE(ok);
  auto initial = ctx.GetServerInitialMetadata().find("x-initial");
  ASSERT_NE(initial, ctx.GetServerInitialMetadata().end());
  EXPECT_EQ(std::string(initial->second.data(), initial->second.size()), "early");
  server.Release();
  test::EchoReply reply;
  grpc::Status status;
  rpc->Finish(&reply, &status, &finish_tag);
  ASSERT_TRUE(cq.Next(&got, &ok));
  EXPECT_EQ(got, &finish_tag);
  EXPECT_THAT(status, IsOk());
  EXPECT_EQ(reply.text(), "late");
  cq.Shutdown();
}

// Cancelled at random points (before sending, while the first attempt is
// rejected, while waiting for the refresh, during the replay): every call
// ends exactly once, OK or CANCELLED, never with the rejection.
TEST(Replay, CancellationAtAnyPointEndsCancelledExactlyOnce) {
  HarnessOptions o;
  o.servers.tokens_latency = absl::Milliseconds(2);
  Harness h(o);
  constexpr int kRounds = 6, kCalls = 50;
  std::mt19937 random(20261130);
  int ok = 0, cancelled = 0;
  for (int round = 0; round < kRounds; ++round) {
    h.authority().RevokeAccessTokens();
    std::vector<std::unique_ptr<grpc::ClientContext>> contexts(kCalls);
    std::vector<test::EchoRequest> requests(kCalls);
    std::vector<test::EchoReply> replies(kCalls);
    std::vector<grpc::Status> statuses(kCalls);
    std::vector<std::atomic<int>> ends(kCalls);
    absl::BlockingCounter done(kCalls);
    for (int i = 0; i < kCalls; ++i) {
      contexts[i] = std::make_unique<grpc::ClientContext>();
      h.stub().async()->Say(contexts[i].get(), &requests[i], &replies[i],
                            [&, i](grpc::Status s) {
                              statuses[i] = std::move(s);
                              ++ends[i];
                              done.DecrementCount();
                            });
    }
    // Cancel a random half, in a random order, from another thread, as
    // their attempts and the refresh run.
    std::vector<int> order(kCalls);
    for (int i = 0; i < kCalls; ++i) order[i] = i;
    std::shuffle(order.begin(), order.end(), random);
    std::vector<bool> cancel(kCalls, false);
    for (int k = 0; k < kCalls / 2; ++k) cancel[order[k]] = true;
    std::thread canceller([&] {
      for (int k = 0; k < kCalls / 2; ++k) contexts[order[k]]->TryCancel();
    });
    canceller.join();
    done.Wait();
    for (int i = 0; i < kCalls; ++i) {
      EXPECT_EQ(ends[i].load(), 1);
      if (statuses[i].ok()) {
        ++ok;
      } else {
        // Only a cancelled call may fail, and only as CANCELLED (a call that
        // finished before its cancel arrived is OK).
        EXPECT_TRUE(cancel[i]) << statuses[i].error_message();
        EXPECT_EQ(statuses[i].error_code(), grpc::StatusCode::CANCELLED)
            << statuses[i].error_message();
        ++cancelled;
      }
    }
  }
  EXPECT_EQ(ok + cancelled, kRounds * kCalls);
  EXPECT_GT(cancelled, 0);
  EXPECT_LE(h.echo().max_attempt(), 2);
  EXPECT_EQ(h.authority().reuse_detected(), 0);
}

TEST(Replay, CallWaitingForTheRefreshIsCancelledPromptly) {
  Harness h;
  h.tokens().Hold();
  h.authority().RevokeAccessTokens();
  grpc::ClientContext ctx;
  absl::Notification done;
  grpc::Status status;
  test::EchoRequest request;
  test::EchoReply reply;
  h.stub().async()->Say(&ctx, &request, &reply, [&](grpc::Status s) {
    status = std::move(s);
    done.Notify();
  });
  h.tokens().AwaitHeld(1);  // the replay now waits for this refresh
  ctx.TryCancel();
  done.WaitForNotification();
  EXPECT_THAT(status, StatusIs(absl::StatusCode::kCancelled));
  EXPECT_EQ(h.echo().hits(), 1);
  h.tokens().Release();
}

}  // namespace
}  // namespace authrefresh
