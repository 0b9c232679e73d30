// interceptor/internal/unary_replay.h
//
// Where a call is replayed. A unary protobuf call is hijacked in its first
// batch: the application's call never goes out itself. Instead authrefresh
// sends the same request bytes as an attempt of its own on the rest of the
// channel (the interceptors after this one), and if the server rejects the
// token, waits for the shared refresh and sends one more attempt. The final
// attempt's response, metadata and status are handed to the application's
// pending receive batches, the one carrying the status last.

#ifndef AUTHREFRESH_INTERCEPTOR_INTERNAL_UNARY_REPLAY_H_
#define AUTHREFRESH_INTERCEPTOR_INTERNAL_UNARY_REPLAY_H_

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "grpcpp/client_context.h"
#include "grpcpp/support/byte_buffer.h"
#include "grpcpp/support/client_callback.h"
#include "grpcpp/support/client_interceptor.h"
#include "interceptor/internal/attach_token.h"
#include "interceptor/internal/captured_call.h"
#include "interceptor/internal/interceptor_config.h"
#include "interceptor/internal/mutex.h"

namespace authrefresh {
namespace internal {

// The state of one replayable call. Shared by its interceptor (owned by the
// application's ClientContext) and by its own attempts and waits, so that it
// outlives whichever finishes last.
class UnaryReplay : public std::enable_shared_from_this<UnaryReplay> {
 public:
  UnaryReplay(std::shared_ptr<const InterceptorConfig> config,
              grpc::experimental::ClientRpcInfo* info);
  ~UnaryReplay();

  // In the first batch, before Hijack(): takes the request bytes, metadata,
  // deadline, credentials and compression of the application's call.
  void Capture(grpc::experimental::InterceptorBatchMethods* m);
  // After Hijack(): sends the first attempt, or waits for a token.
  void Start();
  // A hijacked batch with PRE_RECV_* hook points, to complete at the end.
  void AddReceiver(grpc::experimental::InterceptorBatchMethods* m);
  // PRE_SEND_CANCEL. Never blocks; runs nothing of the application's.
  void OnCancel();
  // Nothing to do: a unary call's context cannot go before its status,
  // which is delivered after every attempt is done.
  void OnApplicationGone() {}

 private:
  class Attempt;

  // What the application will see: copied out of the final attempt so that
  // the attempt, and the channel reference its ClientContext holds, can go
  // before the application's call completes (see OnAttemptDone).
  struct Outcome {
    grpc::Status status;
    bool from_server = false;  // response and metadata below are set
    grpc::ByteBuffer response;
    Metadata initial_metadata;
    Metadata trailing_metadata;
  };

  void SendAttempt(const std::string& authorization, uint64_t generation);
  void OnAttemptDone(Attempt* attempt, const grpc::Status& status);
  // Waits for a token newer than `rejected_generation`. With a rejected
  // attempt's outcome, a declined refresh (loop protection) finishes with it.
  void WaitForToken(uint64_t rejected_generation, Outcome* rejected = nullptr);
  void OnToken(const absl::StatusOr<RefreshCoordinator::Snapshot>& token);
  // Sets the outcome (once) and completes the receivers.
  void Finish(Outcome outcome);
  void Finish(grpc::Status status);
  void Drain();
  void Fill(const Receiver& r);

  const std::shared_ptr<const InterceptorConfig> config_;
  grpc::experimental::ClientRpcInfo* const info_;

  CapturedCall call_;  // set by Capture, then read-only
  TokenWait wait_;

  CallMutex mu_;
  std::shared_ptr<Attempt> in_flight_ ABSL_GUARDED_BY(mu_);
  int attempts_sent_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t sent_generation_ ABSL_GUARDED_BY(mu_) = 0;
  bool cancelled_ ABSL_GUARDED_BY(mu_) = false;
  bool done_ ABSL_GUARDED_BY(mu_) = false;
  bool draining_ ABSL_GUARDED_BY(mu_) = false;
  std::vector<Receiver> receivers_ ABSL_GUARDED_BY(mu_);
  // Written under mu_ when done_ is set, then read and adjusted (a response
  // that fails to parse) only by the draining thread.
  Outcome outcome_;
};

}  // namespace internal
}  // namespace authrefresh

#endif  // AUTHREFRESH_INTERCEPTOR_INTERNAL_UNARY_REPLAY_H_
