#include "interceptor/internal/transport_security.h"

#include <map>
#include <string>

#include "grpcpp/security/auth_context.h"

namespace authrefresh {
namespace internal {
namespace {

class GatePlugin final : public grpc::MetadataCredentialsPlugin {
 public:
  bool IsBlocking() const override { return false; }
  const char* GetType() const override { return "authrefresh-security-gate"; }
  grpc::Status GetMetadata(grpc::string_ref, grpc::string_ref,
                           const grpc::AuthContext&,
                           std::multimap<std::string, std::string>*) override {
    return grpc::Status::OK;
  }
};

}  // namespace

bool IsInsecure(const std::shared_ptr<grpc::ChannelCredentials>& credentials) {
  return credentials == nullptr ||
         grpc::CompositeChannelCredentials(credentials, SecurityGate()) == nullptr;
}

std::shared_ptr<grpc::CallCredentials> SecurityGate() {
  static const auto* const gate = new std::shared_ptr<grpc::CallCredentials>(
      grpc::MetadataCredentialsFromPlugin(std::make_unique<GatePlugin>()));
  return *gate;
}

std::shared_ptr<grpc::CallCredentials> WithSecurityGate(
    const std::shared_ptr<grpc::CallCredentials>& app) {
  if (app == nullptr) return SecurityGate();
  return grpc::CompositeCallCredentials(app, SecurityGate());
}

}  // namespace internal
}  // namespace authrefresh
