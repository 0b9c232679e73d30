#include "interceptor/internal/callback_gate.h"

namespace authrefresh {
namespace internal {
namespace {

// The gate whose callback this thread is running.
thread_local const CallbackGate* running_on_this_thread = nullptr;

}  // namespace

void CallbackGate::Run(absl::FunctionRef<void()> fn) {
  {
    MutexLock lock(&mu_);
    if (closed_) return;
    ++running_;
  }
  const CallbackGate* outer = running_on_this_thread;
  running_on_this_thread = this;
  fn();
  running_on_this_thread = outer;
  MutexLock lock(&mu_);
  if (--running_ == 0) done_.SignalAll();
}

void CallbackGate::Close() {
  MutexLock lock(&mu_);
  closed_ = true;
  const int own = running_on_this_thread == this ? 1 : 0;
  while (running_ > own) mu_.Wait(&done_);
}

}  // namespace internal
}  // namespace authrefresh
