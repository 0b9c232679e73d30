// interceptor/internal/interceptor_config.h
//
// What every call of one authrefresh channel shares (`InterceptorConfig`),
// and `DeadlineOf()`, which the per-call code needs.

#ifndef AUTHREFRESH_INTERCEPTOR_INTERNAL_INTERCEPTOR_CONFIG_H_
#define AUTHREFRESH_INTERCEPTOR_INTERNAL_INTERCEPTOR_CONFIG_H_

#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "grpc/compression.h"
#include "grpcpp/support/client_interceptor.h"
#include "interceptor/internal/call_credentials_pool.h"
#include "interceptor/internal/call_policy.h"
#include "interceptor/internal/dpop.h"
#include "interceptor/internal/mutex.h"
#include "interceptor/internal/refresh_coordinator.h"
#include "interceptor/internal/replay_policy.h"
#include "interceptor/server_answer.h"

namespace authrefresh {
namespace internal {

using RejectionPolicy = std::function<bool(const ServerAnswer&)>;

class InterceptorConfig {
 public:
  InterceptorConfig(std::shared_ptr<RefreshCoordinator> coordinator,
                    const std::vector<std::string>& excluded,
                    bool allow_insecure_transport, RejectionPolicy is_rejection,
                    grpc_compression_algorithm default_compression,
                    absl::Status misconfigured, CallCredentialsPool::AttemptFn attempt)
      : coordinator(std::move(coordinator)),
        methods(excluded),
        allow_insecure_transport(allow_insecure_transport),
        is_rejection(std::move(is_rejection)),
        default_compression(default_compression),
        misconfigured(std::move(misconfigured)),
        token_credentials_(allow_insecure_transport ? GRPC_SECURITY_NONE
                                                   : GRPC_PRIVACY_AND_INTEGRITY,
                           attempt),
        no_security_credentials_(GRPC_SECURITY_NONE, attempt) {}

  // Call credentials for a call: those that carry the token ask for privacy
  // and integrity unless allow_insecure_transport (gRPC itself then refuses
  // them on a channel without TLS); the others add nothing.
  CallCredentialsPool& token_credentials() const { return token_credentials_; }
  CallCredentialsPool& no_security_credentials() const {
    return no_security_credentials_;
  }

  // The one place a call's outcome is judged: a server's rejection of the
  // token that a refresh can fix.
  bool IsRejection(const ServerAnswer& answer) const {
    if (answer.status.ok() || IsClientGenerated(answer.status)) return false;
    return is_rejection ? is_rejection(answer) : IsServerRejection(answer);
  }

  // Whether the channel's retry policy for the call's method retries codes
  // other than UNAUTHENTICATED (an application's own policy), so that a
  // second attempt does not prove a rejection. Reads the channel's
  // effective service config; parsed again only when it changed.
  bool RetriesOtherCodes(grpc::ChannelInterface* channel,
                         absl::string_view method) const ABSL_LOCKS_EXCLUDED(mu_);

  const std::shared_ptr<RefreshCoordinator> coordinator;
  const MethodPolicy methods;
  // Unset: gRPC refuses to send the token without privacy and integrity.
  const bool allow_insecure_transport;
  const RejectionPolicy is_rejection;  // null: IsServerRejection; thread-safe
  // The channel's default compression (grpc.default_compression_algorithm).
  const grpc_compression_algorithm default_compression;
  // Not OK: the channel could not be set up; every call authrefresh handles
  // fails with this (excluded methods get no interceptor).
  const absl::Status misconfigured;
  // DPoP: the nonces the channel's servers gave (`dpop-nonce` response
  // metadata), by origin; thread-safe.
  mutable DpopNonceCache dpop_nonces;

 private:
  mutable CallCredentialsPool token_credentials_;
  mutable CallCredentialsPool no_security_credentials_;
  mutable CallMutex mu_;
  mutable std::string scopes_json_ ABSL_GUARDED_BY(mu_);
  mutable std::shared_ptr<const RetryScopes> scopes_ ABSL_GUARDED_BY(mu_);
};

// A ClientContext deadline as absl::Time (InfiniteFuture when unset).
inline absl::Time DeadlineOf(std::chrono::system_clock::time_point deadline) {
  if (deadline == std::chrono::system_clock::time_point::max()) {
    return absl::InfiniteFuture();
  }
  return absl::FromChrono(deadline);
}

}  // namespace internal
}  // namespace authrefresh

#endif  // AUTHREFRESH_INTERCEPTOR_INTERNAL_INTERCEPTOR_CONFIG_H_
