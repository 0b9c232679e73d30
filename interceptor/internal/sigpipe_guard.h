// interceptor/internal/sigpipe_guard.h
//
// `SigpipeBlocked`: a scope in which a write to a closed socket cannot kill
// the process, for libraries that write with write(2) (hiredis).

#ifndef AUTHREFRESH_INTERCEPTOR_INTERNAL_SIGPIPE_GUARD_H_
#define AUTHREFRESH_INTERCEPTOR_INTERNAL_SIGPIPE_GUARD_H_

#include <pthread.h>
#include <signal.h>
#include <time.h>

namespace authrefresh {
namespace internal {

// hiredis writes with write(2): a connection the server closed would raise
// SIGPIPE and kill the process. Blocks it on this thread for the duration
// of one exchange and discards one it raised, leaving the process's signal
// handling as the application set it.
class SigpipeBlocked {
 public:
  SigpipeBlocked() {
    sigemptyset(&pipe_);
    sigaddset(&pipe_, SIGPIPE);
    sigset_t pending;
    sigemptyset(&pending);
    sigpending(&pending);
    was_pending_ = sigismember(&pending, SIGPIPE) == 1;
    changed_mask_ = pthread_sigmask(SIG_BLOCK, &pipe_, &old_) == 0 &&
                    sigismember(&old_, SIGPIPE) != 1;
  }
  ~SigpipeBlocked() {
    if (!changed_mask_) return;
    if (!was_pending_) {
      sigset_t pending;
      sigemptyset(&pending);
      sigpending(&pending);
      if (sigismember(&pending, SIGPIPE) == 1) {
        const timespec zero{0, 0};
        sigtimedwait(&pipe_, nullptr, &zero);
      }
    }
    pthread_sigmask(SIG_SETMASK, &old_, nullptr);
  }
  SigpipeBlocked(const SigpipeBlocked&) = delete;
  SigpipeBlocked& operator=(const SigpipeBlocked&) = delete;

 private:
  sigset_t pipe_;
  sigset_t old_;
  bool was_pending_ = false;
  bool changed_mask_ = false;
};

}  // namespace internal
}  // namespace authrefresh

#endif  // AUTHREFRESH_INTERCEPTOR_INTERNAL_SIGPIPE_GUARD_H_
