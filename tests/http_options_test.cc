// What MakeHttpTokenRefresher checks and prepares from its options, before
// anything is sent (internal/http_options): every misconfiguration named,
// no key or token quoted, and the fixed parts of a valid one.

#include "interceptor/internal/http_options.h"

#include <cstdlib>
#include <fstream>
#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/test_client_certs.h"
#include "tests/testing/test_keys.h"

namespace authrefresh {
namespace {

using Auth = HttpTokenRefresherOptions::ClientAuth;
using Grant = HttpTokenRefresherOptions::Grant;
using Alg = JwtSigningKey::Algorithm;
using internal::PrepareTokenRequest;
using internal::PreparedTokenRequest;
using ::testing::HasSubstr;
using ::testing::Not;
using testing::GenerateKey;
using testing::IsOk;
using testing::KeyKind;
using testing::StatusIs;

std::string WriteFile(const std::string& name, const std::string& content) {
  const char* dir = getenv("TEST_TMPDIR");
  const std::string path = absl::StrCat(dir ? dir : "/tmp", "/", name);
  std::ofstream(path, std::ios::trunc) << content;
  return path;
}

// What a valid configuration prepares: the fixed form, the Basic
// credential of client_secret_basic (form-encoded, then base64), and the
// secrets to scrub from any answer.
TEST(HttpOptions, PreparesTheFixedPartsOfEveryRequest) {
  HttpTokenRefresherOptions o;
  o.token_endpoint = "https://sso.example.com/token";
  o.grant = Grant::kClientCredentials;
  o.client_id = "app:1";
  o.client_secret = "s3cr&t";
  o.scope = "read";
  o.audience = "api";
  o.resources = {"https://a.example/", "https://b.example/"};
  o.extra_parameters = {{"tenant", "t1"}};
  absl::StatusOr<PreparedTokenRequest> p = PrepareTokenRequest(o);
  ASSERT_THAT(p.status(), IsOk());
  EXPECT_EQ(p->spec.grant_type, "client_credentials");
  EXPECT_FALSE(p->spec.send_refresh_token);
  using Pair = std::pair<std::string, std::string>;
  EXPECT_THAT(p->spec.parameters,
              ::testing::ElementsAre(Pair{"scope", "read"}, Pair{"audience", "api"},
                                     Pair{"resource", "https://a.example/"},
                                     Pair{"resource", "https://b.example/"},
                                     Pair{"tenant", "t1"}));
  // RFC 6749 section 2.3.1: each part form-encoded before base64.
  EXPECT_EQ(p->authorization,
            "Authorization: Basic " + absl::Base64Escape("app%3A1:s3cr%26t"));
  EXPECT_THAT(p->spec.fixed_secrets,
              ::testing::ElementsAre("s3cr&t", absl::Base64Escape("app%3A1:s3cr%26t")));

  o.client_auth = Auth::kClientSecretPost;
  p = PrepareTokenRequest(o);
  ASSERT_THAT(p.status(), IsOk());
  EXPECT_TRUE(p->authorization.empty());
  EXPECT_THAT(p->spec.parameters, ::testing::IsSupersetOf({Pair{"client_id", "app:1"},
                                                           Pair{"client_secret", "s3cr&t"}}));
}

TEST(HttpOptions, TransportAndSecretMisconfigurationIsRefusedWithAClearError) {
  auto base = [] {
    HttpTokenRefresherOptions o;
    o.token_endpoint = "https://sso.example.com/token";
    o.client_id = "app";
    o.client_secret = "secret";
    return o;
  };
  EXPECT_THAT(PrepareTokenRequest(base()).status(), IsOk());
  struct Case {
    std::function<void(HttpTokenRefresherOptions&)> change;
    const char* message;
  };
  for (const Case& c : std::vector<Case>{
           {[](auto& o) { o.token_endpoint = ""; }, "token_endpoint is empty"},
           {[](auto& o) { o.token_endpoint = "sso.example.com/token"; }, "not a URL"},
           {[](auto& o) { o.token_endpoint = "ftp://sso.example.com/token"; }, "https://"},
           {[](auto& o) { o.token_endpoint = "http://sso.example.com/token"; },
            "refusing the http:// token endpoint"},
           {[](auto& o) { o.token_endpoint = "https://u:p@sso.example.com/token"; },
            "must not carry credentials"},
           {[](auto& o) { o.token_endpoint = "https://sso.example.com/token#x"; }, "fragment"},
           {[](auto& o) { o.client_id = ""; }, "client_id is empty"},
           {[](auto& o) { o.client_secret = ""; }, "client_secret is empty"},
           {[](auto& o) { o.client_auth = Auth::kNone; }, "client_secret is set"},
           {[](auto& o) { o.timeout = absl::ZeroDuration(); }, "timeout must be positive"},
           {[](auto& o) { o.ca_file = "/nonexistent/ca.pem"; }, "ca_file cannot be read"},
           {[](auto& o) { o.ca_file = "/etc/hostname"; o.ca_pem = "x"; }, "not both"},
           {[](auto& o) { o.extra_parameters = {{"grant_type", "password"}}; },
            "may not set \"grant_type\""},
       }) {
    SCOPED_TRACE(c.message);
    HttpTokenRefresherOptions o = base();
    c.change(o);
    EXPECT_THAT(PrepareTokenRequest(o).status(),
                StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr(c.message)));
  }
  HttpTokenRefresherOptions loopback = base();
  loopback.token_endpoint = "http://127.0.0.1:1/token";
  loopback.allow_insecure_http = true;
  EXPECT_THAT(PrepareTokenRequest(loopback).status(), IsOk());
}

TEST(HttpOptions, GrantAndClientAuthenticationMisconfigurationIsRefusedNamingTheProblem) {
  const std::string key_file = WriteFile("es256.pem", GenerateKey(KeyKind::kEcP256).private_pem);
  const std::string rsa_pem = GenerateKey(KeyKind::kRsa2048).private_pem;
  const std::string token_file = WriteFile("subject", "a-subject-token");
  auto base = [] {
    HttpTokenRefresherOptions o;
    o.token_endpoint = "https://as.example.test/token";
    o.client_id = "svc";
    o.client_secret = "s";
    o.grant = Grant::kClientCredentials;
    return o;
  };
  struct Case {
    std::function<void(HttpTokenRefresherOptions&)> change;
    std::string expected;
  };
  const std::vector<Case> cases = {
      {[](auto& o) { o.client_auth = Auth::kNone; o.client_secret.clear(); },
       "client_credentials grant needs client authentication"},
      {[](auto& o) { o.client_auth = Auth::kPrivateKeyJwt; o.client_secret.clear(); },
       "client_assertion_key: no private key"},
      {[&](auto& o) {
         o.client_auth = Auth::kPrivateKeyJwt;
         o.client_secret.clear();
         o.client_assertion_key.private_key_file = key_file;
       },
       "RS256 needs an RSA key; this is a EC key"},
      {[&](auto& o) {
         o.client_auth = Auth::kPrivateKeyJwt;
         o.client_secret.clear();
         o.client_assertion_key = {Alg::kES256, "", "/nonexistent/key.pem", "", "", ""};
       },
       "private_key_file cannot be read: /nonexistent/key.pem"},
      {[&](auto& o) {
         o.client_auth = Auth::kPrivateKeyJwt;
         o.client_secret.clear();
         o.client_assertion_key = {Alg::kRS256, rsa_pem, "", "", "", ""};
         o.client_assertion_lifetime = absl::Hours(1);
       },
       "client_assertion_lifetime must be positive and at most 10 minutes"},
      {[&](auto& o) { o.client_assertion_key.private_key_pem = rsa_pem; },
       "client_assertion_key is set but client_auth is not kPrivateKeyJwt"},
      {[&](auto& o) { o.client_auth = Auth::kPrivateKeyJwt; },
       "client_secret is set but client_auth does not use it"},
      {[](auto& o) { o.client_auth = Auth::kTlsClientAuth; o.client_secret.clear(); },
       "kTlsClientAuth but client_certificate_file is empty"},
      {[](auto& o) {
         o.client_auth = Auth::kTlsClientAuth;
         o.client_secret.clear();
         o.token_endpoint = "http://127.0.0.1:1/token";
         o.allow_insecure_http = true;
       },
       "needs an https:// token endpoint"},
      {[](auto& o) {
         o.client_certificate_file = WriteFile("a.crt", testing::kTestClientACertPem);
         o.client_key_file = WriteFile("b.key", testing::kTestClientBKeyPem);
       },
       "the certificate does not belong to the private key"},
      {[](auto& o) { o.client_certificate_file = "/x.crt"; },
       "set client_certificate_file and client_key_file together"},
      {[](auto& o) { o.grant = Grant::kJwtBearer; }, "jwt_bearer.issuer is empty"},
      {[&](auto& o) {
         o.grant = Grant::kJwtBearer;
         o.jwt_bearer.issuer = "i";
         o.jwt_bearer.subject = "s";
         o.jwt_bearer.key = {Alg::kRS256, rsa_pem, "", "", "", ""};
         o.jwt_bearer.extra_claims = {{"exp", "1"}};
       },
       "jwt_bearer.extra_claims may not set \"exp\""},
      {[](auto& o) { o.jwt_bearer.issuer = "i"; }, "jwt_bearer is set but grant is not kJwtBearer"},
      {[](auto& o) { o.grant = Grant::kTokenExchange; },
       "token_exchange.subject_token_file is empty"},
      {[](auto& o) {
         o.grant = Grant::kTokenExchange;
         o.token_exchange.subject_token_file = "/nonexistent/token";
       },
       "subject_token_file cannot be read or is empty: /nonexistent/token"},
      {[&](auto& o) {
         o.grant = Grant::kTokenExchange;
         o.token_exchange.subject_token_file = token_file;
         o.token_exchange.actor_token_file = token_file;
       },
       "set actor_token_file and actor_token_type together"},
      {[&](auto& o) { o.token_exchange.subject_token_file = token_file; },
       "token_exchange is set but grant is not kTokenExchange"},
      {[](auto& o) { o.resources = {"not-a-uri"}; }, "is not an absolute URI"},
      {[](auto& o) { o.client_assertion_lifetime = absl::Seconds(30); },
       "client_assertion_lifetime is set but client_auth is not kPrivateKeyJwt"},
      {[](auto& o) {
         o.client_auth = Auth::kClientAssertionFile;
         o.client_secret.clear();
         o.client_assertion_file = WriteFile("assertion-ok", "eyJh.eyJz.c2ln");
         o.client_assertion_audience = "api://AzureADTokenExchange";
       },
       "client_assertion_audience is set but client_auth is not kPrivateKeyJwt"},
      {[&](auto& o) {
         o.client_auth = Auth::kClientAssertionFile;
         o.client_secret.clear();
         o.client_assertion_file = key_file;  // the key, not an assertion
       },
       "client_assertion_file does not hold a JWT"},
      {[](auto& o) { o.jwt_bearer.lifetime = absl::Minutes(1); },
       "jwt_bearer is set but grant is not kJwtBearer"},
      {[](auto& o) { o.token_exchange.subject_token_type = "urn:x"; },
       "token_exchange is set but grant is not kTokenExchange"},
      {[&](auto& o) {
         o.grant = Grant::kTokenExchange;
         o.token_exchange.subject_token_file = token_file;
         o.token_exchange.requested_token_type = "urn:ietf:params:oauth:token-type:id_token";
       },
       "requested_token_type must be the access_token or jwt"},
      {[](auto& o) {
         o.token_endpoint = "http://127.0.0.1:1/token";
         o.allow_insecure_http = true;
         o.client_certificate_file = WriteFile("c.crt", testing::kTestClientACertPem);
         o.client_key_file = WriteFile("c.key", testing::kTestClientAKeyPem);
       },
       "a client certificate needs an https:// token endpoint"},
      {[&](auto& o) {
         o.client_auth = Auth::kPrivateKeyJwt;
         o.client_secret.clear();
         o.client_assertion_key.private_key_file = rsa_pem;  // the key, not its path
       },
       "private_key_file cannot be read: (not shown"},
      {[](auto& o) {
         o.audience = "a";
         o.extra_parameters = {{"audience", "b"}};
       },
       "extra_parameters may not set \"audience\""},
      {[](auto& o) { o.extra_parameters = {{"client_assertion", "x"}}; },
       "extra_parameters may not set \"client_assertion\""},
      {[](auto& o) { o.client_auth = Auth::kClientAssertionFile; o.client_secret.clear(); },
       "kClientAssertionFile but client_assertion_file is empty"},
      {[](auto& o) {
         o.client_auth = Auth::kClientAssertionFile;
         o.client_secret.clear();
         o.client_assertion_file = "/nonexistent/azure-identity-token";
       },
       "client_assertion_file cannot be read or is empty: /nonexistent/azure-identity-token"},
      {[](auto& o) {
         o.client_auth = Auth::kClientAssertionFile;
         o.client_secret.clear();
         o.client_assertion_file = WriteFile("empty-assertion", " \n");
       },
       "client_assertion_file cannot be read or is empty"},
      {[&](auto& o) { o.client_assertion_file = token_file; },
       "client_assertion_file is set but client_auth is not kClientAssertionFile"},
      {[&](auto& o) {
         o.client_auth = Auth::kClientAssertionFile;
         o.client_assertion_file = token_file;
       },
       "client_secret is set but client_auth does not use it"},
      {[&](auto& o) {
         o.client_auth = Auth::kClientAssertionFile;
         o.client_secret.clear();
         o.client_assertion_file = token_file;
         o.client_id.clear();
       },
       "client_id is empty"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.expected);
    HttpTokenRefresherOptions o = base();
    c.change(o);
    absl::StatusOr<PreparedTokenRequest> r = PrepareTokenRequest(o);
    EXPECT_THAT(r.status(), StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr(c.expected)));
    EXPECT_THAT(std::string(r.status().message()), Not(HasSubstr("a-subject-token")));
    EXPECT_THAT(std::string(r.status().message()), Not(HasSubstr("BEGIN PRIVATE KEY")));
  }
  // The grants that need no client may be made by none (Google's token
  // endpoint takes the JWT-bearer assertion alone).
  HttpTokenRefresherOptions anonymous = base();
  anonymous.grant = Grant::kJwtBearer;
  anonymous.client_auth = Auth::kNone;
  anonymous.client_id.clear();
  anonymous.client_secret.clear();
  anonymous.jwt_bearer = {{Alg::kRS256, rsa_pem, "", "", "", ""}, "robot@x", "robot@x", "", absl::Minutes(5), {}};
  absl::StatusOr<PreparedTokenRequest> r = PrepareTokenRequest(anonymous);
  ASSERT_THAT(r.status(), IsOk());
  EXPECT_FALSE(r->spec.send_refresh_token);
  EXPECT_TRUE(r->spec.grant_assertion.has_value());
  EXPECT_TRUE(r->authorization.empty());
  HttpTokenRefresherOptions refresh = base();
  refresh.grant = Grant::kRefreshToken;
  r = PrepareTokenRequest(refresh);
  ASSERT_THAT(r.status(), IsOk());
  EXPECT_TRUE(r->spec.send_refresh_token);
  EXPECT_EQ(r->spec.grant_type, "refresh_token");
}

}  // namespace
}  // namespace authrefresh
