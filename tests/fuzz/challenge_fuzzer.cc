// Fuzzes the parsing of a server's trailing metadata: the Bearer
// `www-authenticate` challenge (RFC 6750) and the rejection decision.

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <map>
#include <string>

#include "interceptor/internal/call_policy.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string input(reinterpret_cast<const char*>(data), size);
  const std::string error = authrefresh::internal::BearerChallengeError(input);
  if (error.size() > input.size()) std::abort();
  if (!error.empty() && input.find(error) == std::string::npos) std::abort();

  authrefresh::internal::ServerMetadata trailing;
  trailing.emplace("www-authenticate", input);
  const bool rejection = authrefresh::internal::IsServerRejection(
      grpc::Status(grpc::StatusCode::UNAUTHENTICATED, input), trailing);
  if (rejection && error == "insufficient_scope") std::abort();
  // Only UNAUTHENTICATED can ever be a rejection.
  if (authrefresh::internal::IsServerRejection(
          grpc::Status(grpc::StatusCode::PERMISSION_DENIED, input), trailing)) {
    std::abort();
  }
  return 0;
}
