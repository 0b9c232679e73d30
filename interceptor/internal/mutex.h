// interceptor/internal/mutex.h
//
// Defines `Mutex` and `MutexLock`: absl::Mutex with thread-safety annotations,
// made visible to ThreadSanitizer. Debian's abseil is not built with TSan, so
// TSan cannot see the happens-before edges of absl::Mutex and reports false
// races; this wrapper tells it about them with __tsan_acquire/__tsan_release.
// Also `CallMutex` and `CallMutexLock`: an annotated std::mutex for the
// interceptor's per-call locks.

#ifndef AUTHREFRESH_INTERCEPTOR_INTERNAL_MUTEX_H_
#define AUTHREFRESH_INTERCEPTOR_INTERNAL_MUTEX_H_

#include "absl/base/thread_annotations.h"
#include <mutex>

#include "absl/synchronization/mutex.h"

#if defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define AUTHREFRESH_TSAN 1
#endif
#endif
#if defined(__SANITIZE_THREAD__)
#define AUTHREFRESH_TSAN 1
#endif

#ifdef AUTHREFRESH_TSAN
extern "C" void __tsan_acquire(void* addr);
extern "C" void __tsan_release(void* addr);
#endif

namespace authrefresh {
namespace internal {

class ABSL_LOCKABLE Mutex {
 public:
  Mutex() = default;
  Mutex(const Mutex&) = delete;
  Mutex& operator=(const Mutex&) = delete;

  void Lock() ABSL_EXCLUSIVE_LOCK_FUNCTION() {
    mu_.Lock();
    Acquired();
  }
  void Unlock() ABSL_UNLOCK_FUNCTION() {
    Releasing();
    mu_.Unlock();
  }
  // Waits on `cv` (releasing the lock meanwhile).
  void Wait(absl::CondVar* cv) ABSL_EXCLUSIVE_LOCKS_REQUIRED(this) {
    Releasing();
    cv->Wait(&mu_);
    Acquired();
  }
  // The same, until `deadline` at the latest; true when it passed.
  bool WaitWithDeadline(absl::CondVar* cv, absl::Time deadline)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(this) {
    Releasing();
    const bool timed_out = cv->WaitWithDeadline(&mu_, deadline);
    Acquired();
    return timed_out;
  }

 private:
  void Acquired() {
#ifdef AUTHREFRESH_TSAN
    __tsan_acquire(this);
#endif
  }
  void Releasing() {
#ifdef AUTHREFRESH_TSAN
    __tsan_release(this);
#endif
  }

  absl::Mutex mu_;
};

class ABSL_SCOPED_LOCKABLE MutexLock {
 public:
  explicit MutexLock(Mutex* mu) ABSL_EXCLUSIVE_LOCK_FUNCTION(mu) : mu_(mu) {
    mu_->Lock();
  }
  ~MutexLock() ABSL_UNLOCK_FUNCTION() { mu_->Unlock(); }
  MutexLock(const MutexLock&) = delete;
  MutexLock& operator=(const MutexLock&) = delete;

 private:
  Mutex* const mu_;
};

// An annotated std::mutex for the short per-call critical sections of the
// interceptor, which never wait on a condition. absl::Mutex costs thousands
// of instructions per lock when abseil's deadlock detection is on (as in
// Debian's build), and a unary call takes several; the single-flight core
// keeps absl::Mutex. ThreadSanitizer sees std::mutex natively.
class ABSL_LOCKABLE CallMutex {
 public:
  CallMutex() = default;
  CallMutex(const CallMutex&) = delete;
  CallMutex& operator=(const CallMutex&) = delete;
  void Lock() ABSL_EXCLUSIVE_LOCK_FUNCTION() { mu_.lock(); }
  void Unlock() ABSL_UNLOCK_FUNCTION() { mu_.unlock(); }

 private:
  std::mutex mu_;
};

class ABSL_SCOPED_LOCKABLE CallMutexLock {
 public:
  explicit CallMutexLock(CallMutex* mu) ABSL_EXCLUSIVE_LOCK_FUNCTION(mu) : mu_(mu) {
    mu_->Lock();
  }
  ~CallMutexLock() ABSL_UNLOCK_FUNCTION() { mu_->Unlock(); }
  CallMutexLock(const CallMutexLock&) = delete;
  CallMutexLock& operator=(const CallMutexLock&) = delete;

 private:
  CallMutex* const mu_;
};

}  // namespace internal
}  // namespace authrefresh

#endif  // AUTHREFRESH_INTERCEPTOR_INTERNAL_MUTEX_H_
