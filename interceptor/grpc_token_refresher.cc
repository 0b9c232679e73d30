#include "interceptor/grpc_token_refresher.h"

#include <memory>
#include <mutex>
#include <utility>

#include "grpcpp/client_context.h"
#include "interceptor/internal/status_conversion.h"
#include "protos/token_service.grpc.pb.h"

namespace authrefresh {
namespace {

class GrpcTokenRefresher final : public TokenRefresher {
 public:
  GrpcTokenRefresher(std::shared_ptr<grpc::Channel> channel,
                     GrpcTokenRefresherOptions options)
      : stub_(v1::TokenService::NewStub(std::move(channel))),
        options_(std::move(options)) {}

  ~GrpcTokenRefresher() override {
    std::lock_guard<std::mutex> lock(mu_);
    if (auto grant = in_flight_.lock()) grant->context.TryCancel();
  }

  void Refresh(const std::string& refresh_token, Done done) override {
    // Owned by the completion callback, so a grant outlives the refresher.
    auto grant = std::make_shared<Grant>();
    grant->context.set_deadline(
        absl::ToChronoTime(absl::Now() + options_.timeout));
    grant->request.set_refresh_token(refresh_token);
    grant->request.set_client_id(options_.client_id);
    grant->request.set_scope(options_.scope);
    {
      std::lock_guard<std::mutex> lock(mu_);
      in_flight_ = grant;
    }
    stub_->async()->Refresh(
        &grant->context, &grant->request, &grant->response,
        [grant, done = std::move(done)](grpc::Status status) {
          if (status.ok()) {
            done(std::move(grant->response));
          } else {
            done(internal::ToAbslStatus(status));
          }
        });
  }

 private:
  struct Grant {
    grpc::ClientContext context;
    v1::RefreshRequest request;
    v1::TokenResponse response;
  };

  std::unique_ptr<v1::TokenService::Stub> stub_;
  const GrpcTokenRefresherOptions options_;
  std::mutex mu_;
  std::weak_ptr<Grant> in_flight_;  // guarded by mu_
};

}  // namespace

std::unique_ptr<TokenRefresher> MakeGrpcTokenRefresher(
    std::shared_ptr<grpc::Channel> token_service_channel,
    GrpcTokenRefresherOptions options) {
  return std::make_unique<GrpcTokenRefresher>(std::move(token_service_channel),
                                              std::move(options));
}

}  // namespace authrefresh
