// interceptor/internal/failure_part.h
//
// Which part of the system a refresher's error comes from, carried on the
// status as a payload: the token service (unmarked, the default) or the
// shared token backend that MakeSharedTokenRefresher uses. The TokenManager
// reads it to name the part in what calls see, and to treat an unreachable
// backend as its own condition rather than a failing token service.

#ifndef AUTHREFRESH_INTERCEPTOR_INTERNAL_FAILURE_PART_H_
#define AUTHREFRESH_INTERCEPTOR_INTERNAL_FAILURE_PART_H_

#include "absl/status/status.h"

namespace authrefresh {
namespace internal {

enum class FailurePart {
  kTokenService,
  // The shared backend failed otherwise: misconfigured (a refused password,
  // a wrong encryption key, no permission), or unreachable for longer than
  // SharedTokenRefresherOptions::max_wait.
  kSharedBackend,
  // The shared backend cannot be reached right now (kWait): the refresh is
  // to be tried again soon, and the calls waiting for it keep waiting.
  kSharedBackendUnreachable,
};

// `status` marked with `part`; an OK status is returned unchanged.
absl::Status WithFailurePart(absl::Status status, FailurePart part);

// The part `status` was marked with; kTokenService when unmarked.
FailurePart FailurePartOf(const absl::Status& status);

}  // namespace internal
}  // namespace authrefresh

#endif  // AUTHREFRESH_INTERCEPTOR_INTERNAL_FAILURE_PART_H_
