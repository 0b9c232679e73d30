// interceptor/internal/interceptor_config.h
//
// What every call of one interceptor factory shares, and two small helpers
// the per-call code needs.

#ifndef AUTHREFRESH_INTERCEPTOR_INTERNAL_INTERCEPTOR_CONFIG_H_
#define AUTHREFRESH_INTERCEPTOR_INTERNAL_INTERCEPTOR_CONFIG_H_

#include <chrono>
#include <functional>
#include <memory>

#include "absl/time/time.h"
#include "interceptor/internal/call_policy.h"
#include "interceptor/internal/refresh_coordinator.h"
#include "interceptor/internal/transport_security.h"

namespace authrefresh {
namespace internal {

using RejectionPolicy =
    std::function<bool(const grpc::Status&, const ServerMetadata&)>;

// How server-streaming calls are replayed (InterceptorOptions).
struct StreamReplayLimits {
  bool enabled = true;
  size_t read_ahead_messages = 8;  // at least 1 is used
  size_t read_ahead_bytes = size_t{1} << 20;
};

struct InterceptorConfig {
  InterceptorConfig(std::shared_ptr<RefreshCoordinator> c,
                    const std::vector<std::string>& excluded, TransportPolicy t,
                    RejectionPolicy rejection, bool replay_near_expiry_only = false,
                    StreamReplayLimits streams = {})
      : coordinator(std::move(c)),
        methods(excluded),
        transport(t),
        is_rejection(std::move(rejection)),
        replay_near_expiry_only(replay_near_expiry_only),
        streams(streams) {}

  // The one place a call's outcome is judged: a server's rejection of the
  // token that a refresh can fix.
  bool IsRejection(const grpc::Status& status,
                   const ServerMetadata& trailing_metadata) const {
    if (status.ok() || IsClientGenerated(status)) return false;
    return is_rejection ? is_rejection(status, trailing_metadata)
                        : IsServerRejection(status, trailing_metadata);
  }

  const std::shared_ptr<RefreshCoordinator> coordinator;
  const MethodPolicy methods;
  const TransportPolicy transport;
  const RejectionPolicy is_rejection;  // null: IsServerRejection  // thread-safe
  // InterceptorOptions::UnaryReplay::kNearExpiryOnly: a unary call whose
  // token is fresh is attached, not hijacked.
  const bool replay_near_expiry_only;
  const StreamReplayLimits streams;
};

// Runs `fn` soon on one of gRPC's threads (grpc::Alarm). For work that must
// not run where it was decided, e.g. inside a PRE_SEND_CANCEL hook, which
// runs under the ClientContext's lock.
void RunSoon(std::function<void()> fn);

// A ClientContext deadline as absl::Time (InfiniteFuture when unset).
inline absl::Time DeadlineOf(std::chrono::system_clock::time_point deadline) {
  if (deadline == std::chrono::system_clock::time_point::max()) {
    return absl::InfiniteFuture();
  }
  return absl::FromChrono(deadline);
}

// Set while authrefresh creates its own calls on the intercepted channel, so
// that its factory, if gRPC invokes it again for them, passes them through.
bool CreatingOwnCall();
class OwnCallScope {
 public:
  OwnCallScope();
  ~OwnCallScope();
  OwnCallScope(const OwnCallScope&) = delete;
  OwnCallScope& operator=(const OwnCallScope&) = delete;

 private:
  bool outer_;
};

}  // namespace internal
}  // namespace authrefresh

#endif  // AUTHREFRESH_INTERCEPTOR_INTERNAL_INTERCEPTOR_CONFIG_H_
