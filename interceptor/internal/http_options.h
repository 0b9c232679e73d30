// interceptor/internal/http_options.h
//
// What MakeHttpTokenRefresher checks and prepares once, from its options:
// the endpoint and its transport, the grant, the client authentication, the
// fixed form parameters, and the signers. Every misconfiguration is found
// here, before anything is sent.

#ifndef AUTHREFRESH_INTERCEPTOR_INTERNAL_HTTP_OPTIONS_H_
#define AUTHREFRESH_INTERCEPTOR_INTERNAL_HTTP_OPTIONS_H_

#include <string>

#include "absl/status/statusor.h"
#include "interceptor/http_token_refresher.h"
#include "interceptor/internal/token_request.h"

namespace authrefresh {
namespace internal {

struct PreparedTokenRequest {
  TokenRequestSpec spec;
  std::string authorization;  // "Authorization: Basic ..." or empty
  // With HttpTokenRefresherOptions::dpop.key: the proofs' "htu" (the
  // endpoint without query and fragment) and its origin, the nonce's key.
  std::string dpop_htu;
  std::string dpop_origin;
};

// INVALID_ARGUMENT naming the option and the problem, never a key or a
// token (http_token_refresher.h lists what is checked).
absl::StatusOr<PreparedTokenRequest> PrepareTokenRequest(const HttpTokenRefresherOptions& o);

}  // namespace internal
}  // namespace authrefresh

#endif  // AUTHREFRESH_INTERCEPTOR_INTERNAL_HTTP_OPTIONS_H_
