#include "interceptor/internal/attach_token.h"

#include <utility>

#include "grpcpp/client_context.h"
#include "interceptor/internal/status_conversion.h"

namespace authrefresh {
namespace internal {

using grpc::experimental::InterceptionHookPoints;
using grpc::experimental::InterceptorBatchMethods;

AttachToken::AttachToken(std::shared_ptr<const InterceptorConfig> config,
                         grpc::experimental::ClientRpcInfo* info)
    : config_(std::move(config)), info_(info) {}

void AttachToken::Intercept(InterceptorBatchMethods* m) {
  if (m->QueryInterceptionHookPoint(InterceptionHookPoints::PRE_SEND_CANCEL)) {
    OnCancel();
    return;
  }
  if (m->QueryInterceptionHookPoint(
          InterceptionHookPoints::PRE_SEND_INITIAL_METADATA)) {
    OnSendInitialMetadata(m);  // proceeds, now or once a token is ready
    return;
  }
  if (m->QueryInterceptionHookPoint(InterceptionHookPoints::POST_RECV_STATUS)) {
    OnStatus(m->GetRecvStatus(), *m->GetRecvTrailingMetadata());
  }
  m->Proceed();
}

bool AttachToken::TakeSkipMark(InterceptorBatchMethods* m) {
  auto* metadata = m->GetSendInitialMetadata();
  auto it = metadata->find(kSkipRefreshKey);
  if (it == metadata->end()) return false;
  metadata->erase(kSkipRefreshKey);
  return true;
}

void AttachToken::OnSendInitialMetadata(InterceptorBatchMethods* m) {
  skip_refresh_ = TakeSkipMark(m);
  if (config_->transport != TransportPolicy::kTrusted) {
    // gRPC itself then refuses an insecure channel before sending anything.
    grpc::ClientContext* ctx = info_->client_context();
    ctx->set_credentials(WithSecurityGate(ctx->credentials()));
    gated_ = true;
  }
  if (config_->transport == TransportPolicy::kRefuse) {
    m->Proceed();  // without a token; gRPC fails it, OnStatus says why
    return;
  }
  RefreshCoordinator& coordinator = *config_->coordinator;
  const TokenSnapshot& current = coordinator.Current();
  if (coordinator.Sendable(current) ||
      (skip_refresh_ && !current.authorization.empty())) {
    m->GetSendInitialMetadata()->emplace("authorization", current.authorization);
    sent_generation_ = current.generation;
    attached_ = true;
    m->Proceed();
    return;
  }
  if (skip_refresh_) {  // no token to send, and the call must not wait
    m->Proceed();
    return;
  }
  {
    CallMutexLock lock(&mu_);
    waiting_ = m;
  }
  RefreshCoordinator::Wait wait = coordinator.Await(
      0, DeadlineOf(info_->client_context()->deadline()),
      [this, m](absl::StatusOr<RefreshCoordinator::Snapshot> token) {
        Resume(m, token);
      });
  if (wait.ready) {
    Resume(m, *wait.ready);
    return;
  }
  bool cancel_now = false;
  {
    CallMutexLock lock(&mu_);
    if (waiting_ != nullptr) {
      ticket_ = wait.ticket;
      cancel_now = cancelled_;
    }
  }
  // A cancellation that arrived before the ticket was known.
  if (cancel_now && coordinator.CancelWait(wait.ticket)) {
    { CallMutexLock lock(&mu_); waiting_ = nullptr; }
    m->Proceed();  // the call is cancelled in core; it completes as CANCELLED
  }
}

void AttachToken::Resume(InterceptorBatchMethods* m,
                         const absl::StatusOr<RefreshCoordinator::Snapshot>& token) {
  {
    CallMutexLock lock(&mu_);
    if (waiting_ == nullptr) return;
    waiting_ = nullptr;
    ticket_ = 0;
  }
  if (!token.ok()) {
    Fail(m, ToGrpcStatus(token.status()));
    return;
  }
  m->GetSendInitialMetadata()->emplace("authorization", (*token)->authorization);
  sent_generation_ = (*token)->generation;
  attached_ = true;
  m->Proceed();
}

void AttachToken::Fail(InterceptorBatchMethods* m, grpc::Status status) {
  // A call that is not hijacked can only be ended by cancelling it; its
  // status is replaced with ours at POST_RECV_STATUS.
  failure_ = std::move(status);
  info_->client_context()->TryCancel();
  m->Proceed();
}

void AttachToken::OnCancel() {
  InterceptorBatchMethods* m = nullptr;
  uint64_t ticket = 0;
  {
    CallMutexLock lock(&mu_);
    cancelled_ = true;
    m = waiting_;
    ticket = ticket_;
  }
  if (m == nullptr || ticket == 0) return;
  if (!config_->coordinator->CancelWait(ticket)) return;  // Resume runs
  {
    CallMutexLock lock(&mu_);
    waiting_ = nullptr;
  }
  // Not here: this hook runs under the ClientContext's lock.
  RunSoon([m] { m->Proceed(); });
}

void AttachToken::OnStatus(grpc::Status* status,
                           const ServerMetadata& trailing_metadata) {
  if (!failure_.ok()) {
    *status = failure_;
    return;
  }
  if (status->error_code() != grpc::StatusCode::UNAUTHENTICATED) return;
  if (gated_ && IsInsecureTransportRefusal(*status)) {
    *status = InsecureTransportStatus();
  } else if (attached_ && !skip_refresh_ &&
             config_->IsRejection(*status, trailing_metadata)) {
    config_->coordinator->NoteRejection(sent_generation_);
  }
}

}  // namespace internal
}  // namespace authrefresh
