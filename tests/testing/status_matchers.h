// Small Status matchers (Debian's abseil 20220623 ships none).

#ifndef AUTHREFRESH_TESTS_TESTING_STATUS_MATCHERS_H_
#define AUTHREFRESH_TESTS_TESTING_STATUS_MATCHERS_H_

#include <ostream>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "gmock/gmock.h"
#include "grpcpp/support/status.h"

namespace grpc {
// Readable failure messages instead of the object's bytes.
inline void PrintTo(const Status& s, std::ostream* os) {
  *os << "grpc::Status(" << static_cast<int>(s.error_code()) << ", \""
      << s.error_message() << "\")";
}
}  // namespace grpc

namespace authrefresh {
namespace testing {

inline absl::Status AsAbsl(const absl::Status& s) { return s; }
inline absl::Status AsAbsl(const grpc::Status& s) {
  return absl::Status(static_cast<absl::StatusCode>(s.error_code()),
                      s.error_message());
}
template <typename T>
absl::Status AsAbsl(const absl::StatusOr<T>& s) {
  return s.status();
}

MATCHER(IsOk, "is OK") {
  absl::Status s = AsAbsl(arg);
  *result_listener << "status is " << s;
  return s.ok();
}

MATCHER_P(StatusIs, code, "has code " + absl::StatusCodeToString(code)) {
  absl::Status s = AsAbsl(arg);
  *result_listener << "status is " << s;
  return s.code() == code;
}

MATCHER_P2(StatusIs, code, message_matcher,
           "has code " + absl::StatusCodeToString(code)) {
  absl::Status s = AsAbsl(arg);
  *result_listener << "status is " << s;
  return s.code() == code &&
         ::testing::ExplainMatchResult(message_matcher, std::string(s.message()),
                                       result_listener);
}

}  // namespace testing
}  // namespace authrefresh

#endif  // AUTHREFRESH_TESTS_TESTING_STATUS_MATCHERS_H_
