// interceptor/internal/call_policy.h
//
// The one place that decides how a call is handled (pass through, attach the
// token, or attach and replay) and what its outcome means (a server's
// rejection of the token, or gRPC refusing an insecure channel).

#ifndef AUTHREFRESH_INTERCEPTOR_INTERNAL_CALL_POLICY_H_
#define AUTHREFRESH_INTERCEPTOR_INTERNAL_CALL_POLICY_H_

#include <string>
#include <vector>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/string_view.h"
#include "grpcpp/support/client_interceptor.h"
#include "grpcpp/support/status.h"

namespace authrefresh {
namespace internal {

enum class CallHandling {
  kPassThrough,  // excluded: no token, no replay
  kAttach,       // token attached; a rejection starts the shared refresh
  kReplay,       // token attached; a rejection is replayed once
};

class MethodPolicy {
 public:
  // `excluded`: "/package.Service/Method" or "/package.Service/*" entries
  // (a missing leading '/' is tolerated). TokenService is always excluded.
  explicit MethodPolicy(const std::vector<std::string>& excluded);

  // Unary calls are replayed only when their method is a protobuf method
  // linked into this binary (its descriptor is in the generated pool): only
  // then is the application's response object a protobuf message that the
  // replay can fill.
  CallHandling Classify(const char* method,
                        grpc::experimental::ClientRpcInfo::Type type) const;

 private:
  bool Excluded(absl::string_view method) const;

  absl::flat_hash_set<std::string> methods_;
  absl::flat_hash_set<std::string> services_;  // "/package.Service/"
};

// True if `method` ("/package.Service/Method") is in the generated pool.
bool IsProtobufMethod(const char* method);

// True if `status` is the server's rejection of the token: UNAUTHENTICATED,
// and not one of the UNAUTHENTICATED statuses gRPC's client makes itself
// (call credentials refused on an insecure channel, SSL host mismatch), which
// look the same on the wire side but must never start a refresh.
bool IsServerRejection(const grpc::Status& status);

// True if gRPC refused to send call credentials because the channel is not
// secure (the status authrefresh's security gate produces).
bool IsInsecureTransportRefusal(const grpc::Status& status);

// The status calls fail with when a token would go out in cleartext.
grpc::Status InsecureTransportStatus();

}  // namespace internal
}  // namespace authrefresh

#endif  // AUTHREFRESH_INTERCEPTOR_INTERNAL_CALL_POLICY_H_
