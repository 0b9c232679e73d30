// interceptor/server_answer.h
//
// Defines `ServerAnswer`, how a call ended, as authrefresh's rejection policy
// (InterceptorOptions::is_rejection) sees it.

#ifndef AUTHREFRESH_INTERCEPTOR_SERVER_ANSWER_H_
#define AUTHREFRESH_INTERCEPTOR_SERVER_ANSWER_H_

#include <map>

#include "grpcpp/support/status.h"
#include "grpcpp/support/string_ref.h"

namespace authrefresh {

using ServerMetadata = std::multimap<grpc::string_ref, grpc::string_ref>;

// The final answer of a call: its status and the server's metadata. Valid
// only during the call to the policy.
struct ServerAnswer {
  const grpc::Status& status;
  // The response headers; empty for a Trailers-Only answer (the usual
  // rejection), or when the call never reached the server.
  const ServerMetadata& initial_metadata;
  const ServerMetadata& trailing_metadata;
};

// The default rejection policy: UNAUTHENTICATED from the server, unless a
// `www-authenticate` Bearer challenge in its headers or trailers says
// error="insufficient_scope" (RFC 6750 section 3.1: a new token with the
// same scope would not help), or a DPoP challenge says error="use_dpop_nonce"
// or "invalid_dpop_proof" (RFC 9449: the proof was refused, not the token);
// error="invalid_token", or no challenge, is a rejection. UNAUTHENTICATED statuses that gRPC's client makes itself (call
// credentials refused on an insecure channel, SSL host mismatch) are not.
bool IsTokenRejection(const ServerAnswer& answer);

}  // namespace authrefresh

#endif  // AUTHREFRESH_INTERCEPTOR_SERVER_ANSWER_H_
