// Test-only client certificates (RFC 8705 tls_client_auth) and a signing
// key with a certificate. Never use them outside tests.

#ifndef AUTHREFRESH_TESTS_TESTING_TEST_CLIENT_CERTS_H_
#define AUTHREFRESH_TESTS_TESTING_TEST_CLIENT_CERTS_H_

namespace authrefresh {
namespace testing {

extern const char kTestClientCaPem[];     // the CA that signed both clients
extern const char kTestClientACertPem[];  // CN=svc-a
extern const char kTestClientAKeyPem[];
extern const char kTestClientBCertPem[];  // CN=svc-b
extern const char kTestClientBKeyPem[];
extern const char kTestSignerCertPem[];   // self-signed, RSA 2048
extern const char kTestSignerKeyPem[];

}  // namespace testing
}  // namespace authrefresh

#endif  // AUTHREFRESH_TESTS_TESTING_TEST_CLIENT_CERTS_H_
