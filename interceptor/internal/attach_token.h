// interceptor/internal/attach_token.h
//
// Where the token is attached to calls that are not replayed: streaming
// calls and unary calls whose messages are not protobuf. Such a call is not
// hijacked; its first batch waits (without blocking a thread) while the
// token is unusable, and its UNAUTHENTICATED starts the shared refresh.

#ifndef AUTHREFRESH_INTERCEPTOR_INTERNAL_ATTACH_TOKEN_H_
#define AUTHREFRESH_INTERCEPTOR_INTERNAL_ATTACH_TOKEN_H_

#include <memory>

#include "grpcpp/support/client_interceptor.h"
#include "interceptor/internal/interceptor_config.h"
#include "interceptor/internal/mutex.h"

namespace authrefresh {
namespace internal {

class AttachToken final : public grpc::experimental::Interceptor {
 public:
  AttachToken(std::shared_ptr<const InterceptorConfig> config,
              grpc::experimental::ClientRpcInfo* info);

  // Whether the first batch's metadata carries the SkipTokenRefresh() mark;
  // removes it.
  static bool TakeSkipMark(grpc::experimental::InterceptorBatchMethods* m);
  void Intercept(grpc::experimental::InterceptorBatchMethods* methods) override;

 private:
  void OnSendInitialMetadata(grpc::experimental::InterceptorBatchMethods* m);
  // Sends the first batch with `snapshot`'s token, or fails the call.
  void Resume(grpc::experimental::InterceptorBatchMethods* m,
              const absl::StatusOr<RefreshCoordinator::Snapshot>& token);
  void Fail(grpc::experimental::InterceptorBatchMethods* m, grpc::Status status);
  void OnCancel();
  void OnStatus(grpc::Status* status, const ServerMetadata& trailing_metadata);

  const std::shared_ptr<const InterceptorConfig> config_;
  grpc::experimental::ClientRpcInfo* const info_;
  // Written before the first batch proceeds; read at POST_RECV_STATUS.
  uint64_t sent_generation_ = 0;
  bool attached_ = false;
  bool gated_ = false;
  bool skip_refresh_ = false;  // SkipTokenRefresh(): no wait, no refresh
  grpc::Status failure_;  // replaces the call's status when not OK

  // While the first batch waits for a token.
  CallMutex mu_;
  grpc::experimental::InterceptorBatchMethods* waiting_ ABSL_GUARDED_BY(mu_) =
      nullptr;
  uint64_t ticket_ ABSL_GUARDED_BY(mu_) = 0;
  bool cancelled_ ABSL_GUARDED_BY(mu_) = false;
};

}  // namespace internal
}  // namespace authrefresh

#endif  // AUTHREFRESH_INTERCEPTOR_INTERNAL_ATTACH_TOKEN_H_
