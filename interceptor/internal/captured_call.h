// interceptor/internal/captured_call.h
//
// What UnaryReplay and StreamReplay share: what a hijacked call's attempts
// repeat (taken from the application's call in its first batch), the first
// step such a call takes, its wait for a token, and the handling of the
// application's receive batches (metadata, response parsing).

#ifndef AUTHREFRESH_INTERCEPTOR_INTERNAL_CAPTURED_CALL_H_
#define AUTHREFRESH_INTERCEPTOR_INTERNAL_CAPTURED_CALL_H_

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "grpcpp/client_context.h"
#include "grpcpp/security/credentials.h"
#include "grpcpp/support/byte_buffer.h"
#include "grpcpp/support/client_interceptor.h"
#include "interceptor/internal/interceptor_config.h"
#include "interceptor/internal/mutex.h"

namespace authrefresh {
namespace internal {

using Metadata = std::vector<std::pair<std::string, std::string>>;

// A server's metadata, copied so that it outlives the attempt it came from.
Metadata CopyMetadata(
    const std::multimap<grpc::string_ref, grpc::string_ref>& from);
// Adds `from` to an application's metadata map; the map refers to `from`'s
// strings, which must live as long as the application's call.
void FillMetadata(const Metadata& from,
                  std::multimap<grpc::string_ref, grpc::string_ref>* map);

// One of the application's receive batches of a hijacked call, and what it
// asks for.
struct Receiver {
  static Receiver Of(grpc::experimental::InterceptorBatchMethods* m);
  grpc::experimental::InterceptorBatchMethods* m;
  bool initial_metadata;
  bool message;
  bool status;
};

// Parses `bytes` into the application's response message of `m` (only
// protobuf methods are hijacked, so it is a protobuf message). False if the
// bytes are not that message.
bool ParseResponse(grpc::experimental::InterceptorBatchMethods* m,
                   grpc::ByteBuffer* bytes);

// Set by Capture, then read-only.
struct CapturedCall {
  std::string method;  // an attempt keeps a pointer to it
  // Does not own the channel; the application's ClientContext keeps it alive.
  std::shared_ptr<grpc::ChannelInterface> channel;
  grpc::ByteBuffer request;
  std::vector<std::pair<std::string, std::string>> metadata;  // not authorization
  std::chrono::system_clock::time_point deadline;
  std::shared_ptr<grpc::CallCredentials> credentials;
  grpc_compression_algorithm compression = GRPC_COMPRESS_NONE;

  // In the first batch, before Hijack(). The hijacked call never sends its
  // own message or metadata: they are taken, not copied.
  void Capture(grpc::experimental::ClientRpcInfo* info,
               grpc::experimental::InterceptorBatchMethods* m);
  // Sets up an attempt: the deadline, the metadata plus `authorization`, the
  // call credentials (behind the security gate when `transport` says so),
  // the compression.
  void Prepare(grpc::ClientContext* attempt, const std::string& authorization,
               TransportPolicy transport) const;
};

// Where a replayable call starts, once captured.
struct FirstStep {
  enum Kind {
    kEnd,   // end the call with `status` (insecure channel, dead session)
    kSend,  // send an attempt with `token`
    kWait,  // wait for a token
  };
  Kind kind;
  grpc::Status status;
  // kSend: the coordinator's current snapshot, valid until this thread calls
  // RefreshCoordinator::Current() again (no copy on the fast path).
  const TokenSnapshot* token = nullptr;
};
FirstStep DecideFirstStep(const InterceptorConfig& config);

// A hijacked call's wait for a token. The coordinator's callback, an answer
// Await gives at once, and a cancellation race for the same outcome; exactly
// one of them has it. Cancellation is sticky: a Cancel() that comes before
// Start(), or while Start() is registering, still ends the wait.
class TokenWait {
 public:
  using Done = std::function<void(const absl::StatusOr<RefreshCoordinator::Snapshot>&)>;

  // Waits for a sendable token newer than `rejected_generation`, until
  // `deadline`. Returns false, and never runs `done`, if the coordinator
  // declined (loop protection: pass the rejection on). Otherwise `done` runs
  // exactly once, possibly before Start returns: with the token, with the
  // coordinator's failure, or with CANCELLED after a Cancel() that could not
  // remove the wait itself. `done` must keep its owner (and so this) alive.
  bool Start(RefreshCoordinator& coordinator, uint64_t rejected_generation,
             absl::Time deadline, Done done);
  // Marks the wait cancelled. True if it removed a registered wait: `done`
  // will not run, and the caller ends the call. Never blocks, runs nothing.
  bool Cancel(RefreshCoordinator& coordinator);

 private:
  // Whether this caller takes the outcome (the wait was still open).
  bool Take();

  CallMutex mu_;
  bool waiting_ ABSL_GUARDED_BY(mu_) = false;
  uint64_t ticket_ ABSL_GUARDED_BY(mu_) = 0;
  bool cancelled_ ABSL_GUARDED_BY(mu_) = false;
};

}  // namespace internal
}  // namespace authrefresh

#endif  // AUTHREFRESH_INTERCEPTOR_INTERNAL_CAPTURED_CALL_H_
