// interceptor/grpc_token_refresher.h
//
// Defines `MakeGrpcTokenRefresher()`: a TokenRefresher that calls
// authrefresh.v1.TokenService/Refresh (protos/token_service.proto).

#ifndef AUTHREFRESH_INTERCEPTOR_GRPC_TOKEN_REFRESHER_H_
#define AUTHREFRESH_INTERCEPTOR_GRPC_TOKEN_REFRESHER_H_

#include <memory>
#include <string>

#include "absl/time/time.h"
#include "grpcpp/channel.h"
#include "interceptor/token_refresher.h"

namespace authrefresh {

struct GrpcTokenRefresherOptions {
  // Sent in RefreshRequest.client_id and RefreshRequest.scope.
  std::string client_id;
  std::string scope;
  // A grant that takes longer is abandoned with DEADLINE_EXCEEDED, a
  // transient failure that the TokenManager retries on its backoff schedule.
  absl::Duration timeout = absl::Seconds(20);
};

// Calls TokenService/Refresh on `token_service_channel` with the gRPC callback
// API (no thread of its own, none blocked). That channel must not carry the
// authrefresh interceptor; a plain grpc::CreateChannel() channel is right.
// Destroying the refresher cancels a grant in flight. Never returns null.
std::unique_ptr<TokenRefresher> MakeGrpcTokenRefresher(
    std::shared_ptr<grpc::Channel> token_service_channel,
    GrpcTokenRefresherOptions options = {});

}  // namespace authrefresh

#endif  // AUTHREFRESH_INTERCEPTOR_GRPC_TOKEN_REFRESHER_H_
