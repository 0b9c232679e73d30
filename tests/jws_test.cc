// Signed JWTs: the signatures verify with OpenSSL's own verification (the
// end-to-end tests verify them again with a JOSE library in the token
// server), the headers say what they should, and every bad key is refused at
// construction with an error that names the problem and never the key.

#include "interceptor/internal/jws.h"

#include <openssl/bn.h>
#include <openssl/ecdsa.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <sys/wait.h>
#include <unistd.h>

#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/str_split.h"
#include "gmock/gmock.h"
#include "google/protobuf/struct.pb.h"
#include "google/protobuf/util/json_util.h"
#include "gtest/gtest.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/test_client_certs.h"
#include "tests/testing/test_keys.h"

namespace authrefresh {
namespace {

using internal::JwsAlgorithm;
using internal::JwsKeyMaterial;
using internal::JwtSigner;
using testing::GenerateKey;
using ::testing::HasSubstr;
using testing::IsOk;
using testing::KeyKind;
using ::testing::Not;
using testing::StatusIs;

std::string FromBase64Url(absl::string_view in) {
  std::string out;
  EXPECT_TRUE(absl::WebSafeBase64Unescape(in, &out)) << "not base64url";
  return out;
}

google::protobuf::Struct Json(const std::string& text) {
  google::protobuf::Struct s;
  EXPECT_TRUE(google::protobuf::util::JsonStringToMessage(text, &s).ok()) << text;
  return s;
}

// Verifies a compact JWS with OpenSSL, given the signer's public key.
bool Verifies(const std::string& jws, const std::string& public_pem, JwsAlgorithm alg) {
  std::vector<std::string> parts = absl::StrSplit(jws, '.');
  if (parts.size() != 3) return false;
  const std::string input = parts[0] + "." + parts[1];
  std::string signature = FromBase64Url(parts[2]);
  if (alg == JwsAlgorithm::kES256) {
    // r || s back to DER for OpenSSL.
    if (signature.size() != 64) return false;
    ECDSA_SIG* sig = ECDSA_SIG_new();
    const auto* raw = reinterpret_cast<const unsigned char*>(signature.data());
    ECDSA_SIG_set0(sig, BN_bin2bn(raw, 32, nullptr), BN_bin2bn(raw + 32, 32, nullptr));
    unsigned char* der = nullptr;
    const int n = i2d_ECDSA_SIG(sig, &der);
    signature.assign(reinterpret_cast<char*>(der), n);
    OPENSSL_free(der);
    ECDSA_SIG_free(sig);
  }
  BIO* bio = BIO_new_mem_buf(public_pem.data(), static_cast<int>(public_pem.size()));
  EVP_PKEY* key = PEM_read_bio_PUBKEY(bio, nullptr, nullptr, nullptr);
  BIO_free(bio);
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  const bool ok =
      key != nullptr && EVP_DigestVerifyInit(ctx, nullptr, EVP_sha256(), nullptr, key) == 1 &&
      EVP_DigestVerify(ctx, reinterpret_cast<const unsigned char*>(signature.data()),
                       signature.size(), reinterpret_cast<const unsigned char*>(input.data()),
                       input.size()) == 1;
  EVP_MD_CTX_free(ctx);
  EVP_PKEY_free(key);
  return ok;
}

TEST(Jws, Rs256AndEs256SignaturesVerifyAndHeadersAreExact) {
  struct Case {
    KeyKind kind;
    JwsAlgorithm alg;
    const char* name;
  };
  for (const Case& c : {Case{KeyKind::kRsa2048, JwsAlgorithm::kRS256, "RS256"},
                        Case{KeyKind::kEcP256, JwsAlgorithm::kES256, "ES256"}}) {
    SCOPED_TRACE(c.name);
    const testing::TestKey key = GenerateKey(c.kind);
    auto signer = JwtSigner::Create({c.alg, key.private_pem, "key-7", ""}, "opt");
    ASSERT_THAT(signer.status(), IsOk());
    const std::string claims = R"({"iss":"me","n":1})";
    absl::StatusOr<std::string> jws = (*signer)->Sign(claims);
    ASSERT_THAT(jws.status(), IsOk());
    std::vector<std::string> parts = absl::StrSplit(*jws, '.');
    ASSERT_EQ(parts.size(), 3u);
    EXPECT_EQ(FromBase64Url(parts[0]),
              absl::StrCat(R"({"alg":")", c.name, R"(","typ":"JWT","kid":"key-7"})"));
    EXPECT_EQ(FromBase64Url(parts[1]), claims);
    for (const std::string& p : parts) {
      EXPECT_EQ(p.find_first_of("+/="), std::string::npos) << "not base64url";
    }
    EXPECT_TRUE(Verifies(*jws, key.public_pem, c.alg));
    // A different key does not verify it, and a changed payload does not.
    EXPECT_FALSE(Verifies(*jws, GenerateKey(c.kind).public_pem, c.alg));
    std::string tampered =
        parts[0] + "." + internal::Base64Url(R"({"iss":"you","n":1})") + "." + parts[2];
    EXPECT_FALSE(Verifies(tampered, key.public_pem, c.alg));
    // ECDSA is randomised, RSA PKCS#1 v1.5 is not: both verify every time.
    absl::StatusOr<std::string> again = (*signer)->Sign(claims);
    ASSERT_THAT(again.status(), IsOk());
    EXPECT_TRUE(Verifies(*again, key.public_pem, c.alg));
  }
}

TEST(Jws, CertificateAddsItsThumbprints) {
  auto signer = JwtSigner::Create(
      {JwsAlgorithm::kRS256, testing::kTestSignerKeyPem, "", testing::kTestSignerCertPem}, "opt");
  ASSERT_THAT(signer.status(), IsOk());
  absl::StatusOr<std::string> jws = (*signer)->Sign("{}");
  ASSERT_THAT(jws.status(), IsOk());
  std::vector<std::string> parts = absl::StrSplit(*jws, '.');
  const google::protobuf::Struct header = Json(FromBase64Url(parts[0]));
  // The thumbprints are digests of the certificate's DER encoding.
  BIO* bio = BIO_new_mem_buf(testing::kTestSignerCertPem, -1);
  X509* cert = PEM_read_bio_X509(bio, nullptr, nullptr, nullptr);
  BIO_free(bio);
  ASSERT_NE(cert, nullptr);
  unsigned char* der = nullptr;
  const int n = i2d_X509(cert, &der);
  X509_free(cert);
  unsigned char sha1[20], sha256[32];
  unsigned int len = 0;
  EVP_Digest(der, n, sha1, &len, EVP_sha1(), nullptr);
  EVP_Digest(der, n, sha256, &len, EVP_sha256(), nullptr);
  OPENSSL_free(der);
  EXPECT_EQ(header.fields().at("x5t").string_value(),
            internal::Base64Url(std::string(reinterpret_cast<char*>(sha1), 20)));
  EXPECT_EQ(header.fields().at("x5t#S256").string_value(),
            internal::Base64Url(std::string(reinterpret_cast<char*>(sha256), 32)));
  EXPECT_FALSE(header.fields().contains("kid"));
}

TEST(Jws, BadKeysAreRefusedNamingTheProblemNeverTheKey) {
  const testing::TestKey rsa = GenerateKey(KeyKind::kRsa2048);
  const testing::TestKey ec = GenerateKey(KeyKind::kEcP256);
  struct Case {
    JwsKeyMaterial material;
    const char* expected;
  };
  const std::string garbage_pem =
      "-----BEGIN PRIVATE KEY-----\nbm90IGEga2V5IGF0IGFsbA==\n-----END PRIVATE KEY-----\n";
  const std::vector<Case> cases = {
      {{JwsAlgorithm::kRS256, "", "", ""}, "no private key"},
      {{JwsAlgorithm::kRS256, "just some text", "", ""}, "not PEM"},
      {{JwsAlgorithm::kRS256, garbage_pem, "", ""}, "cannot be parsed"},
      {{JwsAlgorithm::kRS256, rsa.encrypted_private_pem, "", ""}, "encrypted"},
      {{JwsAlgorithm::kRS256, rsa.public_pem, "", ""}, "found a \"PUBLIC KEY\" block"},
      {{JwsAlgorithm::kRS256, testing::kTestSignerCertPem, "", ""},
       "found a \"CERTIFICATE\" block"},
      {{JwsAlgorithm::kRS256, ec.private_pem, "", ""}, "RS256 needs an RSA key; this is a EC key"},
      {{JwsAlgorithm::kES256, rsa.private_pem, "", ""},
       "ES256 needs an EC P-256 key; this is a RSA key"},
      {{JwsAlgorithm::kES256, GenerateKey(KeyKind::kEcP384).private_pem, "", ""},
       "an EC key on curve secp384r1"},
      {{JwsAlgorithm::kES256, GenerateKey(KeyKind::kEd25519).private_pem, "", ""},
       "ES256 needs an EC P-256 key"},
      {{JwsAlgorithm::kRS256, GenerateKey(KeyKind::kRsa1024).private_pem, "", ""},
       "at least 2048 bits; this one has 1024"},
      {{JwsAlgorithm::kRS256, rsa.private_pem, "", testing::kTestSignerCertPem},
       "the certificate does not belong to the private key"},
      {{JwsAlgorithm::kRS256, rsa.private_pem, "", "-----BEGIN CERTIFICATE-----\nAAAA\n"},
       "not a PEM X.509 certificate"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.expected);
    auto signer = JwtSigner::Create(c.material, "Options.client_assertion_key");
    ASSERT_THAT(signer.status(),
                StatusIs(absl::StatusCode::kInvalidArgument,
                         ::testing::AllOf(HasSubstr("Options.client_assertion_key: "),
                                          HasSubstr(c.expected))));
    const std::string message(signer.status().message());
    // No line of base64 from the key (or the certificate) is quoted.
    for (absl::string_view line :
         absl::StrSplit(c.material.private_key_pem + "\n" + c.material.certificate_pem, '\n')) {
      if (line.size() >= 16 && !absl::StartsWith(line, "-----")) {
        EXPECT_THAT(message, Not(HasSubstr(std::string(line.substr(0, 16)))));
      }
    }
  }
}

// The formats `openssl genrsa` and `openssl ecparam -genkey` write: the
// traditional "RSA PRIVATE KEY" and "EC PRIVATE KEY", the latter after an
// "EC PARAMETERS" block.
TEST(Jws, TraditionalPemFormatsAreAccepted) {
  for (KeyKind kind : {KeyKind::kRsa2048, KeyKind::kEcP256}) {
    const testing::TestKey key = GenerateKey(kind);
    BIO* in = BIO_new_mem_buf(key.private_pem.data(), static_cast<int>(key.private_pem.size()));
    EVP_PKEY* pkey = PEM_read_bio_PrivateKey(in, nullptr, nullptr, nullptr);
    BIO_free(in);
    ASSERT_NE(pkey, nullptr);
    BIO* out = BIO_new(BIO_s_mem());
    ASSERT_EQ(
        PEM_write_bio_PrivateKey_traditional(out, pkey, nullptr, nullptr, 0, nullptr, nullptr), 1);
    char* data = nullptr;
    const long n = BIO_get_mem_data(out, &data);
    std::string pem(data, static_cast<size_t>(n));
    BIO_free(out);
    EVP_PKEY_free(pkey);
    const bool ec = kind == KeyKind::kEcP256;
    EXPECT_THAT(pem, HasSubstr(ec ? "BEGIN EC PRIVATE KEY" : "BEGIN RSA PRIVATE KEY"));
    if (ec) {
      pem = "-----BEGIN EC PARAMETERS-----\nBggqhkjOPQMBBw==\n-----END EC PARAMETERS-----\n" + pem;
    }
    const JwsAlgorithm alg = ec ? JwsAlgorithm::kES256 : JwsAlgorithm::kRS256;
    auto signer = JwtSigner::Create({alg, pem, "", ""}, "opt");
    ASSERT_THAT(signer.status(), IsOk());
    absl::StatusOr<std::string> jws = (*signer)->Sign("{}");
    ASSERT_THAT(jws.status(), IsOk());
    EXPECT_TRUE(Verifies(*jws, key.public_pem, alg));
  }
}

TEST(Jws, TlsClientCertificateMustMatchItsKey) {
  EXPECT_THAT(internal::CheckCertificateAndKey(testing::kTestClientACertPem,
                                               testing::kTestClientAKeyPem, "tls"),
              IsOk());
  EXPECT_THAT(internal::CheckCertificateAndKey(testing::kTestClientACertPem,
                                               testing::kTestClientBKeyPem, "tls"),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("does not belong")));
  EXPECT_THAT(internal::CheckCertificateAndKey(testing::kTestClientAKeyPem,
                                               testing::kTestClientAKeyPem, "tls"),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("not a PEM X.509")));
}

TEST(Jws, JwtIdsAreFreshAndUnguessableLength) {
  std::set<std::string> seen;
  for (int i = 0; i < 1000; ++i) {
    const std::string jti = internal::NewJwtId();
    EXPECT_EQ(jti.size(), 22u);  // 128 bits, base64url, no padding
    EXPECT_TRUE(seen.insert(jti).second) << "repeated jti";
  }
}

// A key reuses its signing contexts (one thread at a time each): threads
// signing with one key at once all get signatures that verify, RSA
// PKCS#1 v1.5 ones identical to a lone signature's.
TEST(Jws, OneKeySignsFromManyThreadsAtOnce) {
  for (auto [kind, alg] : {std::pair{KeyKind::kEcP256, JwsAlgorithm::kES256},
                           std::pair{KeyKind::kRsa2048, JwsAlgorithm::kRS256}}) {
    SCOPED_TRACE(internal::JwsAlgorithmName(alg));
    const testing::TestKey key = GenerateKey(kind);
    auto signer = JwtSigner::Create({alg, key.private_pem, "", ""}, "opt");
    ASSERT_THAT(signer.status(), IsOk());
    absl::StatusOr<std::string> lone = (*signer)->Sign(R"({"n":0})");
    ASSERT_THAT(lone.status(), IsOk());
    constexpr int kThreads = 8;
    constexpr int kEach = 40;  // more threads than contexts kept, so some are dropped
    std::vector<std::vector<std::string>> signed_by(kThreads);
    std::vector<std::thread> threads;
    for (int t = 0; t < kThreads; ++t) {
      threads.emplace_back([&, t] {
        for (int i = 0; i < kEach; ++i) {
          absl::StatusOr<std::string> jws = (*signer)->Sign(R"({"n":0})");
          signed_by[t].push_back(jws.ok() ? *jws : "failed");
        }
      });
    }
    for (std::thread& t : threads) t.join();
    int verified = 0;
    for (const std::vector<std::string>& list : signed_by) {
      for (const std::string& jws : list) {
        verified += Verifies(jws, key.public_pem, alg) ? 1 : 0;
        if (alg == JwsAlgorithm::kRS256) EXPECT_EQ(jws, *lone);
      }
    }
    EXPECT_EQ(verified, kThreads * kEach);
  }
}

// A reused signing context must not reuse its ECDSA nonce: the same input
// signed twice in a row gives two different r values (the same r twice
// would give the private key away).
TEST(Jws, AReusedContextDrawsAFreshEcdsaNonceEachTime) {
  const testing::TestKey key = GenerateKey(KeyKind::kEcP256);
  auto signer = JwtSigner::Create({JwsAlgorithm::kES256, key.private_pem, "", ""}, "opt");
  ASSERT_THAT(signer.status(), IsOk());
  std::set<std::string> r_values;
  for (int i = 0; i < 20; ++i) {
    absl::StatusOr<std::string> jws = (*signer)->Sign(R"({"n":0})");
    ASSERT_THAT(jws.status(), IsOk());
    ASSERT_TRUE(Verifies(*jws, key.public_pem, JwsAlgorithm::kES256));
    r_values.insert(
        FromBase64Url(std::vector<std::string>(absl::StrSplit(*jws, '.'))[2]).substr(0, 32));
  }
  EXPECT_EQ(r_values.size(), 20u);
}

// jti values are drawn in blocks: a child process does not reuse the
// parent's block, so the child's next jti is not the parent's next one.
TEST(Jws, AForkedChildDrawsItsOwnJwtIds) {
  const std::string before = internal::NewJwtId();  // the block is drawn
  int pipe_fds[2];
  ASSERT_EQ(pipe(pipe_fds), 0);
  const pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    const std::string jti = internal::NewJwtId();
    const bool written =
        write(pipe_fds[1], jti.data(), jti.size()) == static_cast<ssize_t>(jti.size());
    _exit(written ? 0 : 1);
  }
  close(pipe_fds[1]);
  std::string child_jti(22, '\0');
  const ssize_t n = read(pipe_fds[0], child_jti.data(), child_jti.size());
  close(pipe_fds[0]);
  int status = 0;
  ASSERT_EQ(waitpid(child, &status, 0), child);
  ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  ASSERT_EQ(n, 22);
  const std::string parent_jti = internal::NewJwtId();
  EXPECT_NE(child_jti, parent_jti);
  EXPECT_NE(child_jti, before);
}

TEST(Jws, JsonObjectEscapesStringsAndParses) {
  const std::string text =
      internal::JsonObject()
          .Add("quote\"back\\slash", std::string("a\"b\\c\nd\x01") + "\xc3\xa9")
          .Add("n", int64_t{-1700000000123})
          .Add("edges", "\"plain\x1f")
          .Close();
  const google::protobuf::Struct s = Json(text);
  EXPECT_EQ(s.fields().at("quote\"back\\slash").string_value(),
            std::string("a\"b\\c\nd\x01") + "\xc3\xa9");
  EXPECT_EQ(s.fields().at("edges").string_value(), "\"plain\x1f");
  EXPECT_THAT(text, HasSubstr(R"("edges":"\"plain\u001f")"));
  EXPECT_EQ(text.find('\n'), std::string::npos);
  EXPECT_THAT(text, HasSubstr(R"("n":-1700000000123)"));
  EXPECT_EQ(internal::JsonObject().Close(), "{}");
}

}  // namespace
}  // namespace authrefresh
