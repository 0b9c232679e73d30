// MakeGrpcTokenRefresher against an in-process authrefresh.v1.TokenService on
// 127.0.0.1: what each grant sends, how the answer becomes a Token, how
// errors keep their codes, and cancellation.

#include "interceptor/grpc_token_refresher.h"

#include <memory>
#include <string>

#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "gmock/gmock.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/security/server_credentials.h"
#include "grpcpp/server_builder.h"
#include "gtest/gtest.h"
#include "protos/token_service.grpc.pb.h"
#include "tests/testing/status_matchers.h"

namespace authrefresh {
namespace {

using ::testing::HasSubstr;
using testing::IsOk;
using testing::StatusIs;

// Answers each Refresh with what the test scripted; with `hold`, keeps the
// call open until its client cancels it.
class ScriptedTokenService final : public v1::TokenService::CallbackService {
 public:
  grpc::ServerUnaryReactor* Refresh(grpc::CallbackServerContext* context,
                                    const v1::RefreshRequest* request,
                                    v1::TokenResponse* response) override {
    grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
    absl::MutexLock lock(&mu_);
    last_ = *request;
    ++calls_;
    if (hold_) {
      held_ = reactor;
      return reactor;
    }
    if (status_.ok()) *response = answer_;
    reactor->Finish(status_);
    return reactor;
  }
  void Script(v1::TokenResponse answer, grpc::Status status = grpc::Status::OK) {
    absl::MutexLock lock(&mu_);
    answer_ = std::move(answer);
    status_ = std::move(status);
  }
  void Hold() {
    absl::MutexLock lock(&mu_);
    hold_ = true;
  }
  void AwaitCalls(int n) {
    absl::MutexLock lock(&mu_);
    auto enough = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return calls_ >= n; };
    mu_.Await(absl::Condition(&enough));
  }
  // Ends a held call (after its client cancelled it).
  void FinishHeld() {
    absl::MutexLock lock(&mu_);
    if (held_ != nullptr) held_->Finish(grpc::Status::CANCELLED);
    held_ = nullptr;
  }
  v1::RefreshRequest last() {
    absl::MutexLock lock(&mu_);
    return last_;
  }

 private:
  absl::Mutex mu_;
  v1::TokenResponse answer_ ABSL_GUARDED_BY(mu_);
  grpc::Status status_ ABSL_GUARDED_BY(mu_);
  bool hold_ ABSL_GUARDED_BY(mu_) = false;
  grpc::ServerUnaryReactor* held_ ABSL_GUARDED_BY(mu_) = nullptr;
  v1::RefreshRequest last_ ABSL_GUARDED_BY(mu_);
  int calls_ ABSL_GUARDED_BY(mu_) = 0;
};

class GrpcRefresherTest : public ::testing::Test {
 protected:
  GrpcRefresherTest() {
    grpc::ServerBuilder builder;
    int port = 0;
    builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port);
    builder.RegisterService(&service_);
    server_ = builder.BuildAndStart();
    channel_ = grpc::CreateChannel("127.0.0.1:" + std::to_string(port),
                                   grpc::InsecureChannelCredentials());
  }
  ~GrpcRefresherTest() override {
    service_.FinishHeld();
    server_->Shutdown();
  }

  absl::StatusOr<Token> RefreshOnce(TokenRefresher& refresher, GrantRequest request) {
    absl::Notification done;
    absl::StatusOr<Token> result;
    refresher.Refresh(request, [&](absl::StatusOr<Token> r) {
      result = std::move(r);
      done.Notify();
    });
    done.WaitForNotification();
    return result;
  }

  ScriptedTokenService service_;
  std::unique_ptr<grpc::Server> server_;
  std::shared_ptr<grpc::Channel> channel_;
};

v1::TokenResponse Answer(std::string access, std::string refresh, int64_t expires_in) {
  v1::TokenResponse r;
  r.set_access_token(std::move(access));
  r.set_refresh_token(std::move(refresh));
  r.set_token_type("Bearer");
  r.set_expires_in(expires_in);
  r.set_scope("read");
  return r;
}

TEST_F(GrpcRefresherTest, SendsTheRefreshTokenAndOptionsAndParsesTheAnswerOnce) {
  service_.Script(Answer("at-1", "rt-1", 300));
  auto refresher = MakeGrpcTokenRefresher(channel_, {.client_id = "app", .scope = "read"});
  const absl::Time requested = absl::FromUnixSeconds(1'800'000'000);
  absl::StatusOr<Token> t = RefreshOnce(*refresher, GrantRequest{"rt-0", "at-0", requested});
  ASSERT_THAT(t.status(), IsOk());
  EXPECT_EQ(t->access_token, "at-1");
  EXPECT_EQ(t->refresh_token, "rt-1");
  EXPECT_EQ(t->scope, "read");
  // expires_in counts from the manager's requested_at, on the manager's clock.
  EXPECT_EQ(t->issued_at, requested);
  EXPECT_EQ(t->expires_at, requested + absl::Seconds(300));
  const v1::RefreshRequest sent = service_.last();
  EXPECT_EQ(sent.refresh_token(), "rt-0");
  EXPECT_EQ(sent.client_id(), "app");
  EXPECT_EQ(sent.scope(), "read");
  EXPECT_TRUE(refresher->NeedsRefreshToken());
}

TEST_F(GrpcRefresherTest, AMalformedAnswerIsATransientErrorThatNeverShowsTheToken) {
  v1::TokenResponse bad = Answer("at-SECRET", "", 60);
  bad.set_token_type("MAC");
  service_.Script(bad);
  auto refresher = MakeGrpcTokenRefresher(channel_);
  absl::StatusOr<Token> t = RefreshOnce(*refresher, GrantRequest{"rt-0"});
  EXPECT_THAT(t.status(), StatusIs(absl::StatusCode::kInternal,
                                   HasSubstr("malformed token response: token_type")));
  EXPECT_THAT(t.status().message(), ::testing::Not(HasSubstr("SECRET")));
}

// The service's status code is what the failure policy reads: invalid_grant
// (UNAUTHENTICATED) stays UNAUTHENTICATED, an outage UNAVAILABLE.
TEST_F(GrpcRefresherTest, TheServicesErrorsKeepTheirCodes) {
  auto refresher = MakeGrpcTokenRefresher(channel_);
  service_.Script({}, grpc::Status(grpc::StatusCode::UNAUTHENTICATED, "invalid_grant"));
  EXPECT_THAT(RefreshOnce(*refresher, GrantRequest{"rt-0"}).status(),
              StatusIs(absl::StatusCode::kUnauthenticated, HasSubstr("invalid_grant")));
  service_.Script({}, grpc::Status(grpc::StatusCode::PERMISSION_DENIED, "unknown client"));
  EXPECT_THAT(RefreshOnce(*refresher, GrantRequest{"rt-0"}).status(),
              StatusIs(absl::StatusCode::kPermissionDenied));
  auto unreachable = MakeGrpcTokenRefresher(
      grpc::CreateChannel("127.0.0.1:1", grpc::InsecureChannelCredentials()),
      {.timeout = absl::Seconds(5)});
  EXPECT_THAT(RefreshOnce(*unreachable, GrantRequest{"rt-0"}).status(),
              StatusIs(absl::StatusCode::kUnavailable));
}

TEST_F(GrpcRefresherTest, AGrantPastItsTimeoutIsDeadlineExceeded) {
  service_.Hold();
  auto refresher = MakeGrpcTokenRefresher(channel_, {.timeout = absl::Milliseconds(200)});
  EXPECT_THAT(RefreshOnce(*refresher, GrantRequest{"rt-0"}).status(),
              StatusIs(absl::StatusCode::kDeadlineExceeded));
}

TEST_F(GrpcRefresherTest, DestroyingTheRefresherCancelsTheGrantInFlight) {
  service_.Hold();
  auto refresher = MakeGrpcTokenRefresher(channel_, {.timeout = absl::Seconds(60)});
  absl::Notification done;
  absl::Status status;
  refresher->Refresh(GrantRequest{"rt-0"}, [&](absl::StatusOr<Token> r) {
    status = r.status();
    done.Notify();
  });
  service_.AwaitCalls(1);
  refresher.reset();
  ASSERT_TRUE(done.WaitForNotificationWithTimeout(absl::Seconds(30)));
  EXPECT_THAT(status, StatusIs(absl::StatusCode::kCancelled));
}

}  // namespace
}  // namespace authrefresh
