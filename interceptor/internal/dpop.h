// interceptor/internal/dpop.h
//
// DPoP (RFC 9449) beside the key (interceptor/dpop.h): what a proof's
// "htu" is for a token endpoint and for a gRPC call, and the nonces servers
// hand out.

#ifndef AUTHREFRESH_INTERCEPTOR_INTERNAL_DPOP_H_
#define AUTHREFRESH_INTERCEPTOR_INTERNAL_DPOP_H_

#include <cstddef>
#include <string>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "interceptor/internal/mutex.h"

namespace authrefresh {
namespace internal {

// `url` as a proof's "htu": its query and fragment removed (RFC 9449
// section 4.2), the scheme and host lowercased (RFC 3986 section 6.2.2.1).
// INVALID_ARGUMENT unless it is an absolute http:// or https:// URL.
absl::StatusOr<std::string> DpopTargetUri(absl::string_view url);

// The origin of a URL DpopTargetUri made ("https://host:port" as it was
// written): the key of DpopNonceCache.
absl::string_view DpopOrigin(absl::string_view target_uri);

// A gRPC call's "htu": gRPC's service URL for the call, as a credentials
// plugin gets it ("https://<authority>/<package.Service>", see
// tests/experiments/auth_context_probe), then "/" and the method name; the
// same target a token service would compute from the request's :scheme,
// :authority and :path.
absl::StatusOr<std::string> DpopCallUri(absl::string_view service_url,
                                        absl::string_view method_name);

// Whether `nonce` has RFC 9449's syntax (1*NQCHAR: printable ASCII but '"'
// and '\\') and at most kMaxDpopNonceBytes.
inline constexpr size_t kMaxDpopNonceBytes = 512;
bool IsValidDpopNonce(absl::string_view nonce);

// The latest nonce each server gave (RFC 9449 sections 8 and 9: a token
// endpoint's DPoP-Nonce header, a resource server's dpop-nonce metadata),
// by origin ("https://host:port"). Thread-safe; never holds its lock while
// calling anything. Invalid nonces are ignored. At most kMaxOrigins
// origins are kept: a new one past that replaces an arbitrary old one.
class DpopNonceCache {
 public:
  static constexpr size_t kMaxOrigins = 64;

  // The nonce to send to `origin`; empty when none is known.
  std::string Get(absl::string_view origin) const ABSL_LOCKS_EXCLUDED(mu_);
  // Records the nonce a response from `origin` carried. Returns whether it
  // is new (differs from the one kept), i.e. whether a request refused for
  // its nonce is worth sending again with this one.
  bool Update(absl::string_view origin, absl::string_view nonce) ABSL_LOCKS_EXCLUDED(mu_);

 private:
  mutable Mutex mu_;
  absl::flat_hash_map<std::string, std::string> nonces_ ABSL_GUARDED_BY(mu_);
};

}  // namespace internal
}  // namespace authrefresh

#endif  // AUTHREFRESH_INTERCEPTOR_INTERNAL_DPOP_H_
