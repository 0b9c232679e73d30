// interceptor/internal/call_auth.h
//
// Where the token is attached: `CallAuth`, the interceptor of one call, and
// the call credentials it gives the call. gRPC core runs a call's
// credentials once per attempt, below its retry filter (replay_policy.h):
//  * the first attempt gets the current token, read without a lock, or waits
//    (without a thread) for the shared refresh when that token has expired
//    or a server has rejected it;
//  * a replay, which core makes after the server's UNAUTHENTICATED, asks the
//    coordinator for a token newer than the one the previous attempt
//    carried, and waits for the one shared refresh if there is none yet
//    (attempts after the second, under an application's own retry policy,
//    take any good token).
// CallAuth starts the refresh for a rejection that no replay will fix, when
// it stops a replay or from the call's final answer. At the end of the call
// it also records tokens that a server accepted (loop protection), and
// turns authrefresh's own failures (session expired, refresh failing) into
// the statuses the failure policy names instead of gRPC's "Getting metadata
// from plugin failed".
//
// Calls that carry their own `authorization` metadata are left alone; calls
// with their own per-call CallCredentials are refused (gRPC cannot combine
// them with these). Compressed calls and client-streaming and bidi calls
// are never sent a second time, whatever the retry policy: gRPC 1.51's retry
// corrupts a compressed message (grpc/grpc#37742), and it can send a stream
// again with requests missing or without its half-close (it fails an
// application's write on the rejected attempt, then retries; the probe in
// docs/limits.md). Such an attempt is stopped before it goes out.

#ifndef AUTHREFRESH_INTERCEPTOR_INTERNAL_CALL_AUTH_H_
#define AUTHREFRESH_INTERCEPTOR_INTERNAL_CALL_AUTH_H_

#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "grpc/grpc_security.h"
#include "grpcpp/support/client_interceptor.h"
#include "interceptor/internal/interceptor_config.h"
#include "interceptor/internal/mutex.h"
#include "interceptor/internal/pending_attempt.h"

namespace authrefresh {
namespace internal {

class CallAuth final : public grpc::experimental::Interceptor {
 public:
  // What the per-call credentials (CallCredentialsPool) run for each attempt
  // of `call`, a CallAuth.
  static int RunAttempt(void* call, const grpc_auth_metadata_context& context,
                        grpc_credentials_plugin_metadata_cb cb, void* user_data,
                        grpc_metadata* creds_md, size_t* num_creds_md, grpc_status_code* status,
                        const char** error_details);

  // `config` outlives the call (the channel owns it, and the ClientContext
  // keeps the channel).
  CallAuth(const InterceptorConfig* config, grpc::experimental::ClientRpcInfo* info);
  ~CallAuth() override;

  void Intercept(grpc::experimental::InterceptorBatchMethods* m) override;

 private:
  enum class Mode {
    kUnset,    // before the first batch
    kToken,    // authrefresh's token, waits and replays
    kSkip,     // SkipTokenRefresh(): the current token, never a wait
    kOwn,      // the application's own authorization: left alone
    kRefused,  // failed before anything was sent (refusal_)
  };

  int OnAttempt(const grpc_auth_metadata_context& context, grpc_credentials_plugin_metadata_cb cb,
                void* user_data, grpc_metadata* creds_md, size_t* num_creds_md,
                grpc_status_code* status, const char** error_details);

  // An attempt without a sendable token: waits for the shared refresh
  // (returns 0: core's callback answers later) or answers at once (1).
  int WaitForToken(const RefreshCoordinator::WaitRequest& request, int attempt,
                   std::shared_ptr<const DpopTarget> dpop, grpc_credentials_plugin_metadata_cb cb,
                   void* user_data, grpc_metadata* creds_md, size_t* num_creds_md,
                   grpc_status_code* status, const char** error_details);

  // Where the call's DPoP proofs point (made at its first attempt, from
  // gRPC's service URL and the method); null when the manager's refresher
  // has no DPoP key. INTERNAL if gRPC's service URL is not a URL.
  absl::StatusOr<std::shared_ptr<const DpopTarget>> DpopTargetOf(
      const grpc_auth_metadata_context& context) ABSL_LOCKS_EXCLUDED(mu_);

  void OnSendInitialMetadata(grpc::experimental::InterceptorBatchMethods* m);
  void OnStatus(grpc::Status* status, const ServerMetadata& trailing_metadata);
  void OnCancel();
  // Stops the wait of an attempt that still waits for a token (the call
  // was cancelled, or ended without it); true if there was one.
  // A call cancelled while it waited: authrefresh.call.failed{CANCELLED}.
  void CountCancelled() ABSL_LOCKS_EXCLUDED(mu_);
  bool AbandonPendingAttempt() ABSL_LOCKS_EXCLUDED(mu_);
  // Ends the call before anything is sent, with `status`.
  void Refuse(grpc::experimental::InterceptorBatchMethods* m, grpc::Status status);
  // Gives the call credentials (from `pool`) that run OnAttempt for each
  // attempt.
  void InstallCredentials(CallCredentialsPool& pool);
  // The status that stops attempt `attempt` (> 1) of a call that must not
  // be sent again.
  absl::Status StopReplay(int attempt);
  // Takes in what a finished asynchronous attempt recorded.
  void Settle() ABSL_LOCKS_EXCLUDED(mu_);
  // Records that attempt `attempt` carries the token of `generation`.
  void Carried(int attempt, uint64_t generation);

  // The method, copied when the call is created: ClientRpcInfo keeps only a
  // pointer to the application's string, which a GenericStub call may free
  // right after creating the call.
  absl::string_view method() const {
    return long_method_.empty() ? absl::string_view(method_, method_size_)
                                : absl::string_view(long_method_);
  }

  const InterceptorConfig* const config_;
  grpc::experimental::ClientRpcInfo* const info_;
  char method_[96];
  size_t method_size_ = 0;
  std::string long_method_;  // names longer than method_

  // Set at the first batch, before any attempt starts; read-only afterwards.
  Mode mode_ = Mode::kUnset;
  // Why gRPC must not send this call again, if it must not (null: it may;
  // CallPlan::not_replayable). Such attempts are stopped before they go out.
  const char* not_replayable_ = nullptr;
  absl::Time deadline_ = absl::InfiniteFuture();
  grpc::Status refusal_;
  // The server's response headers, owned by the ClientContext.
  const ServerMetadata* initial_metadata_ = nullptr;

  // Core starts an attempt only after the previous one ended, so attempts
  // never overlap; the atomics order them for the final status, which is
  // read on another thread.
  std::atomic<int> attempts_{0};
  std::atomic<uint64_t> first_generation_{0};  // carried by attempt 1
  std::atomic<uint64_t> last_generation_{0};   // carried by the last attempt
  std::atomic<bool> swapped_{false};           // a replay carried a newer token
  // An attempt has waited for a token (pending_ was set): the fast path
  // takes no lock unless it did.
  std::atomic<bool> had_pending_{false};

  // The credentials installed, given back when the call is over.
  CallCredentialsPool* pool_ = nullptr;
  CallCredentialsPool::Slot* slot_ = nullptr;

  CallMutex mu_;
  // The attempt waiting for a token, if any.
  std::shared_ptr<PendingAttempt> pending_ ABSL_GUARDED_BY(mu_);
  bool cancelled_ ABSL_GUARDED_BY(mu_) = false;
  // The status authrefresh failed attempt `failed_attempt_` with.
  absl::Status failure_ ABSL_GUARDED_BY(mu_);
  int failed_attempt_ ABSL_GUARDED_BY(mu_) = 0;
  // failure_ is not counted in authrefresh.call.failed at OnStatus: it is
  // StopReplay's (a call not replayed, not a token's failure), or a
  // cancellation counted when it happened.
  bool skip_failure_count_ ABSL_GUARDED_BY(mu_) = false;
  // DPoP: where the call's proofs point (DpopTargetOf).
  std::shared_ptr<const DpopTarget> dpop_ ABSL_GUARDED_BY(mu_);
};

}  // namespace internal
}  // namespace authrefresh

#endif  // AUTHREFRESH_INTERCEPTOR_INTERNAL_CALL_AUTH_H_
