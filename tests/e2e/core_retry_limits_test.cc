// End to end: what replaying inside gRPC core cannot do, handled rather than
// hidden — transparent retries, an application's own service config and
// call credentials, compression — checked on the wire where it matters.

#include <memory>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "grpc/compression.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/security/credentials.h"
#include "gtest/gtest.h"
#include "tests/testing/call_shapes.h"
#include "tests/testing/counting_proxy.h"
#include "tests/testing/fake_clock.h"
#include "tests/testing/harness.h"
#include "tests/testing/node_process.h"
#include "tests/testing/status_matchers.h"

namespace authrefresh {
namespace {

using ::testing::HasSubstr;
using ::testing::Lt;
using ::testing::Gt;
using testing::Harness;
using testing::HarnessOptions;
using testing::IsOk;
using testing::StatusIs;

InterceptorOptions Loopback() {
  InterceptorOptions o;
  o.allow_insecure_transport = true;
  return o;
}

// A stream the server never saw (GOAWAY with a lower last-stream-id) is
// retried by gRPC transparently; the credentials run again and cannot tell
// it from a rejection, so it costs one refresh, which single flight shares.
TEST(CoreLimits, TransparentRetryCostsAtMostOneRefresh) {
  Harness h;
  auto front = testing::NodeProcess::Start(
      "tests/h2_server/goaway_once.js",
      {absl::StrCat("--target=", h.servers().port())});
  ASSERT_NE(front, nullptr);
  auto stub = test::Echo::NewStub(CreateAuthRefreshChannel(
      absl::StrCat("127.0.0.1:", front->port()), grpc::InsecureChannelCredentials(),
      h.manager(), Loopback()));
  grpc::ClientContext ctx;
  ctx.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(20)));
  test::EchoReply reply;
  ASSERT_THAT(stub->Say(&ctx, test::EchoRequest(), &reply), IsOk());
  const auto stats = front->Command("stats").fields();
  EXPECT_EQ(stats.at("goaways").number_value(), 1);
  EXPECT_EQ(stats.at("connections").number_value(), 2);
  EXPECT_EQ(h.echo().hits(), 1);  // the server saw the call once
  EXPECT_EQ(h.manager()->Stats().calls_replayed, 1u);  // the credentials ran twice
  EXPECT_LE(h.tokens().calls(), 1);
  // Later calls are not affected.
  for (int i = 0; i < 5; ++i) {
    grpc::ClientContext c;
    ASSERT_THAT(stub->Say(&c, test::EchoRequest(), &reply), IsOk());
  }
  EXPECT_LE(h.tokens().calls(), 1);
  EXPECT_EQ(h.echo().hits(), 6);
  EXPECT_EQ(h.authority().reuse_detected(), 0);
}

constexpr char kAppConfig[] = R"({
  "methodConfig": [{
    "name": [{"service": "authrefresh.test.Echo"}],
    "timeout": "30s",
    "retryPolicy": {
      "maxAttempts": 3,
      "initialBackoff": "0.01s",
      "maxBackoff": "0.01s",
      "backoffMultiplier": 1,
      "retryableStatusCodes": ["UNAVAILABLE"]
    }
  }]
})";

// The application's service config keeps its settings, and the replay is
// merged into its retry policy.
TEST(CoreLimits, ApplicationServiceConfigKeepsItsSettingsAndGainsTheReplay) {
  auto clock = std::make_shared<testing::FakeClock>();
  HarnessOptions o;
  o.manager.clock = clock;
  Harness h(o);
  grpc::ChannelArguments args;
  args.SetServiceConfigJSON(kAppConfig);
  auto channel = CreateAuthRefreshChannel(h.servers().address(),
                                          grpc::InsecureChannelCredentials(),
                                          h.manager(), Loopback(), args);
  auto stub = test::Echo::NewStub(channel);
  {
    grpc::ClientContext ctx;
    test::EchoReply reply;
    ASSERT_THAT(stub->Say(&ctx, test::EchoRequest(), &reply), IsOk());
  }
  const std::string effective = channel->GetServiceConfigJSON();
  EXPECT_THAT(effective, HasSubstr("UNAVAILABLE"));
  EXPECT_THAT(effective, HasSubstr("UNAUTHENTICATED"));
  EXPECT_THAT(effective, HasSubstr("\"timeout\":\"30s\""));
  // Its own retries still work: two UNAVAILABLE, then OK, in three attempts.
  h.echo().FailNext(2, grpc::Status(grpc::StatusCode::UNAVAILABLE, "busy"));
  {
    grpc::ClientContext ctx;
    test::EchoReply reply;
    ASSERT_THAT(stub->Say(&ctx, test::EchoRequest(), &reply), IsOk());
    EXPECT_EQ(reply.previous_attempts(), 2);
  }
  // And a revoked token is replayed (once the interval in which a retry of
  // another code may start a refresh has passed: see the next test).
  clock->Advance(absl::Seconds(1));
  h.authority().RevokeAccessTokens();
  const int refreshes = h.tokens().calls();
  {
    grpc::ClientContext ctx;
    test::EchoReply reply;
    ASSERT_THAT(stub->Say(&ctx, test::EchoRequest(), &reply), IsOk());
    EXPECT_EQ(reply.authorization(), h.CurrentFingerprint());
  }
  EXPECT_EQ(h.tokens().calls(), refreshes + 1);
  EXPECT_EQ(h.authority().reuse_detected(), 0);
}

// Its timeout applies: a call the server holds ends DEADLINE_EXCEEDED
// (without the timeout it would wait for ever).
TEST(CoreLimits, ApplicationServiceConfigTimeoutApplies) {
  Harness h;
  grpc::ChannelArguments args;
  args.SetServiceConfigJSON(
      R"({"methodConfig":[{"name":[{"service":"authrefresh.test.Echo"}],"timeout":"1s"}]})");
  auto stub = test::Echo::NewStub(CreateAuthRefreshChannel(
      h.servers().address(), grpc::InsecureChannelCredentials(), h.manager(),
      Loopback(), args));
  h.echo().Pause();  // the server holds every call
  grpc::ClientContext ctx;
  test::EchoReply reply;
  EXPECT_THAT(stub->Say(&ctx, test::EchoRequest(), &reply),
              StatusIs(absl::StatusCode::kDeadlineExceeded));
  h.echo().Resume();
}

// Methods that authrefresh leaves alone get no replay either.
TEST(CoreLimits, ExcludedMethodsAreNotReplayed) {
  Harness h;
  InterceptorOptions options = Loopback();
  options.excluded_methods = {"/authrefresh.test.Echo/Say"};
  auto channel = CreateAuthRefreshChannel(h.servers().address(),
                                          grpc::InsecureChannelCredentials(),
                                          h.manager(), options);
  h.authority().RevokeAccessTokens();
  grpc::ClientContext ctx;
  ctx.AddMetadata("authorization", "Bearer app-own");
  test::EchoReply reply;
  EXPECT_THAT(test::Echo::NewStub(channel)->Say(&ctx, test::EchoRequest(), &reply),
              StatusIs(absl::StatusCode::kUnauthenticated));
  EXPECT_EQ(h.echo().hits(), 1);
  EXPECT_EQ(h.tokens().calls(), 0);
  // Other methods of the service still are.
  testing::Seen seen = testing::RunCall(channel, {testing::Shape::kServerStream, testing::Api::kSync});
  EXPECT_THAT(seen.status, IsOk());
  EXPECT_EQ(h.echo().hits(), 3);
}

// Where the application's policy retries other codes, a second attempt
// may not be a rejection at all: such suspicions refresh at most once per
// min_refresh_interval, so an outage of UNAVAILABLE answers is no storm.
TEST(CoreLimits, RetriesOfOtherCodesRefreshAtMostOncePerInterval) {
  auto clock = std::make_shared<testing::FakeClock>();
  HarnessOptions o;
  o.manager.clock = clock;
  Harness h(o);
  grpc::ChannelArguments args;
  args.SetServiceConfigJSON(kAppConfig);
  auto stub = test::Echo::NewStub(CreateAuthRefreshChannel(
      h.servers().address(), grpc::InsecureChannelCredentials(), h.manager(),
      Loopback(), args));
  for (int i = 0; i < 20; ++i) {
    h.echo().FailNext(1, grpc::Status(grpc::StatusCode::UNAVAILABLE, "busy"));
    grpc::ClientContext ctx;
    test::EchoReply reply;
    ASSERT_THAT(stub->Say(&ctx, test::EchoRequest(), &reply), IsOk());
  }
  EXPECT_LE(h.tokens().calls(), 1);
  EXPECT_EQ(h.echo().hits(), 40);
  EXPECT_EQ(h.echo().max_attempt(), 2);
}

TEST(CoreLimits, ArgumentsThatCannotReplayFailEveryCallSayingWhy) {
  Harness h;
  struct Case {
    std::function<void(grpc::ChannelArguments*)> set;
    absl::StatusCode code;
    std::string says;
  };
  const std::vector<Case> cases = {
      {[](grpc::ChannelArguments* a) { a->SetInt("grpc.enable_retries", 0); },
       absl::StatusCode::kFailedPrecondition, "grpc.enable_retries"},
      {[](grpc::ChannelArguments* a) { a->SetServiceConfigJSON("{not json"); },
       absl::StatusCode::kInvalidArgument, "not a JSON object"},
      {[](grpc::ChannelArguments* a) {
         a->SetServiceConfigJSON(R"({"methodConfig":[{"name":[{}],
             "hedgingPolicy":{"maxAttempts":2}}]})");
       },
       absl::StatusCode::kInvalidArgument, "hedgingPolicy"},
  };
  for (const Case& c : cases) {
    grpc::ChannelArguments args;
    c.set(&args);
    EXPECT_THAT(MakeAuthRefreshChannelSetup(h.manager(), Loopback(), args).status(),
                StatusIs(c.code, HasSubstr(c.says)));
    auto channel = CreateAuthRefreshChannel(h.servers().address(),
                                            grpc::InsecureChannelCredentials(),
                                            h.manager(), Loopback(), args);
    for (const testing::CallCase& shape : testing::AllCallCases()) {
      testing::Seen seen = testing::RunCall(channel, shape);
      EXPECT_THAT(seen.status, StatusIs(c.code, HasSubstr(c.says)))
          << testing::CaseName(shape);
    }
  }
  EXPECT_EQ(h.echo().hits(), 0);
  EXPECT_EQ(h.tokens().calls(), 0);
}

TEST(CoreLimits, ChannelBuiltByHandFromTheSetupReplays) {
  HarnessOptions o;
  o.servers.tls = true;
  Harness h(o);
  grpc::ChannelArguments app;
  app.SetUserAgentPrefix("my-app/1.0");
  absl::StatusOr<AuthRefreshChannelSetup> setup =
      MakeAuthRefreshChannelSetup(h.manager(), {}, app);
  ASSERT_THAT(setup.status(), IsOk());
  std::vector<std::unique_ptr<grpc::experimental::ClientInterceptorFactoryInterface>>
      factories;
  factories.push_back(std::move(setup->interceptor));
  auto stub = test::Echo::NewStub(grpc::experimental::CreateCustomChannelWithInterceptors(
      h.servers().address(), h.ChannelCredentials(), setup->args, std::move(factories)));
  h.authority().RevokeAccessTokens();
  grpc::ClientContext ctx;
  test::EchoReply reply;
  ASSERT_THAT(stub->Say(&ctx, test::EchoRequest(), &reply), IsOk());
  EXPECT_EQ(h.echo().hits(), 2);
  EXPECT_EQ(h.tokens().calls(), 1);
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

// gRPC cannot compose a call's own credentials with authrefresh's: such a
// call is refused, saying what to do instead, and nothing is sent.
TEST(CoreLimits, PerCallCredentialsAreRefusedNotReplaced) {
  HarnessOptions o;
  o.servers.tls = true;
  o.interceptor.allow_insecure_transport = false;
  Harness h(o);
  for (const testing::CallCase& shape : testing::AllCallCases()) {
    testing::CallPlan plan;
    plan.prepare = [](grpc::ClientContext* ctx) {
      ctx->set_credentials(
          grpc::MetadataCredentialsFromPlugin(std::make_unique<AddMetadata>()));
    };
    testing::Seen seen = testing::RunCall(h.channel(), shape, plan);
    EXPECT_THAT(seen.status,
                StatusIs(absl::StatusCode::kFailedPrecondition,
                         HasSubstr("grpc::CompositeChannelCredentials")))
        << testing::CaseName(shape);
  }
  EXPECT_EQ(h.echo().hits(), 0);
  EXPECT_EQ(h.tokens().calls(), 0);
}

// Call credentials on the channel compose with authrefresh's token, on the
// first attempt and on the replay.
TEST(CoreLimits, ChannelCallCredentialsComposeWithTheToken) {
  HarnessOptions o;
  o.servers.tls = true;
  o.interceptor.allow_insecure_transport = false;
  Harness h(o);
  auto channel = CreateAuthRefreshChannel(
      h.servers().address(),
      grpc::CompositeChannelCredentials(
          h.ChannelCredentials(),
          grpc::MetadataCredentialsFromPlugin(std::make_unique<AddMetadata>())),
      h.manager());
  auto stub = test::Echo::NewStub(channel);
  h.authority().RevokeAccessTokens();
  grpc::ClientContext ctx;
  test::EchoRequest request;
  request.set_text("c");
  test::EchoReply reply;
  ASSERT_THAT(stub->Say(&ctx, request, &reply), IsOk());
  EXPECT_EQ(reply.text(), "c|x-app=from-call-credentials");
  EXPECT_EQ(reply.authorization(), h.CurrentFingerprint());
  EXPECT_EQ(h.echo().hits(), 2);
}

// Compression is the application's: 1 MiB of zeros goes out gzip-compressed,
// counted on the wire. gRPC 1.51 corrupts a compressed message that its
// retry sends again (grpc/grpc#37742: the retry buffer is compressed in
// place), so a rejected compressed call is not replayed: it fails saying
// so, nothing corrupt goes out, and the refresh it starts serves the next.
class Compression : public ::testing::TestWithParam<bool> {};
INSTANTIATE_TEST_SUITE_P(ChannelDefaultOrPerCall, Compression, ::testing::Bool(),
                         [](const ::testing::TestParamInfo<bool>& info) {
                           return info.param ? "PerCall" : "ChannelDefault";
                         });

TEST_P(Compression, IsKeptOnTheWireAndARejectedCallIsNotReplayedCorrupt) {
  const bool per_call = GetParam();
  HarnessOptions o;
  Harness h(o);
  testing::CountingProxy proxy(h.servers().port());
  grpc::ChannelArguments args;
  if (!per_call) args.SetCompressionAlgorithm(GRPC_COMPRESS_GZIP);
  InterceptorOptions options = Loopback();
  options.replay_buffer_bytes = 4 << 20;  // the 1 MiB request fits
  auto stub = test::Echo::NewStub(CreateAuthRefreshChannel(
      proxy.address(), grpc::InsecureChannelCredentials(), h.manager(), options, args));
  test::EchoRequest request;
  request.set_padding(std::string(1 << 20, '\0'));
  auto call = [&](test::EchoReply* reply) {
    grpc::ClientContext ctx;
    if (per_call) ctx.set_compression_algorithm(GRPC_COMPRESS_GZIP);
    return stub->Say(&ctx, request, reply);
  };
  test::EchoReply reply;
  ASSERT_THAT(call(&reply), IsOk());
  EXPECT_EQ(reply.request_padding_bytes(), 1 << 20);
  const int64_t one_call = proxy.client_bytes();
  EXPECT_THAT(one_call, Lt(64 << 10));
  h.authority().RevokeAccessTokens();
  EXPECT_THAT(call(&reply),
              StatusIs(absl::StatusCode::kUnauthenticated,
                       ::testing::AllOf(HasSubstr("compressed"), HasSubstr("37742"))));
  EXPECT_EQ(h.echo().hits(), 2);  // the replay never went out
  EXPECT_EQ(h.echo().rejected(), 1);
  EXPECT_THAT(proxy.client_bytes() - one_call, Lt(64 << 10));
  ASSERT_THAT(call(&reply), IsOk());
  EXPECT_EQ(reply.request_padding_bytes(), 1 << 20);
  EXPECT_EQ(h.tokens().calls(), 1);
  // A call that turns compression off is replayed as usual.
  h.authority().RevokeAccessTokens();
  grpc::ClientContext ctx;
  ctx.set_compression_algorithm(GRPC_COMPRESS_NONE);
  test::EchoRequest small;
  small.set_padding(std::string(1000, '\0'));
  ASSERT_THAT(stub->Say(&ctx, small, &reply), IsOk());
  EXPECT_EQ(reply.request_padding_bytes(), 1000);
  EXPECT_EQ(h.tokens().calls(), 2);
}

// The same guard for a call that brings its own authorization: gRPC's
// retry of it is stopped rather than sent corrupt.
TEST(CompressionOwnAuthorization, RetryIsStoppedNotCorrupted) {
  Harness h;
  grpc::ChannelArguments args;
  args.SetCompressionAlgorithm(GRPC_COMPRESS_GZIP);
  auto stub = test::Echo::NewStub(CreateAuthRefreshChannel(
      h.servers().address(), grpc::InsecureChannelCredentials(), h.manager(),
      Loopback(), args));
  grpc::ClientContext ctx;
  ctx.AddMetadata("authorization", "Bearer app-own");
  test::EchoRequest request;
  request.set_padding(std::string(100000, '\0'));
  test::EchoReply reply;
  EXPECT_THAT(stub->Say(&ctx, request, &reply),
              StatusIs(absl::StatusCode::kUnauthenticated, HasSubstr("37742")));
  EXPECT_EQ(h.echo().hits(), 1);
  EXPECT_EQ(h.tokens().calls(), 0);
}

TEST(CompressionControl, WithoutCompressionTheRequestGoesOutWhole) {
  Harness h;
  testing::CountingProxy proxy(h.servers().port());
  auto stub = test::Echo::NewStub(CreateAuthRefreshChannel(
      proxy.address(), grpc::InsecureChannelCredentials(), h.manager(), Loopback()));
  test::EchoRequest request;
  request.set_padding(std::string(1 << 20, '\0'));
  grpc::ClientContext ctx;
  test::EchoReply reply;
  ASSERT_THAT(stub->Say(&ctx, request, &reply), IsOk());
  EXPECT_THAT(proxy.client_bytes(), Gt(1 << 20));
}

}  // namespace
}  // namespace authrefresh
