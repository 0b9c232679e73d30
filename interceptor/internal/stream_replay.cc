#include "interceptor/internal/stream_replay.h"

#include <algorithm>
#include <utility>

#include "grpcpp/impl/rpc_method.h"
#include "interceptor/internal/status_conversion.h"

namespace authrefresh {
namespace internal {

using grpc::experimental::InterceptorBatchMethods;

namespace {

grpc::Status Cancelled() {
  return grpc::Status(grpc::StatusCode::CANCELLED, "Cancelled");
}

}  // namespace

// One server attempt: a server-streaming call of ByteBuffers on the rest of
// the channel, with the callback API on gRPC's threads. It keeps its
// StreamReplay alive until gRPC reports it done.
class StreamReplay::Attempt final
    : public grpc::ClientReadReactor<grpc::ByteBuffer> {
 public:
  explicit Attempt(std::shared_ptr<StreamReplay> owner) : owner_(std::move(owner)) {}

  void OnReadInitialMetadataDone(bool ok) override { owner_->OnHeaders(this, ok); }
  void OnReadDone(bool ok) override { owner_->OnMessage(this, ok); }
  void OnDone(const grpc::Status& status) override {
    std::shared_ptr<StreamReplay> owner = std::move(owner_);
    owner->OnAttemptDone(this, status);
  }

  grpc::ClientContext context;
  grpc::ByteBuffer message;  // the outstanding read's target

 private:
  std::shared_ptr<StreamReplay> owner_;
};

StreamReplay::StreamReplay(std::shared_ptr<const InterceptorConfig> config,
                           grpc::experimental::ClientRpcInfo* info)
    : config_(std::move(config)), info_(info) {}

StreamReplay::~StreamReplay() = default;

void StreamReplay::Capture(InterceptorBatchMethods* m) { call_.Capture(info_, m); }

void StreamReplay::Start() {
  const FirstStep first = DecideFirstStep(*config_);
  switch (first.kind) {
    case FirstStep::kEnd:
      End(Ending{first.status, {}, {}});
      return;
    case FirstStep::kSend:
      SendAttempt(first.token->authorization, first.token->generation);
      return;
    case FirstStep::kWait:
      WaitForToken(0);
      return;
  }
}

void StreamReplay::SendAttempt(const std::string& authorization,
                               uint64_t generation) {
  auto attempt = std::make_shared<Attempt>(shared_from_this());
  call_.Prepare(&attempt->context, authorization, config_->transport);

  bool send = false;
  bool replay = false;
  grpc::Status ended;
  {
    CallMutexLock lock(&mu_);
    if (abort_.has_value()) {
      ended = *abort_;
    } else {
      send = true;
      replay = attempts_sent_++ > 0;
      in_flight_ = attempt;
      sent_generation_ = generation;
      committed_ = false;
      paused_ = false;
    }
  }
  if (!send) {
    attempt.reset();  // drops its reference to us outside the lock
    End(Ending{std::move(ended), {}, {}});
    return;
  }
  if (replay) config_->coordinator->CountReplay();
  Attempt* a = attempt.get();
  {
    OwnCallScope own_call;
    // The channel outlives this: the application's ClientContext holds it
    // until its call completes, which is after every attempt is done.
    grpc::internal::ClientCallbackReaderFactory<grpc::ByteBuffer>::Create(
        call_.channel.get(),
        grpc::internal::RpcMethod(call_.method.c_str(),
                                  grpc::internal::RpcMethod::SERVER_STREAMING),
        &a->context, &call_.request, a);
  }
  // Always one read with the call: a stream that ends without a message
  // (the usual rejection) then reports its status at once.
  a->StartRead(&a->message);
  a->StartCall();
}

void StreamReplay::OnHeaders(Attempt* attempt, bool ok) {
  if (!ok) return;  // Trailers-Only, or the call failed: OnAttemptDone says
  Metadata headers = CopyMetadata(attempt->context.GetServerInitialMetadata());
  {
    CallMutexLock lock(&mu_);
    committed_ = true;
    if (!headers_ready_) {
      initial_metadata_ = std::move(headers);
      headers_ready_ = true;
    }
  }
  Drain();
}

void StreamReplay::OnMessage(Attempt* attempt, bool ok) {
  bool read_more = false;
  bool arm_deadline = false;
  {
    CallMutexLock lock(&mu_);
    if (!ok) {
      // No more messages; OnAttemptDone follows with the status. After the
      // commit point this end is final: reads can learn it now.
      if (committed_) no_more_messages_ = true;
    } else if (abort_.has_value()) {
      attempt->message.Clear();  // ending early: nothing more is delivered
    } else {
      committed_ = true;
      buffered_bytes_ += attempt->message.Length();
      buffer_.emplace_back();
      buffer_.back().Swap(&attempt->message);
      if (WantMoreLocked()) {
        read_more = true;
      } else {
        // Hold the attempt open without a read until the application makes
        // room. The hold is taken under the lock, before anyone can see
        // paused_ and release it; it is an atomic increment, nothing more.
        attempt->AddHold();
        paused_ = true;
        arm_deadline = NeedDeadlineTimerLocked();
      }
    }
  }
  // Inside a reaction the attempt is alive: reading on is safe here.
  if (read_more) attempt->StartRead(&attempt->message);
  if (arm_deadline) ArmDeadlineTimer();
  Drain();
}

void StreamReplay::OnAttemptDone(Attempt* attempt, const grpc::Status& status) {
  const bool rejection = config_->IsRejection(
      status, attempt->context.GetServerTrailingMetadata());
  bool replay = false;
  bool note_rejection = false;
  bool application_gone = false;
  bool headers_known = false;
  uint64_t generation = 0;
  std::shared_ptr<Attempt> finished;
  {
    CallMutexLock lock(&mu_);
    application_gone = application_gone_;
    headers_known = headers_ready_;
    finished = std::move(in_flight_);
    paused_ = false;
    const bool live = !abort_.has_value() && !cancelled_;
    // Retry once, and only before the commit point.
    replay = live && rejection && attempts_sent_ == 1 && !committed_;
    note_rejection = live && rejection && committed_;
    generation = sent_generation_;
  }
  Ending ending;
  ending.status = status;
  if (!headers_known) {
    ending.initial_metadata = CopyMetadata(attempt->context.GetServerInitialMetadata());
  }
  ending.trailing_metadata = CopyMetadata(attempt->context.GetServerTrailingMetadata());
  if (application_gone) {
    // The attempt's context may hold the channel's last reference, which
    // must not be dropped on this (callback) thread; a timer thread is fine.
    RunSoon([finished = std::move(finished)] {});
  } else {
    // Let the attempt go now (we are in its OnDone, its last reaction),
    // while the application's ClientContext still holds the channel.
    finished.reset();
  }

  if (config_->transport == TransportPolicy::kGate &&
      IsInsecureTransportRefusal(status)) {
    End(Ending{InsecureTransportStatus(), {}, {}});
  } else if (replay) {
    WaitForToken(generation, &ending);
  } else {
    // A rejection after the commit point is the application's; the next
    // call gets a new token.
    if (note_rejection) config_->coordinator->NoteRejection(generation);
    End(std::move(ending));
  }
}

void StreamReplay::WaitForToken(uint64_t rejected_generation, Ending* rejected) {
  const bool waiting = wait_.Start(
      *config_->coordinator, rejected_generation, DeadlineOf(call_.deadline),
      [self = shared_from_this()](
          const absl::StatusOr<RefreshCoordinator::Snapshot>& token) {
        self->OnToken(token);
      });
  // Declined (only after a rejection): the server's rejection, unchanged.
  if (!waiting && rejected != nullptr) End(std::move(*rejected));
}

void StreamReplay::OnToken(
    const absl::StatusOr<RefreshCoordinator::Snapshot>& token) {
  if (token.ok()) {
    SendAttempt((*token)->authorization, (*token)->generation);
  } else {
    End(Ending{ToGrpcStatus(token.status()), {}, {}});  // or abort_, if set
  }
}

void StreamReplay::OnCancel() {
  {
    CallMutexLock lock(&mu_);
    if (cancelled_) return;
    cancelled_ = true;
    // From here on the application reads nothing more, as with gRPC's own
    // cancellation.
    if (!MarkAbortLocked(Cancelled())) return;
  }
  // This hook runs under the application's ClientContext lock: cancelling
  // the attempt or completing the call here could run the application's
  // code, so hop to another thread.
  RunSoon([self = shared_from_this()] { self->CompleteAbort(); });
}

void StreamReplay::OnApplicationGone() {
  {
    CallMutexLock lock(&mu_);
    application_gone_ = true;
    receivers_.clear();  // their batches are being freed with the call
    if (!MarkAbortLocked(Cancelled())) return;
  }
  RunSoon([self = shared_from_this()] { self->CompleteAbort(); });
}

void StreamReplay::Abort(grpc::Status status) {
  {
    CallMutexLock lock(&mu_);
    if (!MarkAbortLocked(std::move(status))) return;
  }
  CompleteAbort();
}

bool StreamReplay::MarkAbortLocked(grpc::Status status) {
  if (status_delivered_ || abort_.has_value()) return false;
  abort_ = std::move(status);
  buffer_.clear();
  buffered_bytes_ = 0;
  if (ended_) final_status_ = *abort_;  // not delivered yet: this is
  return true;
}

void StreamReplay::CompleteAbort() {
  std::shared_ptr<Attempt> cancel;
  bool release = false;
  grpc::Status status;
  {
    CallMutexLock lock(&mu_);
    status = *abort_;
    if (!ended_ && in_flight_ != nullptr) {
      cancel = in_flight_;
      release = paused_;
      paused_ = false;
    }
    // Ended: Drain delivers it. Between attempts: SendAttempt and
    // OnAttemptDone check abort_, and the wait below is cancelled for good.
  }
  if (wait_.Cancel(*config_->coordinator)) {
    End(Ending{std::move(status), {}, {}});
    return;
  }
  if (cancel != nullptr) {
    // The attempt then ends through OnDone; the status waits for that.
    cancel->context.TryCancel();
    if (release) cancel->RemoveHold();
  }
  Drain();
}

void StreamReplay::End(Ending ending) {
  bool arm_deadline = false;
  {
    CallMutexLock lock(&mu_);
    if (ended_) return;
    ended_ = true;
    if (!headers_ready_) {
      initial_metadata_ = std::move(ending.initial_metadata);
      headers_ready_ = true;
    }
    trailing_metadata_ = std::move(ending.trailing_metadata);
    const grpc::StatusCode code = ending.status.error_code();
    if (abort_.has_value()) {
      final_status_ = *abort_;
    } else {
      final_status_ = std::move(ending.status);
      // Past the deadline, or cancelled: what was not read is not delivered.
      if (code == grpc::StatusCode::DEADLINE_EXCEEDED ||
          code == grpc::StatusCode::CANCELLED) {
        buffer_.clear();
        buffered_bytes_ = 0;
      }
    }
    arm_deadline = !buffer_.empty() && NeedDeadlineTimerLocked();
  }
  if (arm_deadline) ArmDeadlineTimer();
  Drain();
}

void StreamReplay::AddReceiver(InterceptorBatchMethods* m) {
  const Receiver r = Receiver::Of(m);
  {
    CallMutexLock lock(&mu_);
    receivers_.push_back(r);
  }
  Drain();
}

bool StreamReplay::WantMoreLocked() const {
  const size_t max_messages =
      std::max<size_t>(1, config_->streams.read_ahead_messages);
  return buffer_.empty() || (buffer_.size() < max_messages &&
                             buffered_bytes_ < config_->streams.read_ahead_bytes);
}

bool StreamReplay::NeedDeadlineTimerLocked() {
  if (deadline_armed_ ||
      call_.deadline == std::chrono::system_clock::time_point::max()) {
    return false;
  }
  deadline_armed_ = true;
  return true;
}

void StreamReplay::ArmDeadlineTimer() {
  std::shared_ptr<Clock::Timer> timer = SystemClock()->Schedule(
      DeadlineOf(call_.deadline), [weak = weak_from_this()] {
        if (std::shared_ptr<StreamReplay> self = weak.lock()) {
          self->Abort(grpc::Status(grpc::StatusCode::DEADLINE_EXCEEDED,
                                   "Deadline Exceeded"));
        }
      });
  bool delivered;
  {
    CallMutexLock lock(&mu_);
    delivered = status_delivered_;
    if (!delivered) deadline_timer_ = timer;
  }
  if (delivered) timer->Cancel();
}

void StreamReplay::Drain() {
  std::shared_ptr<StreamReplay> self = shared_from_this();
  {
    CallMutexLock lock(&mu_);
    if (draining_) return;  // that thread sees what changed, under the lock
    draining_ = true;
  }
  for (;;) {
    std::vector<Delivery> ready;
    std::shared_ptr<Attempt> resume;
    std::shared_ptr<Clock::Timer> timer;
    {
      CallMutexLock lock(&mu_);
      // Reads and header waits, in order. A read is completed with the next
      // message, or as the end of the stream once the call has ended and
      // every message was read.
      bool gave_message = false;
      for (auto it = receivers_.begin(); it != receivers_.end();) {
        const Receiver& r = *it;
        const bool can =
            !r.status && (!r.initial_metadata || headers_ready_) &&
            (!r.message || !buffer_.empty() || ended_ || no_more_messages_);
        if (!can) {
          ++it;
          continue;
        }
        Delivery d;
        d.receiver = r;
        if (r.message && !buffer_.empty()) {
          d.has_message = true;
          d.message.Swap(&buffer_.front());
          buffered_bytes_ -= d.message.Length();
          buffer_.pop_front();
          gave_message = true;
        }
        ready.push_back(std::move(d));
        it = receivers_.erase(it);
      }
      // The status last, in a round of its own that gives no message: a
      // message that fails to parse must still be able to change it.
      if (ended_ && buffer_.empty() && !gave_message) {
        for (auto it = receivers_.begin(); it != receivers_.end();) {
          if (!it->status || (it->initial_metadata && !headers_ready_)) {
            ++it;
            continue;
          }
          Delivery d;
          d.receiver = *it;
          ready.push_back(std::move(d));
          it = receivers_.erase(it);
          status_delivered_ = true;
          timer = std::move(deadline_timer_);
        }
      }
      if (paused_ && in_flight_ != nullptr && !abort_.has_value() &&
          WantMoreLocked()) {
        paused_ = false;
        resume = in_flight_;
      }
      if (ready.empty() && resume == nullptr) {
        draining_ = false;
        break;
      }
    }
    if (resume != nullptr) {
      // The hold keeps the attempt alive until the read is out.
      resume->StartRead(&resume->message);
      resume->RemoveHold();
    }
    if (timer != nullptr) timer->Cancel();
    bool parse_failed = false;
    // The application may free its ClientContext once the status is
    // delivered; it is the last of `ready`, and nothing of ours is touched
    // after its Proceed() but `self`.
    for (Delivery& d : ready) Fill(d, &parse_failed);
    if (parse_failed) {
      Abort(grpc::Status(
          grpc::StatusCode::INTERNAL,
          "authrefresh: a message of the server's stream could not be parsed "
          "as the method's response message"));
    }
  }
}

void StreamReplay::Fill(Delivery& d, bool* parse_failed) {
  InterceptorBatchMethods* m = d.receiver.m;
  if (d.receiver.message) {
    bool parsed = false;
    if (d.has_message) {
      parsed = ParseResponse(m, &d.message);
      if (!parsed) *parse_failed = true;
    }
    if (!parsed) m->FailHijackedRecvMessage();
  }
  // The maps hold references into our strings, which live as long as the
  // application's ClientContext (it owns the interceptor that owns us).
  if (d.receiver.initial_metadata) {
    FillMetadata(initial_metadata_, m->GetRecvInitialMetadata());
  }
  if (d.receiver.status) {
    *m->GetRecvStatus() = final_status_;
    FillMetadata(trailing_metadata_, m->GetRecvTrailingMetadata());
  }
  m->Proceed();
}

}  // namespace internal
}  // namespace authrefresh
