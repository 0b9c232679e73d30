// interceptor/internal/callback_gate.h
//
// Defines `CallbackGate`: when a TokenManager's application callbacks may
// run (on_event, debug_log, the store, on_tokens_refreshed, the terminal
// callbacks). They run only while the manager lives, and destroying it
// returns only after those already running have returned.

#ifndef AUTHREFRESH_INTERCEPTOR_INTERNAL_CALLBACK_GATE_H_
#define AUTHREFRESH_INTERCEPTOR_INTERNAL_CALLBACK_GATE_H_

#include "absl/functional/function_ref.h"
#include "absl/synchronization/mutex.h"
#include "interceptor/internal/mutex.h"

namespace authrefresh {
namespace internal {

class CallbackGate {
 public:
  CallbackGate() = default;
  CallbackGate(const CallbackGate&) = delete;
  CallbackGate& operator=(const CallbackGate&) = delete;

  // Runs `fn` on this thread unless Close() was called. Never call it with
  // a lock held: `fn` is the application's.
  void Run(absl::FunctionRef<void()> fn) ABSL_LOCKS_EXCLUDED(mu_);

  // From now on nothing runs; returns once every `fn` running has returned,
  // except one of this gate's on this very thread (a callback that destroys
  // its own TokenManager must not wait for itself). Idempotent.
  void Close() ABSL_LOCKS_EXCLUDED(mu_);

 private:
  Mutex mu_;
  absl::CondVar done_;
  bool closed_ ABSL_GUARDED_BY(mu_) = false;
  int running_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace internal
}  // namespace authrefresh

#endif  // AUTHREFRESH_INTERCEPTOR_INTERNAL_CALLBACK_GATE_H_
