// DPoP keys and proofs (interceptor/dpop.h, interceptor/internal/dpop.h), each proof checked by
// an independent verifier: tests/oauth_server/dpop_check.js, with `jose`.

#include "interceptor/dpop.h"

#include "interceptor/internal/dpop.h"

#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <fstream>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "google/protobuf/struct.pb.h"
#include "google/protobuf/util/json_util.h"
#include "google/protobuf/util/message_differencer.h"
#include "gtest/gtest.h"
#include "tests/testing/node_process.h"
#include "tests/testing/test_keys.h"

namespace authrefresh {
namespace internal {
namespace {

using google::protobuf::Struct;
using testing::KeyKind;

constexpr char kHtu[] = "https://api.example.com/authrefresh.test.Echo/Say";

std::string Json(const Struct& s) {
  std::string out;
  EXPECT_TRUE(google::protobuf::util::MessageToJsonString(s, &out).ok());
  return out;
}

Struct Parse(const std::string& json) {
  Struct s;
  EXPECT_TRUE(google::protobuf::util::JsonStringToMessage(json, &s).ok()) << json.size();
  return s;
}

// The JSON of part `index` (0 header, 1 claims) of a compact JWS.
Struct Part(const std::string& jws, int index) {
  std::vector<std::string> parts = absl::StrSplit(jws, '.');
  EXPECT_EQ(parts.size(), 3u);
  std::string json;
  EXPECT_TRUE(absl::WebSafeBase64Unescape(parts.at(index), &json));
  return Parse(json);
}

class DpopTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    checker_ = testing::NodeProcess::Start("tests/oauth_server/dpop_check.js", {}).release();
  }
  static void TearDownTestSuite() {
    delete checker_;
    checker_ = nullptr;
  }
  void SetUp() override { ASSERT_NE(checker_, nullptr); }

  // What dpop_check.js says of `proof`, expecting `expect` (htm, htu, ...).
  static Struct Check(const std::string& proof, Struct expect) {
    (*expect.mutable_fields())["proof"].set_string_value(proof);
    return checker_->Command(Json(expect));
  }
  static Struct Expect(const std::string& htu, const std::string& nonce = "",
                       const std::string& access_token = "") {
    Struct s;
    (*s.mutable_fields())["htm"].set_string_value("POST");
    (*s.mutable_fields())["htu"].set_string_value(htu);
    if (!nonce.empty()) (*s.mutable_fields())["nonce"].set_string_value(nonce);
    if (!access_token.empty()) (*s.mutable_fields())["access_token"].set_string_value(access_token);
    return s;
  }
  static bool Ok(const Struct& answer) { return answer.fields().at("ok").bool_value(); }
  static std::string Field(const Struct& answer, const std::string& name) {
    auto it = answer.fields().find(name);
    return it == answer.fields().end() ? "" : it->second.string_value();
  }

  static testing::NodeProcess* checker_;
};
testing::NodeProcess* DpopTest::checker_ = nullptr;

class EveryAlgorithm : public DpopTest, public ::testing::WithParamInterface<DpopKey::Algorithm> {};

TEST_P(EveryAlgorithm, AGeneratedKeysProofPassesAnIndependentVerifier) {
  absl::StatusOr<std::shared_ptr<const DpopKey>> key = DpopKey::Generate(GetParam());
  ASSERT_TRUE(key.ok()) << key.status();
  const std::string token = "at-0123456789";
  absl::StatusOr<std::string> proof = (*key)->Proof({"POST", kHtu, absl::Now(), "nonce-1", token});
  ASSERT_TRUE(proof.ok()) << proof.status();
  Struct answer = Check(*proof, Expect(kHtu, "nonce-1", token));
  ASSERT_TRUE(Ok(answer)) << Field(answer, "error");
  EXPECT_EQ(Field(answer, "alg"), DpopKey::AlgorithmName(GetParam()));
  // jose's RFC 7638 thumbprint of the header's key is ours.
  EXPECT_EQ(Field(answer, "jkt"), (*key)->thumbprint());
  // The header's key is public_jwk(), and holds no private member.
  EXPECT_TRUE(google::protobuf::util::MessageDifferencer::Equals(
      answer.fields().at("jwk").struct_value(), Parse((*key)->public_jwk())))
      << (*key)->public_jwk();
  EXPECT_EQ((*key)->public_jwk().find("\"d\""), std::string::npos);
}

TEST_P(EveryAlgorithm, AKeyReadFromPemSignsAsItsPublicKeySays) {
  const KeyKind kind = GetParam() == DpopKey::Algorithm::kES256   ? KeyKind::kEcP256
                       : GetParam() == DpopKey::Algorithm::kEdDSA ? KeyKind::kEd25519
                                                            : KeyKind::kRsa2048;
  const testing::TestKey pem = testing::GenerateKey(kind);
  absl::StatusOr<std::shared_ptr<const DpopKey>> key =
      DpopKey::FromPem(pem.private_pem, GetParam());
  ASSERT_TRUE(key.ok()) << key.status();
  absl::StatusOr<std::string> proof = (*key)->Proof({"POST", kHtu, absl::Now(), "", ""});
  ASSERT_TRUE(proof.ok()) << proof.status();
  Struct expect = Expect(kHtu);
  (*expect.mutable_fields())["jkt"].set_string_value((*key)->thumbprint());
  Struct answer = Check(*proof, expect);
  EXPECT_TRUE(Ok(answer)) << Field(answer, "error");
}

INSTANTIATE_TEST_SUITE_P(Dpop, EveryAlgorithm,
                         ::testing::Values(DpopKey::Algorithm::kES256, DpopKey::Algorithm::kEdDSA,
                                           DpopKey::Algorithm::kRS256, DpopKey::Algorithm::kPS256),
                         [](const auto& info) { return DpopKey::AlgorithmName(info.param); });

TEST_F(DpopTest, TheHeaderAndClaimsAreExactlyRfc9449s) {
  auto key = DpopKey::Generate(DpopKey::Algorithm::kES256);
  ASSERT_TRUE(key.ok());
  const absl::Time iat = absl::FromUnixSeconds(1700000000) + absl::Milliseconds(900);
  absl::StatusOr<std::string> proof = (*key)->Proof({"POST", kHtu, iat, "n", "token"});
  ASSERT_TRUE(proof.ok());
  const Struct header = Part(*proof, 0);
  EXPECT_EQ(header.fields().size(), 3u);
  EXPECT_EQ(header.fields().at("typ").string_value(), "dpop+jwt");
  EXPECT_EQ(header.fields().at("alg").string_value(), "ES256");
  const Struct claims = Part(*proof, 1);
  EXPECT_EQ(claims.fields().size(), 6u);
  EXPECT_EQ(claims.fields().at("htm").string_value(), "POST");
  EXPECT_EQ(claims.fields().at("htu").string_value(), kHtu);
  EXPECT_EQ(claims.fields().at("iat").number_value(), 1700000000);
  EXPECT_EQ(claims.fields().at("nonce").string_value(), "n");
  // base64url(SHA-256("token")), computed independently:
  // printf token | openssl dgst -sha256 -binary | basenc --base64url
  EXPECT_EQ(claims.fields().at("ath").string_value(),
            "PEaenWxYddN6Q_NT1PiOYfz4EsZu7jRXRlpAsNpBU-A");
  EXPECT_GE(claims.fields().at("jti").string_value().size(), 22u);
  // No nonce and no token: neither claim.
  const Struct bare = Part(*(*key)->Proof({"POST", kHtu, iat, "", ""}), 1);
  EXPECT_EQ(bare.fields().count("nonce"), 0u);
  EXPECT_EQ(bare.fields().count("ath"), 0u);
}

TEST_F(DpopTest, EveryProofHasItsOwnJtiAndAReplayedOneIsRefused) {
  auto key = DpopKey::Generate(DpopKey::Algorithm::kEdDSA);
  ASSERT_TRUE(key.ok());
  std::set<std::string> jtis;
  std::string first;
  for (int i = 0; i < 20; ++i) {
    std::string proof = *(*key)->Proof({"POST", kHtu, absl::Now(), "", ""});
    jtis.insert(Part(proof, 1).fields().at("jti").string_value());
    EXPECT_TRUE(Ok(Check(proof, Expect(kHtu))));
    if (i == 0) first = proof;
  }
  EXPECT_EQ(jtis.size(), 20u);
  Struct again = Check(first, Expect(kHtu));
  EXPECT_FALSE(Ok(again));
  EXPECT_EQ(Field(again, "error"), "jti replayed");
}

TEST_F(DpopTest, TheVerifierRefusesAProofForAnotherTokenUriNonceOrKey) {
  auto key = DpopKey::Generate(DpopKey::Algorithm::kES256);
  auto other = DpopKey::Generate(DpopKey::Algorithm::kES256);
  ASSERT_TRUE(key.ok() && other.ok());
  auto proof = [&] { return *(*key)->Proof({"POST", kHtu, absl::Now(), "n1", "token-a"}); };
  EXPECT_EQ(Field(Check(proof(), Expect(kHtu, "n1", "token-b")), "error"), "ath does not match");
  EXPECT_EQ(Field(Check(proof(), Expect(kHtu, "n2", "token-a")), "error"), "nonce does not match");
  EXPECT_EQ(
      Field(Check(proof(), Expect("https://api.example.com/other", "n1", "token-a")), "error"),
      "htu does not match");
  Struct bound = Expect(kHtu, "n1", "token-a");
  (*bound.mutable_fields())["jkt"].set_string_value((*other)->thumbprint());
  EXPECT_EQ(Field(Check(proof(), bound), "error"), "the key is not the token's (cnf.jkt)");
  // An old proof (iat two minutes back) is outside the window.
  std::string old = *(*key)->Proof({"POST", kHtu, absl::Now() - absl::Minutes(2), "", ""});
  EXPECT_EQ(Field(Check(old, Expect(kHtu)), "error"), "iat is outside the 60 s window");
  // A proof with a byte of its signature changed.
  std::string forged = proof();
  forged[forged.size() - 5] = forged[forged.size() - 5] == 'A' ? 'B' : 'A';
  EXPECT_FALSE(Ok(Check(forged, Expect(kHtu, "n1", "token-a"))));
}

TEST(DpopKeyErrors, AKeyOfTheWrongKindIsRefusedWithoutQuotingIt) {
  struct Case {
    KeyKind kind;
    DpopKey::Algorithm algorithm;
    std::string message;
  };
  const std::vector<Case> cases = {
      {KeyKind::kEcP256, DpopKey::Algorithm::kEdDSA,
       "DPoP key: EdDSA needs an Ed25519 key; this is a EC key"},
      {KeyKind::kEd25519, DpopKey::Algorithm::kES256,
       "DPoP key: ES256 needs an EC P-256 key; this is a ED25519 key"},
      {KeyKind::kEcP384, DpopKey::Algorithm::kES256,
       "DPoP key: ES256 needs an EC P-256 key; this is an EC key on curve secp384r1"},
      {KeyKind::kRsa1024, DpopKey::Algorithm::kPS256,
       "DPoP key: PS256 needs an RSA key of at least 2048 bits; this one has 1024"},
      {KeyKind::kRsa2048, DpopKey::Algorithm::kEdDSA,
       "DPoP key: EdDSA needs an Ed25519 key; this is a RSA key"},
  };
  for (const Case& c : cases) {
    const testing::TestKey pem = testing::GenerateKey(c.kind);
    absl::StatusOr<std::shared_ptr<const DpopKey>> key =
        DpopKey::FromPem(pem.private_pem, c.algorithm);
    ASSERT_FALSE(key.ok()) << c.message;
    EXPECT_EQ(key.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_EQ(key.status().message(), c.message);
  }
  const testing::TestKey ec = testing::GenerateKey(KeyKind::kEcP256);
  absl::StatusOr<std::shared_ptr<const DpopKey>> encrypted =
      DpopKey::FromPem(ec.encrypted_private_pem, DpopKey::Algorithm::kES256);
  ASSERT_FALSE(encrypted.ok());
  EXPECT_EQ(encrypted.status().message(),
            "DPoP key: the private key is encrypted; give an unencrypted PEM key (protect the "
            "file instead)");
  absl::StatusOr<std::shared_ptr<const DpopKey>> public_only =
      DpopKey::FromPem(ec.public_pem, DpopKey::Algorithm::kES256);
  ASSERT_FALSE(public_only.ok());
  EXPECT_EQ(public_only.status().message(),
            "DPoP key: expected a PEM private key, found a \"PUBLIC KEY\" block");
}

TEST(DpopKeyErrors, AKeyFileIsReadAndAMissingOneIsNamed) {
  const std::string dir = getenv("TEST_TMPDIR") ? getenv("TEST_TMPDIR") : "/tmp";
  const std::string path = dir + "/dpop_key.pem";
  const testing::TestKey ed = testing::GenerateKey(KeyKind::kEd25519);
  std::ofstream(path) << ed.private_pem;
  absl::StatusOr<std::shared_ptr<const DpopKey>> key =
      DpopKey::FromFile(path, DpopKey::Algorithm::kEdDSA);
  ASSERT_TRUE(key.ok()) << key.status();
  // The same key read twice has the same thumbprint; a new key another.
  EXPECT_EQ((*key)->thumbprint(),
            (*DpopKey::FromPem(ed.private_pem, DpopKey::Algorithm::kEdDSA))->thumbprint());
  EXPECT_NE((*key)->thumbprint(), (*DpopKey::Generate(DpopKey::Algorithm::kEdDSA))->thumbprint());
  unlink(path.c_str());
  absl::StatusOr<std::shared_ptr<const DpopKey>> missing =
      DpopKey::FromFile(path, DpopKey::Algorithm::kEdDSA);
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(missing.status().message(),
            absl::StrCat("DPoP key file cannot be read (missing, unreadable or over 64 KiB): ", path));
}

TEST(DpopTargetUri, DropsQueryAndFragmentAndLowercasesSchemeAndHost) {
  EXPECT_EQ(*DpopTargetUri("https://SSO.Example.com/Realms/Token?x=1#frag"),
            "https://sso.example.com/Realms/Token");
  EXPECT_EQ(*DpopTargetUri("HTTP://127.0.0.1:8080"), "http://127.0.0.1:8080/");
  EXPECT_EQ(*DpopTargetUri("https://api.example.com/pkg.Service/Method"),
            "https://api.example.com/pkg.Service/Method");
  for (const char* bad : {"grpc://host/x", "https://", "https:///path", "/relative", ""}) {
    absl::StatusOr<std::string> u = DpopTargetUri(bad);
    EXPECT_EQ(u.status().code(), absl::StatusCode::kInvalidArgument) << bad;
  }
}

TEST_F(DpopTest, ACallsTargetIsGrpcsServiceUrlAndMethod) {
  // service_url as a credentials plugin gets it (auth_context_probe).
  absl::StatusOr<std::string> htu =
      DpopCallUri("https://127.0.0.1:36575/authrefresh.test.Echo", "Say");
  ASSERT_TRUE(htu.ok()) << htu.status();
  EXPECT_EQ(*htu, "https://127.0.0.1:36575/authrefresh.test.Echo/Say");
  auto key = DpopKey::Generate(DpopKey::Algorithm::kES256);
  ASSERT_TRUE(key.ok());
  const std::string token = "at-call";
  Struct answer = Check(*(*key)->Proof({"POST", *htu, absl::Now(), "", token}),
                        Expect("https://127.0.0.1:36575/authrefresh.test.Echo/Say", "", token));
  EXPECT_TRUE(Ok(answer)) << Field(answer, "error");
  EXPECT_EQ(*DpopCallUri("https://API.example.com/pkg.Svc", "Get"),
            "https://api.example.com/pkg.Svc/Get");
  EXPECT_FALSE(DpopCallUri("https://api.example.com/pkg.Svc", "").ok());
  EXPECT_FALSE(DpopCallUri("https://api.example.com/pkg.Svc", "a/b").ok());
  EXPECT_FALSE(DpopCallUri("dns:///api.example.com/pkg.Svc", "Get").ok());
}

TEST(DpopNonce, OnlyRfc9449sSyntaxIsANonce) {
  EXPECT_TRUE(IsValidDpopNonce("eyJ7S_zG.eyJH0-Z.HX4w-7v"));
  EXPECT_TRUE(IsValidDpopNonce("!#[]~"));
  EXPECT_TRUE(IsValidDpopNonce(std::string(kMaxDpopNonceBytes, 'n')));
  for (const std::string& bad : {std::string(), std::string("a b"), std::string("a\"b"),
                                std::string("a\\b"), std::string("caf\xc3\xa9"),
                                std::string("a\nb"), std::string(kMaxDpopNonceBytes + 1, 'n')}) {
    EXPECT_FALSE(IsValidDpopNonce(bad)) << bad.size();
  }
}

TEST(DpopNonce, TheCacheKeepsTheLatestNoncePerOriginAndSaysWhenItChanged) {
  DpopNonceCache cache;
  const std::string as = "https://as.example.com";
  const std::string rs = "https://rs.example.com:8443";
  EXPECT_EQ(cache.Get(as), "");
  EXPECT_TRUE(cache.Update(as, "n1"));
  EXPECT_FALSE(cache.Update(as, "n1"));  // the same nonce again: nothing new
  EXPECT_EQ(cache.Get(as), "n1");
  EXPECT_EQ(cache.Get(rs), "");
  EXPECT_TRUE(cache.Update(rs, "r1"));
  EXPECT_TRUE(cache.Update(as, "n2"));
  EXPECT_FALSE(cache.Update(as, "bad nonce"));  // ignored, the old one kept
  EXPECT_FALSE(cache.Update(as, ""));
  EXPECT_EQ(cache.Get(as), "n2");
  EXPECT_EQ(cache.Get(rs), "r1");
}

TEST(DpopNonce, TheCacheIsBoundedAndKeepsTheNewestOrigin) {
  DpopNonceCache cache;
  int kept = 0;
  for (int i = 0; i < 200; ++i) {
    EXPECT_TRUE(cache.Update(absl::StrCat("https://h", i), absl::StrCat("n", i)));
    EXPECT_EQ(cache.Get(absl::StrCat("https://h", i)), absl::StrCat("n", i));
  }
  for (int i = 0; i < 200; ++i) kept += cache.Get(absl::StrCat("https://h", i)).empty() ? 0 : 1;
  EXPECT_EQ(kept, static_cast<int>(DpopNonceCache::kMaxOrigins));
}

TEST(DpopNonce, ConcurrentReadersSeeOnlyNoncesThatWereWritten) {
  DpopNonceCache cache;
  std::vector<std::thread> threads;
  std::atomic<int> bad{0};
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 2000; ++i) {
        cache.Update("https://rs", absl::StrCat("n", t, "-", i));
        const std::string seen = cache.Get("https://rs");
        if (seen.empty() || seen[0] != 'n') bad.fetch_add(1);
      }
    });
  }
  for (std::thread& t : threads) t.join();
  EXPECT_EQ(bad.load(), 0);
}

}  // namespace
}  // namespace internal
}  // namespace authrefresh
