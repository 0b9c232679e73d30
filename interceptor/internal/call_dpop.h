// interceptor/internal/call_dpop.h
//
// DPoP (RFC 9449 sections 7 and 9) for one gRPC call: where its proofs
// point, the token with its proof for each attempt, and the resource
// server's nonces its answers carry.

#ifndef AUTHREFRESH_INTERCEPTOR_INTERNAL_CALL_DPOP_H_
#define AUTHREFRESH_INTERCEPTOR_INTERNAL_CALL_DPOP_H_

#include <cstddef>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "grpc/grpc_security.h"
#include "interceptor/internal/dpop.h"
#include "interceptor/internal/token_publisher.h"
#include "interceptor/server_answer.h"

namespace authrefresh {
namespace internal {

// Where the proofs of one call's attempts point.
struct DpopTarget {
  std::string htu;     // "https://<authority>/<package.Service>/<Method>" (DpopCallUri)
  std::string origin;  // DpopOrigin(htu): the key of the resource servers' nonces
  DpopNonceCache* nonces = nullptr;  // the channel's; outlives the call
};

// The target of a call from what gRPC gives its credentials plugin (the
// service URL and the method name). INTERNAL if they are not a URL.
absl::StatusOr<std::shared_ptr<const DpopTarget>> MakeDpopTarget(
    const grpc_auth_metadata_context& context, DpopNonceCache* nonces);

// A new proof for an attempt with `s`'s DPoP-bound token (s.dpop_key set):
// htm POST, a fresh jti, iat now, the nonce `target.nonces` holds for its
// origin, ath of the token (computed once per token). INTERNAL, naming no
// key, if signing fails.
absl::StatusOr<std::string> CallProof(const TokenSnapshot& s, const DpopTarget& target);

// Keeps the `dpop-nonce` a call's answer carried, in its response headers
// (`initial`, null when there were none) or trailers.
void KeepDpopNonce(const DpopTarget& target, const ServerMetadata* initial,
                   const ServerMetadata& trailing);

}  // namespace internal
}  // namespace authrefresh

#endif  // AUTHREFRESH_INTERCEPTOR_INTERNAL_CALL_DPOP_H_
