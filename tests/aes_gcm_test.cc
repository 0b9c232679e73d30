// AES-256-GCM with OpenSSL (internal/aes_gcm).

#include "interceptor/internal/aes_gcm.h"

#include <string>

#include "absl/strings/escaping.h"
#include "gtest/gtest.h"
#include "tests/testing/status_matchers.h"

namespace authrefresh {
namespace {

using internal::OpenAes256Gcm;
using internal::SealAes256Gcm;
using testing::StatusIs;

const std::string kKey(32, 'k');

TEST(AesGcm, SealsWithAFreshNonceAndOpensOnlyWithTheSameKeyAndData) {
  absl::StatusOr<std::string> a = SealAes256Gcm(kKey, "aad", "rt-secret");
  absl::StatusOr<std::string> b = SealAes256Gcm(kKey, "aad", "rt-secret");
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_NE(*a, *b);  // a fresh random nonce each time
  EXPECT_EQ(a->find("rt-secret"), std::string::npos);
  std::string raw;
  ASSERT_TRUE(absl::Base64Unescape(*a, &raw));
  EXPECT_EQ(raw.size(), 12 + 9 + 16u);  // nonce, ciphertext, tag
  EXPECT_EQ(OpenAes256Gcm(kKey, "aad", *a), "rt-secret");
  EXPECT_EQ(OpenAes256Gcm(std::string(32, 'x'), "aad", *a), std::nullopt);
  EXPECT_EQ(OpenAes256Gcm(kKey, "other aad", *a), std::nullopt);
  raw[14] ^= 1;  // one bit of the ciphertext
  EXPECT_EQ(OpenAes256Gcm(kKey, "aad", absl::Base64Escape(raw)), std::nullopt);
  EXPECT_EQ(OpenAes256Gcm(kKey, "aad", "not base64!"), std::nullopt);
  EXPECT_EQ(OpenAes256Gcm(kKey, "aad", absl::Base64Escape("short")), std::nullopt);
}

TEST(AesGcm, OnlyA32ByteKey) {
  EXPECT_THAT(SealAes256Gcm("short", "", "x").status(), StatusIs(absl::StatusCode::kInternal));
  absl::StatusOr<std::string> sealed = SealAes256Gcm(kKey, "", "x");
  ASSERT_TRUE(sealed.ok());
  EXPECT_EQ(OpenAes256Gcm("short", "", *sealed), std::nullopt);
  EXPECT_EQ(OpenAes256Gcm(kKey, "", *sealed), "x");
}

}  // namespace
}  // namespace authrefresh
