// The interceptor of one call and its per-attempt credentials
// (internal/call_auth): which token each attempt carries, when an attempt
// waits, which calls are left alone or refused, and the statuses it gives
// instead of gRPC's wording. A real channel to an in-process server that
// records what it saw, a refresher the test completes by hand.

#include "interceptor/internal/call_auth.h"

#include <memory>
#include <string>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "gmock/gmock.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/security/credentials.h"
#include "grpcpp/security/server_credentials.h"
#include "grpcpp/server_builder.h"
#include "gtest/gtest.h"
#include "interceptor/authrefresh.h"
#include "tests/protos/echo.grpc.pb.h"
#include "tests/testing/manual_refresher.h"
#include "tests/testing/status_matchers.h"

namespace authrefresh {
namespace {

using ::testing::AllOf;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using testing::Bearer;
using testing::IsOk;
using testing::ManualRefresher;
using testing::StatusIs;

// Say: records the authorization each attempt carried and every other
// metadata key; rejects the tokens in `rejected` (Trailers-Only).
class RecordingEcho final : public test::Echo::CallbackService {
 public:
  grpc::ServerUnaryReactor* Say(grpc::CallbackServerContext* context,
                                const test::EchoRequest*, test::EchoReply*) override {
    std::string authorization;
    std::vector<std::string> keys;
    for (const auto& [key, value] : context->client_metadata()) {
      keys.emplace_back(key.data(), key.size());
      if (key == "authorization") authorization.assign(value.data(), value.size());
    }
    bool reject = false;
    {
      absl::MutexLock lock(&mu_);
      seen_.push_back(authorization);
      keys_.insert(keys_.end(), keys.begin(), keys.end());
      for (const std::string& r : rejected_) reject = reject || authorization == r;
    }
    grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
    reactor->Finish(reject ? grpc::Status(grpc::StatusCode::UNAUTHENTICATED, "token revoked")
                           : grpc::Status::OK);
    return reactor;
  }
  void Reject(std::string authorization) {
    absl::MutexLock lock(&mu_);
    rejected_.push_back(std::move(authorization));
  }
  std::vector<std::string> seen() {
    absl::MutexLock lock(&mu_);
    return seen_;
  }
  std::vector<std::string> keys() {
    absl::MutexLock lock(&mu_);
    return keys_;
  }

 private:
  absl::Mutex mu_;
  std::vector<std::string> seen_ ABSL_GUARDED_BY(mu_);
  std::vector<std::string> keys_ ABSL_GUARDED_BY(mu_);
  std::vector<std::string> rejected_ ABSL_GUARDED_BY(mu_);
};

class CallAuthTest : public ::testing::Test {
 protected:
  CallAuthTest() {
    grpc::ServerBuilder builder;
    builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port_);
    builder.RegisterService(&echo_);
    server_ = builder.BuildAndStart();
  }
  ~CallAuthTest() override { server_->Shutdown(); }

  void Connect(Token initial, TokenManagerOptions m = {}) {
    manager_ = TokenManager::Create(std::move(initial),
                                    std::make_unique<ManualRefresher>(refresher_), m);
    InterceptorOptions o;
    o.allow_insecure_transport = true;  // loopback
    stub_ = test::Echo::NewStub(CreateAuthRefreshChannel(
        "127.0.0.1:" + std::to_string(port_), grpc::InsecureChannelCredentials(), manager_, o));
  }

  grpc::Status Say(const std::function<void(grpc::ClientContext&)>& setup = {}) {
    grpc::ClientContext ctx;
    if (setup) setup(ctx);
    test::EchoReply reply;
    return stub_->Say(&ctx, test::EchoRequest(), &reply);
  }

  // Starts a Say with the callback API; `done` is notified with its status.
  void SayAsync(grpc::ClientContext* ctx, grpc::Status* status, absl::Notification* done) {
    stub_->async()->Say(ctx, &request_, &reply_, [status, done](grpc::Status s) {
      *status = std::move(s);
      done->Notify();
    });
  }

  RecordingEcho echo_;
  int port_ = 0;
  std::unique_ptr<grpc::Server> server_;
  std::shared_ptr<ManualRefresher::State> refresher_ = std::make_shared<ManualRefresher::State>();
  std::shared_ptr<TokenManager> manager_;
  std::unique_ptr<test::Echo::Stub> stub_;
  test::EchoRequest request_;
  test::EchoReply reply_;
};

TEST_F(CallAuthTest, EveryCallCarriesTheCurrentTokenWithoutWaiting) {
  Connect(Token{"at-1", "rt-1"});
  EXPECT_THAT(Say(), IsOk());
  EXPECT_THAT(Say(), IsOk());
  EXPECT_THAT(echo_.seen(), ElementsAre("Bearer at-1", "Bearer at-1"));
  EXPECT_EQ(refresher_->calls(), 0);
}

// The second attempt, which gRPC's retry makes after the server's
// UNAUTHENTICATED, waits for the one refresh and carries the new token.
TEST_F(CallAuthTest, TheReplayWaitsForTheRefreshAndCarriesTheNewToken) {
  echo_.Reject("Bearer at-1");
  Connect(Token{"at-1", "rt-1"});
  grpc::ClientContext ctx;
  grpc::Status status;
  absl::Notification done;
  SayAsync(&ctx, &status, &done);
  refresher_->AwaitInFlight(1);
  EXPECT_FALSE(done.HasBeenNotified());  // the replay waits for the token
  refresher_->Complete(Bearer("at-2", "rt-2"));
  done.WaitForNotification();
  EXPECT_THAT(status, IsOk());
  EXPECT_THAT(echo_.seen(), ElementsAre("Bearer at-1", "Bearer at-2"));
  EXPECT_EQ(refresher_->calls(), 1);
  EXPECT_EQ(manager_->Stats().calls_replayed, 1u);
}

TEST_F(CallAuthTest, ACallWithItsOwnAuthorizationIsLeftAlone) {
  echo_.Reject("Bearer mine");
  Connect(Token{"at-1", "rt-1"});
  EXPECT_THAT(Say([](grpc::ClientContext& c) { c.AddMetadata("authorization", "Bearer mine"); }),
              StatusIs(absl::StatusCode::kUnauthenticated, HasSubstr("token revoked")));
  // Not replaced, and no refresh: gRPC's retry sends the application's header
  // both times (a unary call is replayable), and authrefresh counts no replay.
  EXPECT_THAT(echo_.seen(), ElementsAre("Bearer mine", "Bearer mine"));
  EXPECT_EQ(refresher_->calls(), 0);
  EXPECT_EQ(manager_->Stats().calls_replayed, 0u);
}

// SkipTokenRefresh: the token as it is (none here), no wait, no refresh, and
// the mark never leaves the process.
TEST_F(CallAuthTest, SkipTokenRefreshNeverWaitsAndTheMarkIsNotSent) {
  Connect(Token{});
  EXPECT_THAT(Say([](grpc::ClientContext& c) { SkipTokenRefresh(&c); }), IsOk());
  EXPECT_THAT(echo_.seen(), ElementsAre(""));
  EXPECT_EQ(refresher_->calls(), 0);
  for (const std::string& key : echo_.keys()) EXPECT_NE(key, "authrefresh-skip-refresh");
}

TEST_F(CallAuthTest, PerCallCredentialsAreRefusedBeforeAnythingIsSent) {
  Connect(Token{"at-1", "rt-1"});
  EXPECT_THAT(Say([](grpc::ClientContext& c) {
                c.set_credentials(grpc::AccessTokenCredentials("other"));
              }),
              StatusIs(absl::StatusCode::kFailedPrecondition,
                       HasSubstr("sets its own call credentials")));
  EXPECT_TRUE(echo_.seen().empty());
}

// A refresh that ends the session fails the waiting call with authrefresh's
// own status, not gRPC's "Getting metadata from plugin failed".
TEST_F(CallAuthTest, AuthrefreshsOwnFailureIsTheStatusTheCallEndsWith) {
  Connect(Token{"", "rt-1"});
  grpc::ClientContext ctx;
  grpc::Status status;
  absl::Notification done;
  SayAsync(&ctx, &status, &done);
  refresher_->AwaitInFlight(1);
  refresher_->Complete(absl::UnauthenticatedError("invalid_grant"));
  done.WaitForNotification();
  EXPECT_THAT(status, StatusIs(absl::StatusCode::kUnauthenticated,
                               HasSubstr("session expired, log in again")));
  EXPECT_THAT(status.error_message(), ::testing::Not(HasSubstr("plugin")));
  EXPECT_TRUE(echo_.seen().empty());
}

// gRPC 1.51 compresses its buffered copy of a message again on a replay
// (grpc/grpc#37742): a compressed call is not sent twice; it ends with the
// server's rejection, restated, and the refresh starts for the next call.
TEST_F(CallAuthTest, ACompressedCallIsNotReplayedButStartsTheRefresh) {
  echo_.Reject("Bearer at-1");
  Connect(Token{"at-1", "rt-1"});
  EXPECT_THAT(Say([](grpc::ClientContext& c) {
                c.set_compression_algorithm(GRPC_COMPRESS_GZIP);
              }),
              StatusIs(absl::StatusCode::kUnauthenticated,
                       AllOf(HasSubstr("compressed"), HasSubstr("not replayed"))));
  EXPECT_THAT(echo_.seen(), ElementsAre("Bearer at-1"));
  EXPECT_EQ(refresher_->calls(), 1);
  refresher_->Complete(Bearer("at-2", "rt-2"));
  EXPECT_THAT(Say(), IsOk());
  EXPECT_THAT(echo_.seen(), ElementsAre("Bearer at-1", "Bearer at-2"));
}

}  // namespace
}  // namespace authrefresh
