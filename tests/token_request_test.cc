// The token-endpoint request of each grant, parameter by parameter: what is
// sent, what is made fresh for every request (assertion jti, iat, exp) and
// what is read again (the subject token file), and that every secret the
// form carries is listed for scrubbing.

#include "interceptor/internal/token_request.h"

#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <map>
#include <string>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "gmock/gmock.h"
#include "google/protobuf/struct.pb.h"
#include "google/protobuf/util/json_util.h"
#include "gtest/gtest.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/test_keys.h"

namespace authrefresh {
namespace {

using internal::AssertionSpec;
using internal::BuildTokenRequest;
using internal::TokenRequestSpec;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Pair;
using ::testing::UnorderedElementsAre;
using testing::IsOk;
using testing::StatusIs;

const absl::Time kNow = absl::FromUnixSeconds(1'800'000'000);

std::string Decode(absl::string_view v) {
  std::string out;
  for (size_t i = 0; i < v.size(); ++i) {
    if (v[i] == '%' && i + 2 < v.size()) {
      int byte = 0;
      EXPECT_EQ(std::sscanf(std::string(v.substr(i + 1, 2)).c_str(), "%2x", &byte), 1);
      out += static_cast<char>(byte);
      i += 2;
    } else {
      out += v[i];
    }
  }
  return out;
}

// The form as ordered (name, value) pairs, decoded.
std::vector<std::pair<std::string, std::string>> Parse(const std::string& form) {
  std::vector<std::pair<std::string, std::string>> out;
  for (absl::string_view kv : absl::StrSplit(form, '&')) {
    std::pair<absl::string_view, absl::string_view> p = absl::StrSplit(kv, '=');
    out.emplace_back(Decode(p.first), Decode(p.second));
  }
  return out;
}

std::string Value(const std::vector<std::pair<std::string, std::string>>& form,
                  const std::string& name) {
  for (const auto& [n, v] : form) {
    if (n == name) return v;
  }
  return "<absent>";
}

google::protobuf::Struct Claims(const std::string& jwt) {
  std::vector<std::string> parts = absl::StrSplit(jwt, '.');
  EXPECT_EQ(parts.size(), 3u);
  std::string json;
  EXPECT_TRUE(absl::WebSafeBase64Unescape(parts[1], &json));
  google::protobuf::Struct s;
  EXPECT_TRUE(google::protobuf::util::JsonStringToMessage(json, &s).ok());
  return s;
}

AssertionSpec Assertion(std::string iss, std::string sub, absl::Duration lifetime) {
  auto signer = internal::JwtSigner::Create(
      {internal::JwsAlgorithm::kES256, testing::GenerateKey(testing::KeyKind::kEcP256).private_pem,
       "k1", ""},
      "test");
  EXPECT_THAT(signer.status(), IsOk());
  return AssertionSpec{*signer, std::move(iss), std::move(sub), "https://as.test/token",
                       lifetime, {}};
}

std::string TempFile(const std::string& content) {
  const char* dir = getenv("TEST_TMPDIR");
  std::string path = absl::StrCat(dir ? dir : "/tmp", "/subject-XXXXXX");
  const int fd = mkstemp(path.data());
  EXPECT_GE(fd, 0);
  close(fd);
  std::ofstream(path) << content;
  return path;
}

TEST(TokenRequest, RefreshTokenGrantSendsTheRefreshTokenAndListsItAsSecret) {
  TokenRequestSpec spec;
  spec.grant_type = "refresh_token";
  spec.send_refresh_token = true;
  spec.parameters = {{"scope", "read write"}, {"client_id", "app"}, {"client_secret", "s&=+"}};
  spec.fixed_secrets = {"s&=+"};
  absl::StatusOr<internal::TokenRequestBody> body =
      BuildTokenRequest(spec, GrantRequest{"rt-1/+="}, kNow);
  ASSERT_THAT(body.status(), IsOk());
  EXPECT_EQ(body->form,
            "grant_type=refresh_token&refresh_token=rt-1%2F%2B%3D&scope=read%20write&"
            "client_id=app&client_secret=s%26%3D%2B");
  EXPECT_THAT(body->secrets,
              UnorderedElementsAre("s&=+", "s%26%3D%2B", "rt-1/+=", "rt-1%2F%2B%3D"));
}

TEST(TokenRequest, ClientCredentialsSendsNoRefreshTokenAndRepeatsResource) {
  TokenRequestSpec spec;
  spec.grant_type = "client_credentials";
  spec.parameters = {{"scope", "s"}, {"audience", "https://api.test"},
                     {"resource", "https://a.test/"}, {"resource", "https://b.test/x?y=1"}};
  absl::StatusOr<internal::TokenRequestBody> body =
      BuildTokenRequest(spec, GrantRequest{"rt-ignored"}, kNow);
  ASSERT_THAT(body.status(), IsOk());
  EXPECT_THAT(Parse(body->form),
              ElementsAre(Pair("grant_type", "client_credentials"), Pair("scope", "s"),
                          Pair("audience", "https://api.test"),
                          Pair("resource", "https://a.test/"),
                          Pair("resource", "https://b.test/x?y=1")));
  EXPECT_TRUE(body->secrets.empty());
}

TEST(TokenRequest, ClientAssertionIsFreshForEveryRequest) {
  TokenRequestSpec spec;
  spec.grant_type = "client_credentials";
  spec.parameters = {{"client_id", "svc"}};
  spec.client_assertion = Assertion("svc", "svc", absl::Seconds(60));
  int counter = 0;
  auto jti = [&counter] { return absl::StrCat("jti-", ++counter); };
  absl::StatusOr<internal::TokenRequestBody> a = BuildTokenRequest(spec, {}, kNow, jti);
  absl::StatusOr<internal::TokenRequestBody> b =
      BuildTokenRequest(spec, {}, kNow + absl::Seconds(5), jti);
  ASSERT_THAT(a.status(), IsOk());
  ASSERT_THAT(b.status(), IsOk());
  const auto fa = Parse(a->form);
  EXPECT_EQ(Value(fa, "client_assertion_type"),
            "urn:ietf:params:oauth:client-assertion-type:jwt-bearer");
  const google::protobuf::Struct ca = Claims(Value(fa, "client_assertion"));
  const google::protobuf::Struct cb = Claims(Value(Parse(b->form), "client_assertion"));
  EXPECT_EQ(ca.fields().at("iss").string_value(), "svc");
  EXPECT_EQ(ca.fields().at("sub").string_value(), "svc");
  EXPECT_EQ(ca.fields().at("aud").string_value(), "https://as.test/token");
  EXPECT_EQ(ca.fields().at("iat").number_value(), 1'800'000'000);
  EXPECT_EQ(ca.fields().at("exp").number_value(), 1'800'000'060);
  EXPECT_EQ(ca.fields().at("jti").string_value(), "jti-1");
  EXPECT_EQ(cb.fields().at("jti").string_value(), "jti-2");
  EXPECT_EQ(cb.fields().at("iat").number_value(), 1'800'000'005);
  EXPECT_THAT(a->secrets, ElementsAre(Value(fa, "client_assertion")));
  // With the real jti source, two requests never share one.
  absl::StatusOr<internal::TokenRequestBody> c = BuildTokenRequest(spec, {}, kNow);
  absl::StatusOr<internal::TokenRequestBody> d = BuildTokenRequest(spec, {}, kNow);
  EXPECT_NE(Claims(Value(Parse(c->form), "client_assertion")).fields().at("jti").string_value(),
            Claims(Value(Parse(d->form), "client_assertion")).fields().at("jti").string_value());
}

TEST(TokenRequest, JwtBearerGrantCarriesItsAssertionWithExtraClaims) {
  TokenRequestSpec spec;
  spec.grant_type = "urn:ietf:params:oauth:grant-type:jwt-bearer";
  spec.grant_assertion = Assertion("robot@project.test", "user-9", absl::Minutes(5));
  spec.grant_assertion->extra_claims = {{"scope", "https://scope.test/a"}};
  absl::StatusOr<internal::TokenRequestBody> body = BuildTokenRequest(spec, {}, kNow);
  ASSERT_THAT(body.status(), IsOk());
  const auto form = Parse(body->form);
  ASSERT_EQ(form.size(), 2u);
  EXPECT_EQ(form[0], std::make_pair(std::string("grant_type"),
                                    std::string("urn:ietf:params:oauth:grant-type:jwt-bearer")));
  const google::protobuf::Struct c = Claims(Value(form, "assertion"));
  EXPECT_EQ(c.fields().at("iss").string_value(), "robot@project.test");
  EXPECT_EQ(c.fields().at("sub").string_value(), "user-9");
  EXPECT_EQ(c.fields().at("exp").number_value() - c.fields().at("iat").number_value(), 300);
  EXPECT_EQ(c.fields().at("scope").string_value(), "https://scope.test/a");
  EXPECT_EQ(c.fields().at("jti").string_value().size(), 22u);
}

TEST(TokenRequest, SubjectTokenFileIsReadAtEveryRequest) {
  const std::string path = TempFile("  subject-one\n");
  TokenRequestSpec spec;
  spec.grant_type = "urn:ietf:params:oauth:grant-type:token-exchange";
  spec.file_parameters = {{"subject_token", path}};
  spec.parameters = {{"subject_token_type", "urn:ietf:params:oauth:token-type:jwt"}};
  absl::StatusOr<internal::TokenRequestBody> first = BuildTokenRequest(spec, {}, kNow);
  ASSERT_THAT(first.status(), IsOk());
  EXPECT_EQ(Value(Parse(first->form), "subject_token"), "subject-one");
  EXPECT_THAT(first->secrets, ElementsAre("subject-one"));

  // Rotated the way kubelet does it: a new file renamed over the old one.
  const std::string next = TempFile("subject-two");
  ASSERT_EQ(rename(next.c_str(), path.c_str()), 0);
  absl::StatusOr<internal::TokenRequestBody> second = BuildTokenRequest(spec, {}, kNow);
  ASSERT_THAT(second.status(), IsOk());
  EXPECT_EQ(Value(Parse(second->form), "subject_token"), "subject-two");

  // Gone, or empty: a transient error naming the file, not its content.
  std::ofstream(path, std::ios::trunc) << " \n";
  EXPECT_THAT(BuildTokenRequest(spec, {}, kNow).status(),
              StatusIs(absl::StatusCode::kUnavailable, HasSubstr("is empty")));
  ASSERT_EQ(unlink(path.c_str()), 0);
  absl::Status missing = BuildTokenRequest(spec, {}, kNow).status();
  EXPECT_THAT(missing, StatusIs(absl::StatusCode::kUnavailable,
                                ::testing::AllOf(HasSubstr("cannot read the subject_token file"),
                                                 HasSubstr(path))));

  // A token pasted where the path belongs is not quoted back.
  spec.file_parameters = {{"subject_token", "eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJ4In0.c2ln\n"}};
  absl::Status pasted = BuildTokenRequest(spec, {}, kNow).status();
  EXPECT_THAT(pasted, StatusIs(absl::StatusCode::kUnavailable, HasSubstr("not shown")));
  EXPECT_THAT(std::string(pasted.message()), ::testing::Not(HasSubstr("eyJ")));
}

// kClientAssertionFile: an assertion issued elsewhere (a projected token),
// read at every request, sent with its type, listed as a secret; anything
// but a compact JWS is refused without being sent or quoted.
TEST(TokenRequest, ClientAssertionFileIsReadAtEveryRequestAndMustHoldAJws) {
  constexpr char kFirst[] = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJzYSJ9.c2lnLW9uZQ";
  constexpr char kSecond[] = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJzYSJ9.c2lnLXR3bw";
  const std::string path = TempFile(absl::StrCat(kFirst, "\n"));
  TokenRequestSpec spec;
  spec.grant_type = "client_credentials";
  spec.parameters = {{"scope", "api://orders/.default"}, {"client_id", "app-id"}};
  spec.client_assertion_file = path;
  absl::StatusOr<internal::TokenRequestBody> first = BuildTokenRequest(spec, {}, kNow);
  ASSERT_THAT(first.status(), IsOk());
  EXPECT_THAT(Parse(first->form),
              ElementsAre(Pair("grant_type", "client_credentials"),
                          Pair("scope", "api://orders/.default"), Pair("client_id", "app-id"),
                          Pair("client_assertion_type",
                               "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"),
                          Pair("client_assertion", kFirst)));
  EXPECT_THAT(first->secrets, ElementsAre(kFirst));

  const std::string next = TempFile(kSecond);
  ASSERT_EQ(rename(next.c_str(), path.c_str()), 0);
  absl::StatusOr<internal::TokenRequestBody> second = BuildTokenRequest(spec, {}, kNow);
  ASSERT_THAT(second.status(), IsOk());
  EXPECT_EQ(Value(Parse(second->form), "client_assertion"), kSecond);

  // A private key where the assertion belongs: refused, not sent, not quoted.
  std::ofstream(path, std::ios::trunc) << "-----BEGIN PRIVATE KEY-----\nMIGHAgEAMBMGByqGSM49\n";
  absl::Status key = BuildTokenRequest(spec, {}, kNow).status();
  EXPECT_THAT(key, StatusIs(absl::StatusCode::kUnavailable, HasSubstr("does not hold a JWT")));
  EXPECT_THAT(std::string(key.message()), ::testing::Not(HasSubstr("MIGH")));
  std::ofstream(path, std::ios::trunc) << "\n";
  EXPECT_THAT(BuildTokenRequest(spec, {}, kNow).status(),
              StatusIs(absl::StatusCode::kUnavailable, HasSubstr("is empty")));
  ASSERT_EQ(unlink(path.c_str()), 0);
  EXPECT_THAT(BuildTokenRequest(spec, {}, kNow).status(),
              StatusIs(absl::StatusCode::kUnavailable,
                       HasSubstr("cannot read the client_assertion file")));
}

TEST(TokenRequest, CompactJwsShape) {
  EXPECT_TRUE(internal::LooksLikeCompactJws("eyJh.eyJz.c2ln"));
  EXPECT_TRUE(internal::LooksLikeCompactJws("a-_.b.")); // no signature: still the shape
  EXPECT_FALSE(internal::LooksLikeCompactJws("a.b"));
  EXPECT_FALSE(internal::LooksLikeCompactJws("a.b.c.d"));
  EXPECT_FALSE(internal::LooksLikeCompactJws(".b.c"));
  EXPECT_FALSE(internal::LooksLikeCompactJws("a..c"));
  EXPECT_FALSE(internal::LooksLikeCompactJws("a.b=.c"));  // padding is not base64url
  EXPECT_FALSE(internal::LooksLikeCompactJws("a.b c.d"));
  EXPECT_FALSE(internal::LooksLikeCompactJws("-----BEGIN PRIVATE KEY-----"));
  EXPECT_FALSE(internal::LooksLikeCompactJws(""));
}

TEST(TokenRequest, SecretsAreListedRawAndPercentEncoded) {
  TokenRequestSpec spec;
  spec.grant_type = "refresh_token";
  spec.send_refresh_token = true;
  spec.fixed_secrets = {"s/ecret+1"};
  absl::StatusOr<internal::TokenRequestBody> body =
      BuildTokenRequest(spec, GrantRequest{"rt=/x"}, kNow);
  ASSERT_THAT(body.status(), IsOk());
  EXPECT_THAT(body->secrets,
              UnorderedElementsAre("s/ecret+1", "s%2Fecret%2B1", "rt=/x", "rt%3D%2Fx"));
}

TEST(TokenRequest, PathsAndUris) {
  EXPECT_EQ(internal::ShowPath("/var/run/secrets/tokens/sts"), "/var/run/secrets/tokens/sts");
  EXPECT_THAT(internal::ShowPath("-----BEGIN PRIVATE KEY-----\nMIIE"), HasSubstr("not shown"));
  EXPECT_THAT(internal::ShowPath(std::string(300, 'a')), HasSubstr("not shown"));
  EXPECT_TRUE(internal::IsAbsoluteUri("https://api.example.test/"));
  EXPECT_TRUE(internal::IsAbsoluteUri("urn:example:resource"));
  EXPECT_FALSE(internal::IsAbsoluteUri("://x"));
  EXPECT_FALSE(internal::IsAbsoluteUri("api.example.test"));
  EXPECT_FALSE(internal::IsAbsoluteUri("1http://x"));
  EXPECT_FALSE(internal::IsAbsoluteUri("https:"));
}

TEST(TokenRequest, FormEncodingMatchesWhatwgUnreserved) {
  EXPECT_EQ(internal::FormEncode("AZaz09-._~"), "AZaz09-._~");
  EXPECT_EQ(internal::FormEncode(" !\"#$%&'()*+,/:;<=>?@[\\]^`{|}"),
            "%20%21%22%23%24%25%26%27%28%29%2A%2B%2C%2F%3A%3B%3C%3D%3E%3F%40%5B%5C%5D%5E%60%7B%7C%7D");
  EXPECT_EQ(internal::FormEncode("\xc3\xa9\x01"), "%C3%A9%01");
}

}  // namespace
}  // namespace authrefresh
