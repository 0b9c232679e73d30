// Keys made fresh for a test by OpenSSL, and the public half a test server
// verifies with. Never logged.

#ifndef AUTHREFRESH_TESTS_TESTING_TEST_KEYS_H_
#define AUTHREFRESH_TESTS_TESTING_TEST_KEYS_H_

#include <string>

namespace authrefresh {
namespace testing {

enum class KeyKind { kRsa2048, kRsa1024, kEcP256, kEcP384, kEd25519 };

struct TestKey {
  std::string private_pem;  // PKCS#8 "PRIVATE KEY"
  std::string public_pem;   // SubjectPublicKeyInfo "PUBLIC KEY"
  // The private key encrypted with the passphrase "secret"
  // ("ENCRYPTED PRIVATE KEY"), for testing that it is refused.
  std::string encrypted_private_pem;
};

// Aborts the test binary if OpenSSL cannot make the key.
TestKey GenerateKey(KeyKind kind);

// The public half of a PEM private key.
std::string PublicKeyOf(const std::string& private_pem);

}  // namespace testing
}  // namespace authrefresh

#endif  // AUTHREFRESH_TESTS_TESTING_TEST_KEYS_H_
