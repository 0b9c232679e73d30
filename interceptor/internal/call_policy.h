// interceptor/internal/call_policy.h
//
// The one place that decides which calls authrefresh handles and what a
// call's outcome means (a server's rejection of the token, or gRPC refusing
// an insecure channel).

#ifndef AUTHREFRESH_INTERCEPTOR_INTERNAL_CALL_POLICY_H_
#define AUTHREFRESH_INTERCEPTOR_INTERNAL_CALL_POLICY_H_

#include <map>
#include <string>
#include <vector>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/string_view.h"
#include "grpcpp/support/status.h"
#include "interceptor/server_answer.h"

namespace authrefresh {
namespace internal {

class MethodPolicy {
 public:
  // `excluded`: "/package.Service/Method" or "/package.Service/*" entries
  // (a missing leading '/' is tolerated). TokenService is always excluded.
  explicit MethodPolicy(const std::vector<std::string>& excluded);

  // Whether calls to `method` ("/package.Service/Method") are left alone:
  // no token, no refresh, no replay.
  bool Excluded(const char* method) const;

  // The excluded names as a service config names them: {service, method},
  // method empty for a whole service. Entries that are not of the form
  // "/package.Service/Method" or "/package.Service/*" are left out, and so
  // is the always-excluded TokenService: its calls go through a channel of
  // their own, and any method config beyond the default one costs every
  // call of the channel a method lookup in gRPC (~600 instructions).
  struct ConfigName {
    std::string service;
    std::string method;
  };
  std::vector<ConfigName> ConfigNames() const;

 private:
  // No exclusions but the token service: a prefix check, no hashing.
  bool only_token_service_ = true;
  absl::flat_hash_set<std::string> methods_;
  absl::flat_hash_set<std::string> services_;  // "/package.Service/"
};

// True if `answer` is the server's rejection of the token, which a refresh
// can fix: UNAUTHENTICATED, but
//  * not one of the UNAUTHENTICATED statuses gRPC's client makes itself
//    (call credentials refused on an insecure channel, SSL host mismatch),
//    which look the same to the application but must never start a refresh;
//  * not one whose `www-authenticate` (in the headers or the trailers) says
//    `error="insufficient_scope"` (RFC 6750 section 3.1): a new token with
//    the same scope would be rejected too; nor, in a DPoP challenge (RFC
//    9449 sections 7.1 and 9), `error="use_dpop_nonce"` or
//    `error="invalid_dpop_proof"`: the proof was refused, not the token.
bool IsServerRejection(const ServerAnswer& answer);

// The `error` parameter of a Bearer (RFC 6750 section 3) or DPoP (RFC 9449
// section 7.1) `www-authenticate` challenge, or empty. Tolerates quoting and
// case in the scheme.
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
