// interceptor/internal/call_policy.h
//
// The one place that decides how a call is handled (pass through, attach the
// token, or attach and replay) and what its outcome means (a server's
// rejection of the token, or gRPC refusing an insecure channel).

#ifndef AUTHREFRESH_INTERCEPTOR_INTERNAL_CALL_POLICY_H_
#define AUTHREFRESH_INTERCEPTOR_INTERNAL_CALL_POLICY_H_

#include <map>
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
  kReplay,       // unary: token attached; a rejection is replayed once
  kReplayStream, // server stream: replayed once if rejected before commit
};

class MethodPolicy {
 public:
  // `excluded`: "/package.Service/Method" or "/package.Service/*" entries
  // (a missing leading '/' is tolerated). TokenService is always excluded.
  explicit MethodPolicy(const std::vector<std::string>& excluded);

  // Unary and server-streaming calls are replayed only when their method is
  // a protobuf method linked into this binary (its descriptor is in the
  // generated pool): only then is the application's response object a
  // protobuf message that the replay can fill. Client-streaming and bidi
  // calls are never replayed (that would mean buffering every write).
  CallHandling Classify(const char* method,
                        grpc::experimental::ClientRpcInfo::Type type) const;

 private:
  bool Excluded(absl::string_view method) const;

  absl::flat_hash_set<std::string> methods_;
  absl::flat_hash_set<std::string> services_;  // "/package.Service/"
};

// True if `method` ("/package.Service/Method") is in the generated pool.
bool IsProtobufMethod(const char* method);

using ServerMetadata = std::multimap<grpc::string_ref, grpc::string_ref>;

// True if `status` is the server's rejection of the token, which a refresh
// can fix: UNAUTHENTICATED, but
//  * not one of the UNAUTHENTICATED statuses gRPC's client makes itself
//    (call credentials refused on an insecure channel, SSL host mismatch),
//    which look the same to the application but must never start a refresh;
//  * not one whose trailing `www-authenticate` says
//    `error="insufficient_scope"` (RFC 6750 section 3.1): a new token with
//    the same scope would be rejected too.
bool IsServerRejection(const grpc::Status& status,
                       const ServerMetadata& trailing_metadata);

// The `error` parameter of a Bearer `www-authenticate` challenge
// (RFC 6750 section 3), or empty. Tolerates quoting and case in the scheme.
std::string BearerChallengeError(absl::string_view challenge);

// True for the UNAUTHENTICATED statuses gRPC's client makes itself (call
// credentials refused on an insecure channel, SSL host mismatch).
bool IsClientGenerated(const grpc::Status& status);

// The metadata key SkipTokenRefresh() sets; stripped before sending.
inline constexpr char kSkipRefreshKey[] = "authrefresh-skip-refresh";

// True if gRPC refused to send call credentials because the channel is not
// secure (the status authrefresh's security gate produces).
bool IsInsecureTransportRefusal(const grpc::Status& status);

// The status calls fail with when a token would go out in cleartext.
grpc::Status InsecureTransportStatus();

}  // namespace internal
}  // namespace authrefresh

#endif  // AUTHREFRESH_INTERCEPTOR_INTERNAL_CALL_POLICY_H_
