// interceptor/internal/stream_replay.h
//
// Where a server-streaming call is replayed. Like a unary call, it is
// hijacked in its first batch and authrefresh sends the request as a stream
// of its own on the rest of the channel. Its messages are passed to the
// application's reads as they arrive, through a bounded read-ahead buffer.
//
// The commit point (gRFC A6): once the server has sent response headers or
// any message, the attempt is the application's call, whatever happens next.
// Before that point, an UNAUTHENTICATED rejection (normally a Trailers-Only
// response) is replayed once after the shared refresh, and the application
// reads the replay's headers, messages and status as if nothing happened.
// After it, a rejection reaches the application unchanged and only starts the
// shared refresh, so the next call succeeds.

#ifndef AUTHREFRESH_INTERCEPTOR_INTERNAL_STREAM_REPLAY_H_
#define AUTHREFRESH_INTERCEPTOR_INTERNAL_STREAM_REPLAY_H_

#include <cstddef>
#include <cstdint>
#include <deque>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/types/optional.h"
#include "grpcpp/client_context.h"
#include "grpcpp/support/byte_buffer.h"
#include "grpcpp/support/client_callback.h"
#include "grpcpp/support/client_interceptor.h"
#include "interceptor/clock.h"
#include "interceptor/internal/captured_call.h"
#include "interceptor/internal/interceptor_config.h"
#include "interceptor/internal/mutex.h"

namespace authrefresh {
namespace internal {

// The state of one replayable server stream, shared by its interceptor (owned
// by the application's ClientContext), its attempts, waits and timer.
//
// Read-ahead: while the buffer holds fewer than `read_ahead_messages`
// messages and fewer than `read_ahead_bytes` bytes that the application has
// not read, one read of the attempt is outstanding; otherwise the attempt is
// held open without a read (gRPC's flow control then stops the server).
// Memory is bounded by the limits plus one message, whatever the stream's
// length and however slowly the application reads.
class StreamReplay : public std::enable_shared_from_this<StreamReplay> {
 public:
  StreamReplay(std::shared_ptr<const InterceptorConfig> config,
               grpc::experimental::ClientRpcInfo* info);
  ~StreamReplay();

  void Capture(grpc::experimental::InterceptorBatchMethods* m);
  void Start();
  void AddReceiver(grpc::experimental::InterceptorBatchMethods* m);
  void OnCancel();
  // The application's ClientContext is being destroyed, possibly before the
  // stream ended (a ClientReader dropped without Finish): gRPC cancels such
  // a call, so the attempt is cancelled too, and nothing is delivered.
  void OnApplicationGone();

 private:
  class Attempt;
  // A receiver ready to complete, with the message it gets (if any).
  struct Delivery {
    Receiver receiver;
    bool has_message = false;
    grpc::ByteBuffer message;
  };
  // How an attempt ended, as the application would see it.
  struct Ending {
    grpc::Status status;
    Metadata initial_metadata;
    Metadata trailing_metadata;
  };

  void SendAttempt(const std::string& authorization, uint64_t generation);
  // The attempt's reactions.
  void OnHeaders(Attempt* attempt, bool ok);
  void OnMessage(Attempt* attempt, bool ok);
  void OnAttemptDone(Attempt* attempt, const grpc::Status& status);

  void WaitForToken(uint64_t rejected_generation, Ending* rejected = nullptr);
  void OnToken(const absl::StatusOr<RefreshCoordinator::Snapshot>& token);

  // Ends the call early with `status` (cancellation, the deadline, a message
  // that does not parse): unread messages are dropped, the attempt is
  // cancelled, and the application gets `status` once the attempt is done.
  void Abort(grpc::Status status);
  // Abort's two halves: what may be done anywhere (no gRPC, no application
  // code; false if the call is already ending), and the rest.
  bool MarkAbortLocked(grpc::Status status) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void CompleteAbort();
  // Records how the call ended (once) and completes what it can.
  void End(Ending ending);
  // Completes every receiver that can be completed, resumes reading when the
  // buffer has room. One thread at a time.
  void Drain();
  void Fill(Delivery& d, bool* parse_failed);

  // Whether the buffer has room for another read.
  bool WantMoreLocked() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Whether the call's deadline must be enforced here (messages are held
  // while the attempt cannot see the deadline pass); marks it armed.
  bool NeedDeadlineTimerLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void ArmDeadlineTimer();

  const std::shared_ptr<const InterceptorConfig> config_;
  grpc::experimental::ClientRpcInfo* const info_;

  CapturedCall call_;  // set by Capture, then read-only
  TokenWait wait_;

  CallMutex mu_;
  // The attempt in flight, and what it has done.
  std::shared_ptr<Attempt> in_flight_ ABSL_GUARDED_BY(mu_);
  int attempts_sent_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t sent_generation_ ABSL_GUARDED_BY(mu_) = 0;
  bool committed_ ABSL_GUARDED_BY(mu_) = false;  // headers or a message came
  // Held open without a read (AddHold); otherwise one read is outstanding
  // until the attempt's messages end.
  bool paused_ ABSL_GUARDED_BY(mu_) = false;
  // The committed attempt has no more messages (its status may not be known).
  bool no_more_messages_ ABSL_GUARDED_BY(mu_) = false;
  // Messages received that the application has not read.
  std::deque<grpc::ByteBuffer> buffer_ ABSL_GUARDED_BY(mu_);
  size_t buffered_bytes_ ABSL_GUARDED_BY(mu_) = 0;
  // Written once, under mu_, when headers_ready_ is set; read-only after.
  bool headers_ready_ ABSL_GUARDED_BY(mu_) = false;
  Metadata initial_metadata_;
  // How the call ended. Written under mu_ until the status is delivered;
  // read-only after.
  bool cancelled_ ABSL_GUARDED_BY(mu_) = false;  // PRE_SEND_CANCEL seen
  absl::optional<grpc::Status> abort_ ABSL_GUARDED_BY(mu_);
  bool ended_ ABSL_GUARDED_BY(mu_) = false;
  bool status_delivered_ ABSL_GUARDED_BY(mu_) = false;
  grpc::Status final_status_;
  Metadata trailing_metadata_;
  // The application's pending receive batches, in arrival order.
  std::deque<Receiver> receivers_ ABSL_GUARDED_BY(mu_);
  bool draining_ ABSL_GUARDED_BY(mu_) = false;
  bool application_gone_ ABSL_GUARDED_BY(mu_) = false;
  bool deadline_armed_ ABSL_GUARDED_BY(mu_) = false;
  std::shared_ptr<Clock::Timer> deadline_timer_ ABSL_GUARDED_BY(mu_);
};

}  // namespace internal
}  // namespace authrefresh

#endif  // AUTHREFRESH_INTERCEPTOR_INTERNAL_STREAM_REPLAY_H_
