// interceptor/internal/pending_attempt.h
//
// How one attempt of a call gets its token through gRPC core's credentials
// plugin (grpc/grpc_security.h): at once, from get_metadata's own return
// (AttachNow, AnswerNow), or later, through core's callback, when the
// attempt waits for the shared refresh (PendingAttempt, AnswerLater).

#ifndef AUTHREFRESH_INTERCEPTOR_INTERNAL_PENDING_ATTEMPT_H_
#define AUTHREFRESH_INTERCEPTOR_INTERNAL_PENDING_ATTEMPT_H_

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "grpc/grpc_security.h"
#include "interceptor/internal/call_dpop.h"
#include "interceptor/internal/mutex.h"
#include "interceptor/internal/token_publisher.h"

namespace authrefresh {
namespace internal {

using Snapshot = TokenPublisher::Snapshot;

// A synchronous answer with `s`'s token and, when it is DPoP-bound, a new
// proof for `dpop` (CallProof); the attempt fails INTERNAL, naming no key,
// when the proof cannot be made (or `dpop` is null). Core takes ownership of
// the slices and of `error_details`.
void AttachToken(const TokenSnapshot& s, const DpopTarget* dpop, grpc_metadata* creds_md,
                 size_t* num_creds_md, grpc_status_code* status, const char** error_details);

// A synchronous answer with `s`'s `authorization` header alone (a bearer
// token); core takes ownership of the slices.
// The header slice is cached per thread and per snapshot: an attempt costs a
// reference count, not a copy.
void AttachNow(const TokenSnapshot& s, grpc_metadata* creds_md, size_t* num_creds_md);

// Fills a synchronous answer (the token, or the status's code and message);
// core takes ownership of the slices and of `error_details`. A DPoP-bound
// token gets its proof for `dpop`, as AttachToken.
void AnswerNow(const absl::StatusOr<Snapshot>& result, grpc_metadata* creds_md,
               size_t* num_creds_md, grpc_status_code* status, const char** error_details,
               const DpopTarget* dpop = nullptr);

// Completes an asynchronous attempt through core's callback; `dpop` as for
// AnswerNow.
void AnswerLater(grpc_credentials_plugin_metadata_cb cb, void* user_data,
                 const absl::StatusOr<Snapshot>& result, const DpopTarget* dpop = nullptr);

// An attempt that waits for a token. Core's callback must run exactly once,
// and never on the thread inside get_metadata; the coordinator may answer
// inline (before Await returns), so an answer that arrives while
// get_metadata still runs is kept for its synchronous return.
class PendingAttempt {
 public:
  // `dpop`: where the call's proofs point, for a DPoP-bound token; may be
  // null.
  PendingAttempt(int attempt, grpc_credentials_plugin_metadata_cb cb, void* user_data,
                 std::shared_ptr<const DpopTarget> dpop = nullptr)
      : attempt_(attempt), cb_(cb), user_data_(user_data), dpop_(std::move(dpop)) {}

  int attempt() const { return attempt_; }

  // The coordinator's answer (or authrefresh's own, after CancelWait).
  void Complete(absl::StatusOr<Snapshot> result) ABSL_LOCKS_EXCLUDED(mu_);

  // get_metadata is about to return. The answer if it already arrived;
  // otherwise the attempt now waits under `ticket`.
  std::optional<absl::StatusOr<Snapshot>> Detach(uint64_t ticket) ABSL_LOCKS_EXCLUDED(mu_);

  // The answer get_metadata gives itself (ready at once, or cancelled).
  void CompleteInline(const absl::StatusOr<Snapshot>& result) ABSL_LOCKS_EXCLUDED(mu_);

  // The ticket to cancel, while the attempt waits.
  uint64_t WaitingTicket() ABSL_LOCKS_EXCLUDED(mu_);

  // What the attempt ended with, once it has: whether it has, the token's
  // generation (0: none) and authrefresh's failure.
  bool Ended(uint64_t* generation, absl::Status* failure) ABSL_LOCKS_EXCLUDED(mu_);

 private:
  enum class State { kInline, kWaiting, kDone };

  void Record(const absl::StatusOr<Snapshot>& result) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const int attempt_;
  const grpc_credentials_plugin_metadata_cb cb_;
  void* const user_data_;
  const std::shared_ptr<const DpopTarget> dpop_;
  CallMutex mu_;
  State state_ ABSL_GUARDED_BY(mu_) = State::kInline;
  uint64_t ticket_ ABSL_GUARDED_BY(mu_) = 0;
  std::optional<absl::StatusOr<Snapshot>> inline_result_ ABSL_GUARDED_BY(mu_);
  uint64_t generation_ ABSL_GUARDED_BY(mu_) = 0;
  absl::Status failure_ ABSL_GUARDED_BY(mu_);
};

}  // namespace internal
}  // namespace authrefresh

#endif  // AUTHREFRESH_INTERCEPTOR_INTERNAL_PENDING_ATTEMPT_H_
