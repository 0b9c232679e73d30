// interceptor/internal/token_manager_access.h
//
// `TokenManagerAccess`: how the interceptor, and authrefresh's own tests,
// reach the RefreshCoordinator inside a TokenManager, which its public API
// does not expose. The one internal header that includes token_manager.h.

#ifndef AUTHREFRESH_INTERCEPTOR_INTERNAL_TOKEN_MANAGER_ACCESS_H_
#define AUTHREFRESH_INTERCEPTOR_INTERNAL_TOKEN_MANAGER_ACCESS_H_

#include <memory>

#include "interceptor/internal/refresh_coordinator.h"
#include "interceptor/token_manager.h"

namespace authrefresh {
namespace internal {

struct TokenManagerAccess {
  static const std::shared_ptr<RefreshCoordinator>& Coordinator(const TokenManager& manager) {
    return manager.coordinator_;
  }
};

}  // namespace internal
}  // namespace authrefresh

#endif  // AUTHREFRESH_INTERCEPTOR_INTERNAL_TOKEN_MANAGER_ACCESS_H_
