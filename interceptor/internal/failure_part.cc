#include "interceptor/internal/failure_part.h"

#include "absl/types/optional.h"
#include <string>

#include "absl/strings/cord.h"

namespace authrefresh {
namespace internal {
namespace {

constexpr char kPayload[] = "type.authrefresh.dev/failure-part";
constexpr char kSharedBackend[] = "shared-backend";
constexpr char kSharedBackendUnreachable[] = "shared-backend-unreachable";

}  // namespace

absl::Status WithFailurePart(absl::Status status, FailurePart part) {
  if (status.ok()) return status;
  switch (part) {
    case FailurePart::kTokenService:
      status.ErasePayload(kPayload);
      break;
    case FailurePart::kSharedBackend:
      status.SetPayload(kPayload, absl::Cord(kSharedBackend));
      break;
    case FailurePart::kSharedBackendUnreachable:
      status.SetPayload(kPayload, absl::Cord(kSharedBackendUnreachable));
      break;
  }
  return status;
}

FailurePart FailurePartOf(const absl::Status& status) {
  const absl::optional<absl::Cord> payload = status.GetPayload(kPayload);
  if (!payload) return FailurePart::kTokenService;
  if (*payload == kSharedBackendUnreachable) return FailurePart::kSharedBackendUnreachable;
  if (*payload == kSharedBackend) return FailurePart::kSharedBackend;
  return FailurePart::kTokenService;
}

}  // namespace internal
}  // namespace authrefresh
