#include "interceptor/token_manager.h"

#include <utility>

#include "interceptor/internal/refresh_coordinator.h"

namespace authrefresh {

std::shared_ptr<TokenManager> TokenManager::Create(
    Token initial, std::unique_ptr<TokenRefresher> refresher,
    TokenManagerOptions options) {
  std::shared_ptr<Clock> clock =
      options.clock != nullptr ? options.clock : SystemClock();
  return std::shared_ptr<TokenManager>(
      new TokenManager(internal::RefreshCoordinator::Create(
          std::move(initial), std::move(refresher), std::move(options),
          std::move(clock))));
}

TokenManager::TokenManager(std::shared_ptr<internal::RefreshCoordinator> c)
    : coordinator_(std::move(c)) {}

// Calls in flight keep the coordinator alive; they must not outlive the
// manager's promise that nothing happens after it is gone.
TokenManager::~TokenManager() { coordinator_->Shutdown(); }

Token TokenManager::CurrentToken() const { return coordinator_->CurrentToken(); }

void TokenManager::SetToken(Token token) {
  coordinator_->SetToken(std::move(token));
}

TokenManagerStats TokenManager::Stats() const { return coordinator_->Stats(); }

}  // namespace authrefresh
