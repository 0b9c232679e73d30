// Fuzzes the parsing of a server's metadata: the Bearer `www-authenticate`
// challenge (RFC 6750), in the headers or the trailers, and the rejection
// decision.

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <map>
#include <string>

#include "interceptor/internal/call_policy.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using authrefresh::ServerAnswer;
  using authrefresh::ServerMetadata;
  using authrefresh::internal::IsServerRejection;
  const std::string input(reinterpret_cast<const char*>(data), size);
  const std::string error = authrefresh::internal::BearerChallengeError(input);
  if (error.size() > input.size()) std::abort();
  if (!error.empty() && input.find(error) == std::string::npos) std::abort();

  ServerMetadata with_challenge, none;
  with_challenge.emplace("www-authenticate", input);
  const grpc::Status unauthenticated(grpc::StatusCode::UNAUTHENTICATED, input);
  // The challenge counts the same in the headers and in the trailers.
  const bool in_trailers =
      IsServerRejection(ServerAnswer{unauthenticated, none, with_challenge});
  const bool in_headers =
      IsServerRejection(ServerAnswer{unauthenticated, with_challenge, none});
  if (in_trailers != in_headers) std::abort();
  if (in_trailers && error == "insufficient_scope") std::abort();
  // Only UNAUTHENTICATED can ever be a rejection.
  const grpc::Status denied(grpc::StatusCode::PERMISSION_DENIED, input);
  if (IsServerRejection(ServerAnswer{denied, with_challenge, with_challenge})) {
    std::abort();
  }
  return 0;
}
