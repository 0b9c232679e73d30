// Fuzzes the merge of an application's service config (channel arguments)
// with authrefresh's replay policy: any input either fails with
// INVALID_ARGUMENT or yields a config that merges to itself again, and
// reading its retry scopes never fails.

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>

#include "absl/status/status.h"
#include "google/protobuf/struct.pb.h"
#include "google/protobuf/util/json_util.h"
#include "google/protobuf/util/message_differencer.h"
#include "interceptor/internal/replay_policy.h"
#include "tests/fuzz/fuzz_support.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  authrefresh::fuzz::SilenceProtobufLogs();
  const std::string input(reinterpret_cast<const char*>(data), size);
  absl::StatusOr<std::string> merged = authrefresh::internal::MergeReplayPolicy(input);
  using authrefresh::fuzz::Check;
  if (!merged.ok()) {
    Check(merged.status().code() == absl::StatusCode::kInvalidArgument);
    return 0;
  }
  Check(merged->find("UNAUTHENTICATED") != std::string::npos);
  absl::StatusOr<std::string> again = authrefresh::internal::MergeReplayPolicy(*merged);
  Check(again.ok());
  // The same config (JSON objects print their keys in no fixed order).
  google::protobuf::Struct first, second;
  Check(google::protobuf::util::JsonStringToMessage(*merged, &first).ok());
  Check(google::protobuf::util::JsonStringToMessage(*again, &second).ok());
  Check(google::protobuf::util::MessageDifferencer::Equals(first, second));
  const authrefresh::internal::RetryScopes scopes =
      authrefresh::internal::RetryScopesOf(*merged);
  (void)scopes.Contains("/a.B/C");
  (void)scopes.Contains(input);
  return 0;
}
