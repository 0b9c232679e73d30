#include "interceptor/interceptor.h"

#include <utility>

#include "grpcpp/create_channel.h"
#include "interceptor/internal/attach_token.h"
#include "interceptor/internal/interceptor_config.h"
#include "interceptor/internal/replay_interceptor.h"
#include "interceptor/internal/stream_replay.h"
#include "interceptor/internal/unary_replay.h"

namespace authrefresh {
namespace internal {
namespace {

class PassThrough final : public grpc::experimental::Interceptor {
 public:
  void Intercept(grpc::experimental::InterceptorBatchMethods* m) override {
    m->Proceed();
  }
};

class AuthRefreshInterceptorFactory final
    : public grpc::experimental::ClientInterceptorFactoryInterface {
 public:
  AuthRefreshInterceptorFactory(std::shared_ptr<TokenManager> manager,
                                const InterceptorOptions& options,
                                TransportPolicy transport)
      : manager_(std::move(manager)),
        config_(std::make_shared<InterceptorConfig>(
            manager_->coordinator(), options.excluded_methods, transport,
            options.is_rejection,
            options.unary_replay == InterceptorOptions::UnaryReplay::kNearExpiryOnly,
            StreamReplayLimits{options.replay_server_streams,
                               options.stream_read_ahead_messages,
                               options.stream_read_ahead_bytes})) {}

  grpc::experimental::Interceptor* CreateClientInterceptor(
      grpc::experimental::ClientRpcInfo* info) override {
    // A PassThrough rather than nullptr keeps gRPC's interceptor positions
    // intact for the factories after this one.
    if (CreatingOwnCall()) return new PassThrough();
    switch (config_->methods.Classify(info->method(), info->type())) {
      case CallHandling::kPassThrough:
        return new PassThrough();
      case CallHandling::kAttach:
        return new AttachToken(config_, info);
      case CallHandling::kReplay:
        // Fast mode: a fresh token goes out on the call itself; a rejection
        // then starts the shared refresh but is not replayed.
        if (config_->replay_near_expiry_only &&
            config_->coordinator->Fresh(config_->coordinator->Current())) {
          return new AttachToken(config_, info);
        }
        return new ReplayInterceptor<UnaryReplay>(config_, info);
      case CallHandling::kReplayStream:
        if (!config_->streams.enabled) return new AttachToken(config_, info);
        return new ReplayInterceptor<StreamReplay>(config_, info);
    }
    return new PassThrough();
  }

 private:
  // Keeps the manager alive as long as a channel uses it.
  const std::shared_ptr<TokenManager> manager_;
  const std::shared_ptr<InterceptorConfig> config_;
};

std::unique_ptr<grpc::experimental::ClientInterceptorFactoryInterface>
MakeFactory(std::shared_ptr<TokenManager> manager,
            const InterceptorOptions& options, TransportPolicy transport) {
  return std::make_unique<AuthRefreshInterceptorFactory>(std::move(manager),
                                                         options, transport);
}

}  // namespace

}  // namespace internal

bool IsTokenRejection(const grpc::Status& status,
                      const std::multimap<grpc::string_ref, grpc::string_ref>&
                          trailing_metadata) {
  return internal::IsServerRejection(status, trailing_metadata);
}

void SkipTokenRefresh(grpc::ClientContext* context) {
  context->AddMetadata(internal::kSkipRefreshKey, "1");
}

std::unique_ptr<grpc::experimental::ClientInterceptorFactoryInterface>
MakeAuthRefreshInterceptorFactory(std::shared_ptr<TokenManager> manager,
                                  InterceptorOptions options) {
  return internal::MakeFactory(std::move(manager), options,
                               options.allow_insecure_transport
                                   ? internal::TransportPolicy::kTrusted
                                   : internal::TransportPolicy::kGate);
}

std::shared_ptr<grpc::Channel> CreateAuthRefreshChannel(
    const std::string& target,
    std::shared_ptr<grpc::ChannelCredentials> credentials,
    std::shared_ptr<TokenManager> manager, InterceptorOptions options,
    const grpc::ChannelArguments& args) {
  const internal::TransportPolicy transport =
      options.allow_insecure_transport || !internal::IsInsecure(credentials)
          ? internal::TransportPolicy::kTrusted
          : internal::TransportPolicy::kRefuse;
  std::vector<std::unique_ptr<grpc::experimental::ClientInterceptorFactoryInterface>>
      factories;
  factories.push_back(internal::MakeFactory(std::move(manager), options, transport));
  return grpc::experimental::CreateCustomChannelWithInterceptors(
      target, credentials, args, std::move(factories));
}

}  // namespace authrefresh
