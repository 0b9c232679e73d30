// The dozen lines an application writes to adopt authrefresh.
//
//   bazel run //examples:quickstart -- api.example.com:443 auth.example.com:443
//
// (It expects a TokenService at the second address; see
// protos/token_service.proto. `bazel run //examples:demo` runs everything
// locally instead.)

#include <cstdio>

#include "grpcpp/create_channel.h"
#include "interceptor/authrefresh.h"
#include "tests/protos/echo.grpc.pb.h"  // your service's stub instead

int main(int argc, char** argv) {
  if (argc != 3) {
    std::fprintf(stderr, "usage: quickstart API_TARGET TOKEN_SERVICE_TARGET\n");
    return 2;
  }
  auto tls = grpc::SslCredentials(grpc::SslCredentialsOptions());

  // 1. One TokenManager per credential: the tokens from your login flow, and
  //    how to refresh them.
  authrefresh::TokenManagerOptions options;
  options.on_tokens_refreshed = [](const authrefresh::Token& t) {
    // Persist t.refresh_token here: it rotates.
  };
  options.on_session_expired = [](const absl::Status& why) {
    std::fprintf(stderr, "log in again: %s\n", std::string(why.message()).c_str());
  };
  options.on_client_rejected = [](const absl::Status& why) {
    std::fprintf(stderr, "fix this client's configuration: %s\n",
                 std::string(why.message()).c_str());
  };
  auto manager = authrefresh::TokenManager::Create(
      {.access_token = std::getenv("ACCESS_TOKEN") ? std::getenv("ACCESS_TOKEN") : "",
       .refresh_token = std::getenv("REFRESH_TOKEN") ? std::getenv("REFRESH_TOKEN") : ""},
      authrefresh::MakeGrpcTokenRefresher(grpc::CreateChannel(argv[2], tls),
                                          {.client_id = "quickstart"}),
      options);

  // 2. One call to get a channel. Every call on it carries the token; a call
  //    the server rejects is replayed once by gRPC, after one shared refresh.
  auto channel = authrefresh::CreateAuthRefreshChannel(argv[1], tls, manager);

  // 3. Use your stubs as usual.
  auto stub = authrefresh::test::Echo::NewStub(channel);
  grpc::ClientContext ctx;
  authrefresh::test::EchoRequest request;
  request.set_text("hello");
  authrefresh::test::EchoReply reply;
  grpc::Status status = stub->Say(&ctx, request, &reply);
  std::printf("%s\n", status.ok() ? reply.text().c_str() : status.error_message().c_str());
  return status.ok() ? 0 : 1;
}
