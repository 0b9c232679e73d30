// End to end: what happens when refreshes fail, when calls wait past their
// deadline or are cancelled, over TLS and over insecure channels, and for
// streaming calls.

#include <memory>
#include <string>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "gmock/gmock.h"
#include "grpcpp/create_channel.h"
#include "gtest/gtest.h"
#include "tests/testing/fake_clock.h"
#include "tests/testing/harness.h"
#include "tests/testing/status_matchers.h"

namespace authrefresh {
namespace {

using ::testing::HasSubstr;
using testing::Harness;
using testing::HarnessOptions;
using testing::IsOk;
using testing::StatusIs;

class Counter {
 public:
  void Add(const absl::Status& s) {
    absl::MutexLock lock(&mu_);
    statuses_.push_back(s);
  }
  int count() {
    absl::MutexLock lock(&mu_);
    return static_cast<int>(statuses_.size());
  }

 private:
  absl::Mutex mu_;
  std::vector<absl::Status> statuses_ ABSL_GUARDED_BY(mu_);
};

TEST(RefreshFailure, DeadRefreshTokenEndsTheSessionOnceAndFailsFast) {
  auto expired = std::make_shared<Counter>();
  HarnessOptions options;
  options.manager.on_session_expired = [expired](const absl::Status& s) {
    expired->Add(s);
  };
  Harness h(options);
  h.authority().RevokeRefreshTokens();
  h.authority().RevokeAccessTokens();

  std::vector<Harness::Outcome> outcomes = h.Storm(16);
  for (const auto& o : outcomes) {
    EXPECT_THAT(o.status, StatusIs(absl::StatusCode::kUnauthenticated,
                                   ::testing::AllOf(HasSubstr("session expired"),
                                                    HasSubstr("invalid_grant"))));
  }
  EXPECT_EQ(expired->count(), 1);
  EXPECT_EQ(h.tokens().calls(), 1);
  const int hits = h.echo().hits();
  EXPECT_LE(hits, 16);  // no replays

  // Later calls fail at once: no server hit, no token service call.
  EXPECT_THAT(h.Say("later"), StatusIs(absl::StatusCode::kUnauthenticated,
                                       HasSubstr("session expired")));
  EXPECT_EQ(h.echo().hits(), hits);
  EXPECT_EQ(h.tokens().calls(), 1);
  EXPECT_EQ(expired->count(), 1);

  // A new login revives the channel.
  h.manager()->SetToken(h.authority().Login());
  EXPECT_THAT(h.Say("after login"), IsOk());
}

// A ClientContext holds its channel while its call is in flight, so the
// channel, its interceptor factory and the TokenManager outlive the
// application's references until every waiting call is complete.
TEST(Waiting, DroppingTheClientWhileCallsWaitLosesNoCall) {
  auto h = std::make_unique<Harness>();
  h->tokens().Hold();
  Token expired = h->manager()->CurrentToken();
  expired.expires_at = absl::Now() - absl::Seconds(1);
  h->manager()->SetToken(expired);  // every call must wait for the refresh
  constexpr int kCalls = 16;
  std::vector<std::unique_ptr<grpc::ClientContext>> contexts(kCalls);
  std::vector<test::EchoRequest> requests(kCalls);
  std::vector<test::EchoReply> replies(kCalls);
  std::vector<grpc::Status> statuses(kCalls);
  absl::BlockingCounter done(kCalls);
  for (int i = 0; i < kCalls; ++i) {
    contexts[i] = std::make_unique<grpc::ClientContext>();
    h->stub().async()->Say(contexts[i].get(), &requests[i], &replies[i],
                           [&, i](grpc::Status s) {
                             statuses[i] = std::move(s);
                             done.DecrementCount();
                           });
  }
  h->tokens().AwaitHeld(1);
  std::weak_ptr<TokenManager> manager = h->manager();
  h->DropClient();
  EXPECT_FALSE(manager.expired());  // the waiting calls keep it
  h->tokens().Release();
  done.Wait();
  for (const auto& s : statuses) EXPECT_THAT(s, IsOk());
  EXPECT_EQ(h->tokens().calls(), 1);
  EXPECT_EQ(h->echo().hits(), kCalls);  // the expired token was never sent
  EXPECT_EQ(h->echo().rejected(), 0);
  // LeakSanitizer (--config=asan) checks that everything is freed after.
}

TEST(Transport, WorksOverTls) {
  HarnessOptions options;
  options.servers.tls = true;
  options.interceptor.allow_insecure_transport = false;
  Harness h(options);
  ASSERT_THAT(h.Say("tls"), IsOk());
  h.authority().RevokeAccessTokens();
  test::EchoReply reply;
  ASSERT_THAT(h.Say("tls again", &reply), IsOk());
  EXPECT_EQ(reply.authorization(), h.CurrentFingerprint());
  EXPECT_EQ(h.manager()->Stats().calls_replayed, 1u);
}

// A server stream on an insecure channel ends before anything is sent.
void ExpectStreamRefused(test::Echo::Stub& stub) {
  grpc::ClientContext ctx;
  test::EchoRequest request;
  request.set_count(3);
  auto reader = stub.Listen(&ctx, request);
  test::EchoReply reply;
  EXPECT_FALSE(reader->Read(&reply));
  EXPECT_THAT(reader->Finish(), StatusIs(absl::StatusCode::kUnauthenticated,
                                         HasSubstr("transport security")));
}

TEST(Transport, InsecureChannelIsRefusedByDefault) {
  HarnessOptions options;
  options.interceptor.allow_insecure_transport = false;
  Harness h(options);
  EXPECT_THAT(h.Say("x"), StatusIs(absl::StatusCode::kUnauthenticated,
                                   HasSubstr("transport security")));
  ExpectStreamRefused(h.stub());
  EXPECT_EQ(h.echo().hits(), 0);
  EXPECT_EQ(h.tokens().calls(), 0);
}

// A channel built by hand from MakeAuthRefreshChannelSetup has the same
// gate: gRPC itself refuses the token's credentials on an insecure channel.
TEST(Transport, HandBuiltInsecureChannelRefusesWithoutSendingAnything) {
  Harness h;
  absl::StatusOr<AuthRefreshChannelSetup> setup = MakeAuthRefreshChannelSetup(h.manager());
  ASSERT_THAT(setup.status(), IsOk());
  std::vector<std::unique_ptr<grpc::experimental::ClientInterceptorFactoryInterface>>
      factories;
  factories.push_back(std::move(setup->interceptor));
  auto channel = grpc::experimental::CreateCustomChannelWithInterceptors(
      h.servers().address(), grpc::InsecureChannelCredentials(), setup->args,
      std::move(factories));
  auto stub = test::Echo::NewStub(channel);
  {
    grpc::ClientContext ctx;
    test::EchoReply reply;
    EXPECT_THAT(stub->Say(&ctx, test::EchoRequest(), &reply),
                StatusIs(absl::StatusCode::kUnauthenticated,
                         HasSubstr("transport security")));
  }
  ExpectStreamRefused(*stub);
  EXPECT_EQ(h.echo().hits(), 0);
  EXPECT_EQ(h.tokens().calls(), 0);
}

// An UNAUTHENTICATED that gRPC's client makes itself (here: an authority
// the server's certificate does not cover) is not a server's rejection,
// and reaches the application as gRPC made it. gRPC's retry sends such a
// call a second time, and the credentials cannot tell that attempt from a
// replay after a rejection: it costs at most one refresh per
// min_refresh_interval, however many such calls fail.
TEST(Transport, ClientGeneratedUnauthenticatedCostsAtMostOneRefreshPerInterval) {
  auto clock = std::make_shared<testing::FakeClock>();
  HarnessOptions options;
  options.servers.tls = true;
  options.interceptor.allow_insecure_transport = false;
  options.manager.clock = clock;
  Harness h(options);
  for (int i = 0; i < 20; ++i) {
    grpc::ClientContext ctx;
    ctx.set_authority("not-the-certificate.example");
    test::EchoReply reply;
    EXPECT_THAT(h.stub().Say(&ctx, test::EchoRequest(), &reply),
                StatusIs(absl::StatusCode::kUnauthenticated,
                         HasSubstr("call host does not match")));
    // Other calls keep working and have their tokens accepted.
    EXPECT_THAT(h.Say("meanwhile"), IsOk());
  }
  EXPECT_LE(h.tokens().calls(), 1);
  EXPECT_EQ(h.echo().hits(), 20);  // only the good calls reached the server
  EXPECT_EQ(h.echo().rejected(), 0);
}

// The rejection policy decides which final answers start a refresh. It
// cannot stop gRPC's replay of an UNAUTHENTICATED (which happens before the
// answer can be read), but a policy that declines it stops the refresh.
TEST(Policy, RejectionPredicateDecidesWhatRefreshes) {
  HarnessOptions options;
  options.interceptor.is_rejection = [](const ServerAnswer& answer) {
    return answer.status.error_code() == grpc::StatusCode::PERMISSION_DENIED;
  };
  Harness h(options);
  h.echo().AnswerWith(grpc::Status(grpc::StatusCode::PERMISSION_DENIED, "stale grants"));
  EXPECT_THAT(h.Say("x"), StatusIs(absl::StatusCode::kPermissionDenied));
  EXPECT_EQ(h.echo().hits(), 1);  // gRPC replays only UNAUTHENTICATED
  h.tokens().AwaitCalls(1);       // but the answer started the refresh
  h.echo().AnswerWith(std::nullopt);
  test::EchoReply reply;
  EXPECT_THAT(h.Say("next", &reply), IsOk());
  EXPECT_EQ(reply.authorization(), h.CurrentFingerprint());
  EXPECT_EQ(h.tokens().calls(), 1);
}

}  // namespace
}  // namespace authrefresh
