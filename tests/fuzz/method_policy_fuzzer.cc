// Fuzzes the configuration and method names the interceptor classifies:
// excluded-method entries from the user and method names from any stub.

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <vector>

#include "absl/strings/str_split.h"
#include "interceptor/internal/call_policy.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string input(reinterpret_cast<const char*>(data), size);
  // "entry\nentry\n...\0method"
  const size_t nul = input.find('\0');
  const std::string entries = input.substr(0, nul);
  const std::string method =
      nul == std::string::npos ? std::string("/x.Y/Z") : input.substr(nul + 1);
  std::vector<std::string> excluded = absl::StrSplit(entries, '\n');
  authrefresh::internal::MethodPolicy policy(excluded);
  using Type = grpc::experimental::ClientRpcInfo::Type;
  for (Type type : {Type::UNARY, Type::SERVER_STREAMING, Type::CLIENT_STREAMING,
                    Type::BIDI_STREAMING}) {
    auto handling = policy.Classify(method.c_str(), type);
    // The token service is never intercepted.
    if (method.rfind("/authrefresh.v1.TokenService/", 0) == 0 &&
        method.find('\0') == std::string::npos &&
        handling != authrefresh::internal::CallHandling::kPassThrough) {
      std::abort();
    }
    // Only unary calls get unary replay, only server streams stream
    // replay; client-streaming and bidi calls are never replayed.
    if (type != Type::UNARY &&
        handling == authrefresh::internal::CallHandling::kReplay) {
      std::abort();
    }
    if (type != Type::SERVER_STREAMING &&
        handling == authrefresh::internal::CallHandling::kReplayStream) {
      std::abort();
    }
  }
  return 0;
}
