#include "interceptor/grpc_token_refresher.h"

#include <memory>
#include <mutex>
#include <utility>

#include "grpcpp/client_context.h"
#include "interceptor/internal/status_conversion.h"
#include "interceptor/internal/system_clock.h"
#include "interceptor/internal/token_response.h"
#include "protos/token_service.grpc.pb.h"

namespace authrefresh {
namespace {

class GrpcTokenRefresher final : public TokenRefresher {
 public:
  GrpcTokenRefresher(std::shared_ptr<grpc::Channel> channel,
                     GrpcTokenRefresherOptions options)
      : stub_(v1::TokenService::NewStub(std::move(channel))),
        options_(std::move(options)) {}

  // Cancels a grant in flight. Its ClientContext holds a reference to the
  // channel, and the last reference to a channel must not be dropped on a
  // gRPC callback thread (gRPC 1.51 may then shut down the completion queue
  // that thread is serving): the grant keeps the stub until its callback has
  // run, and the callback hands it to an executor thread to drop.
  ~GrpcTokenRefresher() override {
    std::shared_ptr<Grant> grant;
    std::shared_ptr<grpc::ClientContext> context;
    {
      std::lock_guard<std::mutex> lock(mu_);
      grant = in_flight_.lock();
    }
    if (grant != nullptr) {
      std::lock_guard<std::mutex> lock(grant->mu);
      context = grant->context;
      if (context != nullptr) grant->keep_alive = stub_;
    }
    // Outside the locks: cancelling may run the grant's callback.
    if (context != nullptr) context->TryCancel();
  }

  void Refresh(const GrantRequest& request, Done done) override {
    auto grant = std::make_shared<Grant>();
    grant->context = std::make_shared<grpc::ClientContext>();
    grant->sent_at = internal::RequestedAt(request);
    grant->context->set_deadline(absl::ToChronoTime(absl::Now() + options_.timeout));
    grant->request.set_refresh_token(request.refresh_token);
    grant->request.set_client_id(options_.client_id);
    grant->request.set_scope(options_.scope);
    {
      std::lock_guard<std::mutex> lock(mu_);
      in_flight_ = grant;
    }
    stub_->async()->Refresh(
        grant->context.get(), &grant->request, &grant->response,
        [grant, done = std::move(done)](grpc::Status status) {
          if (status.ok()) {
            done(internal::TokenFromResponse(grant->response, grant->sent_at,
                                              {grant->request.refresh_token()}));
          } else {
            done(internal::ToAbslStatus(status));
          }
          std::shared_ptr<v1::TokenService::Stub> keep_alive;
          {
            std::lock_guard<std::mutex> lock(grant->mu);
            grant->context.reset();
            keep_alive = std::move(grant->keep_alive);
          }
          if (keep_alive != nullptr) {
            internal::RunSoon([stub = std::move(keep_alive)] {});
          }
        });
  }

 private:
  struct Grant {
    std::mutex mu;
    std::shared_ptr<grpc::ClientContext> context;  // guarded by mu
    std::shared_ptr<v1::TokenService::Stub> keep_alive;  // guarded by mu
    absl::Time sent_at;
    v1::RefreshRequest request;
    v1::TokenResponse response;
  };

  const std::shared_ptr<v1::TokenService::Stub> stub_;
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
