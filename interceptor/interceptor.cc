#include "interceptor/interceptor.h"

#include <utility>

#include "grpcpp/create_channel.h"
#include "interceptor/internal/call_auth.h"
#include "interceptor/internal/call_policy.h"
#include "interceptor/internal/interceptor_config.h"
#include "interceptor/internal/replay_policy.h"
#include "interceptor/internal/token_manager_access.h"

namespace authrefresh {
namespace internal {
namespace {

class AuthRefreshInterceptorFactory final
    : public grpc::experimental::ClientInterceptorFactoryInterface {
 public:
  AuthRefreshInterceptorFactory(std::shared_ptr<TokenManager> manager,
                                const InterceptorOptions& options,
                                grpc_compression_algorithm default_compression,
                                absl::Status misconfigured)
      : manager_(std::move(manager)),
        config_(internal::TokenManagerAccess::Coordinator(*manager_), options.excluded_methods,
                options.allow_insecure_transport, options.is_rejection,
                default_compression, std::move(misconfigured), &CallAuth::RunAttempt) {}

  grpc::experimental::Interceptor* CreateClientInterceptor(
      grpc::experimental::ClientRpcInfo* info) override {
    if (config_.methods.Excluded(info->method())) return nullptr;
    return new CallAuth(&config_, info);
  }

 private:
  // Keeps the manager alive as long as a channel uses it.
  const std::shared_ptr<TokenManager> manager_;
  const InterceptorConfig config_;
};

}  // namespace
}  // namespace internal

bool IsTokenRejection(const ServerAnswer& answer) {
  return internal::IsServerRejection(answer);
}

void SkipTokenRefresh(grpc::ClientContext* context) {
  context->AddMetadata(internal::kSkipRefreshKey, "1");
}

absl::StatusOr<AuthRefreshChannelSetup> MakeAuthRefreshChannelSetup(
    std::shared_ptr<TokenManager> manager, InterceptorOptions options,
    const grpc::ChannelArguments& args) {
  absl::StatusOr<internal::ReplayChannel> replay = internal::WithReplayPolicy(
      args, options.replay_buffer_bytes,
      internal::MethodPolicy(options.excluded_methods).ConfigNames());
  if (!replay.ok()) return replay.status();
  AuthRefreshChannelSetup setup;
  setup.args = std::move(replay->args);
  setup.interceptor = std::make_unique<internal::AuthRefreshInterceptorFactory>(
      std::move(manager), options, replay->default_compression, absl::OkStatus());
  return setup;
}

std::shared_ptr<grpc::Channel> CreateAuthRefreshChannel(
    const std::string& target,
    std::shared_ptr<grpc::ChannelCredentials> credentials,
    std::shared_ptr<TokenManager> manager, InterceptorOptions options,
    const grpc::ChannelArguments& args) {
  std::vector<std::unique_ptr<grpc::experimental::ClientInterceptorFactoryInterface>>
      factories;
  absl::StatusOr<AuthRefreshChannelSetup> setup =
      MakeAuthRefreshChannelSetup(manager, options, args);
  if (!setup.ok()) {
    // Still a channel, as promised; every call fails saying why.
    factories.push_back(std::make_unique<internal::AuthRefreshInterceptorFactory>(
        std::move(manager), options, GRPC_COMPRESS_NONE, setup.status()));
    return grpc::experimental::CreateCustomChannelWithInterceptors(
        target, credentials, args, std::move(factories));
  }
  factories.push_back(std::move(setup->interceptor));
  return grpc::experimental::CreateCustomChannelWithInterceptors(
      target, credentials, setup->args, std::move(factories));
}

}  // namespace authrefresh
