// interceptor/internal/replay_interceptor.h
//
// The interceptor of a replayable call (unary or server-streaming). It
// hijacks the call in its first batch and hands every later batch to the
// call's replay state (UnaryReplay or StreamReplay), which sends the
// server attempts itself and completes the application's receive batches.

#ifndef AUTHREFRESH_INTERCEPTOR_INTERNAL_REPLAY_INTERCEPTOR_H_
#define AUTHREFRESH_INTERCEPTOR_INTERNAL_REPLAY_INTERCEPTOR_H_

#include <memory>
#include <utility>

#include "grpcpp/support/client_interceptor.h"
#include "interceptor/internal/attach_token.h"
#include "interceptor/internal/interceptor_config.h"

namespace authrefresh {
namespace internal {

// `Replay` provides Capture(m) (first batch, before Hijack), Start() (after
// it), AddReceiver(m) (a batch with PRE_RECV_* hook points), OnCancel()
// (PRE_SEND_CANCEL; must not block or run application code) and
// OnApplicationGone() (the application's ClientContext is being destroyed).
template <class Replay>
class ReplayInterceptor final : public grpc::experimental::Interceptor {
 public:
  ReplayInterceptor(std::shared_ptr<const InterceptorConfig> config,
                    grpc::experimental::ClientRpcInfo* info)
      : config_(config),
        info_(info),
        replay_(std::make_shared<Replay>(std::move(config), info)) {}

  ~ReplayInterceptor() override {
    if (hijacked_) replay_->OnApplicationGone();
  }

  void Intercept(grpc::experimental::InterceptorBatchMethods* m) override {
    using grpc::experimental::InterceptionHookPoints;
    if (skip_ != nullptr) {
      skip_->Intercept(m);
      return;
    }
    const bool first = !hijacked_ &&
                       m->QueryInterceptionHookPoint(
                           InterceptionHookPoints::PRE_SEND_INITIAL_METADATA);
    if (first && m->GetSendInitialMetadata()->count(kSkipRefreshKey) > 0) {
      // SkipTokenRefresh(): not hijacked; attached, never refreshed.
      skip_ = std::make_unique<AttachToken>(config_, info_);
      skip_->Intercept(m);  // strips the mark
      return;
    }
    if (m->QueryInterceptionHookPoint(InterceptionHookPoints::PRE_SEND_CANCEL)) {
      replay_->OnCancel();
      return;
    }
    if (first) {
      hijacked_ = true;
      replay_->Capture(m);
      m->Hijack();  // re-enters Intercept with this batch's PRE_RECV_* points
      replay_->Start();
      return;
    }
    if (m->QueryInterceptionHookPoint(
            InterceptionHookPoints::PRE_RECV_INITIAL_METADATA) ||
        m->QueryInterceptionHookPoint(InterceptionHookPoints::PRE_RECV_MESSAGE) ||
        m->QueryInterceptionHookPoint(InterceptionHookPoints::PRE_RECV_STATUS)) {
      replay_->AddReceiver(m);
      return;
    }
    // A hijacked call's batch without receive ops (its sends are done), or
    // the first pass of a later batch.
    m->Proceed();
  }

 private:
  const std::shared_ptr<const InterceptorConfig> config_;
  grpc::experimental::ClientRpcInfo* const info_;
  const std::shared_ptr<Replay> replay_;
  bool hijacked_ = false;
  std::unique_ptr<AttachToken> skip_;
};

}  // namespace internal
}  // namespace authrefresh

#endif  // AUTHREFRESH_INTERCEPTOR_INTERNAL_REPLAY_INTERCEPTOR_H_
