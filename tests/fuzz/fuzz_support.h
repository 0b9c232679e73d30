// What the fuzz targets share.

#ifndef AUTHREFRESH_TESTS_FUZZ_FUZZ_SUPPORT_H_
#define AUTHREFRESH_TESTS_FUZZ_FUZZ_SUPPORT_H_

#include <cstdlib>
#include <string>

#include "google/protobuf/stubs/logging.h"

namespace authrefresh {
namespace fuzz {

// A broken invariant: abort, so that libFuzzer (or the corpus replay test)
// reports the input.
inline void Check(bool ok) {
  if (!ok) std::abort();
}

// Protobuf logs every malformed message it parses; not news when fuzzing.
inline void SilenceProtobufLogs() {
  google::protobuf::SetLogHandler(
      [](google::protobuf::LogLevel, const char*, int, const std::string&) {});
}

}  // namespace fuzz
}  // namespace authrefresh

#endif  // AUTHREFRESH_TESTS_FUZZ_FUZZ_SUPPORT_H_
