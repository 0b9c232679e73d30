#include "interceptor/internal/interceptor_config.h"

#include <utility>

#include "grpcpp/channel.h"

namespace authrefresh {
namespace internal {

bool InterceptorConfig::RetriesOtherCodes(grpc::ChannelInterface* channel_interface,
                                          absl::string_view method) const {
  auto* channel = dynamic_cast<grpc::Channel*>(channel_interface);
  if (channel == nullptr || method.empty()) return false;
  std::string json = channel->GetServiceConfigJSON();
  std::shared_ptr<const RetryScopes> scopes;
  {
    CallMutexLock lock(&mu_);
    if (scopes_ == nullptr || json != scopes_json_) {
      scopes_ = std::make_shared<RetryScopes>(RetryScopesOf(json));
      scopes_json_ = std::move(json);
    }
    scopes = scopes_;
  }
  return scopes->Contains(method);
}

}  // namespace internal
}  // namespace authrefresh
