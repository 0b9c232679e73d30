// DPoP (RFC 9449) end to end: tokens from tests/oauth_server/server.js,
// which checks the proof of every grant and binds its tokens to the proof's
// key, and calls to a TLS gRPC resource server on 127.0.0.1 that checks each
// call's proof the way RFC 9449 section 7 says, with an independent verifier
// (tests/oauth_server/dpop_check.js, jose): the signature, typ, jwk, htm,
// htu, ath, the iat window, jti replay, its nonce, and that the key is the
// one the token is bound to (cnf.jkt, from server.js).

#include <atomic>
#include <chrono>
#include <fstream>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "gmock/gmock.h"
#include "google/protobuf/struct.pb.h"
#include "google/protobuf/util/json_util.h"
#include "grpcpp/grpcpp.h"
#include "gtest/gtest.h"
#include "interceptor/authrefresh.h"
#include "interceptor/http_token_refresher.h"
#include "interceptor/shared_token.h"
#include "tests/protos/echo.grpc.pb.h"
#include "tests/testing/fake_clock.h"
#include "tests/testing/node_process.h"
#include "tests/testing/oauth_server.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/test_certs.h"
#include "tests/testing/test_keys.h"

namespace authrefresh {
namespace {

using google::protobuf::Struct;
using ::testing::HasSubstr;
using testing::IsOk;
using testing::NodeProcess;
using testing::OAuthServer;

std::string Metadata(const grpc::ServerContext& context, const char* key, int* count) {
  auto [begin, end] = context.client_metadata().equal_range(key);
  *count = static_cast<int>(std::distance(begin, end));
  return begin == end ? "" : std::string(begin->second.data(), begin->second.size());
}

// A resource server that accepts DPoP-bound tokens only (RFC 9449 section
// 7), and, when asked, requires its own nonce (section 9).
class DpopResourceServer final : public test::Echo::Service {
 public:
  enum class Nonces {
    kNone,       // no nonce
    kStrict,     // only the current nonce; a rotation takes effect at once
    kAnnounced,  // every answer carries the current nonce, and the previous
                 // one is still accepted after a rotation
  };

  DpopResourceServer(OAuthServer* oauth, NodeProcess* checker) : oauth_(oauth), checker_(checker) {}

  void set_authority(const std::string& authority) { authority_ = authority; }
  void RequireNonces(Nonces mode) {
    absl::MutexLock lock(&mu_);
    mode_ = mode;
    RotateLocked();
  }
  void RotateNonce() {
    absl::MutexLock lock(&mu_);
    RotateLocked();
  }
  int hits() {
    absl::MutexLock lock(&mu_);
    return hits_;
  }
  // Calls refused, by the reason the verifier or the server gave.
  int refused(const std::string& why) {
    absl::MutexLock lock(&mu_);
    return refused_[why];
  }
  int refused_total() {
    absl::MutexLock lock(&mu_);
    int n = 0;
    for (const auto& [why, count] : refused_) n += count;
    return n;
  }
  // What the last accepted call carried, as an attacker on the path would see it.
  std::pair<std::string, std::string> last_accepted() {
    absl::MutexLock lock(&mu_);
    return {last_authorization_, last_proof_};
  }

  grpc::Status Say(grpc::ServerContext* context, const test::EchoRequest* request,
                   test::EchoReply* reply) override {
    int authorizations = 0;
    int proofs = 0;
    const std::string authorization = Metadata(*context, "authorization", &authorizations);
    const std::string proof = Metadata(*context, "dpop", &proofs);
    if (authorizations != 1 || !absl::StartsWith(authorization, "DPoP ")) {
      return Refuse(context, "not a DPoP token", "invalid_token");
    }
    if (proofs != 1) return Refuse(context, "not one proof", "invalid_dpop_proof");
    const std::string token = authorization.substr(5);
    bool active = false;
    const std::string jkt = oauth_->TokenBinding(token, &active);
    if (!active) return Refuse(context, "token not live", "invalid_token");
    if (jkt.empty()) return Refuse(context, "token not bound", "invalid_token");
    std::string current;
    std::string previous;
    Nonces mode;
    {
      absl::MutexLock lock(&mu_);
      current = nonce_;
      previous = previous_nonce_;
      mode = mode_;
    }
    const std::string htu = absl::StrCat("https://", authority_, "/authrefresh.test.Echo/Say");
    std::vector<std::string> nonces;
    if (mode != Nonces::kNone) nonces.push_back(current);
    if (mode == Nonces::kAnnounced && !previous.empty()) nonces.push_back(previous);
    const std::string error = Check(proof, htu, token, jkt, nonces);
    if (error == "nonce does not match") {
      context->AddTrailingMetadata("dpop-nonce", current);
      return Refuse(context, error, "use_dpop_nonce");
    }
    if (!error.empty()) return Refuse(context, error, "invalid_dpop_proof");
    if (mode == Nonces::kAnnounced) context->AddInitialMetadata("dpop-nonce", current);
    absl::MutexLock lock(&mu_);
    ++hits_;
    last_authorization_ = authorization;
    last_proof_ = proof;
    reply->set_text(request->text());
    return grpc::Status::OK;
  }

 private:
  void RotateLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    previous_nonce_ = nonce_;
    nonce_ = absl::StrCat("rs-nonce-", ++nonces_made_);
  }

  grpc::Status Refuse(grpc::ServerContext* context, const std::string& why,
                      const std::string& error) {
    context->AddTrailingMetadata("www-authenticate",
                                 absl::StrCat("DPoP error=\"", error, "\", algs=\"ES256 EdDSA\""));
    absl::MutexLock lock(&mu_);
    ++refused_[why];
    return grpc::Status(grpc::StatusCode::UNAUTHENTICATED, why);
  }

  std::string Ask(const Struct& command) {
    std::string line;
    EXPECT_TRUE(google::protobuf::util::MessageToJsonString(command, &line).ok());
    absl::MutexLock lock(&checker_mu_);
    const Struct answer = checker_->Command(line);
    if (answer.fields().at("ok").bool_value()) return "";
    return answer.fields().at("error").string_value();
  }

  // What the verifier says of `proof`; empty: valid. `nonces`: those it may
  // carry (none: it must carry none).
  std::string Check(const std::string& proof, const std::string& htu, const std::string& token,
                    const std::string& jkt, const std::vector<std::string>& nonces) {
    Struct c;
    (*c.mutable_fields())["proof"].set_string_value(proof);
    (*c.mutable_fields())["htm"].set_string_value("POST");
    (*c.mutable_fields())["htu"].set_string_value(htu);
    (*c.mutable_fields())["access_token"].set_string_value(token);
    (*c.mutable_fields())["jkt"].set_string_value(jkt);
    if (!nonces.empty()) {
      google::protobuf::ListValue* list = (*c.mutable_fields())["nonces"].mutable_list_value();
      for (const std::string& n : nonces) list->add_values()->set_string_value(n);
    }
    return Ask(c);
  }

  OAuthServer* const oauth_;
  NodeProcess* const checker_;
  std::string authority_;
  absl::Mutex checker_mu_;
  absl::Mutex mu_;
  Nonces mode_ ABSL_GUARDED_BY(mu_) = Nonces::kNone;
  std::string nonce_ ABSL_GUARDED_BY(mu_);
  std::string previous_nonce_ ABSL_GUARDED_BY(mu_);
  int nonces_made_ ABSL_GUARDED_BY(mu_) = 0;
  int hits_ ABSL_GUARDED_BY(mu_) = 0;
  std::map<std::string, int> refused_ ABSL_GUARDED_BY(mu_);
  std::string last_authorization_ ABSL_GUARDED_BY(mu_);
  std::string last_proof_ ABSL_GUARDED_BY(mu_);
};

class DpopEndToEnd : public ::testing::Test {
 protected:
  void SetUp() override {
    oauth_ = OAuthServer::Start();
    ASSERT_NE(oauth_, nullptr);
    checker_ = NodeProcess::Start("tests/oauth_server/dpop_check.js", {});
    ASSERT_NE(checker_, nullptr);
    resource_ = std::make_unique<DpopResourceServer>(oauth_.get(), checker_.get());
    grpc::SslServerCredentialsOptions tls;
    tls.pem_key_cert_pairs.push_back({testing::kTestServerKeyPem, testing::kTestServerCertPem});
    int port = 0;
    grpc::ServerBuilder builder;
    builder.AddListeningPort("127.0.0.1:0", grpc::SslServerCredentials(tls), &port);
    builder.RegisterService(resource_.get());
    server_ = builder.BuildAndStart();
    ASSERT_NE(server_, nullptr);
    // 127.0.0.1, not localhost: a name would go through c-ares, whose
    // resolver leaks under LeakSanitizer (the test certificate covers both).
    target_ = absl::StrCat("127.0.0.1:", port);
    resource_->set_authority(target_);
    oauth_->SetDpop("require", /*require_nonce=*/false);
  }

  void TearDown() override {
    if (server_ != nullptr) server_->Shutdown();
  }

  HttpTokenRefresherOptions Options(std::shared_ptr<const DpopKey> key) {
    HttpTokenRefresherOptions o;
    o.token_endpoint = oauth_->token_endpoint();
    o.allow_insecure_http = true;  // the loopback token endpoint
    o.client_id = "public-app";
    o.client_auth = HttpTokenRefresherOptions::ClientAuth::kNone;
    o.dpop.key = std::move(key);
    return o;
  }

  std::shared_ptr<TokenManager> Manager(HttpTokenRefresherOptions options,
                                        TokenManagerOptions m = {}) {
    absl::StatusOr<std::unique_ptr<TokenRefresher>> refresher =
        MakeHttpTokenRefresher(std::move(options));
    EXPECT_THAT(refresher.status(), IsOk());
    if (!refresher.ok()) return nullptr;
    const OAuthServer::Session session = oauth_->Seed("public-app");
    return TokenManager::Create({.refresh_token = session.refresh_token}, *std::move(refresher),
                                std::move(m));
  }

  std::shared_ptr<grpc::ChannelCredentials> Tls() {
    grpc::SslCredentialsOptions ssl;
    ssl.pem_root_certs = testing::kTestCaPem;
    return grpc::SslCredentials(ssl);
  }

  std::unique_ptr<test::Echo::Stub> Stub(std::shared_ptr<TokenManager> manager) {
    return test::Echo::NewStub(CreateAuthRefreshChannel(target_, Tls(), std::move(manager)));
  }

  static grpc::Status Say(test::Echo::Stub& stub, const std::string& text = "hi") {
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(20));
    test::EchoRequest request;
    request.set_text(text);
    test::EchoReply reply;
    grpc::Status s = stub.Say(&context, request, &reply);
    if (s.ok()) EXPECT_EQ(reply.text(), text);
    return s;
  }

  // `n` calls at once, each on its own thread; how many failed.
  static int Batch(test::Echo::Stub& stub, int n) {
    std::atomic<int> failed{0};
    std::vector<std::thread> threads;
    for (int i = 0; i < n; ++i) {
      threads.emplace_back([&] {
        if (!Say(stub).ok()) failed.fetch_add(1);
      });
    }
    for (std::thread& t : threads) t.join();
    return failed.load();
  }

  std::unique_ptr<OAuthServer> oauth_;
  std::unique_ptr<NodeProcess> checker_;
  std::unique_ptr<DpopResourceServer> resource_;
  std::unique_ptr<grpc::Server> server_;
  std::string target_;
};

TEST_F(DpopEndToEnd, EveryCallCarriesAFreshProofOfTheTokensKey) {
  for (DpopKey::Algorithm algorithm : {DpopKey::Algorithm::kES256, DpopKey::Algorithm::kEdDSA}) {
    SCOPED_TRACE(DpopKey::AlgorithmName(algorithm));
    absl::StatusOr<std::shared_ptr<const DpopKey>> key = DpopKey::Generate(algorithm);
    ASSERT_THAT(key.status(), IsOk());
    std::shared_ptr<TokenManager> manager = Manager(Options(*key));
    std::unique_ptr<test::Echo::Stub> stub = Stub(manager);
    const int hits = resource_->hits();
    for (int i = 0; i < 20; ++i) ASSERT_THAT(Say(*stub), IsOk());
    EXPECT_EQ(resource_->hits() - hits, 20);
    EXPECT_EQ(resource_->refused_total(), 0);
    const Token token = manager->CurrentToken();
    EXPECT_EQ(token.dpop_jkt, (*key)->thumbprint());
    EXPECT_EQ(oauth_->TokenBinding(token.access_token), (*key)->thumbprint());
    EXPECT_EQ(manager->Stats().refreshes_succeeded, 1u);
  }
  // Each grant carried a valid proof: 2 grants, none refused.
  EXPECT_EQ(oauth_->Stat("dpop_proofs_ok"), 2);
  EXPECT_EQ(oauth_->Stat("dpop_refused"), 0);
}

TEST_F(DpopEndToEnd, AReplayedProofAndAStolenTokenAreRefused) {
  absl::StatusOr<std::shared_ptr<const DpopKey>> key = DpopKey::Generate();
  ASSERT_THAT(key.status(), IsOk());
  std::shared_ptr<TokenManager> manager = Manager(Options(*key));
  std::unique_ptr<test::Echo::Stub> stub = Stub(manager);
  ASSERT_THAT(Say(*stub), IsOk());
  const auto [authorization, proof] = resource_->last_accepted();

  // An attacker who saw a call sends it again, on a plain channel of its own.
  std::unique_ptr<test::Echo::Stub> attacker =
      test::Echo::NewStub(grpc::CreateChannel(target_, Tls()));
  auto attack = [&](const std::string& authorization, const std::string& proof) {
    grpc::ClientContext context;
    context.AddMetadata("authorization", authorization);
    if (!proof.empty()) context.AddMetadata("dpop", proof);
    test::EchoRequest request;
    test::EchoReply reply;
    return attacker->Say(&context, request, &reply);
  };
  EXPECT_EQ(attack(authorization, proof).error_code(), grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_EQ(resource_->refused("jti replayed"), 1);
  // The token without the key: as a bearer token, without a proof, and with
  // a proof of the attacker's own key.
  const std::string token = authorization.substr(5);
  EXPECT_EQ(attack(absl::StrCat("Bearer ", token), "").error_code(),
            grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_EQ(attack(authorization, "").error_code(), grpc::StatusCode::UNAUTHENTICATED);
  absl::StatusOr<std::shared_ptr<const DpopKey>> own = DpopKey::Generate();
  ASSERT_THAT(own.status(), IsOk());
  absl::StatusOr<std::string> forged =
      (*own)->Proof({.method = "POST",
                     .uri = absl::StrCat("https://", target_, "/authrefresh.test.Echo/Say"),
                     .issued_at = absl::Now(),
                     .access_token = token});
  ASSERT_THAT(forged.status(), IsOk());
  EXPECT_EQ(attack(authorization, *forged).error_code(), grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_EQ(resource_->refused("not a DPoP token"), 1);
  EXPECT_EQ(resource_->refused("not one proof"), 1);
  EXPECT_EQ(resource_->refused("the key is not the token's (cnf.jkt)"), 1);
  // The application's own calls go on.
  EXPECT_THAT(Say(*stub), IsOk());
  EXPECT_EQ(resource_->hits(), 2);
}

TEST_F(DpopEndToEnd, TheTokenEndpointsNonceCostsOneRequestThenIsKept) {
  oauth_->SetDpop("require", /*require_nonce=*/true);
  absl::StatusOr<std::shared_ptr<const DpopKey>> key = DpopKey::Generate();
  ASSERT_THAT(key.status(), IsOk());
  std::shared_ptr<TokenManager> manager = Manager(Options(*key));
  std::unique_ptr<test::Echo::Stub> stub = Stub(manager);
  ASSERT_THAT(Say(*stub), IsOk());
  EXPECT_EQ(oauth_->Stat("dpop_nonce_challenges"), 1);
  EXPECT_EQ(oauth_->Stat("dpop_proofs_ok"), 1);
  // The grant after the challenge was not a failed attempt.
  EXPECT_EQ(manager->Stats().refreshes_failed, 0u);
  EXPECT_EQ(manager->Stats().refreshes_succeeded, 1u);
  // The next grant sends the kept nonce at once.
  oauth_->ExpireAccessTokens();
  ASSERT_THAT(Say(*stub), IsOk());
  EXPECT_EQ(oauth_->Stat("dpop_nonce_challenges"), 1);
  EXPECT_EQ(oauth_->Stat("dpop_proofs_ok"), 2);
  EXPECT_EQ(manager->Stats().refreshes_succeeded, 2u);
}

// Every grant the HTTP refresher makes carries a proof: client_credentials,
// JWT bearer and token exchange (refresh_token is every other test here),
// each against a token endpoint that requires its nonce. Each grant costs
// one challenge and one verified grant, its token is bound to the key, and
// the resource server accepts the calls made with it.
TEST_F(DpopEndToEnd, EachServiceGrantSendsAProofAndGetsABoundToken) {
  using Grant = HttpTokenRefresherOptions::Grant;
  oauth_->SetDpop("require", /*require_nonce=*/true);
  const char* dir = getenv("TEST_TMPDIR");
  const std::string subject_token_file = absl::StrCat(dir ? dir : "/tmp", "/dpop-subject-token");
  std::ofstream(subject_token_file, std::ios::trunc)
      << oauth_->MintSubjectToken("system:serviceaccount:ns:app").token;
  const std::string issuer_key = testing::GenerateKey(testing::KeyKind::kEcP256).private_pem;
  oauth_->RegisterIssuer("robot@test", testing::PublicKeyOf(issuer_key), "ES256", "robot-key");
  struct Case {
    const char* grant_type;  // as the server counts it
    std::function<void(HttpTokenRefresherOptions&)> setup;
  };
  const Case cases[] = {
      {"client_credentials",
       [](HttpTokenRefresherOptions& o) {
         o.grant = Grant::kClientCredentials;
         o.client_auth = HttpTokenRefresherOptions::ClientAuth::kClientSecretBasic;
         o.client_id = "confidential-app";
         o.client_secret = "app-secret";
       }},
      {"urn:ietf:params:oauth:grant-type:jwt-bearer",
       [&](HttpTokenRefresherOptions& o) {
         o.grant = Grant::kJwtBearer;
         o.client_id.clear();
         o.jwt_bearer.key = {JwtSigningKey::Algorithm::kES256, issuer_key, "", "robot-key", "", ""};
         o.jwt_bearer.issuer = "robot@test";
         o.jwt_bearer.subject = "user-9";
       }},
      {"urn:ietf:params:oauth:grant-type:token-exchange",
       [&](HttpTokenRefresherOptions& o) {
         o.grant = Grant::kTokenExchange;
         o.client_id.clear();
         o.token_exchange.subject_token_file = subject_token_file;
       }},
  };
  int challenges = 0;
  int proofs = 0;
  for (const Case& c : cases) {
    SCOPED_TRACE(c.grant_type);
    absl::StatusOr<std::shared_ptr<const DpopKey>> key = DpopKey::Generate();
    ASSERT_THAT(key.status(), IsOk());
    HttpTokenRefresherOptions o = Options(*key);
    c.setup(o);
    absl::StatusOr<std::unique_ptr<TokenRefresher>> refresher = MakeHttpTokenRefresher(o);
    ASSERT_THAT(refresher.status(), IsOk());
    // No token at all: the first call waits for the grant.
    std::shared_ptr<TokenManager> manager = TokenManager::Create({}, *std::move(refresher));
    std::unique_ptr<test::Echo::Stub> stub = Stub(manager);
    const int grants = oauth_->GrantsOk(c.grant_type);
    const int hits = resource_->hits();
    for (int i = 0; i < 5; ++i) ASSERT_THAT(Say(*stub), IsOk());
    EXPECT_EQ(resource_->hits() - hits, 5);
    EXPECT_EQ(oauth_->GrantsOk(c.grant_type) - grants, 1);
    // A new refresher knows no nonce yet: one challenge, then one proof
    // that the server verified.
    EXPECT_EQ(oauth_->Stat("dpop_nonce_challenges"), challenges += 1);
    EXPECT_EQ(oauth_->Stat("dpop_proofs_ok"), proofs += 1);
    EXPECT_EQ(oauth_->Stat("dpop_refused"), 0);
    EXPECT_EQ(manager->Stats().refreshes_succeeded, 1u);
    EXPECT_EQ(manager->Stats().refreshes_failed, 0u);
    const Token token = manager->CurrentToken();
    EXPECT_EQ(token.dpop_jkt, (*key)->thumbprint());
    EXPECT_EQ(oauth_->TokenBinding(token.access_token), (*key)->thumbprint());
  }
  EXPECT_EQ(resource_->refused_total(), 0);
}

TEST_F(DpopEndToEnd, ABearerAnswerToADpopGrantIsARejectedClient) {
  oauth_->SetDpop("off", false);
  absl::StatusOr<std::shared_ptr<const DpopKey>> key = DpopKey::Generate();
  ASSERT_THAT(key.status(), IsOk());
  std::vector<absl::Status> rejected;
  TokenManagerOptions m;
  m.on_client_rejected = [&](const absl::Status& s) { rejected.push_back(s); };
  std::shared_ptr<TokenManager> manager = Manager(Options(*key), std::move(m));
  std::unique_ptr<test::Echo::Stub> stub = Stub(manager);
  const grpc::Status s = Say(*stub);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::UNAUTHENTICATED);
  ASSERT_EQ(rejected.size(), 1u);
  EXPECT_THAT(std::string(rejected[0].message()), HasSubstr("token_type \"Bearer\""));
  EXPECT_EQ(resource_->hits(), 0);
}

TEST_F(DpopEndToEnd, AnnouncedResourceServerNoncesKeepCallsSucceedingThroughRotations) {
  resource_->RequireNonces(DpopResourceServer::Nonces::kAnnounced);
  absl::StatusOr<std::shared_ptr<const DpopKey>> key = DpopKey::Generate();
  ASSERT_THAT(key.status(), IsOk());
  // The manager's clock stands still: loop protection (min_refresh_interval)
  // holds for the whole test, whatever the machine's speed.
  TokenManagerOptions m;
  m.clock = std::make_shared<testing::FakeClock>();
  std::shared_ptr<TokenManager> manager = Manager(Options(*key), std::move(m));
  std::unique_ptr<test::Echo::Stub> stub = Stub(manager);
  // The first call knows no nonce: it fails once, and its answer's nonce is
  // kept. gRPC replays it before authrefresh can read why it was refused
  // (core's retry hides the first attempt's trailers), so the replay takes
  // it for a rejected token and waits for one more grant.
  EXPECT_EQ(Say(*stub).error_code(), grpc::StatusCode::UNAUTHENTICATED);
  const uint64_t refreshes = manager->Stats().refreshes_succeeded;
  EXPECT_EQ(refreshes, 2u);
  int failed = 0;
  for (int round = 0; round < 10; ++round) {
    failed += Batch(*stub, 8);
    resource_->RotateNonce();
  }
  EXPECT_EQ(failed, 0);
  EXPECT_EQ(resource_->hits(), 80);
  // No refresh for a nonce.
  EXPECT_EQ(manager->Stats().refreshes_succeeded, refreshes);
}

TEST_F(DpopEndToEnd, AStrictNonceRotationFailsTheCallsThatCarryTheOldNonceOnce) {
  resource_->RequireNonces(DpopResourceServer::Nonces::kStrict);
  absl::StatusOr<std::shared_ptr<const DpopKey>> key = DpopKey::Generate();
  ASSERT_THAT(key.status(), IsOk());
  // The manager's clock stands still: loop protection (min_refresh_interval)
  // holds for the whole test, whatever the machine's speed.
  TokenManagerOptions m;
  m.clock = std::make_shared<testing::FakeClock>();
  std::shared_ptr<TokenManager> manager = Manager(Options(*key), std::move(m));
  std::unique_ptr<test::Echo::Stub> stub = Stub(manager);
  EXPECT_EQ(Say(*stub).error_code(), grpc::StatusCode::UNAUTHENTICATED);
  ASSERT_THAT(Say(*stub), IsOk());
  const uint64_t refreshes = manager->Stats().refreshes_succeeded;
  int failed = 0;
  for (int round = 0; round < 5; ++round) {
    resource_->RotateNonce();
    failed += Say(*stub).ok() ? 0 : 1;  // carries the old nonce
    failed += Say(*stub).ok() ? 0 : 1;  // the new one, learned from that answer
  }
  EXPECT_EQ(failed, 5);
  EXPECT_EQ(resource_->hits(), 1 + 5);
  EXPECT_EQ(resource_->refused("nonce does not match"), 2 + 2 * 5);
  // The replays of those calls took them for rejected tokens, but loop
  // protection held (the token was replaced less than min_refresh_interval
  // ago and the replay of the first call did not help): no more grants.
  EXPECT_EQ(refreshes, 2u);
  EXPECT_EQ(manager->Stats().refreshes_succeeded, refreshes);
}

TEST_F(DpopEndToEnd, ReplicasWithTheSameKeyShareOneGrantAndAnotherKeyIsRefused) {
  const char* dir = getenv("TEST_TMPDIR");
  const std::string record = absl::StrCat(dir ? dir : "/tmp", "/dpop_shared_record");
  std::shared_ptr<SharedTokenBackend> backend = MakeFileLockBackend(record);
  absl::StatusOr<std::shared_ptr<const DpopKey>> key = DpopKey::Generate();
  absl::StatusOr<std::shared_ptr<const DpopKey>> other = DpopKey::Generate();
  ASSERT_THAT(key.status(), IsOk());
  ASSERT_THAT(other.status(), IsOk());
  const OAuthServer::Session session = oauth_->Seed("public-app");
  auto replica = [&](std::shared_ptr<const DpopKey> k, const std::string& owner,
                     std::vector<absl::Status>* rejected) {
    absl::StatusOr<std::unique_ptr<TokenRefresher>> inner = MakeHttpTokenRefresher(Options(k));
    EXPECT_THAT(inner.status(), IsOk());
    SharedTokenRefresherOptions so;
    so.owner_id = owner;
    absl::StatusOr<std::unique_ptr<TokenRefresher>> shared =
        MakeSharedTokenRefresher(*std::move(inner), backend, so);
    EXPECT_THAT(shared.status(), IsOk());
    TokenManagerOptions m;
    m.on_client_rejected = [rejected](const absl::Status& s) { rejected->push_back(s); };
    return TokenManager::Create({.refresh_token = session.refresh_token}, *std::move(shared),
                                std::move(m));
  };
  std::vector<absl::Status> rejected_a, rejected_b, rejected_c;
  std::shared_ptr<TokenManager> a = replica(*key, "a", &rejected_a);
  std::shared_ptr<TokenManager> b = replica(*key, "b", &rejected_b);
  std::unique_ptr<test::Echo::Stub> stub_a = Stub(a);
  std::unique_ptr<test::Echo::Stub> stub_b = Stub(b);
  ASSERT_THAT(Say(*stub_a), IsOk());
  ASSERT_THAT(Say(*stub_b), IsOk());
  EXPECT_EQ(oauth_->GrantsOk("refresh_token"), 1);
  EXPECT_EQ(a->CurrentToken().access_token, b->CurrentToken().access_token);
  EXPECT_EQ(resource_->hits(), 2);

  // A replica with another key must not adopt a token it cannot prove.
  std::shared_ptr<TokenManager> c = replica(*other, "c", &rejected_c);
  std::unique_ptr<test::Echo::Stub> stub_c = Stub(c);
  EXPECT_EQ(Say(*stub_c).error_code(), grpc::StatusCode::UNAUTHENTICATED);
  ASSERT_EQ(rejected_c.size(), 1u);
  EXPECT_THAT(std::string(rejected_c[0].message()),
              HasSubstr(absl::StrCat("bound to DPoP key ", (*key)->thumbprint())));
  EXPECT_THAT(
      std::string(rejected_c[0].message()),
      HasSubstr(absl::StrCat("this replica's refresher has DPoP key ", (*other)->thumbprint())));
  EXPECT_EQ(oauth_->GrantsOk("refresh_token"), 1);
  EXPECT_EQ(resource_->hits(), 2);
  EXPECT_TRUE(rejected_a.empty());
  EXPECT_TRUE(rejected_b.empty());
}

TEST_F(DpopEndToEnd, AWrongKeyFileIsAClearErrorThatQuotesNoKey) {
  const char* dir = getenv("TEST_TMPDIR");
  const std::string path = absl::StrCat(dir ? dir : "/tmp", "/not_a_key.pem");
  { std::ofstream(path) << "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"; }
  absl::StatusOr<std::shared_ptr<const DpopKey>> key = DpopKey::FromFile(path);
  ASSERT_FALSE(key.ok());
  EXPECT_EQ(key.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(key.status().message()), HasSubstr(path));
  EXPECT_THAT(std::string(key.status().message()), ::testing::Not(HasSubstr("MIIB")));
  absl::StatusOr<std::shared_ptr<const DpopKey>> missing = DpopKey::FromFile(path + ".missing");
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(missing.status().message()), HasSubstr("cannot be read"));
}

}  // namespace
}  // namespace authrefresh
