#include "interceptor/internal/unary_replay.h"

#include <algorithm>
#include <utility>

#include "grpcpp/generic/generic_stub.h"
#include "interceptor/internal/status_conversion.h"

namespace authrefresh {
namespace internal {

using grpc::experimental::InterceptorBatchMethods;

// One server attempt, sent with the callback API on gRPC's threads. It keeps
// its UnaryReplay alive until gRPC reports it done.
class UnaryReplay::Attempt final : public grpc::ClientUnaryReactor {
 public:
  explicit Attempt(std::shared_ptr<UnaryReplay> owner) : owner_(std::move(owner)) {}

  void OnDone(const grpc::Status& status) override {
    std::shared_ptr<UnaryReplay> owner = std::move(owner_);
    owner->OnAttemptDone(this, status);
  }

  grpc::ClientContext context;
  grpc::ByteBuffer response;

 private:
  std::shared_ptr<UnaryReplay> owner_;
};

UnaryReplay::UnaryReplay(std::shared_ptr<const InterceptorConfig> config,
                         grpc::experimental::ClientRpcInfo* info)
    : config_(std::move(config)), info_(info) {}

UnaryReplay::~UnaryReplay() = default;

void UnaryReplay::Capture(InterceptorBatchMethods* m) { call_.Capture(info_, m); }

void UnaryReplay::Start() {
  const FirstStep first = DecideFirstStep(*config_);
  switch (first.kind) {
    case FirstStep::kEnd:
      Finish(first.status);
      return;
    case FirstStep::kSend:
      SendAttempt(first.token->authorization, first.token->generation);
      return;
    case FirstStep::kWait:
      WaitForToken(0);
      return;
  }
}

void UnaryReplay::SendAttempt(const std::string& authorization,
                              uint64_t generation) {
  auto attempt = std::make_shared<Attempt>(shared_from_this());
  call_.Prepare(&attempt->context, authorization, config_->transport);

  bool send = false;
  bool replay = false;
  {
    CallMutexLock lock(&mu_);
    if (!cancelled_ && !done_) {
      send = true;
      replay = attempts_sent_++ > 0;
      in_flight_ = attempt;
      sent_generation_ = generation;
    }
  }
  if (!send) {
    attempt.reset();  // drops its reference to us outside the lock
    Finish(grpc::Status(grpc::StatusCode::CANCELLED, "Cancelled"));
    return;
  }
  if (replay) config_->coordinator->CountReplay();
  // The channel outlives this: the application's ClientContext holds it until
  // its call completes, which is after every attempt has been sent.
  Attempt* a = attempt.get();
  {
    OwnCallScope own_call;
    grpc::GenericStub(call_.channel)
        .PrepareUnaryCall(&a->context, call_.method, grpc::StubOptions(),
                          &call_.request, &a->response, a);
  }
  a->StartCall();
}

void UnaryReplay::OnAttemptDone(Attempt* attempt, const grpc::Status& status) {
  bool replay = false;
  uint64_t rejected = 0;
  std::shared_ptr<Attempt> finished;
  {
    CallMutexLock lock(&mu_);
    finished = std::move(in_flight_);
    // Retry once: only the first server attempt may be replayed.
    replay = attempts_sent_ == 1 && !cancelled_ &&
             config_->IsRejection(status,
                                  attempt->context.GetServerTrailingMetadata());
    rejected = sent_generation_;
  }
  Outcome outcome;
  outcome.status = status;
  outcome.from_server = true;
  outcome.response.Swap(&attempt->response);
  outcome.initial_metadata = CopyMetadata(attempt->context.GetServerInitialMetadata());
  outcome.trailing_metadata = CopyMetadata(attempt->context.GetServerTrailingMetadata());
  // Let the attempt go now (we are in its OnDone, its last reaction), while
  // the application's ClientContext still holds the channel: the last
  // reference to a channel must never be dropped on a gRPC callback thread.
  finished.reset();

  if (config_->transport == TransportPolicy::kGate &&
      IsInsecureTransportRefusal(status)) {
    Finish(InsecureTransportStatus());
  } else if (replay) {
    WaitForToken(rejected, &outcome);
  } else {
    Finish(std::move(outcome));
  }
}

void UnaryReplay::WaitForToken(uint64_t rejected_generation, Outcome* rejected) {
  const bool waiting = wait_.Start(
      *config_->coordinator, rejected_generation, DeadlineOf(call_.deadline),
      [self = shared_from_this()](
          const absl::StatusOr<RefreshCoordinator::Snapshot>& token) {
        self->OnToken(token);
      });
  // Declined (only after a rejection): the server's rejection, unchanged.
  if (!waiting && rejected != nullptr) Finish(std::move(*rejected));
}

void UnaryReplay::OnToken(
    const absl::StatusOr<RefreshCoordinator::Snapshot>& token) {
  if (token.ok()) {
    SendAttempt((*token)->authorization, (*token)->generation);
  } else {
    Finish(ToGrpcStatus(token.status()));
  }
}

void UnaryReplay::OnCancel() {
  std::shared_ptr<Attempt> in_flight;
  {
    CallMutexLock lock(&mu_);
    if (cancelled_ || done_) return;
    cancelled_ = true;
    in_flight = in_flight_;
  }
  // This hook runs under the application's ClientContext lock: completing the
  // call here could run the application's callback, so hop to another thread.
  std::shared_ptr<UnaryReplay> self = shared_from_this();
  if (wait_.Cancel(*config_->coordinator)) {
    RunSoon([self] {
      self->Finish(grpc::Status(grpc::StatusCode::CANCELLED, "Cancelled"));
    });
  } else if (in_flight != nullptr) {
    // The attempt then reports CANCELLED through OnDone.
    RunSoon([in_flight] { in_flight->context.TryCancel(); });
  }
}

void UnaryReplay::Finish(grpc::Status status) {
  Outcome outcome;
  outcome.status = std::move(status);
  Finish(std::move(outcome));
}

void UnaryReplay::Finish(Outcome outcome) {
  {
    CallMutexLock lock(&mu_);
    if (done_) return;
    done_ = true;
    outcome_ = std::move(outcome);
  }
  Drain();
}

void UnaryReplay::AddReceiver(InterceptorBatchMethods* m) {
  const Receiver r = Receiver::Of(m);
  bool done;
  {
    CallMutexLock lock(&mu_);
    receivers_.push_back(r);
    done = done_;
  }
  if (done) Drain();
}

void UnaryReplay::Drain() {
  std::shared_ptr<UnaryReplay> self = shared_from_this();
  {
    CallMutexLock lock(&mu_);
    if (draining_) return;  // that thread will deliver ours too
    draining_ = true;
  }
  for (;;) {
    std::vector<Receiver> batch;
    {
      CallMutexLock lock(&mu_);
      if (receivers_.empty()) {
        draining_ = false;
        return;
      }
      batch.swap(receivers_);
    }
    // The application may free its ClientContext as soon as the status is
    // delivered: deliver it last.
    std::stable_partition(batch.begin(), batch.end(),
                          [](const Receiver& r) { return !r.status; });
    for (const Receiver& r : batch) {
      Fill(r);
      r.m->Proceed();
    }
  }
}

void UnaryReplay::Fill(const Receiver& r) {
  InterceptorBatchMethods* m = r.m;
  if (r.message) {
    bool parsed = false;
    if (outcome_.status.ok() && outcome_.from_server) {
      parsed = ParseResponse(m, &outcome_.response);
      if (!parsed) {
        outcome_.status = grpc::Status(
            grpc::StatusCode::INTERNAL,
            "authrefresh: the server's response could not be parsed as the "
            "method's response message");
      }
    }
    if (!parsed) m->FailHijackedRecvMessage();
  }
  // The maps hold references into outcome_, which lives as long as the
  // application's ClientContext (it owns the interceptor that owns us).
  if (r.initial_metadata) {
    FillMetadata(outcome_.initial_metadata, m->GetRecvInitialMetadata());
  }
  if (r.status) {
    *m->GetRecvStatus() = outcome_.status;
    FillMetadata(outcome_.trailing_metadata, m->GetRecvTrailingMetadata());
  }
}

}  // namespace internal
}  // namespace authrefresh
