// The HTTP token-endpoint refresher against a real OAuth 2.0 authorization
// server (@node-oauth/oauth2-server, tests/oauth_server/server.js) on
// 127.0.0.1, and a gRPC resource server that checks every bearer token with
// that authorization server. Nothing here is faked but the scripted faults.

#include "interceptor/http_token_refresher.h"

#include <algorithm>
#include <chrono>
#include <functional>
#include <thread>

#include "absl/strings/str_replace.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "gmock/gmock.h"
#include "grpcpp/grpcpp.h"
#include "gtest/gtest.h"
#include "interceptor/authrefresh.h"
#include "tests/protos/echo.grpc.pb.h"
#include "tests/testing/oauth_server.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/test_certs.h"

namespace authrefresh {
namespace {

using Auth = HttpTokenRefresherOptions::ClientAuth;
using ::testing::AllOf;
using ::testing::HasSubstr;
using testing::IntrospectingEcho;
using testing::IsOk;
using ::testing::Not;
using testing::OAuthServer;
using testing::StatusIs;

absl::StatusOr<Token> RefreshOnce(TokenRefresher& refresher, const std::string& refresh_token) {
  absl::Notification done;
  absl::StatusOr<Token> result;
  refresher.Refresh(GrantRequest{refresh_token}, [&](absl::StatusOr<Token> r) {
    result = std::move(r);
    done.Notify();
  });
  done.WaitForNotification();
  return result;
}

class HttpRefresherTest : public ::testing::Test {
 protected:
  void SetUp() override { StartOAuth({}); }

  void StartOAuth(OAuthServer::Options options) {
    oauth_ = OAuthServer::Start(options);
    ASSERT_NE(oauth_, nullptr);
  }

  void StartResourceServer() {
    echo_ = std::make_unique<IntrospectingEcho>(oauth_.get());
    int port = 0;
    grpc::ServerBuilder builder;
    builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port);
    builder.RegisterService(echo_.get());
    server_ = builder.BuildAndStart();
    ASSERT_NE(server_, nullptr);
    address_ = absl::StrCat("127.0.0.1:", port);
  }

  HttpTokenRefresherOptions Options(Auth auth = Auth::kClientSecretBasic) {
    HttpTokenRefresherOptions o;
    o.token_endpoint = oauth_->token_endpoint();
    o.client_auth = auth;
    o.client_id = auth == Auth::kNone ? "public-app" : "confidential-app";
    o.client_secret = auth == Auth::kNone ? "" : "app-secret";
    o.allow_insecure_http = true;  // loopback
    o.timeout = absl::Seconds(10);
    return o;
  }

  std::unique_ptr<TokenRefresher> Refresher(HttpTokenRefresherOptions o) {
    absl::StatusOr<std::unique_ptr<TokenRefresher>> r = MakeHttpTokenRefresher(std::move(o));
    EXPECT_THAT(r.status(), IsOk());
    return r.ok() ? *std::move(r) : nullptr;
  }

  // A manager whose session the OAuth server issued, and a channel with the
  // interceptor to the resource server.
  void Connect(const OAuthServer::Session& session, HttpTokenRefresherOptions options,
               TokenManagerOptions m = {}) {
    m.on_session_expired = [this](const absl::Status& s) {
      absl::MutexLock lock(&mu_);
      expired_.push_back(s);
    };
    m.on_tokens_refreshed = [this](const Token& t) {
      absl::MutexLock lock(&mu_);
      refresh_tokens_.push_back(t.refresh_token);
    };
    manager_ = TokenManager::Create(
        Token{session.access_token, session.refresh_token, absl::InfiniteFuture(), ""},
        Refresher(std::move(options)), std::move(m));
    InterceptorOptions i;
    i.allow_insecure_transport = true;  // loopback
    stub_ = test::Echo::NewStub(
        CreateAuthRefreshChannel(address_, grpc::InsecureChannelCredentials(), manager_, i));
  }

  grpc::Status Say(const std::string& text = "hi") {
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(20));
    test::EchoRequest request;
    request.set_text(text);
    test::EchoReply reply;
    grpc::Status s = stub_->Say(&context, request, &reply);
    if (s.ok()) {
      EXPECT_EQ(reply.text(), text);
    }
    return s;
  }

  std::vector<std::string> refresh_tokens() {
    absl::MutexLock lock(&mu_);
    return refresh_tokens_;
  }
  std::vector<absl::Status> expired() {
    absl::MutexLock lock(&mu_);
    return expired_;
  }

  std::unique_ptr<OAuthServer> oauth_;
  std::unique_ptr<IntrospectingEcho> echo_;
  std::unique_ptr<grpc::Server> server_;
  std::string address_;
  std::shared_ptr<TokenManager> manager_;
  std::unique_ptr<test::Echo::Stub> stub_;
  absl::Mutex mu_;
  std::vector<std::string> refresh_tokens_ ABSL_GUARDED_BY(mu_);
  std::vector<absl::Status> expired_ ABSL_GUARDED_BY(mu_);
};

TEST_F(HttpRefresherTest, ExpiredTokenStormIsOneRefreshThroughTheRealServer) {
  ASSERT_NO_FATAL_FAILURE(StartResourceServer());
  const OAuthServer::Session session = oauth_->Seed("confidential-app", "read write");
  Connect(session, Options());
  ASSERT_THAT(Say(), IsOk());  // the seeded token works
  EXPECT_EQ(echo_->hits(), 1);

  oauth_->ExpireAccessTokens();  // the server now refuses it; the client can't know
  constexpr int kCalls = 32;
  echo_->HoldUntil(1 + kCalls);  // all 32 arrive with the expired token
  std::vector<std::thread> threads;
  std::vector<grpc::Status> results(kCalls);
  for (int i = 0; i < kCalls; ++i) {
    threads.emplace_back([&, i] { results[i] = Say(absl::StrCat("call-", i)); });
  }
  for (auto& t : threads) t.join();
  for (const grpc::Status& s : results) EXPECT_THAT(s, IsOk());

  EXPECT_EQ(echo_->hits(), 1 + 2 * kCalls);  // each call: rejected, replayed once
  EXPECT_EQ(echo_->rejected(), kCalls);
  EXPECT_EQ(oauth_->Stat("refresh_grants_ok"), 1);
  EXPECT_EQ(oauth_->Stat("refresh_grants_failed"), 0);
  EXPECT_EQ(oauth_->Stat("reused_refresh_tokens"), 0);
  EXPECT_EQ(oauth_->StatString("last_client_auth"), "basic");
  EXPECT_EQ(oauth_->StatString("last_content_type"), "application/x-www-form-urlencoded");
  EXPECT_EQ(manager_->Stats().refreshes_succeeded, 1u);
  ASSERT_EQ(refresh_tokens().size(), 1u);
  EXPECT_NE(refresh_tokens()[0], session.refresh_token);  // rotated
  EXPECT_EQ(manager_->CurrentToken().scope, "read write");
  EXPECT_TRUE(expired().empty());
}

TEST_F(HttpRefresherTest, RotationChainsAndTheOldRefreshTokenIsDead) {
  ASSERT_NO_FATAL_FAILURE(StartResourceServer());
  const OAuthServer::Session session = oauth_->Seed("confidential-app");
  TokenManagerOptions m;
  // Rounds follow each other within a second; the default loop protection
  // would pass the second rejection on instead of refreshing again.
  m.min_refresh_interval = absl::ZeroDuration();
  Connect(session, Options(), m);
  for (int round = 1; round <= 3; ++round) {
    SCOPED_TRACE(round);
    oauth_->ExpireAccessTokens();
    ASSERT_THAT(Say(), IsOk());
    EXPECT_EQ(oauth_->Stat("refresh_grants_ok"), round);
  }
  std::vector<std::string> seen = refresh_tokens();
  seen.push_back(session.refresh_token);
  std::sort(seen.begin(), seen.end());
  EXPECT_EQ(std::unique(seen.begin(), seen.end()), seen.end()) << "a refresh token was reused";
  EXPECT_EQ(oauth_->Stat("reused_refresh_tokens"), 0);

  // The first refresh token was rotated out: the real server refuses it.
  auto stale = RefreshOnce(*Refresher(Options()), session.refresh_token);
  EXPECT_THAT(stale, StatusIs(absl::StatusCode::kUnauthenticated, HasSubstr("invalid_grant")));
  EXPECT_EQ(oauth_->Stat("reused_refresh_tokens"), 1);
}

TEST_F(HttpRefresherTest, RevokedSessionEndsWithOnSessionExpiredAndAClearStatus) {
  ASSERT_NO_FATAL_FAILURE(StartResourceServer());
  const OAuthServer::Session session = oauth_->Seed("confidential-app");
  Connect(session, Options());
  oauth_->RevokeSessions();
  oauth_->ExpireAccessTokens();
  const grpc::Status s = Say();
  EXPECT_EQ(s.error_code(), grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_THAT(s.error_message(),
              AllOf(HasSubstr("session expired, log in again"), HasSubstr("invalid_grant"),
                    Not(HasSubstr(session.refresh_token)), Not(HasSubstr(session.access_token))));
  ASSERT_EQ(expired().size(), 1u);
  EXPECT_THAT(expired()[0], StatusIs(absl::StatusCode::kUnauthenticated));
  EXPECT_EQ(oauth_->Stat("refresh_grants_failed"), 1);
  EXPECT_EQ(oauth_->Stat("refresh_grants_ok"), 0);
  // The session stays expired: later calls fail at once, without a grant.
  EXPECT_EQ(Say().error_code(), grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_EQ(oauth_->Stat("token_requests"), 1);
}

TEST_F(HttpRefresherTest, EachClientAuthenticationMethodWorks) {
  struct Case {
    Auth auth;
    const char* client;
    const char* seen;
  };
  for (const Case& c : {Case{Auth::kClientSecretBasic, "confidential-app", "basic"},
                        Case{Auth::kClientSecretPost, "confidential-app", "body"},
                        Case{Auth::kNone, "public-app", "none"}}) {
    SCOPED_TRACE(c.seen);
    const OAuthServer::Session session = oauth_->Seed(c.client, "read");
    HttpTokenRefresherOptions o = Options(c.auth);
    o.scope = "read";
    const absl::Time before = absl::Now();
    auto r = RefreshOnce(*Refresher(o), session.refresh_token);
    ASSERT_THAT(r, IsOk());
    // expires_in (3599 or 3600 s) counts from when the request was sent.
    EXPECT_GE(r->issued_at, before);
    EXPECT_LE(r->issued_at, absl::Now());
    EXPECT_THAT(r->expires_at - r->issued_at,
                AllOf(::testing::Ge(absl::Seconds(3590)), ::testing::Le(absl::Seconds(3600))));
    EXPECT_FALSE(r->access_token.empty());
    EXPECT_NE(r->refresh_token, session.refresh_token);
    EXPECT_EQ(oauth_->StatString("last_client_auth"), c.seen);
    EXPECT_EQ(oauth_->StatString("last_scope"), "read");
  }
}

// End to end, a wrong client secret is not an expired session: the calls
// fail with UNAUTHENTICATED saying the client was rejected,
// on_client_rejected runs once and on_session_expired not at all, and no
// further grant is tried until SetToken.
TEST_F(HttpRefresherTest, WrongClientSecretIsAClientRejectionNotAnExpiredSession) {
  StartResourceServer();
  const OAuthServer::Session session = oauth_->Seed("confidential-app");
  HttpTokenRefresherOptions o = Options();
  o.client_secret = "wrong";
  auto rejected = std::make_shared<std::atomic<int>>(0);
  TokenManagerOptions m;
  m.on_client_rejected = [rejected](const absl::Status&) { ++*rejected; };
  Connect(session, o, m);
  oauth_->ExpireAccessTokens();
  const int grants_before = oauth_->Stat("token_requests");
  for (int i = 0; i < 3; ++i) {
    EXPECT_THAT(Say(), StatusIs(absl::StatusCode::kUnauthenticated,
                                ::testing::AllOf(HasSubstr("rejected this client"),
                                                 HasSubstr("invalid_client"))));
  }
  EXPECT_EQ(*rejected, 1);
  EXPECT_TRUE(expired().empty());
  EXPECT_EQ(oauth_->Stat("token_requests"), grants_before + 1);
  EXPECT_EQ(manager_->Stats().clients_rejected, 1u);
  EXPECT_EQ(manager_->Stats().sessions_expired, 0u);
}

TEST_F(HttpRefresherTest, WrongClientSecretIsTerminal) {
  const OAuthServer::Session session = oauth_->Seed("confidential-app");
  for (Auth auth : {Auth::kClientSecretBasic, Auth::kClientSecretPost}) {
    HttpTokenRefresherOptions o = Options(auth);
    o.client_secret = "wrong";
    auto r = RefreshOnce(*Refresher(o), session.refresh_token);
    EXPECT_THAT(r, StatusIs(absl::StatusCode::kPermissionDenied, HasSubstr("invalid_client")));
  }
}

TEST_F(HttpRefresherTest, ScopeWiderThanGrantedIsInvalidScope) {
  const OAuthServer::Session session = oauth_->Seed("confidential-app", "read");
  HttpTokenRefresherOptions o = Options();
  o.scope = "read admin";
  EXPECT_THAT(RefreshOnce(*Refresher(o), session.refresh_token),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("invalid_scope")));
}

TEST_F(HttpRefresherTest, ServerFaultsAreTransientAndCarryRetryAfter) {
  auto refresher = Refresher(Options());
  const std::string empty;
  oauth_->Script(503, R"({"retry-after":"7"})", &empty);
  auto unavailable = RefreshOnce(*refresher, "rt-x");
  EXPECT_THAT(unavailable, StatusIs(absl::StatusCode::kUnavailable, HasSubstr("HTTP 503")));
  EXPECT_EQ(RetryAfterOf(unavailable.status()), absl::Seconds(7));

  oauth_->Script(429, R"({"retry-after":"2"})", &empty);
  auto limited = RefreshOnce(*refresher, "rt-x");
  EXPECT_THAT(limited, StatusIs(absl::StatusCode::kResourceExhausted));
  EXPECT_EQ(RetryAfterOf(limited.status()), absl::Seconds(2));

  const std::string garbage = "<html>login page</html>";
  oauth_->Script(200, R"({"content-type":"text/html"})", &garbage);
  EXPECT_THAT(RefreshOnce(*refresher, "rt-x"),
              StatusIs(absl::StatusCode::kInternal,
                       AllOf(HasSubstr("malformed token response"), HasSubstr("text/html"))));

  const std::string huge(100 * 1024, 'x');
  oauth_->Script(200, "", &huge);
  EXPECT_THAT(RefreshOnce(*refresher, "rt-x"),
              StatusIs(absl::StatusCode::kInternal, HasSubstr("larger than 65536 bytes")));

  oauth_->Script(200, "", nullptr);  // connection dropped without an answer
  EXPECT_THAT(RefreshOnce(*refresher, "rt-x"),
              StatusIs(absl::StatusCode::kUnavailable, HasSubstr("unreachable")));

  const std::string redirect;
  oauth_->Script(302, R"({"location":"https://elsewhere.example/token"})", &redirect);
  EXPECT_THAT(RefreshOnce(*refresher, "rt-x"),
              StatusIs(absl::StatusCode::kInternal, HasSubstr("redirects are not followed")));
  EXPECT_EQ(oauth_->Stat("scripted"), 6);
  EXPECT_EQ(oauth_->Stat("token_requests"), 6);  // the redirect was not followed
}

TEST_F(HttpRefresherTest, ANonceChallengeIsAnsweredOnceAndNeverLooped) {
  absl::StatusOr<std::shared_ptr<const DpopKey>> key = DpopKey::Generate();
  ASSERT_THAT(key.status(), IsOk());
  HttpTokenRefresherOptions o = Options(Auth::kNone);
  o.dpop.key = *key;
  auto refresher = Refresher(std::move(o));
  const std::string challenge = R"({"error":"use_dpop_nonce","error_description":"nonce"})";
  // A server that challenges every request: the grant is sent again once,
  // with the nonce, not more, and fails as the server said.
  oauth_->Script(400, R"({"dpop-nonce":"n-1"})", &challenge, 0, 2);
  EXPECT_THAT(RefreshOnce(*refresher, "rt-x"),
              StatusIs(absl::StatusCode::kUnknown, HasSubstr("use_dpop_nonce")));
  EXPECT_EQ(oauth_->Stat("token_requests"), 2);
  // A challenge that repeats the nonce the request carried is not worth a
  // second request: the next grant carries n-1, and is answered n-1 again.
  oauth_->Script(400, R"({"dpop-nonce":"n-1"})", &challenge);
  EXPECT_THAT(RefreshOnce(*refresher, "rt-x"),
              StatusIs(absl::StatusCode::kUnknown, HasSubstr("use_dpop_nonce")));
  EXPECT_EQ(oauth_->Stat("token_requests"), 3);
  // An invalid nonce is never sent.
  const std::string bad_nonce = R"({"error":"use_dpop_nonce"})";
  oauth_->Script(400, R"({"dpop-nonce":"a \"quoted\" nonce"})", &bad_nonce);
  EXPECT_THAT(RefreshOnce(*refresher, "rt-x"), StatusIs(absl::StatusCode::kUnknown));
  EXPECT_EQ(oauth_->Stat("token_requests"), 4);
}

TEST_F(HttpRefresherTest, DpopOptionsAreChecked) {
  HttpTokenRefresherOptions o = Options(Auth::kNone);
  o.dpop.accept_bearer = true;
  EXPECT_THAT(MakeHttpTokenRefresher(o).status(),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("dpop.accept_bearer")));
  // With accept_bearer, a server without DPoP gives bearer tokens.
  absl::StatusOr<std::shared_ptr<const DpopKey>> key = DpopKey::Generate();
  ASSERT_THAT(key.status(), IsOk());
  o.dpop.key = *key;
  auto refresher = Refresher(o);
  ASSERT_NE(refresher, nullptr);
  EXPECT_EQ(refresher->dpop_key(), *key);
  const OAuthServer::Session session = oauth_->Seed("public-app");
  absl::StatusOr<Token> token = RefreshOnce(*refresher, session.refresh_token);
  ASSERT_THAT(token.status(), IsOk());
  EXPECT_EQ(token->dpop_jkt, "");
  // Without it, the same answer is a rejected client.
  o.dpop.accept_bearer = false;
  auto strict = Refresher(o);
  EXPECT_THAT(RefreshOnce(*strict, token->refresh_token),
              StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("accept_bearer")));
}

TEST_F(HttpRefresherTest, SlowEndpointTimesOutAsDeadlineExceeded) {
  HttpTokenRefresherOptions o = Options();
  o.timeout = absl::Milliseconds(300);
  auto refresher = Refresher(o);
  const std::string late = R"({"access_token":"late","token_type":"Bearer"})";
  oauth_->Script(200, "", &late, /*delay_ms=*/5000);
  const absl::Time start = absl::Now();
  EXPECT_THAT(RefreshOnce(*refresher, "rt-x"),
              StatusIs(absl::StatusCode::kDeadlineExceeded, HasSubstr("300ms")));
  EXPECT_LT(absl::Now() - start, absl::Seconds(3));
}

TEST_F(HttpRefresherTest, DestroyingTheRefresherAbortsTheGrantWithoutWaiting) {
  auto refresher = Refresher(Options());
  const std::string late = R"({"access_token":"late","token_type":"Bearer"})";
  oauth_->Script(200, "", &late, /*delay_ms=*/10000);
  absl::Notification done;
  absl::Status status;
  refresher->Refresh(GrantRequest{"rt-x"}, [&](absl::StatusOr<Token> r) {
    status = r.status();
    done.Notify();
  });
  // Wait until the request is at the server (each check is a round trip).
  const absl::Time give_up = absl::Now() + absl::Seconds(20);
  while (oauth_->Stat("scripted") == 0 && absl::Now() < give_up) {
  }
  ASSERT_EQ(oauth_->Stat("scripted"), 1);
  const absl::Time start = absl::Now();
  refresher.reset();
  EXPECT_LT(absl::Now() - start, absl::Seconds(2));  // not the 10 s answer
  ASSERT_TRUE(done.HasBeenNotified());               // the callback ran, exactly once
  EXPECT_THAT(status, StatusIs(absl::StatusCode::kCancelled));
}

TEST_F(HttpRefresherTest, DestroyingTheRefresherBeforeItsWorkerStartsStillAnswers) {
  for (int i = 0; i < 20; ++i) {
    auto refresher = Refresher(Options());
    int calls = 0;
    absl::Status status;
    refresher->Refresh(GrantRequest{"rt-x"}, [&](absl::StatusOr<Token> r) {
      ++calls;
      status = r.status();
    });
    refresher.reset();  // joins the worker: the callback has run by now
    EXPECT_EQ(calls, 1);
    // Either the grant got through (an unknown refresh token) or it was cut.
    EXPECT_THAT(status.code(),
                ::testing::AnyOf(absl::StatusCode::kCancelled, absl::StatusCode::kUnauthenticated));
  }
}

TEST_F(HttpRefresherTest, ConnectionRefusedIsTransient) {
  HttpTokenRefresherOptions o = Options();
  oauth_.reset();  // nothing listens on that port any more
  EXPECT_THAT(RefreshOnce(*Refresher(o), "rt-x"),
              StatusIs(absl::StatusCode::kUnavailable, HasSubstr("unreachable")));
}

class HttpsRefresherTest : public HttpRefresherTest {
 protected:
  void SetUp() override {
    OAuthServer::Options options;
    options.tls = true;
    StartOAuth(options);
  }
};

TEST_F(HttpsRefresherTest, VerifiesTheServerCertificate) {
  const OAuthServer::Session session = oauth_->Seed("confidential-app");
  HttpTokenRefresherOptions o = Options();
  o.allow_insecure_http = false;
  ASSERT_THAT(o.token_endpoint, ::testing::StartsWith("https://"));

  // The system's CAs do not know the test CA: refused before any request.
  auto untrusted = RefreshOnce(*Refresher(o), session.refresh_token);
  EXPECT_THAT(untrusted, StatusIs(absl::StatusCode::kUnavailable, HasSubstr("TLS")));
  EXPECT_EQ(oauth_->Stat("token_requests"), 0);

  o.ca_pem = testing::kTestCaPem;
  EXPECT_THAT(RefreshOnce(*Refresher(o), session.refresh_token), IsOk());
  EXPECT_EQ(oauth_->Stat("refresh_grants_ok"), 1);

  // The certificate names 127.0.0.1 and localhost; any other name fails.
  o.token_endpoint = absl::StrReplaceAll(o.token_endpoint, {{"127.0.0.1", "127.0.0.2"}});
  EXPECT_THAT(RefreshOnce(*Refresher(o), session.refresh_token),
              StatusIs(absl::StatusCode::kUnavailable));
}

}  // namespace
}  // namespace authrefresh
