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

class AddMetadata final : public grpc::MetadataCredentialsPlugin {
 public:
  bool IsBlocking() const override { return false; }
  grpc::Status GetMetadata(grpc::string_ref, grpc::string_ref,
                           const grpc::AuthContext&,
                           std::multimap<std::string, std::string>* md) override {
    md->emplace("x-app", "from-call-credentials");
    return grpc::Status::OK;
  }
};

TEST(Transport, ReplayKeepsTheCallsOwnCallCredentials) {
  HarnessOptions options;
  options.servers.tls = true;
  options.interceptor.allow_insecure_transport = false;
  Harness h(options);
  h.authority().RevokeAccessTokens();
  grpc::ClientContext ctx;
  ctx.set_credentials(grpc::MetadataCredentialsFromPlugin(std::make_unique<AddMetadata>()));
  test::EchoRequest request;
  request.set_text("c");
  test::EchoReply reply;
  ASSERT_THAT(h.stub().Say(&ctx, request, &reply), IsOk());
  EXPECT_EQ(reply.text(), "c|x-app=from-call-credentials");
  EXPECT_EQ(h.echo().hits(), 2);
}

// A server stream on an insecure channel ends before anything is sent.
void ExpectStreamRefused(test::Echo::Stub& stub) {
  grpc::ClientContext ctx;
  test::EchoRequest request;
  request.set_count(3);
  auto reader = stub.Listen(&ctx, request);
  test::EchoReply reply;
  EXPECT_FALSE(reader->Read(&reply));
  EXPECT_THAT(reader->Finish(), StatusIs(absl::StatusCode::kFailedPrecondition,
                                         HasSubstr("transport security")));
}

TEST(Transport, InsecureChannelIsRefusedByDefault) {
  HarnessOptions options;
  options.interceptor.allow_insecure_transport = false;
  Harness h(options);
  EXPECT_THAT(h.Say("x"), StatusIs(absl::StatusCode::kFailedPrecondition,
                                   HasSubstr("transport security")));
  ExpectStreamRefused(h.stub());
  EXPECT_EQ(h.echo().hits(), 0);
  EXPECT_EQ(h.tokens().calls(), 0);
}

TEST(Transport, FactoryOnAnInsecureChannelRefusesWithoutSendingAnything) {
  Harness h;
  std::vector<std::unique_ptr<grpc::experimental::ClientInterceptorFactoryInterface>>
      factories;
  factories.push_back(MakeAuthRefreshInterceptorFactory(h.manager()));
  auto channel = grpc::experimental::CreateCustomChannelWithInterceptors(
      h.servers().address(), grpc::InsecureChannelCredentials(),
      grpc::ChannelArguments(), std::move(factories));
  auto stub = test::Echo::NewStub(channel);
  {
    grpc::ClientContext ctx;
    test::EchoReply reply;
    EXPECT_THAT(stub->Say(&ctx, test::EchoRequest(), &reply),
                StatusIs(absl::StatusCode::kFailedPrecondition,
                         HasSubstr("transport security")));
  }
  ExpectStreamRefused(*stub);
  EXPECT_EQ(h.echo().hits(), 0);
  EXPECT_EQ(h.tokens().calls(), 0);
}

TEST(Transport, FactoryOverTlsWorks) {
  HarnessOptions options;
  options.servers.tls = true;
  Harness h(options);
  std::vector<std::unique_ptr<grpc::experimental::ClientInterceptorFactoryInterface>>
      factories;
  factories.push_back(MakeAuthRefreshInterceptorFactory(h.manager()));
  auto channel = grpc::experimental::CreateCustomChannelWithInterceptors(
      h.servers().address(), h.ChannelCredentials(), grpc::ChannelArguments(),
      std::move(factories));
  auto stub = test::Echo::NewStub(channel);
  h.authority().RevokeAccessTokens();
  grpc::ClientContext ctx;
  test::EchoReply reply;
  ASSERT_THAT(stub->Say(&ctx, test::EchoRequest(), &reply), IsOk());
  EXPECT_EQ(h.echo().hits(), 2);
  EXPECT_EQ(h.tokens().calls(), 1);
}

TEST(Transport, ClientGeneratedUnauthenticatedNeverStartsARefresh) {
  Harness h;  // insecure, allowed for authrefresh's own token
  grpc::ClientContext ctx;
  // gRPC refuses per-call credentials on an insecure channel itself.
  ctx.set_credentials(grpc::AccessTokenCredentials("app-token"));
  test::EchoReply reply;
  EXPECT_THAT(h.stub().Say(&ctx, test::EchoRequest(), &reply),
              StatusIs(absl::StatusCode::kUnauthenticated));
  EXPECT_EQ(h.tokens().calls(), 0);
  EXPECT_EQ(h.echo().hits(), 0);
  EXPECT_EQ(h.manager()->Stats().calls_replayed, 0u);
}

TEST(Policy, SkipTokenRefreshPassesTheRejectionOnAndNeverSendsTheMark) {
  Harness h;
  h.authority().RevokeAccessTokens();
  {
    grpc::ClientContext ctx;
    SkipTokenRefresh(&ctx);
    test::EchoReply reply;
    EXPECT_THAT(h.stub().Say(&ctx, test::EchoRequest(), &reply),
                StatusIs(absl::StatusCode::kUnauthenticated, "invalid_token"));
  }
  {
    grpc::ClientContext ctx;
    SkipTokenRefresh(&ctx);
    auto reader = h.stub().Listen(&ctx, test::EchoRequest());
    test::EchoReply reply;
    EXPECT_FALSE(reader->Read(&reply));
    EXPECT_THAT(reader->Finish(), StatusIs(absl::StatusCode::kUnauthenticated));
  }
  EXPECT_EQ(h.echo().hits(), 2);  // no replay
  EXPECT_EQ(h.tokens().calls(), 0);  // no refresh
  EXPECT_EQ(h.echo().leaked_markers(), 0);
  // Unmarked calls on the same channel still refresh and replay.
  EXPECT_THAT(h.Say("unmarked"), IsOk());
  EXPECT_EQ(h.tokens().calls(), 1);
}

TEST(Policy, RejectionPredicateDecidesWhatRefreshes) {
  HarnessOptions options;
  options.interceptor.is_rejection = [](const grpc::Status& s, const auto&) {
    return s.error_code() == grpc::StatusCode::PERMISSION_DENIED;
  };
  Harness h(options);
  h.echo().AnswerWith(grpc::Status(grpc::StatusCode::PERMISSION_DENIED, "stale grants"));
  EXPECT_THAT(h.Say("x"), StatusIs(absl::StatusCode::kPermissionDenied));
  EXPECT_EQ(h.echo().hits(), 2);  // replayed once
  EXPECT_EQ(h.tokens().calls(), 1);
  h.echo().AnswerWith(std::nullopt);
  h.authority().RevokeAccessTokens();
  // UNAUTHENTICATED is no longer a rejection for this channel.
  EXPECT_THAT(h.Say("y"), StatusIs(absl::StatusCode::kUnauthenticated));
  EXPECT_EQ(h.tokens().calls(), 1);
}

TEST(Streams, ServerStreamCarriesTheToken) {
  Harness h;
  grpc::ClientContext ctx;
  test::EchoRequest request;
  request.set_text("s");
  request.set_count(5);
  auto reader = h.stub().Listen(&ctx, request);
  test::EchoReply reply;
  int n = 0;
  while (reader->Read(&reply)) {
    EXPECT_EQ(reply.index(), n++);
    EXPECT_EQ(reply.authorization(), h.CurrentFingerprint());
  }
  EXPECT_THAT(reader->Finish(), IsOk());
  EXPECT_EQ(n, 5);
}

TEST(Streams, ClientStreamAndBidiCarryTheToken) {
  Harness h;
  {
    grpc::ClientContext ctx;
    test::EchoReply reply;
    auto writer = h.stub().Collect(&ctx, &reply);
    for (int i = 0; i < 4; ++i) ASSERT_TRUE(writer->Write(test::EchoRequest()));
    writer->WritesDone();
    ASSERT_THAT(writer->Finish(), IsOk());
    EXPECT_EQ(reply.index(), 4);
    EXPECT_EQ(reply.authorization(), h.CurrentFingerprint());
  }
  {
    grpc::ClientContext ctx;
    auto stream = h.stub().Chat(&ctx);
    test::EchoRequest request;
    request.set_text("b");
    ASSERT_TRUE(stream->Write(request));
    test::EchoReply reply;
    ASSERT_TRUE(stream->Read(&reply));
    EXPECT_EQ(reply.authorization(), h.CurrentFingerprint());
    stream->WritesDone();
    EXPECT_THAT(stream->Finish(), IsOk());
  }
  EXPECT_EQ(h.tokens().calls(), 0);
}

TEST(Streams, ExpiredTokenMakesAStreamWaitForTheRefresh) {
  Harness h;
  Token expired = h.manager()->CurrentToken();
  expired.expires_at = absl::Now() - absl::Seconds(1);
  h.manager()->SetToken(expired);
  grpc::ClientContext ctx;
  test::EchoRequest request;
  request.set_count(2);
  auto reader = h.stub().Listen(&ctx, request);
  test::EchoReply reply;
  int n = 0;
  while (reader->Read(&reply)) ++n;
  EXPECT_THAT(reader->Finish(), IsOk());
  EXPECT_EQ(n, 2);
  EXPECT_EQ(h.tokens().calls(), 1);
  EXPECT_EQ(h.echo().rejected(), 0);  // the expired token was never sent
}

}  // namespace
}  // namespace authrefresh
