// A JwtSigningKey option made into its signer (internal/signing_key): PEM
// text or a file for the key and the certificate, one of each at most, the
// algorithm as chosen, and errors that name the option and never the key.

#include "interceptor/internal/signing_key.h"

#include <cstdlib>
#include <fstream>
#include <string>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/test_client_certs.h"
#include "tests/testing/test_keys.h"

namespace authrefresh {
namespace {

using internal::LoadSigningKey;
using ::testing::AllOf;
using testing::GenerateKey;
using ::testing::HasSubstr;
using testing::IsOk;
using testing::KeyKind;
using ::testing::Not;
using ::testing::StartsWith;
using testing::StatusIs;
using Alg = JwtSigningKey::Algorithm;

constexpr char kWhat[] = "HttpTokenRefresherOptions.jwt_bearer.key";

std::string WriteFile(const std::string& name, const std::string& content) {
  const char* dir = getenv("TEST_TMPDIR");
  const std::string path = absl::StrCat(dir ? dir : "/tmp", "/", name);
  std::ofstream(path, std::ios::trunc) << content;
  return path;
}

// The decoded JOSE header of what `key`'s signer signs.
std::string HeaderSignedBy(const JwtSigningKey& key) {
  auto signer = LoadSigningKey(key, kWhat);
  EXPECT_THAT(signer.status(), IsOk());
  if (!signer.ok()) return "";
  absl::StatusOr<std::string> jws = (*signer)->Sign(R"({"iss":"svc"})");
  EXPECT_THAT(jws.status(), IsOk());
  if (!jws.ok()) return "";
  std::vector<std::string> parts = absl::StrSplit(*jws, '.');
  EXPECT_EQ(parts.size(), 3u);
  std::string header;
  EXPECT_TRUE(absl::WebSafeBase64Unescape(parts[0], &header));
  return header;
}

TEST(SigningKey, TheKeyComesFromItsTextOrItsFileWithTheChosenAlgorithm) {
  JwtSigningKey from_text;
  from_text.algorithm = Alg::kRS256;
  from_text.private_key_pem = GenerateKey(KeyKind::kRsa2048).private_pem;
  from_text.key_id = "key-1";
  EXPECT_EQ(HeaderSignedBy(from_text), R"({"alg":"RS256","typ":"JWT","kid":"key-1"})");

  JwtSigningKey from_file;
  from_file.algorithm = Alg::kES256;
  from_file.private_key_file =
      WriteFile("signing_key_es256.pem", GenerateKey(KeyKind::kEcP256).private_pem);
  EXPECT_EQ(HeaderSignedBy(from_file), R"({"alg":"ES256","typ":"JWT"})");
}

TEST(SigningKey, ACertificateFromItsTextOrItsFileAddsTheThumbprints) {
  JwtSigningKey from_text;
  from_text.private_key_pem = testing::kTestSignerKeyPem;
  from_text.certificate_pem = testing::kTestSignerCertPem;
  const std::string with_text = HeaderSignedBy(from_text);
  EXPECT_THAT(with_text, AllOf(HasSubstr(R"("x5t":")"), HasSubstr(R"("x5t#S256":")")));

  JwtSigningKey from_file;
  from_file.private_key_file = WriteFile("signing_key_signer.pem", testing::kTestSignerKeyPem);
  from_file.certificate_file = WriteFile("signing_key_signer.crt", testing::kTestSignerCertPem);
  // The same certificate, read from a file: the same thumbprints.
  EXPECT_EQ(HeaderSignedBy(from_file), with_text);
}

TEST(SigningKey, MisconfigurationIsRefusedNamingTheOptionAndNeverTheKey) {
  const std::string rsa_pem = GenerateKey(KeyKind::kRsa2048).private_pem;
  const std::string rsa_file = WriteFile("signing_key_rsa.pem", rsa_pem);
  struct Case {
    JwtSigningKey key;
    std::string expected;
  };
  const std::vector<Case> cases = {
      {{Alg::kRS256, "", "", "", "", ""},
       absl::StrCat(kWhat, ": no private key; set private_key_pem or private_key_file")},
      {{Alg::kRS256, rsa_pem, rsa_file, "", "", ""},
       absl::StrCat(kWhat, ": set private_key_pem or private_key_file, not both")},
      {{Alg::kRS256, "", "/nonexistent/key.pem", "", "", ""},
       absl::StrCat(kWhat, ".private_key_file cannot be read: /nonexistent/key.pem")},
      {{Alg::kRS256, rsa_pem, "", "", testing::kTestSignerCertPem, "/etc/hostname"},
       absl::StrCat(kWhat, ": set certificate_pem or certificate_file, not both")},
      {{Alg::kRS256, rsa_pem, "", "", "", "/nonexistent/cert.pem"},
       absl::StrCat(kWhat, ".certificate_file cannot be read: /nonexistent/cert.pem")},
      // The algorithm is the option's, not guessed from the key.
      {{Alg::kES256, rsa_pem, "", "", "", ""}, "ES256 needs an EC P-256 key"},
      // The certificate must be the key's.
      {{Alg::kRS256, rsa_pem, "", "", testing::kTestSignerCertPem, ""},
       "the certificate does not belong to the private key"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.expected);
    absl::StatusOr<std::shared_ptr<const internal::JwtSigner>> signer =
        LoadSigningKey(c.key, kWhat);
    ASSERT_THAT(signer.status(), StatusIs(absl::StatusCode::kInvalidArgument));
    const std::string message(signer.status().message());
    EXPECT_THAT(message, AllOf(StartsWith(kWhat), HasSubstr(c.expected)));
    // No line of the key's base64 is quoted.
    for (absl::string_view line : absl::StrSplit(rsa_pem, '\n')) {
      if (line.size() > 16 && !absl::StartsWith(line, "-----")) {
        EXPECT_THAT(message, Not(HasSubstr(line)));
      }
    }
  }
}

}  // namespace
}  // namespace authrefresh
