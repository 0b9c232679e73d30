// DPoP at a token endpoint that checks proofs (tests/oauth_server/server.js
// with /test/dpop, verifying with jose): authrefresh's proofs, sent by hand
// over HTTP, get DPoP-bound tokens; the server's nonce challenge and its
// refusals are what RFC 9449 sections 5 and 8 say. This is the server the
// HTTP refresher's DPoP support will be tested against (issue 24).

#include <string>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "google/protobuf/struct.pb.h"
#include "google/protobuf/util/json_util.h"
#include "gtest/gtest.h"
#include "interceptor/dpop.h"
#include "interceptor/internal/dpop.h"
#include "tests/testing/oauth_server.h"

namespace authrefresh {
namespace internal {
namespace {

using testing::HttpReply;
using testing::OAuthServer;

google::protobuf::Struct Json(const std::string& body) {
  google::protobuf::Struct s;
  EXPECT_TRUE(google::protobuf::util::JsonStringToMessage(body, &s).ok()) << body.size();
  return s;
}

std::string Field(const google::protobuf::Struct& s, const std::string& name) {
  auto it = s.fields().find(name);
  return it == s.fields().end() ? "" : it->second.string_value();
}

class DpopTokenEndpointTest : public ::testing::Test {
 protected:
  void SetUp() override {
    server_ = OAuthServer::Start({});
    ASSERT_NE(server_, nullptr);
    auto key = DpopKey::Generate(DpopKey::Algorithm::kES256);
    ASSERT_TRUE(key.ok()) << key.status();
    key_ = *key;
  }

  std::string Proof(const std::string& nonce = "", const std::string& htu = "") {
    absl::StatusOr<std::string> proof = key_->Proof(
        {"POST", htu.empty() ? server_->token_endpoint() : htu, absl::Now(), nonce, ""});
    EXPECT_TRUE(proof.ok()) << proof.status();
    return proof.ok() ? *proof : "";
  }

  // A refresh_token grant of a new session of confidential-app, with
  // `proof` as its DPoP header (none when empty).
  HttpReply Grant(const std::string& proof) {
    const OAuthServer::Session session = server_->Seed("confidential-app");
    std::vector<std::string> headers;
    if (!proof.empty()) headers.push_back("DPoP: " + proof);
    return server_->Post(
        "/token", absl::StrCat("grant_type=refresh_token&refresh_token=", session.refresh_token),
        "application/x-www-form-urlencoded",
        "Basic " + absl::Base64Escape("confidential-app:app-secret"), headers);
  }

  std::unique_ptr<OAuthServer> server_;
  std::shared_ptr<const DpopKey> key_;
};

TEST_F(DpopTokenEndpointTest, AProofGetsATokenBoundToItsKey) {
  server_->SetDpop("accept", false);
  const HttpReply reply = Grant(Proof());
  ASSERT_EQ(reply.status, 200) << Field(Json(reply.body), "error_description");
  const google::protobuf::Struct token = Json(reply.body);
  EXPECT_EQ(Field(token, "token_type"), "DPoP");
  EXPECT_EQ(server_->TokenBinding(Field(token, "access_token")), key_->thumbprint());
  EXPECT_EQ(server_->Stat("dpop_proofs_ok"), 1);
  // Without a proof, the same server gives a Bearer token, bound to nothing.
  const HttpReply bearer = Grant("");
  ASSERT_EQ(bearer.status, 200);
  EXPECT_EQ(Field(Json(bearer.body), "token_type"), "Bearer");
  EXPECT_EQ(server_->TokenBinding(Field(Json(bearer.body), "access_token")), "");
}

TEST_F(DpopTokenEndpointTest, ANonceChallengeIsAnsweredOnceWithTheServersNonce) {
  server_->SetDpop("require", true);
  const HttpReply challenge = Grant(Proof());
  ASSERT_EQ(challenge.status, 400);
  EXPECT_EQ(Field(Json(challenge.body), "error"), "use_dpop_nonce");
  ASSERT_EQ(challenge.headers.count("dpop-nonce"), 1u);
  const std::string nonce = challenge.headers.at("dpop-nonce");
  EXPECT_TRUE(IsValidDpopNonce(nonce));
  const HttpReply reply = Grant(Proof(nonce));
  ASSERT_EQ(reply.status, 200) << Field(Json(reply.body), "error_description");
  EXPECT_EQ(Field(Json(reply.body), "token_type"), "DPoP");
  // Every answer carries the current nonce, so a client keeps it fresh.
  EXPECT_EQ(reply.headers.at("dpop-nonce"), nonce);
  EXPECT_EQ(server_->Stat("dpop_nonce_challenges"), 1);
  // A rotated nonce makes the old one fail again, with the new one given.
  server_->SetDpop("require", true, /*rotate_nonce=*/true);
  const HttpReply stale = Grant(Proof(nonce));
  ASSERT_EQ(stale.status, 400);
  EXPECT_EQ(Field(Json(stale.body), "error"), "use_dpop_nonce");
  EXPECT_NE(stale.headers.at("dpop-nonce"), nonce);
  EXPECT_EQ(Grant(Proof(stale.headers.at("dpop-nonce"))).status, 200);
}

TEST_F(DpopTokenEndpointTest, MissingWrongAndReplayedProofsAreRefused) {
  server_->SetDpop("require", false);
  const HttpReply none = Grant("");
  EXPECT_EQ(none.status, 400);
  EXPECT_EQ(Field(Json(none.body), "error"), "invalid_dpop_proof");
  const HttpReply elsewhere = Grant(Proof("", "https://other.example.com/token"));
  EXPECT_EQ(elsewhere.status, 400);
  EXPECT_EQ(Field(Json(elsewhere.body), "error_description"), "htu does not match");
  const std::string proof = Proof();
  EXPECT_EQ(Grant(proof).status, 200);
  const HttpReply replayed = Grant(proof);
  EXPECT_EQ(replayed.status, 400);
  EXPECT_EQ(Field(Json(replayed.body), "error_description"), "jti replayed");
  EXPECT_EQ(server_->Stat("dpop_refused"), 3);
  EXPECT_EQ(server_->Stat("dpop_proofs_ok"), 1);
}

}  // namespace
}  // namespace internal
}  // namespace authrefresh
