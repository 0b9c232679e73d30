// End to end: unary calls through authrefresh against mock servers on
// 127.0.0.1. Every API shape is replayed after the server revokes the token,
// and counts are exact.

#include <memory>
#include <string>

#include "absl/synchronization/notification.h"
#include "gmock/gmock.h"
#include "grpcpp/generic/generic_stub.h"
#include "gtest/gtest.h"
#include "tests/testing/harness.h"
#include "tests/testing/status_matchers.h"

namespace authrefresh {
namespace {

using ::testing::HasSubstr;
using testing::Harness;
using testing::HarnessOptions;
using testing::IsOk;
using testing::StatusIs;

std::string Trailing(const grpc::ClientContext& ctx, const std::string& key) {
  auto it = ctx.GetServerTrailingMetadata().find(key);
  if (it == ctx.GetServerTrailingMetadata().end()) return "<none>";
  return std::string(it->second.data(), it->second.size());
}

std::string Initial(const grpc::ClientContext& ctx, const std::string& key) {
  auto it = ctx.GetServerInitialMetadata().find(key);
  if (it == ctx.GetServerInitialMetadata().end()) return "<none>";
  return std::string(it->second.data(), it->second.size());
}

// What every shape must show after a replay: the replay's response, its
// initial and trailing metadata, and exact counts.
void ExpectReplayed(Harness& h, const grpc::Status& status,
                    const grpc::ClientContext& ctx,
                    const test::EchoReply& reply) {
  ASSERT_THAT(status, IsOk());
  EXPECT_EQ(reply.text(), "hello|x-app=from-app");
  EXPECT_EQ(reply.authorization(), h.CurrentFingerprint());
  EXPECT_EQ(Initial(ctx, "x-initial"), "hello");
  EXPECT_EQ(Trailing(ctx, "x-attempt"), "2");       // the replay's trailers
  EXPECT_EQ(Trailing(ctx, "x-deadline-set"), "yes");  // deadline carried
  EXPECT_EQ(h.echo().hits(), 2);
  EXPECT_EQ(h.echo().rejected(), 1);
  EXPECT_EQ(h.tokens().calls(), 1);
  TokenManagerStats stats = h.manager()->Stats();
  EXPECT_EQ(stats.refreshes_started, 1u);
  EXPECT_EQ(stats.calls_replayed, 1u);
}

void Prepare(grpc::ClientContext& ctx, test::EchoRequest& request) {
  ctx.AddMetadata("x-app", "from-app");
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
  request.set_text("hello");
}

TEST(UnaryReplay, AttachesTheBearerTokenWithoutRefreshing) {
  Harness h;
  test::EchoReply reply;
  ASSERT_THAT(h.Say("hi", &reply), IsOk());
  EXPECT_EQ(reply.authorization(), h.CurrentFingerprint());
  EXPECT_EQ(h.echo().hits(), 1);
  EXPECT_EQ(h.tokens().calls(), 0);
  EXPECT_EQ(h.manager()->Stats().calls_replayed, 0u);
}

TEST(UnaryReplay, SyncCallIsReplayedAfterRevocation) {
  Harness h;
  h.authority().RevokeAccessTokens();
  grpc::ClientContext ctx;
  test::EchoRequest request;
  test::EchoReply reply;
  Prepare(ctx, request);
  grpc::Status s = h.stub().Say(&ctx, request, &reply);
  ExpectReplayed(h, s, ctx, reply);
}

TEST(UnaryReplay, CallbackCallIsReplayedAfterRevocation) {
  Harness h;
  h.authority().RevokeAccessTokens();
  grpc::ClientContext ctx;
  test::EchoRequest request;
  test::EchoReply reply;
  Prepare(ctx, request);
  grpc::Status status;
  absl::Notification done;
  h.stub().async()->Say(&ctx, &request, &reply, [&](grpc::Status s) {
    status = std::move(s);
    done.Notify();
  });
  done.WaitForNotification();
  ExpectReplayed(h, status, ctx, reply);
}

class Reactor final : public grpc::ClientUnaryReactor {
 public:
  void OnReadInitialMetadataDone(bool ok) override { saw_initial_metadata = ok; }
  void OnDone(const grpc::Status& s) override {
    status = s;
    done.Notify();
  }
  bool saw_initial_metadata = false;
  grpc::Status status;
  absl::Notification done;
};

TEST(UnaryReplay, ReactorCallIsReplayedAfterRevocation) {
  Harness h;
  h.authority().RevokeAccessTokens();
  grpc::ClientContext ctx;
  test::EchoRequest request;
  test::EchoReply reply;
  Prepare(ctx, request);
  Reactor reactor;
  h.stub().async()->Say(&ctx, &request, &reply, &reactor);
  reactor.StartCall();
  reactor.done.WaitForNotification();
  EXPECT_TRUE(reactor.saw_initial_metadata);
  ExpectReplayed(h, reactor.status, ctx, reply);
}

void AsyncCall(Harness& h, bool read_initial_metadata) {
  h.authority().RevokeAccessTokens();
  grpc::CompletionQueue cq;
  grpc::ClientContext ctx;
  test::EchoRequest request;
  test::EchoReply reply;
  Prepare(ctx, request);
  grpc::Status status;
  auto rpc = h.stub().AsyncSay(&ctx, request, &cq);
  void* tag;
  bool ok;
  if (read_initial_metadata) {
    rpc->ReadInitialMetadata(reinterpret_cast<void*>(1));
    ASSERT_TRUE(cq.Next(&tag, &ok));
    EXPECT_EQ(tag, reinterpret_cast<void*>(1));
    EXPECT_TRUE(ok);
    EXPECT_EQ(Initial(ctx, "x-initial"), "hello");  // already the replay's
  }
  rpc->Finish(&reply, &status, reinterpret_cast<void*>(2));
  ASSERT_TRUE(cq.Next(&tag, &ok));
  EXPECT_EQ(tag, reinterpret_cast<void*>(2));
  EXPECT_TRUE(ok);
  ExpectReplayed(h, status, ctx, reply);
  cq.Shutdown();
  while (cq.Next(&tag, &ok)) {
  }
}

TEST(UnaryReplay, AsyncCompletionQueueCallIsReplayed) {
  Harness h;
  AsyncCall(h, /*read_initial_metadata=*/false);
}

TEST(UnaryReplay, AsyncCompletionQueueCallWithReadInitialMetadataIsReplayed) {
  Harness h;
  AsyncCall(h, /*read_initial_metadata=*/true);
}

TEST(UnaryReplay, ThousandConcurrentRejectionsShareOneRefresh) {
  Harness h;
  ASSERT_THAT(h.Say("warm up"), IsOk());  // connection up, hit 1
  h.authority().RevokeAccessTokens();
  constexpr int kCalls = 1000;
  std::vector<Harness::Outcome> outcomes = h.Storm(kCalls);
  int ok = 0;
  for (const auto& o : outcomes) ok += o.status.ok() ? 1 : 0;
  EXPECT_EQ(ok, kCalls);
  const TokenManagerStats stats = h.manager()->Stats();
  EXPECT_EQ(stats.refreshes_started, 1u);
  EXPECT_EQ(h.tokens().calls(), 1);
  EXPECT_EQ(h.authority().reuse_detected(), 0);
  // Every rejected call was replayed exactly once and nothing else was.
  const int storm_hits = h.echo().hits() - 1;
  EXPECT_EQ(h.echo().rejected(), static_cast<int>(stats.calls_replayed));
  EXPECT_EQ(storm_hits, kCalls + static_cast<int>(stats.calls_replayed));
  EXPECT_LE(storm_hits, 2 * kCalls);
  EXPECT_GT(stats.calls_replayed, 0u);
}

TEST(UnaryReplay, RejectedReplayReachesTheAppAfterExactlyTwoAttempts) {
  Harness h;
  h.echo().RejectAll(true);
  grpc::Status s = h.Say("x");
  EXPECT_THAT(s, StatusIs(absl::StatusCode::kUnauthenticated, "invalid_token"));
  EXPECT_EQ(h.echo().hits(), 2);
  EXPECT_EQ(h.tokens().calls(), 1);
  EXPECT_EQ(h.manager()->Stats().calls_replayed, 1u);
}

TEST(UnaryReplay, ServerThatRejectsEveryTokenGetsAtMostTwoAttemptsPerCall) {
  HarnessOptions options;
  // One burst inside one loop-protection interval, however slow the machine
  // (sanitizers, valgrind).
  options.manager.min_refresh_interval = absl::Minutes(1);
  Harness h(options);
  h.echo().RejectAll(true);
  constexpr int kCalls = 100;
  std::vector<Harness::Outcome> outcomes = h.Storm(kCalls);
  for (const auto& o : outcomes) {
    EXPECT_THAT(o.status, StatusIs(absl::StatusCode::kUnauthenticated));
  }
  EXPECT_LE(h.echo().hits(), 2 * kCalls);
  EXPECT_EQ(h.tokens().calls(), 1);  // one refresh for the burst
  EXPECT_EQ(h.authority().reuse_detected(), 0);
}

TEST(UnaryReplay, OtherErrorsAreNeitherReplayedNorRefreshed) {
  Harness h;
  h.echo().AnswerWith(grpc::Status(grpc::StatusCode::PERMISSION_DENIED,
                                   "insufficient_scope"));
  EXPECT_THAT(h.Say("x"), StatusIs(absl::StatusCode::kPermissionDenied));
  EXPECT_EQ(h.echo().hits(), 1);
  EXPECT_EQ(h.tokens().calls(), 0);
}

TEST(UnaryReplay, GenericStubCallsPassThroughUntouched) {
  Harness h;
  grpc::GenericStub generic(h.channel());
  grpc::ClientContext ctx;
  grpc::Slice bytes("raw bytes");
  grpc::ByteBuffer request(&bytes, 1), response;
  grpc::Status status;
  absl::Notification done;
  generic.UnaryCall(&ctx, "/authrefresh.test.Raw/Bytes", grpc::StubOptions(),
                    &request, &response, [&](grpc::Status s) {
                      status = std::move(s);
                      done.Notify();
                    });
  done.WaitForNotification();
  // No such method on the server: its own answer, not a crash or a replay.
  EXPECT_THAT(status, StatusIs(absl::StatusCode::kUnimplemented));
  EXPECT_EQ(h.tokens().calls(), 0);
}

TEST(UnaryReplay, TokenServiceCallsAreNeverIntercepted) {
  Harness h;
  auto stub = v1::TokenService::NewStub(h.channel());
  grpc::ClientContext ctx;
  v1::RefreshRequest request;
  request.set_refresh_token(h.manager()->CurrentToken().refresh_token);
  v1::TokenResponse response;
  ASSERT_THAT(stub->Refresh(&ctx, request, &response), IsOk());
  EXPECT_EQ(h.tokens().calls_with_authorization(), 0);
}

TEST(UnaryReplay, ExcludedMethodsCarryNoTokenAndAreNotReplayed) {
  HarnessOptions options;
  options.interceptor.excluded_methods = {"/authrefresh.test.Echo/Say"};
  Harness h(options);
  EXPECT_THAT(h.Say("x"), StatusIs(absl::StatusCode::kUnauthenticated));
  EXPECT_EQ(h.echo().hits(), 1);
  EXPECT_EQ(h.tokens().calls(), 0);
}

TEST(UnaryReplay, WholeServicesCanBeExcluded) {
  HarnessOptions options;
  options.interceptor.excluded_methods = {"authrefresh.test.Echo/*"};
  Harness h(options);
  EXPECT_THAT(h.Say("x"), StatusIs(absl::StatusCode::kUnauthenticated));
  EXPECT_EQ(h.tokens().calls(), 0);
}

}  // namespace
}  // namespace authrefresh
