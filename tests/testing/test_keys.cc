#include "tests/testing/test_keys.h"

#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include <cstdio>
#include <cstdlib>

namespace authrefresh {
namespace testing {
namespace {

std::string Drain(BIO* bio) {
  char* data = nullptr;
  const long n = BIO_get_mem_data(bio, &data);
  std::string out(data, static_cast<size_t>(n));
  BIO_free(bio);
  return out;
}

[[noreturn]] void Fail(const char* what) {
  std::fprintf(stderr, "test_keys: %s failed\n", what);
  std::abort();
}

std::string PublicPem(EVP_PKEY* key) {
  BIO* bio = BIO_new(BIO_s_mem());
  if (PEM_write_bio_PUBKEY(bio, key) != 1) Fail("PEM_write_bio_PUBKEY");
  return Drain(bio);
}

}  // namespace

TestKey GenerateKey(KeyKind kind) {
  EVP_PKEY* key = nullptr;
  switch (kind) {
    case KeyKind::kRsa2048:
      key = EVP_PKEY_Q_keygen(nullptr, nullptr, "RSA", static_cast<size_t>(2048));
      break;
    case KeyKind::kRsa1024:
      key = EVP_PKEY_Q_keygen(nullptr, nullptr, "RSA", static_cast<size_t>(1024));
      break;
    case KeyKind::kEcP256:
      key = EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256");
      break;
    case KeyKind::kEcP384:
      key = EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-384");
      break;
    case KeyKind::kEd25519:
      key = EVP_PKEY_Q_keygen(nullptr, nullptr, "ED25519");
      break;
  }
  if (key == nullptr) Fail("EVP_PKEY_Q_keygen");
  TestKey out;
  BIO* bio = BIO_new(BIO_s_mem());
  if (PEM_write_bio_PrivateKey(bio, key, nullptr, nullptr, 0, nullptr, nullptr) != 1) {
    Fail("PEM_write_bio_PrivateKey");
  }
  out.private_pem = Drain(bio);
  bio = BIO_new(BIO_s_mem());
  char passphrase[] = "secret";
  if (PEM_write_bio_PKCS8PrivateKey(bio, key, EVP_aes_256_cbc(), passphrase, 6, nullptr,
                                    nullptr) != 1) {
    Fail("PEM_write_bio_PKCS8PrivateKey");
  }
  out.encrypted_private_pem = Drain(bio);
  out.public_pem = PublicPem(key);
  EVP_PKEY_free(key);
  return out;
}

std::string PublicKeyOf(const std::string& private_pem) {
  BIO* in = BIO_new_mem_buf(private_pem.data(), static_cast<int>(private_pem.size()));
  EVP_PKEY* key = PEM_read_bio_PrivateKey(in, nullptr, nullptr, nullptr);
  BIO_free(in);
  if (key == nullptr) Fail("PEM_read_bio_PrivateKey");
  std::string out = PublicPem(key);
  EVP_PKEY_free(key);
  return out;
}

}  // namespace testing
}  // namespace authrefresh
