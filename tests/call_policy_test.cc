// Which calls authrefresh handles and what a call's outcome means
// (internal/call_policy): pure functions of names, statuses and metadata.

#include "interceptor/internal/call_policy.h"

#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace authrefresh {
namespace {

using internal::BearerChallengeError;
using internal::InsecureTransportStatus;
using internal::IsClientGenerated;
using internal::IsInsecureTransportRefusal;
using internal::IsServerRejection;
using internal::MethodPolicy;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

constexpr char kInsecure[] =
    "Established channel does not have a sufficient security level to transfer call "
    "credential.";

TEST(MethodPolicy, TheTokenServiceIsAlwaysExcludedAndNothingElseByDefault) {
  MethodPolicy none({});
  EXPECT_TRUE(none.Excluded("/authrefresh.v1.TokenService/Refresh"));
  EXPECT_FALSE(none.Excluded("/pkg.Api/Get"));
  EXPECT_TRUE(none.Excluded(nullptr));
  EXPECT_TRUE(none.ConfigNames().empty());  // no method config beyond the default
}

TEST(MethodPolicy, MethodsAndWholeServicesWithOrWithoutTheLeadingSlash) {
  MethodPolicy p({"/pkg.Health/Check", "pkg.Admin/*", "/bad"});
  EXPECT_TRUE(p.Excluded("/pkg.Health/Check"));
  EXPECT_FALSE(p.Excluded("/pkg.Health/Watch"));
  EXPECT_TRUE(p.Excluded("/pkg.Admin/Anything"));
  EXPECT_FALSE(p.Excluded("/pkg.Administrator/X"));
  EXPECT_TRUE(p.Excluded("/authrefresh.v1.TokenService/Refresh"));
  // As a service config names them, sorted; the malformed entry is left out.
  std::vector<std::string> names;
  for (const MethodPolicy::ConfigName& n : p.ConfigNames()) {
    names.push_back(n.service + "|" + n.method);
  }
  EXPECT_THAT(names, ElementsAre("pkg.Admin|", "pkg.Health|Check"));
}

TEST(BearerChallengeError, ReadsTheErrorParameterOfABearerChallenge) {
  EXPECT_EQ(BearerChallengeError(R"(Bearer realm="x", error="invalid_token")"), "invalid_token");
  EXPECT_EQ(BearerChallengeError(R"(bearer error=insufficient_scope, scope="a b")"),
            "insufficient_scope");
  EXPECT_EQ(BearerChallengeError(R"(  Bearer ERROR = "x" )"), "x");
  EXPECT_EQ(BearerChallengeError(R"(Basic realm="x", error="invalid_token")"), "");
  EXPECT_EQ(BearerChallengeError("Bearer realm=\"x\""), "");
  // DPoP challenges (RFC 9449 section 7.1) too, and no other scheme.
  EXPECT_EQ(BearerChallengeError(R"(DPoP error="use_dpop_nonce", algs="ES256")"), "use_dpop_nonce");
  EXPECT_EQ(BearerChallengeError(R"(dpop algs="ES256", error=invalid_dpop_proof)"),
            "invalid_dpop_proof");
  EXPECT_EQ(BearerChallengeError(R"(DPoPx error="x")"), "");
  EXPECT_EQ(BearerChallengeError(R"(Bearerx error="x")"), "");
}

ServerMetadata Challenge(const char* value) {
  ServerMetadata m;
  m.emplace("www-authenticate", value);
  return m;
}

TEST(IsServerRejection, UnauthenticatedFromTheServerUnlessTheScopeIsTooNarrow) {
  const ServerMetadata none;
  const grpc::Status unauth(grpc::StatusCode::UNAUTHENTICATED, "token expired");
  EXPECT_TRUE(IsServerRejection({unauth, none, none}));
  const ServerMetadata invalid = Challenge(R"(Bearer error="invalid_token")");
  EXPECT_TRUE(IsServerRejection({unauth, none, invalid}));
  const ServerMetadata scope = Challenge(R"(Bearer error="insufficient_scope")");
  EXPECT_FALSE(IsServerRejection({unauth, scope, none}));  // in the headers
  EXPECT_FALSE(IsServerRejection({unauth, none, scope}));  // or the trailers
  // A DPoP proof the server refused is not the token's fault.
  for (const char* proof :
       {R"(DPoP error="use_dpop_nonce")", R"(DPoP error="invalid_dpop_proof")"}) {
    EXPECT_FALSE(IsServerRejection({unauth, none, Challenge(proof)})) << proof;
  }
  EXPECT_TRUE(IsServerRejection({unauth, none, Challenge(R"(DPoP error="invalid_token")")}));
  EXPECT_FALSE(
      IsServerRejection({grpc::Status(grpc::StatusCode::PERMISSION_DENIED, "no"), none, none}));
  EXPECT_FALSE(IsServerRejection({grpc::Status::OK, none, none}));
}

// gRPC's client makes these UNAUTHENTICATED statuses itself: no server saw
// the token, so no refresh can help.
TEST(IsClientGenerated, TheClientsOwnUnauthenticatedStatuses) {
  const ServerMetadata none;
  const grpc::Status insecure(grpc::StatusCode::UNAUTHENTICATED, kInsecure);
  const grpc::Status host(grpc::StatusCode::UNAUTHENTICATED,
                          "call host does not match SSL server name: api.example.com");
  EXPECT_TRUE(IsClientGenerated(insecure));
  EXPECT_TRUE(IsClientGenerated(host));
  EXPECT_FALSE(IsServerRejection({insecure, none, none}));
  EXPECT_FALSE(IsServerRejection({host, none, none}));
  EXPECT_FALSE(IsClientGenerated(grpc::Status(grpc::StatusCode::UNAVAILABLE, kInsecure)));
  EXPECT_FALSE(IsClientGenerated(grpc::Status(grpc::StatusCode::UNAUTHENTICATED, "expired")));
}

// authrefresh's own status for it: UNAUTHENTICATED, as gRPC's call
// credentials give it, with a message that says what to do.
TEST(InsecureTransport, RefusalIsRecognisedAndRestatedAsUnauthenticated) {
  EXPECT_TRUE(
      IsInsecureTransportRefusal(grpc::Status(grpc::StatusCode::UNAUTHENTICATED, kInsecure)));
  EXPECT_FALSE(IsInsecureTransportRefusal(grpc::Status(grpc::StatusCode::UNAUTHENTICATED, "x")));
  const grpc::Status s = InsecureTransportStatus();
  EXPECT_EQ(s.error_code(), grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_THAT(s.error_message(), HasSubstr("allow_insecure_transport"));
  EXPECT_FALSE(IsClientGenerated(s));  // not mistaken for gRPC's wording
}

}  // namespace
}  // namespace authrefresh
