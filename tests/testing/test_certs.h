// A test-only certificate authority and a server certificate it signed, for
// 127.0.0.1 and localhost. Never use them outside tests.

#ifndef AUTHREFRESH_TESTS_TESTING_TEST_CERTS_H_
#define AUTHREFRESH_TESTS_TESTING_TEST_CERTS_H_

namespace authrefresh {
namespace testing {

extern const char kTestCaPem[];
extern const char kTestServerCertPem[];
extern const char kTestServerKeyPem[];

}  // namespace testing
}  // namespace authrefresh

#endif  // AUTHREFRESH_TESTS_TESTING_TEST_CERTS_H_
