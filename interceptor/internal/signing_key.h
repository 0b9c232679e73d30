// interceptor/internal/signing_key.h
//
// Turns a JwtSigningKey option (PEM text or files) into the JwtSigner that
// signs with it: the JWT-bearer grant's assertions and private_key_jwt's
// client assertions both start here.

#ifndef AUTHREFRESH_INTERCEPTOR_INTERNAL_SIGNING_KEY_H_
#define AUTHREFRESH_INTERCEPTOR_INTERNAL_SIGNING_KEY_H_

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "interceptor/http_token_refresher.h"
#include "interceptor/internal/jws.h"

namespace authrefresh {
namespace internal {

// Reads `key`'s private key (exactly one of private_key_pem and
// private_key_file) and certificate (at most one of certificate_pem and
// certificate_file) and makes its signer. Errors are INVALID_ARGUMENT
// starting with `what` (the option's full name, e.g.
// "HttpTokenRefresherOptions.jwt_bearer.key"); they name a file's path but
// never a key's content.
absl::StatusOr<std::shared_ptr<const JwtSigner>> LoadSigningKey(const JwtSigningKey& key,
                                                                const std::string& what);

}  // namespace internal
}  // namespace authrefresh

#endif  // AUTHREFRESH_INTERCEPTOR_INTERNAL_SIGNING_KEY_H_
