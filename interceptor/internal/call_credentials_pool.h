// interceptor/internal/call_credentials_pool.h
//
// Defines `CallCredentialsPool`: the call credentials objects CallAuth gives
// its calls, reused from call to call. gRPC runs a call's credentials only
// while the call is in progress, so once a call's interceptor is destroyed
// its credentials object can serve another call. Reusing them saves, per
// call, creating and destroying one and registering its mutex with
// abseil's deadlock detector (Debian builds abseil with it on).

#ifndef AUTHREFRESH_INTERCEPTOR_INTERNAL_CALL_CREDENTIALS_POOL_H_
#define AUTHREFRESH_INTERCEPTOR_INTERNAL_CALL_CREDENTIALS_POOL_H_

#include <atomic>
#include <cstddef>
#include <vector>

#include "grpc/grpc_security.h"
#include "interceptor/internal/mutex.h"

namespace authrefresh {
namespace internal {

class CallCredentialsPool {
 public:
  // Runs one attempt of `call` (what grpc_metadata_credentials_plugin's
  // get_metadata does, for the call the slot serves).
  // `context`: gRPC's service URL and method name for the attempt.
  using AttemptFn = int (*)(void* call, const grpc_auth_metadata_context& context,
                            grpc_credentials_plugin_metadata_cb cb,
                            void* user_data, grpc_metadata* creds_md,
                            size_t* num_creds_md, grpc_status_code* status,
                            const char** error_details);

  // One credentials object and the call it serves.
  class Slot {
   public:
    grpc_call_credentials* credentials() const { return credentials_; }

   private:
    friend class CallCredentialsPool;
    std::atomic<void*> call_{nullptr};
    grpc_call_credentials* credentials_ = nullptr;
    AttemptFn attempt_ = nullptr;
  };

  // Each attempt of a call runs `attempt` for it (CallAuth::RunAttempt).
  CallCredentialsPool(grpc_security_level min_security_level, AttemptFn attempt);
  // Releases the idle objects. Every call must have given its slot back.
  ~CallCredentialsPool();
  CallCredentialsPool(const CallCredentialsPool&) = delete;
  CallCredentialsPool& operator=(const CallCredentialsPool&) = delete;

  // Credentials that serve `call` until GiveBack().
  Slot* Take(void* call) ABSL_LOCKS_EXCLUDED(mu_);
  // `call` no longer needs them: its attempts are over.
  void GiveBack(Slot* slot) ABSL_LOCKS_EXCLUDED(mu_);

  // What gRPC core calls as the plugin's get_metadata; `state` is a Slot.
  // Runs the attempt function for the slot's call, or, for a call that is
  // over, answers CANCELLED with nothing added.
  static int GetMetadata(void* state, grpc_auth_metadata_context context,
                         grpc_credentials_plugin_metadata_cb cb, void* user_data,
                         grpc_metadata creds_md[GRPC_METADATA_CREDENTIALS_PLUGIN_SYNC_MAX],
                         size_t* num_creds_md, grpc_status_code* status,
                         const char** error_details);
  // Idle objects kept at most; more are released.
  static constexpr size_t kMaxIdle = 256;

 private:
  static void Destroy(void* state);

  const grpc_security_level min_security_level_;
  const AttemptFn attempt_;
  CallMutex mu_;
  std::vector<Slot*> idle_ ABSL_GUARDED_BY(mu_);
};

}  // namespace internal
}  // namespace authrefresh

#endif  // AUTHREFRESH_INTERCEPTOR_INTERNAL_CALL_CREDENTIALS_POOL_H_
