// interceptor/internal/replay_policy.h
//
// Where a call is replayed: gRPC core's own retry. An authrefresh channel
// carries a service config whose retryPolicy makes UNAUTHENTICATED
// retryable with maxAttempts 2, so core sends the application's own call a
// second time when the server rejects it before committing it (no response
// headers or message yet, its requests within the retry buffer). Core runs
// the call's credentials once per attempt (call_auth.h), and the second run
// waits for the shared refresh and attaches the new token. A call that gRPC
// 1.51 cannot send twice safely (compressed, client-streaming, bidi) has its
// second attempt stopped there instead (interceptor.h states the limits).
//
// An application's own service config is kept: UNAUTHENTICATED is merged
// into each of its retry policies, and methods without one get authrefresh's.

#ifndef AUTHREFRESH_INTERCEPTOR_INTERNAL_REPLAY_POLICY_H_
#define AUTHREFRESH_INTERCEPTOR_INTERNAL_REPLAY_POLICY_H_

#include <cstddef>
#include <memory>
#include <string>
#include <vector>

#include "absl/container/flat_hash_set.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "grpc/compression.h"
#include "grpcpp/support/channel_arguments.h"
#include "interceptor/internal/call_policy.h"

namespace authrefresh {
namespace internal {

// Which methods of a channel retry for codes other than UNAUTHENTICATED (an
// application's own retryPolicy): for them a second attempt does not prove
// that the server rejected the token.
class RetryScopes {
 public:
  // "/package.Service/Method" (an exact method) or "/package.Service/" (a
  // whole service); AddAll() covers the default method config.
  void AddMethod(std::string method) { methods_.insert(std::move(method)); }
  void AddService(std::string service) { services_.insert(std::move(service)); }
  void AddAll() { all_ = true; }
  void ExcludeMethod(std::string method) { excluded_methods_.insert(std::move(method)); }
  void ExcludeService(std::string service) { excluded_services_.insert(std::move(service)); }

  // Whether calls to `method` ("/package.Service/Method") retry for other
  // codes. gRPC picks the most specific method config: exact method, then
  // service, then the default.
  bool Contains(absl::string_view method) const;

 private:
  bool all_ = false;
  absl::flat_hash_set<std::string> methods_, services_;
  // More specific configs whose policy retries UNAUTHENTICATED only.
  absl::flat_hash_set<std::string> excluded_methods_, excluded_services_;
};

// The RetryScopes of a service config (a channel's effective one, from
// grpc::Channel::GetServiceConfigJSON()). Unparsable JSON: no scopes.
RetryScopes RetryScopesOf(absl::string_view service_config_json);

// The service config JSON of an authrefresh channel: `app_json` (empty: the
// application has none) with the UNAUTHENTICATED replay merged in. Methods
// that authrefresh leaves alone (`excluded`) get no replay: they get a
// method config of their own without a retryPolicy, unless the application
// configures them itself, in which case their config is left as it is.
// Fails, naming the problem, on JSON that is not a service config object,
// or on a method config with a hedgingPolicy (gRPC does not combine it with
// retry).
absl::StatusOr<std::string> MergeReplayPolicy(
    absl::string_view app_json,
    const std::vector<MethodPolicy::ConfigName>& excluded = {});

// The channel arguments of an authrefresh channel, and what the per-call
// code needs to know of them.
struct ReplayChannel {
  grpc::ChannelArguments args;
  // grpc.default_compression_algorithm: calls are compressed unless they
  // choose otherwise.
  grpc_compression_algorithm default_compression = GRPC_COMPRESS_NONE;
};

// `args` with the merged service config and the retry buffer limit
// (`retry_buffer_bytes`, unless the application set
// grpc.per_rpc_retry_buffer_size itself). Fails if the application turned
// retries off (grpc.enable_retries = 0) or its service config is unusable.
absl::StatusOr<ReplayChannel> WithReplayPolicy(
    const grpc::ChannelArguments& args, size_t retry_buffer_bytes,
    const std::vector<MethodPolicy::ConfigName>& excluded);

}  // namespace internal
}  // namespace authrefresh

#endif  // AUTHREFRESH_INTERCEPTOR_INTERNAL_REPLAY_POLICY_H_
