// Service grants against a real OAuth 2.0 authorization server
// (tests/oauth_server/server.js: @node-oauth/oauth2-server, with client
// assertions and grant assertions verified by the `jose` library and client
// certificates by Node's TLS) over HTTPS on 127.0.0.1, and a gRPC resource
// server that checks every call's bearer token with it. For each grant and
// each client authentication method: a storm of calls with no token makes
// exactly one grant; proactive refresh renews without a waiting call; a
// rejected client is terminal after one grant; a rotated subject-token file
// is read anew; no key, assertion, secret or subject token reaches a log
// line, status or event.

#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/synchronization/blocking_counter.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "gmock/gmock.h"
#include "grpcpp/grpcpp.h"
#include "gtest/gtest.h"
#include "interceptor/authrefresh.h"
#include "interceptor/http_token_refresher.h"
#include "tests/protos/echo.grpc.pb.h"
#include "tests/testing/fake_clock.h"
#include "tests/testing/oauth_server.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/test_certs.h"
#include "tests/testing/test_client_certs.h"
#include "tests/testing/test_keys.h"

namespace authrefresh {
namespace {

using Auth = HttpTokenRefresherOptions::ClientAuth;
using Grant = HttpTokenRefresherOptions::Grant;
using Alg = JwtSigningKey::Algorithm;
using ::testing::HasSubstr;
using ::testing::Not;
using testing::GenerateKey;
using testing::IntrospectingEcho;
using testing::IsOk;
using testing::KeyKind;
using testing::OAuthServer;
using testing::StatusIs;

constexpr char kClientCredentials[] = "client_credentials";
constexpr char kJwtBearerGrant[] = "urn:ietf:params:oauth:grant-type:jwt-bearer";
constexpr char kTokenExchangeGrant[] = "urn:ietf:params:oauth:grant-type:token-exchange";
constexpr char kRefreshTokenGrant[] = "refresh_token";

// Waits for a condition that another process or thread makes true, checking
// it every millisecond, for at most 30 s.
bool Eventually(const std::function<bool()>& condition) {
  const absl::Time deadline = absl::Now() + absl::Seconds(30);
  while (!condition()) {
    if (absl::Now() > deadline) return false;
    absl::SleepFor(absl::Milliseconds(1));
  }
  return true;
}

std::string WriteFile(const std::string& name, const std::string& content) {
  const char* dir = getenv("TEST_TMPDIR");
  const std::string path = absl::StrCat(dir ? dir : "/tmp", "/", name);
  std::ofstream(path, std::ios::trunc) << content;
  return path;
}

// Replaces `path` the way kubelet rotates a projected token: a new file
// renamed over the old one.
void Rotate(const std::string& path, const std::string& content) {
  const std::string next = path + ".next";
  std::ofstream(next, std::ios::trunc) << content;
  ASSERT_EQ(rename(next.c_str(), path.c_str()), 0);
}

// Everything a grant × client-authentication combination needs: how to
// register it at the server and configure the refresher.
struct Combo {
  std::string name;
  std::string grant_type;    // as the server counts it
  std::string client_auth;   // stats.last_client_auth expected
  std::function<void(OAuthServer&, HttpTokenRefresherOptions&, Token&)> setup;
};

class ServiceGrantsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    OAuthServer::Options o;
    o.tls = true;
    o.client_ca = true;
    oauth_ = OAuthServer::Start(o);
    ASSERT_NE(oauth_, nullptr);
    echo_ = std::make_unique<IntrospectingEcho>(oauth_.get());
    int port = 0;
    grpc::ServerBuilder builder;
    builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port);
    builder.RegisterService(echo_.get());
    server_ = builder.BuildAndStart();
    ASSERT_NE(server_, nullptr);
    address_ = absl::StrCat("127.0.0.1:", port);
  }

  HttpTokenRefresherOptions Base() {
    HttpTokenRefresherOptions o;
    o.token_endpoint = oauth_->token_endpoint();
    o.ca_pem = testing::kTestCaPem;
    o.timeout = absl::Seconds(10);
    return o;
  }

  void Connect(HttpTokenRefresherOptions options, Token initial = {},
               TokenManagerOptions m = {}) {
    absl::StatusOr<std::unique_ptr<TokenRefresher>> refresher =
        MakeHttpTokenRefresher(std::move(options));
    ASSERT_THAT(refresher.status(), IsOk());
    m.on_client_rejected = [this](const absl::Status& s) {
      absl::MutexLock lock(&mu_);
      rejected_.push_back(s);
    };
    m.on_session_expired = [this](const absl::Status& s) {
      absl::MutexLock lock(&mu_);
      expired_.push_back(s);
    };
    manager_ = TokenManager::Create(std::move(initial), *std::move(refresher), std::move(m));
    InterceptorOptions i;
    i.allow_insecure_transport = true;  // loopback resource server
    stub_ = test::Echo::NewStub(
        CreateAuthRefreshChannel(address_, grpc::InsecureChannelCredentials(), manager_, i));
  }

  grpc::Status Say() {
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(20));
    test::EchoRequest request;
    request.set_text("hi");
    test::EchoReply reply;
    grpc::Status s = stub_->Say(&context, request, &reply);
    if (s.ok()) EXPECT_EQ(reply.text(), "hi");
    return s;
  }

  // `n` concurrent calls (callback API) while the server holds the grant:
  // all of them wait for the one grant before it is released.
  std::vector<grpc::Status> StormWhileTheGrantIsHeld(int n) {
    oauth_->HoldGrants();
    struct Call {
      grpc::ClientContext context;
      test::EchoRequest request;
      test::EchoReply reply;
      grpc::Status status;
    };
    std::vector<Call> calls(n);
    absl::BlockingCounter done(n);
    for (Call& c : calls) {
      c.context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(60));
      c.request.set_text("storm");
      stub_->async()->Say(&c.context, &c.request, &c.reply, [&c, &done](grpc::Status s) {
        c.status = std::move(s);
        done.DecrementCount();
      });
    }
    EXPECT_TRUE(Eventually([&] { return oauth_->GrantsWaiting() == 1; }));
    EXPECT_TRUE(Eventually([&] {
      return manager_->Stats().calls_waited == static_cast<uint64_t>(n);
    })) << manager_->Stats().calls_waited;
    oauth_->ReleaseGrants();
    done.Wait();
    std::vector<grpc::Status> out;
    for (Call& c : calls) {
      if (c.status.ok()) EXPECT_EQ(c.reply.text(), "storm");
      out.push_back(c.status);
    }
    return out;
  }

  int rejected_calls() {
    absl::MutexLock lock(&mu_);
    return static_cast<int>(rejected_.size());
  }
  int expired_calls() {
    absl::MutexLock lock(&mu_);
    return static_cast<int>(expired_.size());
  }
  std::string AssertionField(const char* which, const char* field) {
    const google::protobuf::Struct s = oauth_->Stats();
    const auto& v = s.fields().at(which);
    if (!v.has_struct_value()) return "<none>";
    const auto& f = v.struct_value().fields();
    if (!f.contains(field)) return "<absent>";
    return f.at(field).has_number_value() ? absl::StrCat(f.at(field).number_value())
                                          : f.at(field).string_value();
  }

  std::unique_ptr<OAuthServer> oauth_;
  std::unique_ptr<IntrospectingEcho> echo_;
  std::unique_ptr<grpc::Server> server_;
  std::string address_;
  std::shared_ptr<TokenManager> manager_;
  std::unique_ptr<test::Echo::Stub> stub_;
  absl::Mutex mu_;
  std::vector<absl::Status> rejected_ ABSL_GUARDED_BY(mu_);
  std::vector<absl::Status> expired_ ABSL_GUARDED_BY(mu_);
};

// A private_key_jwt client registered with the public half of `key`.
void PrivateKeyJwtClient(OAuthServer& oauth, HttpTokenRefresherOptions& o,
                         const std::string& client_id, const std::string& private_pem,
                         Alg alg, const std::string& kid, std::vector<std::string> grants) {
  oauth.RegisterClient({client_id, "private_key_jwt", "", testing::PublicKeyOf(private_pem),
                        alg == Alg::kES256 ? "ES256" : "RS256", kid, "", std::move(grants)});
  o.client_auth = Auth::kPrivateKeyJwt;
  o.client_id = client_id;
  o.client_assertion_key.algorithm = alg;
  o.client_assertion_key.private_key_pem = private_pem;
  o.client_assertion_key.key_id = kid;
}

void TlsClient(OAuthServer& oauth, HttpTokenRefresherOptions& o, const std::string& client_id,
               std::vector<std::string> grants) {
  oauth.RegisterClient({client_id, "tls_client_auth", "", "", "", "", "svc-a", std::move(grants)});
  o.client_auth = Auth::kTlsClientAuth;
  o.client_id = client_id;
  o.client_certificate_file = WriteFile("svc-a.crt", testing::kTestClientACertPem);
  o.client_key_file = WriteFile("svc-a.key", testing::kTestClientAKeyPem);
}

// Entra ID workload identity federation, as the server models it: the
// client's federated credential trusts the cluster's tokens for this
// service account and audience, and the projected token is the client
// assertion.
constexpr char kFederatedSubject[] = "system:serviceaccount:ns:app";
constexpr char kFederatedAudience[] = "api://AzureADTokenExchange";

void FederatedClient(OAuthServer& oauth, HttpTokenRefresherOptions& o,
                     const std::string& client_id, std::vector<std::string> grants,
                     int token_ttl_seconds = 600) {
  OAuthServer::Client c;
  c.client_id = client_id;
  c.method = "federated";
  c.grants = std::move(grants);
  c.federated_subject = kFederatedSubject;
  c.federated_audience = kFederatedAudience;
  oauth.RegisterClient(c);
  o.client_auth = Auth::kClientAssertionFile;
  o.client_id = client_id;
  o.client_assertion_file = WriteFile(
      client_id + "-azure-identity-token",
      oauth.MintSubjectToken(kFederatedSubject, token_ttl_seconds, kFederatedAudience).token);
}

void JwtBearer(OAuthServer& oauth, HttpTokenRefresherOptions& o) {
  const std::string key = GenerateKey(KeyKind::kEcP256).private_pem;
  oauth.RegisterIssuer("robot@test", testing::PublicKeyOf(key), "ES256", "robot-key");
  o.grant = Grant::kJwtBearer;
  o.jwt_bearer.key = {Alg::kES256, key, "", "robot-key", "", ""};
  o.jwt_bearer.issuer = "robot@test";
  o.jwt_bearer.subject = "user-9";
  o.jwt_bearer.extra_claims = {{"scope", "read"}};
}

void TokenExchange(OAuthServer& oauth, HttpTokenRefresherOptions& o) {
  o.grant = Grant::kTokenExchange;
  o.token_exchange.subject_token_file =
      WriteFile("projected-token", oauth.MintSubjectToken("system:serviceaccount:ns:app").token);
}

std::vector<Combo> Combos() {
  return {
      {"client_credentials+client_secret_basic", kClientCredentials, "basic",
       [](OAuthServer&, HttpTokenRefresherOptions& o, Token&) {
         o.grant = Grant::kClientCredentials;
         o.client_id = "confidential-app";
         o.client_secret = "app-secret";
       }},
      {"client_credentials+client_secret_post", kClientCredentials, "body",
       [](OAuthServer&, HttpTokenRefresherOptions& o, Token&) {
         o.grant = Grant::kClientCredentials;
         o.client_auth = Auth::kClientSecretPost;
         o.client_id = "confidential-app";
         o.client_secret = "app-secret";
       }},
      {"client_credentials+private_key_jwt RS256 with x5t", kClientCredentials,
       "private_key_jwt",
       [](OAuthServer& s, HttpTokenRefresherOptions& o, Token&) {
         o.grant = Grant::kClientCredentials;
         PrivateKeyJwtClient(s, o, "svc-rs256", testing::kTestSignerKeyPem, Alg::kRS256,
                             "rsa-1", {kClientCredentials});
         o.client_assertion_key.certificate_pem = testing::kTestSignerCertPem;
       }},
      {"client_credentials+private_key_jwt ES256", kClientCredentials, "private_key_jwt",
       [](OAuthServer& s, HttpTokenRefresherOptions& o, Token&) {
         o.grant = Grant::kClientCredentials;
         PrivateKeyJwtClient(s, o, "svc-es256", GenerateKey(KeyKind::kEcP256).private_pem,
                             Alg::kES256, "ec-1", {kClientCredentials});
       }},
      {"client_credentials+client assertion file (federated)", kClientCredentials, "federated",
       [](OAuthServer& s, HttpTokenRefresherOptions& o, Token&) {
         o.grant = Grant::kClientCredentials;
         FederatedClient(s, o, "svc-federated", {kClientCredentials});
       }},
      {"client_credentials+tls_client_auth", kClientCredentials, "tls_client_auth",
       [](OAuthServer& s, HttpTokenRefresherOptions& o, Token&) {
         o.grant = Grant::kClientCredentials;
         TlsClient(s, o, "svc-mtls", {kClientCredentials});
       }},
      {"refresh_token+private_key_jwt", kRefreshTokenGrant, "private_key_jwt",
       [](OAuthServer& s, HttpTokenRefresherOptions& o, Token& initial) {
         PrivateKeyJwtClient(s, o, "app-pkjwt", GenerateKey(KeyKind::kRsa2048).private_pem,
                             Alg::kRS256, "", {kRefreshTokenGrant});
         initial.refresh_token = s.Seed("app-pkjwt").refresh_token;
       }},
      {"jwt_bearer+none", kJwtBearerGrant, "none",
       [](OAuthServer& s, HttpTokenRefresherOptions& o, Token&) {
         o.client_auth = Auth::kNone;
         JwtBearer(s, o);
       }},
      {"jwt_bearer+private_key_jwt", kJwtBearerGrant, "private_key_jwt",
       [](OAuthServer& s, HttpTokenRefresherOptions& o, Token&) {
         PrivateKeyJwtClient(s, o, "svc-jb", GenerateKey(KeyKind::kEcP256).private_pem,
                             Alg::kES256, "ec-2", {kJwtBearerGrant});
         JwtBearer(s, o);
       }},
      {"token_exchange+none", kTokenExchangeGrant, "none",
       [](OAuthServer& s, HttpTokenRefresherOptions& o, Token&) {
         o.client_auth = Auth::kNone;
         TokenExchange(s, o);
       }},
      {"token_exchange+tls_client_auth", kTokenExchangeGrant, "tls_client_auth",
       [](OAuthServer& s, HttpTokenRefresherOptions& o, Token&) {
         TlsClient(s, o, "svc-te-mtls", {kTokenExchangeGrant});
         TokenExchange(s, o);
       }},
      {"token_exchange+client_secret_basic", kTokenExchangeGrant, "basic",
       [](OAuthServer& s, HttpTokenRefresherOptions& o, Token&) {
         s.RegisterClient({"svc-te-secret", "client_secret", "te-secret", "", "", "", "",
                           {kTokenExchangeGrant}});
         o.client_id = "svc-te-secret";
         o.client_secret = "te-secret";
         TokenExchange(s, o);
       }},
  };
}

// For every combination: 1000 calls start with no access token while the
// server holds the grant; all of them wait for it; exactly one grant is
// made, the server verified what it received, and every call succeeds with
// one hit on the resource server.
TEST_F(ServiceGrantsTest, EachGrantAndClientAuthenticationStormIsOneVerifiedGrant) {
  constexpr int kCalls = 1000;
  int hits_before = 0;
  for (const Combo& combo : Combos()) {
    SCOPED_TRACE(combo.name);
    HttpTokenRefresherOptions o = Base();
    Token initial;
    combo.setup(*oauth_, o, initial);
    const int grants_before = oauth_->GrantsOk(combo.grant_type);
    Connect(o, initial);
    const std::vector<grpc::Status> results = StormWhileTheGrantIsHeld(kCalls);
    int ok = 0;
    for (const grpc::Status& s : results) ok += s.ok();
    EXPECT_EQ(ok, kCalls);
    EXPECT_EQ(oauth_->GrantsOk(combo.grant_type), grants_before + 1);
    EXPECT_EQ(oauth_->GrantsFailed(combo.grant_type), 0);
    EXPECT_EQ(oauth_->StatString("last_grant_type"), combo.grant_type);
    EXPECT_EQ(oauth_->StatString("last_client_auth"), combo.client_auth);
    EXPECT_EQ(oauth_->Stat("jti_replays"), 0);
    EXPECT_EQ(echo_->hits(), hits_before + kCalls);
    EXPECT_EQ(echo_->rejected(), 0);
    hits_before = echo_->hits();
    const TokenManagerStats stats = manager_->Stats();
    EXPECT_EQ(stats.refreshes_started, 1u);
    EXPECT_EQ(stats.refreshes_succeeded, 1u);
    EXPECT_EQ(stats.calls_waited, static_cast<uint64_t>(kCalls));
    EXPECT_EQ(stats.calls_replayed, 0u);
    if (combo.client_auth == "private_key_jwt") {
      // RFC 7523 section 3, as the server's jose verification saw it.
      EXPECT_EQ(AssertionField("last_client_assertion", "aud"), oauth_->token_endpoint());
      EXPECT_EQ(AssertionField("last_client_assertion", "lifetime_s"), "60");
      EXPECT_EQ(AssertionField("last_client_assertion", "jti").size(), 22u);
      EXPECT_EQ(AssertionField("last_client_assertion", "alg"),
                o.client_assertion_key.algorithm == Alg::kES256 ? "ES256" : "RS256");
      EXPECT_EQ(AssertionField("last_client_assertion", "kid"), o.client_assertion_key.key_id);
      EXPECT_EQ(AssertionField("last_client_assertion", "x5t_s256").empty(),
                o.client_assertion_key.certificate_pem.empty());
    }
    if (combo.client_auth == "federated") {
      // Verified against the cluster's key, with the credential's sub and aud.
      EXPECT_EQ(AssertionField("last_federated_assertion", "sub"), kFederatedSubject);
      EXPECT_EQ(AssertionField("last_federated_assertion", "aud"), kFederatedAudience);
    }
    if (combo.client_auth == "tls_client_auth") {
      EXPECT_EQ(oauth_->StatString("last_client_cert_cn"), "svc-a");
    }
    if (combo.grant_type == kJwtBearerGrant) {
      EXPECT_EQ(AssertionField("last_assertion", "iss"), "robot@test");
      EXPECT_EQ(AssertionField("last_assertion", "sub"), "user-9");
      EXPECT_EQ(AssertionField("last_assertion", "aud"), oauth_->token_endpoint());
      EXPECT_EQ(AssertionField("last_assertion", "lifetime_s"), "300");
      EXPECT_EQ(AssertionField("last_assertion", "kid"), "robot-key");
    }
    if (combo.grant_type == kTokenExchangeGrant) {
      EXPECT_EQ(AssertionField("last_subject_token", "sub"), "system:serviceaccount:ns:app");
      EXPECT_EQ(AssertionField("last_subject_token", "type"),
                "urn:ietf:params:oauth:token-type:jwt");
    }
    EXPECT_EQ(rejected_calls(), 0);
    EXPECT_EQ(expired_calls(), 0);
  }
}

TEST_F(ServiceGrantsTest, ScopeAudienceAndResourcesReachTheServer) {
  HttpTokenRefresherOptions o = Base();
  o.grant = Grant::kClientCredentials;
  o.client_id = "confidential-app";
  o.client_secret = "app-secret";
  o.scope = "read write";
  o.audience = "https://api.example.test";
  o.resources = {"https://a.example.test/", "https://b.example.test/v1"};
  Connect(o);
  ASSERT_THAT(Say(), IsOk());
  EXPECT_EQ(oauth_->StatString("last_scope"), "read write");
  EXPECT_EQ(oauth_->StatString("last_audience"), "https://api.example.test");
  const auto resources = oauth_->Stats().fields().at("last_resources").list_value();
  ASSERT_EQ(resources.values_size(), 2);
  EXPECT_EQ(resources.values(0).string_value(), "https://a.example.test/");
  EXPECT_EQ(resources.values(1).string_value(), "https://b.example.test/v1");
  EXPECT_EQ(manager_->CurrentToken().scope, "read write");
}

// Proactive refresh with a grant that has no refresh token: inside the
// margin, the next call goes out with the valid token and one background
// grant renews it; nobody waits.
TEST_F(ServiceGrantsTest, ProactiveRefreshRenewsBeforeExpiryWithNoWaitingCall) {
  auto clock = std::make_shared<testing::FakeClock>();
  auto renewed = std::make_shared<absl::Notification>();
  auto refreshed = std::make_shared<std::atomic<int>>(0);
  TokenManagerOptions m;
  m.clock = clock;
  m.refresh_jitter = 0;  // the margin's start, exactly
  m.on_tokens_refreshed = [renewed, refreshed](const Token&) {
    if (refreshed->fetch_add(1) == 1) renewed->Notify();
  };
  HttpTokenRefresherOptions o = Base();
  o.grant = Grant::kClientCredentials;
  PrivateKeyJwtClient(*oauth_, o, "svc-proactive", GenerateKey(KeyKind::kEcP256).private_pem,
                      Alg::kES256, "p-1", {kClientCredentials});
  Connect(o, Token{}, m);
  ASSERT_THAT(Say(), IsOk());  // the first grant
  const std::string first = manager_->CurrentToken().access_token;
  EXPECT_EQ(oauth_->GrantsOk(kClientCredentials), 1);

  // The server's tokens live about an hour (expires_in 3599 or 3600): the
  // margin is the full 60 s before expires_at.
  const absl::Time expires_at = manager_->CurrentToken().expires_at;
  ASSERT_LT(expires_at, clock->Now() + absl::Seconds(3601));
  ASSERT_GT(expires_at, clock->Now() + absl::Seconds(3500));
  clock->AdvanceTo(expires_at - absl::Seconds(61));
  ASSERT_THAT(Say(), IsOk());
  EXPECT_EQ(oauth_->GrantsOk(kClientCredentials), 1);  // not yet inside the margin
  clock->AdvanceTo(expires_at - absl::Seconds(59));
  ASSERT_THAT(Say(), IsOk());  // sent with the old, still valid token
  ASSERT_TRUE(renewed->WaitForNotificationWithTimeout(absl::Seconds(30)));
  EXPECT_EQ(oauth_->GrantsOk(kClientCredentials), 2);
  EXPECT_NE(manager_->CurrentToken().access_token, first);
  ASSERT_THAT(Say(), IsOk());  // with the new token
  const TokenManagerStats stats = manager_->Stats();
  EXPECT_EQ(stats.calls_waited, 1u);  // the very first call only
  EXPECT_EQ(stats.refreshes_succeeded, 2u);
  EXPECT_EQ(echo_->rejected(), 0);
  EXPECT_EQ(echo_->hits(), 4);
}

// A client the token service rejects: every waiting call fails with the
// client-rejected status after exactly one grant; on_client_rejected runs
// once; later calls fail at once, without another grant.
TEST_F(ServiceGrantsTest, RejectedClientIsTerminalAfterOneGrant) {
  struct Case {
    std::string name;
    std::string grant_type;
    std::string cause;  // what the status quotes
    std::function<void(OAuthServer&, HttpTokenRefresherOptions&)> setup;
  };
  const std::vector<Case> cases = {
      {"private_key_jwt signed with the wrong key", kClientCredentials, "invalid_client",
       [](OAuthServer& s, HttpTokenRefresherOptions& o) {
         o.grant = Grant::kClientCredentials;
         PrivateKeyJwtClient(s, o, "svc-wrong-key", GenerateKey(KeyKind::kEcP256).private_pem,
                             Alg::kES256, "", {kClientCredentials});
         o.client_assertion_key.private_key_pem = GenerateKey(KeyKind::kEcP256).private_pem;
       }},
      {"tls_client_auth with another client's certificate", kClientCredentials,
       "invalid_client",
       [](OAuthServer& s, HttpTokenRefresherOptions& o) {
         o.grant = Grant::kClientCredentials;
         TlsClient(s, o, "svc-wrong-cert", {kClientCredentials});
         o.client_certificate_file = WriteFile("svc-b.crt", testing::kTestClientBCertPem);
         o.client_key_file = WriteFile("svc-b.key", testing::kTestClientBKeyPem);
       }},
      {"client assertion file holding an expired token", kClientCredentials,
       "invalid_client (HTTP 401): federated assertion expired",
       [](OAuthServer& s, HttpTokenRefresherOptions& o) {
         o.grant = Grant::kClientCredentials;
         FederatedClient(s, o, "svc-federated-expired", {kClientCredentials}, -60);
       }},
      {"jwt_bearer from an unknown issuer", kJwtBearerGrant, "invalid_grant",
       [](OAuthServer& s, HttpTokenRefresherOptions& o) {
         o.client_auth = Auth::kNone;
         JwtBearer(s, o);
         o.jwt_bearer.issuer = "stranger@test";
       }},
      {"token_exchange with an expired subject token", kTokenExchangeGrant, "invalid_grant",
       [](OAuthServer& s, HttpTokenRefresherOptions& o) {
         o.client_auth = Auth::kNone;
         o.grant = Grant::kTokenExchange;
         o.token_exchange.subject_token_file =
             WriteFile("expired-token", s.MintSubjectToken("sa", -60).token);
       }},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    HttpTokenRefresherOptions o = Base();
    c.setup(*oauth_, o);
    const int failed_before = oauth_->GrantsFailed(c.grant_type);
    const int rejected_before = rejected_calls();
    Connect(o);
    constexpr int kCalls = 50;
    const std::vector<grpc::Status> results = StormWhileTheGrantIsHeld(kCalls);
    for (const grpc::Status& s : results) {
      EXPECT_EQ(s.error_code(), grpc::StatusCode::UNAUTHENTICATED);
      EXPECT_THAT(s.error_message(), HasSubstr("rejected this client"));
      EXPECT_THAT(s.error_message(), HasSubstr(c.cause));
    }
    EXPECT_EQ(oauth_->GrantsFailed(c.grant_type), failed_before + 1);
    EXPECT_EQ(rejected_calls(), rejected_before + 1);
    EXPECT_EQ(expired_calls(), 0);
    EXPECT_EQ(Say().error_code(), grpc::StatusCode::UNAUTHENTICATED);
    EXPECT_EQ(oauth_->GrantsFailed(c.grant_type), failed_before + 1);  // no retry storm
    EXPECT_EQ(manager_->Stats().clients_rejected, 1u);
    EXPECT_EQ(manager_->Stats().refreshes_started, 1u);
  }
  EXPECT_EQ(echo_->hits(), 0);  // no call went out without a token
}

TEST_F(ServiceGrantsTest, RotatedSubjectTokenFileIsReadAnewAtTheNextGrant) {
  HttpTokenRefresherOptions o = Base();
  o.client_auth = Auth::kNone;
  o.grant = Grant::kTokenExchange;
  const OAuthServer::SubjectToken first = oauth_->MintSubjectToken("sa-1");
  o.token_exchange.subject_token_file = WriteFile("rotating-token", first.token);
  Connect(o);
  ASSERT_THAT(Say(), IsOk());
  EXPECT_EQ(AssertionField("last_subject_token", "jti"), first.jti);

  const OAuthServer::SubjectToken second = oauth_->MintSubjectToken("sa-1");
  ASSERT_NO_FATAL_FAILURE(Rotate(o.token_exchange.subject_token_file, second.token));
  oauth_->ExpireAccessTokens();  // the server rejects the first token now
  ASSERT_THAT(Say(), IsOk());    // rejected, one grant, replayed
  EXPECT_EQ(AssertionField("last_subject_token", "jti"), second.jti);
  EXPECT_EQ(oauth_->GrantsOk(kTokenExchangeGrant), 2);
  EXPECT_EQ(echo_->hits(), 3);
  EXPECT_EQ(manager_->Stats().calls_replayed, 1u);
}

// The same for a client assertion file (Entra ID workload identity): kubelet
// renames a new token over it, and the next grant sends the new one.
TEST_F(ServiceGrantsTest, RotatedClientAssertionFileIsReadAnewAtTheNextGrant) {
  HttpTokenRefresherOptions o = Base();
  o.grant = Grant::kClientCredentials;
  FederatedClient(*oauth_, o, "svc-federated-rotating", {kClientCredentials});
  Connect(o);
  ASSERT_THAT(Say(), IsOk());
  const std::string first = AssertionField("last_federated_assertion", "jti");
  EXPECT_EQ(first.size(), 36u);  // the server's UUID

  const OAuthServer::SubjectToken second =
      oauth_->MintSubjectToken(kFederatedSubject, 600, kFederatedAudience);
  ASSERT_NE(second.jti, first);
  ASSERT_NO_FATAL_FAILURE(Rotate(o.client_assertion_file, second.token));
  oauth_->ExpireAccessTokens();
  ASSERT_THAT(Say(), IsOk());  // rejected, one grant, replayed
  EXPECT_EQ(AssertionField("last_federated_assertion", "jti"), second.jti);
  EXPECT_EQ(oauth_->GrantsOk(kClientCredentials), 2);
  EXPECT_EQ(oauth_->StatString("last_client_auth"), "federated");
  EXPECT_EQ(echo_->hits(), 3);
  EXPECT_EQ(manager_->Stats().calls_replayed, 1u);
}

// A careless server quotes the whole request in its errors: the client
// secret, the assertions and the subject token still never reach a status,
// a log line or an event.
TEST_F(ServiceGrantsTest, NoKeyAssertionSecretOrSubjectTokenIsEverShown) {
  oauth_->EchoErrors(true);
  std::vector<std::string> shown;
  absl::Mutex shown_mu;
  auto show = [&](std::string line) {
    absl::MutexLock lock(&shown_mu);
    shown.push_back(std::move(line));
  };
  const std::string client_key = GenerateKey(KeyKind::kRsa2048).private_pem;
  const std::string grant_key = GenerateKey(KeyKind::kEcP256).private_pem;
  const OAuthServer::SubjectToken expired = oauth_->MintSubjectToken("sa", -60);
  std::vector<std::function<void(HttpTokenRefresherOptions&)>> setups = {
      [&](HttpTokenRefresherOptions& o) {  // a wrong client secret
        o.grant = Grant::kClientCredentials;
        o.client_auth = Auth::kClientSecretPost;
        o.client_id = "confidential-app";
        o.client_secret = "the-wrong-secret-42";
      },
      [&](HttpTokenRefresherOptions& o) {  // an assertion for an unknown key
        o.grant = Grant::kClientCredentials;
        PrivateKeyJwtClient(*oauth_, o, "svc-echo", GenerateKey(KeyKind::kRsa2048).private_pem,
                            Alg::kRS256, "", {kClientCredentials});
        o.client_assertion_key.private_key_pem = client_key;
      },
      [&](HttpTokenRefresherOptions& o) {  // a grant assertion nobody trusts
        o.client_auth = Auth::kNone;
        o.grant = Grant::kJwtBearer;
        o.jwt_bearer.key = {Alg::kES256, grant_key, "", "", "", ""};
        o.jwt_bearer.issuer = "nobody@test";
        o.jwt_bearer.subject = "x";
      },
      [&](HttpTokenRefresherOptions& o) {  // an expired subject token
        o.client_auth = Auth::kNone;
        o.grant = Grant::kTokenExchange;
        o.token_exchange.subject_token_file = WriteFile("echo-token", expired.token);
      },
      [&](HttpTokenRefresherOptions& o) {  // an expired federated client assertion
        o.grant = Grant::kClientCredentials;
        FederatedClient(*oauth_, o, "svc-federated-echo", {kClientCredentials}, -60);
      },
  };
  for (const auto& setup : setups) {
    HttpTokenRefresherOptions o = Base();
    setup(o);
    TokenManagerOptions m;
    m.debug_log = [&](absl::string_view line) { show(std::string(line)); };
    m.on_event = [&](const TokenEvent& e) { show(e.reason.ToString()); };
    Connect(o, Token{}, m);
    const grpc::Status s = Say();
    EXPECT_EQ(s.error_code(), grpc::StatusCode::UNAUTHENTICATED);
    // Each request's own secret reached the server, which quoted it back.
    EXPECT_THAT(s.error_message(), HasSubstr("<redacted>"));
    show(s.error_message());
  }
  {
    absl::MutexLock lock(&shown_mu);
    std::string all;
    for (const std::string& line : shown) absl::StrAppend(&all, line, "\n");
    // The server did quote the request: the scrubber had work to do.
    EXPECT_THAT(all, HasSubstr("<redacted>"));
    EXPECT_THAT(all, Not(HasSubstr("the-wrong-secret-42")));
    EXPECT_THAT(all, Not(HasSubstr("eyJ")));  // no JWT: assertions, subject token
    for (const std::string* key : {&client_key, &grant_key}) {
      for (absl::string_view line : absl::StrSplit(*key, '\n')) {
        if (line.size() >= 16 && line[0] != '-') {
          EXPECT_THAT(all, Not(HasSubstr(std::string(line))));
        }
      }
    }
  }
}

}  // namespace
}  // namespace authrefresh
